package controller_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/internal/clustertest"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

// A workload with failback: auto returns to its first candidate once that member has been up
// for failback_after, by an operation with reason failback; the damping limit of automatic
// moves per hour then holds the next failback, with an event that says so.
func TestFailback_ReturnsOnceThenTheHourlyLimitHoldsIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{members: []string{"east", "west"}, groups: []string{"web"}, failbackAfter: time.Second,
		tune: func(cfg *config.Config) {
			cfg.Controller.MaxAutoMovesPerHour = 1
			cfg.Controller.AutoMoveQuiet = 500 * time.Millisecond
		}})
	e.waitOnline("web", "east", 20*time.Second)
	if w := e.workload("web"); w.GetFailback() != "auto" || w.GetFailbackAfterSeconds() != 1 {
		t.Fatalf("web failback %q after %ds, want auto after 1s", w.GetFailback(), w.GetFailbackAfterSeconds())
	}

	// East dies: web fails over to west; east returns: web goes back by itself.
	if err := e.sim.ClusterDown("east"); err != nil {
		t.Fatal(err)
	}
	e.waitOnline("web", "west", 30*time.Second)
	if err := e.sim.ClusterUp("east"); err != nil {
		t.Fatal(err)
	}
	w := e.waitOnline("web", "east", 30*time.Second)
	op, err := e.client().GetOperation(clustertest.Ctx(t), &apiv1.GetRequest{Name: w.GetOperationId()})
	if err != nil {
		t.Fatal(err)
	}
	if op.GetReason() != "failback" || op.GetSourceMember() != "west" || op.GetTargetMember() != "east" {
		t.Errorf("web returned by %s from %s to %s, want failback from west to east", op.GetReason(), op.GetSourceMember(), op.GetTargetMember())
	}

	// Again: this time the limit of one automatic move per hour holds the failback.
	if err := e.sim.ClusterDown("east"); err != nil {
		t.Fatal(err)
	}
	e.waitOnline("web", "west", 30*time.Second)
	if err := e.sim.ClusterUp("east"); err != nil {
		t.Fatal(err)
	}
	e.waitHealth("east", "up", 20*time.Second)
	testutil.Eventually(t, 20*time.Second, func() error {
		for _, ev := range e.events("failback of web to east is held") {
			if strings.Contains(ev.GetMessage(), "max_auto_moves_per_hour") {
				return nil
			}
		}
		return fmt.Errorf("no event says the failback is held by the hourly limit")
	})
	if w := e.workload("web"); w.GetMember() != "west" {
		t.Errorf("web moved to %s although the hourly limit of automatic moves was reached", w.GetMember())
	}
}

// Rebalance moves workloads off a member above its fair share, and a dry run only shows them.
func TestRebalance_DryRunThenMoves(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{members: []string{"east", "west"}, groups: []string{"a1", "a2", "a3", "a4"}, size: 1})
	for _, g := range []string{"a1", "a2", "a3", "a4"} {
		e.waitOnline(g, "", 20*time.Second)
	}
	ctx := clustertest.Ctx(t)
	// Everything onto east by planned moves.
	for _, g := range []string{"a1", "a2", "a3", "a4"} {
		if e.workload(g).GetMember() == "east" {
			continue
		}
		if _, err := e.client().MoveWorkload(ctx, &apiv1.MoveWorkloadRequest{Name: g, ToMember: "east", Force: true}); err != nil {
			t.Fatal(err)
		}
		e.waitOnline(g, "east", 20*time.Second)
	}
	dry, err := e.client().Rebalance(ctx, &apiv1.RebalanceRequest{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !dry.GetDryRun() || len(dry.GetMoves()) != 2 {
		t.Fatalf("dry run planned %v, want 2 moves from east to west", dry.GetMoves())
	}
	for _, m := range dry.GetMoves() {
		if m.GetFromMember() != "east" || m.GetToMember() != "west" || m.GetOperationId() != "" || m.GetReason() == "" {
			t.Errorf("dry-run move %v, want east -> west with a reason and no operation", m)
		}
	}
	for _, g := range []string{"a1", "a2", "a3", "a4"} {
		if w := e.workload(g); w.GetMember() != "east" || w.GetActiveOperationId() != "" {
			t.Errorf("the dry run moved %s (on %s, operation %q)", g, w.GetMember(), w.GetActiveOperationId())
		}
	}
	done, err := e.client().Rebalance(ctx, &apiv1.RebalanceRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(done.GetMoves()) != 2 {
		t.Fatalf("rebalance started %v, want 2 moves", done.GetMoves())
	}
	for _, m := range done.GetMoves() {
		w := e.waitOnline(m.GetWorkload(), "west", 20*time.Second)
		if w.GetOperationId() != m.GetOperationId() {
			t.Errorf("%s was placed by %s, want the rebalance operation %s", m.GetWorkload(), w.GetOperationId(), m.GetOperationId())
		}
	}
	again, err := e.client().Rebalance(ctx, &apiv1.RebalanceRequest{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(again.GetMoves()) != 0 {
		t.Errorf("after the rebalance, a dry run still plans %v", again.GetMoves())
	}
}
