package controller_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/internal/clustertest"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

// How the controller handles what real ECX does (issue 12): it believes a group stopped only when
// it reads it back Offline, it never starts a group elsewhere while a copy failed to stop or
// cannot be read, it acts on servers and groups and never on monitors, and every start names its
// server with exactly the documented field.

// operations returns every operation of workload.
func (e *env) operations(workload string) []*apiv1.Operation {
	e.t.Helper()
	resp, err := e.client().ListOperations(clustertest.Ctx(e.t), &apiv1.ListRequest{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []*apiv1.Operation
	for _, op := range resp.GetOperations() {
		if op.GetWorkload() == workload {
			out = append(out, op)
		}
	}
	return out
}

// waitEvent waits until an event contains substr.
func (e *env) waitEvent(substr string, timeout time.Duration) {
	e.t.Helper()
	testutil.Eventually(e.t, timeout, func() error {
		if len(e.events(substr)) == 0 {
			return fmt.Errorf("no event contains %q", substr)
		}
		return nil
	})
}

// An ECX that accepts a stop (HTTP 200, code 0) and does nothing must not fence anything: the
// move waits in fencing, the group never starts on the target while it runs on the source, and
// the move completes once stops work again.
func TestController_FencingNeverBelievesAStopAnswer(t *testing.T) {
	forEachErrorStyle(t, testFencingNeverBelievesAStopAnswer)
}

func testFencingNeverBelievesAStopAnswer(t *testing.T, style string) {
	e := newEnv(t, envOpts{errorStyle: style, members: []string{"east", "west"}, groups: []string{"web"}, proxyREST: true,
		tune: func(cfg *config.Config) { cfg.Controller.StopTimeout = time.Second }})
	e.waitOnline("web", "east", 15*time.Second)
	e.setLyingStops("east", true)
	if _, err := e.client().MoveWorkload(clustertest.Ctx(t), &apiv1.MoveWorkloadRequest{Name: "web", ToMember: "west"}); err != nil {
		t.Fatal(err)
	}
	e.waitEvent("was never read back Offline", 20*time.Second)
	if got := e.simRunning("web"); len(got) != 1 || got[0] != "east" {
		t.Fatalf("the stop was believed: web runs on %v", got)
	}
	if w := e.workload("web"); w.GetMember() != "east" {
		t.Fatalf("the placement moved to %s while web still runs on east", w.GetMember())
	}
	stops := 0
	for _, r := range e.restRequests("east") {
		if r.Method == "POST" && r.Path == "/api/v1/groups/web/stop" {
			stops++
		}
	}
	if stops == 0 {
		t.Fatalf("no stop was sent to east")
	}
	e.setLyingStops("east", false)
	e.waitOnline("web", "west", 20*time.Second)
}

// A group that fails to stop ("Offline Failure") is failed over only once a stop is read back
// Offline: until then nothing starts it elsewhere.
func TestController_GroupThatFailsToStopIsNotStartedElsewhere(t *testing.T) {
	forEachErrorStyle(t, testGroupThatFailsToStopIsNotStartedElsewhere)
}

func testGroupThatFailsToStopIsNotStartedElsewhere(t *testing.T, style string) {
	e := newEnv(t, envOpts{errorStyle: style, members: []string{"east", "west"}, groups: []string{"web"}})
	e.waitOnline("web", "east", 15*time.Second)
	if err := e.sim.SetFailStop("east", "web", true); err != nil {
		t.Fatal(err)
	}
	stopGroup(t, e, "east", "web") // an operator's stop, which fails: Offline Failure on east
	e.waitEvent("group web is Offline Failure on east", 20*time.Second)
	e.waitEvent("failed to stop there and may still hold its resources", 20*time.Second)
	if got := e.simRunning("web"); len(got) != 1 || got[0] != "east" {
		t.Fatalf("web runs on %v while it failed to stop on east", got)
	}
	if err := e.sim.SetFailStop("east", "web", false); err != nil {
		t.Fatal(err)
	}
	e.waitOnline("web", "west", 20*time.Second)
}

// A server whose state ECX cannot read makes its member degraded and the workload it runs
// "Unknown": the controller starts no operation, and the workload is Online again once the
// state can be read.
func TestController_UnknownStatusIsNotActedOn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{members: []string{"east", "west"}, groups: []string{"web"}})
	w := e.waitOnline("web", "east", 15*time.Second)
	ops := len(e.operations("web"))
	if err := e.sim.SetServerStatusUnknown("east", w.GetServer(), true); err != nil {
		t.Fatal(err)
	}
	e.waitHealth("east", "degraded", 10*time.Second)
	testutil.Eventually(t, 10*time.Second, func() error {
		if got := e.workload("web"); got.GetStatus() != "Unknown" {
			return fmt.Errorf("workload is %s", got.GetStatus())
		}
		return nil
	})
	// Well past the recovery grace nothing is done about it.
	deadline := time.Now().Add(2 * recoveryGrace)
	for time.Now().Before(deadline) {
		if n := len(e.operations("web")); n != ops {
			t.Fatalf("an operation was started for a workload whose status is Unknown: %v", e.operations("web"))
		}
		if got := e.simRunning("web"); len(got) != 1 || got[0] != "east" {
			t.Fatalf("web runs on %v", got)
		}
		time.Sleep(pollInterval)
	}
	if err := e.sim.SetServerStatusUnknown("east", w.GetServer(), false); err != nil {
		t.Fatal(err)
	}
	e.waitHealth("east", "up", 10*time.Second)
	e.waitOnline("web", "east", 10*time.Second)
}

