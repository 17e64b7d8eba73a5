package fsm

import (
	"slices"
	"strings"

	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
)

// checkDependencies refuses a state in which a workload depends on one that is not registered,
// or in which depends_on forms a cycle; it names the first workload of names (all when empty)
// with an unknown dependency, and spells out a cycle as "a -> b -> a".
func (s *state) checkDependencies(names ...string) error {
	if len(names) == 0 {
		names = sortedKeys(s.workloads)
	}
	for _, n := range names {
		w := s.workloads[n]
		for _, d := range w.GetDependsOn() {
			if s.workloads[d] == nil {
				return notFoundf("workload %q depends on %q, which is not registered: register %s first (or in the same apply), or leave it out of depends_on", n, d, d)
			}
		}
	}
	if c := dependencyCycle(s.workloads); c != nil {
		return invalidf("depends_on forms a cycle: %s; a workload cannot wait for itself, so remove one of these dependencies", strings.Join(c, " -> "))
	}
	return nil
}

// dependencyCycle returns a cycle of depends_on (its first name repeated at the end), or nil.
// Deterministic: workloads and dependencies are visited in sorted order.
func dependencyCycle(ws map[string]*fsmv1.Workload) []string {
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
				return append(slices.Clone(path[i:]), d)
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
	for _, n := range sortedKeys(ws) {
		if state[n] == unseen {
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
