package controller_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/internal/clustertest"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

func TestController_PlacesAndAdopts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{members: []string{"east", "west"}, groups: []string{"web", "db"}, autoStart: map[string]string{"db": "west"}})
	// web runs nowhere: it is placed on the first candidate. db already runs on west: adopted.
	e.waitOnline("web", "east", 15*time.Second)
	e.waitOnline("db", "west", 15*time.Second)
	if len(e.events("placed on west")) == 0 {
		t.Errorf("no adoption event for db")
	}
}

func TestController_PlannedMove(t *testing.T) { forEachErrorStyle(t, testPlannedMove) }

func testPlannedMove(t *testing.T, style string) {
	dir := t.TempDir()
	mark := filepath.Join(dir, "ran")
	hook := writeHook(t, dir, "handover.sh", fmt.Sprintf(`echo "$CSET_WORKLOAD $CSET_REASON $CSET_FROM_MEMBER->$CSET_TO_MEMBER" >> %s; echo moved data`, mark))
	e := newEnv(t, envOpts{errorStyle: style, members: []string{"east", "west"}, groups: []string{"web"}, hooks: map[string][]string{"web": {hook}}})
	e.waitOnline("web", "east", 15*time.Second)
	op, err := e.client().MoveWorkload(clustertest.Ctx(t), &apiv1.MoveWorkloadRequest{Name: "web", ToMember: "west"})
	if err != nil {
		t.Fatal(err)
	}
	w := e.waitOnline("web", "west", 15*time.Second)
	if w.GetOperationId() != op.GetId() {
		t.Errorf("placement operation %s, want %s", w.GetOperationId(), op.GetId())
	}
	got, err := e.client().GetOperation(clustertest.Ctx(t), &apiv1.GetRequest{Name: op.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetPhase() != "done" || len(got.GetHooks()) != 1 || got.GetHooks()[0].GetExitCode() != 0 || !strings.Contains(got.GetHooks()[0].GetOutputTail(), "moved data") {
		t.Errorf("operation %+v", got)
	}
	b, _ := os.ReadFile(mark)
	if strings.TrimSpace(string(b)) != "web planned east->west" {
		t.Errorf("hook saw %q", b)
	}
}

func TestController_FailoverWhenMemberDies(t *testing.T) {
	forEachErrorStyle(t, testFailoverWhenMemberDies)
}

func testFailoverWhenMemberDies(t *testing.T, style string) {
	e := newEnv(t, envOpts{errorStyle: style, members: []string{"east", "west"}, groups: []string{"web"}})
	e.waitOnline("web", "east", 15*time.Second)
	if err := e.sim.ClusterDown("east"); err != nil {
		t.Fatal(err)
	}
	e.waitHealth("east", "down", 20*time.Second)
	w := e.waitOnline("web", "west", 20*time.Second)
	if w.GetServer() == "" {
		t.Errorf("no server in placement %+v", w)
	}
	// The member comes back: it must not run web again (manual start) and becomes up.
	if err := e.sim.ClusterUp("east"); err != nil {
		t.Fatal(err)
	}
	e.waitHealth("east", "up", 20*time.Second)
	e.waitOnline("web", "west", 5*time.Second)
}

func TestController_NoFailoverWhenIsolatedButAlive(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{members: []string{"east", "west"}, groups: []string{"web"}})
	e.waitOnline("web", "east", 15*time.Second)
	if err := e.sim.Isolate("east"); err != nil {
		t.Fatal(err)
	}
	e.waitHealth("east", "partitioned", 10*time.Second)
	// Well past fence_after the workload stays where it is and never starts on west.
	deadline := time.Now().Add(fenceAfter + 2*time.Second)
	for time.Now().Before(deadline) {
		if w := e.workload("web"); w.GetMember() != "east" {
			t.Fatalf("workload moved to %s while east was only isolated", w.GetMember())
		}
		if got := e.simRunning("web"); len(got) != 1 || got[0] != "east" {
			t.Fatalf("simulator runs web on %v", got)
		}
		time.Sleep(pollInterval)
	}
	if err := e.sim.Heal("east"); err != nil {
		t.Fatal(err)
	}
	e.waitHealth("east", "up", 10*time.Second)
	e.waitOnline("web", "east", 5*time.Second)
}

func TestController_FailoverOfFailedGroupInLiveMember(t *testing.T) {
	forEachErrorStyle(t, testFailoverOfFailedGroupInLiveMember)
}

func testFailoverOfFailedGroupInLiveMember(t *testing.T, style string) {
	e := newEnv(t, envOpts{errorStyle: style, members: []string{"east", "west"}, groups: []string{"web"}})
	e.waitOnline("web", "east", 15*time.Second)
	// Break the group on east: it cannot start there any more, and it stops (as if ECX gave up).
	if err := e.sim.SetFailStart("east", "web", true); err != nil {
		t.Fatal(err)
	}
	stopGroup(t, e, "east", "web")
	e.waitOnline("web", "west", 20*time.Second)
	if len(e.events("Offline on east for more than")) == 0 {
		t.Errorf("no decision event explaining the failover")
	}
}

func TestController_StartFailureFallsThroughToNextCandidate(t *testing.T) {
	forEachErrorStyle(t, testStartFailureFallsThroughToNextCandidate)
}

func testStartFailureFallsThroughToNextCandidate(t *testing.T, style string) {
	// Every start of api on east ends in Online Failure; east is the preferred candidate.
	e := newEnv(t, envOpts{errorStyle: style, members: []string{"east", "west"}, groups: []string{"api"}, noWitness: true, failStart: map[string]string{"api": "east"}})
	w := e.waitOnline("api", "west", 20*time.Second)
	op, err := e.client().GetOperation(clustertest.Ctx(t), &apiv1.GetRequest{Name: w.GetOperationId()})
	if err != nil {
		t.Fatal(err)
	}
	if op.GetAttempts() < 1 || op.GetTargetMember() != "west" {
		t.Errorf("operation %+v: want one failed attempt on east, then west", op)
	}
	if len(e.events("phase pending (target east")) == 0 {
		t.Errorf("no event shows the operation going back to pending after east failed")
	}
}

func TestController_BrakeHoldsMassFailover(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{members: []string{"east", "west", "north"}, groups: []string{"web"}})
	e.waitOnline("web", "east", 15*time.Second)
	for _, m := range []string{"east", "west"} {
		if err := e.sim.ClusterDown(m); err != nil {
			t.Fatal(err)
		}
	}
	e.waitHealth("east", "down", 20*time.Second)
	e.waitHealth("west", "down", 20*time.Second)
	testutil.Eventually(t, 5*time.Second, func() error {
		if len(e.events("failover brake engaged")) == 0 {
			return fmt.Errorf("no brake event")
		}
		return nil
	})
	time.Sleep(recoveryGrace) // give a wrong failover the time to happen (the assertion is that it doesn't)
	if w := e.workload("web"); w.GetMember() != "east" {
		t.Fatalf("web failed over to %s although the brake was on", w.GetMember())
	}
	if got := e.simRunning("web"); len(got) != 0 {
		t.Fatalf("web runs on %v", got)
	}
	// An operator's move out of a "down" member waits too while the brake is on.
	op, err := e.client().MoveWorkload(clustertest.Ctx(t), &apiv1.MoveWorkloadRequest{Name: "web", ToMember: "north"})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(recoveryGrace) // the assertion is that nothing happens
	got, err := e.client().GetOperation(clustertest.Ctx(t), &apiv1.GetRequest{Name: op.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetPhase() == "done" || len(e.simRunning("web")) != 0 {
		t.Fatalf("planned move ran while the brake was on: %+v, running on %v", got, e.simRunning("web"))
	}
}

func TestController_NewLeaderFinishesOperation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	started := filepath.Join(dir, "started")
	hook := writeHook(t, dir, "slow.sh", fmt.Sprintf(`echo "$CSET_OPERATION" >> %s; sleep 2; echo done`, started))
	e := newEnv(t, envOpts{masters: 3, members: []string{"east", "west"}, groups: []string{"web"}, hooks: map[string][]string{"web": {hook}}})
	e.waitOnline("web", "east", 20*time.Second)
	op, err := e.client().MoveWorkload(clustertest.Ctx(t), &apiv1.MoveWorkloadRequest{Name: "web", ToMember: "west"})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 15*time.Second, func() error {
		if _, err := os.Stat(started); err != nil {
			return err
		}
		return nil
	})
	old := e.c.WaitForLeader()
	e.c.Stop(old) // the leader dies during the handover phase
	w := e.waitOnline("web", "west", 30*time.Second)
	if w.GetOperationId() != op.GetId() {
		t.Errorf("placement by %s, want the original operation %s", w.GetOperationId(), op.GetId())
	}
	b, _ := os.ReadFile(started)
	if n := strings.Count(string(b), op.GetId()); n < 2 {
		t.Logf("hook ran %d times (the new leader may have resumed after it was recorded)", n)
	}
}
