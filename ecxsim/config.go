package ecxsim

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

// ListenAuto asks for a distinct loopback address 127.0.X.Y:29009 for a server, falling back to
// 127.0.0.1:0 when that address cannot be bound.
const ListenAuto = "auto"

// DefaultListen is used for a server whose Listen is empty, and for an empty Config.ControlAddr.
const DefaultListen = "127.0.0.1:0"

// Defaults applied by Config.withDefaults when a field is zero.
const (
	DefaultHeartbeatTimeout  = 5 * time.Second
	DefaultHeartbeatInterval = time.Second
	DefaultRebootDuration    = time.Second
)

// Config describes a simulator: its clusters, the control API address and the audit file. Durations
// in YAML are Go duration strings ("2s", "150ms").
type Config struct {
	// Clusters are the simulated ECX clusters. Names must be unique.
	Clusters []ClusterConfig `yaml:"clusters"`
	// ControlAddr is the listen address of the control API; empty means 127.0.0.1:0.
	ControlAddr string `yaml:"control_addr"`
	// AuditFile, when set, receives the audit log as JSON lines (see AuditRecord).
	AuditFile string `yaml:"audit_file"`
	// TLS, when set, makes every cluster without its own tls section serve HTTPS, all with one
	// generated CA (tls.go).
	TLS *TLSConfig `yaml:"tls"`
}

// ClusterConfig describes one ECX cluster.
type ClusterConfig struct {
	// Name is the ECX cluster name; it keys the witness heartbeats.
	Name string `yaml:"name"`
	// User and Password are the Basic auth credentials every server of the cluster accepts.
	User     string `yaml:"user"`
	Password string `yaml:"password"`
	// Servers are the cluster's servers in server priority order (the first is ECX's master server).
	Servers []ServerConfig `yaml:"servers"`
	// Groups are the failover groups of the cluster.
	Groups []GroupConfig `yaml:"groups"`
	// HeartbeatTimeout is how long a server waits before it declares a silent peer down (then fails
	// its groups over) or, hearing no peer and no witness, shuts itself down. Default 5s.
	HeartbeatTimeout time.Duration `yaml:"heartbeat_timeout"`
	// HeartbeatInterval is the period of the heartbeats sent to the witness. Default 1s.
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// WitnessURL is the base URL of the witness ("http://127.0.0.1:7190"); heartbeats go to
	// WitnessURL + "/v1/heartbeat". Empty means no witness.
	WitnessURL string `yaml:"witness_url"`
	// WitnessURLs are several witnesses (an odd number, docs/witness.md "Several witnesses"),
	// with or instead of WitnessURL: every heartbeat goes to each of them, and counts as
	// acknowledged (for the guard and for ECX's partition resolution) when a majority
	// acknowledged it. The same WitnessToken is sent to all.
	WitnessURLs []string `yaml:"witness_urls"`
	// WitnessToken, when set, is sent as "Authorization: Bearer <token>" with every heartbeat.
	WitnessToken string `yaml:"witness_token"`
	// RebootDuration is how long a rebooted server stays powered off. Default 1s.
	RebootDuration time.Duration `yaml:"reboot_duration"`
	// ErrorStyle is how failures are answered: "http" (default) or "envelope" (ErrorStyleEnvelope).
	ErrorStyle string `yaml:"error_style"`
	// Guard, when set, runs the member guard (package guard, `csetd guard`) on every server of the
	// cluster: it heartbeats the masters as well as the witness, and stops the cset groups of its
	// server when neither answers for Guard.Timeout. Without it the servers only heartbeat the
	// witness (through the same code, with nothing to stop).
	Guard *GuardConfig `yaml:"guard"`
	// TLS, when set, makes the cluster's servers serve HTTPS with a CA of their own (tls.go);
	// it takes precedence over Config.TLS.
	TLS *TLSConfig `yaml:"tls"`
}

