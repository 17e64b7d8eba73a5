// Package config holds the configuration of a csetd agent: defaults, a YAML or JSON file, flags,
// and validation that reports every problem at once. After Validate a Config is passed by value
// and never changes; each subsystem's settings are built from it where the server wires that
// subsystem (server.New and its setup functions).
package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cset-project/cset/witness"
)

// Config is the configuration of one master (`csetd agent`).
type Config struct {
	NodeID        string `yaml:"node_id"`
	DataDir       string `yaml:"data_dir"`
	GRPCAddr      string `yaml:"grpc_addr"`
	RaftAddr      string `yaml:"raft_addr"`
	DNSAddr       string `yaml:"dns_addr"`
	HTTPAddr      string `yaml:"http_addr"`
	AdvertiseGRPC string `yaml:"advertise_grpc"`
	AdvertiseRaft string `yaml:"advertise_raft"`
	AdvertiseDNS  string `yaml:"advertise_dns"`
	AdvertiseHTTP string `yaml:"advertise_http"`
	Bootstrap     bool   `yaml:"bootstrap"`
	Join          string `yaml:"join"`
	// Role is RoleMaster (default) or RoleTiebreaker: a Raft voter for a third site that stores
	// the log and votes but runs no controller, serves no DNS and hands leadership to a full
	// master (docs/design.md, "Two sites and a tie-breaker").
	Role      string `yaml:"role"`
	Dev       bool   `yaml:"dev"`
	LogLevel  string `yaml:"log_level"`
	LogJSON   bool   `yaml:"log_json"`
	ReadyFile string `yaml:"ready_file"`

	// Witness is the witness URL, or an odd number of them separated by commas (docs/witness.md,
	// "Several witnesses"); see WitnessURLs.
	Witness          string `yaml:"witness"`
	WitnessTokenFile string `yaml:"witness_token_file"`
	// WitnessCAFile is the CA bundle for an https witness; empty uses TLSCA, else the system pool.
	WitnessCAFile string `yaml:"witness_ca_file"`

	// Auth requires an API token with a sufficient role on every call (docs/security.md).
	Auth bool `yaml:"auth"`
	// TokenFile holds the token this master presents to other masters (join, registration,
	// audit records) when it has no client certificate.
	TokenFile string `yaml:"token_file"`

	TLS TLSConfig `yaml:"tls"`

	// HTTP configures the listener of /metrics and /v1/health (HTTPAddr).
	HTTP HTTPConfig `yaml:"http"`

	Raft       RaftConfig       `yaml:"raft"`
	Controller ControllerConfig `yaml:"controller"`
	DNS        DNSConfig        `yaml:"dns"`
	// Notify holds the event sinks of the leader (docs/notifications.md).
	Notify NotifyConfig `yaml:"notify"`

	// RPCHoldTimeout is how long a write waits for a leader before it fails with Unavailable.
	RPCHoldTimeout time.Duration `yaml:"rpc_hold_timeout"`
	// MaxStaleness refuses local reads on a follower that has not heard from a leader for longer.
	MaxStaleness time.Duration `yaml:"max_staleness"`
}

// RaftConfig holds the Raft timings and snapshot policy.
type RaftConfig struct {
	// HeartbeatTimeout: a follower that hears no leader for this long starts an election.
	HeartbeatTimeout time.Duration `yaml:"heartbeat_timeout"`
	// ElectionTimeout: a candidate that wins no election for this long starts another.
	ElectionTimeout time.Duration `yaml:"election_timeout"`
	// LeaderLeaseTimeout: a leader that hears no quorum for this long steps down (at most the
	// heartbeat timeout).
	LeaderLeaseTimeout time.Duration `yaml:"leader_lease_timeout"`
	// CommitTimeout: the longest a leader waits before it sends a heartbeat with the commit index.
	CommitTimeout time.Duration `yaml:"commit_timeout"`
	// SnapshotInterval is how often Raft checks whether to take a snapshot.
	SnapshotInterval time.Duration `yaml:"snapshot_interval"`
	// SnapshotThreshold is how many log entries since the last snapshot make it take one.
	SnapshotThreshold uint64 `yaml:"snapshot_threshold"`
	// TrailingLogs is how many entries stay in the log after a snapshot, so that a follower a
	// little behind catches up from the log instead of a snapshot.
	TrailingLogs uint64 `yaml:"trailing_logs"`
	// SnapshotRetain is how many snapshots are kept in the data directory.
	SnapshotRetain int `yaml:"snapshot_retain"`
}

