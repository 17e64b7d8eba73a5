package witness

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// leaseLog records when lease requests reach the witness handler.
type leaseLog struct {
	mu    sync.Mutex
	times []time.Time
	h     http.Handler
}

func (l *leaseLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == pathLease && r.Method == http.MethodPost {
		l.mu.Lock()
		l.times = append(l.times, time.Now())
		l.mu.Unlock()
	}
	l.h.ServeHTTP(w, r)
}

func (l *leaseLog) snapshot() []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Time(nil), l.times...)
}

func newTestLease(t *testing.T, c *Client, holder string, ttl, drift time.Duration) *Lease {
	t.Helper()
	l, err := NewLease(c, LeaseConfig{Set: "prod", Holder: holder, TTL: ttl, DriftMargin: drift, Logger: testLogger(t, holder)})
	if err != nil {
		t.Fatalf("NewLease: %v", err)
	}
	return l
}

// runLease starts l.Run in the bubble and returns a stop function that cancels and waits.
func runLease(t *testing.T, l *Lease, term uint64) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, term) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

func TestLease_RenewsEveryThirdOfTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBed(t, ServerConfig{})
		log := &leaseLog{h: b.srv.Handler()}
		b.tr.set(log)
		ttl, drift := 9*time.Second, time.Second
		l := newTestLease(t, b.c, "a", ttl, drift)
		start := time.Now()
		stop := runLease(t, l, 5)
		synctest.Wait()
		if got, want := l.HeldUntil(), start.Add(ttl-drift); !got.Equal(want) {
			t.Fatalf("HeldUntil = %s, want send time + TTL - drift = %s", got, want)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		var offsets []time.Duration
		for _, at := range log.snapshot() {
			offsets = append(offsets, at.Sub(start))
		}
		want := []time.Duration{0, 3 * time.Second, 6 * time.Second, 9 * time.Second}
		if len(offsets) != len(want) {
			t.Fatalf("renewals at %v, want %v", offsets, want)
		}
		for i := range want {
			if offsets[i] != want[i] {
				t.Fatalf("renewals at %v, want %v", offsets, want)
			}
		}
		if got, wantHeld := l.HeldUntil(), start.Add(9*time.Second+ttl-drift); !got.Equal(wantHeld) {
			t.Fatalf("HeldUntil after renewals = %s, want %s", got, wantHeld)
		}
		if !l.Valid(5) || l.Valid(4) || l.Valid(6) || l.Valid(0) {
			t.Fatalf("Valid is true for a wrong term or false for the held term")
		}
		st := l.Status()
		if st.Holder != "a" || st.Term != 5 || !st.WitnessReachable || st.LastError != nil || !st.HeldUntil.Equal(l.HeldUntil()) {
			t.Fatalf("Status = %+v", st)
		}
		stop()
	})
}

// HeldUntil counts from when the request was sent, not from when the answer arrived.
func TestLease_HeldUntilFromSendTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBed(t, ServerConfig{})
		b.tr.setDelay(2 * time.Second) // slow network: the grant arrives 2 s after the send
		ttl, drift := 9*time.Second, 500*time.Millisecond
		l := newTestLease(t, b.c, "a", ttl, drift)
		start := time.Now()
		stop := runLease(t, l, 5)
		time.Sleep(2*time.Second + time.Millisecond)
		if got, want := l.HeldUntil(), start.Add(ttl-drift); !got.Equal(want) {
			t.Fatalf("HeldUntil = %s (%s after start), want %s", got, got.Sub(start), want.Sub(start))
		}
		// Acquire reports the same bound with the client's default drift (TTL/10).
		res, err := b.c.Acquire(context.Background(), "other", "x", 1, ttl)
		if err != nil {
			t.Fatalf("Acquire: %v", err)
		}
		if want := res.SentAt.Add(ttl - ttl/10); !res.HeldUntil.Equal(want) || !res.SentAt.Equal(start.Add(2*time.Second+time.Millisecond)) {
			t.Fatalf("LeaseResult = %+v, want HeldUntil = SentAt + TTL - TTL/10", res)
		}
		stop()
	})
}