// GuardConfig configures the simulated member guards of a cluster (docs/guard.md). They send
// their heartbeats every HeartbeatInterval of the cluster.
type GuardConfig struct {
	// Masters are the gRPC addresses (host:port) of the masters.
	Masters []string `yaml:"masters"`
	// Token is a master API token with role guard, for masters started with -auth.
	Token string `yaml:"token"`
	// Timeout is guard_timeout; it must equal the masters' controller.guard_timeout. Default 5s.
	Timeout time.Duration `yaml:"timeout"`
	// StopTimeout is the masters' controller.guard_stop_timeout: a group that takes longer to
	// stop is logged. Default 5s.
	StopTimeout time.Duration `yaml:"stop_timeout"`
}

// Defaults of GuardConfig, the same as the masters' (config.Default).
const (
	DefaultGuardTimeout     = 5 * time.Second
	DefaultGuardStopTimeout = 5 * time.Second
)

// ServerConfig describes one ECX server.
type ServerConfig struct {
	// Name is the ECX server name.
	Name string `yaml:"name"`
	// Listen is the REST listen address: "host:port", ListenAuto, or empty for 127.0.0.1:0.
	Listen string `yaml:"listen"`
}

// GroupConfig describes one failover group, with the resources and monitors the REST API lists
// for it (see names.go).
type GroupConfig struct {
	// Name is the group name, unique in the cluster. The same name in several clusters is one cset
	// workload.
	Name string `yaml:"name"`
	// Servers is the failover policy: the servers that may run the group, highest priority first.
	// Empty means every server of the cluster in configuration order (ECX's default).
	Servers []string `yaml:"servers"`
	// AutoStart starts the group on its highest-priority live server when the cluster starts. cset
	// workloads use manual start (false).
	AutoStart bool `yaml:"auto_start"`
	// StartDuration is how long the group stays "Online Pending"; StopDuration how long it stays
	// "Offline Pending". Zero means the transition completes as soon as the scheduler runs.
	StartDuration time.Duration `yaml:"start_duration"`
	StopDuration  time.Duration `yaml:"stop_duration"`
	// FailStart makes every start end in "Online Failure" instead of "Online".
	FailStart bool `yaml:"fail_start"`
	// Resources are the group's resources in activation order. Empty means "<g>-fip" (type fip)
	// and "<g>-exec" (type exec); NEC-style names are fip1, md1, exec1.
	Resources []ResourceConfig `yaml:"resources"`
	// Monitors are the monitor resources that belong with the group. Empty means "<g>-fipw"
	// (type fipw, timing active); NEC-style names are fipw1, mdw1, genw1.
	Monitors []MonitorConfig `yaml:"monitors"`
	// Serve are the addresses of the group's service ("127.1.0.10:8080": an IP, not a host name;
	// port 0 is a free port chosen at the first bind and kept). While the group is Online on a
	// live server the simulator listens on each with a small HTTP server (service.go), like an
	// application behind the group's floating IP. Two groups may share an address only under the
	// same name, in different clusters (one workload).
	Serve []string `yaml:"serve"`
}

// LoadConfig reads a YAML configuration file, applies the defaults and validates it. Unknown keys are
// errors.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	return ParseConfig(data)
}

// ParseConfig decodes YAML configuration bytes, applies the defaults and validates the result.
func ParseConfig(data []byte) (Config, error) {
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, fmt.Errorf("parse config: %w", err)
	}
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// withDefaults returns a copy of c with zero fields that have a default filled in. The slices are
// copied so that the caller's Config is never shared with a Sim.
func (c Config) withDefaults() Config {
	out := c
	if out.ControlAddr == "" {
		out.ControlAddr = DefaultListen
	}
	out.TLS = c.TLS.clone()
	out.Clusters = make([]ClusterConfig, len(c.Clusters))
	for i, cl := range c.Clusters {
		cl.TLS = cl.TLS.clone()
		if cl.HeartbeatTimeout == 0 {
			cl.HeartbeatTimeout = DefaultHeartbeatTimeout
		}
		if cl.HeartbeatInterval == 0 {
			cl.HeartbeatInterval = DefaultHeartbeatInterval
		}
		if cl.RebootDuration == 0 {
			cl.RebootDuration = DefaultRebootDuration
		}
		if cl.Guard != nil {
			gc := *cl.Guard
			gc.Masters = append([]string(nil), gc.Masters...)
			if gc.Timeout == 0 {
				gc.Timeout = DefaultGuardTimeout
			}
			if gc.StopTimeout == 0 {
				gc.StopTimeout = DefaultGuardStopTimeout
			}
			cl.Guard = &gc
		}
		cl.Servers = append([]ServerConfig(nil), cl.Servers...)
		for j := range cl.Servers {
			if cl.Servers[j].Listen == "" {
				cl.Servers[j].Listen = DefaultListen
			}
		}
		groups := make([]GroupConfig, len(cl.Groups))
		for j, g := range cl.Groups {
			if len(g.Servers) == 0 {
				for _, s := range cl.Servers {
					g.Servers = append(g.Servers, s.Name)
				}
			} else {
				g.Servers = append([]string(nil), g.Servers...)
			}
			g.Resources = append([]ResourceConfig(nil), g.Resources...)
			g.Monitors = append([]MonitorConfig(nil), g.Monitors...)
			g.Serve = append([]string(nil), g.Serve...)
			groups[j] = g
		}
		cl.Groups = groups
		out.Clusters[i] = cl
	}
	return out
}