// ControllerConfig holds the leader's controller settings (docs/design.md, "The controller").
type ControllerConfig struct {
	// PollInterval is how often the leader polls every member's REST API.
	PollInterval time.Duration `yaml:"poll_interval"`
	// UnreachableAfter: a member none of whose servers answered for this long is unreachable.
	UnreachableAfter time.Duration `yaml:"unreachable_after"`
	// FenceAfter: a member is declared down (and its workloads fail over) once the witness has
	// heard none of its servers for this long; it must exceed the guards' budget
	// (guard_timeout + guard_stop_timeout + guard_drift_margin) and the members' ECX heartbeat
	// timeout.
	FenceAfter time.Duration `yaml:"fence_after"`
	// GroupRecoveryGrace: a group Offline on its member for this long (ECX did not bring it
	// back) is failed over.
	GroupRecoveryGrace time.Duration `yaml:"group_recovery_grace"`
	// StartTimeout bounds a start: the wait for a group to come Online.
	StartTimeout time.Duration `yaml:"start_timeout"`
	// StopTimeout bounds a stop: the wait for a group to be read back Offline.
	StopTimeout time.Duration `yaml:"stop_timeout"`
	// MaxParallelOperations bounds the operations acting on ECX at once (sending a
	// stop, start or move, or running a hook); an operation waiting for ECX to finish
	// holds no slot, so a mass failover is not paced by this bound.
	MaxParallelOperations int `yaml:"max_parallel_operations"`
	// PollWorkers bounds how many members the leader polls at once.
	PollWorkers int `yaml:"poll_workers"`
	// ProbeWorkers bounds how many reachability probes the leader runs at once (docs/probe.md).
	ProbeWorkers int `yaml:"probe_workers"`
	// MaxAutoMovesPerHour bounds the automatic failbacks the controller starts in any hour
	// (0: none at all); AutoMoveQuiet is how long no member's health may have changed before
	// it starts one (docs/operations.md, "Failback and rebalance").
	MaxAutoMovesPerHour int `yaml:"max_auto_moves_per_hour"`
	// AutoMoveQuiet: no automatic failback while a member's health changed within this time.
	AutoMoveQuiet time.Duration `yaml:"auto_move_quiet"`
	// LeaseTTL is the witness lease the leader asks for (renewed every third of it).
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	// ECXTimeout bounds each call to a member's REST API.
	ECXTimeout time.Duration `yaml:"ecx_timeout"`
	// HookTimeout applies to handover hooks of workloads that declare no timeout of their own.
	HookTimeout time.Duration `yaml:"hook_timeout"`
	// HookRetries is how many times a failover's failing handover hooks are run again (with a
	// backoff doubling from one second) before the operation is blocked for an operator's
	// 'csetctl operation retry|cancel'. 0 blocks after the first failure.
	HookRetries int `yaml:"hook_retries"`

	// GuardTimeout is the member guards' guard_timeout (docs/guard.md): a guard that has had no
	// heartbeat acknowledged by the witness nor the masters for this long stops the cset groups
	// of its server. Every `csetd guard` must run with the same -timeout.
	GuardTimeout time.Duration `yaml:"guard_timeout"`
	// GuardStopTimeout is the longest time ECX takes to stop a cset group once a guard asks it to
	// (the groups' deactivation time); guards log a group that takes longer.
	GuardStopTimeout time.Duration `yaml:"guard_stop_timeout"`
	// GuardDriftMargin covers what the send-time counting does not: a deposed leader that still
	// acknowledges guards until its Raft leader lease times out, clock-rate differences between
	// the masters, the witness and the ECX servers, and scheduling delays. At least
	// raft.leader_lease_timeout.
	GuardDriftMargin time.Duration `yaml:"guard_drift_margin"`
}

