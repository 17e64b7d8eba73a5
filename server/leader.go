package server

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// LeaderTask is leader-only work (the controller, the witness lease). It runs from the moment
// this master gains leadership until ctx is cancelled when it loses it.
type LeaderTask func(ctx context.Context)

type leaderTasks struct {
	s     *Server
	mu    sync.Mutex
	tasks []namedTask
}

type namedTask struct {
	name string
	fn   LeaderTask
}

func newLeaderTasks(s *Server) *leaderTasks { return &leaderTasks{s: s} }

// awaitLeaderReady commits a barrier in the new term: once it returns, this leader has applied
// every entry committed before its election, so checks against its state and consistent reads
// are no longer stale. Writes and consistent reads wait for it (forwardUnary, consistentRead).
func (s *Server) awaitLeaderReady(ctx context.Context) bool {
	term := s.raft.CurrentTerm()
	for ctx.Err() == nil {
		if err := s.raft.Barrier(10 * time.Second).Error(); err == nil {
			if s.raft.CurrentTerm() == term && s.raft.State() == raft.Leader {
				s.readyTerm.Store(term)
				return true
			}
			return false
		} else {
			s.logger.Warn("barrier after gaining leadership failed; retrying", "error", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	return false
}

// leaderReady reports whether this master leads and has applied everything of earlier terms.
func (s *Server) leaderReady() bool {
	return s.raft.State() == raft.Leader && s.readyTerm.Load() == s.raft.CurrentTerm()
}

// AddLeaderTask registers work to run while this master leads. Call it before Start.
func (s *Server) AddLeaderTask(name string, fn LeaderTask) {
	s.leaderTasks.mu.Lock()
	defer s.leaderTasks.mu.Unlock()
	s.leaderTasks.tasks = append(s.leaderTasks.tasks, namedTask{name, fn})
}

// run follows leadership changes; it starts the tasks on gain and cancels them on loss.
func (l *leaderTasks) run(ctx context.Context) {
	var cancel context.CancelFunc
	var wg sync.WaitGroup
	stop := func() {
		if cancel != nil {
			cancel()
			wg.Wait()
			cancel = nil
		}
	}
	defer stop()
	start := func() {
		if cancel != nil {
			return
		}
		var tctx context.Context
		tctx, cancel = context.WithCancel(ctx)
		l.mu.Lock()
		tasks := append([]namedTask(nil), l.tasks...)
		l.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !l.s.awaitLeaderReady(tctx) {
				return
			}
			for _, t := range tasks {
				wg.Add(1)
				go func() { defer wg.Done(); t.fn(tctx) }()
			}
		}()
	}
	if l.s.IsLeader() {
		l.s.logger.Info("this master is the leader")
		l.s.metrics.isLeader.Set(1)
		start()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case isLeader := <-l.s.notifyCh:
			if isLeader {
				l.s.logger.Info("gained leadership", "term", l.s.raft.CurrentTerm())
				l.s.metrics.isLeader.Set(1)
				start()
			} else {
				l.s.logger.Info("lost leadership: stopping leader-only work")
				l.s.metrics.isLeader.Set(0)
				l.s.readyTerm.Store(0)
				stop()
			}
		}
	}
}
