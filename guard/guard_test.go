package guard_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cset-project/cset/guard"
	"github.com/cset-project/cset/internal/testutil"
)

// fakeClock is a manual clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeLocal is a local ECX API: groups with status and current server; StopGroup puts a group in
// Offline Pending.
type fakeLocal struct {
	mu     sync.Mutex
	groups map[string]*guard.Group
	stops  []string
}

func newLocal(groups ...guard.Group) *fakeLocal {
	l := &fakeLocal{groups: map[string]*guard.Group{}}
	for _, g := range groups {
		l.groups[g.Name] = &g
	}
	return l
}

func (l *fakeLocal) Groups(context.Context) ([]guard.Group, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []guard.Group
	for _, g := range l.groups {
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b guard.Group) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (l *fakeLocal) StopGroup(_ context.Context, name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	g := l.groups[name]
	if g == nil {
		return errors.New("no such group")
	}
	g.Status = guard.StatusOfflinePending
	l.stops = append(l.stops, name)
	return nil
}

func (l *fakeLocal) set(name, status, current string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.groups[name] = &guard.Group{Name: name, Status: status, Current: current}
}

func (l *fakeLocal) stopped() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.stops)
}

// link is a fake witness or masters link: it answers or fails, and may take clock time to answer.
type link struct {
	mu     sync.Mutex
	down   bool
	delay  time.Duration // advanced on the clock during the call
	clock  *fakeClock
	groups []string
	calls  int
}

func (k *link) setDown(down bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.down = down
}

func (k *link) answer() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.calls++
	if k.delay > 0 {
		k.clock.Advance(k.delay)
	}
	if k.down {
		return errors.New("link down")
	}
	return nil
}

type witnessLink struct{ *link }

func (w witnessLink) Heartbeat(context.Context, string, string) error { return w.answer() }

type mastersLink struct{ *link }

func (m mastersLink) Heartbeat(context.Context, string, string, []string) ([]string, error) {
	if err := m.answer(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.groups), nil
}

type world struct {
	clock   *fakeClock
	local   *fakeLocal
	witness *link
	masters *link
	g       *guard.Guard
}

const timeout = 5 * time.Second

func newWorld(t *testing.T, stateFile string) *world {
	t.Helper()
	w := &world{clock: newClock()}
	w.local = newLocal(
		guard.Group{Name: "web", Status: "Online", Current: "west-1"},
		guard.Group{Name: "db", Status: "Online", Current: "west-2"},    // another server's
		guard.Group{Name: "other", Status: "Online", Current: "west-1"}, // not cset's
		guard.Group{Name: "api", Status: "Offline", Current: "None"},    // cset's, stopped
	)
	w.witness = &link{clock: w.clock}
	w.masters = &link{clock: w.clock, groups: []string{"web", "db", "api"}}
	w.g = w.newGuard(t, stateFile, true, true)
	return w
}

func (w *world) newGuard(t *testing.T, stateFile string, withWitness, withMasters bool) *guard.Guard {
	t.Helper()
	deps := guard.Deps{Local: w.local, Clock: w.clock, Logger: testutil.Logger(t, "guard")}
	if withWitness {
		deps.Witness = witnessLink{w.witness}
	}
	if withMasters {
		deps.Masters = mastersLink{w.masters}
	}
	g, err := guard.New(guard.Config{Cluster: "west", Server: "west-1", Timeout: timeout, Interval: time.Second, StateFile: stateFile}, deps)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// step is one heartbeat then one enforcement, as Run does; it returns what was stopped.
func (w *world) step(t *testing.T) []string {
	t.Helper()
	_ = w.g.Beat(t.Context())
	stopped, err := w.g.Enforce(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return stopped
}

// run steps every second for d and returns every group stopped meanwhile.
func (w *world) run(t *testing.T, d time.Duration) []string {
	t.Helper()
	var all []string
	for end := w.clock.Now().Add(d); w.clock.Now().Before(end); w.clock.Advance(time.Second) {
		all = append(all, w.step(t)...)
	}
	return all
}

func TestGuard_WitnessAloneKeepsGroupsRunning(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "")
	w.step(t) // the masters send the managed groups
	w.masters.setDown(true)
	if stopped := w.run(t, 4*timeout); len(stopped) > 0 {
		t.Fatalf("stopped %v although the witness acknowledged every heartbeat", stopped)
	}
	if w.g.Status().Enforcing {
		t.Fatal("enforcing although the witness answers")
	}
}

func TestGuard_MastersAloneKeepGroupsRunning(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "")
	w.witness.setDown(true)
	if stopped := w.run(t, 4*timeout); len(stopped) > 0 {
		t.Fatalf("stopped %v although the masters acknowledged every heartbeat", stopped)
	}
}

