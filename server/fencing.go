package server

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cset-project/cset/controller"
	"github.com/cset-project/cset/fsm"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"github.com/cset-project/cset/witness"
	"github.com/hashicorp/raft"
)

// raftLeader adapts *raft.Raft to witness.LeaderState.
type raftLeader struct{ r *raft.Raft }

func (l raftLeader) IsLeader() bool { return l.r.State() == raft.Leader }
func (l raftLeader) Term() uint64   { return l.r.CurrentTerm() }
func (l raftLeader) VerifyLeader(ctx context.Context) error {
	f := l.r.VerifyLeader()
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// committer adapts the server's raftApply to controller.Committer.
type committer struct{ s *Server }

func (c committer) Commit(ctx context.Context, e *fsmv1.LogEntry) (*fsm.Result, error) {
	return c.s.raftApply(ctx, e)
}

// fencing holds the split-brain protection of this master (docs/design.md, "Split-brain
// protection"): the witness client, and while it leads the witness lease, the fence every
// mutating ECX call checks and the tracker of the guard heartbeats it acknowledges. The
// controller task sets them; Status, CheckMember and GuardHeartbeat read them.
type fencing struct {
	// witnesses are the configured witnesses (nil without): one, or an odd number of which a
	// majority must grant the lease and agree that a member is silent (docs/witness.md).
	witnesses *witness.Quorum
	lease     atomic.Pointer[witness.QuorumLease]
	fence     atomic.Pointer[witness.Fence] // set while the controller task runs
	// guards records the guard heartbeats this leader acknowledges; set while the controller
	// task runs (GuardHeartbeat acknowledges nothing without it).
	guards atomic.Pointer[guardTracker]
	// ctl is the controller while it runs (Status reads its brake).
	ctl atomic.Pointer[controller.Controller]
}

// setupFencing creates the witness client (when configured) and registers the controller as
// a leader task: every leadership gets a fresh lease, fence and controller.
func (s *Server) setupFencing() error {
	fen := &fencing{}
	if urls := s.cfg.WitnessURLs(); len(urls) > 0 {
		token := ""
		if s.cfg.WitnessTokenFile != "" {
			b, err := os.ReadFile(s.cfg.WitnessTokenFile)
			if err != nil {
				return fmt.Errorf("witness token file: %w", err)
			}
			token = strings.TrimSpace(string(b))
		}
		clients := make([]*witness.Client, 0, len(urls))
		for _, u := range urls {
			ca := s.cfg.WitnessCAFile
			if ca == "" && strings.HasPrefix(u, "https://") {
				ca = s.cfg.TLS.CA
			}
			cl, err := witness.NewClient(witness.ClientConfig{URL: u, Token: token, CAFile: ca, Timeout: 2 * time.Second})
			if err != nil {
				return fmt.Errorf("witness client: %w", err)
			}
			clients = append(clients, cl)
		}
		q, err := witness.NewQuorum(clients, urls)
		if err != nil {
			return fmt.Errorf("witnesses: %w", err)
		}
		fen.witnesses = q
	}
	s.fencing = fen
	s.witnessStatus = fen.info
	if s.cfg.Tiebreaker() {
		// A tie-breaker never drives ECX: while it leads (only until a full master takes
		// over) no controller runs, no lease is held and no guard is acknowledged.
		s.AddLeaderTask("hand-over", s.handOverLeadership)
		return nil
	}
	s.AddLeaderTask("controller", func(ctx context.Context) { s.runController(ctx, fen) })
	return nil
}

// info is the witness part of Status: with several witnesses the majority result and each
// witness's lease (docs/witness.md, "Several witnesses").
func (fen *fencing) info() *apiv1.WitnessInfo {
	if fen.witnesses == nil {
		return &apiv1.WitnessInfo{Configured: false}
	}
	urls := fen.witnesses.URLs()
	wi := &apiv1.WitnessInfo{Configured: true, Url: strings.Join(urls, ","), Majority: uint32(witness.Majority(len(urls)))}
	l := fen.lease.Load()
	if l == nil {
		if len(urls) > 1 {
			for _, u := range urls {
				wi.Witnesses = append(wi.Witnesses, &apiv1.WitnessEndpoint{Url: u})
			}
		}
		return wi
	}
	st := l.Status()
	wi.Granting = uint32(st.Granting)
	wi.Reachable = st.Reachable >= st.Majority
	if !st.HeldUntil.IsZero() {
		wi.RemainingMs = max(0, time.Until(st.HeldUntil).Milliseconds())
	}
	var errs []string
	for _, w := range st.Witnesses {
		we := &apiv1.WitnessEndpoint{Url: w.URL, Reachable: w.WitnessReachable, Holder: w.Holder, Term: w.Term}
		if !w.HeldUntil.IsZero() {
			we.RemainingMs = max(0, time.Until(w.HeldUntil).Milliseconds())
		}
		if w.LastError != nil {
			we.LastError = w.LastError.Error()
			errs = append(errs, we.LastError)
			if len(urls) > 1 {
				errs[len(errs)-1] = w.URL + ": " + we.LastError
			}
		}
		if wi.Holder == "" && w.Holder != "" && (w.LastError == nil || len(urls) == 1) {
			wi.Holder, wi.Term = w.Holder, w.Term
		}
		wi.Witnesses = append(wi.Witnesses, we)
	}
	if len(urls) == 1 {
		wi.Witnesses = nil // the top-level fields say it all
		wi.Holder, wi.Term = st.Witnesses[0].Holder, st.Witnesses[0].Term
	}
	wi.LastError = strings.Join(errs, "; ")
	return wi
}

// FenceCheck reports whether this master may make a mutating ECX call now, and until when its
// witness lease lets it (zero without a witness). It is the check the controller makes before
// every mutating call; tests use it to prove that no two masters pass it at once.
func (s *Server) FenceCheck(ctx context.Context) (time.Time, error) {
	f := s.fencing.fence.Load()
	if f == nil {
		return time.Time{}, witness.ErrNotLeader
	}
	if err := f.Check(ctx); err != nil {
		return time.Time{}, err
	}
	if l := s.fencing.lease.Load(); l != nil {
		return l.HeldUntil(), nil
	}
	return time.Time{}, nil
}

// runController runs for one leadership: the witness lease (if any), then the controller.
func (s *Server) runController(ctx context.Context, fen *fencing) {
	// Guards are acknowledged from the start of the leadership, before the lease: the tracker
	// counts every member as heard at its creation, so acknowledging early only delays fencing.
	guards := newGuardTracker(time.Now)
	fen.guards.Store(guards)
	defer fen.guards.Store(nil)
	var lease *witness.QuorumLease
	var w controller.Witness
	if fen.witnesses != nil {
		w = fen.witnesses
		set := s.waitClusterSet(ctx)
		if set == "" {
			return
		}
		l, err := witness.NewQuorumLease(fen.witnesses, witness.LeaseConfig{Set: set, Holder: s.cfg.NodeID, TTL: s.cfg.Controller.LeaseTTL, Logger: s.logger.Named("lease")})
		if err != nil {
			s.logger.Error("witness lease", "error", err)
			return
		}
		lease = l
		fen.lease.Store(l)
		term := s.raft.CurrentTerm()
		// The lease outlives the controller by design: it is released only after the controller
		// has stopped and its in-flight ECX calls have returned.
		leaseCtx, cancelLease := context.WithCancel(context.Background())
		leaseDone := make(chan struct{})
		defer func() { cancelLease(); <-leaseDone }()
		go func() {
			defer close(leaseDone)
			if err := l.Run(leaseCtx, term); err != nil {
				s.logger.Error("witness lease renewer stopped", "error", err)
			}
		}()
	}
	fence := witness.NewFence(raftLeader{s.raft}, lease, s.logger.Named("fence"))
	fen.fence.Store(fence)
	defer fen.fence.Store(nil)
	ctl := controller.New(s.cfg.Controller, controller.Deps{State: s.fsm, Committer: committer{s}, Fence: fence, Witness: w, Guards: guards,
		Observer: s.metrics.controller, Logger: s.logger.Named("controller")})
	fen.ctl.Store(ctl)
	defer fen.ctl.Store(nil)
	ctl.Run(ctx)
}

// waitClusterSet waits until the cluster set is initialised and returns its name ("" if ctx ends).
func (s *Server) waitClusterSet(ctx context.Context) string {
	for {
		watch := s.fsm.Watch()
		if cs := s.fsm.ClusterSet(); cs != nil {
			return cs.Name
		}
		select {
		case <-ctx.Done():
			return ""
		case <-watch:
		}
	}
}
