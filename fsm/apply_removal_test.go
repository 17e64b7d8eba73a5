package fsm_test

import (
	"testing"

	"github.com/cset-project/cset/fsm"
	"github.com/cset-project/cset/fsm/fsmtest"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"google.golang.org/protobuf/proto"
)

func health(member, h string) *fsmv1.SetMemberHealthCommand {
	return &fsmv1.SetMemberHealthCommand{Name: member, Health: h, Reason: "test"}
}

func removeMember(name string, force bool) *fsmv1.RemoveMemberCommand {
	return &fsmv1.RemoveMemberCommand{Name: name, Force: force, FenceFirst: true}
}

func finalizeRemoval(name string) *fsmv1.RemoveMemberCommand {
	return &fsmv1.RemoveMemberCommand{Name: name, Finalize: true}
}

// dropMember is what a completed removal does to the seed's workloads.
func dropMember(d *fsm.Data, name string) {
	delete(d.Members, name)
	for _, w := range d.Workloads {
		var keep []string
		for _, c := range w.Candidates {
			if c != name {
				keep = append(keep, c)
			}
		}
		w.Candidates = keep
		delete(w.Addresses, name)
		if w.GetPlacement().GetMember() == name {
			w.Placement = nil
		}
	}
}

func marked(d *fsm.Data, name, mode string) {
	d.Members[name].Removal, d.Members[name].Admin = mode, fsm.AdminDraining
}

