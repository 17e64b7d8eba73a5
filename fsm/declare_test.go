package fsm_test

import (
	"testing"

	"github.com/cset-project/cset/fsm"
	"github.com/cset-project/cset/fsm/fsmtest"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
)

// seedDeclaration declares exactly what fsmtest.SeedCommands builds, as csetctl apply sends it.
func seedDeclaration() *fsmv1.ApplyDeclarationCommand {
	east, west := fsmtest.Member("east"), fsmtest.Member("west")
	east.FaultDomain, west.FaultDomain = "rack1", "rack2"
	web1 := fsmtest.Workload("web1", "east", "west")
	web1.AvailabilitySet = "web"
	return &fsmv1.ApplyDeclarationCommand{
		ClusterSet:       fsmtest.ClusterSet(),
		FaultDomains:     []*fsmv1.FaultDomain{fsmtest.FaultDomain("rack1"), fsmtest.FaultDomain("rack2")},
		AvailabilitySets: []*fsmv1.AvailabilitySet{fsmtest.AvailabilitySet("web", true)},
		Members:          []*fsmv1.Member{east, west, fsmtest.Member("north")},
		Workloads:        []*fsmv1.Workload{web1, fsmtest.Workload("db", "west", "east")},
	}
}

// without returns d without the members and workloads named.
func without(d *fsmv1.ApplyDeclarationCommand, names ...string) *fsmv1.ApplyDeclarationCommand {
	d = proto.Clone(d).(*fsmv1.ApplyDeclarationCommand)
	drop := map[string]bool{}
	for _, n := range names {
		drop[n] = true
	}
	var ms []*fsmv1.Member
	for _, m := range d.Members {
		if !drop[m.Name] {
			ms = append(ms, m)
		}
	}
	var ws []*fsmv1.Workload
	for _, w := range d.Workloads {
		if !drop[w.Name] {
			ws = append(ws, w)
		}
	}
	var fds []*fsmv1.FaultDomain
	for _, fd := range d.FaultDomains {
		if !drop[fd.Name] {
			fds = append(fds, fd)
		}
	}
	d.Members, d.Workloads, d.FaultDomains = ms, ws, fds
	return d
}

