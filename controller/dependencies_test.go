package controller_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cset-project/cset/ecxsim"
	"github.com/cset-project/cset/internal/clustertest"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

// onlineFrom returns when group last came Online on cluster, by the simulator's audit.
func onlineFrom(recs []ecxsim.AuditRecord, cluster, group string) (time.Time, bool) {
	var at time.Time
	for _, r := range recs {
		if r.Cluster == cluster && r.Group == group && r.OnlineFrom.After(at) {
			at = r.OnlineFrom
		}
	}
	return at, !at.IsZero()
}

// checkStartOrder checks, in the simulator's audit, that each workload of chain came Online
// (on the member it runs on now) at least one start time after the one before it: its start
// was sent only once its dependency was Online (started together they would come Online within
// milliseconds), wherever each runs.
func checkStartOrder(t *testing.T, e *env, start time.Duration, chain ...string) {
	t.Helper()
	recs := e.sim.Audit()
	var prev time.Time
	for i, g := range chain {
		cluster := e.workload(g).GetMember()
		at, ok := onlineFrom(recs, cluster, g)
		if !ok {
			t.Fatalf("%s never came Online on %s", g, cluster)
		}
		if i > 0 && at.Sub(prev) < start {
			t.Errorf("%s came Online on %s %v after its dependency %s, less than a start (%v): it was started before %s was Online", g, cluster, at.Sub(prev), chain[i-1], start, chain[i-1])
		}
		prev = at
	}
}

// A three-level chain (app depends on api, api on db) starts in dependency order, wherever the
// scheduler puts each, and so does its failover when its member dies: with the chain and an
// independent workload all on east, each start on west waits until its dependency is Online
// there, while the independent workload fails over at once. The audit stays clean.
func TestDependsOn_ChainStartsAndFailsOverInOrder(t *testing.T) {
	t.Parallel()
	const start = 400 * time.Millisecond
	e := newEnv(t, envOpts{members: []string{"east", "west"}, groups: []string{"db", "api", "app", "batch"}, startTime: start,
		dependsOn: map[string][]string{"api": {"db"}, "app": {"api"}}})
	for _, g := range []string{"db", "api", "app", "batch"} {
		e.waitOnline(g, "", 20*time.Second)
	}
	checkStartOrder(t, e, start, "db", "api", "app")
	if w := e.workload("app"); !slices.Equal(w.GetDependsOn(), []string{"api"}) {
		t.Errorf("app depends_on %v, want [api]", w.GetDependsOn())
	}

	// Everything onto east (moved there if the scheduler put it on west), then kill east: west
	// is the only member left, so the whole chain fails over there.
	for _, g := range []string{"db", "api", "app", "batch"} {
		placeOn(t, e, g, "east")
	}
	if err := e.sim.ClusterDown("east"); err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"db", "api", "app", "batch"} {
		e.waitOnline(g, "west", 30*time.Second)
	}
	checkStartOrder(t, e, start, "db", "api", "app")
	recs := e.sim.Audit()
	db, _ := onlineFrom(recs, "west", "db")
	batch, _ := onlineFrom(recs, "west", "batch")
	if d := batch.Sub(db); d > start || d < -start {
		t.Errorf("the independent batch came Online %v from db: it should fail over in parallel with it", d)
	}
	if len(e.events("waits: waiting for its dependency")) == 0 {
		t.Error("no event says that a workload waited for its dependency")
	}
}

// Stops run the other way round: with both desired offline, the dependent stops first.
// Both run on east (moved there when the scheduler put them elsewhere), so the order shows in
// one member's audit.
func TestDependsOn_StopsInReverseOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{members: []string{"east", "west"}, groups: []string{"adb", "web"}, dependsOn: map[string][]string{"web": {"adb"}}})
	// Both on east, wherever the scheduler put them.
	const member = "east"
	for _, g := range []string{"adb", "web"} {
		e.waitOnline(g, "", 20*time.Second)
		placeOn(t, e, g, member)
	}
	ctx := clustertest.Ctx(t)
	for _, g := range []string{"adb", "web"} { // adb first, and it sorts first: the controller must still stop web first
		if _, err := e.client().SetWorkloadDesired(ctx, &apiv1.SetWorkloadDesiredRequest{Name: g, Desired: "offline"}); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		if got := e.simRunning("adb"); len(got) != 0 {
			return fmt.Errorf("adb still runs on %v", got)
		}
		if got := e.simRunning("web"); len(got) != 0 {
			return fmt.Errorf("web still runs on %v", got)
		}
		return nil
	})
	recs := e.sim.Audit()
	var dbUntil, appUntil time.Time
	for _, r := range recs {
		if r.Cluster == member && r.OnlineUntil != nil {
			switch r.Group {
			case "adb":
				dbUntil = *r.OnlineUntil
			case "web":
				appUntil = *r.OnlineUntil
			}
		}
	}
	if dbUntil.Before(appUntil) {
		t.Errorf("adb went offline at %v, before web (%v), which depends on it", dbUntil, appUntil)
	}
}
