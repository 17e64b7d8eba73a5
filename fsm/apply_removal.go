package fsm

import (
	"slices"
	"strings"

	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
)

// The values of Member.removal: how a member marked for removal is emptied.
const (
	// RemovalMove moves every workload that runs on the member to another candidate (drain
	// operations), and waits while one cannot move.
	RemovalMove = "move"
	// RemovalForce moves what can move and stops, under the fence, what cannot move now.
	RemovalForce = "force"
)

// applyRemoveMember removes a member. Since issue 11 (fence_first) a member on which a group of
// a cset workload may run is never deleted at once: deleting it would stop the masters from
// polling and fencing it while the scheduler places its workloads elsewhere, so a group could
// run twice. Such a member is marked for removal; the controller moves (or stops) its groups
// under the fence and then commits the same command with finalize.
func (a *applier) applyRemoveMember(c *fsmv1.RemoveMemberCommand) error {
	m := a.s.members.get(c.GetName())
	if m == nil {
		return notFoundf("member %q does not exist (see 'csetctl member list')", c.GetName())
	}
	if !c.GetFenceFirst() && !c.GetFinalize() {
		return a.removeMemberV0(m, c.GetForce()) // COMPAT(v1): entries written before issue 11
	}
	if only := a.s.soleCandidateOf(m.Name); len(only) > 0 {
		return preconditionf("member %q is the only candidate of workloads %s: re-register them with another candidate (--update) or unregister them first", m.Name, strings.Join(only, ", "))
	}
	busy := a.s.mayRunOn(m)
	if c.GetFinalize() {
		return a.finalizeRemoval(m, busy)
	}
	switch {
	case len(busy) == 0:
		a.deleteMember(m, c.GetForce())
		return nil
	case m.Health == HealthDown && a.s.mostMembersLost():
		return preconditionf("member %q is down, but so are (or cannot be reached) more than half of the members: the masters may be the isolated side, so its workloads %s are not taken off it now. "+
			"Wait until the other members answer again", m.Name, strings.Join(busy, ", "))
	case m.Health == HealthDown:
		a.deleteMember(m, c.GetForce())
		return nil
	case m.Health != HealthUp && m.Health != HealthDegraded:
		return preconditionf("member %q is %s and workloads %s may still run there: it cannot be removed before its groups are stopped. "+
			"Wait until the masters reach it again (its workloads are then moved off first), or, if it is really dead, "+
			"confirm it with 'csetctl member declare-down %s' and remove it then", m.Name, m.Health, strings.Join(busy, ", "), m.Name)
	}
	mode := RemovalMove
	if c.GetForce() {
		mode = RemovalForce
	}
	if m.Removal == mode {
		return nil
	}
	m.Removal, m.Admin = mode, AdminDraining
	how := "moved off it first"
	if mode == RemovalForce {
		how = "moved off it first, or stopped there if no other member can take them now,"
	}
	a.event("admin", "warn", "", m.Name, "", "member %s is being removed (%s): workloads %s are %s under the fence; it is deleted when no cset group runs there", m.Name, mode, strings.Join(busy, ", "), how)
	return nil
}

// finalizeRemoval deletes a member marked for removal once nothing of cset may run there: its
// health is fresh (up or degraded) or it is down (fenced by the witness rule).
func (a *applier) finalizeRemoval(m *fsmv1.Member, busy []string) error {
	switch {
	case m.Removal == "":
		return preconditionf("member %q is not being removed", m.Name)
	case m.Health == HealthDown && len(busy) > 0 && a.s.mostMembersLost():
		return preconditionf("member %q is down, but more than half of the members are lost: its workloads %s are not taken off it now", m.Name, strings.Join(busy, ", "))
	case m.Health == HealthDown:
	case m.Health != HealthUp && m.Health != HealthDegraded:
		return preconditionf("member %q is %s: its groups cannot be known to be stopped", m.Name, m.Health)
	case len(busy) > 0:
		return preconditionf("member %q still runs or hosts workloads %s", m.Name, strings.Join(busy, ", "))
	}
	a.deleteMember(m, m.Removal == RemovalForce)
	return nil
}