// GuardBudget is the time after the last heartbeat a master or the witness heard from a guard by
// which that guard has stopped its groups for sure: guard_timeout + guard_stop_timeout +
// guard_drift_margin. fence_after must exceed it.
func (c ControllerConfig) GuardBudget() time.Duration {
	return c.GuardTimeout + c.GuardStopTimeout + c.GuardDriftMargin
}

// TLSConfig holds the certificates of the gRPC API and of the Raft transport. With Cert, Key
// and CA set, the API serves TLS only and Raft runs mutual TLS; the master's own certificate is
// also its client certificate towards the other masters.
type TLSConfig struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	CA   string `yaml:"ca"`
	// VerifyClients requires API clients to present a certificate signed by CA.
	VerifyClients bool `yaml:"verify_clients"`
}

// Enabled reports whether the master serves TLS.
func (t TLSConfig) Enabled() bool { return t.Cert != "" || t.Key != "" }

// Values of HTTPConfig.MetricsAuth.
const (
	// MetricsAuthNone leaves /metrics open, like /v1/health.
	MetricsAuthNone = "none"
	// MetricsAuthToken requires "Authorization: Bearer <token>" with a cset API token of role
	// read, operate or admin (a guard token is refused).
	MetricsAuthToken = "token"
	// MetricsAuthCert requires a client certificate signed by -tls-ca.
	MetricsAuthCert = "cert"
	// MetricsAuthTokenOrCert accepts either.
	MetricsAuthTokenOrCert = "token-or-cert"
)

// HTTPConfig holds the settings of the HTTP listener of /metrics and /v1/health. With TLS
// configured (-tls-*) it serves HTTPS with the master's certificate.
type HTTPConfig struct {
	// MetricsAuth says what /metrics requires: none (default), token, cert or token-or-cert.
	// Anything but none needs TLS, so that neither a token nor the metrics cross the network in
	// clear text. /v1/health stays open for load balancers and probes.
	MetricsAuth string `yaml:"metrics_auth"`
	// MaxConns is the most connections open at once; at the limit the one idle longest is closed.
	MaxConns int `yaml:"max_conns"`
	// ReadTimeout bounds reading a request (its headers: at most 5s), WriteTimeout writing its
	// answer, IdleTimeout a keep-alive connection without a request.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing an answer, from the end of the request's headers.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout closes a keep-alive connection without a request for this long.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// Pprof serves Go's profiler at /debug/pprof/ on the HTTP port, behind the same access rule
	// as /metrics (metrics_auth): for measuring a master under load (docs/benchmarks.md).
	Pprof bool `yaml:"pprof"`
}

// DNSConfig holds the DNS server's settings beyond its address.
type DNSConfig struct {
	AllowTransfer []string `yaml:"allow_transfer"`
	Notify        []string `yaml:"notify"`
	// Update pushes workload records to an existing DNS server by RFC 2136 UPDATE with TSIG.
	Update *DNSUpdateConfig `yaml:"update"`
	// RateLimit limits identical UDP answers per client network (/24, /56) per second; 0
	// disables response rate limiting. Default 20; -dev turns it off (everything is loopback).
	RateLimit int `yaml:"rate_limit"`
}

// DNSUpdateConfig configures the RFC 2136 push to an external primary (docs/dns.md).
type DNSUpdateConfig struct {
	Primary    string        `yaml:"primary"`     // host:port of the primary
	Zone       string        `yaml:"zone"`        // zone on the primary (default: the cluster set's zone)
	KeyName    string        `yaml:"key_name"`    // TSIG key name; empty sends unsigned updates
	Algorithm  string        `yaml:"algorithm"`   // default hmac-sha256.
	SecretFile string        `yaml:"secret_file"` // file holding the base64 TSIG secret
	Interval   time.Duration `yaml:"interval"`    // drift repair period (default 5m)
}

// The roles of a master (Config.Role).
const (
	RoleMaster     = "master"
	RoleTiebreaker = "tiebreaker"
)

// Tiebreaker reports whether this master is a tie-breaker voter.
func (c *Config) Tiebreaker() bool { return c.Role == RoleTiebreaker }

