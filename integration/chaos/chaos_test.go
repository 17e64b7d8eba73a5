package chaos

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/cset-project/cset/internal/testutil"
)

var (
	flagSeed    = flag.Uint64("seed", 0, "seed of the fault schedule and the client load (0: random, printed)")
	flagSteps   = flag.Int("steps", 12, "number of faults to inject")
	flagClients = flag.Int("clients", 3, "concurrent clients")
	flagSite    = flag.Bool("site-isolation", false, "allow a member to be unreachable from the acting master while cut from the witness (outside the design's claims)")
	flagKeep    = flag.Bool("keep", false, "keep the log directory even when every check passes")
)

// TestChaos runs one seeded schedule of faults against the whole system under a client load,
// heals everything, and checks the invariants. On a violation it prints the seed, the fault
// timeline and the offending history, and keeps every log in one directory.
func TestChaos(t *testing.T) {
	if testing.Short() || bins.csetd == "" {
		t.Skip("the chaos suite starts real processes; skipped under -short")
	}
	seed := *flagSeed
	if seed == 0 {
		seed = rand.Uint64()%1_000_000 + 1
	}
	dir, err := os.MkdirTemp("", fmt.Sprintf("cset-chaos-seed%d-", seed))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // registered first, so it runs after every process has been stopped
		if t.Failed() || *flagKeep {
			t.Logf("logs kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	tl, err := newTimeline(filepath.Join(dir, "timeline.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer tl.close()
	t.Logf("chaos: seed %d, %d steps, %d clients, logs in %s", seed, *flagSteps, *flagClients, dir)
	tl.logf("seed %d steps %d clients %d recovery bound %v", seed, *flagSteps, *flagClients, recoveryBound())

	e := startEnv(t, dir, tl)
	if err := testutil.WaitFor(90*time.Second, e.converged); err != nil {
		t.Fatalf("the cluster set did not settle before the faults (logs in %s): %v", dir, err)
	}
	tl.logf("setup converged; load and faults start")

	evlog, err := newEventLog(filepath.Join(dir, "events.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer evlog.close()
	if err := evlog.poll(e.masters[0]); err != nil {
		t.Fatalf("events: %v", err)
	}
	h := newHistory()
	ld := &loader{e: e, h: h, seed: seed}
	ctx, stopLoad := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); ld.run(ctx, *flagClients) }()
	go func() { defer wg.Done(); evlog.run(ctx, e, rand.New(rand.NewPCG(seed, 0xe7))) }()
	in := &injector{e: e, rng: rand.New(rand.NewPCG(seed, 0x5eed)), tl: tl, claims: map[string]bool{}, siteOK: *flagSite}
	in.run(context.Background(), *flagSteps)
	tl.logf("schedule done: %d faults; stopping the load", in.count)
	stopLoad()
	wg.Wait()

	r := &report{seed: seed, dir: dir, tl: tl, faults: in.count, healFailures: in.fails}
	for _, err := range e.healAll() {
		r.violate("heal: " + err)
	}
	tl.logf("healed everything; waiting for convergence")
	if err := testutil.WaitFor(90*time.Second, e.converged); err != nil {
		r.violate("no convergence within 90s after healing: " + err.Error())
	}
	tl.logf("converged; checking")
	r.add(e.finalReads(h)...)
	audit, err := e.audit()
	if err != nil {
		r.violate("audit: " + err.Error())
	}
	r.add(e.checkAudit(audit)...)
	r.add(e.checkDNS(func() []auditRecord { a, _ := e.audit(); return a })...)
	if err := evlog.poll(e.masters[0]); err != nil {
		r.violate("events: " + err.Error())
	}
	regs := evlog.registrations()
	tl.mu.Lock()
	faults := slices.Clone(tl.faults)
	tl.mu.Unlock()
	rv, rs := checkRecovery(faults, audit, regs, time.Now())
	r.add(rv...)
	r.recovery = rs
	for _, d := range rs.details {
		tl.logf("recovery check: %s", d)
	}
	recs := h.snapshot()
	for _, o := range h.odd {
		r.violate("unexpected definite error: " + o)
	}
	lin := checkLinearizable(recs, 2*time.Minute)
	r.lin = lin
	switch lin.result {
	case porcupine.Illegal:
		r.violate(fmt.Sprintf("history not linearizable for workloads %v", lin.bad))
		if err := porcupine.VisualizePath(registryModel, lin.info, filepath.Join(dir, "linearizability.html")); err != nil {
			t.Logf("visualize: %v", err)
		}
	case porcupine.Unknown:
		r.note("linearizability check timed out: inconclusive")
	}
	r.ops = recs
	for _, c := range e.crashReports() {
		r.violate("crash: " + c)
	}
	r.unknownConns = e.net.unknown.Load()
	r.write(t)
}

// report gathers the numbers and violations of one run.
type report struct {
	seed         uint64
	dir          string
	tl           *timeline
	faults       int
	healFailures int
	unknownConns int64
	ops          []*opRecord
	violations   []string
	notes        []string
	lin          linearizability
	recovery     recoveryStats
}

func (r *report) violate(s string) { r.violations = append(r.violations, s) }
func (r *report) add(vs ...string) { r.violations = append(r.violations, vs...) }
func (r *report) note(s string)    { r.notes = append(r.notes, s) }

func (r *report) write(t *testing.T) {
	t.Helper()
	byOutcome := map[string]int{}
	client := 0
	for _, o := range r.ops {
		if o.client < 100 {
			client++
			byOutcome[o.kind+":"+o.outcome]++
		}
	}
	var keys []string
	for k := range byOutcome {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var outcomes []string
	for _, k := range keys {
		outcomes = append(outcomes, fmt.Sprintf("%s=%d", k, byOutcome[k]))
	}
	counts := map[string]int{}
	r.tl.mu.Lock()
	for _, f := range r.tl.faults {
		counts[f.kind]++
	}
	r.tl.mu.Unlock()
	var kinds []string
	for _, k := range faultKinds {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k.name, counts[k.name]))
	}
	summary := fmt.Sprintf("chaos result: seed=%d faults=%d client_ops=%d checked_ops=%d linearizable=%s member_deaths=%d failovers_checked=%d failovers_skipped=%d failover_latency=%s heal_failures=%d unidentified_conns=%d violations=%d\n  faults: %s\n  outcomes: %s",
		r.seed, r.faults, client, len(porcupineOps(r.ops)), r.lin.result, r.recovery.deaths, r.recovery.checked, r.recovery.skipped, r.recovery.latencySummary(), r.healFailures, r.unknownConns, len(r.violations),
		strings.Join(kinds, " "), strings.Join(outcomes, " "))
	var hist strings.Builder
	for _, o := range r.ops {
		fmt.Fprintln(&hist, o)
	}
	_ = os.WriteFile(filepath.Join(r.dir, "history.txt"), []byte(hist.String()), 0o644)
	full := summary + "\n"
	for _, n := range r.notes {
		full += "note: " + n + "\n"
	}
	for _, v := range r.violations {
		full += "VIOLATION: " + v + "\n"
	}
	_ = os.WriteFile(filepath.Join(r.dir, "report.txt"), []byte(full), 0o644)
	// One line per run survives the log directory, for `make chaos` without -v.
	if f, err := os.OpenFile(filepath.Join(os.TempDir(), "cset-chaos-results.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
		fmt.Fprintf(f, "%s %s steps=%d dir=%s\n", time.Now().Format(time.RFC3339), strings.SplitN(summary, "\n", 2)[0], *flagSteps, r.dir)
		f.Close()
	}
	t.Log(full)
	if len(r.violations) == 0 {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d violation(s) with seed %d (rerun: make chaos SEED=%d STEPS=%d); logs in %s\n", len(r.violations), r.seed, r.seed, *flagSteps, r.dir)
	for _, v := range r.violations {
		fmt.Fprintf(&b, "  - %s\n", v)
	}
	fmt.Fprintf(&b, "fault timeline:\n%s\n", r.tl.String())
	for _, key := range r.lin.bad {
		fmt.Fprintf(&b, "history of %s:\n", key)
		for _, o := range r.ops {
			if o.key == key {
				fmt.Fprintf(&b, "  %s\n", o)
			}
		}
	}
	if len(r.lin.bad) > 0 {
		fmt.Fprintf(&b, "porcupine visualization: %s\n", filepath.Join(r.dir, "linearizability.html"))
	}
	t.Error(b.String())
}
