package fsm_test

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cset-project/cset/fsm"
	"github.com/cset-project/cset/fsm/fsmtest"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// camel turns a oneof field name such as set_cluster_set into SetClusterSet.
func camel(s string) string {
	var b strings.Builder
	for _, part := range strings.Split(s, "_") {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

// applyPanic applies l and returns the panic value, or nil.
func applyPanic(f *fsm.FSM, l *raft.Log) (res any, p any) {
	defer func() { p = recover() }()
	return f.Apply(l), nil
}

// TestFSM_EveryCommandHasAHandler walks the LogEntry oneof through protoreflect and applies a
// zero-valued command of each case to an empty and to a seeded FSM: each must reach a handler
// (no "no handler" or "does not know" panic, no panic at all) and return a *fsm.Result.
func TestFSM_EveryCommandHasAHandler(t *testing.T) {
	t.Parallel()
	fields := fsmtest.CommandFields()
	if len(fields) < 22 {
		t.Fatalf("found %d commands in the LogEntry oneof, want at least 22", len(fields))
	}
	for _, fd := range fields {
		t.Run(string(fd.Name()), func(t *testing.T) {
			t.Parallel()
			for _, f := range []*fsm.FSM{fsm.New(nil), seeded(t)} {
				e := &fsmv1.LogEntry{}
				m := e.ProtoReflect()
				m.Set(fd, protoreflect.ValueOfMessage(m.NewField(fd).Message()))
				idx := f.AppliedIndex() + 1
				res, p := applyPanic(f, fsmtest.MakeLog(t, idx, e))
				if p != nil {
					t.Fatalf("zero-valued %s panicked: %v", fd.Name(), p)
				}
				if r, ok := res.(*fsm.Result); !ok || r.Index != idx {
					t.Fatalf("zero-valued %s returned %#v, want a *fsm.Result at %d", fd.Name(), res, idx)
				}
			}
		})
	}
}

// TestFSM_EveryCommandHasATable checks that each LogEntry command has its table test, named
// TestFSM_Apply<Command>, in this package's test files.
func TestFSM_EveryCommandHasATable(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]bool{}
	fset := token.NewFileSet()
	for _, name := range files {
		file, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil {
				tests[fn.Name.Name] = true
			}
		}
	}
	for _, fd := range fsmtest.CommandFields() {
		if name := "TestFSM_Apply" + camel(string(fd.Name())); !tests[name] {
			t.Errorf("command %s has no table test %s", fd.Name(), name)
		}
	}
}

// unknownCommand returns an encoded entry whose command is a oneof case this binary does not
// know (field 99), as a newer leader would write it.
func unknownCommand(t testing.TB, ignore bool, requestID string) []byte {
	t.Helper()
	b, err := fsm.Encode(&fsmv1.LogEntry{IgnoreIfUnknown: ignore, RequestId: requestID, ProposedAtUnixNano: 1})
	if err != nil {
		t.Fatal(err)
	}
	b = protowire.AppendTag(b, 99, protowire.BytesType)
	return protowire.AppendBytes(b, []byte{0x0a, 0x01, 'x'})
}

func TestFSM_ApplyUnknownCommand(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"newer command", unknownCommand(t, true, "r1")},
		{"no command", func() []byte { b, _ := fsm.Encode(&fsmv1.LogEntry{IgnoreIfUnknown: true, RequestId: "r1"}); return b }()},
	} {
		t.Run("ignorable "+tc.name, func(t *testing.T) {
			t.Parallel()
			f := seeded(t)
			before := f.Data()
			res, p := applyPanic(f, &raft.Log{Index: 40, Type: raft.LogCommand, Data: tc.data})
			if p != nil {
				t.Fatalf("panicked: %v", p)
			}
			if r := res.(*fsm.Result); r.Err != nil || r.Index != 40 {
				t.Fatalf("result %+v, want a skip at 40", r)
			}
			before.AppliedIndex = 40
			diffProto(t, "state after a skipped entry", before, f.Data())
			if n := len(f.Events(seedLen*10, 0, "", "")); n != 0 {
				t.Errorf("%d events written by a skipped entry", n)
			}
		})
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"newer command", unknownCommand(t, false, "")},
		{"no command", func() []byte { b, _ := fsm.Encode(&fsmv1.LogEntry{}); return b }()},
	} {
		t.Run("not ignorable "+tc.name, func(t *testing.T) {
			t.Parallel()
			_, p := applyPanic(fsm.New(nil), &raft.Log{Index: 41, Type: raft.LogCommand, Data: tc.data})
			msg := fmt.Sprint(p)
			if !strings.Contains(msg, "raft index 41") || !strings.Contains(msg, "upgrade this master") {
				t.Fatalf("panic %q, want one naming index 41 and asking to upgrade this master", msg)
			}
		})
	}
}

