package ecxsim_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/ecxsim"
	"github.com/google/go-cmp/cmp"
)

func TestLoadConfig_Examples(t *testing.T) {
	t.Parallel()
	cfg, err := ecxsim.LoadConfig("testdata/witness.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := ecxsim.Config{
		ControlAddr: "127.0.0.1:29100",
		AuditFile:   "ecxsim-audit.jsonl",
		Clusters: []ecxsim.ClusterConfig{{
			Name: "tokyo", User: "root", Password: "password",
			HeartbeatTimeout: 5 * time.Second, HeartbeatInterval: time.Second, RebootDuration: 3 * time.Second,
			WitnessURL: "http://127.0.0.1:7190", WitnessToken: "change-me",
			Servers: []ecxsim.ServerConfig{{Name: "tokyo1", Listen: "127.0.0.1:0"}, {Name: "tokyo2", Listen: "127.0.0.1:0"}},
			Groups: []ecxsim.GroupConfig{
				{Name: "db", Servers: []string{"tokyo1", "tokyo2"}, StartDuration: 3 * time.Second, StopDuration: 2 * time.Second},
				// No policy: every server in configuration order.
				{Name: "web", Servers: []string{"tokyo1", "tokyo2"}, AutoStart: true, StartDuration: time.Second, StopDuration: time.Second},
			},
		}},
	}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Fatalf("witness.yaml (-want +got):\n%s", diff)
	}
	cfg, err = ecxsim.LoadConfig("testdata/two-clusters.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Clusters) != 2 || cfg.Clusters[1].Servers[0].Listen != ecxsim.ListenAuto || cfg.Clusters[0].Groups[2].Servers[1] != "east2" {
		t.Fatalf("two-clusters.yaml: %+v", cfg)
	}
}

func TestLoadConfig_ReportsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := ecxsim.LoadConfig("testdata/invalid.yaml")
	if err == nil {
		t.Fatal("invalid.yaml accepted")
	}
	for _, want := range []string{
		`cluster "a": user is empty`,
		`heartbeat_interval 2s must be shorter than heartbeat_timeout 1s`,
		`witness_token is set but witness_url is empty`,
		`server "s1": listen: "nonsense" is not host:port`,
		`duplicate server name "s1"`,
		`group "g": unknown server "s9"`,
		`duplicate group name "g"`,
		`duplicate cluster name`,
		`no servers`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// TestLoadConfig_Guard: the guard section of cmd/ecxsim's YAML, with its defaults.
func TestLoadConfig_Guard(t *testing.T) {
	t.Parallel()
	cfg, err := ecxsim.LoadConfig("testdata/guard.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := &ecxsim.GuardConfig{Masters: []string{"127.0.0.1:7100", "127.0.0.2:7100"}, Token: "cset_guard-token", Timeout: 2 * time.Second, StopTimeout: time.Second}
	if diff := cmp.Diff(want, cfg.Clusters[0].Guard); diff != "" {
		t.Fatalf("guard (-want +got):\n%s", diff)
	}
	cfg, err = ecxsim.ParseConfig([]byte("clusters:\n- name: a\n  user: u\n  guard: {masters: ['127.0.0.1:7100']}\n  servers: [{name: s}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if g := cfg.Clusters[0].Guard; g.Timeout != ecxsim.DefaultGuardTimeout || g.StopTimeout != ecxsim.DefaultGuardStopTimeout {
		t.Fatalf("guard defaults %+v", g)
	}
}

func TestParseConfig_Errors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, yaml, want string }{
		{"unknown key", "clusters: []\nbogus: 1\n", "field bogus not found"},
		{"integer duration", "clusters:\n- name: a\n  user: u\n  heartbeat_timeout: 5\n  servers: [{name: s}]\n", "into time.Duration"},
		{"no clusters", "control_addr: 127.0.0.1:0\n", "no clusters"},
		{"bad witness", "clusters:\n- name: a\n  user: u\n  witness_url: ftp://x\n  servers: [{name: s}]\n", "not an http(s) URL"},
		{"two witnesses", "clusters:\n- name: a\n  user: u\n  witness_urls: [http://w1, http://w2]\n  servers: [{name: s}]\n", "2 witness URLs given: give an odd number"},
		{"a witness twice", "clusters:\n- name: a\n  user: u\n  witness_url: http://w1\n  witness_urls: [http://w1, http://w2]\n  servers: [{name: s}]\n", `witness URL "http://w1" is given twice`},
		{"fixed port twice", "clusters:\n- name: a\n  user: u\n  servers: [{name: s, listen: '127.0.0.1:7000'}, {name: t, listen: '127.0.0.1:7000'}]\n", "also used by"},
		{"guard without masters", "clusters:\n- name: a\n  user: u\n  guard: {timeout: 2s}\n  servers: [{name: s}]\n", "guard: no masters"},
		{"guard timeout below the interval", "clusters:\n- name: a\n  user: u\n  heartbeat_interval: 1s\n  guard: {masters: ['127.0.0.1:7100'], timeout: 1s}\n  servers: [{name: s}]\n", "guard: timeout 1s must be longer than heartbeat_interval 1s"},
		{"guard master not host:port", "clusters:\n- name: a\n  user: u\n  guard: {masters: [m1]}\n  servers: [{name: s}]\n", "guard: master"},
	}
	for _, tc := range tests {
		_, err := ecxsim.ParseConfig([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

func TestNew_ValidatesGoConfig(t *testing.T) {
	t.Parallel()
	cfg := ecxsim.Example2x2()
	cfg.Clusters[1].Name = "east"
	if _, err := ecxsim.New(cfg, nil); err == nil || !strings.Contains(err.Error(), "duplicate cluster name") {
		t.Fatalf("New accepted duplicate clusters: %v", err)
	}
	// New copies the config: changing the caller's slices later changes nothing.
	cfg = ecxsim.Example2x2()
	sim, err := ecxsim.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Clusters[0].Groups[0].Servers[0] = "mutated"
	if err := sim.ServerDown("east", "east1"); err == nil {
		t.Fatal("control calls before Start must fail")
	}
	if err := sim.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sim.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
