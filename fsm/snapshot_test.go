package fsm_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/cset-project/cset/fsm"
	"github.com/cset-project/cset/fsm/fsmtest"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// oneOfEverythingCommands extends the seed so that every record type and every field of the
// snapshot format holds a non-zero value somewhere.
func oneOfEverythingCommands() []proto.Message {
	east := fsmtest.Member("east")
	east.FaultDomain, east.CaFile, east.InsecureSkipVerify, east.HeartbeatTimeoutMs = "rack1", "/etc/cset/east-ca.pem", true, 30000
	web1 := seedWeb1()
	web1.Hooks = []string{"/etc/cset/hooks/replicate"}
	web1.Services = []*fsmv1.Service{{Name: "_http._tcp", Port: 80, Priority: 10, Weight: 20}}
	web1.DependsOn = []string{"db"}
	web1.Failback, web1.FailbackAfterSeconds = fsm.FailbackAuto, 300
	web1.Probe = &fsmv1.Probe{Kind: fsm.ProbeHTTPS, Port: 8443, Path: "/health", StatusMin: 200, StatusMax: 299, TimeoutMs: 1000,
		IntervalMs: 2000, HealthyAfter: 2, UnhealthyAfter: 4, GraceMs: 20000, Dns: fsm.ProbeDNSWithhold, Failover: true}
	return append(fsmtest.SeedCommands(),
		&fsmv1.UpsertMemberCommand{Member: east, KeepPassword: true},
		&fsmv1.UpsertWorkloadCommand{Workload: web1},
		&fsmv1.ObservationBatchCommand{Members: []*fsmv1.MemberObservation{{
			Member: "east", Health: fsm.HealthDegraded, HealthReason: "east-2 offline",
			Servers:   []*fsmv1.MemberServer{{Name: "east-1", Status: "Online"}, {Name: "east-2", Status: "Offline"}},
			Groups:    []*fsmv1.ObservedGroup{{Name: "g-web1", Status: "Offline", Current: "east-1"}},
			GroupsSet: true, AsOfIndex: 3,
		}}},
		&fsmv1.RegisterMasterCommand{Master: tiebreakerMaster()},
		activeOp,
		&fsmv1.AdvanceOperationCommand{Id: "op1", Phase: fsm.PhaseHandover, Attempts: 2, Error: "retrying", TriedMember: "west",
			Hook: &fsmv1.HookResult{Hook: "/etc/cset/hooks/replicate", ExitCode: 1, OutputTail: "lag too high", DurationMs: 40, Error: "exit status 1"}},
		&fsmv1.AdvanceOperationCommand{Id: "op1", Phase: fsm.PhaseHandover, FromPhase: fsm.PhaseHandover, RetryHooks: true, Restoring: true, Error: "retrying"},
		&fsmv1.StartOperationCommand{Operation: forced(fsmtest.Operation("op2", "db", "", "west"))},
		&fsmv1.FinishOperationCommand{Id: "op2", Success: true, Placement: &fsmv1.Placement{Member: "west", Server: "west-1", Status: "Online"}},
		&fsmv1.AppendEventsCommand{Events: []*fsmv1.Event{{Kind: "lease", Severity: "warn", Message: "lease lost", Actor: "controller"}}},
		&fsmv1.CreateTokenCommand{Token: &fsmv1.Token{Name: "ops", Role: fsm.RoleOperate, Hash: bytes.Repeat([]byte{1}, 32), CreatedBy: "bootstrap"}},
		&fsmv1.SetReachabilityCommand{Workload: "web1", Member: "east", Reachability: fsm.ReachabilityUnreachable, Error: "connection refused", SinceUnixNano: 9},
		&fsmv1.RemoveMemberCommand{Name: "east", FenceFirst: true}, // web1 is placed there: marked for removal
		&fsmv1.SetNotifyCursorCommand{Sink: "ops-hook", Seq: 2},
	)
}

func forced(op *fsmv1.Operation) *fsmv1.Operation { op.Force = true; return op }

func tiebreakerMaster() *fsmv1.Master {
	m := fsmtest.Master("t1")
	m.Tiebreaker = true
	return m
}

