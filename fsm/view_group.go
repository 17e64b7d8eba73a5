package fsm

import fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"

// WorkloadsOfGroup returns copies of the workloads registered on ECX group g, sorted by name: a
// per-request lookup (group ownership) that copies those records only, not the whole state.
func (f *FSM) WorkloadsOfGroup(g string) []*fsmv1.Workload {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out []*fsmv1.Workload
	for _, name := range sortedKeys(f.s.workloads.m) {
		if w := f.s.workloads.m[name]; w.Group == g {
			out = append(out, cloneOf(w, true))
		}
	}
	return out
}
