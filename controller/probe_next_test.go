package controller_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/ecxsim"
	"github.com/cset-project/cset/internal/clustertest"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

// A failover from a dead member whose first target fails the probe goes on to the next
// candidate: east runs web and dies; west, the next candidate, starts it and ECX reports it
// Online there, but its service refuses every connection, so no probe passes within the grace.
// The group is stopped on west, the operation moves on to north, and web ends Online on north
// with DNS answering north's address: never west's.
func TestProbe_FailoverGoesOnToTheNextCandidateWhenTheFirstTargetIsUnreachable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{members: []string{"east", "west", "north"}, groups: []string{"web"}, probe: httpProbe("keep", false), dns: true})
	e.waitOnline("web", "east", 15*time.Second)
	east, west, north := e.address(0, 0), e.address(1, 0), e.address(2, 0)
	e.waitDNS("web", east, 10*time.Second)

	// ECX will report web Online on west, but clients cannot connect to it there.
	e.setService("west", "web", ecxsim.ServiceRefuse)
	watch := e.watchDNS("web")
	if err := e.sim.ClusterDown("east"); err != nil {
		t.Fatal(err)
	}
	e.waitHealth("east", "down", 20*time.Second)
	// waitOnline also requires that the simulator runs web on north alone: stopped on west.
	w := e.waitOnline("web", "north", 30*time.Second)
	e.waitDNS("web", north, 10*time.Second)
	watch.stop()
	if got := watch.answers(); slices.Contains(got, west) {
		t.Errorf("DNS answered the unreachable target %s during the failover (answers seen: %q)", west, got)
	}
	if r := w.GetProbeResult(); r.GetReachability() != "reachable" {
		t.Errorf("probe result on north %v, want reachable", r)
	}

	op, err := e.client().GetOperation(clustertest.Ctx(t), &apiv1.GetRequest{Name: w.GetOperationId()})
	if err != nil {
		t.Fatal(err)
	}
	if op.GetReason() != "failover" || op.GetSourceMember() != "east" || op.GetTargetMember() != "north" || op.GetPhase() != "done" || op.GetAttempts() < 1 {
		t.Errorf("operation %s: %s from %q to %q, phase %s, %d failed attempts; want a done failover from east to north after a failed attempt",
			op.GetId(), op.GetReason(), op.GetSourceMember(), op.GetTargetMember(), op.GetPhase(), op.GetAttempts())
	}
	var onWest []*apiv1.Event
	for _, ev := range e.events("clients cannot reach it") {
		if ev.GetMember() == "west" && ev.GetOperationId() == op.GetId() {
			onWest = append(onWest, ev)
		}
	}
	if len(onWest) == 0 || !strings.Contains(onWest[0].GetMessage(), "connection refused") || !strings.Contains(onWest[0].GetMessage(), "stopping it there") {
		t.Errorf("events of operation %s on west: %v; want one saying its probe failed (connection refused) and that it is stopped there", op.GetId(), onWest)
	}

	// ECX really started web on west (the probe, not ECX, rejected it), and it is stopped there:
	// its one interval on west is closed, and ECX reports it Offline on west.
	var westRecs []ecxsim.AuditRecord
	for _, r := range e.sim.Audit() {
		if r.Group == "web" && r.Cluster == "west" {
			westRecs = append(westRecs, r)
		}
	}
	if len(westRecs) == 0 {
		t.Fatal("the audit shows no start of web on west: the failover did not try west first")
	}
	for _, r := range westRecs {
		if r.OnlineUntil == nil {
			t.Errorf("web is still online on west: %v", r)
		}
	}
	for _, c := range e.sim.State().Clusters {
		for _, g := range c.Groups {
			if c.Name == "west" && g.Name == "web" && (g.Status != "Offline" || g.RunningOn != "") {
				t.Errorf("ECX reports web %s on west (running on %q), want Offline", g.Status, g.RunningOn)
			}
		}
	}
}
