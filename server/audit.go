package server

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cset-project/cset/fsm"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Bounds of the audit trail: a flood of calls must not turn into a flood of Raft writes, of log
// lines, or of events that push the operational ones out of the event ring.
const (
	auditQueue = 1024
	// auditBatch bounds the records of one batch, so of one Raft entry (plus the count of
	// dropped records).
	auditBatch = 128
	// auditLinger is how long a batch gathers records before it is written: one master writes
	// at most one batch per auditLinger.
	auditLinger   = 100 * time.Millisecond
	maxAuditEvent = 512 // characters of one audit message

	// denialSummaryEvery: the first refused call of an actor, method and reason is logged at
	// once and written with the next batch; the repeats are only counted, and their count is
	// logged and written at most once per denialSummaryEvery.
	denialSummaryEvery = 10 * time.Second
	// maxDenialKinds bounds the (actor, method, reason) kept apart at once; refused calls
	// beyond it are counted together.
	maxDenialKinds = 256
)

// auditor records denied calls and executed mutating calls in the event log, batched. The
// leader applies its batches itself; a follower hands them to the leader with RecordAudit.
// Executed calls are queued one by one; when the queue is full they are counted and the count
// is recorded instead. Denied calls are aggregated per actor, method and reason (denialTracker)
// and recorded as events of kind fsm.KindDenied, which the FSM keeps in a ring of their own.
// Safe for concurrent use.
type auditor struct {
	s       *Server
	ch      chan *fsmv1.Event
	wake    chan struct{} // a denial of a new kind is waiting
	dropped atomic.Int64
	denials *denialTracker
}

func newAuditor(s *Server) *auditor {
	return &auditor{s: s, ch: make(chan *fsmv1.Event, auditQueue), wake: make(chan struct{}, 1), denials: newDenialTracker(denialSummaryEvery)}
}

func (a *auditor) enqueue(e *fsmv1.Event) {
	if len(e.Message) > maxAuditEvent {
		e.Message = e.Message[:maxAuditEvent]
	}
	select {
	case a.ch <- e:
	default:
		a.dropped.Add(1)
	}
}

func peerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return "unknown"
}

