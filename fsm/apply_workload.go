package fsm

import (
	"slices"
	"strings"

	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"google.golang.org/protobuf/proto"
)

// Terminal reports whether an operation phase is final.
func Terminal(phase string) bool { return phase == PhaseDone || phase == PhaseFailed }

func (a *applier) applyUpsertWorkload(c *fsmv1.UpsertWorkloadCommand) error {
	w := proto.Clone(c.GetWorkload()).(*fsmv1.Workload)
	if w == nil {
		return invalidf("the command carries no workload")
	}
	if w.Desired == "" {
		w.Desired = DesiredOnline
	}
	if err := ValidateWorkload(w); err != nil {
		return err
	}
	for _, m := range w.Candidates {
		if !a.s.members.has(m) {
			return notFoundf("candidate member %q of workload %q does not exist: add it with 'csetctl member add %s'", m, w.Name, m)
		}
	}
	if as := w.AvailabilitySet; as != "" && !a.s.availabilitySets.has(as) {
		return notFoundf("availability set %q does not exist: create it with 'csetctl availset create %s'", as, as)
	}
	if other, member := a.s.groupOwner(w); other != "" {
		return existsf("ECX group %q on member %s already belongs to workload %q: in a member, an ECX group belongs to one workload; "+
			"give workload %q another group, leave %s out of its candidates, or unregister %q first", w.Group, member, other, w.Name, member, other)
	}
	old := a.s.workloads.get(w.Name)
	if old != nil && c.GetCreateOnly() {
		return existsf("workload %q is already registered: unregister it first or register with --update", w.Name)
	}
	// Its dependencies must be registered and must not lead back to it.
	a.s.workloads.put(w.Name, w)
	err := a.s.checkDependencies(w.Name)
	if old != nil {
		a.s.workloads.put(w.Name, old)
	} else {
		a.s.workloads.del(w.Name)
	}
	if err != nil {
		return err
	}
	w.RegisteredIndex = a.index // the masters must look again where its group runs
	if old != nil && old.Group == w.Group && slices.Equal(old.Candidates, w.Candidates) {
		w.RegisteredIndex = old.RegisteredIndex
	}
	if old != nil {
		w.Placement, w.OfflineSinceUnixNano = old.Placement, old.OfflineSinceUnixNano
		if p := w.Placement; p != nil && !slices.Contains(w.Candidates, p.Member) {
			return preconditionf("workload %q runs on %q, which the new candidates %v leave out: move it first", w.Name, p.Member, w.Candidates)
		}
		a.event("admin", "info", w.Name, "", "", "workload %s updated", w.Name)
	} else {
		a.event("admin", "info", w.Name, "", "", "workload %s registered (group %s, candidates %v)", w.Name, w.Group, w.Candidates)
	}
	a.s.workloads.put(w.Name, w)
	if !proto.Equal(old, w) {
		a.touchDNS()
	}
	return nil
}

// groupOwner returns another workload that claims w's ECX group on one of w's candidate members,
// and that member (the first in w's preference order), or "" when the group is w's alone. The
// first by name wins when several do. It reads the workloads by group (table.lookup), so its
// cost does not grow with the state: an apply of 10,000 workloads asks it for each one.
func (s *state) groupOwner(w *fsmv1.Workload) (workload, member string) {
	names := s.workloads.lookup(workloadGroup, w.Group)
	if len(names) == 0 || len(names) == 1 && names[0] == w.Name {
		return "", ""
	}
	for _, name := range slices.Sorted(slices.Values(names)) {
		o := s.workloads.m[name]
		if name == w.Name || o == nil || o.Group != w.Group {
			continue
		}
		for _, c := range w.Candidates {
			if slices.Contains(o.Candidates, c) {
				return name, c
			}
		}
	}
	return "", ""
}

// workloadGroup is the key of the workloads-by-group lookup. A workload's group is never changed
// in place, only by putting a new record (applyUpsertWorkload, declare), which the lookup follows.
func workloadGroup(w *fsmv1.Workload) string { return w.GetGroup() }

