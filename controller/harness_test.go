package controller_test

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/ecxsim"
	"github.com/cset-project/cset/internal/clustertest"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"github.com/cset-project/cset/witness"
)

// env is one test world: masters, a witness, an ecxsim with several members, and the set
// registered in the masters with one workload per group name.
type env struct {
	t          *testing.T
	c          *clustertest.Cluster
	sim        *ecxsim.Sim
	witness    string
	witnessSrv *httptest.Server
	// gates are the witnesses' front doors (envOpts.witnesses > 1), one per witness.
	gates []*witnessGate
	// proxies are the REST proxies of each member's servers (envOpts.proxyREST).
	proxies map[string][]*restProxy
	net     int // second octet of the workloads' loopback addresses (envOpts.probe)
}

// address is the loopback address of the i-th group on the m-th member (envOpts.probe).
func (e *env) address(m, i int) string { return fmt.Sprintf("127.%d.%d.%d", e.net, m+1, i+10) }

type envOpts struct {
	masters   int
	members   []string
	groups    []string
	noWitness bool
	// witnesses > 1 runs that many witnesses behind gates (e.gates); e.witness lists them all.
	witnesses int
	hooks     map[string][]string // workload -> hooks
	autoStart map[string]string   // group -> member where it auto-starts (adoption)
	failStart map[string]string   // group -> member where every start of it fails
	startTime time.Duration       // how long a start stays Online Pending (default 50ms)
	// spareGroups exist in every simulated member but are not registered as workloads.
	spareGroups []string
	// startTimeOn overrides startTime on some members (member -> duration).
	startTimeOn map[string]time.Duration
	// plantedDoubleOnline: the test itself starts a second copy by hand, so the audit checks
	// are the test's own business.
	plantedDoubleOnline bool
	// tune, when set, adjusts the masters' configuration after the harness's timings.
	tune func(cfg *config.Config)
	// guards runs the member guards on the simulated servers, heartbeating the masters
	// (guardTimeout, guardStopTimeout).
	guards bool
	// errorStyle is the simulated members' error style (ecxsim.ErrorStyleHTTP by default).
	errorStyle string
	// heartbeatTimeoutOn overrides the ECX heartbeat timeout (400ms) on some members.
	heartbeatTimeoutOn map[string]time.Duration
	// proxyREST puts a restProxy in front of every simulated server: the masters talk to the
	// proxies, which record every request and can answer stops themselves.
	proxyREST bool
	// probe, when set, is every workload's probe; the workloads' addresses are then loopback
	// addresses that ecxsim serves on servePort while the group is Online there.
	probe *apiv1.ProbeSpec
	// dns serves the zone on every master (node.Server.Addrs().DNS).
	dns bool
	// dependsOn are the workloads' depends_on (workloads are registered in groups order).
	dependsOn map[string][]string
	// failbackAfter, when set, gives every workload failback: auto with this failback_after.
	failbackAfter time.Duration
	// size is every workload's size (default 0: they use no capacity).
	size int64
}

// servePort is the port of the workloads' services when envOpts.probe is set.
const servePort = 18080

