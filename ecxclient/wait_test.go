package ecxclient

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

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
