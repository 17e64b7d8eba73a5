package witness

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// Lease rules through the HTTP handler, in virtual time.

func TestServer_LeaseExpiryAndRenewal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBed(t, ServerConfig{})
		ttl := 3 * time.Second
		b.mustGrant("a", 5, ttl)
		time.Sleep(2 * time.Second)
		b.mustGrant("a", 5, ttl) // renewal restarts the TTL
		refused := b.mustRefuse("b", 6, ttl, ReasonHeld)
		if refused.Holder != "a" || refused.Term != 5 || refused.Remaining != ttl {
			t.Fatalf("refusal = %+v, want holder a term 5 remaining %s", refused, ttl)
		}
		time.Sleep(ttl - time.Millisecond)
		b.mustRefuse("b", 6, ttl, ReasonHeld)
		time.Sleep(time.Millisecond)
		b.mustGrant("b", 6, ttl)
		b.mustRefuse("a", 5, ttl, ReasonStaleTerm)
	})
}

func TestServer_LeaseTermOrdering(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBed(t, ServerConfig{})
		ttl := 2 * time.Second
		b.mustGrant("a", 5, ttl)
		if err := b.c.Release(context.Background(), "prod", "a", 5); err != nil {
			t.Fatalf("Release: %v", err)
		}
		b.mustRefuse("b", 4, ttl, ReasonStaleTerm) // never lower than the highest granted
		b.mustRefuse("a", 4, ttl, ReasonStaleTerm)
		b.mustRefuse("b", 5, ttl, ReasonStaleTerm) // term 5 belongs to a
		b.mustGrant("b", 6, ttl)                   // released: no wait
		b.mustGrant("b", 8, ttl)                   // the holder may move to a higher term
		b.mustRefuse("b", 7, ttl, ReasonStaleTerm)
		// Sets are independent.
		if _, err := b.c.Acquire(context.Background(), "other", "z", 1, ttl); err != nil {
			t.Fatalf("Acquire on another set: %v", err)
		}
	})
}

func TestServer_RestartHold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBed(t, ServerConfig{})
		ttl := 3 * time.Second
		hold := 10 * time.Second
		b.mustGrant("a", 5, ttl)
		b.restart(hold)
		start := time.Now()
		// The persisted holder is presumed active for max(hold, ttl); others wait.
		b.mustRefuse("b", 6, ttl, ReasonHeld)
		b.mustRefuse("a", 4, ttl, ReasonStaleTerm) // the highest term survived
		// A set unknown to the restored state is held too: the state file may have been lost.
		if _, err := b.c.Acquire(context.Background(), "fresh", "c", 1, ttl); err == nil {
			t.Fatalf("a set unknown before the restart was granted during the hold")
		}
		time.Sleep(hold - time.Millisecond)
		b.mustRefuse("b", 7, ttl, ReasonHeld)
		time.Sleep(time.Millisecond)
		b.mustGrant("b", 7, ttl)
		if got := time.Since(start); got != hold {
			t.Fatalf("b granted %s after the restart, want exactly the hold of %s", got, hold)
		}
		if _, err := b.c.Acquire(context.Background(), "fresh", "c", 1, ttl); err != nil {
			t.Fatalf("fresh set after the hold: %v", err)
		}
	})
}

func TestServer_RestartHoldLetsPersistedHolderRenew(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBed(t, ServerConfig{})
		ttl := 3 * time.Second
		b.mustGrant("a", 5, ttl)
		b.restart(time.Minute)
		time.Sleep(time.Second)
		b.mustGrant("a", 5, ttl)
		b.mustRefuse("b", 6, ttl, ReasonHeld)
		// b's higher term stops a's renewals; a's lease then runs out after its TTL, but the
		// restart hold still covers everything but a for the rest of the minute.
		b.mustRefuse("a", 5, ttl, ReasonSuperseded)
		time.Sleep(ttl)
		b.mustRefuse("b", 6, ttl, ReasonRestartHold)
		time.Sleep(time.Minute - ttl - time.Second)
		b.mustGrant("b", 6, ttl)
	})
}

