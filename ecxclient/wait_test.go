package ecxclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cset-project/cset/ecxsim"
	"github.com/google/go-cmp/cmp"
)

// script returns a getter that answers the given results in order, then
// repeats the last one, recording the (virtual) time of every call.
type script struct {
	start time.Time
	steps []func() (Group, error)
	calls []time.Duration
}

func (s *script) get(context.Context) (Group, error) {
	s.calls = append(s.calls, time.Since(s.start))
	i := min(len(s.calls)-1, len(s.steps)-1)
	return s.steps[i]()
}

func st(status Status, current string) func() (Group, error) {
	return func() (Group, error) {
		return Group{Name: "g", Status: status, RawStatus: status.String(), Current: current}, nil
	}
}

func fails(err error) func() (Group, error) { return func() (Group, error) { return Group{}, err } }

func isOnline(g Group) (bool, error) { return g.Status == StatusOnline, nil }

// runWait runs waitLoop in a synctest bubble.
func runWait(t *testing.T, steps []func() (Group, error), opts WaitOptions, parentCancelAfter time.Duration) (*script, Group, error) {
	t.Helper()
	var s *script
	var g Group
	var err error
	synctest.Test(t, func(t *testing.T) {
		s = &script{start: time.Now(), steps: steps}
		parent, cancel := context.WithCancel(t.Context())
		defer cancel()
		if parentCancelAfter > 0 {
			time.AfterFunc(parentCancelAfter, cancel)
		}
		opts = opts.withDefaults()
		wctx, wcancel := context.WithTimeout(parent, opts.Timeout)
		defer wcancel()
		g, err = waitLoop(parent, wctx, s.get, isOnline, opts, "m1", "g")
	})
	return s, g, err
}

