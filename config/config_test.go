package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestValidate_Security(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		set  func(*Config)
		want string // substring of the error; "" = valid
	}{
		{"defaults are valid", func(*Config) {}, ""},
		{"auth alone", func(c *Config) { c.Auth = true }, ""},
		{"full TLS", func(c *Config) { c.TLS = TLSConfig{Cert: "c", Key: "k", CA: "ca", VerifyClients: true} }, ""},
		{"cert without CA", func(c *Config) { c.TLS = TLSConfig{Cert: "c", Key: "k"} }, "go together"},
		{"key without cert", func(c *Config) { c.TLS.Key = "k" }, "go together"},
		{"CA without cert", func(c *Config) { c.TLS.CA = "ca" }, "need -tls-cert"},
		{"verify clients without cert", func(c *Config) { c.TLS.VerifyClients = true }, "need -tls-cert"},
		{"dev with auth", func(c *Config) { c.ApplyDev(); c.Auth = true }, "-dev is open by design"},
		{"join with auth and no credential", func(c *Config) { c.Auth, c.Join = true, "m1:7100" }, "needs -token-file"},
		{"join with auth and a token file", func(c *Config) { c.Auth, c.Join, c.TokenFile = true, "m1:7100", "t" }, ""},
		{"join with auth and a certificate", func(c *Config) {
			c.Auth, c.Join, c.TLS = true, "m1:7100", TLSConfig{Cert: "c", Key: "k", CA: "ca"}
		}, ""},
		{"metrics token over TLS", func(c *Config) {
			c.HTTP.MetricsAuth, c.TLS = MetricsAuthToken, TLSConfig{Cert: "c", Key: "k", CA: "ca"}
		}, ""},
		{"metrics certificate over TLS", func(c *Config) {
			c.HTTP.MetricsAuth, c.TLS = MetricsAuthTokenOrCert, TLSConfig{Cert: "c", Key: "k", CA: "ca"}
		}, ""},
		{"metrics token without TLS", func(c *Config) { c.HTTP.MetricsAuth = MetricsAuthToken }, "needs -tls-cert"},
		{"metrics certificate without TLS", func(c *Config) { c.HTTP.MetricsAuth = MetricsAuthCert }, "needs -tls-cert"},
		{"metrics auth in dev", func(c *Config) { c.ApplyDev(); c.HTTP.MetricsAuth = MetricsAuthToken }, "-dev is open by design"},
		{"unknown metrics auth", func(c *Config) { c.HTTP.MetricsAuth = "basic" }, `-metrics-auth "basic" is unknown`},
		{"no HTTP connections", func(c *Config) { c.HTTP.MaxConns = 0 }, "max_conns 0 must be at least 1"},
		{"no idle timeout", func(c *Config) { c.HTTP.IdleTimeout = 0 }, "idle_timeout 0s must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := Default()
			c.NodeID, c.DataDir = "m1", "/tmp/x"
			tc.set(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestValidate_GuardTiming: fence_after must exceed guard_timeout + guard_stop_timeout +
// guard_drift_margin, and the message names all three.
func TestValidate_GuardTiming(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		set  func(*ControllerConfig, *RaftConfig)
		want string // substring of the error; "" = valid
	}{
		{"defaults", func(*ControllerConfig, *RaftConfig) {}, ""},
		{"equal is refused", func(c *ControllerConfig, _ *RaftConfig) { c.FenceAfter = 11 * time.Second },
			"fence_after 11s must exceed guard_timeout 5s + guard_stop_timeout 5s + guard_drift_margin 1s = 11s"},
		{"short fence", func(c *ControllerConfig, _ *RaftConfig) { c.FenceAfter = 4 * time.Second }, "fence_after 4s must exceed"},
		{"short fence with short guard timings", func(c *ControllerConfig, _ *RaftConfig) {
			c.FenceAfter, c.GuardTimeout, c.GuardStopTimeout, c.GuardDriftMargin = 4*time.Second, time.Second, time.Second, time.Second
		}, ""},
		{"long stop", func(c *ControllerConfig, _ *RaftConfig) { c.GuardStopTimeout = 10 * time.Second }, "guard_stop_timeout 10s"},
		{"no guard timeout", func(c *ControllerConfig, _ *RaftConfig) { c.GuardTimeout = 0 }, "guard_timeout 0s must be positive"},
		{"margin below the raft lease", func(c *ControllerConfig, r *RaftConfig) {
			r.LeaderLeaseTimeout = 900 * time.Millisecond
			c.GuardDriftMargin = 800 * time.Millisecond
		},
			"guard_drift_margin 800ms must be at least raft leader_lease_timeout 900ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := Default()
			c.NodeID, c.DataDir = "m1", "/tmp/x"
			tc.set(&c.Controller, &c.Raft)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestWitnessURLs(t *testing.T) {
	t.Parallel()
	c := Default()
	c.NodeID, c.DataDir = "m1", "/tmp/x"
	if got := c.WitnessURLs(); got != nil {
		t.Fatalf("no witness: WitnessURLs = %v", got)
	}
	c.Witness = "http://w1:7190, https://w2:7190 ,http://w3:7190"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	want := []string{"http://w1:7190", "https://w2:7190", "http://w3:7190"}
	if got := c.WitnessURLs(); !slices.Equal(got, want) {
		t.Fatalf("WitnessURLs = %q, want %q", got, want)
	}
}

// TestValidate_Settings: every setting the subsystems take without a fallback of their own is
// checked here, since config is the only place that holds defaults.
func TestValidate_Settings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		set  func(*Config)
		want string
	}{
		{"no start timeout", func(c *Config) { c.Controller.StartTimeout = 0 }, "controller start_timeout 0s must be positive"},
		{"no stop timeout", func(c *Config) { c.Controller.StopTimeout = -time.Second }, "controller stop_timeout -1s must be positive"},
		{"no ecx timeout", func(c *Config) { c.Controller.ECXTimeout = 0 }, "controller ecx_timeout 0s must be positive"},
		{"no hook timeout", func(c *Config) { c.Controller.HookTimeout = 0 }, "controller hook_timeout 0s must be positive"},
		{"no recovery grace", func(c *Config) { c.Controller.GroupRecoveryGrace = 0 }, "controller group_recovery_grace 0s must be positive"},
		{"no poll workers", func(c *Config) { c.Controller.PollWorkers = 0 }, "controller poll_workers 0 must be at least 1"},
		{"no snapshot kept", func(c *Config) { c.Raft.SnapshotRetain = 0 }, "raft snapshot_retain 0 must be at least 1"},
		{"no hold", func(c *Config) { c.RPCHoldTimeout = 0 }, "-rpc-hold-timeout 0s must be positive"},
		{"unknown role", func(c *Config) { c.Role = "voter" }, `-role "voter" is unknown: use master or tiebreaker`},
		{"tie-breaker with a witness", func(c *Config) { c.Role, c.Witness = RoleTiebreaker, "http://w:7190" }, "-role tiebreaker takes no -witness"},
		{"witness not a URL", func(c *Config) { c.Witness = "w:7190" }, `-witness: witness URL "w:7190" must be http(s)://host[:port][/path]`},
		{"two witnesses", func(c *Config) { c.Witness = "http://w1:7190,http://w2:7190" }, "-witness: 2 witness URLs given: give an odd number"},
		{"a witness twice", func(c *Config) { c.Witness = "http://w1:7190,http://w2:7190,http://w1:7190/" }, `"http://w1:7190/" is listed twice`},
		{"an empty witness", func(c *Config) { c.Witness = "http://w1:7190,,http://w2:7190" }, "separate the witness URLs with single commas"},
		{"tie-breaker in dev mode", func(c *Config) { c.Role, c.Dev = RoleTiebreaker, true }, "-role tiebreaker cannot run with -dev"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := Default()
			c.NodeID, c.DataDir = "m1", "/tmp/x"
			if err := c.Validate(); err != nil {
				t.Fatalf("defaults: %v", err)
			}
			tc.set(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
