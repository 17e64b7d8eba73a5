package controller_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/internal/clustertest"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

func (e *env) waitOperation(id string, timeout time.Duration, ok func(*apiv1.Operation) error) *apiv1.Operation {
	e.t.Helper()
	var got *apiv1.Operation
	testutil.Eventually(e.t, timeout, func() error {
		var err error
		got, err = e.client().GetOperation(clustertest.Ctx(e.t), &apiv1.GetRequest{Name: id})
		if err != nil {
			return err
		}
		return ok(got)
	})
	return got
}

func (e *env) activeOperation(workload string, timeout time.Duration) *apiv1.Operation {
	e.t.Helper()
	var id string
	testutil.Eventually(e.t, timeout, func() error {
		w := e.workload(workload)
		if id = w.GetActiveOperationId(); id == "" {
			return fmt.Errorf("%s has no operation in flight (status %s on %q)", workload, w.GetStatus(), w.GetMember())
		}
		return nil
	})
	return e.waitOperation(id, timeout, func(*apiv1.Operation) error { return nil })
}

// A planned move whose handover hook fails restarts the workload on its source and fails, saying
// so (issue 11, case 6: the workload stayed Offline, and failover then re-ran the hook in a loop).
func TestController_FailingHookOnPlannedMoveRestartsSource(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	hook := writeHook(t, dir, "bad.sh", `echo "restore failed: no backup for $CSET_WORKLOAD" >&2; exit 3`)
	e := newEnv(t, envOpts{members: []string{"east", "west"}, groups: []string{"web"}, hooks: map[string][]string{"web": {hook}}})
	e.waitOnline("web", "east", 15*time.Second)
	op, err := e.client().MoveWorkload(clustertest.Ctx(t), &apiv1.MoveWorkloadRequest{Name: "web", ToMember: "west"})
	if err != nil {
		t.Fatal(err)
	}
	got := e.waitOperation(op.GetId(), 15*time.Second, func(o *apiv1.Operation) error {
		if o.GetPhase() != "failed" {
			return fmt.Errorf("phase %s", o.GetPhase())
		}
		return nil
	})
	if !strings.Contains(got.GetError(), "exit 3") || !strings.Contains(got.GetError(), "restarted on its source east") ||
		len(got.GetHooks()) != 1 || !strings.Contains(got.GetHooks()[0].GetOutputTail(), "no backup for web") {
		t.Errorf("operation %+v: want the hook failure and the restart on east in its error", got)
	}
	w := e.waitOnline("web", "east", 10*time.Second)
	if w.GetOperationId() == op.GetId() {
		t.Errorf("the failed move is recorded as the operation that placed web")
	}
	if len(e.events("no backup for web")) == 0 {
		t.Errorf("hook output missing from the event log")
	}
	// Online where it was, so nothing retries the hook by itself.
	time.Sleep(3 * recoveryGrace) // an upper bound on attempts: waiting longer can only add some
	ops, err := e.client().ListOperations(clustertest.Ctx(t), &apiv1.ListRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range ops.GetOperations() {
		if o.GetWorkload() == "web" && o.GetCreatedUnixNano() > op.GetCreatedUnixNano() {
			t.Errorf("another operation %s (%s) after the restored move", o.GetId(), o.GetReason())
		}
	}
}

// A failover whose hook keeps failing is retried with a backoff, then blocked, holding the
// workload until an operator retries it; the retry then completes the failover (issue 11, case 6).
func TestController_FailoverHookRetriesThenBlocks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ok := filepath.Join(dir, "replica-ready")
	runs := filepath.Join(dir, "runs")
	hook := writeHook(t, dir, "promote.sh", fmt.Sprintf(`echo run >> %s
[ "$CSET_REASON" != failover ] && exit 0
[ -e %s ] && exit 0
echo "replica on $CSET_TO_MEMBER is not ready" >&2; exit 5`, runs, ok))
	e := newEnv(t, envOpts{members: []string{"east", "west"}, groups: []string{"web"}, hooks: map[string][]string{"web": {hook}},
		tune: func(cfg *config.Config) { cfg.Controller.HookRetries = 1 }})
	e.waitOnline("web", "east", 15*time.Second)
	if err := e.sim.ClusterDown("east"); err != nil {
		t.Fatal(err)
	}
	op := e.activeOperation("web", 20*time.Second)
	blocked := e.waitOperation(op.GetId(), 20*time.Second, func(o *apiv1.Operation) error {
		if o.GetPhase() != "blocked" {
			return fmt.Errorf("phase %s, %d hook runs", o.GetPhase(), len(o.GetHooks()))
		}
		return nil
	})
	if n := len(blocked.GetHooks()); n != 2 {
		t.Errorf("%d hook runs before blocking, want 2 (hook_retries 1)", n)
	}
	if !strings.Contains(blocked.GetError(), "csetctl operation retry "+op.GetId()) {
		t.Errorf("blocked error %q does not tell the operator what to do", blocked.GetError())
	}
	if len(e.events("blocked after 2 attempts")) == 0 {
		t.Errorf("no event for the blocked operation")
	}
	if got := e.simRunning("web"); len(got) != 0 {
		t.Errorf("web runs on %v while its failover is blocked", got)
	}
	// A cancel of a blocked operation is allowed, a retry too; retry it once the replica is ready.
	if _, err := e.client().CancelOperation(clustertest.Ctx(t), &apiv1.GetRequest{Name: "op-none"}); err == nil {
		t.Errorf("cancel of an unknown operation succeeded")
	}
	if err := os.WriteFile(ok, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client().RetryOperation(clustertest.Ctx(t), &apiv1.GetRequest{Name: op.GetId()}); err != nil {
		t.Fatal(err)
	}
	e.waitOperation(op.GetId(), 20*time.Second, func(o *apiv1.Operation) error {
		if o.GetPhase() != "done" {
			return fmt.Errorf("phase %s (%s)", o.GetPhase(), o.GetError())
		}
		return nil
	})
	e.waitOnline("web", "west", 10*time.Second)
}

// A member that dies while a start runs on it does not stall the workload for start_timeout:
// the wait ends when the member is declared down and the next candidate starts it (issue 11,
// case 4: 300 s in 'starting' with no error).
func TestController_TargetDiesMidStart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{members: []string{"east", "west"}, groups: []string{"web"},
		startTimeOn: map[string]time.Duration{"east": time.Minute},
		tune:        func(cfg *config.Config) { cfg.Controller.StartTimeout = 5 * time.Minute }})
	op := e.activeOperation("web", 15*time.Second)
	e.waitOperation(op.GetId(), 15*time.Second, func(o *apiv1.Operation) error {
		if o.GetPhase() != "starting" || o.GetTargetMember() != "east" {
			return fmt.Errorf("phase %s on %s", o.GetPhase(), o.GetTargetMember())
		}
		return nil
	})
	if w := e.workload("web"); w.GetActiveOperationId() != op.GetId() || w.GetActiveOperationPhase() != "starting" {
		t.Errorf("workload shows operation %q (%q), want %s (starting)", w.GetActiveOperationId(), w.GetActiveOperationPhase(), op.GetId())
	}
	if err := e.sim.ClusterDown("east"); err != nil {
		t.Fatal(err)
	}
	e.waitHealth("east", "down", 20*time.Second)
	done := e.waitOperation(op.GetId(), 10*time.Second, func(o *apiv1.Operation) error {
		if o.GetPhase() != "done" {
			return fmt.Errorf("phase %s on %s: %s", o.GetPhase(), o.GetTargetMember(), o.GetError())
		}
		return nil
	})
	if done.GetTargetMember() != "west" {
		t.Errorf("operation done on %s, want west", done.GetTargetMember())
	}
	e.waitOnline("web", "west", 5*time.Second)
}