func TestFSM_ApplyUndecodable(t *testing.T) {
	t.Parallel()
	valid, err := fsm.Encode(fsmtest.Entry(t, &fsmv1.SetClusterSetCommand{ClusterSet: fsmtest.ClusterSet()}))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, data, want string
	}{
		{"empty", "", "empty"},
		{"unknown format byte", "\x02" + string(valid[1:]), "unknown format byte 2"},
		{"garbage", "\x01\xff\xff\xff", "decode log entry"},
		{"truncated", string(valid[:len(valid)-3]), "decode log entry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := fsm.New(nil)
			_, p := applyPanic(f, &raft.Log{Index: 1234, Type: raft.LogCommand, Data: []byte(tc.data)})
			msg := fmt.Sprint(p)
			if !strings.Contains(msg, "raft index 1234") || !strings.Contains(msg, tc.want) {
				t.Fatalf("panic %q, want one naming index 1234 and %q", msg, tc.want)
			}
			if _, err := fsm.Decode([]byte(tc.data)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Decode error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestFSM_ApplyIgnoresNonCommandLogs(t *testing.T) {
	t.Parallel()
	f := seeded(t)
	before := f.Data()
	for _, typ := range []raft.LogType{raft.LogNoop, raft.LogConfiguration, raft.LogBarrier} {
		if res := f.Apply(&raft.Log{Index: 99, Type: typ, Data: []byte("not an entry")}); res != nil {
			t.Errorf("Apply of a %v log returned %v, want nil", typ, res)
		}
	}
	diffProto(t, "state", before, f.Data())
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	t.Parallel()
	w := fsmtest.Workload("web1", "east", "west", "north")
	w.Services = []*fsmv1.Service{{Name: "_http._tcp", Port: 80}}
	e := fsmtest.Entry(t, &fsmv1.UpsertWorkloadCommand{Workload: w, CreateOnly: true})
	e.RequestId, e.ProposedAtUnixNano, e.IgnoreIfUnknown = "req-1", 12345, true
	b, err := fsm.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != fsm.FormatVersion {
		t.Errorf("first byte %d, want the format version %d", b[0], fsm.FormatVersion)
	}
	got, err := fsm.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	diffProto(t, "decoded entry", e, got)
	// Encoding is deterministic (map fields in order), so identical entries give identical bytes.
	for range 20 {
		again, _ := fsm.Encode(proto.Clone(e).(*fsmv1.LogEntry))
		if !bytes.Equal(b, again) {
			t.Fatal("Encode is not deterministic")
		}
	}
}

func TestFSM_RequestIDDeduplication(t *testing.T) {
	t.Parallel()
	f := seeded(t)
	create := fsmtest.Entry(t, &fsmv1.UpsertMemberCommand{Member: fsmtest.Member("south"), CreateOnly: true})
	create.RequestId = "req-create"
	first := applyEntry(t, f, 20, create)
	checkErr(t, first.Err, nil, "")
	failing := fsmtest.Entry(t, &fsmv1.SetMemberAdminCommand{Name: "nowhere", Admin: fsm.AdminDraining})
	failing.RequestId = "req-fail"
	firstFail := applyEntry(t, f, 21, failing)
	checkErr(t, firstFail.Err, fsm.ErrNotFound, "nowhere")

	before, seq := f.Data(), f.LastEventSeq()
	// The same entries again, as a client retry after an unknown outcome commits them twice.
	again := applyEntry(t, f, 22, create)
	if !again.Duplicate || again.Index != 20 || again.Err != nil {
		t.Errorf("retry of a success = %+v, want Duplicate of index 20 without error", again)
	}
	againFail := applyEntry(t, f, 23, failing)
	if !againFail.Duplicate || againFail.Index != 21 || againFail.Err == nil || againFail.Err.Error() != firstFail.Err.Error() {
		t.Errorf("retry of a failure = %+v, want Duplicate of index 21 with %q", againFail, firstFail.Err)
	}
	checkErr(t, againFail.Err, fsm.ErrNotFound, "")
	before.AppliedIndex = 23
	diffProto(t, "state after duplicates", before, f.Data())
	if f.LastEventSeq() != seq {
		t.Errorf("duplicates wrote events: last seq %d, want %d", f.LastEventSeq(), seq)
	}

	// The table survives a snapshot and restore.
	g := fsm.New(nil)
	restore(t, g, snapshotBytes(t, f))
	if r := applyEntry(t, g, 24, create); !r.Duplicate || r.Index != 20 {
		t.Errorf("retry after restore = %+v, want Duplicate of index 20", r)
	}
	diffProto(t, "request table after restore", f.RequestTable(), g.RequestTable())
}

func TestFSM_RequestIDTableIsBounded(t *testing.T) {
	t.Parallel()
	f := fsm.New(nil)
	noop := fsmtest.Entry(t, &fsmv1.AppendEventsCommand{})
	n := fsm.MaxRequestIDs + 3
	for i := 1; i <= n; i++ {
		noop.RequestId = fmt.Sprintf("req-%05d", i)
		if r := applyEntry(t, f, uint64(i), noop); r.Duplicate || r.Err != nil {
			t.Fatalf("entry %d: %+v", i, r)
		}
	}
	table := f.RequestTable()
	if len(table) != fsm.MaxRequestIDs {
		t.Fatalf("table holds %d ids, want %d", len(table), fsm.MaxRequestIDs)
	}
	if table[0].GetRequestId() != "req-00004" || table[len(table)-1].GetRequestId() != fmt.Sprintf("req-%05d", n) {
		t.Errorf("table spans %s..%s, want the newest %d", table[0].GetRequestId(), table[len(table)-1].GetRequestId(), fsm.MaxRequestIDs)
	}
	idx := uint64(n)
	for _, tc := range []struct {
		id  string
		dup bool
	}{{"req-00001", false}, {"req-00005", true}, {fmt.Sprintf("req-%05d", n), true}} {
		idx++
		noop.RequestId = tc.id
		if r := applyEntry(t, f, idx, noop); r.Duplicate != tc.dup {
			t.Errorf("%s: Duplicate=%v, want %v", tc.id, r.Duplicate, tc.dup)
		}
	}
	// Bounded after a round trip too.
	g := fsm.New(nil)
	restore(t, g, snapshotBytes(t, f))
	if got := len(g.RequestTable()); got != fsm.MaxRequestIDs {
		t.Errorf("restored table holds %d ids, want %d", got, fsm.MaxRequestIDs)
	}
}

func TestFSM_EventRingIsBounded(t *testing.T) {
	t.Parallel()
	f := fsm.New(nil)
	batch := func(from, n int) *fsmv1.AppendEventsCommand {
		c := &fsmv1.AppendEventsCommand{}
		for i := range n {
			c.Events = append(c.Events, &fsmv1.Event{Kind: "action", Message: fmt.Sprint(from + i)})
		}
		return c
	}
	fsmtest.Apply(t, f, batch(1, 6000), batch(6001, 6000), batch(12001, 5))
	const total = 12005
	all := f.Events(0, 0, "", "")
	if len(all) != fsm.MaxEvents {
		t.Fatalf("ring holds %d events, want %d", len(all), fsm.MaxEvents)
	}
	if first, last := all[0], all[len(all)-1]; first.GetSeq() != total-fsm.MaxEvents+1 || last.GetSeq() != total ||
		first.GetMessage() != fmt.Sprint(total-fsm.MaxEvents+1) || last.GetIndex() != 3 {
		t.Errorf("ring spans %v .. %v, want seq %d..%d", first, last, total-fsm.MaxEvents+1, total)
	}
	for i := 1; i < len(all); i++ {
		if all[i].GetSeq() != all[i-1].GetSeq()+1 {
			t.Fatalf("seq jumps from %d to %d", all[i-1].GetSeq(), all[i].GetSeq())
		}
	}
	if f.LastEventSeq() != total {
		t.Errorf("LastEventSeq %d, want %d", f.LastEventSeq(), total)
	}
	g := fsm.New(nil)
	restore(t, g, snapshotBytes(t, f))
	fsmtest.Apply(t, g, batch(0, 1))
	if got := g.Events(total, 0, "", ""); len(got) != 1 || got[0].GetSeq() != total+1 {
		t.Errorf("after restore the next event is %v, want seq %d", got, total+1)
	}
}

func TestFSM_Events(t *testing.T) {
	t.Parallel()
	f := fsm.New(nil)
	fsmtest.Apply(t, f, &fsmv1.AppendEventsCommand{Events: []*fsmv1.Event{
		{Message: "1", Workload: "web1", Member: "east"},
		{Message: "2", Workload: "db"},
		{Message: "3", Member: "east"},
		{Message: "4", Workload: "web1", Member: "west"},
		{Message: "5"},
		{Message: "6", Workload: "web1", Member: "east"},
	}})
	msgs := func(es []*fsmv1.Event) string {
		var out []string
		for _, e := range es {
			out = append(out, e.GetMessage())
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		after            uint64
		limit            int
		workload, member string
		want             string
	}{
		{0, 0, "", "", "1,2,3,4,5,6"},
		{2, 0, "", "", "3,4,5,6"},
		{6, 0, "", "", ""},
		{100, 0, "", "", ""},
		{0, 2, "", "", "1,2"},
		{3, 2, "", "", "4,5"},
		{0, 0, "web1", "", "1,4,6"},
		{0, 0, "", "east", "1,3,6"},
		{0, 0, "web1", "east", "1,6"},
		{1, 1, "web1", "east", "6"},
		{0, -1, "db", "", "2"},
		{0, 0, "api", "", ""},
	} {
		got := msgs(f.Events(tc.after, tc.limit, tc.workload, tc.member))
		if got != tc.want {
			t.Errorf("Events(%d, %d, %q, %q) = %q, want %q", tc.after, tc.limit, tc.workload, tc.member, got, tc.want)
		}
	}
	// Readers get copies.
	f.Events(0, 0, "", "")[0].Message = "changed"
	if got := f.Events(0, 1, "", "")[0].GetMessage(); got != "1" {
		t.Errorf("a reader changed the ring: %q", got)
	}
}

// Data is published, not copied per reader: readers share it until the state changes, a change
// publishes the changed records only, and a publication already handed out never changes.
func TestFSM_DataIsSharedAndImmutable(t *testing.T) {
	t.Parallel()
	f := seeded(t)
	d1 := f.Data()
	if d2 := f.Data(); d2 != d1 {
		t.Fatal("two reads of an unchanged state published twice")
	}
	fsmtest.Apply(t, f, &fsmv1.SetWorkloadDesiredCommand{Name: "web1", Desired: fsm.DesiredOffline})
	d3 := f.Data()
	if d3 == d1 {
		t.Fatal("a change was not published")
	}
	if got := d3.Workloads["web1"].GetDesired(); got != fsm.DesiredOffline {
		t.Errorf("published web1 desired %q, want %q", got, fsm.DesiredOffline)
	}
	if got := d1.Workloads["web1"].GetDesired(); got == fsm.DesiredOffline {
		t.Error("the earlier publication changed with the state")
	}
	if d3.Workloads["db"] != d1.Workloads["db"] || d3.Members["east"] != d1.Members["east"] {
		t.Error("records that did not change were copied, not shared")
	}
	if d3.Workloads["web1"] == d1.Workloads["web1"] {
		t.Error("the changed record is shared with the earlier publication")
	}
	if got := d3.SortedMembers(); len(got) != 3 || got[0].GetName() != "east" || got[2].GetName() != "west" {
		t.Errorf("SortedMembers = %v", got)
	}
	if got := d3.SortedWorkloads(); len(got) != 2 || got[0].GetName() != "db" {
		t.Errorf("SortedWorkloads = %v", got)
	}
}

// The check every test of this package runs (VerifyPublished) catches a reader that changes a
// shared record.
func TestFSM_VerifyPublishedCatchesAReaderThatWrites(t *testing.T) {
	f := seeded(t)
	f.Data().Workloads["web1"].Placement.Member = "changed"
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), `workload "web1"`) {
			t.Errorf("publication after a reader changed web1: recovered %v, want a panic naming web1", r)
		}
	}()
	fsmtest.Apply(t, f, &fsmv1.SetWorkloadDesiredCommand{Name: "db", Desired: fsm.DesiredOffline})
}

func TestFSM_Watch(t *testing.T) {
	t.Parallel()
	f := fsm.New(nil)
	w := f.Watch()
	select {
	case <-w:
		t.Fatal("watch closed before any change")
	default:
	}
	fsmtest.Apply(t, f, &fsmv1.SetClusterSetCommand{ClusterSet: fsmtest.ClusterSet()})
	select {
	case <-w:
	default:
		t.Fatal("watch not closed by Apply")
	}
	w = f.Watch()
	restore(t, f, snapshotBytes(t, seeded(t)))
	select {
	case <-w:
	default:
		t.Fatal("watch not closed by Restore")
	}
}

func TestFSM_ApplyEntry(t *testing.T) {
	t.Parallel()
	f := fsm.New(nil)
	res := f.ApplyEntry(5, fsmtest.Entry(t, &fsmv1.SetClusterSetCommand{ClusterSet: fsmtest.ClusterSet()}))
	if res.Err != nil || res.Index != 5 || f.AppliedIndex() != 5 || f.Data().ClusterSet.GetName() != "prod" {
		t.Fatalf("ApplyEntry = %+v, applied %d", res, f.AppliedIndex())
	}
}

func TestError_Is(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("apply: %w", &fsm.Error{Code: fsm.CodeNotFound, Msg: "member x does not exist"})
	if !errors.Is(err, fsm.ErrNotFound) || errors.Is(err, fsm.ErrAlreadyExists) || errors.Is(err, fsm.ErrInvalidArgument) || errors.Is(err, fsm.ErrFailedPrecondition) {
		t.Error("errors.Is does not follow the code")
	}
	if errors.Is(fsm.ErrNotFound, &fsm.Error{Code: fsm.CodeNotFound, Msg: "x"}) {
		t.Error("a sentinel matched an error with a message as target")
	}
	if got := err.Error(); got != "apply: member x does not exist" {
		t.Errorf("Error() = %q", got)
	}
}
