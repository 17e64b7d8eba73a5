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

func newFailoverWorld(b *testing.B) *failoverWorld {
	b.Helper()
	witnessURL := startWitness(b)
	simCfg := ecxsim.Config{ControlAddr: "127.0.0.1:0"}
	for _, m := range foMembers {
		simCfg.Clusters = append(simCfg.Clusters, ecxsim.ClusterConfig{
			Name: m, User: "admin", Password: "pw-" + m, WitnessURL: witnessURL,
			HeartbeatTimeout: foHeartbeatTimeout, HeartbeatInterval: foHeartbeatEvery,
			Servers: []ecxsim.ServerConfig{{Name: m + "-1", Listen: "127.0.0.1:0"}, {Name: m + "-2", Listen: "127.0.0.1:0"}},
			Groups:  []ecxsim.GroupConfig{{Name: "web", StartDuration: foStart, StopDuration: foStop}},
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
	web := &apiv1.RegisterWorkloadRequest{Name: "web", Group: "web", Candidates: foMembers, Addresses: map[string]*apiv1.AddressList{}}
	for i, m := range foMembers {
		req := &apiv1.AddMemberRequest{Name: m, User: "admin", Password: "pw-" + m}
		for _, s := range []string{m + "-1", m + "-2"} {
			req.Servers = append(req.Servers, &apiv1.ServerSpec{Name: s, Url: sim.ServerURL(m, s)})
		}
		decl.Members = append(decl.Members, req)
		web.Addresses[m] = &apiv1.AddressList{Addresses: []string{fmt.Sprintf("10.0.%d.10", i+1)}}
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
	w := newFailoverWorld(b)
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
	reportFailover(b, runs)
}

// reportFailover logs every run and reports the median of each phase, the worst total and the
// control overhead: total minus fence_after (the configured detection window) minus the
// simulated start time.
func reportFailover(b *testing.B, runs []failoverTimes) {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%-4s %-6s %-6s", "run", "from", "to")
	for _, n := range phaseNames {
		fmt.Fprintf(&sb, " %9s", n)
	}
	fmt.Fprintf(&sb, " %9s\n", "overhead")
	cols := make([][]time.Duration, len(phaseNames)+1)
	for i, r := range runs {
		fmt.Fprintf(&sb, "%-4d %-6s %-6s", i+1, r.victim, r.target)
		for j, d := range append(r.phases(), overhead(r)) {
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
	fmt.Printf("BenchmarkFailover: %d failovers (fence_after %v, poll %v, simulated start %v):\n%s", len(runs), foFenceAfter, foPoll, foStart, sb.String())
	b.ReportMetric(0, "ns/op")
	for j, n := range phaseNames {
		b.ReportMetric(float64(median(cols[j]).Microseconds())/1000, n+"-ms")
	}
	b.ReportMetric(float64(slices.Max(cols[len(phaseNames)-1]).Microseconds())/1000, "total-worst-ms")
	b.ReportMetric(float64(median(cols[len(phaseNames)]).Microseconds())/1000, "overhead-ms")
	b.ReportMetric(float64(slices.Max(cols[len(phaseNames)]).Microseconds())/1000, "overhead-worst-ms")
}

func overhead(r failoverTimes) time.Duration { return r.placed.Sub(r.kill) - foFenceAfter - foStart }

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }
