package controller

import (
	"context"
	"errors"
	"fmt"
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
func (c *Controller) whileUp(ctx context.Context, member string) (context.Context, context.CancelFunc) {
	wctx, cancel := context.WithCancelCause(ctx)
	go func() {
		for {
			watch := c.deps.State.Watch()
			if m := c.deps.State.Member(member); m == nil || m.Health == fsm.HealthDown {
				cancel(fmt.Errorf("%w: %s", errMemberDown, member))
				return
			}
			select {
			case <-wctx.Done():
				return
			case <-watch:
			}
		}
	}()
	return wctx, func() { cancel(context.Canceled) }
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
