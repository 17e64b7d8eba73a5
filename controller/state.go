package controller

import (
	"maps"
	"slices"

	"github.com/cset-project/cset/fsm"
	"github.com/cset-project/cset/scheduler"
)

// SchedulerState adapts the replicated state to the scheduler's input. Server "Online" means the
// last observation saw the ECX server Online; a member never observed has every server offline
// only when its health says so, so a fresh member is schedulable once it was polled once.
func SchedulerState(d *fsm.Data) scheduler.State {
	var st scheduler.State
	for _, m := range d.SortedMembers() {
		sm := scheduler.Member{
			Name: m.Name, FaultDomain: m.FaultDomain, Capacity: m.Capacity,
			Admin: scheduler.Admin(m.Admin), Health: scheduler.Health(m.Health),
		}
		for _, s := range m.Servers {
			sm.Servers = append(sm.Servers, scheduler.Server{Name: s.Name, Online: s.Status == fsm.StatusOnline})
		}
		st.Members = append(st.Members, sm)
	}
	// A workload counts where its unfinished operation takes it (fsm.LoadMember), so that two
	// placements decided in one round see each other.
	active := d.ActiveOperations()
	for _, w := range d.SortedWorkloads() {
		member := fsm.LoadMember(w, active[w.Name])
		st.Workloads = append(st.Workloads, scheduler.Workload{
			Name: w.Name, Size: w.Size, Candidates: w.Candidates, AvailabilitySet: w.AvailabilitySet, Member: member, Group: w.Group,
		})
	}
	for _, name := range slices.Sorted(maps.Keys(d.AvailabilitySets)) {
		as := d.AvailabilitySets[name]
		st.AvailabilitySets = append(st.AvailabilitySets, scheduler.AvailabilitySet{Name: as.Name, Hard: as.Hard})
	}
	return st
}
