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

// checkStartOrder checks, in the simulator's audit, that each workload of chain came Online on
// cluster at least one start time after the one before it: its start was sent only once its
// dependency was Online (started together they would come Online within milliseconds).
func checkStartOrder(t *testing.T, sim *ecxsim.Sim, cluster string, start time.Duration, chain ...string) {
	t.Helper()
	recs := sim.Audit()
	var prev time.Time
	for i, g := range chain {
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

// A three-level chain (app depends on api, api on db) starts in dependency order, and so does
// its failover when its member dies: each start waits until its dependency is Online on the
// new member, while an independent workload fails over at once. The audit stays clean.
func TestDependsOn_ChainStartsAndFailsOverInOrder(t *testing.T) {
	t.Parallel()
	const start = 400 * time.Millisecond
	e := newEnv(t, envOpts{members: []string{"east", "west"}, groups: []string{"db", "api", "app", "batch"}, startTime: start,
		dependsOn: map[string][]string{"api": {"db"}, "app": {"api"}}})
	for _, g := range []string{"db", "api", "app", "batch"} {
		e.waitOnline(g, "", 20*time.Second)
	}
	first := e.workload("db").GetMember()
	for _, g := range []string{"api", "app"} {
		if m := e.workload(g).GetMember(); m != first {
			t.Skipf("the scheduler spread the chain over %s and %s; this test needs it on one member", first, m)
		}
	}
	checkStartOrder(t, e.sim, first, start, "db", "api", "app")
	if w := e.workload("app"); !slices.Equal(w.GetDependsOn(), []string{"api"}) {
		t.Errorf("app depends_on %v, want [api]", w.GetDependsOn())
	}

	// Everything onto one member, then kill it.
	other := "west"
	if first == "west" {
		other = "east"
	}
	if m := e.workload("batch").GetMember(); m != first {
		if _, err := e.client().MoveWorkload(clustertest.Ctx(t), &apiv1.MoveWorkloadRequest{Name: "batch", ToMember: first, Force: true}); err != nil {
			t.Fatal(err)
		}
		e.waitOnline("batch", first, 20*time.Second)
	}
	if err := e.sim.ClusterDown(first); err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"db", "api", "app", "batch"} {
		e.waitOnline(g, other, 30*time.Second)
	}
	checkStartOrder(t, e.sim, other, start, "db", "api", "app")
	recs := e.sim.Audit()
	db, _ := onlineFrom(recs, other, "db")
	batch, _ := onlineFrom(recs, other, "batch")
	if d := batch.Sub(db); d > start || d < -start {
		t.Errorf("the independent batch came Online %v from db: it should fail over in parallel with it", d)
	}
	if len(e.events("waits: waiting for its dependency")) == 0 {
		t.Error("no event says that a workload waited for its dependency")
	}
}

// Stops run the other way round: with both desired offline, the dependent stops first.
func TestDependsOn_StopsInReverseOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{members: []string{"east", "west"}, groups: []string{"adb", "web"}, dependsOn: map[string][]string{"web": {"adb"}}})
	e.waitOnline("adb", "", 20*time.Second)
	e.waitOnline("web", "", 20*time.Second)
	if e.workload("web").GetMember() != e.workload("adb").GetMember() {
		t.Skip("the scheduler put web and adb on different members; this test needs them on one")
	}
	member := e.workload("adb").GetMember()
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