func ms(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

func TestWaitLoop_BackoffAndTimeout(t *testing.T) {
	t.Parallel()
	s, g, err := runWait(t, []func() (Group, error){st(StatusOnlinePending, "s1")}, WaitOptions{Timeout: 3 * time.Second}, 0)
	var we *WaitTimeoutError
	if !errors.As(err, &we) || !errors.Is(err, ErrWaitTimeout) {
		t.Fatalf("error %v, want *WaitTimeoutError", err)
	}
	if g.Status != StatusOnlinePending || we.Last.Status != StatusOnlinePending || we.Waited != "3s" {
		t.Errorf("last %+v, timeout error %+v", g, we)
	}
	if diff := cmp.Diff(ms(0, 50, 150, 350, 750, 1550, 2550), s.calls); diff != "" {
		t.Errorf("poll times (-want +got):\n%s", diff)
	}
	// Custom backoff.
	s, _, _ = runWait(t, []func() (Group, error){st(StatusOnlinePending, "s1")},
		WaitOptions{Timeout: time.Second, InitialBackoff: 100 * time.Millisecond, MaxBackoff: 300 * time.Millisecond}, 0)
	if diff := cmp.Diff(ms(0, 100, 300, 600, 900), s.calls); diff != "" {
		t.Errorf("custom backoff poll times (-want +got):\n%s", diff)
	}
}

func TestWaitLoop_Outcomes(t *testing.T) {
	t.Parallel()
	auth := &AuthError{Member: "m1", HTTPStatus: 401}
	unreach := &UnreachableError{Member: "m1", Attempts: []error{errors.New("refused")}}
	cases := []struct {
		name   string
		steps  []func() (Group, error)
		stale  Status
		calls  int
		want   Status
		target error // nil: success
	}{
		{"pending then online", []func() (Group, error){st(StatusOffline, ""), st(StatusOnlinePending, "s1"), st(StatusOnline, "s1")}, 0, 3, StatusOnline, nil},
		{"online failure ends", []func() (Group, error){st(StatusOnlinePending, "s1"), st(StatusOnlineFailure, "s1")}, 0, 2, StatusOnlineFailure, ErrGroupFailed},
		{"offline failure ends", []func() (Group, error){st(StatusOfflineFailure, "s1")}, 0, 1, StatusOfflineFailure, ErrGroupFailed},
		{"stale failure waits for a change", []func() (Group, error){st(StatusOnlineFailure, "s1"), st(StatusOnlineFailure, "s1"), st(StatusOnlinePending, "s1"), st(StatusOnline, "s1")}, StatusOnlineFailure, 4, StatusOnline, nil},
		{"failure after change ends", []func() (Group, error){st(StatusOnlineFailure, "s1"), st(StatusOnlinePending, "s1"), st(StatusOnlineFailure, "s1")}, StatusOnlineFailure, 3, StatusOnlineFailure, ErrGroupFailed},
		{"other failure than stale ends", []func() (Group, error){st(StatusOfflineFailure, "s1")}, StatusOnlineFailure, 1, StatusOfflineFailure, ErrGroupFailed},
		{"unreachable is retried", []func() (Group, error){fails(unreach), fails(unreach), st(StatusOnline, "s1")}, 0, 3, StatusOnline, nil},
		{"server error is retried", []func() (Group, error){fails(&RejectedError{HTTPStatus: 500, Code: 5}), st(StatusOnline, "s1")}, 0, 2, StatusOnline, nil},
		{"conflict ends at once", []func() (Group, error){fails(&RejectedError{HTTPStatus: 409, Code: 4})}, 0, 1, StatusUnknown, ErrRejected},
		// ECX may report a failed read inside a 200 (error style "envelope"): polled again.
		{"read failure inside a 200 is retried", []func() (Group, error){fails(&RejectedError{Op: "GET /api/v1/groups/g", HTTPStatus: 200, Code: 5}), st(StatusOnline, "s1")}, 0, 2, StatusOnline, nil},
		{"read refused with a 4xx ends at once", []func() (Group, error){fails(&RejectedError{Op: "GET /api/v1/groups/g", HTTPStatus: 400, Code: 1})}, 0, 1, StatusUnknown, ErrRejected},
		{"auth ends at once", []func() (Group, error){st(StatusOnlinePending, "s1"), fails(auth)}, 0, 2, StatusOnlinePending, ErrAuth},
		{"unreachable until timeout", []func() (Group, error){st(StatusOnlinePending, "s1"), fails(unreach)}, 0, 0, StatusOnlinePending, ErrWaitTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, g, err := runWait(t, tc.steps, WaitOptions{Timeout: 2 * time.Second, staleFailure: tc.stale}, 0)
			if tc.target == nil && err != nil || tc.target != nil && !errors.Is(err, tc.target) {
				t.Fatalf("error %v, want %v", err, tc.target)
			}
			if g.Status != tc.want {
				t.Errorf("last status %v, want %v", g.Status, tc.want)
			}
			if tc.calls > 0 && len(s.calls) != tc.calls {
				t.Errorf("%d polls, want %d", len(s.calls), tc.calls)
			}
			if errors.Is(tc.target, ErrWaitTimeout) && !errors.Is(err, ErrUnreachable) {
				t.Errorf("timeout error %v should carry the last poll error", err)
			}
		})
	}
}

func TestWaitLoop_ParentCancel(t *testing.T) {
	t.Parallel()
	_, _, err := runWait(t, []func() (Group, error){st(StatusOnlinePending, "s1")}, WaitOptions{Timeout: time.Minute}, 500*time.Millisecond)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrWaitTimeout) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

// groupFake is a tiny stateful ECX group on HTTP: operations are accepted
// and complete after `delay` polls, so the helpers must poll.
type groupFake struct {
	mu      sync.Mutex
	status  Status
	current string
	next    Status
	nextCur string
	polls   int // polls left before next takes effect
	posts   []string
	reject  bool
}

