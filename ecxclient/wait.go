package ecxclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"weak"
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
	// every poll up to MaxBackoff. The *AndWait helpers (WithWaitBackoff) use
	// them as the shortest and the longest pause of their cadence instead
	// (see groupPoller).
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
// makes the helpers idempotent. Then it waits until done(pre, g).
//
// The read and the wait go through the client's shared poller (groupPoller):
// every helper reading or waiting on the same member is answered by one poll,
// and the wait learns how long kind takes for this group, so that its
// next wait polls little until just before the expected completion and
// tightly from there on. A WaitTrace in ctx learns when ECX accepted op.
func (c *Client) waitAfter(ctx context.Context, kind, group string, timeout time.Duration,
	already func(pre Group) bool, op func(ctx context.Context) error, done func(pre, g Group) bool) (Group, error) {
	if err := checkName("group", group); err != nil {
		return Group{}, err
	}
	opts := WaitOptions{Timeout: timeout, InitialBackoff: c.waitInitial, MaxBackoff: c.waitMax}.withDefaults()
	wctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	p := c.poller()
	pre, err := p.read(wctx, c, group)
	if err != nil {
		return Group{}, err
	}
	if already(pre) {
		return pre, nil
	}
	t := ContextWaitTrace(ctx)
	if t != nil && t.Send != nil {
		if err := t.Send(wctx); err != nil {
			return pre, err
		}
	}
	if err := op(wctx); err != nil {
		return pre, err
	}
	if t != nil && t.Accepted != nil {
		t.Accepted()
	}
	if pre.Status.IsFailure() {
		opts.staleFailure = pre.Status
	}
	want := func(g Group) (bool, error) { return done(pre, g), nil }
	return p.wait(ctx, wctx, c, kind+"\x00"+group, group, want, opts)
}

// StartGroupAndWait starts group on target and waits until it is Online
// there (on any server when target is ""), within timeout (DefaultWaitTimeout
// if zero). A group already Online there is returned at once.
func (c *Client) StartGroupAndWait(ctx context.Context, group, target string, timeout time.Duration) (Group, error) {
	online := func(g Group) bool { return g.OnlineOn(target) }
	return c.waitAfter(ctx, "start", group, timeout, online,
		func(ctx context.Context) error { return c.StartGroup(ctx, group, target) },
		func(_, g Group) bool { return online(g) })
}

// StopGroupAndWait stops group and waits until it is Offline, within
// timeout. A group already Offline is returned at once.
func (c *Client) StopGroupAndWait(ctx context.Context, group string, timeout time.Duration) (Group, error) {
	offline := func(g Group) bool { return g.Status == StatusOffline }
	return c.waitAfter(ctx, "stop", group, timeout, offline,
		func(ctx context.Context) error { return c.StopGroup(ctx, group, "") },
		func(_, g Group) bool { return offline(g) })
}

// MoveGroupAndWait moves group to target and waits until it is Online
// there, within timeout. With target "" ECX picks the server by its failover
// policy, and the wait ends when the group is Online on a server other than
// the one it was on. A group already Online on target is returned at once.
func (c *Client) MoveGroupAndWait(ctx context.Context, group, target string, timeout time.Duration) (Group, error) {
	return c.waitAfter(ctx, "move", group, timeout,
		func(pre Group) bool { return target != "" && pre.OnlineOn(target) },
		func(ctx context.Context) error { return c.MoveGroup(ctx, group, target) },
		func(pre, g Group) bool {
			if target != "" {
				return g.OnlineOn(target)
			}
			return g.OnlineOn("") && g.Current != pre.Current
		})
}

// WaitTrace hooks into the *AndWait helpers, in the manner of net/http/httptrace: a caller
// puts one in the context with WithWaitTrace.
type WaitTrace struct {
	// Send, when set, is called after the read that shows the operation is needed, right
	// before its POST; the POST is sent only if Send returns nil (its error is returned
	// then). It may block: a controller waits for an operation slot here, so the read (shared
	// with every other helper on the member) costs no slot.
	Send func(ctx context.Context) error
	// Accepted is called once ECX has accepted the operation (its POST was answered with
	// success), when the wait for its completion begins. It is not called when the helper
	// returns without sending anything (the group was already in the wanted state) or when the
	// POST failed. A controller gives back an operation slot here: ECX carries the operation
	// out by itself, and the wait costs the member only a share of the client's polls.
	Accepted func()
}

