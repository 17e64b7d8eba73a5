package fsm

import (
	"slices"

	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"google.golang.org/protobuf/proto"
)

// The accessors below copy one record, not the whole state: the write path and per-request
// lookups use them so their cost does not grow with the size of the cluster set. Each returns
// nil (or zero values) when the record does not exist.

func cloneOf[M proto.Message](m M, ok bool) M {
	var zero M
	if !ok {
		return zero
	}
	return proto.Clone(m).(M)
}

// ClusterSet returns a copy of the cluster-set settings, nil before `set init`.
func (f *FSM) ClusterSet() *fsmv1.ClusterSet {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return cloneOf(f.s.clusterSet, f.s.clusterSet != nil)
}

// Member returns a copy of one member.
func (f *FSM) Member(name string) *fsmv1.Member {
	f.mu.RLock()
	defer f.mu.RUnlock()
	m, ok := f.s.members.m[name]
	return cloneOf(m, ok)
}

// ManagedGroups returns the sorted ECX groups of the workloads that list member as a candidate
// or are placed on it: the groups its member guards protect. It copies no records.
func (f *FSM) ManagedGroups(member string) []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out []string
	for _, w := range f.s.workloads.m {
		if slices.Contains(w.Candidates, member) || w.GetPlacement().GetMember() == member {
			out = append(out, w.Group)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// ActiveOperation returns a copy of the unfinished operation of a workload, nil when none.
func (f *FSM) ActiveOperation(workload string) *fsmv1.Operation {
	f.mu.RLock()
	defer f.mu.RUnlock()
	op := f.s.activeOperation(workload)
	return cloneOf(op, op != nil)
}

// Workload returns a copy of one workload.
func (f *FSM) Workload(name string) *fsmv1.Workload {
	f.mu.RLock()
	defer f.mu.RUnlock()
	w, ok := f.s.workloads.m[name]
	return cloneOf(w, ok)
}

// Master returns a copy of one registered master.
func (f *FSM) Master(id string) *fsmv1.Master {
	f.mu.RLock()
	defer f.mu.RUnlock()
	m, ok := f.s.masters.m[id]
	return cloneOf(m, ok)
}

// FaultDomain returns a copy of one fault domain and the names of its members, sorted.
func (f *FSM) FaultDomain(name string) (*fsmv1.FaultDomain, []string) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	fd, ok := f.s.faultDomains.m[name]
	if !ok {
		return nil, nil
	}
	var members []string
	for _, mn := range sortedKeys(f.s.members.m) {
		if f.s.members.m[mn].FaultDomain == name {
			members = append(members, mn)
		}
	}
	return cloneOf(fd, true), members
}

// AvailabilitySet returns a copy of one availability set and the names of its workloads, sorted.
func (f *FSM) AvailabilitySet(name string) (*fsmv1.AvailabilitySet, []string) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	as, ok := f.s.availabilitySets.m[name]
	if !ok {
		return nil, nil
	}
	var workloads []string
	for _, wn := range sortedKeys(f.s.workloads.m) {
		if f.s.workloads.m[wn].AvailabilitySet == name {
			workloads = append(workloads, wn)
		}
	}
	return cloneOf(as, true), workloads
}

// Operation returns a copy of one operation.
func (f *FSM) Operation(id string) *fsmv1.Operation {
	f.mu.RLock()
	defer f.mu.RUnlock()
	op, ok := f.s.operations.m[id]
	return cloneOf(op, ok)
}

// Counts returns the number of members and workloads.
func (f *FSM) Counts() (members, workloads int) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.s.members.len(), f.s.workloads.len()
}

// Masters returns copies of the registered masters, sorted by id.
func (f *FSM) Masters() []*fsmv1.Master {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]*fsmv1.Master, 0, f.s.masters.len())
	for _, id := range sortedKeys(f.s.masters.m) {
		out = append(out, proto.Clone(f.s.masters.m[id]).(*fsmv1.Master))
	}
	return out
}