// oneOfEverything returns an FSM holding oneOfEverythingCommands and two request records, one
// of them a failure.
func oneOfEverything(t testing.TB) *fsm.FSM {
	t.Helper()
	f := fsm.New(nil)
	fsmtest.Apply(t, f, oneOfEverythingCommands()...)
	ok := fsmtest.Entry(t, &fsmv1.SetMemberAdminCommand{Name: "north", Admin: fsm.AdminDraining})
	ok.RequestId = "req-ok"
	bad := fsmtest.Entry(t, &fsmv1.RemoveMemberCommand{Name: "west"})
	bad.RequestId = "req-bad"
	if r := applyEntry(t, f, f.AppliedIndex()+1, ok); r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := applyEntry(t, f, f.AppliedIndex()+1, bad); r.Err == nil {
		t.Fatal("removing a used member without force succeeded")
	}
	return f
}

// fieldsOf collects the full names of every field of md and of the messages it contains.
func fieldsOf(md protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool, out map[protoreflect.FullName]bool) {
	if seen[md.FullName()] {
		return
	}
	seen[md.FullName()] = true
	for i := 0; i < md.Fields().Len(); i++ {
		fd := md.Fields().Get(i)
		out[fd.FullName()] = true
		switch {
		case fd.IsMap() && fd.MapValue().Message() != nil:
			fieldsOf(fd.MapValue().Message(), seen, out)
		case !fd.IsMap() && fd.Message() != nil:
			fieldsOf(fd.Message(), seen, out)
		}
	}
}

// populated records the full names of the fields that hold a value in m, recursively.
func populated(m protoreflect.Message, out map[protoreflect.FullName]bool) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		out[fd.FullName()] = true
		switch {
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool { populated(mv.Message(), out); return true })
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < v.List().Len(); i++ {
				populated(v.List().Get(i).Message(), out)
			}
		case !fd.IsMap() && !fd.IsList() && fd.Message() != nil:
			populated(v.Message(), out)
		}
		return true
	})
}

