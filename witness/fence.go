package witness

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Errors returned by Fence.Check, wrapped with context; match them with errors.Is.
var (
	// ErrNotLeader: this master is not (or no longer) the Raft leader.
	ErrNotLeader = errors.New("witness: not the raft leader")
	// ErrLeaseExpired: this master holds no unexpired witness lease.
	ErrLeaseExpired = errors.New("witness: lease expired")
	// ErrLeaseTermMismatch: the lease held was granted for another Raft term than the current one.
	ErrLeaseTermMismatch = errors.New("witness: lease held for another term")
)

// LeaderState is what the Fence needs from Raft. The server package adapts *raft.Raft to it:
// IsLeader is State() == raft.Leader, Term is CurrentTerm(), VerifyLeader waits for
// VerifyLeader().Error() or ctx, whichever comes first.
type LeaderState interface {
	IsLeader() bool
	Term() uint64
	VerifyLeader(ctx context.Context) error
}

// Fence decides whether this master may make a mutating ECX call now. It is safe for
// concurrent use and cheap when a Lease is configured (no I/O).
type Fence struct {
	leader LeaderState
	lease  FenceLease
}

// NewFence returns a Fence over leader and lease (a *Lease for one witness, a *QuorumLease for
// several). With a nil lease (no witness configured) the
// Fence falls back to leader.VerifyLeader on every Check, which is weaker: a deposed leader can
// still pass between its last contact with a quorum and the mutating call. NewFence logs that
// at Warn once, so the weaker mode is visible in the logs.
func NewFence(leader LeaderState, lease FenceLease, logger hclog.Logger) *Fence {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	switch l := lease.(type) {
	case *Lease:
		if l == nil {
			lease = nil
		}
	case *QuorumLease:
		if l == nil {
			lease = nil
		}
	}
	if lease == nil {
		logger.Warn("no witness configured: the fence falls back to VerifyLeader before each mutating call, which does not exclude a deposed leader acting for a short time; configure -witness for split-brain protection")
	}
	return &Fence{leader: leader, lease: lease}
}

// Check returns nil only while this master is Raft leader and, with a lease, holds an
// unexpired lease granted for its current term; without a lease, only after VerifyLeader
// succeeded. Otherwise it returns an error wrapping ErrNotLeader, ErrLeaseExpired or
// ErrLeaseTermMismatch.
func (f *Fence) Check(ctx context.Context) error {
	if !f.leader.IsLeader() {
		return fmt.Errorf("fence: %w", ErrNotLeader)
	}
	term := f.leader.Term()
	if f.lease == nil {
		if err := f.leader.VerifyLeader(ctx); err != nil {
			return fmt.Errorf("fence: %w: verify leader at term %d: %w", ErrNotLeader, term, err)
		}
	} else if err := f.checkLease(term); err != nil {
		return err
	}
	// Leadership may have changed while we looked at the lease or verified.
	if !f.leader.IsLeader() || f.leader.Term() != term {
		return fmt.Errorf("fence: %w: leadership changed during the check (term %d)", ErrNotLeader, term)
	}
	return nil
}

func (f *Fence) checkLease(term uint64) error {
	held, until := f.lease.held()
	switch {
	case held != 0 && held != term:
		return fmt.Errorf("fence: %w: lease granted for term %d, leader term is %d", ErrLeaseTermMismatch, held, term)
	case held == 0:
		return fmt.Errorf("fence: %w: no witness lease held for term %d", ErrLeaseExpired, term)
	case !f.lease.now().Before(until):
		return fmt.Errorf("fence: %w: witness lease for term %d ended at %s", ErrLeaseExpired, term, until.Format("15:04:05.000"))
	}
	return nil
}

// LeaseEnd returns when the lease this master holds for its current Raft term ends, by this
// master's wall clock; ok is false when it holds none, is not the leader, or has no lease
// configured. Whatever runs under the fence outside this process (a handover hook) can be
// bounded by it: a new leader is granted the lease only after it ended.
func (f *Fence) LeaseEnd() (end time.Time, ok bool) {
	if f.lease == nil || !f.leader.IsLeader() {
		return time.Time{}, false
	}
	held, until := f.lease.held()
	if held == 0 || held != f.leader.Term() {
		return time.Time{}, false
	}
	return until, true
}

// Guard checks the fence and returns a context that ends when the lease does (just ctx with a
// cancel func when there is no lease), so a mutating call started under the fence is cut off at
// the lease deadline. The caller must call cancel. A call already sent may still take effect
// after the deadline: keep each call well below the drift margin or let it finish before Run's
// context is cancelled.
func (f *Fence) Guard(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if err := f.Check(ctx); err != nil {
		return ctx, func() {}, err
	}
	if f.lease == nil {
		c, cancel := context.WithCancel(ctx)
		return c, cancel, nil
	}
	_, until := f.lease.held()
	c, cancel := context.WithDeadline(ctx, until)
	return c, cancel, nil
}
