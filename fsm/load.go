package fsm

import (
	"sort"

	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
)

// LoadMember is the one rule of where a workload's size counts: on the target of its unfinished
// operation (a placement decided but not done yet, so that two decisions of one controller round
// see each other, and the API shows the load the scheduler sees), otherwise on the member it is
// placed on; "" for none. A stop takes it to no other member, so it counts where it is placed.
func LoadMember(w *fsmv1.Workload, active *fsmv1.Operation) string {
	if active != nil && !Terminal(active.GetPhase()) && active.GetTargetMember() != "" && active.GetReason() != ReasonStop {
		return active.GetTargetMember()
	}
	return w.GetPlacement().GetMember()
}

// activeByWorkload returns the unfinished operation of every workload that has one (the lowest
// id if there were several).
func activeByWorkload(ops map[string]*fsmv1.Operation) map[string]*fsmv1.Operation {
	out := map[string]*fsmv1.Operation{}
	for id, op := range ops {
		if Terminal(op.GetPhase()) {
			continue
		}
		if cur, ok := out[op.GetWorkload()]; !ok || id < cur.GetId() {
			out[op.GetWorkload()] = op
		}
	}
	return out
}

// loads returns, per member, the sum of the sizes of the workloads that count there (LoadMember)
// and their names, sorted.
func loads(workloads map[string]*fsmv1.Workload, ops map[string]*fsmv1.Operation) (map[string]int64, map[string][]string) {
	active := activeByWorkload(ops)
	load, names := map[string]int64{}, map[string][]string{}
	for name, w := range workloads {
		if m := LoadMember(w, active[name]); m != "" {
			load[m] += w.GetSize()
			names[m] = append(names[m], name)
		}
	}
	for _, n := range names {
		sort.Strings(n)
	}
	return load, names
}

// ActiveOperations returns the unfinished operation of every workload that has one.
func (d *Data) ActiveOperations() map[string]*fsmv1.Operation { return activeByWorkload(d.Operations) }

// Loads returns, per member, the load (the sizes of the workloads that count there, LoadMember)
// and the sorted names of those workloads.
func (d *Data) Loads() (map[string]int64, map[string][]string) {
	return loads(d.Workloads, d.Operations)
}

// MemberLoad returns the load of one member (Loads).
func (d *Data) MemberLoad(member string) int64 {
	l, _ := d.Loads()
	return l[member]
}

// MemberLoad returns the load of member and the sorted names of the workloads counted there
// (Data.Loads).
func (f *FSM) MemberLoad(member string) (int64, []string) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	l, n := loads(f.s.workloads.m, f.s.operations.m)
	return l[member], n[member]
}
