package controller

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cset-project/cset/ecxclient"
	"github.com/cset-project/cset/fsm"
	"github.com/cset-project/cset/internal/testutil"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
)

// watchState is a State whose changes the test makes, counting the member reads.
type watchState struct {
	mu    sync.Mutex
	d     *fsm.Data
	ch    chan struct{}
	reads int
}

func (s *watchState) Data() *fsm.Data {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.d
}

func (s *watchState) Member(name string) *fsmv1.Member {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	return s.d.Members[name]
}

func (s *watchState) Watch() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ch
}

// change publishes a new state: members replaced by set (records are never changed in place).
func (s *watchState) change(set ...*fsmv1.Member) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := *s.d
	d.Members = map[string]*fsmv1.Member{}
	for n, m := range s.d.Members {
		d.Members[n] = m
	}
	for _, m := range set {
		d.Members[m.Name] = m
	}
	s.d = &d
	close(s.ch)
	s.ch = make(chan struct{})
}

func (s *watchState) memberReads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

func member(name, health string, capacity int64) *fsmv1.Member {
	return &fsmv1.Member{Name: name, Health: health, Admin: fsm.AdminActive, Capacity: capacity, ObservedIndex: 1,
		Servers: []*fsmv1.MemberServer{{Name: name + "-1", Url: "http://127.0.0.1:1", Status: fsm.StatusOnline}}}
}

// TestWhileUp_ReadsAMemberOncePerChange: the waits of a thousand failovers on one member each
// read (and copied) the member at every change of the state; one watcher per controller now
// reads it once per change, and still ends every wait when the member is declared down.
func TestWhileUp_ReadsAMemberOncePerChange(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := &watchState{d: &fsm.Data{Members: map[string]*fsmv1.Member{"west": member("west", fsm.HealthUp, 0)}}, ch: make(chan struct{})}
		c := New(defaultConfig(), Deps{State: st, Committer: &recordingCommitter{}, Fence: openFence{}})
		const waits, changes = 50, 5
		var ctxs []context.Context
		for range waits {
			ctx, cancel := c.whileUp(t.Context(), "west")
			defer cancel()
			ctxs = append(ctxs, ctx)
		}
		synctest.Wait()
		before := st.memberReads()
		for range changes {
			st.change()
			synctest.Wait()
		}
		if got := st.memberReads() - before; got > changes {
			t.Errorf("%d waits read the member %d times over %d changes of the state, want at most %d", waits, got, changes, changes)
		}
		st.change(member("west", fsm.HealthDown, 0))
		synctest.Wait()
		for i, ctx := range ctxs {
			if !memberWentDown(ctx) {
				t.Fatalf("wait %d not ended by the member's death: %v", i, context.Cause(ctx))
			}
		}
	})
}

// slowStartECX sends its starts as ecxclient does (under the WaitTrace in the context) and then
// waits, like ECX bringing a group Online, until the context ends.
type slowStartECX struct {
	recordingECX
	mu   sync.Mutex
	sent int
}

func (e *slowStartECX) StartGroupAndWait(ctx context.Context, g, target string, _ time.Duration) (ecxclient.Group, error) {
	tr := ecxclient.ContextWaitTrace(ctx)
	if tr != nil && tr.Send != nil {
		if err := tr.Send(ctx); err != nil {
			return ecxclient.Group{}, err
		}
	}
	e.mu.Lock()
	e.sent++
	e.mu.Unlock()
	if tr != nil && tr.Accepted != nil {
		tr.Accepted()
	}
	<-ctx.Done()
	return ecxclient.Group{}, context.Cause(ctx)
}

func (e *slowStartECX) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sent
}

// deadMemberWorld: n workloads placed on east, which is down; west and north take capacity
// workloads each.
func deadMemberWorld(n int, capacity int64) *fsm.Data {
	d := &fsm.Data{
		Members: map[string]*fsmv1.Member{
			"east": member("east", fsm.HealthDown, int64(n)), "west": member("west", fsm.HealthUp, capacity), "north": member("north", fsm.HealthUp, capacity),
		},
		Workloads: map[string]*fsmv1.Workload{}, Operations: map[string]*fsmv1.Operation{},
	}
	for i := range n {
		name := fmt.Sprintf("w%02d", i)
		d.Workloads[name] = &fsmv1.Workload{Name: name, Group: name, Candidates: []string{"east", "west", "north"}, Size: 1,
			Desired: fsm.DesiredOnline, AutoFailover: true, Placement: &fsmv1.Placement{Member: "east", Server: "east-1", Status: fsm.StatusOnline}}
	}
	return d
}