// Default returns the production defaults of docs/design.md, "Processes and ports".
func Default() Config {
	return Config{
		GRPCAddr: "0.0.0.0:7100",
		RaftAddr: "0.0.0.0:7101",
		DNSAddr:  "0.0.0.0:8600",
		HTTPAddr: "0.0.0.0:7180",
		LogLevel: "info",
		Role:     RoleMaster,
		Raft: RaftConfig{
			HeartbeatTimeout:   1000 * time.Millisecond,
			ElectionTimeout:    1000 * time.Millisecond,
			LeaderLeaseTimeout: 500 * time.Millisecond,
			CommitTimeout:      50 * time.Millisecond,
			SnapshotInterval:   120 * time.Second,
			SnapshotThreshold:  8192,
			TrailingLogs:       10240,
			SnapshotRetain:     2,
		},
		Controller: ControllerConfig{
			PollInterval:          time.Second,
			UnreachableAfter:      3 * time.Second,
			FenceAfter:            15 * time.Second,
			GroupRecoveryGrace:    30 * time.Second,
			StartTimeout:          5 * time.Minute,
			StopTimeout:           2 * time.Minute,
			MaxParallelOperations: 16,
			PollWorkers:           64,
			ProbeWorkers:          256,
			MaxAutoMovesPerHour:   10,
			AutoMoveQuiet:         2 * time.Minute,
			LeaseTTL:              10 * time.Second,
			ECXTimeout:            5 * time.Second,
			HookTimeout:           5 * time.Minute,
			HookRetries:           3,
			GuardTimeout:          5 * time.Second,
			GuardStopTimeout:      5 * time.Second,
			GuardDriftMargin:      time.Second,
		},
		HTTP: HTTPConfig{MetricsAuth: MetricsAuthNone, MaxConns: 256,
			ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, IdleTimeout: 30 * time.Second},
		DNS:            DNSConfig{RateLimit: 20},
		RPCHoldTimeout: 7 * time.Second,
		MaxStaleness:   0,
	}
}

// ApplyDev turns c into the embedded default of `csetd agent -dev`: one master on 127.0.0.1
// with a temporary data directory (made by the caller when DataDir is empty), an open DNS zone
// transfer for loopback, no DNS rate limit, and controller timings that suit the simulated ECX
// world (its servers fence themselves after 2 s without the witness). csetd applies it to the
// defaults before it reads the -config file and the flags, so an explicit value always wins,
// and validates the result once.
func (c *Config) ApplyDev() {
	c.Dev, c.Bootstrap = true, true
	if c.NodeID == "" {
		c.NodeID = "dev"
	}
	c.GRPCAddr, c.RaftAddr, c.DNSAddr, c.HTTPAddr = "127.0.0.1:7100", "127.0.0.1:7101", "127.0.0.1:8600", "127.0.0.1:7180"
	c.DNS.AllowTransfer = []string{"127.0.0.0/8", "::1/128"}
	c.DNS.RateLimit = 0
	c.Controller.UnreachableAfter = 2 * time.Second
	c.Controller.FenceAfter = 6 * time.Second
	c.Controller.GroupRecoveryGrace = 10 * time.Second
	c.Controller.LeaseTTL = 6 * time.Second
	// The simulated guards stop a group in 1 s: 2 s + 2 s + 1 s (drift margin) < fence_after 6 s.
	c.Controller.GuardTimeout = 2 * time.Second
	c.Controller.GuardStopTimeout = 2 * time.Second
}

