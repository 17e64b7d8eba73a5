package ecxclient

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Defaults of WaitOptions.
const (
	DefaultWaitTimeout    = 5 * time.Minute
	DefaultInitialBackoff = 50 * time.Millisecond
	DefaultMaxBackoff     = time.Second
)

// WaitOptions tunes WaitGroupStatus. Zero fields take the defaults above.
type WaitOptions struct {
	// Timeout bounds the whole wait (the caller's context may end it sooner).
	Timeout time.Duration
	// InitialBackoff is the pause after the first poll; it doubles after
	// every poll up to MaxBackoff.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration

	// staleFailure is a failure status the group was already in before
	// the operation; it does not end the wait until another status has
	// been seen (a poll right after the POST may still show it).
	staleFailure Status
}

func (o WaitOptions) withDefaults() WaitOptions {
	if o.Timeout <= 0 {
		o.Timeout = DefaultWaitTimeout
	}
	if o.InitialBackoff <= 0 {
		o.InitialBackoff = DefaultInitialBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.MaxBackoff < o.InitialBackoff {
		o.MaxBackoff = o.InitialBackoff
	}
	return o
}

// WaitGroupStatus polls GET /api/v1/groups/{group} with exponential backoff
// until want reports done, want fails, the group enters Online Failure or
// Offline Failure (a *GroupFailedError), or the wait times out (a
// *WaitTimeoutError). want sees every observed state before the failure
// check, so it can accept a failure state itself. An unreachable member or a
// malformed answer is retried until the deadline; authentication, not-found
// and rejection errors end the wait at once. It returns the last observed
// Group in every case (zero if none was observed).
func (c *Client) WaitGroupStatus(ctx context.Context, group string, want func(Group) (done bool, err error), opts WaitOptions) (Group, error) {
	if err := checkName("group", group); err != nil {
		return Group{}, err
	}
	if want == nil {
		return Group{}, fmt.Errorf("%w: want is nil", ErrInvalidArgument)
	}
	opts = opts.withDefaults()
	wctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	get := func(ctx context.Context) (Group, error) { return c.GetGroup(ctx, group) }
	return waitLoop(ctx, wctx, get, want, opts, c.name, group)
}

// waitLoop is the polling engine of WaitGroupStatus; parent is the caller's
// context and wctx the same bounded by the wait's own timeout.
func waitLoop(parent, wctx context.Context, get func(context.Context) (Group, error), want func(Group) (bool, error), opts WaitOptions, member, group string) (Group, error) {
	start := time.Now()
	backoff := opts.InitialBackoff
	stale := opts.staleFailure
	var last Group
	var lastErr error
	for {
		g, err := get(wctx)
		switch {
		case err == nil:
			last, lastErr = g, nil
			done, werr := want(g)
			if werr != nil {
				return g, werr
			}
			if done {
				return g, nil
			}
			if g.Status != stale {
				stale = StatusUnknown // anything seen now is fresh
			}
			if g.Status.IsFailure() && g.Status != stale {
				return g, &GroupFailedError{Member: member, Group: g}
			}
		case wctx.Err() != nil:
			// the poll was cut by the deadline; reported below
		case transient(err):
			lastErr = err
		default:
			return last, err
		}
		t := time.NewTimer(backoff)
		select {
		case <-wctx.Done():
			t.Stop()
			if parent.Err() != nil {
				return last, fmt.Errorf("ecx member %q: waiting for group %q abandoned: %w", member, group, context.Cause(parent))
			}
			return last, &WaitTimeoutError{Member: member, Group: group, Waited: time.Since(start).Round(time.Millisecond).String(), Last: last, LastErr: lastErr}
		case <-t.C:
		}
		backoff = min(backoff*2, opts.MaxBackoff)
	}
}

// transient reports whether a failed poll is worth repeating: nobody
// answered, the answer was garbled, the server reported an internal error
// (5xx with an envelope), or a read failed inside a 2xx (a non-zero
// result.code: ECX may report any failure that way, so a read that could not
// be answered this time looks like a 200 too). Authentication, not-found and
// other refusals will not change by polling again.
func transient(err error) bool {
	var re *RejectedError
	return errors.Is(err, ErrUnreachable) || errors.Is(err, ErrMalformed) ||
		errors.As(err, &re) && (re.HTTPStatus >= 500 || re.read() && re.HTTPStatus >= 200 && re.HTTPStatus <= 299)
}

// waitAfter runs op under a deadline of timeout, after reading the group's
// state first: if already(pre) it returns pre without calling op, which
// makes the helpers idempotent. Then it polls until done(pre, g).
func (c *Client) waitAfter(ctx context.Context, group string, timeout time.Duration,
	already func(pre Group) bool, op func(ctx context.Context) error, done func(pre, g Group) bool) (Group, error) {
	if err := checkName("group", group); err != nil {
		return Group{}, err
	}
	opts := WaitOptions{Timeout: timeout, InitialBackoff: c.waitInitial, MaxBackoff: c.waitMax}.withDefaults()
	wctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	pre, err := c.GetGroup(wctx, group)
	if err != nil {
		return Group{}, err
	}
	if already(pre) {
		return pre, nil
	}
	if err := op(wctx); err != nil {
		return pre, err
	}
	if pre.Status.IsFailure() {
		opts.staleFailure = pre.Status
	}
	get := func(ctx context.Context) (Group, error) { return c.GetGroup(ctx, group) }
	want := func(g Group) (bool, error) { return done(pre, g), nil }
	return waitLoop(ctx, wctx, get, want, opts, c.name, group)
}

// StartGroupAndWait starts group on target and waits until it is Online
// there (on any server when target is ""), within timeout (DefaultWaitTimeout
// if zero). A group already Online there is returned at once.
func (c *Client) StartGroupAndWait(ctx context.Context, group, target string, timeout time.Duration) (Group, error) {
	online := func(g Group) bool { return g.OnlineOn(target) }
	return c.waitAfter(ctx, group, timeout, online,
		func(ctx context.Context) error { return c.StartGroup(ctx, group, target) },
		func(_, g Group) bool { return online(g) })
}

// StopGroupAndWait stops group and waits until it is Offline, within
// timeout. A group already Offline is returned at once.
func (c *Client) StopGroupAndWait(ctx context.Context, group string, timeout time.Duration) (Group, error) {
	offline := func(g Group) bool { return g.Status == StatusOffline }
	return c.waitAfter(ctx, group, timeout, offline,
		func(ctx context.Context) error { return c.StopGroup(ctx, group, "") },
		func(_, g Group) bool { return offline(g) })
}

// MoveGroupAndWait moves group to target and waits until it is Online
// there, within timeout. With target "" ECX picks the server by its failover
// policy, and the wait ends when the group is Online on a server other than
// the one it was on. A group already Online on target is returned at once.
func (c *Client) MoveGroupAndWait(ctx context.Context, group, target string, timeout time.Duration) (Group, error) {
	return c.waitAfter(ctx, group, timeout,
		func(pre Group) bool { return target != "" && pre.OnlineOn(target) },
		func(ctx context.Context) error { return c.MoveGroup(ctx, group, target) },
		func(pre, g Group) bool {
			if target != "" {
				return g.OnlineOn(target)
			}
			return g.OnlineOn("") && g.Current != pre.Current
		})
}
