package fsm_test

import (
	"testing"

	"github.com/cset-project/cset/fsm"
	"github.com/cset-project/cset/fsm/fsmtest"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"google.golang.org/protobuf/proto"
)

// declaration is a whole cluster set as `csetctl apply -f` sends it.
func declaration() *fsmv1.ApplyDeclarationCommand {
	east, west := fsmtest.Member("east"), fsmtest.Member("west")
	east.FaultDomain, west.FaultDomain = "rack1", "rack2"
	web1 := fsmtest.Workload("web1", "east", "west")
	web1.AvailabilitySet = "web"
	return &fsmv1.ApplyDeclarationCommand{
		ClusterSet:       fsmtest.ClusterSet(),
		FaultDomains:     []*fsmv1.FaultDomain{fsmtest.FaultDomain("rack1"), fsmtest.FaultDomain("rack2")},
		AvailabilitySets: []*fsmv1.AvailabilitySet{fsmtest.AvailabilitySet("web", true)},
		Members:          []*fsmv1.Member{east, west},
		Workloads:        []*fsmv1.Workload{web1, fsmtest.Workload("db", "west", "east"), fsmtest.Workload("api", "east")},
	}
}

func TestFSM_ApplyApplyDeclaration(t *testing.T) {
	t.Parallel()
	badMiddle := declaration()
	badMiddle.Workloads[1] = fsmtest.Workload("db", "west", "south")
	badMember := declaration()
	badMember.Members[1].FaultDomain = "rack9"
	badSet := declaration()
	badSet.ClusterSet.Zone = ""
	noPassword := &fsmv1.ApplyDeclarationCommand{Members: []*fsmv1.Member{fsmtest.Member("east"), fsmtest.Member("north")}}
	noPassword.Members[0].Password, noPassword.Members[0].Capacity = "", 99
	noPassword.Members[1].Password = ""
	runApplyCases(t, []applyCase{
		{
			name: "whole cluster set on an empty state",
			cmd:  declaration(),
			dns:  true,
			want: func(d *fsm.Data, at int64) {
				c := declaration()
				d.ClusterSet = c.ClusterSet
				for _, fd := range c.FaultDomains {
					d.FaultDomains[fd.Name] = fd
				}
				d.AvailabilitySets["web"] = c.AvailabilitySets[0]
				for _, m := range c.Members {
					m.Admin, m.Health, m.HealthSinceUnixNano = fsm.AdminActive, fsm.HealthUnknown, at
					d.Members[m.Name] = m
				}
				for _, w := range c.Workloads {
					d.Workloads[w.Name] = registeredAt(w, 1)
				}
			},
			events: []ev{
				{Kind: "admin", Severity: "info", Msg: "cluster set prod with zone cset.example.com. (ttl 30s)"},
				{Kind: "admin", Severity: "info", Msg: "fault domain rack1 with members "},
				{Kind: "admin", Severity: "info", Msg: "fault domain rack2 with members "},
				{Kind: "admin", Severity: "info", Msg: "availability set web (hard=true)"},
				{Kind: "admin", Severity: "info", Member: "east", Msg: "member east added with 2 servers"},
				{Kind: "admin", Severity: "info", Member: "west", Msg: "member west added with 2 servers"},
				{Kind: "admin", Severity: "info", Workload: "web1", Msg: "workload web1 registered (group g-web1, candidates [east west])"},
				{Kind: "admin", Severity: "info", Workload: "db", Msg: "workload db registered (group g-db, candidates [west east])"},
				{Kind: "admin", Severity: "info", Workload: "api", Msg: "workload api registered (group g-api, candidates [east])"},
			},
		},
		{
			name: "members only keeps stored passwords and leaves DNS alone", seed: true,
			cmd: noPassword,
			want: func(d *fsm.Data, at int64) {
				d.Members["east"].Capacity, d.Members["east"].FaultDomain = 99, ""
				d.Members["north"] = member("north", "", d.Members["north"].HealthSinceUnixNano)
			},
			events: []ev{
				{Kind: "admin", Severity: "info", Member: "east", Msg: "member east updated"},
				{Kind: "admin", Severity: "info", Member: "north", Msg: "member north updated"},
			},
		},
		{name: "a failing workload in the middle applies nothing", cmd: badMiddle, wantErr: fsm.ErrNotFound, errHas: `candidate member "south" of workload "db"`},
		{name: "a failing member applies nothing", seed: true, cmd: badMember, wantErr: fsm.ErrNotFound, errHas: "rack9"},
		{name: "a failing cluster set applies nothing", cmd: badSet, wantErr: fsm.ErrInvalidArgument, errHas: "zone is empty"},
	})
}