// RegisterFlags binds the agent's flags to c's fields; values already in c are the defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.NodeID, "node-id", c.NodeID, "unique id of this master (default: the host name)")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory for the Raft log, stable store and snapshots")
	fs.StringVar(&c.GRPCAddr, "grpc-addr", c.GRPCAddr, "gRPC API listen address")
	fs.StringVar(&c.RaftAddr, "raft-addr", c.RaftAddr, "Raft TCP listen address")
	fs.StringVar(&c.DNSAddr, "dns-addr", c.DNSAddr, "DNS listen address (udp+tcp; 53 in production); empty disables DNS")
	fs.StringVar(&c.HTTPAddr, "http-addr", c.HTTPAddr, "HTTP listen address for /metrics and /v1/health (HTTPS with -tls-*)")
	fs.BoolVar(&c.HTTP.Pprof, "pprof", c.HTTP.Pprof, "serve Go's profiler at /debug/pprof/ on the HTTP port, behind the same access rule as /metrics (-metrics-auth)")
	fs.StringVar(&c.HTTP.MetricsAuth, "metrics-auth", c.HTTP.MetricsAuth, "what /metrics requires: none, token (a cset API token of role read or above), cert (a client certificate of -tls-ca) or token-or-cert; all but none need -tls-*")
	fs.IntVar(&c.HTTP.MaxConns, "http-max-conns", c.HTTP.MaxConns, "most connections open at once on -http-addr; at the limit the one idle longest is closed")
	fs.StringVar(&c.AdvertiseGRPC, "advertise-grpc", c.AdvertiseGRPC, "gRPC address peers and clients use (default: the listen address)")
	fs.StringVar(&c.AdvertiseRaft, "advertise-raft", c.AdvertiseRaft, "Raft address peers use (default: the listen address)")
	fs.StringVar(&c.AdvertiseDNS, "advertise-dns", c.AdvertiseDNS, "DNS address published as NS glue (default: the listen address)")
	fs.StringVar(&c.AdvertiseHTTP, "advertise-http", c.AdvertiseHTTP, "HTTP address published for this master (default: the listen address)")
	fs.BoolVar(&c.Bootstrap, "bootstrap", c.Bootstrap, "bootstrap a new Raft ring with this master as its only voter (first master only)")
	fs.StringVar(&c.Role, "role", c.Role, "master, or tiebreaker: a Raft voter for a third site that runs no controller, serves no DNS and hands leadership to a full master")
	fs.StringVar(&c.Join, "join", c.Join, "gRPC address of any running master to join")
	fs.BoolVar(&c.Dev, "dev", c.Dev, "run one master on 127.0.0.1 with a temporary data directory, an embedded witness and two simulated ECX members (east, west)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "trace, debug, info, warn or error")
	fs.BoolVar(&c.LogJSON, "log-json", c.LogJSON, "log JSON lines instead of text")
	fs.StringVar(&c.ReadyFile, "ready-file", c.ReadyFile, "write the bound addresses as JSON to this file once serving")
	fs.StringVar(&c.Witness, "witness", c.Witness, "witness URL (http(s)://host:7190), or an odd number of them separated by commas (the leader then acts, and a member is declared down, only with a majority of them); without it failover needs 'csetctl member declare-down'")
	fs.StringVar(&c.WitnessTokenFile, "witness-token-file", c.WitnessTokenFile, "file holding the witness bearer token (the same for every witness)")
	fs.StringVar(&c.WitnessCAFile, "witness-ca-file", c.WitnessCAFile, "CA bundle for https witnesses (default: -tls-ca, else the system pool)")
	fs.BoolVar(&c.Auth, "auth", c.Auth, "require an API token with a sufficient role on every call; the first leader writes an admin token to DATA-DIR/bootstrap-token")
	fs.StringVar(&c.TokenFile, "token-file", c.TokenFile, "file holding the API token this master presents to other masters (-join with -auth and no client certificate)")
	fs.StringVar(&c.TLS.Cert, "tls-cert", c.TLS.Cert, "PEM certificate of this master: gRPC server certificate and client certificate towards other masters (see 'csetd tls init')")
	fs.StringVar(&c.TLS.Key, "tls-key", c.TLS.Key, "PEM private key of -tls-cert")
	fs.StringVar(&c.TLS.CA, "tls-ca", c.TLS.CA, "PEM CA that signs every master and client certificate; Raft runs mutual TLS with it")
	fs.BoolVar(&c.TLS.VerifyClients, "tls-verify-clients", c.TLS.VerifyClients, "require API clients to present a certificate signed by -tls-ca")
	fs.DurationVar(&c.Raft.HeartbeatTimeout, "raft-heartbeat-timeout", c.Raft.HeartbeatTimeout, "Raft heartbeat timeout (lower = faster leader-loss detection)")
	fs.DurationVar(&c.Raft.ElectionTimeout, "raft-election-timeout", c.Raft.ElectionTimeout, "Raft election timeout")
	fs.DurationVar(&c.Raft.LeaderLeaseTimeout, "raft-leader-lease-timeout", c.Raft.LeaderLeaseTimeout, "Raft leader lease timeout (at most the heartbeat timeout)")
	fs.DurationVar(&c.Raft.SnapshotInterval, "raft-snapshot-interval", c.Raft.SnapshotInterval, "how often Raft checks whether to snapshot")
	fs.Uint64Var(&c.Raft.SnapshotThreshold, "raft-snapshot-threshold", c.Raft.SnapshotThreshold, "log entries between snapshots")
	fs.DurationVar(&c.RPCHoldTimeout, "rpc-hold-timeout", c.RPCHoldTimeout, "how long a write waits for a leader before failing")
	fs.DurationVar(&c.MaxStaleness, "max-staleness", c.MaxStaleness, "refuse local reads on a follower out of contact with the leader for longer (0 = no limit)")
	fs.DurationVar(&c.Controller.PollInterval, "poll-interval", c.Controller.PollInterval, "how often the leader polls every member")
	fs.Func("dns-allow-transfer", "network allowed to AXFR the zone (repeatable, CIDR)", func(s string) error {
		c.DNS.AllowTransfer = append(c.DNS.AllowTransfer, s)
		return nil
	})
	fs.IntVar(&c.DNS.RateLimit, "dns-rate-limit", c.DNS.RateLimit, "identical UDP answers per second per client network (/24, /56) before response rate limiting; 0 disables (off in -dev)")
	fs.Func("dns-notify", "secondary to NOTIFY when the serial changes (repeatable, host:port)", func(s string) error {
		c.DNS.Notify = append(c.DNS.Notify, s)
		return nil
	})
}