// Validate reports every problem of the configuration at once (joined with errors.Join). It expects
// defaults to be applied already; New applies them itself.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(c.Clusters) == 0 {
		add("config: no clusters")
	}
	if err := checkListen(c.ControlAddr); err != nil {
		add("config: control_addr: %w", err)
	}
	clusterNames := map[string]bool{}
	fixedAddrs := map[string]string{}
	caOuts := map[string]string{}
	errs = append(errs, validateTLS("config", c.TLS, caOuts)...)
	for i, cl := range c.Clusters {
		where := "cluster " + strconv.Itoa(i)
		if cl.Name != "" {
			where = fmt.Sprintf("cluster %q", cl.Name)
		}
		if cl.Name == "" {
			add("%s: name is empty", where)
		} else if clusterNames[cl.Name] {
			add("%s: duplicate cluster name", where)
		}
		clusterNames[cl.Name] = true
		errs = append(errs, validateCluster(where, cl, fixedAddrs)...)
		errs = append(errs, validateTLS(where, cl.TLS, caOuts)...)
	}
	errs = append(errs, validateServe(c)...)
	return errors.Join(errs...)
}

func validateCluster(where string, cl ClusterConfig, fixedAddrs map[string]string) []error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(where+": "+format, args...))
	}
	if cl.User == "" {
		add("user is empty")
	}
	if cl.HeartbeatTimeout <= 0 {
		add("heartbeat_timeout must be positive, got %s", cl.HeartbeatTimeout)
	}
	if cl.HeartbeatInterval <= 0 {
		add("heartbeat_interval must be positive, got %s", cl.HeartbeatInterval)
	} else if cl.HeartbeatInterval >= cl.HeartbeatTimeout {
		add("heartbeat_interval %s must be shorter than heartbeat_timeout %s", cl.HeartbeatInterval, cl.HeartbeatTimeout)
	}
	if cl.RebootDuration < 0 {
		add("reboot_duration must not be negative, got %s", cl.RebootDuration)
	}
	if !ValidErrorStyle(cl.ErrorStyle) {
		add("error_style %q is unknown: use %q or %q", cl.ErrorStyle, ErrorStyleHTTP, ErrorStyleEnvelope)
	}
	if urls := cl.witnessURLs(); len(urls) > 0 {
		seen := map[string]bool{}
		for _, w := range urls {
			u, err := url.Parse(w)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				add("witness URL %q is not an http(s) URL", w)
			}
			if seen[w] {
				add("witness URL %q is given twice (witness_url and witness_urls together list each witness once)", w)
			}
			seen[w] = true
		}
		if len(urls)%2 == 0 {
			add("%d witness URLs given: give an odd number, so that two majorities always share a witness", len(urls))
		}
	} else if cl.WitnessToken != "" {
		add("witness_token is set but witness_url is empty")
	}
	if g := cl.Guard; g != nil {
		if len(g.Masters) == 0 {
			add("guard: no masters")
		}
		for _, m := range g.Masters {
			if err := checkListen(m); err != nil {
				add("guard: master %w", err)
			}
		}
		if g.Timeout <= cl.HeartbeatInterval {
			add("guard: timeout %s must be longer than heartbeat_interval %s", g.Timeout, cl.HeartbeatInterval)
		}
		if g.StopTimeout < 0 {
			add("guard: stop_timeout must not be negative, got %s", g.StopTimeout)
		}
	}
	if len(cl.Servers) == 0 {
		add("no servers")
	}
	servers := map[string]bool{}
	for _, s := range cl.Servers {
		switch {
		case s.Name == "":
			add("a server has an empty name")
		case servers[s.Name]:
			add("duplicate server name %q", s.Name)
		}
		servers[s.Name] = true
		if s.Listen == ListenAuto {
			continue
		}
		if err := checkListen(s.Listen); err != nil {
			add("server %q: listen: %w", s.Name, err)
			continue
		}
		if _, port, _ := net.SplitHostPort(s.Listen); port != "0" {
			if other, dup := fixedAddrs[s.Listen]; dup {
				add("server %q: listen address %s is also used by %s", s.Name, s.Listen, other)
			}
			fixedAddrs[s.Listen] = where + " server " + strconv.Quote(s.Name)
		}
	}
	groups := map[string]bool{}
	for _, g := range cl.Groups {
		errs = append(errs, validateGroup(where, g, groups, servers)...)
	}
	errs = append(errs, validateObjectNames(where, cl.Groups)...)
	return errs
}

