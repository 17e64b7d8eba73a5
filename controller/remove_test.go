package controller_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/internal/clustertest"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// waitRemoved waits until member is gone and no workload lists it any more.
func (e *env) waitRemoved(member string, timeout time.Duration) {
	e.t.Helper()
	testutil.Eventually(e.t, timeout, func() error {
		m, err := e.client().GetMember(clustertest.Ctx(e.t), &apiv1.GetRequest{Name: member})
		if status.Code(err) != codes.NotFound {
			return fmt.Errorf("member %s: %v (removal %q), want NotFound", member, err, m.GetMember().GetRemoval())
		}
		return nil
	})
	ws, err := e.client().ListWorkloads(clustertest.Ctx(e.t), &apiv1.ListRequest{})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, w := range ws.GetWorkloads() {
		if slices.Contains(w.GetCandidates(), member) || w.GetMember() == member {
			e.t.Errorf("workload %s still names removed member %s: candidates %v, on %q", w.GetName(), member, w.GetCandidates(), w.GetMember())
		}
	}
}

// setCapacity replaces member's capacity (the rest as newEnv registered it).
func (e *env) setCapacity(member string, capacity int64) {
	e.t.Helper()
	req := &apiv1.AddMemberRequest{Name: member, User: "admin", Capacity: capacity, Update: true}
	for _, s := range []string{member + "-1", member + "-2"} {
		req.Servers = append(req.Servers, &apiv1.ServerSpec{Name: s, Url: e.sim.ServerURL(member, s)})
	}
	if _, err := e.client().AddMember(clustertest.Ctx(e.t), req); err != nil {
		e.t.Fatal(err)
	}
}

// placeOn waits until a workload is Online somewhere and moves it to member if it is not there
// (the first placement depends on which member a loaded machine polled first).
func (e *env) placeOn(name, member string) {
	e.t.Helper()
	if w := e.waitOnline(name, "", 15*time.Second); w.GetMember() != member {
		if _, err := e.client().MoveWorkload(clustertest.Ctx(e.t), &apiv1.MoveWorkloadRequest{Name: name, ToMember: member}); err != nil {
			e.t.Fatalf("move %s to %s: %v", name, member, err)
		}
	}
	e.waitOnline(name, member, 15*time.Second)
}

// setSize re-registers a workload of newEnv (candidates east, west) with a size.
func (e *env) setSize(name string, size int64) {
	e.t.Helper()
	req := &apiv1.RegisterWorkloadRequest{Name: name, Group: name, Candidates: []string{"east", "west"}, Size: size, Update: true, HookTimeoutSeconds: 10,
		Addresses: map[string]*apiv1.AddressList{"east": {Addresses: []string{"10.1.0.99"}}, "west": {Addresses: []string{"10.2.0.99"}}}}
	if _, err := e.client().RegisterWorkload(clustertest.Ctx(e.t), req); err != nil {
		e.t.Fatal(err)
	}
}

// TestController_RemoveMemberFencesItsGroupsFirst is issue 11's 'member remove east --force'
// while east runs api and db: they are stopped on east under the fence before they start on
// west (the audit proves no overlap), and east is deleted only then.
func TestController_RemoveMemberFencesItsGroupsFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{members: []string{"east", "west"}, groups: []string{"api", "db", "web"}})
	e.placeOn("api", "east")
	e.placeOn("db", "east")
	e.placeOn("web", "west")

	if _, err := e.client().RemoveMember(clustertest.Ctx(t), &apiv1.RemoveMemberRequest{Name: "east", Force: true}); err != nil {
		t.Fatalf("remove east --force: %v", err)
	}
	e.waitRemoved("east", 20*time.Second)
	for _, g := range []string{"api", "db", "web"} {
		e.waitOnline(g, "west", 15*time.Second)
	}
	if got := e.events("member east is being removed (force)"); len(got) != 1 {
		t.Errorf("events marking the removal: %v", got)
	}
	// The audit in newEnv's cleanup checks that no group was ever Online on both members.
}

// TestController_RemoveMemberWaitsForAMoveUnlessForced: without --force a removal waits while a
// workload cannot move; --force then stops it on the member, under the fence, and deletes the
// member; the workload starts elsewhere as soon as a member can take it.
func TestController_RemoveMemberWaitsForAMoveUnlessForced(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{members: []string{"east", "west"}, groups: []string{"db", "web"}})
	e.placeOn("db", "east")
	e.placeOn("web", "east")
	e.setSize("db", 1)
	e.setSize("web", 1)
	e.setCapacity("west", 1) // room for one of them

	if _, err := e.client().RemoveMember(clustertest.Ctx(t), &apiv1.RemoveMemberRequest{Name: "east"}); err != nil {
		t.Fatalf("remove east: %v", err)
	}
	e.waitOnline("db", "west", 20*time.Second)
	testutil.Eventually(t, 10*time.Second, func() error {
		if len(e.events("drain of web is waiting: no candidate member can take it")) == 0 {
			return fmt.Errorf("no event says that web's drain waits: %v", e.events(""))
		}
		return nil
	})
	m, err := e.client().GetMember(clustertest.Ctx(t), &apiv1.GetRequest{Name: "east"})
	if err != nil || m.GetMember().GetRemoval() != "move" || m.GetMember().GetAdmin() != "draining" {
		t.Fatalf("east while web cannot move: %v %v, want it still there, being removed", m, err)
	}
	if w := e.workload("web"); w.GetMember() != "east" || w.GetStatus() != "Online" {
		t.Fatalf("web is %s on %q, want still Online on east", w.GetStatus(), w.GetMember())
	}

	if _, err := e.client().RemoveMember(clustertest.Ctx(t), &apiv1.RemoveMemberRequest{Name: "east", Force: true}); err != nil {
		t.Fatalf("remove east --force: %v", err)
	}
	e.waitRemoved("east", 20*time.Second)
	if got := e.simRunning("web"); len(got) != 0 {
		t.Fatalf("web runs on %v after a forced removal with no room for it", got)
	}
	if w := e.workload("web"); w.GetMember() != "" || w.GetDesired() != "online" {
		t.Fatalf("web on %q desired %s, want unplaced and still desired online", w.GetMember(), w.GetDesired())
	}
	e.setCapacity("west", 2)
	e.waitOnline("web", "west", 20*time.Second)
}

// TestController_RemoveUnreachableMemberIsRefused: a member the leader cannot reach may still
// run its groups: removing it is refused until it is declared down, and then it goes at once.
func TestController_RemoveUnreachableMemberIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{members: []string{"east", "west"}, groups: []string{"web"}, noWitness: true})
	e.placeOn("web", "east")
	if err := e.sim.ClusterDown("east"); err != nil {
		t.Fatal(err)
	}
	e.waitHealth("east", "unreachable", 10*time.Second)
	for _, force := range []bool{false, true} {
		_, err := e.client().RemoveMember(clustertest.Ctx(t), &apiv1.RemoveMemberRequest{Name: "east", Force: force})
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), "csetctl member declare-down east") {
			t.Fatalf("remove of an unreachable member (force %v): %v, want FailedPrecondition pointing at declare-down", force, err)
		}
	}
	if _, err := e.client().DeclareMemberDown(clustertest.Ctx(t), &apiv1.GetRequest{Name: "east"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client().RemoveMember(clustertest.Ctx(t), &apiv1.RemoveMemberRequest{Name: "east"}); err != nil {
		t.Fatalf("remove of a member declared down: %v", err)
	}
	e.waitRemoved("east", 5*time.Second)
	e.waitOnline("web", "west", 15*time.Second)
}