// LoadFile reads a YAML (or JSON) configuration file on top of c. Unknown keys are errors.
func (c *Config) LoadFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// Validate fills derived defaults and reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if c.NodeID == "" {
		if h, err := os.Hostname(); err == nil {
			c.NodeID = strings.ToLower(h)
		}
	}
	if c.NodeID == "" {
		errs = append(errs, errors.New("-node-id is empty and the host name is unknown: give -node-id"))
	}
	if c.DataDir == "" && !c.Dev {
		errs = append(errs, errors.New("-data-dir is required (or run with -dev for a temporary one)"))
	}
	for _, a := range []struct {
		name, v  string
		optional bool
	}{
		{"-grpc-addr", c.GRPCAddr, false}, {"-raft-addr", c.RaftAddr, false},
		{"-dns-addr", c.DNSAddr, true}, {"-http-addr", c.HTTPAddr, true},
	} {
		if a.v == "" && a.optional {
			continue
		}
		if _, _, err := net.SplitHostPort(a.v); err != nil {
			errs = append(errs, fmt.Errorf("%s %q is not HOST:PORT: %v", a.name, a.v, err))
		}
	}
	switch c.Role {
	case RoleMaster:
	case RoleTiebreaker:
		if c.Dev {
			errs = append(errs, errors.New("-role tiebreaker cannot run with -dev: -dev is a one-master set"))
		}
		if c.Witness != "" {
			errs = append(errs, errors.New("-role tiebreaker takes no -witness: a tie-breaker never drives ECX, so it holds no witness lease"))
		}
	default:
		errs = append(errs, fmt.Errorf("-role %q is unknown: use master or tiebreaker", c.Role))
	}
	if c.Bootstrap && c.Join != "" {
		errs = append(errs, errors.New("-bootstrap and -join exclude each other: bootstrap the first master only, join the others"))
	}
	if c.Raft.LeaderLeaseTimeout > c.Raft.HeartbeatTimeout {
		errs = append(errs, fmt.Errorf("-raft-leader-lease-timeout %v exceeds -raft-heartbeat-timeout %v", c.Raft.LeaderLeaseTimeout, c.Raft.HeartbeatTimeout))
	}
	if c.Raft.HeartbeatTimeout < 5*time.Millisecond || c.Raft.ElectionTimeout < 5*time.Millisecond {
		errs = append(errs, errors.New("raft timeouts must be at least 5ms"))
	}
	switch strings.ToLower(c.LogLevel) {
	case "trace", "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("-log-level %q is unknown: use trace, debug, info, warn or error", c.LogLevel))
	}
	if c.DNS.RateLimit < 0 {
		errs = append(errs, fmt.Errorf("dns rate_limit %d is negative: use 0 to turn response rate limiting off", c.DNS.RateLimit))
	}
	if u := c.DNS.Update; u != nil {
		if _, _, err := net.SplitHostPort(u.Primary); err != nil {
			errs = append(errs, fmt.Errorf("dns update primary %q is not HOST:PORT", u.Primary))
		}
		if u.KeyName != "" && u.SecretFile == "" {
			errs = append(errs, errors.New("dns update key_name needs secret_file (the base64 TSIG secret)"))
		}
	}
	for _, p := range c.DNS.AllowTransfer {
		if _, err := netip.ParsePrefix(p); err != nil {
			errs = append(errs, fmt.Errorf("dns allow_transfer %q is not a CIDR prefix such as 192.0.2.0/24", p))
		}
	}
	ctl := c.Controller
	if ctl.PollInterval <= 0 || ctl.UnreachableAfter < ctl.PollInterval {
		errs = append(errs, fmt.Errorf("controller poll_interval %v must be > 0 and at most unreachable_after %v", ctl.PollInterval, ctl.UnreachableAfter))
	}
	if ctl.FenceAfter <= ctl.UnreachableAfter {
		errs = append(errs, fmt.Errorf("controller fence_after %v must exceed unreachable_after %v", ctl.FenceAfter, ctl.UnreachableAfter))
	}
	errs = append(errs, c.validateGuard()...)
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"start_timeout", ctl.StartTimeout}, {"stop_timeout", ctl.StopTimeout}, {"ecx_timeout", ctl.ECXTimeout}, {"hook_timeout", ctl.HookTimeout}, {"group_recovery_grace", ctl.GroupRecoveryGrace}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("controller %s %v must be positive", d.name, d.v))
		}
	}
	if ctl.MaxParallelOperations < 1 {
		errs = append(errs, errors.New("controller max_parallel_operations must be at least 1"))
	}
	if ctl.PollWorkers < 1 {
		errs = append(errs, fmt.Errorf("controller poll_workers %d must be at least 1", ctl.PollWorkers))
	}
	if ctl.MaxAutoMovesPerHour < 0 || ctl.AutoMoveQuiet < 0 {
		errs = append(errs, fmt.Errorf("controller max_auto_moves_per_hour %d and auto_move_quiet %v must not be negative", ctl.MaxAutoMovesPerHour, ctl.AutoMoveQuiet))
	}
	if ctl.ProbeWorkers < 1 {
		errs = append(errs, fmt.Errorf("controller probe_workers %d must be at least 1", ctl.ProbeWorkers))
	}
	if c.Raft.SnapshotRetain < 1 {
		errs = append(errs, fmt.Errorf("raft snapshot_retain %d must be at least 1", c.Raft.SnapshotRetain))
	}
	if c.RPCHoldTimeout <= 0 {
		errs = append(errs, fmt.Errorf("-rpc-hold-timeout %v must be positive: it is how long a write waits for a leader", c.RPCHoldTimeout))
	}
	if ctl.HookRetries < 0 || ctl.HookRetries > 100 {
		errs = append(errs, fmt.Errorf("controller hook_retries %d must be between 0 and 100", ctl.HookRetries))
	}
	errs = append(errs, c.validateSecurity()...)
	errs = append(errs, c.validateHTTP()...)
	errs = append(errs, c.validateNotify()...)
	if c.Witness != "" {
		if _, err := witness.ParseURLs(c.Witness); err != nil {
			errs = append(errs, fmt.Errorf("-witness: %w", err))
		}
	}
	return errors.Join(errs...)
}