// readRecords splits a snapshot stream into its header and records.
func readRecords(t testing.TB, b []byte) (*fsmv1.SnapshotHeader, []*fsmv1.SnapshotRecord) {
	t.Helper()
	if !bytes.HasPrefix(b, []byte("CSETSNAP")) {
		t.Fatalf("snapshot starts with %q", b[:min(8, len(b))])
	}
	r := bytes.NewReader(b[8:])
	hdr := &fsmv1.SnapshotHeader{}
	if err := protodelim.UnmarshalFrom(r, hdr); err != nil {
		t.Fatal(err)
	}
	var recs []*fsmv1.SnapshotRecord
	for {
		rec := &fsmv1.SnapshotRecord{}
		err := protodelim.UnmarshalFrom(r, rec)
		if errors.Is(err, io.EOF) {
			return hdr, recs
		}
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
}

func TestFSM_SnapshotRestoreOneOfEverything(t *testing.T) {
	t.Parallel()
	f := oneOfEverything(t)
	b := snapshotBytes(t, f)

	// Every field of the snapshot format holds a value: adding a field or a record type without
	// extending oneOfEverything fails here, so the round trip below covers it.
	want := map[protoreflect.FullName]bool{}
	seen := map[protoreflect.FullName]bool{}
	fieldsOf((&fsmv1.SnapshotHeader{}).ProtoReflect().Descriptor(), seen, want)
	fieldsOf((&fsmv1.SnapshotRecord{}).ProtoReflect().Descriptor(), seen, want)
	got := map[protoreflect.FullName]bool{}
	hdr, recs := readRecords(t, b)
	populated(hdr.ProtoReflect(), got)
	for _, r := range recs {
		populated(r.ProtoReflect(), got)
	}
	for name := range want {
		if !got[name] {
			t.Errorf("no value for %s in the one-of-everything snapshot: extend oneOfEverythingCommands", name)
		}
	}

	g := fsm.New(nil)
	restore(t, g, b)
	diffProto(t, "data after restore", f.Data(), g.Data())
	diffProto(t, "events after restore", f.Events(0, 0, "", ""), g.Events(0, 0, "", ""))
	diffProto(t, "request table after restore", f.RequestTable(), g.RequestTable())
	diffProto(t, "tokens after restore", f.Tokens(), g.Tokens())
	if f.LastEventSeq() != g.LastEventSeq() || f.AppliedIndex() != g.AppliedIndex() {
		t.Errorf("restored seq %d index %d, want %d %d", g.LastEventSeq(), g.AppliedIndex(), f.LastEventSeq(), f.AppliedIndex())
	}
	var w1, w2 bytes.Buffer
	if err := f.WriteSnapshot(&w1); err != nil {
		t.Fatal(err)
	}
	if err := g.WriteSnapshot(&w2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(w1.Bytes(), b) || !bytes.Equal(w2.Bytes(), b) {
		t.Error("WriteSnapshot differs from Persist, or from the restored copy's snapshot")
	}
	members, workloads, err := fsm.ValidateSnapshot(bytes.NewReader(b))
	if err != nil || members != 3 || workloads != 2 {
		t.Errorf("ValidateSnapshot = %d members, %d workloads, %v; want 3, 2, nil", members, workloads, err)
	}
}

func TestFSM_SnapshotIsAPointInTimeCapture(t *testing.T) {
	t.Parallel()
	f := seeded(t)
	want := f.Data()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	fsmtest.Apply(t, f, &fsmv1.RemoveWorkloadCommand{Name: "db"}, &fsmv1.SetMemberAdminCommand{Name: "east", Admin: fsm.AdminDisabled})
	sink := &fsmtest.SnapshotSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	g := fsm.New(nil)
	restore(t, g, sink.Bytes())
	diffProto(t, "persisted state", want, g.Data())
}

// failingSink fails every write.
type failingSink struct{ fsmtest.SnapshotSink }

func (s *failingSink) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestFSM_SnapshotPersistCancelsOnError(t *testing.T) {
	t.Parallel()
	snap, err := seeded(t).Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &failingSink{}
	if err := snap.Persist(sink); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Persist error %v, want the sink's", err)
	}
	if !sink.Cancelled || sink.Closed {
		t.Errorf("sink cancelled=%v closed=%v, want cancelled only", sink.Cancelled, sink.Closed)
	}
}

func delimited(t testing.TB, msgs ...proto.Message) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("CSETSNAP")
	for _, m := range msgs {
		if _, err := protodelim.MarshalTo(&b, m); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func TestFSM_RestoreRejects(t *testing.T) {
	t.Parallel()
	good := snapshotBytes(t, oneOfEverything(t))
	hdr := &fsmv1.SnapshotHeader{FormatVersion: fsm.SnapshotFormatVersion, LastIndex: 3}
	// A record of a type a newer cset would add: SnapshotRecord field 50.
	rec := protowire.AppendBytes(protowire.AppendTag(nil, 50, protowire.BytesType), []byte("x"))
	unknownRecord := protowire.AppendBytes(delimited(t, hdr), rec)
	tooManyEvents := []proto.Message{hdr}
	for range fsm.MaxEvents + 1 {
		tooManyEvents = append(tooManyEvents, &fsmv1.SnapshotRecord{Record: &fsmv1.SnapshotRecord_Event{Event: &fsmv1.Event{Kind: "x"}}})
	}
	tooManyDenials := []proto.Message{hdr}
	for range fsm.MaxDenialEvents + 1 {
		tooManyDenials = append(tooManyDenials, &fsmv1.SnapshotRecord{Record: &fsmv1.SnapshotRecord_Event{Event: &fsmv1.Event{Kind: fsm.KindDenied}}})
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not a cset snapshot"},
		{"garbage", []byte("\x00\x01garbage that is long enough"), "not a cset snapshot"},
		{"wrong magic", append([]byte("CSETSNAQ"), good[8:]...), "it must start with CSETSNAP"},
		{"a raft log entry", []byte("\x01\x52\x00"), "not a cset snapshot"},
		{"magic only", []byte("CSETSNAP"), "read snapshot header"},
		{"newer format", delimited(t, &fsmv1.SnapshotHeader{FormatVersion: 2}), "snapshot format 2 is not supported by this master (it reads 1): upgrade it"},
		{"truncated", good[:len(good)-5], "snapshot checksum mismatch"},
		{"record garbage", append(delimited(t, hdr), 0x05, 0xff, 0xff, 0xff, 0xff, 0xff), "read snapshot record 0"},
		{"unknown record type", unknownRecord, "unknown record type"},
		{"too many events", delimited(t, tooManyEvents...), "more than 10000 events"},
		{"too many denials", delimited(t, tooManyDenials...), "more than 1000 events of kind denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := seeded(t)
			before, events := f.Data(), f.Events(0, 0, "", "")
			watch := f.Watch()
			err := f.Restore(io.NopCloser(bytes.NewReader(tc.data)))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "restore snapshot: ") {
				t.Fatalf("Restore error %v, want one about %q", err, tc.want)
			}
			diffProto(t, "state after a failed restore", before, f.Data())
			diffProto(t, "events after a failed restore", events, f.Events(0, 0, "", ""))
			select {
			case <-watch:
				t.Error("a failed restore woke watchers")
			default:
			}
			if _, _, err := fsm.ValidateSnapshot(bytes.NewReader(tc.data)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ValidateSnapshot error %v, want one about %q", err, tc.want)
			}
		})
	}
}