func (f *groupFake) handler(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Method == http.MethodPost {
		f.posts = append(f.posts, r.URL.Path)
		if f.reject {
			reply(w, 200, `{"result":{"code":3,"message":"group is online on s1"}}`)
			return
		}
		op := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		target := "s2"
		switch op {
		case "start":
			f.status, f.next, f.nextCur = StatusOnlinePending, StatusOnline, target
		case "stop":
			f.status, f.next, f.nextCur = StatusOfflinePending, StatusOffline, ""
		case "move":
			f.status, f.next, f.nextCur = StatusOnlinePending, StatusOnline, target
		}
		f.polls = 2
		reply(w, 200, envelopeOK)
		return
	}
	if f.polls > 0 {
		f.polls--
		if f.polls == 0 {
			f.status, f.current = f.next, f.nextCur
		}
	}
	cur := f.current
	if cur == "" {
		cur = "None"
	}
	reply(w, 200, okWith(map[string]any{"groups": []any{map[string]any{"name": "g", "status": f.status.String(), "current": cur}}}))
}

func TestClient_AndWaitHelpers(t *testing.T) {
	t.Parallel()
	gf := &groupFake{status: StatusOffline}
	f := newFake(t, gf.handler)
	c := newTestClient(t, []string{f.URL})
	ctx := t.Context()
	g, err := c.StartGroupAndWait(ctx, "g", "s2", 10*time.Second)
	if err != nil || !g.OnlineOn("s2") {
		t.Fatalf("StartGroupAndWait = %+v, %v", g, err)
	}
	// Idempotent: already online there, no POST.
	if _, err := c.StartGroupAndWait(ctx, "g", "s2", 10*time.Second); err != nil || len(gf.posts) != 1 {
		t.Fatalf("second StartGroupAndWait: %v, posts %v", err, gf.posts)
	}
	gf.mu.Lock()
	gf.current = "s1"
	gf.mu.Unlock()
	g, err = c.MoveGroupAndWait(ctx, "g", "", 10*time.Second)
	if err != nil || g.Current != "s2" {
		t.Fatalf("MoveGroupAndWait(policy) = %+v, %v", g, err)
	}
	g, err = c.StopGroupAndWait(ctx, "g", 10*time.Second)
	if err != nil || g.Status != StatusOffline || g.Current != "" {
		t.Fatalf("StopGroupAndWait = %+v, %v", g, err)
	}
	if _, err := c.StopGroupAndWait(ctx, "g", 10*time.Second); err != nil || len(gf.posts) != 3 {
		t.Fatalf("second StopGroupAndWait: %v, posts %v", err, gf.posts)
	}
	gf.mu.Lock()
	gf.reject = true
	gf.mu.Unlock()
	if _, err := c.StartGroupAndWait(ctx, "g", "s2", 10*time.Second); !errors.Is(err, ErrRejected) {
		t.Fatalf("rejected start: %v", err)
	}
	// WaitGroupStatus with a custom condition that fails.
	boom := errors.New("boom")
	if _, err := c.WaitGroupStatus(ctx, "g", func(Group) (bool, error) { return false, boom }, WaitOptions{}); !errors.Is(err, boom) {
		t.Fatalf("want error not propagated: %v", err)
	}
}

// timedGroups is a member whose groups come Online a fixed time after their start (virtual
// time under synctest): a getter and a lister for a groupPoller, counting the polls.
type timedGroups struct {
	mu      sync.Mutex
	startAt map[string]time.Time
	took    time.Duration
	gets    int
	lists   int
}

func (m *timedGroups) start(g string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.startAt[g] = time.Now()
}

func (m *timedGroups) group(g string) Group {
	at, ok := m.startAt[g]
	switch {
	case !ok:
		return Group{Name: g, Status: StatusOffline, RawStatus: "Offline"}
	case time.Since(at) >= m.took:
		return Group{Name: g, Status: StatusOnline, RawStatus: "Online", Current: "s1"}
	}
	return Group{Name: g, Status: StatusOnlinePending, RawStatus: "Online Pending", Current: "s1"}
}

func (m *timedGroups) get(_ context.Context, g string) (Group, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gets++
	return m.group(g), nil
}

func (m *timedGroups) list(context.Context) ([]Group, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lists++
	var out []Group
	for g := range m.startAt {
		out = append(out, m.group(g))
	}
	return out, nil
}

// controllerWait are the controller's wait options (controller.DefaultClients).
var controllerWait = WaitOptions{Timeout: time.Minute, InitialBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}