type waitTraceKey struct{}

// WithWaitTrace returns a context carrying t for the *AndWait helpers.
func WithWaitTrace(ctx context.Context, t *WaitTrace) context.Context {
	return context.WithValue(ctx, waitTraceKey{}, t)
}

// ContextWaitTrace returns the WaitTrace in ctx, or nil (for fakes of the helpers).
func ContextWaitTrace(ctx context.Context) *WaitTrace {
	t, _ := ctx.Value(waitTraceKey{}).(*WaitTrace)
	return t
}

// The shared poller's limits (groupPoller).
const (
	// MinPollGap is the shortest pause between two polls of one member by one client's
	// waits, whatever their number: at most 200 polls a second.
	MinPollGap = 5 * time.Millisecond
	// pollGapLatencyFactor: the pause between two polls is also at least this many times
	// the last poll's latency, so a member that answers slowly is polled less.
	pollGapLatencyFactor = 2
	// maxLearned bounds the remembered operation durations per client.
	maxLearned = 4096
	// tightFraction: a wait whose duration is known polls from expected - expected/32
	// on, every expected/32 at first (at least minTight, at most MaxBackoff).
	tightFraction = 32
	minTight      = time.Millisecond
	// maxSparse caps the pause before a known completion: a start that fails early is
	// noticed within it.
	maxSparse = time.Second
)

// groupPoller answers the group reads and waits of the *AndWait helpers of one Client, that
// is of one member: whatever the number of helpers waiting at once, one poll is in flight at
// most, and polls are at least max(MinPollGap, 2 x the last poll's latency) apart. A poll
// asks for the one group when a single group is waited for (GET /groups/{g}) and for every
// group (GET /groups) otherwise, and answers every waiter registered before it was sent.
//
// Each waiter says when it wants its next poll, from how long its operation has run and how
// long the same operation on the same group took the last time (learned here; ECX offers no
// notification, docs/ecx.md):
//   - unknown duration: a pause of an eighth of the time waited so far, between InitialBackoff
//     and MaxBackoff, so the completion is noticed at most 12.5 % (and MaxBackoff) late;
//   - known duration E: sparse polls (every max(MaxBackoff, E/8), at most maxSparse) until
//     E - E/32, then every E/32 (between 1 ms and MaxBackoff), growing by an eighth of the time
//     past E - E/32 when the operation takes longer than last time.
type groupPoller struct {
	mu      sync.Mutex
	waiters map[*waiter]struct{}
	seq     uint64        // registrations so far; a poll answers those up to its snapshot
	wake    chan struct{} // a waiter came, left or changed its due time
	gen     uint64        // the running poll loop's generation; 0 when none runs
	cancel  context.CancelFunc
	last    time.Time     // when the last poll was sent
	latency time.Duration // how long it took
	learned map[string]time.Duration

	// get and list read one group and every group; tests replace them.
	get  func(ctx context.Context, group string) (Group, error)
	list func(ctx context.Context) ([]Group, error)
	// polls counts the polls sent (tests).
	polls atomic.Int64
}

// waiter is one read or wait registered with a groupPoller.
type waiter struct {
	group string
	seq   uint64
	due   time.Time       // when it wants the next poll; zero while it digests the last one
	ch    chan pollResult // the latest result not yet taken
}

type pollResult struct {
	g    Group
	err  error
	sent time.Time
}

var (
	pollersMu sync.Mutex
	pollers   = map[weak.Pointer[Client]]*groupPoller{}
)

// poller returns c's shared poller. It is kept beside the client, not in it, and forgotten
// when the client is garbage.
func (c *Client) poller() *groupPoller {
	k := weak.Make(c)
	pollersMu.Lock()
	defer pollersMu.Unlock()
	p := pollers[k]
	if p == nil {
		p = newGroupPoller(c.GetGroup, c.ListGroups)
		pollers[k] = p
		runtime.AddCleanup(c, func(k weak.Pointer[Client]) {
			pollersMu.Lock()
			delete(pollers, k)
			pollersMu.Unlock()
		}, k)
	}
	return p
}

