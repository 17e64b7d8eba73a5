package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cset-project/cset/fsm"
)

// errMemberDown is the cause of a wait cancelled because its member was declared down.
var errMemberDown = errors.New("the member was declared down")

// errFenceLost is the cause of an action cancelled because this master lost the fence.
var errFenceLost = errors.New("this master lost the fence")

// fenceRecheck is how often a long action re-checks the fence it runs under.
const fenceRecheck = 100 * time.Millisecond

// whileUp returns a context that is cancelled, with cause errMemberDown, as soon as the state
// shows member declared down or removed: a wait on a member that died ends at once instead of at
// its own timeout (a start waits up to start_timeout), and the operation goes on without it.
// The caller must call cancel.
//
// One watcher per controller (downWatch) reads each watched member once per change of the
// state, however many waits there are: a thousand failovers waiting for their starts each
// reading (and copying) the member at every commit took more CPU than the failovers.
func (c *Controller) whileUp(ctx context.Context, member string) (context.Context, context.CancelFunc) {
	wctx, cancel := context.WithCancelCause(ctx)
	sub := watchDown(c, member, cancel) // reads the member at once
	return wctx, func() {
		sub.stop()
		cancel(context.Canceled)
	}
}

// downWatches holds each controller's downWatch while it has subscribers (kept beside the
// Controller, whose fields are another file's).
var (
	downWatchesMu sync.Mutex
	downWatches   = map[*Controller]*downWatch{}
)

// downWatch cancels the subscribed waits of a member when the state shows it down or removed.
type downWatch struct {
	c    *Controller
	subs map[string]map[*downSub]struct{} // member -> its subscribers
	wake chan struct{}                    // a subscriber came, or the last one left
	// reads counts the members read (tests).
	reads int
}

type downSub struct {
	w      *downWatch
	member string
	cancel context.CancelCauseFunc
}

// watchDown subscribes cancel to member's death; the watch loop starts with the first
// subscriber and ends with the last.
func watchDown(c *Controller, member string, cancel context.CancelCauseFunc) *downSub {
	downWatchesMu.Lock()
	defer downWatchesMu.Unlock()
	w := downWatches[c]
	if w == nil {
		w = &downWatch{c: c, subs: map[string]map[*downSub]struct{}{}, wake: make(chan struct{}, 1)}
		downWatches[c] = w
		go w.run()
	}
	sub := &downSub{w: w, member: member, cancel: cancel}
	if w.subs[member] == nil {
		w.subs[member] = map[*downSub]struct{}{}
	}
	w.subs[member][sub] = struct{}{}
	select {
	case w.wake <- struct{}{}: // read the member again: it may have died since the caller read it
	default:
	}
	return sub
}

func (s *downSub) stop() {
	downWatchesMu.Lock()
	defer downWatchesMu.Unlock()
	if subs := s.w.subs[s.member]; subs != nil {
		delete(subs, s)
		if len(subs) == 0 {
			delete(s.w.subs, s.member)
		}
	}
	if len(s.w.subs) == 0 {
		select {
		case s.w.wake <- struct{}{}: // the loop ends
		default:
		}
	}
}

func (w *downWatch) run() {
	for {
		watch := w.c.deps.State.Watch()
		downWatchesMu.Lock()
		if len(w.subs) == 0 {
			delete(downWatches, w.c)
			downWatchesMu.Unlock()
			return
		}
		members := make([]string, 0, len(w.subs))
		for m := range w.subs {
			members = append(members, m)
		}
		w.reads += len(members)
		downWatchesMu.Unlock()
		for _, mn := range members {
			if m := w.c.deps.State.Member(mn); m != nil && m.Health != fsm.HealthDown {
				continue
			}
			cause := fmt.Errorf("%w: %s", errMemberDown, mn)
			downWatchesMu.Lock()
			for sub := range w.subs[mn] {
				sub.cancel(cause)
			}
			delete(w.subs, mn)
			downWatchesMu.Unlock()
		}
		select {
		case <-watch:
		case <-w.wake:
		}
	}
}

// memberWentDown reports whether a wait ended because its member was declared down.
func memberWentDown(ctx context.Context) bool {
	return errors.Is(context.Cause(ctx), errMemberDown)
}

// underFence checks the fence and returns a context that is cancelled, with cause errFenceLost,
// as soon as the fence no longer holds (lease not renewed, leadership lost): for actions that
// take long, like handover hooks, which must never run on a master that may have been deposed.
// The caller must call cancel.
func (c *Controller) underFence(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if err := c.deps.Fence.Check(ctx); err != nil {
		return ctx, func() {}, err
	}
	fctx, cancel := context.WithCancelCause(ctx)
	go func() {
		t := time.NewTicker(fenceRecheck)
		defer t.Stop()
		for {
			select {
			case <-fctx.Done():
				return
			case <-t.C:
				if err := c.deps.Fence.Check(fctx); err != nil {
					if fctx.Err() == nil {
						cancel(fmt.Errorf("%w: %v", errFenceLost, err))
					}
					return
				}
			}
		}
	}()
	return fctx, func() { cancel(context.Canceled) }, nil
}