// WitnessURLs returns the witness URLs of a validated Config, nil when no witness is configured.
func (c Config) WitnessURLs() []string {
	if c.Witness == "" {
		return nil
	}
	urls, _ := witness.ParseURLs(c.Witness)
	return urls
}

// validateGuard checks the timing of the member guards against fence_after (docs/design.md,
// "Split-brain protection"): a member is declared down fence_after after the masters and the
// witness last heard its guards; by then its guards must have stopped its groups.
func (c *Config) validateGuard() []error {
	var errs []error
	ctl := c.Controller
	if ctl.GuardTimeout <= 0 || ctl.GuardStopTimeout < 0 || ctl.GuardDriftMargin < 0 {
		errs = append(errs, fmt.Errorf("controller guard_timeout %v must be positive, guard_stop_timeout %v and guard_drift_margin %v not negative", ctl.GuardTimeout, ctl.GuardStopTimeout, ctl.GuardDriftMargin))
	}
	if ctl.GuardDriftMargin < c.Raft.LeaderLeaseTimeout {
		errs = append(errs, fmt.Errorf("controller guard_drift_margin %v must be at least raft leader_lease_timeout %v: a deposed leader acknowledges guards that long", ctl.GuardDriftMargin, c.Raft.LeaderLeaseTimeout))
	}
	if ctl.FenceAfter <= ctl.GuardBudget() {
		errs = append(errs, fmt.Errorf("controller fence_after %v must exceed guard_timeout %v + guard_stop_timeout %v + guard_drift_margin %v = %v: a member cut off from the masters and the witness must have stopped its groups before it is declared down",
			ctl.FenceAfter, ctl.GuardTimeout, ctl.GuardStopTimeout, ctl.GuardDriftMargin, ctl.GuardBudget()))
	}
	return errs
}