// activeOperation returns the workload's unfinished operation with the smallest id (there is at
// most one), scanning without sorting: it runs on every start and remove.
func (a *applier) activeOperation(workload string) *fsmv1.Operation {
	return a.s.activeOperation(workload)
}

// activeOperation returns the unfinished operation of a workload, nil when none.
func (s *state) activeOperation(workload string) *fsmv1.Operation {
	var found *fsmv1.Operation
	for id, op := range s.operations.m {
		if op.Workload == workload && !Terminal(op.Phase) && (found == nil || id < found.Id) {
			found = op
		}
	}
	return found
}

func (a *applier) applyRemoveWorkload(c *fsmv1.RemoveWorkloadCommand) error {
	w := a.s.workloads.get(c.GetName())
	if w == nil {
		return notFoundf("workload %q is not registered (see 'csetctl workload list')", c.GetName())
	}
	if op := a.activeOperation(w.Name); op != nil {
		return preconditionf("workload %q has operation %s in phase %s: wait for it to finish ('csetctl operation show %s')", w.Name, op.Id, op.Phase, op.Id)
	}
	for _, n := range sortedKeys(a.s.workloads.m) {
		if slices.Contains(a.s.workloads.m[n].GetDependsOn(), w.Name) {
			return preconditionf("workload %q depends on %q: take %s out of its depends_on first ('csetctl workload register %s --update ...'), or unregister %s too", n, w.Name, w.Name, n, n)
		}
	}
	a.s.workloads.del(w.Name)
	a.touchDNS()
	a.event("admin", "info", w.Name, "", "", "workload %s unregistered (its ECX group is left as it is)", w.Name)
	return nil
}

func (a *applier) applySetWorkloadDesired(c *fsmv1.SetWorkloadDesiredCommand) error {
	w := a.s.workloads.get(c.GetName())
	if w == nil {
		return notFoundf("workload %q is not registered (see 'csetctl workload list')", c.GetName())
	}
	if c.GetDesired() != DesiredOnline && c.GetDesired() != DesiredOffline {
		return invalidf("desired state %q is unknown: use online or offline", c.GetDesired())
	}
	if w.Desired != c.GetDesired() {
		a.event("admin", "info", w.Name, "", "", "workload %s desired %s -> %s", w.Name, w.Desired, c.GetDesired())
		w.Desired = c.GetDesired()
	}
	return nil
}

func (a *applier) applySetPlacement(c *fsmv1.SetPlacementCommand) error {
	w := a.s.workloads.get(c.GetWorkload())
	if w == nil {
		return notFoundf("workload %q is not registered", c.GetWorkload())
	}
	p := c.GetPlacement()
	if p.GetMember() == "" {
		w.Placement = nil
	} else {
		if !slices.Contains(w.Candidates, p.GetMember()) {
			return preconditionf("member %q is not a candidate of workload %q (candidates %v)", p.GetMember(), w.Name, w.Candidates)
		}
		w.Placement = proto.Clone(p).(*fsmv1.Placement)
		if w.Placement.SinceUnixNano == 0 {
			w.Placement.SinceUnixNano = a.at
		}
	}
	w.OfflineSinceUnixNano = 0
	a.touchDNS()
	a.event("decision", "info", w.Name, p.GetMember(), p.GetOperationId(), "workload %s placed on %s/%s (%s)", w.Name, p.GetMember(), p.GetServer(), p.GetStatus())
	return nil
}