// denied records a refused call. The first one of its actor, method and reason is also logged
// at once (a denial is a security-relevant event on this master even when the leader cannot
// be reached); the repeats are counted and summarized (denialTracker.due).
func (a *auditor) denied(ctx context.Context, who, method string, err error) {
	st := status.Convert(err)
	from := peerAddr(ctx)
	k := denialKey{actor: who, method: method, code: st.Code().String(), reason: st.Message()}
	if !a.denials.add(k, from, time.Now()) {
		return
	}
	a.s.logger.Warn("denied API call", "method", method, "actor", who, "peer", from, "code", k.code)
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// call records a mutating call this master executed, with its outcome.
func (a *auditor) call(ctx context.Context, method, name string, err error) {
	p, _ := principalFrom(ctx)
	msg := method
	if name != "" {
		msg += " " + name
	}
	code := status.Code(errorToStatus(err))
	sev := "info"
	if err != nil {
		sev = "warn"
	}
	a.enqueue(&fsmv1.Event{Kind: "audit", Severity: sev, Actor: p.name, Message: fmt.Sprintf("%s by %s: %s", msg, p.name, code)})
}

// run batches records until ctx ends. A batch starts with the first record (or denial of a new
// kind, or the end of a denial summary period) and gathers for auditLinger before it is
// written, so this master writes at most one batch per auditLinger whatever the load.
func (a *auditor) run(ctx context.Context) {
	for {
		var batch []*fsmv1.Event
		var tick <-chan time.Time
		if a.denials.active() {
			tick = time.After(auditLinger) // summaries of counted repeats fall due
		}
		select {
		case <-ctx.Done():
			return
		case e := <-a.ch:
			batch = append(batch, e)
		case <-a.wake:
		case <-tick:
			if !a.denials.pending(time.Now()) {
				continue
			}
		}
		linger := time.NewTimer(auditLinger)
	collect:
		for {
			select {
			case <-linger.C:
				break collect
			case <-ctx.Done():
				linger.Stop()
				return
			case e := <-a.ch:
				batch = append(batch, e)
				if len(batch) >= auditBatch {
					// Full: leave the rest queued (or dropped and counted), but still write no
					// sooner than auditLinger after the batch started.
					select {
					case <-linger.C:
					case <-ctx.Done():
						linger.Stop()
						return
					}
					break collect
				}
			}
		}
		denied := a.denials.due(time.Now(), auditBatch-len(batch), a.logSummary)
		batch = append(batch, a.denialEvents(denied)...)
		if n := a.dropped.Swap(0); n > 0 {
			batch = append(batch, &fsmv1.Event{Kind: "audit", Severity: "warn", Actor: "master:" + a.s.cfg.NodeID,
				Message: fmt.Sprintf("%d audit records dropped on master %s: too many calls at once", n, a.s.cfg.NodeID)})
		}
		if len(batch) > 0 {
			a.flushRetrying(ctx, batch)
		}
	}
}

// logSummary logs the refused calls of one kind that were counted, not logged one by one.
func (a *auditor) logSummary(r denialRecord) {
	a.s.logger.Warn("denied API calls", "method", r.key.method, "actor", r.key.actor, "code", r.key.code,
		"count", r.count, "first", r.first.UTC().Format(time.RFC3339Nano), "last", r.last.UTC().Format(time.RFC3339Nano), "last_peer", r.peer)
}

// denialEvents turns aggregated denials into events of kind fsm.KindDenied.
func (a *auditor) denialEvents(rs []denialRecord) []*fsmv1.Event {
	out := make([]*fsmv1.Event, 0, len(rs))
	for _, r := range rs {
		var msg string
		switch {
		case r.overflow:
			msg = fmt.Sprintf("denied %d calls on master %s from %s to %s (last from %s) that are not itemized: more than %d kinds (actor, method, reason) at once",
				r.count, a.s.cfg.NodeID, stamp(r.first), stamp(r.last), r.peer, maxDenialKinds)
		case r.count == 1:
			msg = fmt.Sprintf("denied %s from %s on master %s: %s (%s)", r.key.method, r.peer, a.s.cfg.NodeID, r.key.reason, r.key.code)
		default:
			msg = fmt.Sprintf("denied %s %d times on master %s from %s to %s (last from %s): %s (%s)",
				r.key.method, r.count, a.s.cfg.NodeID, stamp(r.first), stamp(r.last), r.peer, r.key.reason, r.key.code)
		}
		if len(msg) > maxAuditEvent {
			msg = msg[:maxAuditEvent]
		}
		out = append(out, &fsmv1.Event{Kind: fsm.KindDenied, Severity: "warn", Actor: r.key.actor, Message: msg})
	}
	return out
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// flushRetrying writes a batch, retrying while no leader is known (a follower that just
// started may not know the leader's address yet) for about ten seconds.
func (a *auditor) flushRetrying(ctx context.Context, batch []*fsmv1.Event) {
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := a.flush(ctx, batch)
		if err == nil {
			return
		}
		if attempt == 7 || ctx.Err() != nil {
			a.s.logger.Warn("audit records not written to the event log", "records", len(batch), "error", err)
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait *= 2
	}
}

func (a *auditor) flush(ctx context.Context, batch []*fsmv1.Event) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if a.s.IsLeader() {
		_, err := a.s.raftApply(ctx, &fsmv1.LogEntry{Actor: "master:" + a.s.cfg.NodeID,
			Command: &fsmv1.LogEntry_AppendEvents{AppendEvents: &fsmv1.AppendEventsCommand{Events: batch}}})
		return err
	}
	_, addr := a.s.leaderInfo()
	if addr == "" {
		return ErrNoLeader
	}
	cc, err := a.s.fwd.conn(addr)
	if err != nil {
		return err
	}
	req := &apiv1.RecordAuditRequest{}
	for _, e := range batch {
		req.Events = append(req.Events, &apiv1.Event{Kind: e.Kind, Severity: e.Severity, Actor: e.Actor, Message: e.Message})
	}
	_, err = apiv1.NewClusterSetServiceClient(cc).RecordAudit(a.s.outgoingAuth(ctx), req)
	return err
}

// denialKey is what refused calls are aggregated by: who, what, and the refusal.
type denialKey struct {
	actor, method, code, reason string
}

// denialCount is the refused calls of one key since its last record was written.
type denialCount struct {
	count       int64
	first, last time.Time
	peer        string    // the address of the last caller
	logged      bool      // the first of count was logged on its own
	written     time.Time // when a record of this key was last written; zero: never
}

// denialRecord is one aggregate ready to be written.
type denialRecord struct {
	key         denialKey
	overflow    bool // the calls beyond maxDenialKinds, of any key
	count       int64
	first, last time.Time
	peer        string
}

// denialTracker aggregates refused calls per denialKey. A key's first call is reported at
// once; its repeats are reported at most once per every, as one count. At most maxDenialKinds
// keys are kept; calls of further keys are counted together. Safe for concurrent use.
type denialTracker struct {
	mu       sync.Mutex
	every    time.Duration
	keys     map[denialKey]*denialCount
	overflow denialCount
}

func newDenialTracker(every time.Duration) *denialTracker {
	return &denialTracker{every: every, keys: map[denialKey]*denialCount{}}
}

// add counts one refused call at now from peer. It reports whether the call is the first of
// its key in the current period, which the caller logs on its own and writes promptly.
func (t *denialTracker) add(k denialKey, peer string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.keys[k]
	if c == nil {
		if len(t.keys) >= maxDenialKinds {
			t.overflow.count, t.overflow.last, t.overflow.peer = t.overflow.count+1, now, peer
			if t.overflow.count == 1 {
				t.overflow.first = now
			}
			return false
		}
		c = &denialCount{}
		t.keys[k] = c
	}
	c.count++
	c.last, c.peer = now, peer
	if c.count > 1 {
		return false
	}
	c.first = now
	// A key is new, or quiet for a whole period, when it has never been written or was last
	// written a period ago: then this call is logged on its own.
	c.logged = c.written.IsZero() || now.Sub(c.written) >= t.every
	return c.logged
}

// active reports whether any key is tracked (then summaries may fall due).
func (t *denialTracker) active() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.keys) > 0 || t.overflow.count > 0
}

