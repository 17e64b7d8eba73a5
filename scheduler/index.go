package scheduler

import (
	"fmt"
	"math"
)

// index is a read-only digest of a State built once per Rank or Rebalance call: members by
// name, the load of every member and the workloads of every availability set. Rebalance
// updates load and workloads as it simulates its moves; nothing else changes it.
type index struct {
	members   []Member
	workloads []Workload
	memberIdx map[string]int
	// load[i] is the sum of the sizes of every workload placed on members[i] (saturating).
	load []int64
	// hard[set] is the Hard flag of every availability set the state declares.
	hard map[string]bool
	// setWorkloads[set] lists the indexes of the workloads of each set once indexSets has
	// run; until then spreadFor scans the workload list (Rank needs one set only).
	setWorkloads map[string][]int
	// groupWorkloads[group] lists the indexes of the workloads of every ECX group once
	// indexSets has run; until then groupOwners scans the workload list.
	groupWorkloads map[string][]int
}

// newIndex validates s and digests it. It never modifies s.
func newIndex(s State) (*index, error) {
	x := &index{
		members:   s.Members,
		workloads: s.Workloads,
		memberIdx: make(map[string]int, len(s.Members)),
		load:      make([]int64, len(s.Members)),
		hard:      make(map[string]bool, len(s.AvailabilitySets)),
	}
	for i, m := range s.Members {
		if m.Name == "" {
			return nil, fmt.Errorf("%w: member %d has no name", ErrInvalidState, i)
		}
		if _, dup := x.memberIdx[m.Name]; dup {
			return nil, fmt.Errorf("%w: member %s is listed twice", ErrInvalidState, m.Name)
		}
		if m.Capacity < 0 {
			return nil, fmt.Errorf("%w: member %s has negative capacity %d", ErrInvalidState, m.Name, m.Capacity)
		}
		x.memberIdx[m.Name] = i
	}
	for _, as := range s.AvailabilitySets {
		if _, dup := x.hard[as.Name]; dup {
			return nil, fmt.Errorf("%w: availability set %s is listed twice", ErrInvalidState, as.Name)
		}
		x.hard[as.Name] = as.Hard
	}
	for _, w := range s.Workloads {
		if w.Size < 0 {
			return nil, fmt.Errorf("%w: workload %s has negative size %d", ErrInvalidState, w.Name, w.Size)
		}
		if mi, ok := x.memberIdx[w.Member]; ok && w.Member != "" {
			x.load[mi] = satAdd(x.load[mi], w.Size)
		}
	}
	return x, nil
}

// indexSets indexes the workloads of every availability set and ECX group, for callers that
// rank many workloads.
func (x *index) indexSets() {
	x.setWorkloads = make(map[string][]int)
	x.groupWorkloads = make(map[string][]int)
	for i, w := range x.workloads {
		if w.AvailabilitySet != "" {
			x.setWorkloads[w.AvailabilitySet] = append(x.setWorkloads[w.AvailabilitySet], i)
		}
		if w.Group != "" {
			x.groupWorkloads[w.Group] = append(x.groupWorkloads[w.Group], i)
		}
	}
}

// groupPeers calls fn with the index of every workload of ECX group g.
func (x *index) groupPeers(g string, fn func(i int)) {
	if x.groupWorkloads != nil {
		for _, i := range x.groupWorkloads[g] {
			fn(i)
		}
		return
	}
	for i := range x.workloads {
		if x.workloads[i].Group == g {
			fn(i)
		}
	}
}

// setPeers calls fn with the index of every workload of set.
func (x *index) setPeers(set string, fn func(i int)) {
	if x.setWorkloads != nil {
		for _, i := range x.setWorkloads[set] {
			fn(i)
		}
		return
	}
	for i := range x.workloads {
		if x.workloads[i].AvailabilitySet == set {
			fn(i)
		}
	}
}

// findWorkload returns the index of the workload called name.
func (x *index) findWorkload(name string) (int, error) {
	if name == "" {
		return 0, fmt.Errorf("%w: no workload named", ErrInvalidRequest)
	}
	found := -1
	for i := range x.workloads {
		if x.workloads[i].Name != name {
			continue
		}
		if found >= 0 {
			return 0, fmt.Errorf("%w: workload %s is listed twice", ErrInvalidState, name)
		}
		found = i
	}
	if found < 0 {
		return 0, fmt.Errorf("%w %q", ErrUnknownWorkload, name)
	}
	return found, nil
}

// loadWithout is the load of members[mi] without workload wi's own size when wi is placed
// there: a workload never competes with itself for capacity.
func (x *index) loadWithout(mi, wi int) int64 {
	w := &x.workloads[wi]
	if w.Member == x.members[mi].Name {
		return x.load[mi] - w.Size
	}
	return x.load[mi]
}

// domain identifies a fault domain. A member without a fault domain is a domain of its own,
// kept apart from named domains by the member field.
type domain struct {
	faultDomain string
	member      string
}

func domainOf(m *Member) domain {
	if m.FaultDomain != "" {
		return domain{faultDomain: m.FaultDomain}
	}
	return domain{member: m.Name}
}

// describe names a domain in a reason.
func (d domain) describe() string {
	if d.faultDomain != "" {
		return "fault domain " + d.faultDomain
	}
	return "member " + d.member + " (no fault domain)"
}

// occupancy says how many other workloads of a set a fault domain hosts, and the
// alphabetically first of them (so that reasons do not depend on the order of the state).
type occupancy struct {
	count int
	first string
}

// spread describes the availability set of one workload: whether it is hard and how the
// other workloads of the set are spread over fault domains.
type spread struct {
	set     string
	hard    bool
	domains map[domain]occupancy
}

// spreadFor computes the spread of workload wi's availability set without wi itself.
// Workloads placed on a member the state does not list are ignored: their domain is unknown.
func (x *index) spreadFor(wi int) spread {
	w := &x.workloads[wi]
	sp := spread{set: w.AvailabilitySet}
	if w.AvailabilitySet == "" {
		return sp
	}
	sp.hard = x.hard[w.AvailabilitySet]
	x.setPeers(w.AvailabilitySet, func(oi int) {
		o := &x.workloads[oi]
		if oi == wi || o.Member == "" {
			return
		}
		mi, ok := x.memberIdx[o.Member]
		if !ok {
			return
		}
		if sp.domains == nil {
			sp.domains = make(map[domain]occupancy)
		}
		d := domainOf(&x.members[mi])
		occ := sp.domains[d]
		if occ.count == 0 || o.Name < occ.first {
			occ.first = o.Name
		}
		occ.count++
		sp.domains[d] = occ
	})
	return sp
}

// satAdd adds two non-negative int64 values, saturating at math.MaxInt64.
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