// applySetReachability records a change of the probe result of a placed workload. A result
// about a member the workload is no longer placed on is refused: it says nothing about where
// the workload runs now.
func (a *applier) applySetReachability(c *fsmv1.SetReachabilityCommand) error {
	w := a.s.workloads.get(c.GetWorkload())
	if w == nil {
		return notFoundf("workload %q is not registered", c.GetWorkload())
	}
	r := c.GetReachability()
	if r != ReachabilityReachable && r != ReachabilityUnreachable {
		return invalidf("reachability %q is unknown: use %s or %s", r, ReachabilityReachable, ReachabilityUnreachable)
	}
	p := w.Placement
	if p == nil || p.Member != c.GetMember() {
		return preconditionf("workload %q is no longer placed on %q: its probe result there is stale", w.Name, c.GetMember())
	}
	if p.Reachability == r && p.ProbeError == c.GetError() {
		return nil
	}
	was := p.Reachability
	p.Reachability, p.ProbeError, p.ReachabilitySinceUnixNano = r, c.GetError(), c.GetSinceUnixNano()
	if r == ReachabilityReachable {
		p.ProbeError = ""
	}
	if p.ReachabilitySinceUnixNano == 0 {
		p.ReachabilitySinceUnixNano = a.at
	}
	if w.GetProbe().GetDns() == ProbeDNSWithhold {
		a.touchDNS()
	}
	switch {
	case was == r:
	case r == ReachabilityUnreachable:
		a.event("probe", "warn", w.Name, p.Member, "", "workload %s is Online on %s but clients cannot reach it: %s", w.Name, p.Member, p.ProbeError)
	default:
		a.event("probe", "info", w.Name, p.Member, "", "workload %s is reachable on %s", w.Name, p.Member)
	}
	return nil
}

// applyObservationBatch records what the leader observed in one poll round and derives each
// placed workload's status from its member's observed groups.
func (a *applier) applyObservationBatch(c *fsmv1.ObservationBatchCommand) error {
	// The workloads placed on each member whose groups the batch sets: found in one pass over
	// the workloads for the whole batch (a round may report thousands of members), not one per
	// member. derivePlacements changes statuses, never which member a workload is placed on.
	var placed map[string][]string
	if n := countGroupsSet(c.GetMembers()); n > 1 {
		placed = a.s.workloadsByMember()
	}
	for _, o := range c.GetMembers() {
		m := a.s.members.get(o.GetMember())
		if m == nil {
			continue // removed since the leader polled it
		}
		if h := o.GetHealth(); h != "" && validHealth(h) {
			a.setHealth(m, h, o.GetHealthReason())
		}
		for _, os := range o.GetServers() {
			if i := slices.IndexFunc(m.Servers, func(s *fsmv1.MemberServer) bool { return s.Name == os.GetName() }); i >= 0 {
				m.Servers[i].Status = os.GetStatus()
			}
		}
		if o.GetGroupsSet() {
			m.Groups = cloneGroups(o.GetGroups())
			on := placed[m.Name]
			if placed == nil {
				on = a.s.workloadsOn(m.Name)
			}
			a.derivePlacements(m, on)
		}
		if i := o.GetAsOfIndex(); i > m.ObservedIndex && i <= a.index {
			m.ObservedIndex = i
		}
	}
	for _, e := range c.GetEvents() {
		a.s.appendEvent(a.index, a.at, a.actor, e)
	}
	return nil
}

func cloneGroups(in []*fsmv1.ObservedGroup) []*fsmv1.ObservedGroup {
	out := make([]*fsmv1.ObservedGroup, len(in))
	for i, g := range in {
		out[i] = proto.Clone(g).(*fsmv1.ObservedGroup)
	}
	slices.SortFunc(out, func(x, y *fsmv1.ObservedGroup) int {
		if x.Name < y.Name {
			return -1
		} else if x.Name > y.Name {
			return 1
		}
		return 0
	})
	return out
}

// countGroupsSet returns how many member observations of a batch set the member's groups.
func countGroupsSet(obs []*fsmv1.MemberObservation) int {
	n := 0
	for _, o := range obs {
		if o.GetGroupsSet() {
			n++
		}
	}
	return n
}