// After a power failure ECX's monitors show the server Offline at once while its servers and
// groups stay Online until the heartbeat timeout. The controller reads servers and groups only:
// it starts nothing in that window, and afterwards it follows ECX's own failover inside the
// member without an operation of its own.
func TestController_ActsOnServersAndGroupsNotMonitors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{members: []string{"east", "west"}, groups: []string{"web"}, proxyREST: true,
		heartbeatTimeoutOn: map[string]time.Duration{"east": 3 * time.Second}})
	w := e.waitOnline("web", "east", 15*time.Second)
	ops := len(e.operations("web"))
	if err := e.sim.ServerDown("east", w.GetServer()); err != nil {
		t.Fatal(err)
	}
	other := "east-1"
	if w.GetServer() == other {
		other = "east-2"
	}
	// Until ECX has failed web over inside east, the masters must do nothing.
	testutil.Eventually(t, 30*time.Second, func() error {
		if n := len(e.operations("web")); n != ops {
			t.Fatalf("an operation was started during the heartbeat timeout: %v", e.operations("web"))
		}
		if got := e.workload("web"); got.GetMember() != "east" {
			t.Fatalf("web was placed on %s", got.GetMember())
		}
		got := e.workload("web")
		if got.GetStatus() != "Online" || got.GetServer() != other {
			return fmt.Errorf("web is %s on east/%s", got.GetStatus(), got.GetServer())
		}
		return nil
	})
	if n := len(e.operations("web")); n != ops {
		t.Errorf("ECX's own failover became a cset operation: %v", e.operations("web"))
	}
	for _, m := range []string{"east", "west"} {
		for _, r := range e.restRequests(m) {
			if strings.Contains(r.Path, "/monitors") {
				t.Fatalf("the masters read monitors: %s %s", r.Method, r.Path)
			}
		}
	}
}

// Every start the controller sends names the server in exactly the documented field, {"target":
// server}, and nothing else: ECX ignores unknown fields, so {"server": ...} would start the group
// wherever ECX likes. Stops carry no body.
func TestController_StartsSendExactlyTheTarget(t *testing.T) {
	forEachErrorStyle(t, testStartsSendExactlyTheTarget)
}

func testStartsSendExactlyTheTarget(t *testing.T, style string) {
	e := newEnv(t, envOpts{errorStyle: style, members: []string{"east", "west"}, groups: []string{"web"}, proxyREST: true})
	e.waitOnline("web", "east", 15*time.Second)
	if _, err := e.client().MoveWorkload(clustertest.Ctx(t), &apiv1.MoveWorkloadRequest{Name: "web", ToMember: "west"}); err != nil {
		t.Fatal(err)
	}
	e.waitOnline("web", "west", 15*time.Second)
	for _, m := range []string{"east", "west"} {
		starts := 0
		for _, r := range e.restRequests(m) {
			switch {
			case r.Method != "POST":
			case r.Path == "/api/v1/groups/web/start":
				starts++
				var body map[string]any
				if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
					t.Fatalf("start body %q: %v", r.Body, err)
				}
				target, _ := body["target"].(string)
				if len(body) != 1 || !slices.Contains([]string{m + "-1", m + "-2"}, target) || r.Body != `{"target":"`+target+`"}` {
					t.Errorf("start on %s sent %q, want exactly {\"target\":\"<a server of %s>\"}", m, r.Body, m)
				}
			case r.Path == "/api/v1/groups/web/stop":
				if r.Body != "" {
					t.Errorf("stop on %s sent the body %q", m, r.Body)
				}
			default:
				t.Errorf("unexpected operation %s %s %q on %s", r.Method, r.Path, r.Body, m)
			}
		}
		if starts == 0 {
			t.Errorf("no start was sent to %s", m)
		}
	}
}