func TestFSM_ApplyRestoreState(t *testing.T) {
	t.Parallel()
	// The backup: the seed plus an operation, taken at index seedLen+2.
	backup := seeded(t)
	fsmtest.Apply(t, backup, activeOp, &fsmv1.SetWorkloadDesiredCommand{Name: "db", Desired: fsm.DesiredOffline})
	backupData := backup.Data()
	snap := snapshotBytes(t, backup)

	running := []proto.Message{
		&fsmv1.RegisterMasterCommand{Master: fsmtest.Master("m7")},
		&fsmv1.RegisterMasterCommand{Master: fsmtest.Master("m8")},
		&fsmv1.UpsertMemberCommand{Member: fsmtest.Member("other")},
		&fsmv1.UpsertWorkloadCommand{Workload: fsmtest.Workload("lost", "other")},
	}
	runApplyCases(t, []applyCase{
		{
			name:  "replaces the data, keeps the running masters",
			setup: running,
			cmd:   &fsmv1.RestoreStateCommand{Snapshot: snap},
			dns:   true,
			want: func(d *fsm.Data, _ int64) {
				masters := d.Masters
				*d = *backupData
				d.Masters = masters
				d.AppliedIndex, d.DNSSerial = 5, 5
			},
			events: []ev{{Kind: "admin", Severity: "warn", Msg: "state restored from a snapshot taken at index 13: 3 members, 2 workloads"}},
		},
		{name: "garbage", setup: running, cmd: &fsmv1.RestoreStateCommand{Snapshot: []byte("CSETSNAP\xff\xff")}, wantErr: fsm.ErrInvalidArgument, errHas: "the snapshot cannot be restored"},
		{name: "not a snapshot", seed: true, cmd: &fsmv1.RestoreStateCommand{Snapshot: []byte("{}")}, wantErr: fsm.ErrInvalidArgument, errHas: "csetctl snapshot save"},
		{name: "empty", seed: true, cmd: &fsmv1.RestoreStateCommand{}, wantErr: fsm.ErrInvalidArgument},
	})
}

// TestFSM_RestoreStateKeepsRunningRing checks what RestoreStateCommand takes from the running
// state rather than the backup: masters, the request table and the event timeline.
func TestFSM_RestoreStateKeepsRunningRing(t *testing.T) {
	t.Parallel()
	backup := seeded(t)
	e := fsmtest.Entry(t, &fsmv1.AppendEventsCommand{Events: []*fsmv1.Event{{Kind: "action", Message: "in the backup"}}})
	e.RequestId = "backup-req"
	applyEntry(t, backup, backup.AppliedIndex()+1, e)
	snap := snapshotBytes(t, backup)

	f := fsm.New(nil)
	fsmtest.Apply(t, f, &fsmv1.RegisterMasterCommand{Master: fsmtest.Master("m5")})
	e = fsmtest.Entry(t, &fsmv1.AppendEventsCommand{Events: []*fsmv1.Event{{Kind: "action", Message: "running"}}})
	e.RequestId = "running-req"
	applyEntry(t, f, 2, e)
	e = fsmtest.Entry(t, &fsmv1.RestoreStateCommand{Snapshot: snap})
	e.RequestId = "restore-req"
	if r := applyEntry(t, f, 3, e); r.Err != nil {
		t.Fatal(r.Err)
	}

	d := f.Data()
	if len(d.Masters) != 1 || d.Masters["m5"] == nil {
		t.Errorf("masters after restore %v, want the running m5 only", d.Masters)
	}
	if len(d.Workloads) != 2 || d.ClusterSet.GetName() != "prod" || d.AppliedIndex != 3 || d.DNSSerial != 3 {
		t.Errorf("restored data: %d workloads, cluster set %v, index %d, serial %d", len(d.Workloads), d.ClusterSet, d.AppliedIndex, d.DNSSerial)
	}
	var ids []string
	for _, r := range f.RequestTable() {
		ids = append(ids, r.GetRequestId())
	}
	if got, want := ids, []string{"running-req", "restore-req"}; !equalStrings(got, want) {
		t.Errorf("request table %v, want %v", got, want)
	}
	var msgs []string
	for _, ev := range f.Events(0, 0, "", "") {
		msgs = append(msgs, ev.GetMessage())
	}
	want := []string{"master m5 registered (raft 127.0.0.6:7101, grpc 127.0.0.6:7100)", "running", "state restored from a snapshot taken at index 12: 3 members, 2 workloads"}
	if !equalStrings(msgs, want) {
		t.Errorf("events %q, want %q", msgs, want)
	}
	if f.LastEventSeq() != 3 {
		t.Errorf("LastEventSeq %d, want 3 (the running sequence goes on)", f.LastEventSeq())
	}
	// A retry of the restore is a duplicate, not a second restore.
	if r := applyEntry(t, f, 4, e); !r.Duplicate || r.Index != 3 {
		t.Errorf("retry of the restore = %+v, want Duplicate of 3", r)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