func TestFSM_ApplyDeclare(t *testing.T) {
	t.Parallel()
	changed := seedDeclaration()
	changed.Members[0].Capacity = 99
	changed.Workloads[1].Desired = fsm.DesiredOffline
	newPassword := seedDeclaration()
	newPassword.Members[0].Password = "rotated"
	noSet := without(seedDeclaration(), "north", "db")
	noSet.ClusterSet = nil
	badLast := seedDeclaration()
	badLast.Members[0].Capacity = 5
	badLast.Workloads = append(badLast.Workloads, fsmtest.Workload("api", "south"))
	renamed := seedDeclaration()
	renamed.Workloads[1] = fsmtest.Workload("db2", "west", "east")
	renamed.Workloads[1].Group = "g-db"
	zed := fsmtest.Workload("zed", "north")
	zed.DependsOn = []string{"db"}
	web1On := func(deps ...string) *fsmv1.Workload {
		w := fsmtest.Workload("web1", "east", "west")
		w.AvailabilitySet, w.DependsOn = "web", deps
		return w
	}
	keepsDependency := without(seedDeclaration(), "db")
	keepsDependency.Workloads[0].DependsOn = []string{"db"}
	runApplyCases(t, []applyCase{
		{name: "the seed again changes nothing and writes no event", seed: true, cmd: &fsmv1.DeclareCommand{Declaration: seedDeclaration(), Prune: true}},
		{
			name: "only the objects that change get an event", seed: true, dns: true,
			cmd: &fsmv1.DeclareCommand{Declaration: changed},
			want: func(d *fsm.Data, _ int64) {
				d.Members["east"].Capacity = 99
				d.Workloads["db"].Desired = fsm.DesiredOffline
			},
			events: []ev{
				{Kind: "admin", Severity: "info", Member: "east", Msg: "member east updated"},
				{Kind: "admin", Severity: "info", Workload: "db", Msg: "workload db updated"},
			},
		},
		{
			name: "a new password is a change", seed: true,
			cmd:    &fsmv1.DeclareCommand{Declaration: newPassword},
			want:   func(d *fsm.Data, _ int64) { d.Members["east"].Password = "rotated" },
			events: []ev{{Kind: "admin", Severity: "info", Member: "east", Msg: "member east updated"}},
		},
		{
			name: "prune deletes what the file does not name and leaves the set, masters and tokens", seed: true, dns: true,
			setup: []proto.Message{&fsmv1.CreateTokenCommand{Token: fsmtest.Token("ops", fsm.RoleOperate, "s")}},
			cmd:   &fsmv1.DeclareCommand{Declaration: noSet, Prune: true},
			want: func(d *fsm.Data, _ int64) {
				delete(d.Members, "north")
				delete(d.Workloads, "db")
			},
			events: []ev{
				{Kind: "admin", Severity: "info", Workload: "db", Msg: "workload db unregistered (its ECX group is left as it is)"},
				{Kind: "admin", Severity: "warn", Member: "north", Msg: "member north removed (health unknown, force=false, workloads affected: )"},
			},
		},
		{
			name: "prune renames a workload: the new name takes the ECX group of the old", seed: true, dns: true,
			cmd: &fsmv1.DeclareCommand{Declaration: renamed, Prune: true},
			want: func(d *fsm.Data, _ int64) {
				delete(d.Workloads, "db")
				d.Workloads["db2"] = registeredAt(renamed.Workloads[1], uint64(len(fsmtest.SeedCommands())+1))
			},
			events: []ev{
				{Kind: "admin", Severity: "info", Workload: "db2", Msg: "workload db2 registered (group g-db, candidates [west east])"},
				{Kind: "admin", Severity: "info", Workload: "db", Msg: "workload db unregistered (its ECX group is left as it is)"},
			},
		},
		{
			name: "prune unregisters dependents before their dependencies", seed: true, dns: true,
			setup: []proto.Message{&fsmv1.UpsertWorkloadCommand{Workload: zed}},
			cmd:   &fsmv1.DeclareCommand{Declaration: without(seedDeclaration(), "db"), Prune: true},
			want: func(d *fsm.Data, _ int64) {
				delete(d.Workloads, "db")
				delete(d.Workloads, "zed")
			},
			events: []ev{
				{Kind: "admin", Severity: "info", Workload: "zed", Msg: "workload zed unregistered (its ECX group is left as it is)"},
				{Kind: "admin", Severity: "info", Workload: "db", Msg: "workload db unregistered (its ECX group is left as it is)"},
			},
		},
		{
			name: "a kept workload may drop its dependency on one that goes", seed: true, dns: true,
			setup: []proto.Message{&fsmv1.UpsertWorkloadCommand{Workload: web1On("db")}},
			cmd:   &fsmv1.DeclareCommand{Declaration: without(seedDeclaration(), "db"), Prune: true},
			want: func(d *fsm.Data, _ int64) {
				delete(d.Workloads, "db")
				d.Workloads["web1"].DependsOn = nil
			},
			events: []ev{
				{Kind: "admin", Severity: "info", Workload: "web1", Msg: "workload web1 updated"},
				{Kind: "admin", Severity: "info", Workload: "db", Msg: "workload db unregistered (its ECX group is left as it is)"},
			},
		},
		{
			name: "a kept workload that still depends on one that goes is refused", seed: true,
			setup:   []proto.Message{&fsmv1.UpsertWorkloadCommand{Workload: web1On("db")}},
			cmd:     &fsmv1.DeclareCommand{Declaration: keepsDependency, Prune: true},
			wantErr: fsm.ErrNotFound, errHas: `"db"`,
		},
		{
			name: "without prune nothing is deleted", seed: true,
			cmd: &fsmv1.DeclareCommand{Declaration: noSet},
		},
		{
			name: "prune of a placed workload is refused", seed: true,
			cmd:     &fsmv1.DeclareCommand{Declaration: without(seedDeclaration(), "web1"), Prune: true},
			wantErr: fsm.ErrFailedPrecondition, errHas: `workload "web1", which the file does not declare, but it is placed on east (ECX status Online)`,
		},
		{
			name: "prune --force unregisters a placed workload", seed: true, dns: true,
			cmd:    &fsmv1.DeclareCommand{Declaration: without(seedDeclaration(), "web1"), Prune: true, Force: true},
			want:   func(d *fsm.Data, _ int64) { delete(d.Workloads, "web1") },
			events: []ev{{Kind: "admin", Severity: "info", Workload: "web1", Msg: "workload web1 unregistered (its ECX group is left as it is)"}},
		},
		{
			name: "prune of a member a kept workload names is refused, even with force", seed: true,
			cmd:     &fsmv1.DeclareCommand{Declaration: without(seedDeclaration(), "west"), Prune: true, Force: true},
			wantErr: fsm.ErrInvalidArgument, errHas: `member "west", which the file does not declare, but it is a candidate of workloads db, web1 that the file keeps`,
		},
		{
			name: "prune of a fault domain a kept member is in is refused", seed: true,
			cmd:     &fsmv1.DeclareCommand{Declaration: without(seedDeclaration(), "rack2"), Prune: true},
			wantErr: fsm.ErrInvalidArgument, errHas: `fault domain "rack2", which the file does not declare, but member west that the file keeps is in it`,
		},
		{
			name: "a failing object applies nothing", seed: true,
			cmd:     &fsmv1.DeclareCommand{Declaration: badLast, Prune: true},
			wantErr: fsm.ErrNotFound, errHas: `candidate member "south" of workload "api"`,
		},
	})
}