// derivePlacements updates the status of the workloads placed on m (names, sorted) from m's
// observed groups (sorted by name, cloneGroups).
func (a *applier) derivePlacements(m *fsmv1.Member, names []string) {
	for _, wn := range names {
		w := a.s.workloads.get(wn)
		p := w.Placement
		status, server := StatusOffline, p.Server
		if i, ok := slices.BinarySearchFunc(m.Groups, w.Group, func(g *fsmv1.ObservedGroup, name string) int { return strings.Compare(g.Name, name) }); ok {
			status = m.Groups[i].Status
			if cur := m.Groups[i].Current; cur != "" {
				server = cur
			}
		}
		if status == p.Status && server == p.Server {
			continue
		}
		wasOnline := p.Status == StatusOnline
		p.Status, p.Server = status, server
		if status == StatusOffline && w.OfflineSinceUnixNano == 0 {
			w.OfflineSinceUnixNano = a.at
		} else if status != StatusOffline {
			w.OfflineSinceUnixNano = 0
		}
		a.touchDNS()
		if wasOnline != (status == StatusOnline) {
			a.event("dns", "info", w.Name, m.Name, "", "workload %s is %s on %s/%s", w.Name, status, m.Name, server)
		}
	}
}

func (a *applier) applyStartOperation(c *fsmv1.StartOperationCommand) error {
	op := proto.Clone(c.GetOperation()).(*fsmv1.Operation)
	if op.GetId() == "" {
		return invalidf("an operation needs an id")
	}
	if a.s.operations.has(op.Id) {
		return existsf("operation %s already exists", op.Id)
	}
	w := a.s.workloads.get(op.GetWorkload())
	if w == nil {
		return notFoundf("workload %q is not registered (see 'csetctl workload list')", op.GetWorkload())
	}
	if t := op.GetTargetMember(); t != "" {
		if !slices.Contains(w.Candidates, t) {
			return preconditionf("member %q is not a candidate of workload %q (candidates %v): re-register the workload with it first", t, w.Name, w.Candidates)
		}
	}
	if cur := a.activeOperation(w.Name); cur != nil {
		return preconditionf("workload %q already has operation %s in phase %s: wait for it ('csetctl operation show %s')", w.Name, cur.Id, cur.Phase, cur.Id)
	}
	// An operation fences its source and nothing else, so it must start from where the workload
	// is now. It was decided on an earlier read of the state: an operation that finished in
	// between (a failover that just moved the workload) makes that source stale, and a move from
	// the stale source would start the group while it still runs on the member it moved to.
	if p := w.GetPlacement(); p.GetMember() != "" && op.GetSourceMember() != p.GetMember() {
		return preconditionf("workload %q moved meanwhile: it is on %s/%s now, not on %s/%s as when the operation was decided: see 'csetctl workload show %s' and retry",
			w.Name, p.GetMember(), p.GetServer(), op.GetSourceMember(), op.GetSourceServer(), w.Name)
	}
	if op.Phase == "" {
		op.Phase = PhasePending
	}
	op.CreatedUnixNano, op.UpdatedUnixNano = a.at, a.at
	a.s.operations.put(op.Id, op)
	forced := ""
	if op.Force {
		forced = ", forced: capacity and soft spread are not enforced"
	}
	a.event("operation", map[bool]string{true: "warn", false: "info"}[op.Force], w.Name, op.TargetMember, op.Id, "operation %s (%s%s) of %s: %s/%s -> %s/%s",
		op.Id, op.Reason, forced, w.Name, op.SourceMember, op.SourceServer, op.TargetMember, op.TargetServer)
	a.pruneOperations()
	return nil
}

// MaxFinishedOperations bounds how many finished operations the state keeps.
const MaxFinishedOperations = 1000

// pruneOperations forgets the oldest finished operations beyond MaxFinishedOperations.
func (a *applier) pruneOperations() {
	var done []*fsmv1.Operation
	for _, op := range a.s.operations.m {
		if Terminal(op.Phase) {
			done = append(done, op)
		}
	}
	if len(done) <= MaxFinishedOperations {
		return
	}
	slices.SortFunc(done, func(x, y *fsmv1.Operation) int {
		if x.UpdatedUnixNano != y.UpdatedUnixNano {
			if x.UpdatedUnixNano < y.UpdatedUnixNano {
				return -1
			}
			return 1
		}
		if x.Id < y.Id {
			return -1
		}
		return 1
	})
	for _, op := range done[:len(done)-MaxFinishedOperations] {
		a.s.operations.del(op.Id)
	}
}

