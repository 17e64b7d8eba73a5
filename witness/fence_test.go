package witness

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/go-hclog"
)

// fakeLeader is a LeaderState whose answers the test sets.
type fakeLeader struct {
	mu        sync.Mutex
	leader    bool
	term      uint64
	verifyErr error
	verifies  int
}

func (f *fakeLeader) set(leader bool, term uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.leader, f.term = leader, term
}

func (f *fakeLeader) IsLeader() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.leader
}

func (f *fakeLeader) Term() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.term
}

func (f *fakeLeader) VerifyLeader(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.verifies++
	return f.verifyErr
}

func TestFence_WithLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBed(t, ServerConfig{})
		ttl, drift := 6*time.Second, time.Second
		l := newTestLease(t, b.c, "a", ttl, drift)
		leader := &fakeLeader{}
		var logs bytes.Buffer
		f := NewFence(leader, l, hclog.New(&hclog.LoggerOptions{Output: &logs}))
		if logs.Len() != 0 {
			t.Fatalf("NewFence with a lease logged: %s", logs.String())
		}
		ctx := context.Background()
		check := func(want error) {
			t.Helper()
			err := f.Check(ctx)
			if want == nil && err != nil || want != nil && !errors.Is(err, want) {
				t.Fatalf("Check at %s = %v, want %v", time.Now().Format("05.000"), err, want)
			}
		}

		check(ErrNotLeader)
		leader.set(true, 5)
		check(ErrLeaseExpired) // leader, but no lease yet
		stop := runLease(t, l, 5)
		synctest.Wait()
		check(nil)

		leader.set(true, 6) // a new term: the lease for 5 does not count
		check(ErrLeaseTermMismatch)
		leader.set(false, 6)
		check(ErrNotLeader)
		leader.set(true, 5)
		check(nil)

		// Guard's context ends with the lease.
		gctx, cancel, err := f.Guard(ctx)
		if err != nil {
			t.Fatalf("Guard: %v", err)
		}
		if d, ok := gctx.Deadline(); !ok || !d.Equal(l.HeldUntil()) {
			t.Fatalf("Guard deadline = %s, %v; want %s", d, ok, l.HeldUntil())
		}
		cancel()

		// LeaseEnd tells the same end, and nothing for another term or a follower.
		if end, ok := f.LeaseEnd(); !ok || !end.Equal(l.HeldUntil()) {
			t.Fatalf("LeaseEnd = %s, %v; want %s", end, ok, l.HeldUntil())
		}
		leader.set(true, 6)
		if _, ok := f.LeaseEnd(); ok {
			t.Fatal("LeaseEnd for a lease of another term")
		}
		leader.set(false, 5)
		if _, ok := f.LeaseEnd(); ok {
			t.Fatal("LeaseEnd on a follower")
		}
		leader.set(true, 5)

		// Cut from the witness: the fence opens no later than TTL - drift after the last grant.
		b.tr.down.Store(true)
		time.Sleep(ttl / 3) // the renewal at TTL/3 fails
		lastGrant := time.Now().Add(-ttl / 3)
		check(nil)
		time.Sleep(lastGrant.Add(ttl - drift).Sub(time.Now()))
		check(ErrLeaseExpired)
		if _, _, err := f.Guard(ctx); !errors.Is(err, ErrLeaseExpired) {
			t.Fatalf("Guard after expiry = %v", err)
		}
		stop()
	})
}

func TestFence_WithoutLease(t *testing.T) {
	t.Parallel()
	leader := &fakeLeader{leader: true, term: 3}
	var logs bytes.Buffer
	f := NewFence(leader, nil, hclog.New(&hclog.LoggerOptions{Output: &logs}))
	if !strings.Contains(logs.String(), "[WARN]") || !strings.Contains(logs.String(), "VerifyLeader") {
		t.Fatalf("NewFence without a lease did not warn about the weaker mode: %q", logs.String())
	}
	ctx := context.Background()
	for range 3 {
		if err := f.Check(ctx); err != nil {
			t.Fatalf("Check: %v", err)
		}
	}
	if leader.verifies != 3 {
		t.Fatalf("VerifyLeader called %d times for 3 checks, want 3", leader.verifies)
	}
	if strings.Count(logs.String(), "[WARN]") != 1 {
		t.Fatalf("weaker mode logged more than once: %q", logs.String())
	}
	leader.verifyErr = errors.New("lost quorum")
	if err := f.Check(ctx); !errors.Is(err, ErrNotLeader) || !strings.Contains(err.Error(), "lost quorum") {
		t.Fatalf("Check with failing VerifyLeader = %v", err)
	}
	leader.verifyErr = nil
	leader.set(false, 3)
	if err := f.Check(ctx); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Check as follower = %v", err)
	}
	leader.set(true, 3)
	gctx, cancel, err := f.Guard(ctx)
	if err != nil {
		t.Fatalf("Guard: %v", err)
	}
	if _, ok := gctx.Deadline(); ok {
		t.Fatalf("Guard without a lease set a deadline")
	}
	cancel()
}
