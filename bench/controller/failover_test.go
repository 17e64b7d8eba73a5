package controllerbench

import (
	"flag"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/ecxsim"
	"github.com/cset-project/cset/fsm"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

var failoverRuns = flag.Int("ctl.failover-runs", 20, "failovers timed by BenchmarkFailover")

// The failover world's timings (docs/benchmarks-controller.md). The simulated ECX heartbeat
// timeout (self-fencing) stays below fence_after, as config requires of real members.
const (
	foPoll             = 100 * time.Millisecond
	foUnreachableAfter = 300 * time.Millisecond
	foFenceAfter       = time.Second
	foECXTimeout       = 250 * time.Millisecond
	foStart            = 200 * time.Millisecond // the simulated group start
	foStop             = 100 * time.Millisecond
	foHeartbeatTimeout = 400 * time.Millisecond
	foHeartbeatEvery   = 100 * time.Millisecond
)

var foMembers = []string{"east", "west", "north"}

// failoverWorld is one master, a witness and three simulated members with one workload, web.
type failoverWorld struct {
	m   *master
	sim *ecxsim.Sim
}

// foProbePort is web's service port in the probed failover world.
const foProbePort = 18081

// foAddress is web's address on the i-th member: a loopback address the simulator serves in the
// probed world (second octet 200+, away from the tests' 127.1-127.250).
func foAddress(i int) string { return fmt.Sprintf("127.%d.%d.10", 251, i+1) }

// newFailoverWorld builds the failover world; with probe, web has that probe and the simulator
// serves its address on each member while it is Online there.
func newFailoverWorld(b *testing.B, probe *apiv1.ProbeSpec) *failoverWorld {
	b.Helper()
	witnessURL := startWitness(b)
	simCfg := ecxsim.Config{ControlAddr: "127.0.0.1:0"}
	for i, m := range foMembers {
		g := ecxsim.GroupConfig{Name: "web", StartDuration: foStart, StopDuration: foStop}
		if probe != nil {
			g.Serve = []string{fmt.Sprintf("%s:%d", foAddress(i), foProbePort)}
		}
		simCfg.Clusters = append(simCfg.Clusters, ecxsim.ClusterConfig{
			Name: m, User: "admin", Password: "pw-" + m, WitnessURL: witnessURL,
			HeartbeatTimeout: foHeartbeatTimeout, HeartbeatInterval: foHeartbeatEvery,
			Servers: []ecxsim.ServerConfig{{Name: m + "-1", Listen: "127.0.0.1:0"}, {Name: m + "-2", Listen: "127.0.0.1:0"}},
			Groups:  []ecxsim.GroupConfig{g},
		})
	}
	sim, err := ecxsim.New(simCfg, logger("ecxsim"))
	if err != nil {
		b.Fatal(err)
	}
	if err := sim.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sim.Close() })
	m := startMaster(b, witnessURL, func(c *config.ControllerConfig) {
		c.PollInterval, c.UnreachableAfter, c.FenceAfter = foPoll, foUnreachableAfter, foFenceAfter
		c.ECXTimeout, c.StartTimeout, c.StopTimeout = foECXTimeout, 10*time.Second, 10*time.Second
		c.LeaseTTL = 3 * time.Second
		c.GuardTimeout, c.GuardStopTimeout, c.GuardDriftMargin = 250*time.Millisecond, 150*time.Millisecond, 500*time.Millisecond
	})
	decl := &apiv1.Declaration{Set: &apiv1.InitSetRequest{Name: "bench", Zone: "cset.test."}}
	web := &apiv1.RegisterWorkloadRequest{Name: "web", Group: "web", Candidates: foMembers, Addresses: map[string]*apiv1.AddressList{}, Probe: probe}
	for i, m := range foMembers {
		req := &apiv1.AddMemberRequest{Name: m, User: "admin", Password: "pw-" + m}
		for _, s := range []string{m + "-1", m + "-2"} {
			req.Servers = append(req.Servers, &apiv1.ServerSpec{Name: s, Url: sim.ServerURL(m, s)})
		}
		decl.Members = append(decl.Members, req)
		web.Addresses[m] = &apiv1.AddressList{Addresses: []string{fmt.Sprintf("10.0.%d.10", i+1)}}
		if probe != nil {
			web.Addresses[m] = &apiv1.AddressList{Addresses: []string{foAddress(i)}}
		}
	}
	decl.Workloads = []*apiv1.RegisterWorkloadRequest{web}
	if _, err := m.client.Apply(ctx(b, 10*time.Second), &apiv1.ApplyRequest{Declaration: decl}); err != nil {
		b.Fatal(err)
	}
	return &failoverWorld{m: m, sim: sim}
}