// TestFSM_ApplyRemoveMemberFenceFirst covers removal since issue 11: a member on which a cset
// group may run is marked and emptied by the controller, never deleted at once while it may run.
func TestFSM_ApplyRemoveMemberFenceFirst(t *testing.T) {
	t.Parallel()
	const movedOff = "workloads web1 are moved off it first under the fence; it is deleted when no cset group runs there"
	runApplyCases(t, []applyCase{
		{
			name: "a member nothing runs on is deleted at once", seed: true,
			cmd:    removeMember("north", false),
			want:   func(d *fsm.Data, _ int64) { delete(d.Members, "north") },
			events: []ev{{Kind: "admin", Severity: "warn", Member: "north", Msg: "member north removed (health unknown, force=false, workloads affected: )"}},
		},
		{
			name: "a candidate nothing runs on is dropped from the workloads at once", seed: true,
			setup:  []proto.Message{health("west", fsm.HealthUp)},
			cmd:    removeMember("west", false),
			dns:    true,
			want:   func(d *fsm.Data, _ int64) { dropMember(d, "west") },
			events: []ev{{Kind: "admin", Severity: "warn", Member: "west", Msg: "member west removed (health up, force=false, workloads affected: db,web1)"}},
		},
		{
			name: "a member a workload is placed on is marked, not deleted", seed: true,
			setup:  []proto.Message{health("east", fsm.HealthUp)},
			cmd:    removeMember("east", false),
			want:   func(d *fsm.Data, _ int64) { marked(d, "east", fsm.RemovalMove) },
			events: []ev{{Kind: "admin", Severity: "warn", Member: "east", Msg: "member east is being removed (move): " + movedOff}},
		},
		{
			name: "force marks it for a forced removal", seed: true,
			setup:  []proto.Message{health("east", fsm.HealthDegraded), removeMember("east", false)},
			cmd:    removeMember("east", true),
			want:   func(d *fsm.Data, _ int64) { marked(d, "east", fsm.RemovalForce) },
			events: []ev{{Kind: "admin", Severity: "warn", Member: "east", Msg: "member east is being removed (force): workloads web1 are moved off it first, or stopped there if no other member can take them now, under the fence; it is deleted when no cset group runs there"}},
		},
		{
			name: "a group observed running on a candidate counts", seed: true,
			setup: []proto.Message{health("west", fsm.HealthUp), &fsmv1.ObservationBatchCommand{Members: []*fsmv1.MemberObservation{{
				Member: "west", GroupsSet: true, Groups: []*fsmv1.ObservedGroup{{Name: "g-db", Status: "Online Pending", Current: "west-1"}},
			}}}},
			cmd:    removeMember("west", false),
			want:   func(d *fsm.Data, _ int64) { marked(d, "west", fsm.RemovalMove) },
			events: []ev{{Kind: "admin", Severity: "warn", Member: "west", Msg: "member west is being removed (move): workloads db are moved off it first under the fence; it is deleted when no cset group runs there"}},
		},
		{
			name: "an unfinished operation into the member counts", seed: true,
			setup:  []proto.Message{health("west", fsm.HealthUp), &fsmv1.StartOperationCommand{Operation: fsmtest.Operation("op1", "db", "", "west")}},
			cmd:    removeMember("west", false),
			want:   func(d *fsm.Data, _ int64) { marked(d, "west", fsm.RemovalMove) },
			events: []ev{{Kind: "admin", Severity: "warn", Member: "west", Msg: "member west is being removed (move): workloads db are moved off it first under the fence; it is deleted when no cset group runs there"}},
		},
		{
			name: "an unreachable member that may run a workload is refused, even with force", seed: true,
			setup:   []proto.Message{health("east", fsm.HealthUnreachable)},
			cmd:     removeMember("east", true),
			wantErr: fsm.ErrFailedPrecondition, errHas: `member "east" is unreachable and workloads web1 may still run there: it cannot be removed before its groups are stopped. Wait until the masters reach it again (its workloads are then moved off first), or, if it is really dead, confirm it with 'csetctl member declare-down east' and remove it then`,
		},
		{
			name: "a member never polled that hosts a workload is refused", seed: true,
			cmd:     removeMember("east", false),
			wantErr: fsm.ErrFailedPrecondition, errHas: "member \"east\" is unknown and workloads web1 may still run there",
		},
		{
			name: "a down member is deleted at once and its placements cleared", seed: true,
			setup:  []proto.Message{health("east", fsm.HealthDown)},
			cmd:    removeMember("east", false),
			dns:    true,
			want:   func(d *fsm.Data, _ int64) { dropMember(d, "east") },
			events: []ev{{Kind: "admin", Severity: "warn", Member: "east", Msg: "member east removed (health down, force=false, workloads affected: db,web1)"}},
		},
		{
			name: "a down member is not emptied while most members are lost", seed: true,
			setup:   []proto.Message{health("east", fsm.HealthDown), health("north", fsm.HealthUnreachable)},
			cmd:     removeMember("east", false),
			wantErr: fsm.ErrFailedPrecondition, errHas: `member "east" is down, but so are (or cannot be reached) more than half of the members: the masters may be the isolated side`,
		},
		{
			name: "finalize of a down member waits while most members are lost", seed: true,
			setup:   []proto.Message{health("east", fsm.HealthUp), removeMember("east", false), health("east", fsm.HealthDown), health("west", fsm.HealthPartitioned)},
			cmd:     finalizeRemoval("east"),
			wantErr: fsm.ErrFailedPrecondition, errHas: `member "east" is down, but more than half of the members are lost`,
		},
		{
			name: "the only candidate of a workload is refused", seed: true,
			setup:   []proto.Message{&fsmv1.UpsertWorkloadCommand{Workload: fsmtest.Workload("api", "north")}},
			cmd:     removeMember("north", true),
			wantErr: fsm.ErrFailedPrecondition, errHas: `member "north" is the only candidate of workloads api: re-register them with another candidate (--update) or unregister them first`,
		},
		{
			name: "finalize deletes a marked member once nothing runs there", seed: true,
			setup: []proto.Message{health("east", fsm.HealthUp), removeMember("east", true),
				&fsmv1.SetPlacementCommand{Workload: "web1", Placement: &fsmv1.Placement{Member: "west", Server: "west-1", Status: "Online"}}},
			cmd:    finalizeRemoval("east"),
			dns:    true,
			want:   func(d *fsm.Data, _ int64) { dropMember(d, "east") },
			events: []ev{{Kind: "admin", Severity: "warn", Member: "east", Msg: "member east removed (health up, force=true, workloads affected: db,web1)"}},
		},
		{
			name: "finalize waits while a workload is placed there", seed: true,
			setup:   []proto.Message{health("east", fsm.HealthUp), removeMember("east", false)},
			cmd:     finalizeRemoval("east"),
			wantErr: fsm.ErrFailedPrecondition, errHas: `member "east" still runs or hosts workloads web1`,
		},
		{
			name: "finalize waits while the member is unreachable", seed: true,
			setup: []proto.Message{health("east", fsm.HealthUp), removeMember("east", false),
				&fsmv1.SetPlacementCommand{Workload: "web1", Placement: &fsmv1.Placement{Member: "west", Server: "west-1", Status: "Online"}},
				health("east", fsm.HealthUnreachable)},
			cmd:     finalizeRemoval("east"),
			wantErr: fsm.ErrFailedPrecondition, errHas: `member "east" is unreachable: its groups cannot be known to be stopped`,
		},
		{
			name: "finalize of a down member does not wait for its placements", seed: true,
			setup:  []proto.Message{health("east", fsm.HealthUp), removeMember("east", false), health("east", fsm.HealthDown)},
			cmd:    finalizeRemoval("east"),
			dns:    true,
			want:   func(d *fsm.Data, _ int64) { dropMember(d, "east") },
			events: []ev{{Kind: "admin", Severity: "warn", Member: "east", Msg: "member east removed (health down, force=false, workloads affected: db,web1)"}},
		},
		{
			name: "finalize of a member that is not being removed", seed: true,
			cmd:     finalizeRemoval("north"),
			wantErr: fsm.ErrFailedPrecondition, errHas: `member "north" is not being removed`,
		},
		{
			name: "undrain cancels a removal", seed: true,
			setup: []proto.Message{health("east", fsm.HealthUp), removeMember("east", false)},
			cmd:   &fsmv1.SetMemberAdminCommand{Name: "east", Admin: fsm.AdminActive},
			want:  func(d *fsm.Data, _ int64) { d.Members["east"].Removal, d.Members["east"].Admin = "", fsm.AdminActive },
			events: []ev{
				{Kind: "admin", Severity: "warn", Member: "east", Msg: "removal of member east cancelled: it is active again"},
				{Kind: "admin", Severity: "info", Member: "east", Msg: "member east admin state draining -> active"},
			},
		},
		{
			name: "disable during a removal is refused", seed: true,
			setup:   []proto.Message{health("east", fsm.HealthUp), removeMember("east", false)},
			cmd:     &fsmv1.SetMemberAdminCommand{Name: "east", Admin: fsm.AdminDisabled},
			wantErr: fsm.ErrFailedPrecondition, errHas: "'csetctl member undrain east' cancels the removal",
		},
		{
			name: "an update keeps the removal", seed: true,
			setup:  []proto.Message{health("east", fsm.HealthUp), removeMember("east", false)},
			cmd:    &fsmv1.UpsertMemberCommand{Member: editMember(fsmtest.Member("east"), func(m *fsmv1.Member) { m.Admin = fsm.AdminActive })},
			want:   func(d *fsm.Data, _ int64) { d.Members["east"].FaultDomain = "" },
			events: []ev{{Kind: "admin", Severity: "info", Member: "east", Msg: "member east updated"}},
		},
	})
}

