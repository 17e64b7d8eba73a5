package controller_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/cset-project/cset/internal/clustertest"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

func TestController_DrainMovesWorkloadsAway(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{members: []string{"east", "west"}, groups: []string{"web", "db"}})
	e.waitOnline("web", "east", 15*time.Second)
	e.waitOnline("db", "east", 15*time.Second)
	if _, err := e.client().SetMemberAdmin(clustertest.Ctx(t), &apiv1.SetMemberAdminRequest{Name: "east", Admin: "draining"}); err != nil {
		t.Fatal(err)
	}
	e.waitOnline("web", "west", 20*time.Second)
	e.waitOnline("db", "west", 20*time.Second)
	// Undrained, east takes new placements again but nothing moves back by itself.
	if _, err := e.client().SetMemberAdmin(clustertest.Ctx(t), &apiv1.SetMemberAdminRequest{Name: "east", Admin: "active"}); err != nil {
		t.Fatal(err)
	}
	e.waitOnline("web", "west", 5*time.Second)
}

func TestController_StopAndStartWorkload(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{members: []string{"east", "west"}, groups: []string{"web"}})
	e.waitOnline("web", "east", 15*time.Second)
	if _, err := e.client().SetWorkloadDesired(clustertest.Ctx(t), &apiv1.SetWorkloadDesiredRequest{Name: "web", Desired: "offline"}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 15*time.Second, func() error {
		w := e.workload("web")
		if w.GetMember() != "" || len(e.simRunning("web")) != 0 {
			return fmt.Errorf("web still placed on %q, running on %v", w.GetMember(), e.simRunning("web"))
		}
		return nil
	})
	if _, err := e.client().SetWorkloadDesired(clustertest.Ctx(t), &apiv1.SetWorkloadDesiredRequest{Name: "web", Desired: "online"}); err != nil {
		t.Fatal(err)
	}
	e.waitOnline("web", "east", 15*time.Second)
}

func TestController_NoWitnessNeedsDeclareDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{members: []string{"east", "west"}, groups: []string{"web"}, noWitness: true})
	e.waitOnline("web", "east", 15*time.Second)
	// Declaring a member the leader reaches is refused.
	if _, err := e.client().DeclareMemberDown(clustertest.Ctx(t), &apiv1.GetRequest{Name: "east"}); err == nil {
		t.Fatal("declare-down of a reachable member was accepted")
	}
	if err := e.sim.ClusterDown("east"); err != nil {
		t.Fatal(err)
	}
	e.waitHealth("east", "unreachable", 10*time.Second)
	time.Sleep(fenceAfter) // without a witness nothing is declared down by itself: give it the chance
	if w := e.workload("web"); w.GetMember() != "east" {
		t.Fatalf("web moved to %s without a witness or an operator", w.GetMember())
	}
	if _, err := e.client().DeclareMemberDown(clustertest.Ctx(t), &apiv1.GetRequest{Name: "east"}); err != nil {
		t.Fatal(err)
	}
	e.waitOnline("web", "west", 15*time.Second)
}
