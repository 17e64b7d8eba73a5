package chaos

import (
	"context"
	"errors"
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
	flagSeed       = flag.Uint64("seed", 0, "seed of the fault schedule and the client load (0: random, printed)")
	flagSteps      = flag.Int("steps", 12, "number of faults to inject")
	flagClients    = flag.Int("clients", 3, "concurrent clients")
	flagSite       = flag.Bool("site-isolation", true, "inject site isolation and let a member be unreachable from the acting master while cut from the witness (-site-isolation=false: neither)")
	flagGuard      = flag.Bool("guard", true, "run the member guard on every simulated ECX server (-guard=false: only witness heartbeats, as before issue 11)")
	flagFailback   = flag.Bool("failback", true, "register the fixed workloads f01..f03 with failback: auto (failback_after 2s), so they move back to their first candidate after it returns, under faults (-failback=false: they stay where they were failed over)")
	flagTiebreaker = flag.Bool("tiebreaker", false, "run m3 as a tie-breaker voter (csetd agent -role tiebreaker): no controller, no DNS, hands leadership to m1 or m2, as a two-site set with a third-site voter (docs/design.md, \"Two sites and a tie-breaker\")")
	flagKeep       = flag.Bool("keep", false, "keep the log directory even when every check passes")
	flagRecOut     = flag.String("recovery-out", "", "append the liveness recovery times of the run to this file, in milliseconds, one a line")
)

// TestChaos runs one seeded schedule of faults against the whole system under a client load,
// heals everything, and checks the invariants. On a violation it prints the seed, the fault
// timeline and the offending history, and keeps every log in one directory.
func TestChaos(t *testing.T) {
	if testing.Short() || bins.csetd == "" {
		t.Skip("the chaos suite starts real processes; skipped under -short")
	}
	if n := nWitnesses(); n < 1 || n%2 == 0 {
		t.Fatalf("-witnesses %d: give an odd number (1, 3 or 5)", n)
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
	tl.logf("seed %d steps %d clients %d recovery bound %v liveness bound %v site-isolation %v", seed, *flagSteps, *flagClients, recoveryBound(), livenessBound(), *flagSite)

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
	mon := &monitor{e: e}
	monCtx, stopMon := context.WithCancel(context.Background())
	monDone := make(chan struct{})
	go func() { defer close(monDone); mon.run(monCtx) }()
	defer func() { stopMon(); <-monDone }()
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
	stopMon()
	<-monDone
	tl.logf("converged; checking")
	r.add(in.violations...)
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
	lv, ls := checkLiveness(mon.snapshot(), faults, regs, evlog.operationSpans(), livenessBound())
	r.add(lv...)
	r.liveness, r.livenessViolations = ls, len(lv)
	if err := os.WriteFile(filepath.Join(dir, "outages.txt"), []byte(strings.Join(ls.details, "\n")+"\n"), 0o644); err != nil {
		t.Logf("outages.txt: %v", err)
	}
	if *flagRecOut != "" {
		if err := appendDurations(*flagRecOut, ls.recoveries); err != nil {
			t.Logf("recovery-out: %v", err)
		}
	}
	runs, err := readHookRuns(e.hooks.log)
	if err != nil {
		r.violate("hooks: " + err.Error())
	}
	r.hookRuns = len(runs)
	r.add(hookOverlaps(runs)...)
	recs := h.snapshot()
	for _, o := range h.odd {
		r.violate("unexpected definite error: " + o)
	}
	r.add(checkNoMember(recs, in.removedAt)...)
	lin := checkLinearizable(recs, 2*time.Minute)
	r.lin = lin
	switch lin.result {
	case porcupine.Illegal:
		r.violate(fmt.Sprintf("history not linearizable for workloads %v", lin.bad))
		r.lostWrites += max(1, len(lin.bad))
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

// appendDurations appends durations to a file, in milliseconds, one a line.
func appendDurations(path string, ds []time.Duration) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, d := range ds {
		fmt.Fprintf(&b, "%d\n", d.Milliseconds())
	}
	_, err = f.WriteString(b.String())
	return errors.Join(err, f.Close())
}

// checkNoMember reports client requests refused because a member did not exist while no member
// had been removed: a member must not vanish on its own.
func checkNoMember(recs []*opRecord, removed []window) []string {
	var v []string
	for _, o := range recs {
		if o.outcome != outNoMember {
			continue
		}
		ok := false
		for _, w := range removed {
			if !o.ret.Before(w.from) && (w.to.IsZero() || !o.call.After(w.to)) {
				ok = true
				break
			}
		}
		if !ok {
			v = append(v, fmt.Sprintf("a member did not exist while none was removed: %s", o))
		}
	}
	return v
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

	liveness           livenessStats
	livenessViolations int
	lostWrites         int // workloads whose history is not linearizable, masters missing acknowledged writes
	hookRuns           int
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
	doubleOnline := 0
	for _, v := range r.violations {
		switch {
		case strings.Contains(v, "online on two members at once"):
			doubleOnline++
		case strings.HasPrefix(v, "acknowledged writes:"):
			r.lostWrites++
		}
	}
	summary := fmt.Sprintf("chaos result: seed=%d witnesses=%d faults=%d client_ops=%d checked_ops=%d linearizable=%s double_online=%d lost_writes=%d liveness_violations=%d outages=%d recovered=%d recovery=%s member_deaths=%d failovers_checked=%d failovers_skipped=%d failover_latency=%s hook_runs=%d heal_failures=%d unidentified_conns=%d violations=%d\n  faults: %s\n  outcomes: %s",
		r.seed, nWitnesses(), r.faults, client, len(porcupineOps(r.ops)), r.lin.result, doubleOnline, r.lostWrites, r.livenessViolations, r.liveness.outages, len(r.liveness.recoveries), r.liveness.summary(),
		r.recovery.deaths, r.recovery.checked, r.recovery.skipped, r.recovery.latencySummary(), r.hookRuns, r.healFailures, r.unknownConns, len(r.violations),
		strings.Join(kinds, " "), strings.Join(outcomes, " "))
	summary += fmt.Sprintf("\n  liveness: bound %v, %d outages of required workloads, %d touched by a fault, recovery min/median/p90/p99/max %s, longest outage no fault explains %v",
		livenessBound(), r.liveness.outages, r.liveness.disturbed, r.liveness.summary(), r.liveness.plannedMax.Round(time.Millisecond))
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