// TestGuard_NeitherStopsAtTimeoutFromSendTime: the timeout counts from the send time of the last
// acknowledged heartbeat, not from when its answer came, and only managed groups running on this
// server are stopped.
func TestGuard_NeitherStopsAtTimeoutFromSendTime(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "")
	sent := w.clock.Now()
	w.masters.delay = 2 * time.Second // the answer comes 2s after the send
	w.step(t)
	w.masters.delay = 0
	w.witness.setDown(true)
	w.masters.setDown(true)
	if got := w.g.Deadline(); !got.Equal(sent.Add(timeout)) {
		t.Fatalf("deadline %v, want the send time + timeout %v", got, sent.Add(timeout))
	}
	w.clock.Advance(timeout - 2*time.Second - time.Millisecond) // 1ms before the deadline
	if stopped := w.step(t); len(stopped) > 0 {
		t.Fatalf("stopped %v before the guard timeout", stopped)
	}
	w.clock.Advance(time.Millisecond)
	if stopped := w.step(t); !slices.Equal(stopped, []string{"web"}) {
		t.Fatalf("stopped %v at the guard timeout, want [web] (db runs on another server, other is not cset's, api is offline)", stopped)
	}
	if !w.g.Status().Enforcing {
		t.Fatal("not enforcing after the timeout")
	}
	// Stopping: nothing to do again while it is Offline Pending.
	if stopped := w.step(t); len(stopped) > 0 {
		t.Fatalf("stopped %v again while it stops", stopped)
	}
	// Someone starts it again on this server: the guard stops it again.
	w.local.set("web", "Online", "west-1")
	if stopped := w.step(t); !slices.Equal(stopped, []string{"web"}) {
		t.Fatalf("stopped %v after web came back, want [web]", stopped)
	}
	// The witness answers again: enforcement ends, a restarted group stays.
	w.witness.setDown(false)
	w.step(t)
	w.local.set("web", "Online", "west-1")
	if stopped := w.run(t, 2*timeout); len(stopped) > 0 {
		t.Fatalf("stopped %v after the witness answered again", stopped)
	}
	if w.g.Status().Enforcing {
		t.Fatal("still enforcing after the witness answered again")
	}
}

func TestGuard_ResumesWhenTheMastersAnswer(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "")
	w.step(t)
	w.witness.setDown(true)
	w.masters.setDown(true)
	if stopped := w.run(t, timeout+time.Second); !slices.Equal(stopped, []string{"web"}) {
		t.Fatalf("stopped %v, want [web]", stopped)
	}
	w.masters.setDown(false)
	w.masters.groups = []string{"other"} // the set changed meanwhile: "other" is cset's now
	w.step(t)
	// Groups the masters no longer list stay managed: ECX may still run them (chaos finding G1).
	if st := w.g.Status(); st.Enforcing || !slices.Equal(st.Managed, []string{"api", "db", "other", "web"}) {
		t.Fatalf("status %+v after the masters answered, want not enforcing and managed [api db other web]", st)
	}
}

