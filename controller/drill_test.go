package controller_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/cset-project/cset/internal/clustertest"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

// A drill predicts without changing anything; executed, it evacuates the member as predicted:
// every workload lands where the dry prediction said, dependents leave before what they
// depend on, and the member ends draining.
func TestDrill_PredictionMatchesTheExecution(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{members: []string{"east", "west", "north"}, groups: []string{"db", "app", "batch"}, size: 1,
		dependsOn: map[string][]string{"app": {"db"}}})
	ctx := clustertest.Ctx(t)
	for _, g := range []string{"db", "app", "batch"} {
		e.waitOnline(g, "", 20*time.Second)
		if e.workload(g).GetMember() != "east" {
			if _, err := e.client().MoveWorkload(ctx, &apiv1.MoveWorkloadRequest{Name: g, ToMember: "east", Force: true}); err != nil {
				t.Fatal(err)
			}
			e.waitOnline(g, "east", 20*time.Second)
		}
	}
	dry, err := e.client().Drill(ctx, &apiv1.DrillRequest{Members: []string{"east"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(dry.GetSteps()) != 3 || dry.GetDetectionMs() != fenceAfter.Milliseconds() || dry.GetExpectedMs() < dry.GetDetectionMs() {
		t.Fatalf("dry drill %v", dry)
	}
	wave := map[string]uint32{}
	for _, s := range dry.GetSteps() {
		wave[s.GetWorkload()] = s.GetWave()
		if s.GetToMember() == "" || s.GetToMember() == "east" {
			t.Errorf("dry drill sends %s to %q (%s)", s.GetWorkload(), s.GetToMember(), s.GetReason())
		}
	}
	if wave["app"] <= wave["db"] {
		t.Errorf("after a loss app (wave %d) must start after db (wave %d)", wave["app"], wave["db"])
	}
	if m, err := e.client().GetMember(ctx, &apiv1.GetRequest{Name: "east"}); err != nil || m.GetMember().GetAdmin() != "active" {
		t.Fatalf("a dry drill changed east: %v %v", m.GetMember().GetAdmin(), err)
	}

	run, err := e.client().Drill(ctx, &apiv1.DrillRequest{Members: []string{"east"}, Execute: true})
	if err != nil {
		t.Fatal(err)
	}
	if !run.GetExecuted() || run.GetDetectionMs() != 0 {
		t.Errorf("executed drill %v", run)
	}
	predicted := map[string]string{}
	for _, s := range run.GetSteps() {
		predicted[s.GetWorkload()] = s.GetToMember()
		wave[s.GetWorkload()] = s.GetWave()
	}
	if wave["app"] >= wave["db"] {
		t.Errorf("in an evacuation app (wave %d) must leave before db (wave %d)", wave["app"], wave["db"])
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		for g, to := range predicted {
			w := e.workload(g)
			if w.GetMember() == "east" || w.GetStatus() != "Online" || w.GetActiveOperationId() != "" {
				return fmt.Errorf("%s is %s on %s (operation %q)", g, w.GetStatus(), w.GetMember(), w.GetActiveOperationId())
			}
			if w.GetMember() != to {
				return fmt.Errorf("%s went to %s, the drill predicted %s", g, w.GetMember(), to)
			}
		}
		return nil
	})
	// Dependents first: app left east before db did.
	var appLeft, dbLeft time.Time
	for _, r := range e.sim.Audit() {
		if r.Cluster == "east" && r.OnlineUntil != nil {
			switch r.Group {
			case "app":
				appLeft = *r.OnlineUntil
			case "db":
				dbLeft = *r.OnlineUntil
			}
		}
	}
	if appLeft.IsZero() || dbLeft.Before(appLeft) {
		t.Errorf("db left east at %v, before app (%v), which depends on it", dbLeft, appLeft)
	}
	if m, _ := e.client().GetMember(ctx, &apiv1.GetRequest{Name: "east"}); m.GetMember().GetAdmin() != "draining" {
		t.Errorf("east is %s after the executed drill, want draining", m.GetMember().GetAdmin())
	}
	if _, err := e.client().Drill(ctx, &apiv1.DrillRequest{Members: []string{"south"}}); err == nil {
		t.Error("a drill of an unknown member was accepted")
	}
}