// TestGroupPoller_WaitersOnOneMemberSharePolls: a hundred starts waited for at once on one
// member (a dead member's workloads failing over there) are answered by the polls one start
// alone would need, each a list of every group; before, every wait polled its own group.
func TestGroupPoller_WaitersOnOneMemberSharePolls(t *testing.T) {
	t.Parallel()
	c, err := New(MemberConfig{Name: "m1", URLs: []string{"http://127.0.0.1:1"}, User: "u"})
	if err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		m := &timedGroups{startAt: map[string]time.Time{}, took: 200 * time.Millisecond}
		p := newGroupPoller(m.get, m.list)
		const n = 100
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			g := fmt.Sprintf("g%03d", i)
			m.start(g)
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
				defer cancel()
				_, err := p.wait(t.Context(), ctx, c, "start\x00"+g, g, isOnline, controllerWait)
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		// One wait alone polls at 20, 40, ..., 160, 180 and 202.5 ms: 10 polls.
		if m.gets+m.lists > 12 || m.lists == 0 {
			t.Errorf("%d waits took %d polls of one group and %d lists; want at most 12 polls in all, lists", n, m.gets, m.lists)
		}
	})
}

// TestGroupPoller_LearnsHowLongAStartTakes: the first start of a group is polled at an eighth
// of the time waited so far; the next one, whose duration is known, is polled a little before
// it is due and then tightly: it is noticed within E/32 of coming Online (6 ms for 200 ms,
// where the doubling backoff of 20 to 100 ms noticed it 40 ms late), with 3 polls.
func TestGroupPoller_LearnsHowLongAStartTakes(t *testing.T) {
	t.Parallel()
	c, err := New(MemberConfig{Name: "m1", URLs: []string{"http://127.0.0.1:1"}, User: "u"})
	if err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		const took = 200 * time.Millisecond
		m := &timedGroups{startAt: map[string]time.Time{}, took: took}
		p := newGroupPoller(m.get, m.list)
		run := func() (late time.Duration, polls int) {
			before := m.gets
			m.start("g")
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			if _, err := p.wait(t.Context(), ctx, c, "start\x00g", "g", isOnline, controllerWait); err != nil {
				t.Fatal(err)
			}
			m.mu.Lock()
			defer m.mu.Unlock()
			return time.Since(m.startAt["g"]) - took, m.gets - before
		}
		late, polls := run()
		if late > took/8 {
			t.Errorf("first start noticed %v late, want at most %v (an eighth)", late, took/8)
		}
		t.Logf("first start: noticed %v late after %d polls", late, polls)
		for range 3 {
			late, polls = run()
			if late > took/tightFraction || polls > 3 {
				t.Errorf("a start whose duration is known noticed %v late after %d polls; want at most %v and 3 polls", late, polls, took/tightFraction)
			}
		}
	})
}

// TestGroupPoller_PollsAreSpacedPerMember: however many waits are due, one member is polled at
// most once per MinPollGap.
func TestGroupPoller_PollsAreSpacedPerMember(t *testing.T) {
	t.Parallel()
	c, err := New(MemberConfig{Name: "m1", URLs: []string{"http://127.0.0.1:1"}, User: "u"})
	if err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		m := &timedGroups{startAt: map[string]time.Time{}, took: time.Second}
		p := newGroupPoller(m.get, m.list)
		// Waits that joined at staggered times all want polls every millisecond.
		fast := WaitOptions{Timeout: time.Minute, InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond}
		var wg sync.WaitGroup
		for i := range 50 {
			g := fmt.Sprintf("g%02d", i)
			m.start(g)
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
				defer cancel()
				if _, err := p.wait(t.Context(), ctx, c, "start\x00"+g, g, isOnline, fast); err != nil {
					t.Error(err)
				}
			})
			time.Sleep(time.Millisecond / 3) // virtual time: the waits arrive staggered
		}
		wg.Wait()
		if max := int(time.Second/MinPollGap) + 5; m.gets+m.lists > max {
			t.Errorf("%d polls within about a second, want at most %d (one per %v)", m.gets+m.lists, max, MinPollGap)
		}
	})
}

