package witness

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// ErrLeaseRunning is returned by Lease.Run when another Run of the same Lease is active.
var ErrLeaseRunning = errors.New("witness: lease renewer already running")

// maxReleaseWait bounds the best-effort release when Run stops.
const maxReleaseWait = 2 * time.Second

// LeaseConfig configures a Lease. Set and Holder are required.
type LeaseConfig struct {
	// Set is the cluster-set name the lease is for.
	Set string
	// Holder identifies this master (its Raft node id).
	Holder string
	// TTL is the lease TTL asked for (default DefaultLeaseTTL); it is renewed every TTL/3.
	TTL time.Duration
	// DriftMargin is subtracted from each held-until (default TTL/10; must be below TTL/2).
	DriftMargin time.Duration
	// Logger receives lease transitions (default: discard).
	Logger hclog.Logger
	// Clock is the time source for held-until and Valid (default RealClock).
	Clock Clock
}

// LeaseStatus is a snapshot of a Lease, for status displays.
type LeaseStatus struct {
	// Holder and Term are the lease holder and term as last reported by the witness: this
	// master after a grant, the other holder after a refusal; empty before any answer.
	Holder string
	Term   uint64
	// HeldUntil is until when this master holds the lease; zero when it does not.
	HeldUntil time.Time
	// LastError is the error of the last attempt, nil if it succeeded.
	LastError error
	// WitnessReachable is true when the last attempt got an HTTP answer.
	WitnessReachable bool
}

// Lease keeps the witness lease of one master renewed while its Run is active, and tells the
// Fence until when it may act. Its methods are safe for concurrent use.
type Lease struct {
	client *Client
	cfg    LeaseConfig
	logger hclog.Logger
	clock  Clock

	running atomic.Bool

	mu        sync.Mutex
	term      uint64    // term of the lease held; 0 when none
	heldUntil time.Time // zero when none
	status    LeaseStatus
}

// NewLease checks cfg and returns a Lease that renews through client once Run is called.
func NewLease(client *Client, cfg LeaseConfig) (*Lease, error) {
	if client == nil {
		return nil, errors.New("witness: NewLease needs a client")
	}
	if err := errors.Join(validName("set", cfg.Set), validName("holder", cfg.Holder)); err != nil {
		return nil, fmt.Errorf("witness: lease config: %w", err)
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultLeaseTTL
	}
	if cfg.TTL < MinTTL {
		return nil, fmt.Errorf("witness: lease TTL %s is below %s", cfg.TTL, MinTTL)
	}
	if cfg.DriftMargin == 0 {
		cfg.DriftMargin = cfg.TTL / 10
	}
	if cfg.DriftMargin < 0 || cfg.DriftMargin >= cfg.TTL/2 {
		return nil, fmt.Errorf("witness: drift margin %s must be in [0, TTL/2)", cfg.DriftMargin)
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Clock == nil {
		cfg.Clock = RealClock{}
	}
	return &Lease{client: client, cfg: cfg, logger: cfg.Logger, clock: cfg.Clock}, nil
}

// Run acquires the lease for term and renews it every TTL/3 until ctx is done; then it drops
// the lease locally and releases it at the witness (best effort, bounded by min(TTL/3, 2s)).
// Call it when this master becomes Raft leader, with the leader term, and cancel ctx when
// leadership is lost, only after every call admitted by the Fence has returned: the release
// lets the next leader act at once. It returns ErrLeaseRunning if a Run is active, else nil.
func (l *Lease) Run(ctx context.Context, term uint64) error {
	if term == 0 {
		return errors.New("witness: lease term must be positive")
	}
	if !l.running.CompareAndSwap(false, true) {
		return ErrLeaseRunning
	}
	defer l.running.Store(false)
	timer := time.NewTimer(0)
	defer timer.Stop()
	attempted := false
	for {
		select {
		case <-ctx.Done():
			l.stop(ctx, term, attempted)
			return nil
		case <-timer.C:
		}
		attempted = true
		timer.Reset(l.renew(ctx, term))
	}
}

// renew makes one attempt and returns the delay until the next one.
func (l *Lease) renew(ctx context.Context, term uint64) time.Duration {
	period := l.cfg.TTL / 3
	actx, cancel := context.WithTimeout(ctx, period)
	before := l.clock.Now() // no later than the send time the witness's TTL starts after
	res, err := l.client.Acquire(actx, l.cfg.Set, l.cfg.Holder, term, l.cfg.TTL)
	cancel()
	l.mu.Lock()
	defer l.mu.Unlock()
	wasOK := l.status.LastError == nil
	l.status.LastError = err
	var refused *RefusedError
	switch {
	case err == nil:
		if l.term != term {
			l.logger.Info("witness lease acquired", "set", l.cfg.Set, "term", term, "ttl", res.TTL)
		}
		held := before.Add(res.TTL - l.cfg.DriftMargin)
		if l.term != term || held.After(l.heldUntil) {
			l.heldUntil = held
		}
		l.term = term
		l.status.Holder, l.status.Term, l.status.WitnessReachable = res.Holder, res.Term, true
		return max(before.Add(period).Sub(l.clock.Now()), 0)
	case errors.As(err, &refused):
		// The witness no longer agrees that we hold the lease: stop acting now rather than at
		// the held-until we computed, which is always safe.
		if l.term != 0 {
			l.logger.Warn("witness lease lost", "set", l.cfg.Set, "term", term, "error", err)
		} else if wasOK {
			l.logger.Info("witness lease refused", "set", l.cfg.Set, "term", term, "error", err)
		}
		l.term, l.heldUntil = 0, time.Time{}
		l.status.Holder, l.status.Term, l.status.WitnessReachable = refused.Holder, refused.Term, true
		if refused.Remaining > 0 && refused.Remaining < period {
			return refused.Remaining
		}
		return period
	default:
		// Keep what we hold: it stays valid until its held-until, renewal or not.
		var se *StatusError
		l.status.WitnessReachable = errors.As(err, &se)
		if wasOK && ctx.Err() == nil {
			l.logger.Warn("cannot renew witness lease", "set", l.cfg.Set, "term", term,
				"held_until", l.heldUntil, "error", err)
		}
		return period / 3
	}
}

func (l *Lease) stop(ctx context.Context, term uint64, attempted bool) {
	l.mu.Lock()
	held := l.term == term
	l.term, l.heldUntil = 0, time.Time{}
	l.mu.Unlock()
	if !attempted {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(l.cfg.TTL/3, maxReleaseWait))
	defer cancel()
	// A request in flight when ctx ended may have been granted, so release even if not held.
	if err := l.client.Release(rctx, l.cfg.Set, l.cfg.Holder, term); err != nil {
		l.logger.Warn("cannot release witness lease; it expires by itself", "set", l.cfg.Set, "term", term, "error", err)
		return
	}
	if held {
		l.logger.Info("witness lease released", "set", l.cfg.Set, "term", term)
	}
}

// HeldUntil is until when this master holds the lease, by its Clock; zero when it does not.
func (l *Lease) HeldUntil() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.heldUntil
}

// Valid reports whether the lease is held, unexpired, for exactly term.
func (l *Lease) Valid(term uint64) bool {
	held, until := l.held()
	return term != 0 && held == term && l.clock.Now().Before(until)
}

// held returns the term and held-until of the lease, (0, zero) when none is held.
func (l *Lease) held() (uint64, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.term, l.heldUntil
}

// Status returns a snapshot for status displays.
func (l *Lease) Status() LeaseStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.status
	st.HeldUntil = l.heldUntil
	return st
}