func editMember(m *fsmv1.Member, fn func(m *fsmv1.Member)) *fsmv1.Member { fn(m); return m }

// TestFSM_GroupOwnership: in a member, an ECX group belongs to at most one workload. The FSM
// decides it from the state alone, so two racing registrations cannot both pass.
func TestFSM_GroupOwnership(t *testing.T) {
	t.Parallel()
	claim := func(name, group string, candidates ...string) *fsmv1.Workload {
		w := fsmtest.Workload(name, candidates...)
		w.Group = group
		return w
	}
	const refused = `ECX group "g-web1" on member east already belongs to workload "web1": in a member, an ECX group belongs to one workload; give workload "web2" another group, leave east out of its candidates, or unregister "web1" first`
	runApplyCases(t, []applyCase{
		{
			name: "a second workload on the same group and member is refused", seed: true,
			cmd:     &fsmv1.UpsertWorkloadCommand{Workload: claim("web2", "g-web1", "north", "east"), CreateOnly: true},
			wantErr: fsm.ErrAlreadyExists, errHas: refused,
		},
		{
			name: "an update that takes another workload's group is refused", seed: true,
			setup:   []proto.Message{&fsmv1.UpsertWorkloadCommand{Workload: fsmtest.Workload("web2", "north", "east")}},
			cmd:     &fsmv1.UpsertWorkloadCommand{Workload: claim("web2", "g-web1", "north", "east")},
			wantErr: fsm.ErrAlreadyExists, errHas: refused,
		},
		{
			name: "the same group name in other members is another group", seed: true,
			cmd: &fsmv1.UpsertWorkloadCommand{Workload: claim("web2", "g-web1", "north")},
			dns: true,
			want: func(d *fsm.Data, _ int64) {
				d.Workloads["web2"] = registeredAt(claim("web2", "g-web1", "north"), seedLen+1)
			},
			events: []ev{{Kind: "admin", Severity: "info", Workload: "web2", Msg: "workload web2 registered (group g-web1, candidates [north])"}},
		},
		{
			name: "two entries of one declaration", seed: true,
			cmd: &fsmv1.ApplyDeclarationCommand{Workloads: []*fsmv1.Workload{
				claim("api", "g-shared", "north", "west"), claim("api2", "g-shared", "west"),
			}},
			wantErr: fsm.ErrAlreadyExists, errHas: `ECX group "g-shared" on member west already belongs to workload "api"`,
		},
	})
}