// deleteMember deletes m and drops it from the candidates, addresses and placements of every
// workload.
func (a *applier) deleteMember(m *fsmv1.Member, force bool) {
	users := a.s.workloadsNaming(m.Name)
	for _, wn := range users {
		w := a.s.workloads.get(wn)
		w.Candidates = slices.DeleteFunc(w.Candidates, func(c string) bool { return c == m.Name })
		delete(w.Addresses, m.Name)
		if w.GetPlacement().GetMember() == m.Name {
			w.Placement, w.OfflineSinceUnixNano = nil, 0
		}
		a.touchDNS() // the member's addresses leave the workload's records
	}
	a.s.members.del(m.Name)
	a.event("admin", "warn", "", m.Name, "", "member %s removed (health %s, force=%v, workloads affected: %s)", m.Name, m.Health, force, strings.Join(users, ","))
}

// removeMemberV0 is RemoveMemberCommand as written before issue 11: it deletes the member at
// once, with force even when workloads run there.
func (a *applier) removeMemberV0(m *fsmv1.Member, force bool) error {
	name := m.Name
	users := a.s.workloadsNaming(name)
	if len(users) > 0 && !force {
		return preconditionf("member %q is a candidate of workloads %s: move or unregister them, or remove it with --force (it is then dropped from their candidates and placements)", name, strings.Join(users, ", "))
	}
	for _, wn := range users {
		w := a.s.workloads.get(wn)
		w.Candidates = slices.DeleteFunc(w.Candidates, func(m string) bool { return m == name })
		delete(w.Addresses, name)
		if w.GetPlacement().GetMember() == name {
			w.Placement = nil
			a.touchDNS()
		}
	}
	a.s.members.del(name)
	a.event("admin", "warn", "", name, "", "member %s removed (force=%v, workloads affected: %s)", name, force, strings.Join(users, ","))
	return nil
}

// mostMembersLost reports what the controller's failover brake reports from its last round,
// from the state alone: more than half of the members (of more than one) are down, unreachable
// or partitioned. Then "down" is not to be trusted: the masters may be the isolated side.
func (s *state) mostMembersLost() bool {
	lost := 0
	for _, m := range s.members.m {
		if m.Health == HealthDown || m.Health == HealthUnreachable || m.Health == HealthPartitioned {
			lost++
		}
	}
	return s.members.len() > 1 && lost*2 > s.members.len()
}

// soleCandidateOf returns the workloads whose only candidate is member, sorted.
func (s *state) soleCandidateOf(member string) []string {
	var out []string
	for _, name := range sortedKeys(s.workloads.m) {
		if c := s.workloads.m[name].GetCandidates(); len(c) == 1 && c[0] == member {
			out = append(out, name)
		}
	}
	return out
}

// MayRun reports whether a group observed with ECX status s is (or may be) running there, for
// exclusivity: every status but "Offline". A pending start may finish, a pending stop has not
// finished, "Online Failure" and "Offline Failure" may still hold resources (a group that failed
// to stop is not stopped), and "Unknown" (ECX cannot read the server that runs it), "Error",
// "Unused" or any string outside the group vocabulary prove nothing, so they count as running.
func MayRun(status string) bool { return status != StatusOffline }

// mayRunOn returns the workloads, sorted, of which a group may run on m as far as the state
// knows: placed there, observed running there (for workloads that list m as a candidate), or
// with an unfinished operation that involves m.
func (s *state) mayRunOn(m *fsmv1.Member) []string {
	var out []string
	for _, name := range sortedKeys(s.workloads.m) {
		w := s.workloads.m[name]
		busy := w.GetPlacement().GetMember() == m.Name
		if !busy && slices.Contains(w.Candidates, m.Name) {
			busy = slices.ContainsFunc(m.Groups, func(g *fsmv1.ObservedGroup) bool { return g.Name == w.Group && MayRun(g.Status) })
		}
		if busy {
			out = append(out, name)
		}
	}
	for _, op := range s.operations.m {
		if Terminal(op.Phase) || slices.Contains(out, op.Workload) {
			continue
		}
		if op.SourceMember == m.Name || op.TargetMember == m.Name || slices.Contains(op.TriedMembers, m.Name) {
			out = append(out, op.Workload)
		}
	}
	slices.Sort(out)
	return out
}
