package server

import (
	"context"
	"slices"
	"sync"
	"time"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// guardTracker records, on the leader and by the leader's clock, when it last acknowledged a guard
// heartbeat of each member, and which managed groups each guard confirmed it holds. One tracker
// lives for one leadership: a new leader knows nothing of what its predecessor heard, so it
// counts every member as heard at its election (the master rule of docs/design.md, "Split-brain
// protection"). It satisfies controller.Guards and is safe for concurrent use.
type guardTracker struct {
	now   func() time.Time
	since time.Time // the start of this leadership

	mu    sync.Mutex
	heard map[string]time.Time // member -> when a guard of it was last acknowledged
	// known: member -> server -> the groups its guard last confirmed holding (sorted).
	known map[string]map[string][]string
}

func newGuardTracker(now func() time.Time) *guardTracker {
	return &guardTracker{now: now, since: now(), heard: map[string]time.Time{}, known: map[string]map[string][]string{}}
}

// record notes a heartbeat from the guard of member/server, now, holding the groups known.
func (g *guardTracker) record(member, server string, known []string) {
	t := g.now()
	known = slices.Clone(known)
	slices.Sort(known)
	g.mu.Lock()
	defer g.mu.Unlock()
	if t.After(g.heard[member]) {
		g.heard[member] = t
	}
	if g.known[member] == nil {
		g.known[member] = map[string][]string{}
	}
	g.known[member][server] = known
}

// LastHeard returns how long ago this leader last acknowledged a guard heartbeat of member, or
// how long it has led when it has heard none (heard is then false).
func (g *guardTracker) LastHeard(member string) (time.Duration, bool) {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if t, ok := g.heard[member]; ok {
		return now.Sub(t), true
	}
	return now.Sub(g.since), false
}

// Unconfirmed returns the servers of member whose guards this leader has heard but which have not
// confirmed holding group yet, sorted; empty when every guard heard knows it (or none was heard:
// a member without guards relies on the witness rule alone). A group must not start where a
// guard does not know it: that guard would not stop it when the member is cut off.
func (g *guardTracker) Unconfirmed(member, group string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for server, known := range g.known[member] {
		if _, ok := slices.BinarySearch(known, group); !ok {
			out = append(out, server)
		}
	}
	slices.Sort(out)
	return out
}

// GuardHeartbeat acknowledges a guard heartbeat. forwardUnary runs it on the leader only, so a
// follower that cannot reach the leader answers with an error and never acknowledges.
func (a *api) GuardHeartbeat(ctx context.Context, r *apiv1.GuardHeartbeatRequest) (*apiv1.GuardHeartbeatResponse, error) {
	if r.GetCluster() == "" || r.GetServer() == "" {
		return nil, status.Error(codes.InvalidArgument, "guard heartbeat: cluster and server are required")
	}
	tracker := a.s.fencing.guards.Load()
	if tracker == nil || !a.s.IsLeader() {
		return nil, apiv1.NotApplied("master %s is not the leader (or its controller is not running yet): no acknowledgement", a.s.cfg.NodeID)
	}
	m := a.s.fsm.Member(r.GetCluster())
	if m == nil {
		return nil, status.Errorf(codes.NotFound, "guard heartbeat: cluster %q is not a member of the set: the guard's -cluster must be the member name ('csetctl member list')", r.GetCluster())
	}
	if !slices.ContainsFunc(m.Servers, func(s *fsmv1.MemberServer) bool { return s.Name == r.GetServer() }) {
		return nil, status.Errorf(codes.NotFound, "guard heartbeat: member %q has no server %q: the guard's -server must be the ECX server name as the member declares it", m.Name, r.GetServer())
	}
	tracker.record(m.Name, r.GetServer(), r.GetKnownGroups())
	return &apiv1.GuardHeartbeatResponse{Acknowledged: true, Groups: a.s.fsm.ManagedGroups(m.Name), Leader: a.s.cfg.NodeID}, nil
}
