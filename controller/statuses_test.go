package controller

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cset-project/cset/ecxclient"
	"github.com/cset-project/cset/fsm"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
)

// The controller's reaction to every group status ECX reports (docs/ecx.md), pinned in one
// table: what counts as "may be running" for exclusivity, and what a placed workload's status
// makes the controller do.
func TestStatuses_ReactionToEveryGroupStatus(t *testing.T) {
	t.Parallel()
	c := New(configWith(func(c *Config) { c.GroupRecoveryGrace = time.Minute }), Deps{})
	now := time.Unix(1000, 0)
	for _, tc := range []struct {
		status  string
		running bool
		plan    string // the operation reason plan returns, "" for none
	}{
		{"Online", true, ""},
		{"Online Pending", true, ""},
		{"Offline Pending", true, ""},
		{"Online Failure", true, fsm.ReasonFailover},
		// A group that failed to stop may still hold its resources: running, and a failover
		// that must fence it first.
		{"Offline Failure", true, fsm.ReasonFailover},
		// ECX cannot read the server that runs it (or says something outside the group
		// vocabulary): it may run there, and nothing says it failed, so nothing is done.
		{"Unknown", true, ""},
		{"Error", true, ""},
		{"Unused", true, ""},
		{"Recovering", true, ""},
		// Offline within the recovery grace: nothing yet (past the grace: failover, below).
		{"Offline", false, ""},
	} {
		if got := fsm.MayRun(tc.status); got != tc.running {
			t.Errorf("fsm.MayRun(%q) = %v, want %v", tc.status, got, tc.running)
		}
		d := &fsm.Data{Members: map[string]*fsmv1.Member{
			"east": {Name: "east", Health: fsm.HealthUp, Admin: fsm.AdminActive, Groups: []*fsmv1.ObservedGroup{{Name: "g", Status: tc.status, Current: "east-1"}}},
		}}
		w := &fsmv1.Workload{Name: "w", Group: "g", Candidates: []string{"east"}, Desired: fsm.DesiredOnline, AutoFailover: true,
			Placement: &fsmv1.Placement{Member: "east", Server: "east-1", Status: tc.status}, OfflineSinceUnixNano: now.UnixNano()}
		if got := where(d, w); (len(got) == 1) != tc.running {
			t.Errorf("status %q: where = %v", tc.status, got)
		}
		op := c.plan(d, w, where(d, w), now)
		if got := op.GetReason(); got != tc.plan {
			t.Errorf("status %q: plan = %q, want %q", tc.status, got, tc.plan)
		}
	}
	// Offline past the recovery grace: ECX could not keep it alive in the member.
	d := &fsm.Data{Members: map[string]*fsmv1.Member{"east": {Name: "east", Health: fsm.HealthUp, Admin: fsm.AdminActive}}}
	w := &fsmv1.Workload{Name: "w", Group: "g", Candidates: []string{"east"}, Desired: fsm.DesiredOnline, AutoFailover: true,
		Placement: &fsmv1.Placement{Member: "east", Status: "Offline"}, OfflineSinceUnixNano: now.Add(-2 * time.Minute).UnixNano()}
	if op := c.plan(d, w, nil, now); op.GetReason() != fsm.ReasonFailover {
		t.Errorf("Offline past the grace: plan = %v, want a failover", op)
	}
}

// fakeState serves one fixed Data.
type fakeState struct{ d *fsm.Data }

func (s fakeState) Data() *fsm.Data                  { return s.d }
func (s fakeState) Member(name string) *fsmv1.Member { return s.d.Members[name] }
func (s fakeState) Watch() <-chan struct{}           { return make(chan struct{}) }

// recordingCommitter keeps every log entry.
type recordingCommitter struct {
	mu      sync.Mutex
	entries []*fsmv1.LogEntry
}

func (a *recordingCommitter) Commit(_ context.Context, e *fsmv1.LogEntry) (*fsm.Result, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.entries = append(a.entries, e)
	return &fsm.Result{}, nil
}

type openFence struct{}

func (openFence) Check(context.Context) error { return nil }

// recordingECX records the starts it is asked for and answers Online.
type recordingECX struct {
	mu     sync.Mutex
	starts []string // targets
}

func (e *recordingECX) ListServers(context.Context) ([]ecxclient.Server, error) { return nil, nil }
func (e *recordingECX) ListGroups(context.Context) ([]ecxclient.Group, error)   { return nil, nil }
func (e *recordingECX) StopGroup(context.Context, string, string) error         { return nil }
func (e *recordingECX) StopGroupAndWait(_ context.Context, g string, _ time.Duration) (ecxclient.Group, error) {
	return ecxclient.Group{Name: g, Status: ecxclient.StatusOffline}, nil
}
func (e *recordingECX) StartGroupAndWait(_ context.Context, g, target string, _ time.Duration) (ecxclient.Group, error) {
	e.mu.Lock()
	e.starts = append(e.starts, target)
	e.mu.Unlock()
	if target == "" {
		return ecxclient.Group{}, errors.New("started without a target")
	}
	return ecxclient.Group{Name: g, Status: ecxclient.StatusOnline, Current: target}, nil
}