func TestServer_RestartHoldWithoutLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBed(t, ServerConfig{})
		ttl := 2 * time.Second
		b.mustGrant("a", 5, ttl)
		if err := b.c.Release(context.Background(), "prod", "a", 5); err != nil {
			t.Fatalf("Release: %v", err)
		}
		b.restart(5 * time.Second)
		refused := b.mustRefuse("a", 5, ttl, ReasonRestartHold)
		if refused.Remaining != 5*time.Second {
			t.Fatalf("remaining = %s, want 5s", refused.Remaining)
		}
		time.Sleep(5 * time.Second)
		b.mustGrant("b", 6, ttl)
	})
}

// Two masters that both believe they lead (a deposed one at term 3 and the new one at term 4)
// race for the lease with their renewers; at no instant do both hold it.
func TestServer_TwoMastersRacing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBed(t, ServerConfig{})
		ttl := 3 * time.Second
		newLease := func(holder string) *Lease {
			l, err := NewLease(b.c, LeaseConfig{Set: "prod", Holder: holder, TTL: ttl, Logger: testLogger(t, holder)})
			if err != nil {
				t.Fatalf("NewLease: %v", err)
			}
			return l
		}
		old, cur := newLease("old"), newLease("new")
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{}, 3)
		run := func(l *Lease, term uint64) {
			defer func() { done <- struct{}{} }()
			if err := l.Run(ctx, term); err != nil {
				t.Errorf("Run: %v", err)
			}
		}
		go run(old, 3)
		go run(cur, 4)
		var firstNew time.Time
		overlaps := 0
		go func() {
			defer func() { done <- struct{}{} }()
			for range 20_000 { // 20 s of virtual time in 1 ms steps
				o, n := old.Valid(3), cur.Valid(4)
				if o && n {
					overlaps++
				}
				if n && firstNew.IsZero() {
					firstNew = time.Now()
				}
				time.Sleep(time.Millisecond)
			}
		}()
		time.Sleep(20 * time.Second)
		<-done // the sampler
		cancel()
		<-done
		<-done
		if overlaps > 0 {
			t.Fatalf("both masters passed the lease check at %d sampled instants", overlaps)
		}
		if firstNew.IsZero() {
			t.Fatalf("the newer master never got the lease")
		}
		if old.Valid(3) {
			t.Fatalf("the deposed master still holds the lease")
		}
		if st := old.Status(); st.Holder != "new" || st.Term != 4 {
			t.Fatalf("deposed master's status = %+v, want holder new term 4", st)
		}
	})
}

// A deposed leader that still reaches the witness cannot renew once the new leader asked, and
// the new leader gets the lease exactly when the deposed one's last grant runs out.
func TestServer_DeposedLeaderCannotRenew(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBed(t, ServerConfig{})
		ttl := 6 * time.Second
		b.mustGrant("a", 5, ttl)
		time.Sleep(2 * time.Second)
		last := time.Now()
		b.mustGrant("a", 5, ttl)
		time.Sleep(time.Second)
		b.mustRefuse("b", 6, ttl, ReasonHeld)
		b.mustRefuse("a", 5, ttl, ReasonSuperseded)
		time.Sleep(time.Second)
		b.mustRefuse("a", 5, ttl, ReasonSuperseded)
		for time.Since(last) < ttl {
			b.mustRefuse("b", 6, ttl, ReasonHeld)
			time.Sleep(500 * time.Millisecond)
		}
		b.mustGrant("b", 6, ttl)
		b.mustRefuse("a", 5, ttl, ReasonStaleTerm)
	})
}

// A fresh witness (empty data directory) has granted nothing, so nothing can be outstanding: it
// grants at once instead of holding every lease for a fixed time (issue 11, case 10).
func TestServer_FreshWitnessHoldsNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBed(t, ServerConfig{RestartHold: 0})
		b.restart(0) // the default: hold the longest TTL ever granted
		b.mustGrant("a", 1, 3*time.Second)
	})
}

// The default hold after a restart is the longest TTL this witness ever granted (persisted),
// whatever the current lease's TTL is.
func TestServer_RestartHoldIsLongestGrantedTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBed(t, ServerConfig{})
		b.mustGrant("a", 5, 7*time.Second)
		if err := b.c.Release(context.Background(), "prod", "a", 5); err != nil {
			t.Fatalf("Release: %v", err)
		}
		b.mustGrant("b", 6, 2*time.Second) // a shorter lease later does not shorten the hold
		b.restart(0)
		start := time.Now()
		refused := b.mustRefuse("c", 7, 2*time.Second, ReasonHeld)
		if refused.Remaining != 7*time.Second {
			t.Fatalf("remaining = %s, want the longest granted TTL 7s", refused.Remaining)
		}
		time.Sleep(7*time.Second - time.Millisecond)
		b.mustRefuse("c", 7, 2*time.Second, ReasonHeld)
		time.Sleep(time.Millisecond)
		b.mustGrant("c", 7, 2*time.Second)
		if got := time.Since(start); got != 7*time.Second {
			t.Fatalf("granted %s after the restart, want 7s", got)
		}
	})
}