func (a *applier) operation(id string) (*fsmv1.Operation, error) {
	op := a.s.operations.get(id)
	if op == nil {
		return nil, notFoundf("operation %s does not exist (see 'csetctl operation list')", id)
	}
	if Terminal(op.Phase) {
		return nil, preconditionf("operation %s already finished (%s)", id, op.Phase)
	}
	return op, nil
}

func (a *applier) applyAdvanceOperation(c *fsmv1.AdvanceOperationCommand) error {
	op, err := a.operation(c.GetId())
	if err != nil {
		return err
	}
	if f := c.GetFromPhase(); f != "" && op.Phase != f {
		return preconditionf("operation %s is in phase %s, not %s", op.Id, op.Phase, f)
	}
	if c.GetPhase() != "" {
		op.Phase = c.GetPhase()
	}
	if c.GetRetryHooks() {
		op.HookBase = uint32(len(op.Hooks))
	}
	if c.GetRestoring() {
		op.Restoring = true
	}
	if c.GetTargetMember() != "" {
		op.TargetMember, op.TargetServer = c.GetTargetMember(), c.GetTargetServer()
	}
	if c.GetAttempts() > op.Attempts {
		op.Attempts = c.GetAttempts()
	}
	op.Error = c.GetError()
	if h := c.GetHook(); h != nil {
		op.Hooks = append(op.Hooks, proto.Clone(h).(*fsmv1.HookResult))
		a.event("action", map[bool]string{true: "info", false: "error"}[h.ExitCode == 0 && h.Error == ""], op.Workload, op.TargetMember, op.Id,
			"hook %s exited %d after %dms: %s", h.Hook, h.ExitCode, h.DurationMs, lastLine(h.OutputTail, h.Error))
	}
	if t := c.GetTriedMember(); t != "" && !slices.Contains(op.TriedMembers, t) {
		op.TriedMembers = append(op.TriedMembers, t)
	}
	op.UpdatedUnixNano = a.at
	a.event("operation", "info", op.Workload, op.TargetMember, op.Id, "operation %s phase %s (target %s/%s)%s", op.Id, op.Phase, op.TargetMember, op.TargetServer, errSuffix(op.Error))
	return nil
}

func (a *applier) applyFinishOperation(c *fsmv1.FinishOperationCommand) error {
	op, err := a.operation(c.GetId())
	if err != nil {
		return err
	}
	if only := c.GetOnlyInPhases(); len(only) > 0 && !slices.Contains(only, op.Phase) {
		return preconditionf("operation %s is in phase %s: only an operation in phase %s can be ended this way; wait for it to finish or block", op.Id, op.Phase, strings.Join(only, " or "))
	}
	op.UpdatedUnixNano = a.at
	if !c.GetSuccess() {
		op.Phase, op.Error = PhaseFailed, c.GetError()
		a.event("operation", "error", op.Workload, op.TargetMember, op.Id, "operation %s failed: %s", op.Id, op.Error)
		return nil
	}
	op.Phase, op.Error = PhaseDone, ""
	if w := a.s.workloads.get(op.Workload); w != nil {
		before := w.Placement
		if p := c.GetPlacement(); p != nil && p.Member != "" {
			w.Placement = proto.Clone(p).(*fsmv1.Placement)
			w.Placement.OperationId = op.Id
			if w.Placement.SinceUnixNano == 0 {
				w.Placement.SinceUnixNano = a.at
			}
		} else if c.GetPlacement() != nil {
			w.Placement = nil
		}
		w.OfflineSinceUnixNano = 0
		if !proto.Equal(before, w.Placement) {
			a.touchDNS()
		}
	}
	a.event("operation", "info", op.Workload, op.TargetMember, op.Id, "operation %s done: %s on %s/%s", op.Id, op.Workload, op.TargetMember, op.TargetServer)
	return nil
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return ": " + e
}

func lastLine(out, errText string) string {
	if errText != "" {
		return errText
	}
	for len(out) > 0 && (out[len(out)-1] == '\n' || out[len(out)-1] == '\r') {
		out = out[:len(out)-1]
	}
	for i := len(out) - 1; i >= 0; i-- {
		if out[i] == '\n' {
			return out[i+1:]
		}
	}
	return out
}