// A planned move whose target dies mid-start goes back to its source and fails: it is never
// recorded as a move that did not happen (issue 11, case 4: "east -> east" reported as done).
func TestController_PlannedMoveTargetDiesMidStart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{members: []string{"east", "west"}, groups: []string{"web"},
		startTimeOn: map[string]time.Duration{"west": time.Minute},
		tune:        func(cfg *config.Config) { cfg.Controller.StartTimeout = 5 * time.Minute }})
	e.waitOnline("web", "east", 15*time.Second)
	op, err := e.client().MoveWorkload(clustertest.Ctx(t), &apiv1.MoveWorkloadRequest{Name: "web", ToMember: "west"})
	if err != nil {
		t.Fatal(err)
	}
	e.waitOperation(op.GetId(), 15*time.Second, func(o *apiv1.Operation) error {
		if o.GetPhase() != "starting" {
			return fmt.Errorf("phase %s", o.GetPhase())
		}
		return nil
	})
	if err := e.sim.ClusterDown("west"); err != nil {
		t.Fatal(err)
	}
	got := e.waitOperation(op.GetId(), 20*time.Second, func(o *apiv1.Operation) error {
		if o.GetPhase() != "failed" && o.GetPhase() != "done" {
			return fmt.Errorf("phase %s on %s", o.GetPhase(), o.GetTargetMember())
		}
		return nil
	})
	if got.GetPhase() != "failed" || !strings.Contains(got.GetError(), "restarted on its source east") {
		t.Errorf("operation %s %s: %q, want failed with the restart on east", got.GetPhase(), got.GetTargetMember(), got.GetError())
	}
	e.waitOnline("web", "east", 10*time.Second)
}
