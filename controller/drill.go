package controller

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/cset-project/cset/fsm"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"github.com/cset-project/cset/scheduler"
)

// DrillStep is where one workload of a lost member would go in a drill.
type DrillStep struct {
	Workload, From, To, Server string
	// Wave is the round it starts in: after every dependency it has started (waves run one
	// after another, the workloads of a wave in parallel).
	Wave int
	// Reason says why To, or why no member would take it (To is "").
	Reason string
	// ExpectedStart is the workload's expected start time (EstimateStart).
	ExpectedStart time.Duration
}

// DrillPlan is the prediction of PlanDrill.
type DrillPlan struct {
	Members []string
	Steps   []DrillStep
	// Waves are the longest expected start of each wave: the evacuation takes their sum after
	// the members are declared down (or set draining).
	Waves []time.Duration
}

// PlanDrill predicts, from state d and without changing it, what the loss of members would do:
// every workload desired online that runs (or is placed) there is placed again by the
// scheduler as a failover would place it (the lost members excluded, earlier placements of the
// drill counted), in dependency waves: after a loss a workload starts once its dependencies run
// (one whose dependency finds no place finds none either); in a planned evacuation (a drain,
// planned) its dependents leave first, while it still runs. estimate gives a workload's
// expected start.
func PlanDrill(d *fsm.Data, members []string, planned bool, estimate func(w *fsmv1.Workload) time.Duration) DrillPlan {
	lost := slices.Clone(members)
	slices.Sort(lost)
	lost = slices.Compact(lost)
	plan := DrillPlan{Members: lost}
	// The simulated state, on a private copy (d is the FSM's shared publication): the lost
	// members are down, nothing is in flight.
	d = d.Clone()
	for _, m := range lost {
		if mm := d.Members[m]; mm != nil {
			mm.Health = fsm.HealthDown
		}
	}
	d.Operations = map[string]*fsmv1.Operation{}
	var affected []string
	for _, w := range d.SortedWorkloads() {
		if p := w.Placement; p != nil && w.Desired == fsm.DesiredOnline && slices.Contains(lost, p.Member) {
			affected = append(affected, w.Name)
		}
	}
	from := map[string]string{}
	for _, n := range affected {
		from[n] = d.Workloads[n].Placement.Member
	}
	pending := slices.Clone(affected)
	failed := map[string]string{} // workload -> why it finds no place
	for wave := 0; len(pending) > 0; wave++ {
		var ready, wait []string
		for _, n := range pending {
			if (!planned && depsReady(d, n, pending)) || (planned && !hasDependentIn(d, n, pending)) {
				ready = append(ready, n)
			} else {
				wait = append(wait, n)
			}
		}
		if len(ready) == 0 { // cannot happen: the state has no dependency cycle
			ready, wait = wait, nil
		}
		var longest time.Duration
		for _, n := range ready {
			w := d.Workloads[n]
			step := DrillStep{Workload: n, From: from[n], Wave: wave + 1}
			if dep := failedDependency(w, failed); dep != "" && !planned {
				step.Reason = fmt.Sprintf("no place: its dependency %s finds none", dep)
				failed[n] = step.Reason
				plan.Steps = append(plan.Steps, step)
				continue
			}
			ranked, err := scheduler.Rank(SchedulerState(d), scheduler.Request{Workload: n, Exclude: lost, Reason: "lost in the drill"})
			best, ok := ranked.Best()
			switch {
			case err != nil:
				step.Reason = "no place: " + err.Error()
			case !ok:
				step.Reason = "no place: " + reasons(ranked)
			default:
				step.To, step.Server = best.Member, best.Server
				step.Reason = fmt.Sprintf("best of %d accepted candidates (load %d, capacity %s)", accepted(ranked), best.Load, capacityText(best.Capacity))
				step.ExpectedStart = estimate(w)
				longest = max(longest, step.ExpectedStart)
				w.Placement = &fsmv1.Placement{Member: best.Member, Server: best.Server, Status: fsm.StatusOnline}
			}
			if step.To == "" {
				failed[n] = step.Reason
			}
			plan.Steps = append(plan.Steps, step)
		}
		plan.Waves = append(plan.Waves, longest)
		pending = wait
	}
	return plan
}

// depsReady reports whether none of workload n's dependencies is still waiting to be placed.
func depsReady(d *fsm.Data, n string, pending []string) bool {
	for _, dep := range d.Workloads[n].GetDependsOn() {
		if dep != n && slices.Contains(pending, dep) {
			return false
		}
	}
	return true
}

// hasDependentIn reports whether a workload of pending depends on n.
func hasDependentIn(d *fsm.Data, n string, pending []string) bool {
	for _, p := range pending {
		if p != n && slices.Contains(d.Workloads[p].GetDependsOn(), n) {
			return true
		}
	}
	return false
}

func failedDependency(w *fsmv1.Workload, failed map[string]string) string {
	for _, dep := range w.GetDependsOn() {
		if _, ok := failed[dep]; ok {
			return dep
		}
	}
	return ""
}

func accepted(p scheduler.Plan) int {
	n := 0
	for _, c := range p.Candidates {
		if !c.Rejected {
			n++
		}
	}
	return n
}

func capacityText(c int64) string {
	if c == 0 {
		return "unlimited"
	}
	return fmt.Sprint(c)
}

// EstimateStarts returns a start-time estimator from the finished operations in d: a
// workload's median time from its operation's start phase to done, else the median over every
// workload, else def. basis says which applies to most workloads.
func EstimateStarts(d *fsm.Data, def time.Duration) (estimate func(w *fsmv1.Workload) time.Duration, basis string) {
	per := map[string][]time.Duration{}
	var all []time.Duration
	for _, op := range d.Operations {
		if op.Phase != fsm.PhaseDone || op.CreatedUnixNano == 0 || op.UpdatedUnixNano <= op.CreatedUnixNano {
			continue
		}
		t := time.Duration(op.UpdatedUnixNano - op.CreatedUnixNano)
		per[op.Workload] = append(per[op.Workload], t)
		all = append(all, t)
	}
	med := func(ts []time.Duration) time.Duration {
		s := slices.Clone(ts)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return s[len(s)/2]
	}
	overall := def
	basis = fmt.Sprintf("no finished operation in the state: the masters' start_timeout (%v)", def)
	if len(all) > 0 {
		overall = med(all)
		basis = fmt.Sprintf("median duration of the workload's recent operations (else of all %d recent operations: %v)", len(all), overall.Round(time.Millisecond))
	}
	return func(w *fsmv1.Workload) time.Duration {
		if ts := per[w.Name]; len(ts) > 0 {
			return med(ts)
		}
		return overall
	}, basis
}