func (c *Config) validateSecurity() []error {
	var errs []error
	t := c.TLS
	if t.Enabled() && (t.Cert == "" || t.Key == "" || t.CA == "") {
		errs = append(errs, errors.New("-tls-cert, -tls-key and -tls-ca go together: the CA also verifies the other masters (create all three with 'csetd tls init')"))
	}
	if !t.Enabled() && (t.CA != "" || t.VerifyClients) {
		errs = append(errs, errors.New("-tls-ca and -tls-verify-clients need -tls-cert and -tls-key"))
	}
	if c.Dev && (c.Auth || t.Enabled()) {
		errs = append(errs, errors.New("-dev is open by design (no TLS, no tokens, loopback only): drop -auth and -tls-* or run without -dev"))
	}
	if c.Auth && c.Join != "" && c.TokenFile == "" && !t.Enabled() {
		errs = append(errs, errors.New("-auth with -join needs -token-file (an admin token) or -tls-cert (a master certificate) so the other masters let this one join"))
	}
	return errs
}

func (c *Config) validateHTTP() []error {
	var errs []error
	h := c.HTTP
	switch h.MetricsAuth {
	case "", MetricsAuthNone:
	case MetricsAuthToken, MetricsAuthCert, MetricsAuthTokenOrCert:
		switch {
		case c.Dev:
			errs = append(errs, fmt.Errorf("-metrics-auth %s: -dev is open by design; drop it or run without -dev", h.MetricsAuth))
		case !c.TLS.Enabled():
			errs = append(errs, fmt.Errorf("-metrics-auth %s needs -tls-cert, -tls-key and -tls-ca: /metrics then serves HTTPS, so neither the token nor the metrics cross the network in clear text, and client certificates are checked against -tls-ca", h.MetricsAuth))
		}
	default:
		errs = append(errs, fmt.Errorf("-metrics-auth %q is unknown: use none, token, cert or token-or-cert", h.MetricsAuth))
	}
	if h.MaxConns < 1 {
		errs = append(errs, fmt.Errorf("http max_conns %d must be at least 1", h.MaxConns))
	}
	if h.ReadTimeout <= 0 || h.WriteTimeout <= 0 || h.IdleTimeout <= 0 {
		errs = append(errs, fmt.Errorf("http read_timeout %v, write_timeout %v and idle_timeout %v must be positive", h.ReadTimeout, h.WriteTimeout, h.IdleTimeout))
	}
	return errs
}

// Advertised returns the advertise address for a listen address: the explicit one if set,
// else the listen address.
func Advertised(explicit, listen string) string {
	if explicit != "" {
		return explicit
	}
	return listen
}
