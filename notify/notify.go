package notify

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/cset-project/cset/config"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"github.com/hashicorp/go-hclog"
)

// KindNotify is the kind of the events a Sender writes about its own sink (failing, recovered,
// events missed).
const KindNotify = "notify"

// batchSize is how many events a Sender reads from the ring at once.
const batchSize = 256

// failingAfter is the attempt at which a failing delivery is reported by an event (once per
// failing streak): a single failed attempt that the next one repairs is only logged.
const failingAfter = 3

// Notification is what a sink receives for one event: the JSON body of a webhook request, the
// fields of a syslog message.
type Notification struct {
	// ID is "<set>:<seq>", stable across leader changes: receivers de-duplicate on it.
	ID          string    `json:"id"`
	Seq         uint64    `json:"seq"`
	Time        time.Time `json:"time"`
	Kind        string    `json:"kind"`
	Severity    string    `json:"severity"`
	Workload    string    `json:"workload,omitempty"`
	Member      string    `json:"member,omitempty"`
	OperationID string    `json:"operation_id,omitempty"`
	Message     string    `json:"message"`
	Actor       string    `json:"actor,omitempty"`
	Set         string    `json:"set"`
}

// NewNotification builds the notification of one event of the cluster set named set.
func NewNotification(set string, e *fsmv1.Event) *Notification {
	return &Notification{
		ID: set + ":" + strconv.FormatUint(e.GetSeq(), 10), Seq: e.GetSeq(), Time: time.Unix(0, e.GetTimeUnixNano()).UTC(),
		Kind: e.GetKind(), Severity: e.GetSeverity(), Workload: e.GetWorkload(), Member: e.GetMember(),
		OperationID: e.GetOperationId(), Message: e.GetMessage(), Actor: e.GetActor(), Set: set,
	}
}

// Source is the replicated state a Sender reads (fsm.FSM through the server).
type Source interface {
	// Events returns up to limit events with seq > after, oldest first.
	Events(after uint64, limit int, workload, member string) []*fsmv1.Event
	// Watch returns a channel closed at the next change of the state.
	Watch() <-chan struct{}
	// LastEventSeq returns the seq of the newest event.
	LastEventSeq() uint64
	// NotifyCursor returns the committed cursor of a sink, false when it has none.
	NotifyCursor(sink string) (uint64, bool)
	// ClusterSetName returns the set's name ("" before it is initialised).
	ClusterSetName() string
}

// Committer writes through Raft: the leader's raftApply.
type Committer interface {
	// CommitCursor commits that every event up to seq was delivered to sink.
	CommitCursor(ctx context.Context, sink string, seq uint64) error
	// Event appends an event to the ring.
	Event(ctx context.Context, e *fsmv1.Event) error
}

// Deliverer sends one notification to a sink: nil means the sink has it. Close releases its
// connections; the Deliverer stays usable (it connects again on the next Deliver).
type Deliverer interface {
	Deliver(ctx context.Context, n *Notification) error
	Close() error
}

// Hooks lets the server count deliveries (metrics); nil fields are skipped.
type Hooks struct {
	OnSent    func(sink string)
	OnFailure func(sink string)
	OnMissed  func(sink string, events uint64)
}

// Sender delivers the event ring to one sink while this master leads. Create it with NewSender
// and call Run once per leadership.
type Sender struct {
	cfg        config.NotifySink
	d          Deliverer
	src        Source
	commit     Committer
	hooks      Hooks
	log        hclog.Logger
	minBackoff time.Duration
	filter     filter
	failing    bool // a failing event was written and no delivery succeeded since
}

// NewSender returns the Sender of sink cfg (validated by package config). minBackoff is the
// first pause after a failed delivery (one second in production); it doubles up to
// cfg.MaxBackoff.
func NewSender(cfg config.NotifySink, d Deliverer, src Source, commit Committer, hooks Hooks, minBackoff time.Duration, log hclog.Logger) *Sender {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Sender{cfg: cfg, d: d, src: src, commit: commit, hooks: hooks, log: log.With("sink", cfg.Name),
		minBackoff: min(minBackoff, cfg.MaxBackoff), filter: newFilter(cfg)}
}

// Run sends every event after the sink's committed cursor, in order, until ctx ends (this
// master lost leadership or stops). It starts once the cluster set is initialised, so that every
// notification id holds the set's name. A sink without a cursor starts after the newest event.
func (s *Sender) Run(ctx context.Context) {
	defer s.d.Close()
	for s.src.ClusterSetName() == "" {
		watch := s.src.Watch()
		if s.src.ClusterSetName() != "" {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-watch:
		}
	}
	cursor, ok := s.src.NotifyCursor(s.cfg.Name)
	if !ok {
		cursor = s.src.LastEventSeq()
		s.log.Info("new notification sink: it starts after the newest event", "seq", cursor)
	} else {
		s.log.Info("sending notifications", "after_seq", cursor)
	}
	cc := newCursorCommitter(s.cfg.Name, s.commit, s.log, cursor, !ok)
	defer cc.stop()
	go cc.run(ctx)
	for {
		watch := s.src.Watch()
		evs := s.src.Events(cursor, batchSize, "", "")
		if len(evs) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-watch:
				continue
			}
		}
		set := s.src.ClusterSetName()
		for _, e := range evs {
			if e.GetSeq() > cursor+1 {
				s.missed(ctx, cursor+1, e.GetSeq()-1)
			}
			if s.filter.match(e) && !s.deliver(ctx, NewNotification(set, e)) {
				return
			}
			cursor = e.GetSeq()
			cc.advance(cursor)
		}
	}
}