const (
	pollInterval     = 100 * time.Millisecond
	unreachableAfter = 600 * time.Millisecond
	fenceAfter       = 2 * time.Second
	recoveryGrace    = 1500 * time.Millisecond
	// The guards' timings: guardTimeout + guardStopTimeout + a drift margin of 700ms < fenceAfter.
	guardTimeout     = 800 * time.Millisecond
	guardStopTimeout = 500 * time.Millisecond
)

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	if o.masters == 0 {
		o.masters = 1
	}
	e := &env{t: t}
	var witnessURLs []string
	if !o.noWitness && o.witnesses > 1 {
		for range o.witnesses {
			ws, err := witness.NewServer(witness.ServerConfig{DataDir: t.TempDir(), RestartHold: -1, Logger: testutil.Logger(t, "witness")})
			if err != nil {
				t.Fatal(err)
			}
			g := &witnessGate{h: ws.Handler(), dropFrom: map[string]bool{}}
			hs := httptest.NewServer(g)
			t.Cleanup(func() { hs.Close(); ws.Close() })
			e.gates = append(e.gates, g)
			witnessURLs = append(witnessURLs, hs.URL)
		}
		e.witness = strings.Join(witnessURLs, ",")
	} else if !o.noWitness {
		ws, err := witness.NewServer(witness.ServerConfig{DataDir: t.TempDir(), RestartHold: -1, Logger: testutil.Logger(t, "witness")})
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(ws.Handler())
		t.Cleanup(func() { hs.Close(); ws.Close() })
		e.witness, e.witnessSrv = hs.URL, hs
	}
	// With guards, the simulated guards reach the masters through proxies that exist before them.
	var guardCfg *ecxsim.GuardConfig
	var proxies []*tcpProxy
	if o.guards {
		guardCfg = &ecxsim.GuardConfig{Timeout: guardTimeout, StopTimeout: guardStopTimeout}
		for range o.masters {
			p := newTCPProxy(t)
			proxies = append(proxies, p)
			guardCfg.Masters = append(guardCfg.Masters, p.addr())
		}
	}
	var simCfg ecxsim.Config
	simCfg.ControlAddr = "127.0.0.1:0"
	// With probes, every env gets loopback addresses of its own (127.N.member.group), so that
	// parallel tests never bind each other's service addresses.
	e.net = 1 + rand.IntN(250)
	for mi, m := range o.members {
		hbTimeout := 400 * time.Millisecond
		if d, ok := o.heartbeatTimeoutOn[m]; ok {
			hbTimeout = d
		}
		cl := ecxsim.ClusterConfig{
			Name: m, User: "admin", Password: "pw-" + m,
			HeartbeatTimeout: hbTimeout, HeartbeatInterval: 100 * time.Millisecond,
			Guard: guardCfg, ErrorStyle: o.errorStyle,
			Servers: []ecxsim.ServerConfig{{Name: m + "-1", Listen: "127.0.0.1:0"}, {Name: m + "-2", Listen: "127.0.0.1:0"}},
		}
		if len(witnessURLs) > 0 {
			cl.WitnessURLs = witnessURLs
		} else {
			cl.WitnessURL = e.witness
		}
		for _, g := range append(slices.Clone(o.groups), o.spareGroups...) {
			start := 50 * time.Millisecond
			if o.startTime > 0 {
				start = o.startTime
			}
			if d, ok := o.startTimeOn[m]; ok {
				start = d
			}
			gc := ecxsim.GroupConfig{Name: g, StartDuration: start, StopDuration: 50 * time.Millisecond,
				AutoStart: o.autoStart[g] == m, FailStart: o.failStart[g] == m}
			if gi := slices.Index(o.groups, g); o.probe != nil && gi >= 0 {
				gc.Serve = []string{net.JoinHostPort(e.address(mi, gi), strconv.Itoa(servePort))}
			}
			cl.Groups = append(cl.Groups, gc)
		}
		simCfg.Clusters = append(simCfg.Clusters, cl)
	}
	sim, err := ecxsim.New(simCfg, testutil.Logger(t, "ecxsim"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	e.sim = sim
	t.Cleanup(func() {
		if o.plantedDoubleOnline {
			sim.Close()
			return
		}
		if err := ecxsim.CheckNoDoubleOnline(sim.Audit()); err != nil {
			t.Errorf("audit: %v", err)
		}
		sim.Close()
	})
	e.c = clustertest.New(t, o.masters, func(cfg *config.Config) {
		cfg.Witness = e.witness
		cfg.Controller.PollInterval = pollInterval
		cfg.Controller.UnreachableAfter = unreachableAfter
		cfg.Controller.FenceAfter = fenceAfter
		cfg.Controller.GroupRecoveryGrace = recoveryGrace
		cfg.Controller.StartTimeout = 5 * time.Second
		cfg.Controller.StopTimeout = 5 * time.Second
		cfg.Controller.ECXTimeout = 300 * time.Millisecond
		cfg.Controller.LeaseTTL = 2 * time.Second
		if o.dns {
			cfg.DNSAddr = "127.0.0.1:0"
		}
		if o.tune != nil {
			o.tune(cfg)
		}
	})
	for i, p := range proxies {
		p.setUpstream(e.c.Nodes[i].Server.Addrs().GRPC)
	}
	cl := e.client()
	ctx := clustertest.Ctx(t)
	if _, err := cl.InitSet(ctx, &apiv1.InitSetRequest{Name: "test", Zone: "cset.test."}); err != nil {
		t.Fatal(err)
	}
	for _, m := range o.members {
		req := &apiv1.AddMemberRequest{Name: m, User: "admin", Password: "pw-" + m}
		for _, s := range []string{m + "-1", m + "-2"} {
			u := sim.ServerURL(m, s)
			if o.proxyREST {
				p := newRESTProxy(t, u)
				if e.proxies == nil {
					e.proxies = map[string][]*restProxy{}
				}
				e.proxies[m] = append(e.proxies[m], p)
				u = p.URL()
			}
			req.Servers = append(req.Servers, &apiv1.ServerSpec{Name: s, Url: u})
		}
		if _, err := cl.AddMember(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	for i, g := range o.groups {
		req := &apiv1.RegisterWorkloadRequest{Name: g, Group: g, Candidates: o.members, Addresses: map[string]*apiv1.AddressList{}, Hooks: o.hooks[g], HookTimeoutSeconds: 10, Probe: o.probe, DependsOn: o.dependsOn[g]}
		req.Size = o.size
		if o.failbackAfter > 0 {
			req.Failback, req.FailbackAfterSeconds = "auto", uint32(o.failbackAfter/time.Second)
		}
		for j, m := range o.members {
			addr := fmt.Sprintf("10.%d.0.%d", j+1, i+10)
			if o.probe != nil {
				addr = e.address(j, i)
			}
			req.Addresses[m] = &apiv1.AddressList{Addresses: []string{addr}}
		}
		if _, err := cl.RegisterWorkload(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// errorStyles are the ways a simulated member reports failures: with an error status, or inside
// HTTP 200 with a non-zero result.code (docs/ecx.md).
var errorStyles = []string{ecxsim.ErrorStyleHTTP, ecxsim.ErrorStyleEnvelope}

// forEachErrorStyle runs fn as a parallel subtest per error style of the simulated members.
func forEachErrorStyle(t *testing.T, fn func(t *testing.T, style string)) {
	t.Parallel()
	for _, style := range errorStyles {
		t.Run(style, func(t *testing.T) {
			t.Parallel()
			fn(t, style)
		})
	}
}

func (e *env) client() apiv1.ClusterSetServiceClient { return e.c.WaitForLeader().Client() }

func (e *env) workload(name string) *apiv1.Workload {
	e.t.Helper()
	w, err := e.client().GetWorkload(clustertest.Ctx(e.t), &apiv1.GetRequest{Name: name})
	if err != nil {
		e.t.Fatalf("get %s: %v", name, err)
	}
	return w
}

// simRunning returns the clusters on which the simulator really runs group.
func (e *env) simRunning(group string) []string {
	var out []string
	for _, c := range e.sim.State().Clusters {
		for _, g := range c.Groups {
			if g.Name == group && g.RunningOn != "" {
				out = append(out, c.Name)
			}
		}
	}
	return out
}

// waitOnline waits until the workload is placed Online on member (any member when "") and the
// simulator agrees it runs there and nowhere else.
func (e *env) waitOnline(name, member string, timeout time.Duration) *apiv1.Workload {
	e.t.Helper()
	var w *apiv1.Workload
	testutil.Eventually(e.t, timeout, func() error {
		w = e.workload(name)
		if w.GetStatus() != "Online" || (member != "" && w.GetMember() != member) {
			return fmt.Errorf("workload %s is %s on %q, want Online on %q", name, w.GetStatus(), w.GetMember(), member)
		}
		if got := e.simRunning(w.GetGroup()); len(got) != 1 || got[0] != w.GetMember() {
			return fmt.Errorf("simulator runs %s on %v", name, got)
		}
		return nil
	})
	return w
}

func (e *env) waitHealth(member, health string, timeout time.Duration) {
	e.t.Helper()
	testutil.Eventually(e.t, timeout, func() error {
		m, err := e.client().GetMember(clustertest.Ctx(e.t), &apiv1.GetRequest{Name: member})
		if err != nil {
			return err
		}
		if m.GetMember().GetHealth() != health {
			return fmt.Errorf("member %s is %s (%s), want %s", member, m.GetMember().GetHealth(), m.GetMember().GetHealthReason(), health)
		}
		return nil
	})
}

func (e *env) events(substr string) []*apiv1.Event {
	e.t.Helper()
	resp, err := e.client().ListEvents(clustertest.Ctx(e.t), &apiv1.ListEventsRequest{Limit: 10000})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []*apiv1.Event
	for _, ev := range resp.GetEvents() {
		if strings.Contains(ev.GetMessage(), substr) {
			out = append(out, ev)
		}
	}
	return out
}

// writeHook writes an executable shell script into dir.
func writeHook(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}
