package server

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/ecxclient"
	"github.com/cset-project/cset/fsm"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"github.com/cset-project/cset/witness"
)

// The evaluation of the member checks on hand-built inputs, for what the simulator-backed tests
// (api_member_check_test.go) cannot set up steadily: the controller resolves a group online in
// two members within a poll, and the witness and guard answers depend on timing.

// evalInput is member east (servers east-1, east-2) whose two servers both answer, reporting
// group g of workload web (candidate east) with the given status and current server.
func evalInput(status, current string) *checkInput {
	st, _ := ecxclient.ParseStatus(status)
	view := func(server string) ecxView {
		return ecxView{
			server: server, url: "http://" + server + ":29009",
			cluster: ecxclient.Cluster{Name: "east", Status: ecxclient.StatusOnline, RawStatus: "Online"},
			servers: []ecxclient.Server{{Name: "east-1", Status: ecxclient.StatusOnline, RawStatus: "Online"}, {Name: "east-2", Status: ecxclient.StatusOnline, RawStatus: "Online"}},
			groups:  []ecxclient.Group{{Name: "g", Status: st, RawStatus: status, Current: current}},
		}
	}
	east := &fsmv1.Member{Name: "east", Health: fsm.HealthUp, HeartbeatTimeoutMs: 5000,
		Servers: []*fsmv1.MemberServer{{Name: "east-1", Url: "http://east-1:29009"}, {Name: "east-2", Url: "http://east-2:29009"}}}
	return &checkInput{
		member:     east,
		views:      []ecxView{view("east-1"), view("east-2")},
		workloads:  []*fsmv1.Workload{{Name: "web", Group: "g", Candidates: []string{"east", "west"}}},
		others:     []*fsmv1.Member{east},
		active:     map[string]*fsmv1.Operation{},
		fenceAfter: 15 * time.Second,
		self:       "m1",
	}
}

func findChecks(checks []*apiv1.MemberCheck, check string) []string {
	var out []string
	for _, c := range checks {
		if c.Check == check {
			out = append(out, fmt.Sprintf("%s %s: %s", c.Result, c.Server, c.Message))
		}
	}
	return out
}

// wantOne asserts that exactly one check of that name exists, with that result and every
// substring of msg in its message.
func wantOne(t *testing.T, checks []*apiv1.MemberCheck, check, result string, msg ...string) {
	t.Helper()
	got := findChecks(checks, check)
	if len(got) != 1 || !strings.HasPrefix(got[0], result+" ") {
		t.Fatalf("%s checks %q, want one %s", check, got, result)
	}
	for _, m := range msg {
		if !strings.Contains(got[0], m) {
			t.Errorf("%s check %q lacks %q", check, got[0], m)
		}
	}
}

func TestMemberCheckEval_GroupInTwoMembers(t *testing.T) {
	in := evalInput("Online", "east-1")
	in.others = append(in.others, &fsmv1.Member{Name: "west", Health: fsm.HealthUp,
		Groups: []*fsmv1.ObservedGroup{{Name: "g", Status: "Online", Current: "west-2"}}})
	got := in.evaluate()
	wantOne(t, got, "group-single", checkFail, "runs on east/east-1 and, as the leader last observed, on west/west-2")
	if s := findChecks(got, "group-start"); len(s) != 0 {
		t.Errorf("a copy in two members is also reported as started outside cset: %q", s)
	}
	if !anyFailed(got) {
		t.Error("the check passes with a group online in two members")
	}

	// While an operation of the workload runs, the other copy may be the one it is fencing.
	in.active["web"] = &fsmv1.Operation{Id: "op-1", Workload: "web", Phase: fsm.PhaseFencing, TargetMember: "east"}
	wantOne(t, in.evaluate(), "group-single", checkWarn)

	// A member declared down, or one whose copy is Offline, runs nothing.
	delete(in.active, "web")
	in.others[1].Health = fsm.HealthDown
	if s := findChecks(in.evaluate(), "group-single"); len(s) != 0 {
		t.Errorf("a copy on a member that is down counts: %q", s)
	}
	in.others[1].Health, in.others[1].Groups[0].Status = fsm.HealthUp, "Offline"
	if s := findChecks(in.evaluate(), "group-single"); len(s) != 0 {
		t.Errorf("an Offline copy counts: %q", s)
	}
}

func TestMemberCheckEval_GroupStartedOutsideCset(t *testing.T) {
	in := evalInput("Online", "east-2")
	wantOne(t, in.evaluate(), "group-start", checkWarn, "group g runs on east/east-2, but cset did not start it there (workload web is not placed anywhere)")

	in.workloads[0].Placement = &fsmv1.Placement{Member: "east", Server: "east-2", Status: "Online"}
	if s := findChecks(in.evaluate(), "group-start"); len(s) != 0 {
		t.Errorf("a group placed here by cset is reported as started outside it: %q", s)
	}
	// Being started here by an operation of cset counts as placed here.
	in.workloads[0].Placement = &fsmv1.Placement{Member: "west", Server: "west-1", Status: "Offline"}
	in.active["web"] = &fsmv1.Operation{Id: "op-2", Workload: "web", Phase: fsm.PhaseStarting, TargetMember: "east"}
	if s := findChecks(in.evaluate(), "group-start"); len(s) != 0 {
		t.Errorf("a group an operation starts here is reported as started outside cset: %q", s)
	}
	delete(in.active, "web")
	wantOne(t, in.evaluate(), "group-start", checkWarn, "workload web is placed on west")
}

