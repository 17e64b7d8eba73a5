package fsm

import (
	"slices"
	"strings"

	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
)

// checkDependencies refuses a state in which a workload depends on one that is not registered,
// or in which depends_on forms a cycle; it names the first workload of names (all when empty)
// with an unknown dependency, and spells out a cycle as "a -> b -> a".
//
// With names, only the cycles through them are looked for: the caller changed those workloads
// in a state that had no cycle, so any cycle now passes through one of them, and the search
// costs the dependencies reachable from them, not the whole state (an apply of 10,000
// workloads checks each one).
func (s *state) checkDependencies(names ...string) error {
	starts := names
	if len(names) == 0 {
		names = sortedKeys(s.workloads.m)
	}
	for _, n := range names {
		w := s.workloads.m[n]
		for _, d := range w.GetDependsOn() {
			if !s.workloads.has(d) {
				return notFoundf("workload %q depends on %q, which is not registered: register %s first (or in the same apply), or leave it out of depends_on", n, d, d)
			}
		}
	}
	var c []string
	if len(starts) == 0 {
		c = dependencyCycle(s.workloads.m)
	} else {
		c = dependencyCycleFrom(s.workloads.m, slices.Sorted(slices.Values(starts)))
	}
	if c != nil {
		return invalidf("depends_on forms a cycle: %s; a workload cannot wait for itself, so remove one of these dependencies", strings.Join(c, " -> "))
	}
	return nil
}

// dependencyCycle returns a cycle of depends_on (its first name repeated at the end), or nil.
// Deterministic: workloads and dependencies are visited in sorted order.
func dependencyCycle(ws map[string]*fsmv1.Workload) []string {
	return dependencyCycleFrom(ws, sortedKeys(ws))
}

// spellCycle returns the cycle of names (each depending on the next, the last on the first)
// starting at its smallest name and ending with it again, so that a cycle reads the same
// wherever the search entered it.
func spellCycle(names []string) []string {
	i := slices.Index(names, slices.Min(names))
	out := append(slices.Clone(names[i:]), names[:i]...)
	return append(out, out[0])
}

// dependencyCycleFrom returns a cycle of depends_on reachable from starts (visited in their
// order, dependencies in sorted order), or nil.
func dependencyCycleFrom(ws map[string]*fsmv1.Workload, starts []string) []string {
	const (
		unseen = iota
		onPath
		done
	)
	state := map[string]int{}
	var path []string
	var visit func(n string) []string
	visit = func(n string) []string {
		state[n] = onPath
		path = append(path, n)
		deps := slices.Clone(ws[n].GetDependsOn())
		slices.Sort(deps)
		for _, d := range deps {
			if ws[d] == nil {
				continue
			}
			switch state[d] {
			case onPath:
				i := slices.Index(path, d)
				return spellCycle(path[i:])
			case unseen:
				if c := visit(d); c != nil {
					return c
				}
			}
		}
		path = path[:len(path)-1]
		state[n] = done
		return nil
	}
	for _, n := range starts {
		if ws[n] != nil && state[n] == unseen {
			if c := visit(n); c != nil {
				return c
			}
		}
	}
	return nil
}

// Dependents returns the workloads that depend on name, sorted.
func (d *Data) Dependents(name string) []string {
	var out []string
	for _, w := range d.SortedWorkloads() {
		if slices.Contains(w.GetDependsOn(), name) {
			out = append(out, w.Name)
		}
	}
	return out
}

// dependencyOrder returns ws with every workload after the workloads of ws it depends on, in
// file order otherwise, so that a declaration may name a workload before its dependencies.
// Workloads caught in a cycle keep their order (the upsert then refuses the cycle).
func dependencyOrder(ws []*fsmv1.Workload) []*fsmv1.Workload {
	declared := map[string]bool{}
	for _, w := range ws {
		declared[w.GetName()] = true
	}
	out := make([]*fsmv1.Workload, 0, len(ws))
	placed := map[string]bool{}
	for len(out) < len(ws) {
		progress := false
		for _, w := range ws {
			if placed[w.GetName()] {
				continue
			}
			ready := true
			for _, d := range w.GetDependsOn() {
				if declared[d] && !placed[d] && d != w.GetName() {
					ready = false
					break
				}
			}
			if ready {
				out, placed[w.GetName()], progress = append(out, w), true, true
			}
		}
		if !progress { // a cycle: the rest in file order
			for _, w := range ws {
				if !placed[w.GetName()] {
					out, placed[w.GetName()] = append(out, w), true
				}
			}
		}
	}
	return out
}

// declaredCycle refuses a declaration whose workloads, with the registered ones they replace or
// join, form a depends_on cycle, and spells it out.
func declaredCycle(registered map[string]*fsmv1.Workload, ws []*fsmv1.Workload) error {
	all := make(map[string]*fsmv1.Workload, len(registered)+len(ws))
	for n, w := range registered {
		all[n] = w
	}
	for _, w := range ws {
		all[w.GetName()] = w
	}
	if c := dependencyCycle(all); c != nil {
		return invalidf("depends_on forms a cycle: %s; a workload cannot wait for itself, so remove one of these dependencies", strings.Join(c, " -> "))
	}
	return nil
}
