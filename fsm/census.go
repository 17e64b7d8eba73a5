package fsm

// Census is what the state holds, counted, for metrics: read under the FSM's lock without
// copying the state.
type Census struct {
	// Members are the members with their health, admin state and load (the sizes of the
	// workloads placed there).
	Members []MemberCensus
	// Workloads counts the workloads by placement status ("Unplaced" when not placed) and
	// desired state.
	Workloads map[WorkloadCount]int
	// OperationsInFlight counts the unfinished operations by phase.
	OperationsInFlight map[string]int
	// Events is how many events the ring holds, EventsDropped how many it has forgotten
	// (the oldest, beyond MaxEvents and MaxDenialEvents): a consumer behind by more misses events.
	Events, EventsDropped int
}

// MemberCensus is one member of a Census.
type MemberCensus struct {
	Name, Health, Admin string
	Load, Capacity      int64
}

// WorkloadCount is the key of Census.Workloads.
type WorkloadCount struct{ Status, Desired string }

// Census counts the state (see Census).
func (f *FSM) Census() Census {
	f.mu.RLock()
	defer f.mu.RUnlock()
	s := f.s
	c := Census{Workloads: map[WorkloadCount]int{}, OperationsInFlight: map[string]int{}}
	load := map[string]int64{}
	for _, w := range s.workloads.m {
		status := "Unplaced"
		if p := w.Placement; p != nil {
			status = p.Status
			load[p.Member] += w.Size
		}
		c.Workloads[WorkloadCount{Status: status, Desired: w.Desired}]++
	}
	for _, name := range sortedKeys(s.members.m) {
		m := s.members.m[name]
		c.Members = append(c.Members, MemberCensus{Name: m.Name, Health: m.Health, Admin: m.Admin, Load: load[m.Name], Capacity: m.Capacity})
	}
	for _, op := range s.operations.m {
		if !Terminal(op.Phase) {
			c.OperationsInFlight[op.Phase]++
		}
	}
	c.Events = len(s.events) + len(s.denials)
	if n := int(s.nextEventSeq) - 1 - c.Events; n > 0 {
		c.EventsDropped = n
	}
	return c
}