func TestMemberCheckEval_GroupStatus(t *testing.T) {
	got := evalInput("Online Failure", "east-1").evaluate()
	if s := findChecks(got, "group-status"); len(s) != 2 || !strings.Contains(s[0], `reports group g "Online Failure"`) {
		t.Errorf("group-status checks %q, want a warning from each server", s)
	}
	if anyFailed(got) {
		t.Errorf("a failed group fails the member check:%v", findChecks(got, "group"))
	}
	if s := findChecks(evalInput("Offline", "").evaluate(), "group-status"); len(s) != 0 {
		t.Errorf("an Offline group has status warnings: %q", s)
	}
}

// With several witnesses the check names each witness that does not hear the member.
func TestMemberCheckEval_SeveralWitnesses(t *testing.T) {
	in := evalInput("Offline", "")
	in.witness = &witnessSeen{seen: witness.ClusterSeen{Cluster: "east",
		Servers: []witness.ServerSeen{{Server: "east-1", SinceHeartbeat: 800 * time.Millisecond}, {Server: "east-2", SinceHeartbeat: time.Second}},
		Witnesses: []witness.WitnessSeen{
			{URL: "http://w1", LastHeard: 800 * time.Millisecond},
			{URL: "http://w2", LastHeard: 40 * time.Second},
			{URL: "http://w3", Err: fmt.Errorf("%w: east", witness.ErrNeverSeen)},
		}}}
	got := findChecks(in.evaluate(), "witness")
	for _, want := range []string{
		"warn : witness http://w2 last heard east 40s ago, longer than fence_after (15s)",
		"warn : witness http://w3 has never received a heartbeat for cluster \"east\"",
		"ok east-1: the witness heard server east-1 800ms ago",
	} {
		if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, want) }) {
			t.Errorf("witness checks %q lack %q", got, want)
		}
	}
}

func TestMemberCheckEval_Witness(t *testing.T) {
	in := evalInput("Offline", "")
	in.witness = &witnessSeen{seen: witness.ClusterSeen{Cluster: "east", Servers: []witness.ServerSeen{
		{Server: "east-1", SinceHeartbeat: 800 * time.Millisecond}, {Server: "east-9", SinceHeartbeat: time.Second}}}}
	got := findChecks(in.evaluate(), "witness")
	want := []string{"ok east-1: the witness heard server east-1 800ms ago", "warn east-2: the witness has no heartbeat from server east-2"}
	if len(got) != 2 || !strings.HasPrefix(got[0], want[0]) || !strings.HasPrefix(got[1], want[1]) {
		t.Errorf("witness checks %q, want %q", got, want)
	}
	in.witness.seen.Servers[0].SinceHeartbeat = 20 * time.Second
	if got := findChecks(in.evaluate(), "witness"); !strings.HasPrefix(got[0], "warn east-1: the witness last heard server east-1 20s ago, longer than fence_after (15s)") {
		t.Errorf("stale witness heartbeat: %q", got)
	}
	in.witness = &witnessSeen{err: fmt.Errorf("%w: east", witness.ErrNeverSeen)}
	wantOne(t, in.evaluate(), "witness", checkWarn, `never received a heartbeat for cluster "east"`)
	in.witness = &witnessSeen{err: errors.New("witness: cluster east: connection refused")}
	wantOne(t, in.evaluate(), "witness", checkWarn, "could not be asked", "connection refused")
	in.witness = nil
	if got := findChecks(in.evaluate(), "witness"); len(got) != 0 {
		t.Errorf("witness checks without a witness: %q", got)
	}
}

func TestMemberCheckEval_Guards(t *testing.T) {
	in := evalInput("Offline", "")
	in.guards = &guardSeen{running: true, leading: 90 * time.Second, heard: map[string]bool{"east-1": true}}
	got := findChecks(in.evaluate(), "guard")
	if len(got) != 2 || !strings.HasPrefix(got[0], "ok east-1") || !strings.HasPrefix(got[1], "warn east-2: no heartbeat from a guard of server east-2 in the 1m30s that master m1 has led") {
		t.Errorf("guard checks %q", got)
	}
	in.guards = &guardSeen{}
	wantOne(t, in.evaluate(), "guard", checkWarn, "not taking guard heartbeats yet")
}

// TestMemberCheckEval_NothingAnswered: with no server answering, only the API failures and the
// checklist remain; nothing is claimed about the cluster, its servers or its groups.
func TestMemberCheckEval_NothingAnswered(t *testing.T) {
	in := evalInput("Offline", "")
	for i := range in.views {
		in.views[i].err = &ecxclient.UnreachableError{Member: "east", Op: "GET /api/v1/cluster", Attempts: []error{errors.New("connection refused")}}
	}
	got := in.evaluate()
	var names []string
	for _, c := range got {
		names = append(names, c.Check+"/"+c.Result)
	}
	want := "api/fail api/fail heartbeat-timeout/ok manual-start/manual failover-policy/manual"
	if strings.Join(names, " ") != want {
		t.Errorf("checks %q, want %q", names, want)
	}
	wantOne(t, got[:1], "api", checkFail, "server east-1 does not answer at http://east-1:29009", "API service is enabled")
}