// TestRunners_GiveTheirSlotBackWhileECXStarts: with max_parallel_operations 2, ten failovers
// all send their start at once; an operation held its slot while ECX brought its group Online
// before (minutes for a real ECX), so the ten went two at a time.
func TestRunners_GiveTheirSlotBackWhileECXStarts(t *testing.T) {
	t.Parallel()
	const n = 10
	d := deadMemberWorld(n, n)
	for i := range n {
		id := fmt.Sprintf("op%02d", i)
		d.Operations[id] = &fsmv1.Operation{Id: id, Workload: fmt.Sprintf("w%02d", i), Reason: fsm.ReasonFailover, Phase: fsm.PhaseStarting,
			SourceMember: "east", TargetMember: "west", TargetServer: "west-1", CreatedUnixNano: int64(i + 1)}
	}
	ecx := &slowStartECX{}
	c := New(configWith(func(c *Config) { c.MaxParallelOperations = 2 }), Deps{State: fakeState{d}, Committer: &recordingCommitter{}, Fence: openFence{},
		Clients: func(*fsmv1.Member, time.Duration) (ECX, error) { return ecx, nil }})
	ctx, cancel := context.WithCancel(t.Context())
	defer func() {
		cancel()
		c.opWG.Wait()
	}()
	c.resumeOperations(ctx, d)
	testutil.Poll{Timeout: 10 * time.Second}.Eventually(t, "every start sent while the others are waited for", func() error {
		if got := ecx.count(); got < n {
			return fmt.Errorf("%d of %d starts sent", got, n)
		}
		return nil
	})
}

// TestDecide_StartsEveryFailoverOfADeadMemberAtOnce: the failovers of a dead member's workloads
// are not held back by max_parallel_operations (2 here, and at most that many were started per
// round), and each placement sees the ones decided before it in the round: no survivor gets
// more than its capacity.
func TestDecide_StartsEveryFailoverOfADeadMemberAtOnce(t *testing.T) {
	t.Parallel()
	const n, capacity = 50, 30
	d := deadMemberWorld(n, capacity)
	app := &recordingCommitter{}
	c := New(configWith(func(c *Config) { c.MaxParallelOperations = 2 }), Deps{State: fakeState{d}, Committer: app, Fence: openFence{}})
	c.decide(t.Context(), d, nil)
	targets := map[string]int{}
	for _, e := range app.entries {
		if op := e.GetStartOperation().GetOperation(); op != nil {
			targets[op.TargetMember]++
		}
	}
	if targets["west"]+targets["north"] != n || targets["west"] > capacity || targets["north"] > capacity {
		t.Fatalf("failovers started per target: %v; want all %d, at most %d on each survivor", targets, n, capacity)
	}
}

// TestPending_NothingToFenceGoesToStarting: a failover from a member declared down, with no
// hook, has nothing to do in fencing and handover; it goes from pending to starting in one
// commit instead of three. A workload with a hook still goes through fencing (and handover).
func TestPending_NothingToFenceGoesToStarting(t *testing.T) {
	t.Parallel()
	for _, hooks := range [][]string{nil, {"/bin/true"}} {
		d := deadMemberWorld(1, 1)
		w := d.Workloads["w00"]
		w.Hooks = hooks
		app := &recordingCommitter{}
		c := New(defaultConfig(), Deps{State: fakeState{d}, Committer: app, Fence: openFence{}})
		op := &fsmv1.Operation{Id: "op1", Workload: "w00", Reason: fsm.ReasonFailover, Phase: fsm.PhasePending, SourceMember: "east", SourceServer: "east-1"}
		if err := c.phasePending(t.Context(), d, op); err != nil {
			t.Fatal(err)
		}
		adv := app.entries[len(app.entries)-1].GetAdvanceOperation()
		want := fsm.PhaseStarting
		if len(hooks) > 0 {
			want = fsm.PhaseFencing
		}
		if adv.GetPhase() != want || adv.GetTargetMember() == "" || adv.GetTargetMember() == "east" {
			t.Errorf("hooks %v: pending advanced to %q on %q, want %q on a survivor", hooks, adv.GetPhase(), adv.GetTargetMember(), want)
		}
	}
}