func newGroupPoller(get func(context.Context, string) (Group, error), list func(context.Context) ([]Group, error)) *groupPoller {
	return &groupPoller{waiters: map[*waiter]struct{}{}, wake: make(chan struct{}, 1), learned: map[string]time.Duration{}, get: get, list: list}
}

func (p *groupPoller) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// register adds a waiter for group that wants a poll at due, and starts the poll loop if
// none runs.
func (p *groupPoller) register(group string, due time.Time) *waiter {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq++
	w := &waiter{group: group, seq: p.seq, due: due, ch: make(chan pollResult, 1)}
	p.waiters[w] = struct{}{}
	if p.gen == 0 {
		p.seq++ // generations and registrations share the counter: both only grow
		ctx, cancel := context.WithCancel(context.Background())
		p.gen, p.cancel = p.seq, cancel
		go p.run(ctx, p.gen)
	}
	p.poke()
	return w
}

// unregister removes w; the poll loop ends, cancelling its poll, when no waiter is left.
func (p *groupPoller) unregister(w *waiter) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.waiters, w)
	if len(p.waiters) == 0 && p.gen != 0 {
		p.cancel()
		p.gen, p.cancel = 0, nil
	}
	p.poke()
}

// setDue records when w wants its next poll.
func (p *groupPoller) setDue(w *waiter, due time.Time) {
	p.mu.Lock()
	w.due = due
	p.mu.Unlock()
	p.poke()
}

// run is the poll loop of generation gen.
func (p *groupPoller) run(ctx context.Context, gen uint64) {
	for {
		p.mu.Lock()
		if p.gen != gen {
			p.mu.Unlock()
			return
		}
		var next time.Time
		for w := range p.waiters {
			if !w.due.IsZero() && (next.IsZero() || w.due.Before(next)) {
				next = w.due
			}
		}
		if !next.IsZero() && !p.last.IsZero() {
			if earliest := p.last.Add(max(MinPollGap, pollGapLatencyFactor*p.latency)); next.Before(earliest) {
				next = earliest
			}
		}
		p.mu.Unlock()
		if next.IsZero() {
			select {
			case <-p.wake:
			case <-ctx.Done():
			}
			continue
		}
		if d := time.Until(next); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-p.wake:
				t.Stop()
				continue
			case <-ctx.Done():
				t.Stop()
				continue
			}
		}
		p.pollOnce(ctx, gen)
	}
}