// pending reports whether due(now) would return a record.
func (t *denialTracker) pending(now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.keys {
		if c.count > 0 && t.ready(c, now) {
			return true
		}
	}
	return t.overflow.count > 0 && t.ready(&t.overflow, now)
}

func (t *denialTracker) ready(c *denialCount, now time.Time) bool {
	return c.written.IsZero() || now.Sub(c.written) >= t.every
}

// due returns at most limit aggregates that are ready to be written at now, oldest first, marks
// them written and calls logSummary for those whose calls were not all logged. It forgets the
// keys that stayed quiet for a whole period.
func (t *denialTracker) due(now time.Time, limit int, logSummary func(denialRecord)) []denialRecord {
	t.mu.Lock()
	defer t.mu.Unlock()
	var ready []denialKey
	for k, c := range t.keys {
		switch {
		case c.count > 0 && t.ready(c, now):
			ready = append(ready, k)
		case c.count == 0 && now.Sub(c.written) >= t.every:
			delete(t.keys, k)
		}
	}
	slices.SortFunc(ready, func(a, b denialKey) int { return t.keys[a].first.Compare(t.keys[b].first) })
	var out []denialRecord
	take := func(r denialRecord, c *denialCount) {
		if r.count > 1 || !c.logged {
			logSummary(r)
		}
		out = append(out, r)
		*c = denialCount{written: now}
	}
	for _, k := range ready {
		if len(out) >= limit {
			break
		}
		c := t.keys[k]
		take(denialRecord{key: k, count: c.count, first: c.first, last: c.last, peer: c.peer}, c)
	}
	if o := &t.overflow; len(out) < limit && o.count > 0 && t.ready(o, now) {
		take(denialRecord{overflow: true, count: o.count, first: o.first, last: o.last, peer: o.peer}, o)
	}
	return out
}
