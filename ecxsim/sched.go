package ecxsim

import (
	"container/heap"
	"sync"
	"time"
)

// scheduler runs functions at given instants on one goroutine. It replaces per-object tickers so
// that a Sim with thousands of clusters needs one timer. Functions run in time order (FIFO for equal
// instants) and must not block for long: they take a cluster lock, change state and return.
type scheduler struct {
	mu      sync.Mutex
	items   eventHeap
	seq     uint64
	wake    chan struct{}
	done    chan struct{}
	stopped chan struct{}
	closed  bool
}

type event struct {
	at  time.Time
	seq uint64
	fn  func()
}

type eventHeap []event

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(event)) }
func (h *eventHeap) Pop() any {
	old := *h
	n := len(old)
	e := old[n-1]
	old[n-1] = event{}
	*h = old[:n-1]
	return e
}

func newScheduler() *scheduler {
	s := &scheduler{
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go s.run()
	return s
}

// at schedules fn to run at t (or as soon as possible when t has passed). After stop, at does
// nothing.
func (s *scheduler) at(t time.Time, fn func()) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.seq++
	heap.Push(&s.items, event{at: t, seq: s.seq, fn: fn})
	first := s.items[0].seq == s.seq
	s.mu.Unlock()
	if first {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// after schedules fn to run d from now.
func (s *scheduler) after(d time.Duration, fn func()) { s.at(time.Now().Add(d), fn) }

// stop ends the scheduler goroutine and waits for the running function, if any, to return. Pending
// functions are dropped. It is idempotent.
func (s *scheduler) stop() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.done)
	}
	s.mu.Unlock()
	<-s.stopped
}

func (s *scheduler) run() {
	defer close(s.stopped)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		var (
			fn   func()
			wait = time.Hour
		)
		if len(s.items) > 0 {
			if d := time.Until(s.items[0].at); d <= 0 {
				fn = heap.Pop(&s.items).(event).fn
			} else {
				wait = d
			}
		}
		s.mu.Unlock()
		if fn != nil {
			select {
			case <-s.done:
				return
			default:
			}
			fn()
			continue
		}
		timer.Reset(wait)
		select {
		case <-s.done:
			return
		case <-s.wake:
		case <-timer.C:
		}
	}
}