// TestGuard_PersistedListWithoutMasters: a restarted guard that reaches neither the witness nor
// the masters still knows the cset groups and the last acknowledged send time from its state file.
func TestGuard_PersistedListWithoutMasters(t *testing.T) {
	t.Parallel()
	state := filepath.Join(t.TempDir(), "guard.json")
	w := newWorld(t, state)
	sent := w.clock.Now()
	w.step(t)
	fi, err := os.Stat(state)
	if err != nil {
		t.Fatalf("no state file after an acknowledged heartbeat: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file mode %v, want 0600", fi.Mode().Perm())
	}
	// The guard restarts one second later, cut off both.
	w.clock.Advance(time.Second)
	w.witness.setDown(true)
	w.masters.setDown(true)
	w.g = w.newGuard(t, state, true, true)
	if st := w.g.Status(); !slices.Equal(st.Managed, []string{"api", "db", "web"}) || !st.LastAck.Equal(sent) {
		t.Fatalf("restarted guard status %+v, want managed [api db web] and last ack %v", st, sent)
	}
	if stopped := w.step(t); len(stopped) > 0 {
		t.Fatalf("stopped %v before the timeout", stopped)
	}
	w.clock.Advance(timeout - time.Second)
	if stopped := w.step(t); !slices.Equal(stopped, []string{"web"}) {
		t.Fatalf("stopped %v at the timeout after a restart, want [web]", stopped)
	}
	// After a clock step back across a restart the recorded time is in the future: the guard
	// counts as expired at once instead of waiting for it.
	w.g = w.newGuard(t, state, true, true)
	w.clock.Advance(-time.Hour)
	w.g = w.newGuard(t, state, true, true)
	if !w.g.Expired(w.clock.Now()) {
		t.Fatal("a last acknowledgement in the future extended the guard's window")
	}
	// A state file of another server is refused.
	_, err = guard.New(guard.Config{Cluster: "west", Server: "west-2", StateFile: state}, guard.Deps{Local: w.local, Witness: witnessLink{w.witness}})
	if err == nil || !strings.Contains(err.Error(), "belongs to west/west-1") {
		t.Fatalf("New with another server's state file: %v", err)
	}
}

func TestGuard_NeverAcknowledgedStopsNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "")
	w.witness.setDown(true)
	w.masters.setDown(true)
	if stopped := w.run(t, 3*timeout); len(stopped) > 0 {
		t.Fatalf("stopped %v without ever learning which groups are cset's", stopped)
	}
}

func TestGuard_ConfigErrors(t *testing.T) {
	t.Parallel()
	local := newLocal()
	wl := witnessLink{&link{clock: newClock()}}
	for _, tc := range []struct {
		name string
		cfg  guard.Config
		deps guard.Deps
		want string
	}{
		{"no cluster", guard.Config{Server: "s"}, guard.Deps{Local: local, Witness: wl}, "cluster name is empty"},
		{"interval too long", guard.Config{Cluster: "c", Server: "s", Timeout: time.Second, Interval: time.Second}, guard.Deps{Local: local, Witness: wl}, "shorter than the guard timeout"},
		{"no local", guard.Config{Cluster: "c", Server: "s"}, guard.Deps{Witness: wl}, "no local ECX API"},
		{"nothing to heartbeat", guard.Config{Cluster: "c", Server: "s"}, guard.Deps{Local: local}, "neither a witness nor masters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := guard.New(tc.cfg, tc.deps)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestGuard_Run drives the real loop with the system clock: cut off both, the guard stops the
// group within the timeout; once the masters answer it stops enforcing.
func TestGuard_Run(t *testing.T) {
	t.Parallel()
	local := newLocal(guard.Group{Name: "web", Status: "Online", Current: "west-1"})
	wit := &link{down: true}
	mas := &link{groups: []string{"web"}}
	g, err := guard.New(guard.Config{Cluster: "west", Server: "west-1", Timeout: 300 * time.Millisecond, Interval: 30 * time.Millisecond},
		guard.Deps{Local: local, Witness: witnessLink{wit}, Masters: mastersLink{mas}, Logger: testutil.Logger(t, "guard")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	testutil.Eventually(t, 10*time.Second, func() error {
		if len(g.Status().Managed) == 0 {
			return errors.New("no managed groups yet")
		}
		return nil
	})
	mas.setDown(true)
	testutil.Eventually(t, 10*time.Second, func() error {
		if s := local.stopped(); len(s) == 0 {
			return errors.New("web not stopped yet")
		}
		return nil
	})
	mas.setDown(false)
	testutil.Eventually(t, 10*time.Second, func() error {
		if g.Status().Enforcing {
			return errors.New("still enforcing")
		}
		return nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
