package fsmtest

import (
	"bytes"
	"testing"

	"github.com/cset-project/cset/fsm"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Actor is the actor Entry stamps.
const Actor = "test"

// Entry wraps cmd, a command message such as *fsmv1.UpsertMemberCommand, in a LogEntry by
// finding the LogEntry oneof case whose message type is cmd's. The entry is stamped with Actor
// and no time: MakeLog stamps Time(index) when the entry has none.
func Entry(tb testing.TB, cmd proto.Message) *fsmv1.LogEntry {
	tb.Helper()
	e := &fsmv1.LogEntry{Actor: Actor}
	fd := CommandField(cmd)
	if fd == nil {
		tb.Fatalf("fsmtest.Entry: %T is not a LogEntry command", cmd)
		return nil
	}
	e.ProtoReflect().Set(fd, protoreflect.ValueOfMessage(cmd.ProtoReflect()))
	return e
}

// CommandField returns the LogEntry oneof field that carries cmd's message type, or nil.
func CommandField(cmd proto.Message) protoreflect.FieldDescriptor {
	if cmd == nil {
		return nil
	}
	want := cmd.ProtoReflect().Descriptor().FullName()
	for _, fd := range CommandFields() {
		if fd.Message().FullName() == want {
			return fd
		}
	}
	return nil
}

// CommandFields returns every case of the LogEntry command oneof in field-number order.
func CommandFields() []protoreflect.FieldDescriptor {
	fields := (&fsmv1.LogEntry{}).ProtoReflect().Descriptor().Oneofs().ByName("command").Fields()
	out := make([]protoreflect.FieldDescriptor, fields.Len())
	for i := range out {
		out[i] = fields.Get(i)
	}
	return out
}

// MakeLog encodes e (stamping Time(index) when it has no proposal time) into a command
// raft.Log at index, as raft hands committed entries to FSM.Apply.
func MakeLog(tb testing.TB, index uint64, e *fsmv1.LogEntry) *raft.Log {
	tb.Helper()
	if e.GetProposedAtUnixNano() == 0 {
		e = proto.Clone(e).(*fsmv1.LogEntry)
		e.ProposedAtUnixNano = Time(index)
	}
	b, err := fsm.Encode(e)
	if err != nil {
		tb.Fatalf("fsmtest.MakeLog: %v", err)
	}
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: b}
}

// Apply applies cmds as entries at the indexes after f's applied index and fails the test on
// any error: for building the state a test starts from. It returns the last index used.
func Apply(tb testing.TB, f *fsm.FSM, cmds ...proto.Message) uint64 {
	tb.Helper()
	idx := f.AppliedIndex()
	for _, c := range cmds {
		idx++
		res, ok := f.Apply(MakeLog(tb, idx, Entry(tb, c))).(*fsm.Result)
		if !ok {
			tb.Fatalf("fsmtest.Apply: index %d: Apply returned no *fsm.Result", idx)
		}
		if res.Err != nil {
			tb.Fatalf("fsmtest.Apply: index %d (%T): %v", idx, c, res.Err)
		}
	}
	return idx
}

// SnapshotSink is an in-memory raft.SnapshotSink that records whether it was closed or
// cancelled.
type SnapshotSink struct {
	bytes.Buffer
	Closed    bool
	Cancelled bool
}

// ID returns a fixed snapshot id.
func (s *SnapshotSink) ID() string { return "fsmtest" }

// Close marks the sink closed.
func (s *SnapshotSink) Close() error { s.Closed = true; return nil }

// Cancel marks the sink cancelled.
func (s *SnapshotSink) Cancel() error { s.Cancelled = true; return nil }

var _ raft.SnapshotSink = (*SnapshotSink)(nil)