func TestLease_WitnessUnreachable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBed(t, ServerConfig{})
		ttl, drift := 6*time.Second, time.Second
		l := newTestLease(t, b.c, "a", ttl, drift)
		stop := runLease(t, l, 5)
		synctest.Wait()
		granted := time.Now()
		b.tr.down.Store(true)
		time.Sleep(ttl - drift - time.Millisecond)
		if !l.Valid(5) {
			t.Fatalf("lease invalid before its held-until while the witness is unreachable")
		}
		time.Sleep(time.Millisecond)
		if l.Valid(5) {
			t.Fatalf("lease still valid at %s after the last grant, past TTL - drift", time.Since(granted))
		}
		st := l.Status()
		if st.WitnessReachable || !errors.Is(st.LastError, errUnreachable) {
			t.Fatalf("Status while unreachable = %+v", st)
		}
		b.tr.down.Store(false)
		time.Sleep(ttl / 3)
		if !l.Valid(5) || !l.Status().WitnessReachable {
			t.Fatalf("lease not re-acquired after the witness came back: %+v", l.Status())
		}
		stop()
	})
}

// Stopping Run drops the lease at once and releases it, so the next leader need not wait.
func TestLease_StopReleases(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBed(t, ServerConfig{})
		l := newTestLease(t, b.c, "a", 10*time.Second, 0)
		stop := runLease(t, l, 5)
		synctest.Wait()
		if !l.Valid(5) {
			t.Fatalf("lease not acquired")
		}
		stop()
		if l.Valid(5) || !l.HeldUntil().IsZero() {
			t.Fatalf("lease still valid after Run returned")
		}
		b.mustGrant("b", 6, 10*time.Second)
		// A second Run of the same Lease for a new term works.
		stop2 := runLease(t, l, 7)
		synctest.Wait()
		if l.Valid(7) {
			t.Fatalf("lease granted to a while b holds it")
		}
		var refused *RefusedError
		if st := l.Status(); !errors.As(st.LastError, &refused) || st.Holder != "b" || st.Term != 6 {
			t.Fatalf("Status = %+v, want refused, holder b term 6", st)
		}
		stop2()
	})
}

func TestLease_RunTwiceAndBadTerm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBed(t, ServerConfig{})
		l := newTestLease(t, b.c, "a", 3*time.Second, 0)
		stop := runLease(t, l, 5)
		synctest.Wait()
		if err := l.Run(context.Background(), 6); !errors.Is(err, ErrLeaseRunning) {
			t.Fatalf("second Run = %v, want ErrLeaseRunning", err)
		}
		stop()
		if err := l.Run(context.Background(), 0); err == nil {
			t.Fatalf("Run with term 0 succeeded")
		}
	})
}

func TestNewLease_Validation(t *testing.T) {
	t.Parallel()
	c, err := NewClient(ClientConfig{URL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []LeaseConfig{
		{Holder: "a"},
		{Set: "s"},
		{Set: "s", Holder: "a", TTL: 500 * time.Millisecond},
		{Set: "s", Holder: "a", TTL: 10 * time.Second, DriftMargin: 5 * time.Second},
		{Set: "s", Holder: "a", DriftMargin: -time.Second},
	} {
		if _, err := NewLease(c, cfg); err == nil {
			t.Errorf("NewLease(%+v) succeeded", cfg)
		}
	}
	if _, err := NewLease(nil, LeaseConfig{Set: "s", Holder: "a"}); err == nil {
		t.Errorf("NewLease without client succeeded")
	}
	l, err := NewLease(c, LeaseConfig{Set: "s", Holder: "a"})
	if err != nil {
		t.Fatalf("NewLease with defaults: %v", err)
	}
	if l.cfg.TTL != DefaultLeaseTTL || l.cfg.DriftMargin != DefaultLeaseTTL/10 {
		t.Errorf("defaults = %s/%s", l.cfg.TTL, l.cfg.DriftMargin)
	}
}