// deliver sends n until the sink takes it, with a backoff between attempts; false when ctx
// ended first. Every failure is retried, whatever it is (docs/notifications.md, "Failures").
func (s *Sender) deliver(ctx context.Context, n *Notification) bool {
	wait := s.minBackoff
	for attempt := 1; ; attempt++ {
		dctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		err := s.d.Deliver(dctx, n)
		cancel()
		if err == nil {
			if s.hooks.OnSent != nil {
				s.hooks.OnSent(s.cfg.Name)
			}
			if s.failing {
				s.failing = false
				s.log.Info("notification sink delivers again", "seq", n.Seq)
				s.event(ctx, "info", "notify sink %s delivers again (event %d)", s.cfg.Name, n.Seq)
			}
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if s.hooks.OnFailure != nil {
			s.hooks.OnFailure(s.cfg.Name)
		}
		s.log.Warn("notification failed; retrying", "seq", n.Seq, "attempt", attempt, "retry_in", wait, "error", err)
		if attempt == failingAfter && !s.failing {
			s.failing = true
			s.event(ctx, "error", "notify sink %s fails: event %d not delivered after %d attempts, retrying every %v at most: %v", s.cfg.Name, n.Seq, attempt, s.cfg.MaxBackoff, err)
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
		wait = min(wait*2, s.cfg.MaxBackoff)
	}
}

// missed reports events that left the ring before they were delivered.
func (s *Sender) missed(ctx context.Context, from, to uint64) {
	n := to - from + 1
	s.log.Error("events left the event ring before they were delivered", "from_seq", from, "to_seq", to, "events", n)
	if s.hooks.OnMissed != nil {
		s.hooks.OnMissed(s.cfg.Name, n)
	}
	s.event(ctx, "error", "notify sink %s missed events %d to %d (%d): they left the event ring before they were delivered", s.cfg.Name, from, to, n)
}

// event writes an event about this sink; failures are logged only.
func (s *Sender) event(ctx context.Context, severity, format string, args ...any) {
	e := &fsmv1.Event{Kind: KindNotify, Severity: severity, Message: fmt.Sprintf(format, args...)}
	if err := s.commit.Event(ctx, e); err != nil {
		s.log.Warn("writing a notify event failed", "error", err)
	}
}

// filter is the kinds, minimum severity and workloads of a sink.
type filter struct {
	kinds, workloads []string
	minSeverity      int
}

func newFilter(cfg config.NotifySink) filter {
	return filter{kinds: cfg.Kinds, workloads: cfg.Workloads, minSeverity: max(0, slices.Index(config.Severities, cfg.MinSeverity))}
}

func (f filter) match(e *fsmv1.Event) bool {
	if len(f.kinds) > 0 && !slices.Contains(f.kinds, e.GetKind()) {
		return false
	}
	if len(f.workloads) > 0 && !slices.Contains(f.workloads, e.GetWorkload()) {
		return false
	}
	return slices.Index(config.Severities, e.GetSeverity()) >= f.minSeverity
}

// cursorCommitter commits the newest delivered cursor in the background: right after a
// delivery when idle, and the newest one at once after a commit that took a while, so a
// burst of events costs few Raft entries while a leader change finds at most the events of one
// commit's duration delivered but not committed.
type cursorCommitter struct {
	sink      string
	c         Committer
	log       hclog.Logger
	mu        sync.Mutex
	latest    uint64 // newest delivered (or filtered out)
	committed uint64
	dirty     bool
	kick      chan struct{}
	done      chan struct{}
}

func newCursorCommitter(sink string, c Committer, log hclog.Logger, start uint64, dirty bool) *cursorCommitter {
	cc := &cursorCommitter{sink: sink, c: c, log: log, latest: start, committed: start, dirty: dirty,
		kick: make(chan struct{}, 1), done: make(chan struct{})}
	if dirty {
		cc.kick <- struct{}{}
	}
	return cc
}

func (cc *cursorCommitter) advance(seq uint64) {
	cc.mu.Lock()
	cc.latest, cc.dirty = seq, true
	cc.mu.Unlock()
	select {
	case cc.kick <- struct{}{}:
	default:
	}
}

func (cc *cursorCommitter) run(ctx context.Context) {
	defer close(cc.done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-cc.kick:
			cc.flush(ctx)
		}
	}
}

// flush commits the newest cursor if it was not committed yet.
func (cc *cursorCommitter) flush(ctx context.Context) {
	cc.mu.Lock()
	seq, dirty := cc.latest, cc.dirty
	cc.dirty = false
	cc.mu.Unlock()
	if !dirty {
		return
	}
	if err := cc.c.CommitCursor(ctx, cc.sink, seq); err != nil {
		cc.log.Warn("committing the notification cursor failed", "seq", seq, "error", err)
		cc.mu.Lock()
		cc.dirty = true // the next advance or the final flush tries again
		cc.mu.Unlock()
		return
	}
	cc.mu.Lock()
	cc.committed = max(cc.committed, seq)
	cc.mu.Unlock()
}

// stop waits for run to end, then commits what was delivered since the last commit: a master
// that stops while it still leads leaves nothing to send again. After a lost leadership the
// commit fails at once (not the leader) and the next leader sends those events again.
func (cc *cursorCommitter) stop() {
	<-cc.done
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	cc.flush(ctx)
}