// Every start names its server: an operation in phase starting without a target server goes back
// to pending (to choose one) instead of letting ECX pick a server (issue 12, item 9).
func TestPhaseStarting_NeverStartsWithoutATargetServer(t *testing.T) {
	t.Parallel()
	d := &fsm.Data{Members: map[string]*fsmv1.Member{
		"east": {Name: "east", Health: fsm.HealthUp, Admin: fsm.AdminActive, Servers: []*fsmv1.MemberServer{{Name: "east-1", Url: "http://127.0.0.1:1", Status: "Online"}}},
	}}
	ecx := &recordingECX{}
	app := &recordingCommitter{}
	c := New(defaultConfig(), Deps{State: fakeState{d}, Committer: app, Fence: openFence{},
		Clients: func(*fsmv1.Member, time.Duration) (ECX, error) { return ecx, nil }})
	w := &fsmv1.Workload{Name: "w", Group: "g", Candidates: []string{"east"}}
	op := &fsmv1.Operation{Id: "op1", Workload: "w", Reason: fsm.ReasonFailover, Phase: fsm.PhaseStarting, TargetMember: "east"}
	if err := c.phaseStarting(t.Context(), d, w, op); err != nil {
		t.Fatal(err)
	}
	if len(ecx.starts) != 0 {
		t.Fatalf("started with targets %q although none was chosen", ecx.starts)
	}
	if len(app.entries) != 1 {
		t.Fatalf("entries %v, want one advance", app.entries)
	}
	adv := app.entries[0].GetAdvanceOperation()
	if adv.GetPhase() != fsm.PhasePending || !strings.Contains(adv.GetError(), "no target server") {
		t.Errorf("advance %v, want back to pending with the reason", adv)
	}

	op.TargetServer = "east-1"
	if err := c.phaseStarting(t.Context(), d, w, op); err != nil {
		t.Fatal(err)
	}
	if len(ecx.starts) != 1 || ecx.starts[0] != "east-1" {
		t.Errorf("starts %q, want one on east-1", ecx.starts)
	}
}

// TestPlan_NoStartWhileACandidateIsUnseen: chaos seed 1 registered w09 again while member e3,
// removed with --force and added back, was not observed yet (health unknown) and still ran the
// group; the controller started it on e1 as well. A start waits until every candidate is
// observed or declared down, and then adopts the running copy.
func TestPlan_NoStartWhileACandidateIsUnseen(t *testing.T) {
	t.Parallel()
	c := New(configWith(func(c *Config) { c.GroupRecoveryGrace = time.Minute }), Deps{})
	now := time.Unix(1_700_000_000, 0)
	w := &fsmv1.Workload{Name: "w09", Group: "w09", Candidates: []string{"e3", "e1"}, Desired: fsm.DesiredOnline, AutoFailover: true}
	for _, tc := range []struct {
		health string
		start  bool
	}{
		{fsm.HealthUnknown, false}, // just added, never polled
		{fsm.HealthUnreachable, false},
		{fsm.HealthPartitioned, false},
		{fsm.HealthDown, true}, // fenced by the witness rule
		{fsm.HealthUp, true},   // observed: not running there
	} {
		d := &fsm.Data{Members: map[string]*fsmv1.Member{
			"e3": {Name: "e3", Health: tc.health, Admin: fsm.AdminActive},
			"e1": {Name: "e1", Health: fsm.HealthUp, Admin: fsm.AdminActive},
		}}
		op := c.plan(d, w, where(d, w), now)
		if got := op.GetReason() == fsm.ReasonStart; got != tc.start {
			t.Errorf("candidate e3 %q: plan = %v, want a start: %v", tc.health, op, tc.start)
		}
	}
	// Once e3 is observed running the group, it is adopted, not started elsewhere.
	d := &fsm.Data{Members: map[string]*fsmv1.Member{
		"e3": {Name: "e3", Health: fsm.HealthUp, Admin: fsm.AdminActive, Groups: []*fsmv1.ObservedGroup{{Name: "w09", Status: fsm.StatusOnline, Current: "e3-1"}}},
		"e1": {Name: "e1", Health: fsm.HealthUp, Admin: fsm.AdminActive},
	}}
	if op := c.plan(d, w, where(d, w), now); op != nil {
		t.Errorf("running on e3: plan = %v, want none (adopt)", op)
	}
}