func TestRestartHold(t *testing.T) {
	for _, tc := range []struct{ configured, granted, want time.Duration }{
		{0, 0, 0}, {0, 10 * time.Second, 10 * time.Second}, {time.Minute, 10 * time.Second, time.Minute},
		{5 * time.Second, 10 * time.Second, 10 * time.Second}, {-1, time.Minute, 0},
	} {
		if got := restartHold(tc.configured, tc.granted); got != tc.want {
			t.Errorf("restartHold(%s, %s) = %s, want %s", tc.configured, tc.granted, got, tc.want)
		}
	}
}

// TestServer_HugeTermCannotLockTheSetOut replays issue 13 item 2: a client with the lease token
// asks for the lease with the largest term it can send. Neither 2^64-1 (out of range) nor a term
// beyond the jump bound is granted or remembered as a waiting term, so the real leader keeps
// renewing, and its successor with the next Raft term takes over as usual.
func TestServer_HugeTermCannotLockTheSetOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBed(t, ServerConfig{MaxTermJump: 50})
		ttl := 3 * time.Second
		b.mustGrant("m1", 7, ttl)
		code, _, body := b.post(pathLease, `{"set":"prod","holder":"evil","term":18446744073709551615,"ttl_ms":3000}`)
		if code != http.StatusBadRequest || !strings.Contains(body, "above") {
			t.Fatalf("term 2^64-1: %d %s, want 400 naming the bound", code, body)
		}
		for _, term := range []uint64{MaxTerm, 7 + 51} {
			b.mustRefuse("evil", term, ttl, ReasonTermJump)
		}
		b.mustGrant("m1", 7, ttl) // not superseded by the refused terms
		time.Sleep(ttl)           // m1 dies; its lease runs out
		b.mustRefuse("evil", MaxTerm, ttl, ReasonTermJump)
		b.mustGrant("m2", 8, ttl)
		b.mustGrant("m2", 8+50, ttl) // a jump within the bound is a master's
	})
}

// TestServer_ResetLease: the documented recovery when the highest term granted is one no master
// reaches (a lease token holder took it before any master did, or the master group was rebuilt
// with terms from 1). The reset is refused while the lease is live, forgets the set once it is
// not, survives a restart, and then the next master gets the lease at its own term.
func TestServer_ResetLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBed(t, ServerConfig{})
		ttl := 3 * time.Second
		ctx := context.Background()
		if _, err := b.c.ResetLease(ctx, "prod"); !errors.Is(err, ErrUnknownSet) {
			t.Fatalf("reset of an unknown set: %v, want ErrUnknownSet", err)
		}
		b.mustGrant("evil", MaxTerm, ttl) // a fresh set has no jump bound
		b.mustRefuse("m1", 7, ttl, ReasonStaleTerm)
		time.Sleep(time.Second)
		_, err := b.c.ResetLease(ctx, "prod")
		var live *LiveLeaseError
		if !errors.As(err, &live) || !errors.Is(err, ErrLeaseLive) {
			t.Fatalf("reset of a live lease: %v, want a LiveLeaseError", err)
		}
		if live.Holder != "evil" || live.Term != MaxTerm || live.Remaining != 2*time.Second || !strings.Contains(live.Message, "never reset") {
			t.Fatalf("refusal = %+v", live)
		}
		b.mustRefuse("m1", 7, ttl, ReasonStaleTerm) // the refused reset changed nothing
		time.Sleep(2 * time.Second)
		b.mustRefuse("m1", 7, ttl, ReasonStaleTerm) // expired, still locked out: only the reset helps
		res, err := b.c.ResetLease(ctx, "prod")
		if err != nil || res.Holder != "evil" || res.Term != MaxTerm {
			t.Fatalf("reset after expiry: %+v, %v", res, err)
		}
		b.restart(-1)
		b.mustGrant("m1", 7, ttl)
		b.mustRefuse("m0", 6, ttl, ReasonStaleTerm) // the guard starts again from the new grant
	})
}
