package controller_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/internal/testutil"
)

// A member that dies keeps its last observation (the group "Online" there) in the state; that
// stale view must never be taken for a second running copy once the workload failed over.
func TestController_StaleObservationOfDeadMemberIsNoConflict(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{members: []string{"east", "west"}, groups: []string{"web", "db"}})
	e.waitOnline("web", "", 15*time.Second)
	e.waitOnline("db", "", 15*time.Second)
	if err := e.sim.ClusterDown("east"); err != nil {
		t.Fatal(err)
	}
	e.waitHealth("east", "down", 20*time.Second)
	e.waitOnline("web", "west", 20*time.Second)
	e.waitOnline("db", "west", 20*time.Second)
	if ev := e.events("is running on"); len(ev) > 0 {
		t.Fatalf("a stale observation was taken for a conflict: %s", ev[0].GetMessage())
	}
}

// A group found running on two reachable members is stopped on the one that is not its placement.
func TestController_ConflictStopsTheExtraCopy(t *testing.T) {
	forEachErrorStyle(t, testConflictStopsTheExtraCopy)
}

func testConflictStopsTheExtraCopy(t *testing.T, style string) {
	e := newEnv(t, envOpts{errorStyle: style, members: []string{"east", "west"}, groups: []string{"web"}, plantedDoubleOnline: true})
	w := e.waitOnline("web", "east", 15*time.Second)
	startGroup(t, e, "west", "web", "west-1") // someone starts it by hand on west
	testutil.Eventually(t, 15*time.Second, func() error {
		if got := e.simRunning("web"); len(got) != 1 || got[0] != "east" {
			return errorf("web runs on %v", got)
		}
		return nil
	})
	if ev := e.events("is running on east and west"); len(ev) == 0 || !strings.Contains(ev[0].GetMessage(), "stopping it on west") {
		t.Errorf("no conflict event: %v", ev)
	}
	// The only double-online is the planted copy on west, and it was ended.
	for _, r := range e.sim.Audit() {
		if r.Group == "web" && r.Cluster == "west" && r.OnlineUntil == nil {
			t.Errorf("the planted copy on west is still open: %+v", r)
		}
	}
	if got := e.workload("web"); got.GetMember() != w.GetMember() {
		t.Errorf("placement changed to %s", got.GetMember())
	}
}

// A start was sent to a member that is then cut off from the masters (the witness still hears
// it): the operation must wait for it, not start the group on another member (found by the
// chaos suite, seeds 14 and 15, as a double-online).
func TestController_TargetCutOffDuringStartIsWaitedFor(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{members: []string{"east", "west"}, groups: []string{"web"}, startTime: 3 * time.Second})
	testutil.Eventually(t, 15*time.Second, func() error {
		for _, c := range e.sim.State().Clusters {
			for _, g := range c.Groups {
				if c.Name == "east" && g.Name == "web" && g.Status == "Online Pending" {
					return nil
				}
			}
		}
		return errorf("web is not starting on east yet")
	})
	if err := e.sim.Isolate("east"); err != nil {
		t.Fatal(err)
	}
	e.waitHealth("east", "partitioned", 10*time.Second)
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if got := e.simRunning("web"); len(got) > 1 || len(got) == 1 && got[0] != "east" {
			t.Fatalf("web started elsewhere while its start on east may still complete: %v", got)
		}
		time.Sleep(pollInterval)
	}
	if err := e.sim.Heal("east"); err != nil {
		t.Fatal(err)
	}
	e.waitOnline("web", "east", 15*time.Second)
}

// A conflicting copy that will not stop is stopped again after a backoff, and the conflict is
// reported once, not at every round (issue 11: the event and the stop repeated every poll).
func TestController_ConflictStopThatFailsBacksOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{members: []string{"east", "west"}, groups: []string{"web"}, plantedDoubleOnline: true})
	e.waitOnline("web", "east", 15*time.Second)
	if err := e.sim.SetFailStop("west", "web", true); err != nil {
		t.Fatal(err)
	}
	startGroup(t, e, "west", "web", "west-1") // someone starts it by hand on west
	testutil.Eventually(t, 15*time.Second, func() error {
		if ev := e.events("is running on east and west"); len(ev) == 0 {
			return errorf("no conflict found yet")
		}
		return nil
	})
	// Twenty rounds with a stop that fails each time: one event.
	holdFor(e, 20*pollInterval, func() error {
		if ev := e.events("is running on east and west"); len(ev) > 1 {
			return errorf("the conflict was reported %d times while its stop failed: %v", len(ev), ev[1].GetMessage())
		}
		return nil
	})
	if err := e.sim.SetFailStop("west", "web", false); err != nil {
		t.Fatal(err)
	}
	// The next stop after the backoff (at most 16 rounds) ends the copy on west.
	testutil.Eventually(t, 15*time.Second, func() error {
		if got := e.simRunning("web"); len(got) != 1 || got[0] != "east" {
			return errorf("web runs on %v", got)
		}
		return nil
	})
}
