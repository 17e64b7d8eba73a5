package ecxclient

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/ecxsim"
)

// TestContract_Sim runs the contract against ecxsim over real HTTP and over
// HTTPS (simTransports), each in both of ecxsim's error styles: failures
// answered with an error status, and failures answered inside HTTP 200 with
// a non-zero result.code, as ECX may do (docs/ecx.md).
func TestContract_Sim(t *testing.T) { forEachSimTransport(t, testContractSim) }

func testContractSim(t *testing.T, tr simTransport) {
	t.Parallel()
	for _, style := range []string{ecxsim.ErrorStyleHTTP, ecxsim.ErrorStyleEnvelope} {
		t.Run(style, func(t *testing.T) {
			t.Parallel()
			contractSim(t, tr, style)
		})
	}
}

func contractSim(t *testing.T, tr simTransport, style string) {
	const cluster = "c1"
	servers := []string{"s1", "s2", "s3"}
	cfg := ecxsim.Config{Clusters: []ecxsim.ClusterConfig{{
		Name: cluster, User: "admin", Password: "s3cret",
		Servers: []ecxsim.ServerConfig{{Name: "s1"}, {Name: "s2"}, {Name: "s3"}},
		Groups: []ecxsim.GroupConfig{
			{Name: "g1", Servers: servers, StartDuration: 700 * time.Millisecond, StopDuration: 500 * time.Millisecond},
			{Name: "g2", Servers: servers[:2], StartDuration: 400 * time.Millisecond, StopDuration: 400 * time.Millisecond},
			{Name: "auto", Servers: []string{"s2", "s1"}, AutoStart: true, StartDuration: 100 * time.Millisecond, StopDuration: 100 * time.Millisecond},
		},
		HeartbeatTimeout:  time.Second,
		HeartbeatInterval: 200 * time.Millisecond,
		RebootDuration:    time.Second,
		ErrorStyle:        style,
	}}}
	tr.configure(t, &cfg)
	sim, err := ecxsim.New(cfg, testLogger(t).Named("ecxsim"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	var urls []string
	for _, s := range servers {
		urls = append(urls, sim.ServerURL(cluster, s))
	}
	member := MemberConfig{Name: "member-c1", URLs: urls, User: "admin", Password: "s3cret", Timeout: 2 * time.Second}
	tr.member(cfg, &member)
	newClient := func(t *testing.T) *Client {
		c, err := New(member, WithLogger(testLogger(t)))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	RunContract(t, newClient, ContractEnv{
		Config: member, Cluster: cluster, Servers: servers, Group: "g1", Target: "s1",
		OpTimeout: 20 * time.Second,
		Sim: &SimControl{
			ServerDown:             func(s string) error { return sim.ServerDown(cluster, s) },
			ServerUp:               func(s string) error { return sim.ServerUp(cluster, s) },
			ClusterUp:              func() error { return sim.ClusterUp(cluster) },
			Isolate:                func() error { return sim.Isolate(cluster) },
			Heal:                   func() error { return sim.Heal(cluster) },
			SetLatency:             func(d time.Duration) error { return sim.SetLatency(cluster, d) },
			SetErrorRate:           func(r float64) error { return sim.SetErrorRate(cluster, r) },
			SetFailStart:           func(g string, on bool) error { return sim.SetFailStart(cluster, g, on) },
			SetFailStop:            func(g string, on bool) error { return sim.SetFailStop(cluster, g, on) },
			SetServerStatusUnknown: func(s string, on bool) error { return sim.SetServerStatusUnknown(cluster, s, on) },
			EnvelopeErrors:         style == ecxsim.ErrorStyleEnvelope,
			SecondGroup:            "g2",
			AutoGroup:              "auto",
			PendingVisible:         true,
		},
	})
}

// TestContract_Real runs the safe part of the contract against a real ECX
// cluster given by CSET_ECX_REAL_URL (comma-separated server URLs),
// CSET_ECX_REAL_USER, CSET_ECX_REAL_PASSWORD and CSET_ECX_REAL_GROUP (a
// manual-start group it may start and stop; its state is restored).
// Optional: CSET_ECX_REAL_TARGET, CSET_ECX_REAL_CA_FILE,
// CSET_ECX_REAL_INSECURE=1, CSET_ECX_REAL_AUTHTEST=1.
func TestContract_Real(t *testing.T) {
	raw := os.Getenv("CSET_ECX_REAL_URL")
	if raw == "" {
		t.Skip("CSET_ECX_REAL_URL not set")
	}
	group := os.Getenv("CSET_ECX_REAL_GROUP")
	if group == "" {
		t.Fatal("CSET_ECX_REAL_GROUP must name a group the suite may start and stop")
	}
	member := MemberConfig{
		Name: "real", URLs: splitURLs(raw),
		User: os.Getenv("CSET_ECX_REAL_USER"), Password: os.Getenv("CSET_ECX_REAL_PASSWORD"),
		CAFile: os.Getenv("CSET_ECX_REAL_CA_FILE"), InsecureSkipVerify: os.Getenv("CSET_ECX_REAL_INSECURE") == "1",
		Timeout: 10 * time.Second,
	}
	RunContract(t, func(t *testing.T) *Client {
		c, err := New(member, WithLogger(testLogger(t)))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}, ContractEnv{
		Config: member, Real: true, Group: group, Target: os.Getenv("CSET_ECX_REAL_TARGET"),
		OpTimeout: 5 * time.Minute, AuthFailureOK: os.Getenv("CSET_ECX_REAL_AUTHTEST") == "1",
	})
}

func splitURLs(s string) []string {
	var out []string
	for _, u := range strings.Split(s, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}