// TestFSM_PlanDeclaration: the dry run's plan names every object with its action and changed
// fields, changes nothing, and is the plan the apply then follows.
func TestFSM_PlanDeclaration(t *testing.T) {
	t.Parallel()
	d := without(seedDeclaration(), "north")
	d.ClusterSet.TtlSeconds = 60
	d.Members[0].Capacity, d.Members[0].Password = 20, "rotated"
	d.Members = append(d.Members, fsmtest.Member("south"))
	d.AvailabilitySets = append(d.AvailabilitySets, fsmtest.AvailabilitySet("batch", false))
	d.AvailabilitySets[0].Hard = false
	d.Workloads[1].Candidates = []string{"west", "south"}
	d.Workloads[1].Addresses = map[string]*fsmv1.AddressList{"west": {Addresses: []string{"10.1.1.20"}}, "south": {Addresses: []string{"10.3.1.20"}}}
	cmd := &fsmv1.DeclareCommand{Declaration: d, Prune: true}

	f := seeded(t)
	// Stamped fields the declaration does not carry are not compared.
	fsmtest.Apply(t, f, &fsmv1.ObservationBatchCommand{Members: []*fsmv1.MemberObservation{{
		Member: "west", Health: fsm.HealthUp, HealthReason: "all servers online", GroupsSet: true,
		Servers: []*fsmv1.MemberServer{{Name: "west-1", Status: "Online"}, {Name: "west-2", Status: "Online"}},
		Groups:  []*fsmv1.ObservedGroup{{Name: "g-db", Status: "Offline"}},
	}}})
	before, events := f.Data(), f.LastEventSeq()
	plan, at, err := f.PlanDeclaration(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if at != f.AppliedIndex() {
		t.Errorf("planned against index %d, want %d", at, f.AppliedIndex())
	}
	want := &fsm.Plan{Changes: []fsm.Change{
		{Kind: fsm.KindSet, Name: "prod", Action: fsm.ActionUpdate, Fields: []string{"ttl"}},
		{Kind: fsm.KindFaultDomain, Name: "rack1", Action: fsm.ActionUnchanged},
		{Kind: fsm.KindFaultDomain, Name: "rack2", Action: fsm.ActionUnchanged},
		{Kind: fsm.KindAvailabilitySet, Name: "web", Action: fsm.ActionUpdate, Fields: []string{"soft"}},
		{Kind: fsm.KindAvailabilitySet, Name: "batch", Action: fsm.ActionCreate},
		{Kind: fsm.KindMember, Name: "east", Action: fsm.ActionUpdate, Fields: []string{"capacity", "password"}},
		{Kind: fsm.KindMember, Name: "west", Action: fsm.ActionUnchanged},
		{Kind: fsm.KindMember, Name: "south", Action: fsm.ActionCreate},
		{Kind: fsm.KindWorkload, Name: "web1", Action: fsm.ActionUnchanged},
		{Kind: fsm.KindWorkload, Name: "db", Action: fsm.ActionUpdate, Fields: []string{"candidates", "addresses"}},
		{Kind: fsm.KindMember, Name: "north", Action: fsm.ActionDelete},
	}}
	if diff := cmp.Diff(want, plan); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	diffProto(t, "state after the dry run", before, f.Data())
	if f.LastEventSeq() != events {
		t.Errorf("the dry run wrote events: seq %d -> %d", events, f.LastEventSeq())
	}

	res := applyCmd(t, f, f.AppliedIndex()+1, cmd)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if diff := cmp.Diff(plan, res.Plan); diff != "" {
		t.Errorf("the apply followed another plan than the dry run showed (-dry +applied):\n%s", diff)
	}
	again, _, err := f.PlanDeclaration(cmd)
	if err != nil || again.Changed() {
		t.Errorf("after the apply the plan is %+v, %v; want everything unchanged", again, err)
	}
}

// TestFSM_DeclarePruneForceMarksBusyMember: with --force a pruned member that may still run a
// group is not deleted but marked for removal, as 'member remove --force' does.
func TestFSM_DeclarePruneForceMarksBusyMember(t *testing.T) {
	t.Parallel()
	f := seeded(t)
	fsmtest.Apply(t, f,
		&fsmv1.SetMemberHealthCommand{Name: "east", Health: fsm.HealthUp, Reason: "ok"},
		&fsmv1.StartOperationCommand{Operation: fsmtest.Operation("op1", "db", "", "east")},
	)
	d := without(seedDeclaration(), "east", "web1")
	d.Workloads[0].Candidates = []string{"west", "north"}
	d.Workloads[0].Addresses = map[string]*fsmv1.AddressList{"west": {Addresses: []string{"10.1.1.20"}}, "north": {Addresses: []string{"10.2.1.20"}}}

	plan, _, err := f.PlanDeclaration(&fsmv1.DeclareCommand{Declaration: d, Prune: true})
	checkErr(t, err, fsm.ErrFailedPrecondition, `workload "web1", which the file does not declare, but it is placed on east`)
	if plan != nil {
		t.Errorf("a refused plan: %+v", plan)
	}
	res := applyCmd(t, f, f.AppliedIndex()+1, &fsmv1.DeclareCommand{Declaration: d, Prune: true, Force: true})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	want := &fsm.Plan{Changes: []fsm.Change{
		{Kind: fsm.KindSet, Name: "prod", Action: fsm.ActionUnchanged},
		{Kind: fsm.KindFaultDomain, Name: "rack1", Action: fsm.ActionUnchanged},
		{Kind: fsm.KindFaultDomain, Name: "rack2", Action: fsm.ActionUnchanged},
		{Kind: fsm.KindAvailabilitySet, Name: "web", Action: fsm.ActionUnchanged},
		{Kind: fsm.KindMember, Name: "west", Action: fsm.ActionUnchanged},
		{Kind: fsm.KindMember, Name: "north", Action: fsm.ActionUnchanged},
		{Kind: fsm.KindWorkload, Name: "db", Action: fsm.ActionUpdate, Fields: []string{"candidates", "addresses"}},
		{Kind: fsm.KindWorkload, Name: "web1", Action: fsm.ActionDelete},
		{Kind: fsm.KindMember, Name: "east", Action: fsm.ActionDelete, Note: "marked for removal (force): it is deleted when no cset group runs there"},
	}}
	if diff := cmp.Diff(want, res.Plan); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	m := f.Member("east")
	if m == nil || m.Removal != fsm.RemovalForce || m.Admin != fsm.AdminDraining {
		t.Errorf("east after a forced prune: %v; want it kept, draining, removal force", m)
	}
	if f.Workload("web1") != nil {
		t.Error("web1 is still registered")
	}
}