// TestFSM_ForcedOperationIsRecorded: a planned move with --force says so in the event log.
func TestFSM_ForcedOperationIsRecorded(t *testing.T) {
	t.Parallel()
	op := fsmtest.Operation("op1", "web1", "east", "west")
	op.Force = true
	runApplyCases(t, []applyCase{{
		name: "forced", seed: true,
		cmd: &fsmv1.StartOperationCommand{Operation: op},
		want: func(d *fsm.Data, at int64) {
			o := proto.Clone(op).(*fsmv1.Operation)
			o.CreatedUnixNano, o.UpdatedUnixNano, o.Phase = at, at, fsm.PhasePending
			d.Operations["op1"] = o
		},
		events: []ev{{Kind: "operation", Severity: "warn", Workload: "web1", Member: "west",
			Msg: "operation op1 (planned, forced: capacity and soft spread are not enforced) of web1: east/east-1 -> west/west-1"}},
	}})
}

// TestFSM_GroupOwnershipFollowsChanges: the FSM finds a group's owner through a lookup by group
// (not a scan of every workload), which must follow every change of the workloads: a group given
// up by a re-registration or an unregistration is free, a group taken is owned, and a restored
// snapshot is looked up afresh.
func TestFSM_GroupOwnershipFollowsChanges(t *testing.T) {
	t.Parallel()
	claim := func(name, group string, candidates ...string) *fsmv1.Workload {
		w := fsmtest.Workload(name, candidates...)
		w.Group = group
		return w
	}
	f := seeded(t)
	idx := uint64(seedLen)
	step := func(cmd proto.Message, want error, has string) {
		t.Helper()
		idx++
		checkErr(t, applyCmd(t, f, idx, cmd).Err, want, has)
	}
	upsert := func(w *fsmv1.Workload) proto.Message { return &fsmv1.UpsertWorkloadCommand{Workload: w} }

	step(upsert(claim("web2", "g-web1", "east")), fsm.ErrAlreadyExists, `already belongs to workload "web1"`)
	step(upsert(claim("web1", "g-moved", "north", "east")), nil, "")
	step(upsert(claim("web2", "g-web1", "north", "east")), nil, "")
	step(upsert(claim("web3", "g-moved", "east")), fsm.ErrAlreadyExists, `ECX group "g-moved" on member east already belongs to workload "web1"`)
	step(upsert(claim("web3", "g-web1", "west", "east")), fsm.ErrAlreadyExists, `ECX group "g-web1" on member east already belongs to workload "web2"`)
	step(&fsmv1.RemoveWorkloadCommand{Name: "web2"}, nil, "")
	step(upsert(claim("web3", "g-web1", "west", "east")), nil, "")

	g := fsm.New(nil)
	restore(t, g, snapshotBytes(t, f))
	f = g
	step(upsert(claim("web4", "g-web1", "east")), fsm.ErrAlreadyExists, `already belongs to workload "web3"`)
	step(upsert(claim("web4", "g-moved", "north")), fsm.ErrAlreadyExists, `already belongs to workload "web1"`)
	step(upsert(claim("web4", "g-web1", "north")), nil, "")
}