// steady waits until every member is up, no operation runs and web is Online where it is placed;
// it returns that member.
func (w *failoverWorld) steady(b *testing.B) string {
	b.Helper()
	var at string
	testutil.Eventually(b, 30*time.Second, func() error {
		d := w.m.srv.FSM().Data()
		for _, m := range d.Members {
			if m.Health != fsm.HealthUp {
				return fmt.Errorf("member %s is %s", m.Name, m.Health)
			}
		}
		for _, op := range d.Operations {
			if !fsm.Terminal(op.Phase) {
				return fmt.Errorf("operation %s is %s", op.Id, op.Phase)
			}
		}
		p := d.Workloads["web"].GetPlacement()
		if p.GetStatus() != "Online" {
			return fmt.Errorf("web is %q on %q", p.GetStatus(), p.GetMember())
		}
		if got := simOnline(w.sim, "web"); !slices.Equal(got, []string{p.Member}) {
			return fmt.Errorf("the simulator runs web on %v, the state says %s", got, p.Member)
		}
		at = p.Member
		return nil
	})
	return at
}

// simOnline returns the clusters on which the simulator reports group Online.
func simOnline(sim *ecxsim.Sim, group string) []string {
	var out []string
	for _, c := range sim.State().Clusters {
		for _, g := range c.Groups {
			if g.Name == group && g.Status == "Online" {
				out = append(out, c.Name)
			}
		}
	}
	return out
}

// failoverTimes are the instants of one failover, each the first time this process saw it.
type failoverTimes struct {
	victim, target              string
	kill, down, opened, running time.Time
	starting, online, placed    time.Time
	opID                        string
}

// phases are the durations named by phaseNames. "queued" is the part of "fencing" from the
// operation's creation (phase pending) to its first phase change, i.e. until a runner took it.
func (t failoverTimes) phases() []time.Duration {
	return []time.Duration{
		t.down.Sub(t.kill), t.opened.Sub(t.down), t.starting.Sub(t.opened), t.running.Sub(t.opened),
		t.online.Sub(t.starting), t.placed.Sub(t.online), t.placed.Sub(t.kill),
	}
}

var phaseNames = []string{"detection", "decision", "fencing", "queued", "start", "commit", "total"}

// failover kills the member running web and records when the state and the simulator show
// each step. State changes are seen on the FSM's watch channel as they are applied.
func (w *failoverWorld) failover(b *testing.B, victim string) failoverTimes {
	b.Helper()
	f := w.m.srv.FSM()
	known := map[string]bool{}
	for id := range f.Data().Operations {
		known[id] = true
	}
	t := failoverTimes{victim: victim}
	var mu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // the replicated state, on every apply
		defer wg.Done()
		for {
			ch := f.Watch()
			d, now := f.Data(), time.Now()
			mu.Lock()
			if t.down.IsZero() && d.Members[victim].GetHealth() == fsm.HealthDown {
				t.down = now
			}
			for id, op := range d.Operations {
				if known[id] || op.Workload != "web" {
					continue
				}
				if t.opened.IsZero() {
					t.opened, t.opID = now, id
				}
				if id != t.opID {
					continue
				}
				if t.running.IsZero() && op.Phase != fsm.PhasePending {
					t.running = now
				}
				if t.starting.IsZero() && (op.Phase == fsm.PhaseStarting || op.Phase == fsm.PhaseDone) {
					t.starting = now
				}
			}
			if p := d.Workloads["web"].GetPlacement(); t.placed.IsZero() && t.opID != "" && p.GetOperationId() == t.opID && p.GetStatus() == "Online" {
				t.placed, t.target = now, p.Member
			}
			done := !t.placed.IsZero()
			mu.Unlock()
			if done {
				return
			}
			select {
			case <-ch:
			case <-stop:
				return
			}
		}
	}()
	go func() { // the simulator, every millisecond: it has no watch
		defer wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			for _, c := range simOnline(w.sim, "web") {
				if c != victim {
					mu.Lock()
					t.online = time.Now()
					mu.Unlock()
					return
				}
			}
			select {
			case <-tick.C:
			case <-stop:
				return
			}
		}
	}()
	mu.Lock()
	t.kill = time.Now()
	mu.Unlock()
	if err := w.sim.ClusterDown(victim); err != nil {
		b.Fatal(err)
	}
	err := testutil.WaitFor(30*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if t.placed.IsZero() || t.online.IsZero() {
			return fmt.Errorf("not failed over yet: %+v", t)
		}
		return nil
	})
	close(stop)
	wg.Wait()
	if err != nil {
		b.Fatal(err)
	}
	if t.down.IsZero() || t.running.IsZero() || t.starting.IsZero() {
		b.Fatalf("a step was not seen: %+v", t)
	}
	return t
}

func BenchmarkFailover(b *testing.B) {
	reportFailover(b, "BenchmarkFailover", runFailovers(b, newFailoverWorld(b, nil)))
}