// TestStartGroupAndWait_SharesPollsOnECXSim: concurrent starts on one simulated member (200 ms
// each) share their GETs, the reads before the POSTs included: 40 starts took 238 GETs when
// each polled for itself, about 13 now.
func TestStartGroupAndWait_SharesPollsOnECXSim(t *testing.T) {
	t.Parallel()
	const n = 40
	cl := ecxsim.ClusterConfig{Name: "c1", User: "admin", Password: "pw", Servers: []ecxsim.ServerConfig{{Name: "s1", Listen: "127.0.0.1:0"}}}
	for i := range n {
		cl.Groups = append(cl.Groups, ecxsim.GroupConfig{Name: fmt.Sprintf("g%02d", i), StartDuration: 200 * time.Millisecond, StopDuration: 50 * time.Millisecond})
	}
	sim, err := ecxsim.New(ecxsim.Config{Clusters: []ecxsim.ClusterConfig{cl}}, testLogger(t).Named("ecxsim"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	rt := &countingTransport{next: http.DefaultTransport}
	c, err := New(MemberConfig{Name: "c1", URLs: []string{sim.ServerURL("c1", "s1")}, User: "admin", Password: "pw", Timeout: 5 * time.Second},
		WithTransport(rt), WithWaitBackoff(20*time.Millisecond, 100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var accepted atomic.Int64
	for i := range n {
		wg.Go(func() {
			ctx := WithWaitTrace(t.Context(), &WaitTrace{Accepted: func() { accepted.Add(1) }})
			g, err := c.StartGroupAndWait(ctx, fmt.Sprintf("g%02d", i), "s1", time.Minute)
			if err != nil || !g.OnlineOn("s1") {
				t.Errorf("start of g%02d: %+v, %v", i, g, err)
			}
		})
	}
	wg.Wait()
	gets, posts := rt.counts()
	if posts != n || accepted.Load() != n {
		t.Errorf("%d POSTs, %d accepted, want %d", posts, accepted.Load(), n)
	}
	// About a dozen on an idle machine; starts spread out by a loaded one add polls.
	if gets > 2*n {
		t.Errorf("%d starts took %d GETs; want at most two a start (each polled for itself before: about six a start)", n, gets)
	}
	t.Logf("%d starts: %d POSTs, %d GETs", n, posts, gets)
}

// countingTransport counts the requests it carries.
type countingTransport struct {
	next        http.RoundTripper
	gets, posts atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost {
		c.posts.Add(1)
	} else {
		c.gets.Add(1)
	}
	return c.next.RoundTrip(r)
}

func (c *countingTransport) counts() (gets, posts int64) { return c.gets.Load(), c.posts.Load() }

// TestWaitTrace_SendGatesThePost: Send runs after the read and before the POST, and its error
// keeps the POST from being sent; Accepted runs once ECX accepted it.
func TestWaitTrace_SendGatesThePost(t *testing.T) {
	t.Parallel()
	gf := &groupFake{status: StatusOffline}
	f := newFake(t, gf.handler)
	c := newTestClient(t, []string{f.URL})
	var order []string
	var mu sync.Mutex
	note := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, s)
	}
	refused := errors.New("no slot")
	ctx := WithWaitTrace(t.Context(), &WaitTrace{
		Send:     func(context.Context) error { note("send"); return refused },
		Accepted: func() { note("accepted") },
	})
	if _, err := c.StartGroupAndWait(ctx, "g", "s2", 10*time.Second); !errors.Is(err, refused) {
		t.Fatalf("start refused by Send: %v", err)
	}
	if len(gf.posts) != 0 {
		t.Fatalf("POSTs %v sent although Send refused", gf.posts)
	}
	ctx = WithWaitTrace(t.Context(), &WaitTrace{
		Send:     func(context.Context) error { note("send"); return nil },
		Accepted: func() { note("accepted") },
	})
	if _, err := c.StartGroupAndWait(ctx, "g", "s2", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if want := []string{"send", "send", "accepted"}; !slices.Equal(order, want) || len(gf.posts) != 1 {
		t.Fatalf("hooks %v, posts %v; want %v and one POST", order, gf.posts, want)
	}
}
