package fsm

import (
	"crypto/subtle"
	"fmt"
	"io"
	"sync"

	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
)

// FormatVersion is the first byte of every encoded log entry.
const FormatVersion byte = 1

// Encode marshals a log entry with its format byte. It is the only encoder of log entries.
func Encode(e *fsmv1.LogEntry) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode log entry: %w", err)
	}
	return append([]byte{FormatVersion}, b...), nil
}

// Decode parses an encoded log entry.
func Decode(b []byte) (*fsmv1.LogEntry, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("decode log entry: empty")
	}
	if b[0] != FormatVersion {
		return nil, fmt.Errorf("decode log entry: unknown format byte %d (this binary reads %d): upgrade this master", b[0], FormatVersion)
	}
	e := &fsmv1.LogEntry{}
	if err := proto.Unmarshal(b[1:], e); err != nil {
		return nil, fmt.Errorf("decode log entry: %w", err)
	}
	return e, nil
}

// Result is what Apply returns to raft for every command entry.
type Result struct {
	Index uint64
	Err   error // an *Error for business-rule failures; nil on success
	// Duplicate reports that the request id was applied before; Err is then the first outcome.
	Duplicate bool
	// Batch holds one result per entry, in order, when the log entry was a BatchCommand.
	Batch []*Result
	// Plan is what a DeclareCommand did (nil for other commands, for a failure and for a
	// duplicate).
	Plan *Plan
	// Workload is a copy of the workload an UpsertWorkload or SetWorkloadDesired entry left in
	// the state (nil for other commands, for a failure and for a duplicate).
	Workload *fsmv1.Workload
}

// FSM implements raft.FSM over the cluster-set state. Create it with New.
type FSM struct {
	logger hclog.Logger

	mu    sync.RWMutex
	s     *state
	watch chan struct{} // closed and replaced on every change
}

// New returns an empty FSM.
func New(logger hclog.Logger) *FSM {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &FSM{logger: logger, s: newState(), watch: make(chan struct{})}
}

// Apply applies one committed raft log entry. It panics on an entry it cannot decode.
func (f *FSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	e, err := Decode(l.Data)
	if err != nil {
		panic(fmt.Sprintf("fsm: cannot apply raft index %d: %v", l.Index, err))
	}
	f.mu.Lock()
	var res *Result
	if b := e.GetBatch(); b != nil {
		res = &Result{Index: l.Index, Batch: make([]*Result, len(b.GetEntries()))}
		for i, sub := range b.GetEntries() {
			res.Batch[i] = f.applyLocked(l.Index, sub)
		}
	} else {
		res = f.applyLocked(l.Index, e)
	}
	ch := f.watch
	f.watch = make(chan struct{})
	f.mu.Unlock()
	close(ch)
	return res
}

// ApplyEntry applies a decoded entry at index without raft: for recovery tools and tests.
func (f *FSM) ApplyEntry(index uint64, e *fsmv1.LogEntry) *Result {
	b, err := Encode(e)
	if err != nil {
		return &Result{Index: index, Err: err}
	}
	return f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: b}).(*Result)
}

func (f *FSM) applyLocked(index uint64, e *fsmv1.LogEntry) *Result {
	s := f.s
	if index > s.lastIndex {
		s.lastIndex = index
	}
	if id := e.GetRequestId(); id != "" {
		if rec, ok := s.requests[id]; ok {
			var err error
			if rec.GetErrorCode() != "" {
				err = &Error{Code: Code(rec.GetErrorCode()), Msg: rec.GetErrorMessage()}
			}
			return &Result{Index: rec.GetIndex(), Err: err, Duplicate: true}
		}
	}
	a := applier{s: s, index: index, at: e.GetProposedAtUnixNano(), actor: e.GetActor(), logger: f.logger}
	err := a.dispatch(e)
	if err == nil && a.s != s {
		// The handler built a new state (restore, declaration): it replaces the old one.
		f.s = a.s
		f.s.lastIndex = index
		s = f.s
	}
	if id := e.GetRequestId(); id != "" {
		s.rememberRequest(id, index, err)
	}
	res := &Result{Index: index, Err: err, Plan: a.plan}
	if err == nil {
		res.Workload = a.workload
	}
	return res
}

// Watch returns a channel that is closed at the next change of the state.
func (f *FSM) Watch() <-chan struct{} {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.watch
}

// Data returns a deep copy of the whole state.
func (f *FSM) Data() *Data {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.s.data()
}

// AppliedIndex returns the index of the last applied entry.
func (f *FSM) AppliedIndex() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.s.lastIndex
}

// DNSSerial returns the index of the last change to data that DNS serves.
func (f *FSM) DNSSerial() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.s.dnsSerial
}

// Events returns up to limit events with seq > after, oldest first, filtered by workload and
// member when those are non-empty. It merges the main ring and the ring of KindDenied events.
func (f *FSM) Events(after uint64, limit int, workload, member string) []*fsmv1.Event {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.s.eventsAfter(after, limit, workload, member)
}

// LastEventSeq returns the sequence number of the newest event, 0 when there is none.
func (f *FSM) LastEventSeq() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.s.nextEventSeq - 1
}

// Snapshot captures the state for raft; Persist streams it.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return &snapshot{s: f.s.clone()}, nil
}

// Restore replaces the state with a snapshot stream, atomically.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	ns, err := readSnapshot(rc)
	if err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	f.mu.Lock()
	f.s = ns
	ch := f.watch
	f.watch = make(chan struct{})
	f.mu.Unlock()
	close(ch)
	return nil
}

// WriteSnapshot streams the current state in the snapshot format, for `csetctl snapshot save`.
func (f *FSM) WriteSnapshot(w io.Writer) error {
	f.mu.RLock()
	c := f.s.clone()
	f.mu.RUnlock()
	return writeSnapshot(w, c)
}

// WriteRedactedSnapshot is WriteSnapshot without the secrets: member passwords and tokens are
// left out, for backups that leave the masters. Restoring it keeps the running ring's tokens and
// the passwords of members the ring already has.
func (f *FSM) WriteRedactedSnapshot(w io.Writer) error {
	f.mu.RLock()
	c := f.s.redacted()
	f.mu.RUnlock()
	return writeSnapshot(w, c)
}

// Tokens returns a copy of every API token, hashes included, ordered by name.
func (f *FSM) Tokens() []*fsmv1.Token {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return sortedValues(cloneMap(f.s.tokens))
}

// HasTokens reports whether the state holds at least one API token.
func (f *FSM) HasTokens() bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return len(f.s.tokens) > 0
}

// TokenByHash returns the name and role of the token whose secret hashes to hash.
func (f *FSM) TokenByHash(hash []byte) (name, role string, ok bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for _, t := range f.s.tokens {
		if subtle.ConstantTimeCompare(t.Hash, hash) == 1 {
			return t.Name, t.Role, true
		}
	}
	return "", "", false
}

// ValidateSnapshot reads a snapshot stream fully and reports whether it can be restored.
func ValidateSnapshot(r io.Reader) (members, workloads int, err error) {
	s, err := readSnapshot(r)
	if err != nil {
		return 0, 0, err
	}
	return len(s.members), len(s.workloads), nil
}

// CountUnreachable returns how many workloads are Online where they are placed while their
// committed probe result there is unreachable.
func (f *FSM) CountUnreachable() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	n := 0
	for _, w := range f.s.workloads {
		if p := w.Placement; p != nil && p.Status == StatusOnline && p.Reachability == ReachabilityUnreachable {
			n++
		}
	}
	return n
}