// BenchmarkFailoverProbe runs the failovers of BenchmarkFailover twice in one run: without a
// probe (the anchor) and with a TCP probe of web's address, which the new member's simulator
// serves once the group is Online. The probe is on the path between "Online" and the committed
// placement (the commit column); probe-added-ms is the difference of the two commit medians.
func BenchmarkFailoverProbe(b *testing.B) {
	plain := runFailovers(b, newFailoverWorld(b, nil))
	probed := runFailovers(b, newFailoverWorld(b, &apiv1.ProbeSpec{Target: fmt.Sprintf("tcp:%d", foProbePort), TimeoutMs: 1000, IntervalMs: 1000}))
	commit := func(runs []failoverTimes) time.Duration {
		var c []time.Duration
		for _, r := range runs {
			c = append(c, r.placed.Sub(r.online))
		}
		return median(c)
	}
	reportFailover(b, "BenchmarkFailoverProbe (no probe, the anchor)", plain)
	reportFailover(b, "BenchmarkFailoverProbe (tcp probe)", probed)
	added := commit(probed) - commit(plain)
	fmt.Printf("BenchmarkFailoverProbe: commit median %s without a probe, %s with a tcp probe: the probe adds %s\n", ms(commit(plain)), ms(commit(probed)), ms(added))
	b.ReportMetric(float64(added.Microseconds())/1000, "probe-added-ms")
}

// runFailovers kills the member that runs web ctl.failover-runs times (bringing it back after
// each) and returns the timings; it checks the simulator's audit at the end.
func runFailovers(b *testing.B, w *failoverWorld) []failoverTimes {
	var runs []failoverTimes
	for range b.N {
		for range *failoverRuns {
			victim := w.steady(b)
			r := w.failover(b, victim)
			runs = append(runs, r)
			if err := w.sim.ClusterUp(victim); err != nil {
				b.Fatal(err)
			}
		}
	}
	w.steady(b)
	if err := ecxsim.CheckNoDoubleOnline(w.sim.Audit()); err != nil {
		b.Fatalf("audit: %v", err)
	}
	return runs
}

// reportFailover logs every run and reports the median of each phase, the worst total and the
// control overhead: total minus fence_after (the configured detection window) minus the
// simulated start time.
func reportFailover(b *testing.B, name string, runs []failoverTimes) {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%-4s %-6s %-6s", "run", "from", "to")
	for _, n := range phaseNames {
		fmt.Fprintf(&sb, " %9s", n)
	}
	fmt.Fprintf(&sb, " %9s %9s\n", "overhead", "beyond")
	cols := make([][]time.Duration, len(phaseNames)+2)
	for i, r := range runs {
		fmt.Fprintf(&sb, "%-4d %-6s %-6s", i+1, r.victim, r.target)
		for j, d := range append(r.phases(), overhead(r), beyondDetection(r)) {
			cols[j] = append(cols[j], d)
			fmt.Fprintf(&sb, " %9s", ms(d))
		}
		sb.WriteString("\n")
	}
	fmt.Fprintf(&sb, "%-18s", "median")
	for _, c := range cols {
		fmt.Fprintf(&sb, " %9s", ms(median(c)))
	}
	fmt.Fprintf(&sb, "\n%-18s", "worst")
	for _, c := range cols {
		fmt.Fprintf(&sb, " %9s", ms(slices.Max(c)))
	}
	sb.WriteString("\n")
	// Straight to stdout: the benchmark log keeps only its first lines without -v.
	fmt.Printf("%s: %d failovers (fence_after %v, poll %v, simulated start %v):\n%s", name, len(runs), foFenceAfter, foPoll, foStart, sb.String())
	b.ReportMetric(0, "ns/op")
	for j, n := range phaseNames {
		b.ReportMetric(float64(median(cols[j]).Microseconds())/1000, n+"-ms")
	}
	b.ReportMetric(float64(slices.Max(cols[len(phaseNames)-1]).Microseconds())/1000, "total-worst-ms")
	b.ReportMetric(float64(median(cols[len(phaseNames)]).Microseconds())/1000, "overhead-ms")
	b.ReportMetric(float64(slices.Max(cols[len(phaseNames)]).Microseconds())/1000, "overhead-worst-ms")
	b.ReportMetric(float64(median(cols[len(phaseNames)+1]).Microseconds())/1000, "beyond-ms")
	b.ReportMetric(float64(slices.Max(cols[len(phaseNames)+1]).Microseconds())/1000, "beyond-worst-ms")
}

// overhead is the control overhead: total minus fence_after (the configured detection window)
// minus the simulated start time. It includes detection's excess over fence_after (up to one
// poll_interval: a member is declared down at a poll round).
func overhead(r failoverTimes) time.Duration { return r.placed.Sub(r.kill) - foFenceAfter - foStart }

// beyondDetection is the time beyond detection and start: total minus the detection measured
// in this run (kill to "down" applied) minus the simulated start time, i.e. decision, fencing,
// sending the start and noticing it Online, and committing the placement.
func beyondDetection(r failoverTimes) time.Duration {
	return r.placed.Sub(r.kill) - r.down.Sub(r.kill) - foStart
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }
