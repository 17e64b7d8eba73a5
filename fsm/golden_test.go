package fsm_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cset-project/cset/fsm"
	"github.com/cset-project/cset/fsm/fsmtest"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
)

var update = flag.Bool("update", false, "regenerate the golden corpus of the current format (fsm/testdata/log/v1, fsm/testdata/snapshot/v1.snap)")

// goldenOrder is the order in which the golden entries apply to an empty FSM, each without
// error. Every command of the LogEntry oneof appears once.
var goldenOrder = []string{
	"set_cluster_set", "upsert_fault_domain", "upsert_availability_set", "upsert_member",
	"apply_declaration", "upsert_workload", "set_member_admin", "set_member_health",
	"register_master", "set_placement", "observation_batch", "set_workload_desired",
	"start_operation", "advance_operation", "finish_operation", "append_events",
	"remove_workload", "remove_member", "remove_availability_set", "remove_fault_domain",
	"remove_master", "restore_state", "create_token", "revoke_token", "batch",
	"set_reachability", "declare", "set_notify_cursor", // new commands go last, so the entries before them keep their bytes
}

// restoreAfter is the golden entry after which the snapshot inside restore_state is taken, so
// the restore brings back what the removals after it took away.
const restoreAfter = "append_events"

func goldenLogDir() string {
	return filepath.Join("testdata", "log", fmt.Sprintf("v%d", fsm.FormatVersion))
}

func goldenSnapshotPath() string {
	return filepath.Join("testdata", "snapshot", fmt.Sprintf("v%d.snap", fsm.SnapshotFormatVersion))
}

// goldenCommand returns the command written for name; snap is the snapshot for restore_state.
func goldenCommand(name string, snap []byte) proto.Message {
	east, west := fsmtest.Member("east"), fsmtest.Member("west")
	east.FaultDomain, west.FaultDomain = "rack1", "rack2"
	web1 := seedWeb1()
	web1.Hooks = []string{"/etc/cset/hooks/replicate"}
	web1.Services = []*fsmv1.Service{{Name: "_http._tcp", Port: 80, Priority: 1, Weight: 1}}
	switch name {
	case "set_cluster_set":
		return &fsmv1.SetClusterSetCommand{ClusterSet: fsmtest.ClusterSet()}
	case "upsert_fault_domain":
		return &fsmv1.UpsertFaultDomainCommand{FaultDomain: fsmtest.FaultDomain("rack1"), CreateOnly: true}
	case "upsert_availability_set":
		return &fsmv1.UpsertAvailabilitySetCommand{AvailabilitySet: fsmtest.AvailabilitySet("web", true), CreateOnly: true}
	case "upsert_member":
		return &fsmv1.UpsertMemberCommand{Member: east, CreateOnly: true}
	case "apply_declaration":
		return &fsmv1.ApplyDeclarationCommand{
			ClusterSet:       fsmtest.ClusterSet(),
			FaultDomains:     []*fsmv1.FaultDomain{fsmtest.FaultDomain("rack2"), fsmtest.FaultDomain("room2")},
			AvailabilitySets: []*fsmv1.AvailabilitySet{fsmtest.AvailabilitySet("batch", false)},
			Members:          []*fsmv1.Member{west, fsmtest.Member("spare")},
			Workloads:        []*fsmv1.Workload{fsmtest.Workload("db", "west", "east")},
		}
	case "upsert_workload":
		return &fsmv1.UpsertWorkloadCommand{Workload: web1, CreateOnly: true}
	case "set_member_admin":
		return &fsmv1.SetMemberAdminCommand{Name: "west", Admin: fsm.AdminDraining}
	case "set_member_health":
		return &fsmv1.SetMemberHealthCommand{Name: "east", Health: fsm.HealthUp, Reason: "all servers online"}
	case "register_master":
		return &fsmv1.RegisterMasterCommand{Master: fsmtest.Master("m1")}
	case "set_placement":
		return &fsmv1.SetPlacementCommand{Workload: "web1", Placement: &fsmv1.Placement{Member: "east", Server: "east-1", Status: "Online"}}
	case "observation_batch":
		return &fsmv1.ObservationBatchCommand{
			Members: []*fsmv1.MemberObservation{{
				Member: "east", Health: fsm.HealthDegraded, HealthReason: "east-1 offline",
				Servers:   []*fsmv1.MemberServer{{Name: "east-1", Status: "Offline"}, {Name: "east-2", Status: "Online"}},
				Groups:    []*fsmv1.ObservedGroup{{Name: "g-web1", Status: "Online", Current: "east-2"}},
				GroupsSet: true,
			}},
			Events: []*fsmv1.Event{{Kind: "detection", Severity: "warn", Member: "east", Message: "east-1 stopped answering"}},
		}
	case "set_workload_desired":
		return &fsmv1.SetWorkloadDesiredCommand{Name: "db", Desired: fsm.DesiredOffline}
	case "start_operation":
		return &fsmv1.StartOperationCommand{Operation: fsmtest.Operation("op1", "web1", "east", "west")}
	case "advance_operation":
		return &fsmv1.AdvanceOperationCommand{Id: "op1", Phase: fsm.PhaseHandover, Attempts: 1, TriedMember: "west",
			Hook: &fsmv1.HookResult{Hook: "/etc/cset/hooks/replicate", OutputTail: "reversed\n", DurationMs: 250}}
	case "finish_operation":
		return &fsmv1.FinishOperationCommand{Id: "op1", Success: true, Placement: &fsmv1.Placement{Member: "west", Server: "west-1", Status: "Online"}}
	case "set_reachability":
		return &fsmv1.SetReachabilityCommand{Workload: "web1", Member: "west", Reachability: fsm.ReachabilityUnreachable, Error: "connect 10.2.1.10:80: connection refused", SinceUnixNano: 1_700_000_000_000_000_000}
	case "declare":
		// The whole set as the log left it, but without room2 and batch, which prune deletes.
		return &fsmv1.DeclareCommand{Declaration: &fsmv1.ApplyDeclarationCommand{
			ClusterSet:       fsmtest.ClusterSet(),
			FaultDomains:     []*fsmv1.FaultDomain{fsmtest.FaultDomain("rack1"), fsmtest.FaultDomain("rack2")},
			AvailabilitySets: []*fsmv1.AvailabilitySet{fsmtest.AvailabilitySet("web", true)},
			Members:          []*fsmv1.Member{east, west, fsmtest.Member("spare")},
			Workloads:        []*fsmv1.Workload{web1, fsmtest.Workload("db", "west", "east")},
		}, Prune: true}
	case "set_notify_cursor":
		return &fsmv1.SetNotifyCursorCommand{Sink: "ops-hook", Seq: 3}
	case "append_events":
		return &fsmv1.AppendEventsCommand{Events: []*fsmv1.Event{{Kind: "lease", Message: "lease granted to m1 in term 3"}}}
	case "remove_workload":
		return &fsmv1.RemoveWorkloadCommand{Name: "db"}
	case "remove_member":
		return &fsmv1.RemoveMemberCommand{Name: "spare"}
	case "remove_availability_set":
		return &fsmv1.RemoveAvailabilitySetCommand{Name: "batch"}
	case "remove_fault_domain":
		return &fsmv1.RemoveFaultDomainCommand{Name: "room2"}
	case "remove_master":
		return &fsmv1.RemoveMasterCommand{Id: "m1"}
	case "create_token":
		return &fsmv1.CreateTokenCommand{Token: &fsmv1.Token{Name: "ops", Role: fsm.RoleOperate, Hash: bytes.Repeat([]byte{0xab}, 32), CreatedBy: "bootstrap"}}
	case "revoke_token":
		return &fsmv1.RevokeTokenCommand{Name: "ops"}
	case "restore_state":
		return &fsmv1.RestoreStateCommand{Snapshot: snap}
	case "batch":
		return &fsmv1.BatchCommand{Entries: []*fsmv1.LogEntry{
			{RequestId: "golden-batch-1", Actor: "csetctl", Command: &fsmv1.LogEntry_SetWorkloadDesired{SetWorkloadDesired: &fsmv1.SetWorkloadDesiredCommand{Name: "web1", Desired: fsm.DesiredOffline}}},
			{RequestId: "golden-batch-2", Actor: "csetctl", Command: &fsmv1.LogEntry_AppendEvents{AppendEvents: &fsmv1.AppendEventsCommand{Events: []*fsmv1.Event{{Kind: "admin", Message: "batched"}}}}},
		}}
	}
	return nil
}

