package fsm

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"maps"
	"sync"
	"sync/atomic"

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

	// pubMu serializes publications; pub is the last published Data, shared by every reader.
	pubMu sync.Mutex
	pub   *Data
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
	if verifyPublished.Load() {
		f.Data() // publish after every entry, so the check sees each change on its own
	}
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

// Data returns the whole state at the last applied index. The result is shared: every caller
// gets the same records until the state changes, so it must be treated as read-only (clone a
// record before changing it). It costs nothing while the state is unchanged; after a change it
// clones the changed records only (under the FSM's lock, so Apply waits for those alone) and
// then, outside the lock, lays them over the previous publication's maps.
func (f *FSM) Data() *Data {
	f.pubMu.Lock()
	defer f.pubMu.Unlock()
	f.mu.Lock()
	s := f.s
	prev := f.pub
	if prev != nil && prev.AppliedIndex == s.lastIndex && prev.DNSSerial == s.dnsSerial && !s.changed() {
		f.mu.Unlock()
		return prev
	}
	members, faultDomains, availabilitySets := s.members.takeChanges(), s.faultDomains.takeChanges(), s.availabilitySets.takeChanges()
	workloads, masters, operations := s.workloads.takeChanges(), s.masters.takeChanges(), s.operations.takeChanges()
	d := &Data{AppliedIndex: s.lastIndex, DNSSerial: s.dnsSerial, NotifyCursors: maps.Clone(s.notifyCursors)}
	if s.clusterSet != nil {
		d.ClusterSet = proto.Clone(s.clusterSet).(*fsmv1.ClusterSet)
	}
	verify := verifyPublished.Load()
	if !verify {
		f.mu.Unlock()
	}
	if prev == nil {
		prev = &Data{}
	}
	d.Members = members.publish(prev.Members)
	d.FaultDomains = faultDomains.publish(prev.FaultDomains)
	d.AvailabilitySets = availabilitySets.publish(prev.AvailabilitySets)
	d.Workloads = workloads.publish(prev.Workloads)
	d.Masters = masters.publish(prev.Masters)
	d.Operations = operations.publish(prev.Operations)
	if verify {
		err := samePublication(d, s.data())
		f.mu.Unlock()
		if err != nil {
			panic(fmt.Sprintf("fsm: the published state differs from the state at index %d: %v "+
				"(a reader changed a shared record, or the applier changed one without get/put/touch)", d.AppliedIndex, err))
		}
	}
	f.pub = d
	return d
}

// verifyPublished makes every publication compare itself with a deep copy of the state.
var verifyPublished atomic.Bool

// VerifyPublished turns on (or off) a check for tests: every Data call that publishes compares
// the publication, record by record, with a deep copy of the state made under the same lock,
// and panics on a difference. It catches a reader that changed a record of a shared Data, and
// an applier change the FSM did not mark. It costs a deep copy per publication.
func VerifyPublished(on bool) { verifyPublished.Store(on) }

func samePublication(got, want *Data) error {
	if !proto.Equal(got.ClusterSet, want.ClusterSet) {
		return fmt.Errorf("cluster set")
	}
	return errors.Join(sameRecords("member", got.Members, want.Members), sameRecords("fault domain", got.FaultDomains, want.FaultDomains),
		sameRecords("availability set", got.AvailabilitySets, want.AvailabilitySets), sameRecords("workload", got.Workloads, want.Workloads),
		sameRecords("master", got.Masters, want.Masters), sameRecords("operation", got.Operations, want.Operations))
}

func sameRecords[T proto.Message](kind string, got, want map[string]T) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d %ss published, %d in the state", len(got), kind, len(want))
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			return fmt.Errorf("%s %q not published", kind, k)
		}
		if !proto.Equal(g, w) {
			return fmt.Errorf("%s %q published as %v, in the state %v", kind, k, g, w)
		}
	}
	return nil
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
	return s.members.len(), s.workloads.len(), nil
}

// CountUnreachable returns how many workloads are Online where they are placed while their
// committed probe result there is unreachable.
func (f *FSM) CountUnreachable() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	n := 0
	for _, w := range f.s.workloads.m {
		if p := w.Placement; p != nil && p.Status == StatusOnline && p.Reachability == ReachabilityUnreachable {
			n++
		}
	}
	return n
}