// pollOnce sends one poll and hands its answer to every waiter registered before it.
func (p *groupPoller) pollOnce(ctx context.Context, gen uint64) {
	p.mu.Lock()
	upTo := p.seq
	one, several := "", false
	for w := range p.waiters {
		if one == "" {
			one = w.group
		} else if w.group != one {
			several = true
			break
		}
	}
	p.mu.Unlock()
	if one == "" {
		return
	}
	sent := time.Now()
	p.polls.Add(1)
	var answer func(group string) pollResult
	if !several {
		g, err := p.get(ctx, one)
		answer = func(string) pollResult { return pollResult{g: g, err: err, sent: sent} }
	} else {
		list, err := p.list(ctx)
		answer = func(group string) pollResult {
			if err != nil {
				return pollResult{err: err, sent: sent}
			}
			for _, g := range list {
				if g.Name == group {
					return pollResult{g: g, sent: sent}
				}
			}
			return pollResult{err: &NotFoundError{Kind: "group", Name: group, HTTPStatus: http.StatusOK}, sent: sent}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gen != gen {
		return // every waiter left meanwhile; the poll was cancelled
	}
	p.last, p.latency = sent, time.Since(sent)
	for w := range p.waiters {
		if w.seq > upTo {
			continue // registered after the poll was sent: it may predate the operation
		}
		w.due = time.Time{}
		select {
		case <-w.ch: // replaced by the newer answer
		default:
		}
		w.ch <- answer(w.group)
	}
}

// read returns group as seen by a poll sent after the call: the fresh read of the *AndWait
// helpers before their operation, shared with every other read and wait on the member.
func (p *groupPoller) read(ctx context.Context, c *Client, group string) (Group, error) {
	w := p.register(group, time.Now())
	defer p.unregister(w)
	select {
	case r := <-w.ch:
		if nf, ok := r.err.(*NotFoundError); ok && nf.Member == "" {
			nf.Member, nf.URL = c.name, c.LastURL()
		}
		return r.g, r.err
	case <-ctx.Done():
		return Group{}, fmt.Errorf("ecx member %q: reading group %q abandoned: %w", c.name, group, context.Cause(ctx))
	}
}

// wait is waitLoop on the shared poller: parent is the caller's context, wctx the same
// bounded by the wait's timeout, key names the operation and group whose duration is learned.
func (p *groupPoller) wait(parent, wctx context.Context, c *Client, key, group string, want func(Group) (bool, error), opts WaitOptions) (Group, error) {
	start := time.Now()
	p.mu.Lock()
	expect := p.learned[key]
	p.mu.Unlock()
	w := p.register(group, start.Add(cadence(0, expect, opts)))
	defer p.unregister(w)
	stale := opts.staleFailure
	var last Group
	var lastErr error
	for {
		var r pollResult
		select {
		case r = <-w.ch:
		case <-wctx.Done():
			if parent.Err() != nil {
				return last, fmt.Errorf("ecx member %q: waiting for group %q abandoned: %w", c.name, group, context.Cause(parent))
			}
			return last, &WaitTimeoutError{Member: c.name, Group: group, Waited: time.Since(start).Round(time.Millisecond).String(), Last: last, LastErr: lastErr}
		}
		elapsed := r.sent.Sub(start)
		if nf, ok := r.err.(*NotFoundError); ok && nf.Member == "" {
			nf.Member, nf.URL = c.name, c.LastURL()
		}
		switch g, err := r.g, r.err; {
		case err == nil:
			last, lastErr = g, nil
			done, werr := want(g)
			if werr != nil {
				return g, werr
			}
			if done {
				p.learn(key, elapsed)
				return g, nil
			}
			if g.Status != stale {
				stale = StatusUnknown // anything seen now is fresh
			}
			if g.Status.IsFailure() && g.Status != stale {
				return g, &GroupFailedError{Member: c.name, Group: g}
			}
		case wctx.Err() != nil:
			continue // the deadline passed; reported above
		case transient(err):
			lastErr = err
		default:
			return last, err
		}
		now := time.Since(start)
		p.setDue(w, start.Add(now+cadence(now, expect, opts)))
	}
}

// learn records how long an operation took: until the first poll that saw it done (an upper
// bound). The next wait polls from E - E/32 on: when that poll sees it still unfinished, the
// next one, E/32 later, sees it done again and the estimate holds; when it sees it done already,
// the estimate shrinks by E/32. Either way the completion is noticed at most E/32 late, with
// three polls (one sparse, two in the window) for a start of a few hundred milliseconds.
func (p *groupPoller) learn(key string, took time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.learned[key]; !ok && len(p.learned) >= maxLearned {
		for k := range p.learned {
			delete(p.learned, k)
			break
		}
	}
	p.learned[key] = took
}

// cadence returns the pause after a poll made elapsed into a wait whose operation took
// expect the last time (0: unknown). See groupPoller.
func cadence(elapsed, expect time.Duration, opts WaitOptions) time.Duration {
	clamp := func(d, lo, hi time.Duration) time.Duration { return min(max(d, lo), hi) }
	if expect <= 0 {
		return clamp(elapsed/8, opts.InitialBackoff, opts.MaxBackoff)
	}
	tight := clamp(expect/tightFraction, minTight, opts.MaxBackoff)
	from := expect - expect/tightFraction
	if elapsed < from {
		return min(clamp(expect/8, opts.MaxBackoff, max(maxSparse, opts.MaxBackoff)), from-elapsed)
	}
	return clamp((elapsed-from)/8, tight, opts.MaxBackoff)
}