// regenerateGolden writes the current format's corpus from goldenCommand.
func regenerateGolden(t *testing.T) {
	t.Helper()
	if err := os.MkdirAll(goldenLogDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(goldenSnapshotPath()), 0o755); err != nil {
		t.Fatal(err)
	}
	f := fsm.New(nil)
	var snap []byte
	for i, name := range goldenOrder {
		idx := uint64(i + 1)
		cmd := goldenCommand(name, snap)
		if cmd == nil {
			t.Fatalf("goldenCommand has no command for %s", name)
		}
		e := fsmtest.Entry(t, cmd)
		e.RequestId, e.Actor, e.ProposedAtUnixNano = "golden-"+name, "golden", fsmtest.Time(idx)
		b, err := fsm.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		if r := f.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: b}).(*fsm.Result); r.Err != nil {
			t.Fatalf("golden %s: %v", name, r.Err)
		}
		if err := os.WriteFile(filepath.Join(goldenLogDir(), name+".binpb"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		if name == restoreAfter {
			snap = writeSnapshot(t, f)
		}
	}
	if err := os.WriteFile(goldenSnapshotPath(), writeSnapshot(t, f), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("regenerated %d entries in %s and %s", len(goldenOrder), goldenLogDir(), goldenSnapshotPath())
}

// TestFSM_GoldenCorpus decodes and applies the committed entries of every format version in
// order, and restores the committed snapshots: entries written by a released cset must apply
// forever. `go test ./fsm -run Golden -update` regenerates the current version's files.
func TestFSM_GoldenCorpus(t *testing.T) {
	if *update {
		regenerateGolden(t)
	}
	t.Parallel()
	order := map[string]bool{}
	for _, name := range goldenOrder {
		order[name] = true
	}
	for _, fd := range fsmtest.CommandFields() {
		if !order[string(fd.Name())] {
			t.Errorf("command %s has no golden entry: add it to goldenOrder and goldenCommand, then run go test ./fsm -run Golden -update", fd.Name())
		}
	}
	files, err := filepath.Glob(filepath.Join(goldenLogDir(), "*.binpb"))
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		if name := strings.TrimSuffix(filepath.Base(file), ".binpb"); !order[name] {
			t.Errorf("golden file %s is not in goldenOrder", file)
		}
	}

	f := fsm.New(nil)
	for i, name := range goldenOrder {
		b, err := os.ReadFile(filepath.Join(goldenLogDir(), name+".binpb"))
		if err != nil {
			t.Fatalf("%v (run go test ./fsm -run Golden -update)", err)
		}
		e, err := fsm.Decode(b)
		if err != nil {
			t.Fatalf("golden %s: %v", name, err)
		}
		fd := e.ProtoReflect().WhichOneof(e.ProtoReflect().Descriptor().Oneofs().ByName("command"))
		if fd == nil || string(fd.Name()) != name {
			t.Fatalf("golden %s.binpb holds command %v", name, fd)
		}
		if r := f.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: b}).(*fsm.Result); r.Err != nil || r.Duplicate {
			t.Fatalf("golden %s: %+v", name, r)
		}
	}
	d := f.Data()
	if len(d.Workloads) != 2 || len(d.Members) != 3 || len(d.Masters) != 0 || d.Workloads["web1"].GetPlacement().GetMember() != "west" {
		t.Errorf("golden log left %d workloads, %d members, %d masters, web1 on %q; want db back from the restore, 3 members, no master, web1 on west",
			len(d.Workloads), len(d.Members), len(d.Masters), d.Workloads["web1"].GetPlacement().GetMember())
	}

	snaps, err := filepath.Glob(filepath.Join("testdata", "snapshot", "v*.snap"))
	if err != nil || len(snaps) == 0 {
		t.Fatalf("no golden snapshots (%v): run go test ./fsm -run Golden -update", err)
	}
	for _, path := range snaps {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := fsm.ValidateSnapshot(bytes.NewReader(b)); err != nil {
			t.Errorf("%s: %v", path, err)
		}
		g := fsm.New(nil)
		restore(t, g, b)
		if path == goldenSnapshotPath() {
			// The current version's snapshot was taken after the golden log.
			diffProto(t, "golden snapshot against the golden log", d, g.Data())
		}
	}
}