func TestFSM_RestoreClosesTheReader(t *testing.T) {
	t.Parallel()
	for _, data := range [][]byte{snapshotBytes(t, seeded(t)), []byte("junk")} {
		rc := &closeRecorder{Reader: bytes.NewReader(data)}
		_ = fsm.New(nil).Restore(rc)
		if !rc.closed {
			t.Error("Restore did not close its reader")
		}
	}
}

type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

// TestFSM_ConcurrentReaders runs the read paths while entries are applied (for -race).
func TestFSM_ConcurrentReaders(t *testing.T) {
	t.Parallel()
	f := seeded(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				switch i {
				case 0:
					d := f.Data()
					_ = d.MemberLoad("east")
					_ = f.Events(0, 10, "web1", "")
				case 1:
					snap, err := f.Snapshot()
					if err != nil {
						t.Error(err)
						return
					}
					if err := snap.Persist(&fsmtest.SnapshotSink{}); err != nil {
						t.Error(err)
						return
					}
				case 2:
					var b bytes.Buffer
					if err := f.WriteSnapshot(&b); err != nil {
						t.Error(err)
						return
					}
					select {
					case <-f.Watch():
					case <-stop:
					}
				}
			}
		}()
	}
	for i := range 200 {
		status := []string{"Online", "Offline", "Online Failure"}[i%3]
		fsmtest.Apply(t, f, observe("east", &fsmv1.ObservedGroup{Name: "g-web1", Status: status, Current: "east-1"}),
			&fsmv1.SetMemberHealthCommand{Name: "west", Health: []string{fsm.HealthUp, fsm.HealthDegraded}[i%2]})
	}
	close(stop)
	wg.Wait()
}

// TestFSM_RestoredOddStateDoesNotCrashApply restores a hand-made snapshot holding a member with
// an empty name next to an unplaced workload, then observes that member: Apply must not
// dereference the missing placement.
func TestFSM_RestoredOddStateDoesNotCrashApply(t *testing.T) {
	t.Parallel()
	b := delimited(t,
		&fsmv1.SnapshotHeader{FormatVersion: fsm.SnapshotFormatVersion, LastIndex: 5},
		&fsmv1.SnapshotRecord{Record: &fsmv1.SnapshotRecord_Member{Member: &fsmv1.Member{}}},
		&fsmv1.SnapshotRecord{Record: &fsmv1.SnapshotRecord_Workload{Workload: fsmtest.Workload("w1", "a")}},
	)
	f := fsm.New(nil)
	restore(t, f, b)
	_, p := applyPanic(f, fsmtest.MakeLog(t, 6, fsmtest.Entry(t, &fsmv1.ObservationBatchCommand{Members: []*fsmv1.MemberObservation{
		{Member: "", GroupsSet: true, Groups: []*fsmv1.ObservedGroup{{Name: "g-w1", Status: "Online"}}},
	}})))
	if p != nil {
		t.Fatalf("Apply panicked: %v", p)
	}
	if pl := f.Workload("w1").GetPlacement(); pl != nil {
		t.Errorf("unplaced workload got placement %v", pl)
	}
}