func validateGroup(where string, g GroupConfig, seen, servers map[string]bool) []error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(where+": "+format, args...))
	}
	switch {
	case g.Name == "":
		add("a group has an empty name")
	case seen[g.Name]:
		add("duplicate group name %q", g.Name)
	}
	seen[g.Name] = true
	if g.StartDuration < 0 || g.StopDuration < 0 {
		add("group %q: start_duration and stop_duration must not be negative", g.Name)
	}
	if len(g.Servers) == 0 {
		add("group %q: no servers in its failover policy", g.Name)
	}
	inPolicy := map[string]bool{}
	for _, s := range g.Servers {
		if !servers[s] {
			add("group %q: unknown server %q in its failover policy", g.Name, s)
		}
		if inPolicy[s] {
			add("group %q: server %q listed twice in its failover policy", g.Name, s)
		}
		inPolicy[s] = true
	}
	return errs
}

func checkListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	if host == "" {
		return fmt.Errorf("%q has no host; give an address such as 127.0.0.1", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q has an invalid port", addr)
	}
	return nil
}

// Example2x2 returns a small configuration for tests and demos: clusters "east" and "west", each
// with two servers on 127.0.0.1:0 and the manual-start groups "app1" and "app2" (cset workloads),
// credentials admin/secret, 50 ms transitions, a 300 ms heartbeat timeout and no witness.
func Example2x2() Config {
	cfg := Config{ControlAddr: DefaultListen}
	for _, name := range []string{"east", "west"} {
		cl := ClusterConfig{
			Name:              name,
			User:              "admin",
			Password:          "secret",
			HeartbeatTimeout:  300 * time.Millisecond,
			HeartbeatInterval: 50 * time.Millisecond,
			RebootDuration:    100 * time.Millisecond,
			Servers: []ServerConfig{
				{Name: name + "1", Listen: DefaultListen},
				{Name: name + "2", Listen: DefaultListen},
			},
		}
		for _, g := range []string{"app1", "app2"} {
			cl.Groups = append(cl.Groups, GroupConfig{
				Name:          g,
				Servers:       []string{name + "1", name + "2"},
				StartDuration: 50 * time.Millisecond,
				StopDuration:  50 * time.Millisecond,
			})
		}
		cfg.Clusters = append(cfg.Clusters, cl)
	}
	return cfg
}

// witnessURLs are the cluster's witnesses: WitnessURL, then WitnessURLs.
func (cl ClusterConfig) witnessURLs() []string {
	var urls []string
	if cl.WitnessURL != "" {
		urls = append(urls, cl.WitnessURL)
	}
	return append(urls, cl.WitnessURLs...)
}

// hasWitness reports whether the cluster heartbeats at least one witness.
func (cl ClusterConfig) hasWitness() bool { return cl.WitnessURL != "" || len(cl.WitnessURLs) > 0 }
