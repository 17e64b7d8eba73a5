package fsm_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cset-project/cset/fsm"
	"github.com/cset-project/cset/fsm/fsmtest"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"google.golang.org/protobuf/proto"
)

// seedWeb1 is web1 exactly as fsmtest.SeedCommands registers it.
func seedWeb1() *fsmv1.Workload {
	w := fsmtest.Workload("web1", "east", "west")
	w.AvailabilitySet = "web"
	return w
}

func editWorkload(w *fsmv1.Workload, fn func(w *fsmv1.Workload)) *fsmv1.Workload { fn(w); return w }

func TestFSM_ApplyUpsertWorkload(t *testing.T) {
	t.Parallel()
	upsert := func(w *fsmv1.Workload) *fsmv1.UpsertWorkloadCommand { return &fsmv1.UpsertWorkloadCommand{Workload: w} }
	bad := func(fn func(w *fsmv1.Workload)) *fsmv1.UpsertWorkloadCommand {
		return upsert(editWorkload(fsmtest.Workload("api", "north", "east"), fn))
	}
	runApplyCases(t, []applyCase{
		{
			name: "register", seed: true,
			cmd: &fsmv1.UpsertWorkloadCommand{Workload: fsmtest.Workload("api", "north", "east"), CreateOnly: true},
			dns: true,
			want: func(d *fsm.Data, _ int64) {
				d.Workloads["api"] = registeredAt(fsmtest.Workload("api", "north", "east"), seedLen+1)
			},
			events: []ev{{Kind: "admin", Severity: "info", Workload: "api", Msg: "workload api registered (group g-api, candidates [north east])"}},
		},
		{
			name: "desired defaults to online", seed: true,
			cmd: upsert(editWorkload(fsmtest.Workload("api", "north"), func(w *fsmv1.Workload) { w.Desired = "" })),
			dns: true,
			want: func(d *fsm.Data, _ int64) {
				d.Workloads["api"] = registeredAt(fsmtest.Workload("api", "north"), seedLen+1)
			},
			events: []ev{{Kind: "admin", Severity: "info", Workload: "api", Msg: "workload api registered (group g-api, candidates [north])"}},
		},
		{
			name: "update keeps the placement and the offline time", seed: true,
			setup: []proto.Message{&fsmv1.ObservationBatchCommand{Members: []*fsmv1.MemberObservation{{Member: "east", GroupsSet: true}}}},
			cmd: upsert(editWorkload(seedWeb1(), func(w *fsmv1.Workload) {
				w.Size, w.Candidates = 4, []string{"west", "east", "north"}
				w.Services = []*fsmv1.Service{{Name: "_http._tcp", Port: 80, Priority: 10, Weight: 5}}
			})),
			dns: true,
			want: func(d *fsm.Data, _ int64) {
				w := d.Workloads["web1"]
				w.Size, w.Candidates = 4, []string{"west", "east", "north"}
				w.RegisteredIndex = seedLen + 2 // new candidates: where its group runs is asked again
				w.Services = []*fsmv1.Service{{Name: "_http._tcp", Port: 80, Priority: 10, Weight: 5}}
			},
			events: []ev{{Kind: "admin", Severity: "info", Workload: "web1", Msg: "workload web1 updated"}},
		},
		{
			name: "new address on the placed member", seed: true,
			cmd: upsert(editWorkload(seedWeb1(), func(w *fsmv1.Workload) {
				w.Addresses["east"].Addresses = []string{"10.1.1.1", "fd00::1"}
			})),
			dns: true,
			want: func(d *fsm.Data, _ int64) {
				d.Workloads["web1"].Addresses["east"].Addresses = []string{"10.1.1.1", "fd00::1"}
			},
			events: []ev{{Kind: "admin", Severity: "info", Workload: "web1", Msg: "workload web1 updated"}},
		},
		{
			name: "the same workload again leaves the DNS serial", seed: true,
			cmd:    upsert(seedWeb1()),
			events: []ev{{Kind: "admin", Severity: "info", Workload: "web1", Msg: "workload web1 updated"}},
		},
		{name: "no workload", cmd: &fsmv1.UpsertWorkloadCommand{}, wantErr: fsm.ErrInvalidArgument},
		{name: "create-only on a registered one", seed: true, cmd: &fsmv1.UpsertWorkloadCommand{Workload: seedWeb1(), CreateOnly: true}, wantErr: fsm.ErrAlreadyExists, errHas: "register with --update"},
		{
			name: "candidates that leave out the placed member", seed: true,
			cmd:     upsert(editWorkload(fsmtest.Workload("web1", "west"), func(w *fsmv1.Workload) { w.AvailabilitySet = "web" })),
			wantErr: fsm.ErrFailedPrecondition, errHas: `runs on "east", which the new candidates [west] leave out: move it first`,
		},
		{name: "unknown candidate", seed: true, cmd: upsert(fsmtest.Workload("api", "east", "south")), wantErr: fsm.ErrNotFound, errHas: "csetctl member add south"},
		{
			name: "unknown availability set", seed: true,
			cmd:     upsert(editWorkload(fsmtest.Workload("api", "east"), func(w *fsmv1.Workload) { w.AvailabilitySet = "batch" })),
			wantErr: fsm.ErrNotFound, errHas: "availset create batch",
		},
		{name: "name not a DNS label", seed: true, cmd: upsert(fsmtest.Workload("API", "east")), wantErr: fsm.ErrInvalidArgument, errHas: "workload name"},
		{name: "no group", seed: true, cmd: bad(func(w *fsmv1.Workload) { w.Group = "" }), wantErr: fsm.ErrInvalidArgument, errHas: "--group"},
		{name: "group with a space", seed: true, cmd: bad(func(w *fsmv1.Workload) { w.Group = "my group" }), wantErr: fsm.ErrInvalidArgument, errHas: "ECX group name"},
		{name: "no candidates", seed: true, cmd: bad(func(w *fsmv1.Workload) { w.Candidates, w.Addresses = nil, nil }), wantErr: fsm.ErrInvalidArgument, errHas: "--candidates M1,M2"},
		{name: "candidate twice", seed: true, cmd: bad(func(w *fsmv1.Workload) { w.Candidates = []string{"north", "east", "north"} }), wantErr: fsm.ErrInvalidArgument, errHas: `candidate "north" twice`},
		{
			name: "address for a non-candidate", seed: true,
			cmd:     bad(func(w *fsmv1.Workload) { w.Addresses["west"] = &fsmv1.AddressList{Addresses: []string{"10.0.0.1"}} }),
			wantErr: fsm.ErrInvalidArgument, errHas: `has an address for "west", which is not one of its candidates`,
		},
		{name: "address not an IP", seed: true, cmd: bad(func(w *fsmv1.Workload) { w.Addresses["east"].Addresses = []string{"10.0.0.300"} }), wantErr: fsm.ErrInvalidArgument, errHas: `"10.0.0.300" is not an IP address`},
		{name: "address a host name", seed: true, cmd: bad(func(w *fsmv1.Workload) { w.Addresses["east"].Addresses = []string{"db.example.com"} }), wantErr: fsm.ErrInvalidArgument, errHas: "is not an IP address"},
		{name: "negative size", seed: true, cmd: bad(func(w *fsmv1.Workload) { w.Size = -2 }), wantErr: fsm.ErrInvalidArgument, errHas: "size -2 is negative"},
		{name: "unknown desired state", seed: true, cmd: bad(func(w *fsmv1.Workload) { w.Desired = "running" }), wantErr: fsm.ErrInvalidArgument, errHas: "use online or offline"},
		{name: "relative hook", seed: true, cmd: bad(func(w *fsmv1.Workload) { w.Hooks = []string{"hooks/move.sh"} }), wantErr: fsm.ErrInvalidArgument, errHas: "absolute path"},
		{name: "service name", seed: true, cmd: bad(func(w *fsmv1.Workload) { w.Services = []*fsmv1.Service{{Name: "http", Port: 80}} }), wantErr: fsm.ErrInvalidArgument, errHas: "must look like _http._tcp"},
		{name: "service port", seed: true, cmd: bad(func(w *fsmv1.Workload) { w.Services = []*fsmv1.Service{{Name: "_http._tcp", Port: 70000}} }), wantErr: fsm.ErrInvalidArgument, errHas: "use 1-65535"},
	})
}

// activeOp is a started (pending) move of web1 from east to west.
var activeOp = &fsmv1.StartOperationCommand{Operation: fsmtest.Operation("op1", "web1", "east", "west")}

func TestFSM_ApplyRemoveWorkload(t *testing.T) {
	t.Parallel()
	runApplyCases(t, []applyCase{
		{
			name: "unplaced", seed: true,
			cmd:    &fsmv1.RemoveWorkloadCommand{Name: "db"},
			dns:    true,
			want:   func(d *fsm.Data, _ int64) { delete(d.Workloads, "db") },
			events: []ev{{Kind: "admin", Severity: "info", Workload: "db", Msg: "workload db unregistered (its ECX group is left as it is)"}},
		},
		{
			name: "after its operation finished", seed: true,
			setup:  []proto.Message{activeOp, &fsmv1.FinishOperationCommand{Id: "op1", Error: "cancelled"}},
			cmd:    &fsmv1.RemoveWorkloadCommand{Name: "web1"},
			dns:    true,
			want:   func(d *fsm.Data, _ int64) { delete(d.Workloads, "web1") },
			events: []ev{{Kind: "admin", Severity: "info", Workload: "web1", Msg: "workload web1 unregistered (its ECX group is left as it is)"}},
		},
		{name: "unknown", seed: true, cmd: &fsmv1.RemoveWorkloadCommand{Name: "api"}, wantErr: fsm.ErrNotFound, errHas: "workload list"},
		{name: "active operation", seed: true, setup: []proto.Message{activeOp}, cmd: &fsmv1.RemoveWorkloadCommand{Name: "web1"}, wantErr: fsm.ErrFailedPrecondition, errHas: "has operation op1 in phase pending"},
	})
}

func TestFSM_ApplySetWorkloadDesired(t *testing.T) {
	t.Parallel()
	runApplyCases(t, []applyCase{
		{
			name: "stop", seed: true,
			cmd:    &fsmv1.SetWorkloadDesiredCommand{Name: "web1", Desired: fsm.DesiredOffline},
			want:   func(d *fsm.Data, _ int64) { d.Workloads["web1"].Desired = fsm.DesiredOffline },
			events: []ev{{Kind: "admin", Severity: "info", Workload: "web1", Msg: "workload web1 desired online -> offline"}},
		},
		{name: "unchanged writes no event", seed: true, cmd: &fsmv1.SetWorkloadDesiredCommand{Name: "db", Desired: fsm.DesiredOnline}},
		{name: "unknown", seed: true, cmd: &fsmv1.SetWorkloadDesiredCommand{Name: "api", Desired: fsm.DesiredOnline}, wantErr: fsm.ErrNotFound},
		{name: "unknown state", seed: true, cmd: &fsmv1.SetWorkloadDesiredCommand{Name: "db", Desired: "up"}, wantErr: fsm.ErrInvalidArgument},
	})
}

func TestFSM_ApplySetPlacement(t *testing.T) {
	t.Parallel()
	offline := &fsmv1.ObservationBatchCommand{Members: []*fsmv1.MemberObservation{{Member: "east", GroupsSet: true}}}
	runApplyCases(t, []applyCase{
		{
			name: "place", seed: true,
			cmd: &fsmv1.SetPlacementCommand{Workload: "db", Placement: &fsmv1.Placement{Member: "west", Server: "west-1", Status: "Online", OperationId: "op7"}},
			dns: true,
			want: func(d *fsm.Data, at int64) {
				d.Workloads["db"].Placement = &fsmv1.Placement{Member: "west", Server: "west-1", Status: "Online", OperationId: "op7", SinceUnixNano: at}
			},
			events: []ev{{Kind: "decision", Severity: "info", Workload: "db", Member: "west", Msg: "workload db placed on west/west-1 (Online)"}},
		},
		{
			name: "a stamped since time is kept and the offline time reset", seed: true,
			setup: []proto.Message{offline},
			cmd:   &fsmv1.SetPlacementCommand{Workload: "web1", Placement: &fsmv1.Placement{Member: "west", Server: "west-2", Status: "Offline", SinceUnixNano: 42}},
			dns:   true,
			want: func(d *fsm.Data, _ int64) {
				d.Workloads["web1"].Placement = &fsmv1.Placement{Member: "west", Server: "west-2", Status: "Offline", SinceUnixNano: 42}
				d.Workloads["web1"].OfflineSinceUnixNano = 0
			},
			events: []ev{{Kind: "decision", Severity: "info", Workload: "web1", Member: "west", Msg: "workload web1 placed on west/west-2 (Offline)"}},
		},
		{
			name: "clear", seed: true,
			cmd:    &fsmv1.SetPlacementCommand{Workload: "web1", Placement: &fsmv1.Placement{}},
			dns:    true,
			want:   func(d *fsm.Data, _ int64) { d.Workloads["web1"].Placement = nil },
			events: []ev{{Kind: "decision", Severity: "info", Workload: "web1", Msg: "workload web1 placed on / ()"}},
		},
		{name: "unknown workload", seed: true, cmd: &fsmv1.SetPlacementCommand{Workload: "api", Placement: &fsmv1.Placement{Member: "east"}}, wantErr: fsm.ErrNotFound},
		{name: "not a candidate", seed: true, cmd: &fsmv1.SetPlacementCommand{Workload: "db", Placement: &fsmv1.Placement{Member: "north"}}, wantErr: fsm.ErrFailedPrecondition, errHas: `member "north" is not a candidate of workload "db"`},
	})
}

func observe(member string, groups ...*fsmv1.ObservedGroup) *fsmv1.ObservationBatchCommand {
	return &fsmv1.ObservationBatchCommand{Members: []*fsmv1.MemberObservation{{Member: member, Groups: groups, GroupsSet: true}}}
}

func TestFSM_ApplyObservationBatch(t *testing.T) {
	t.Parallel()
	onEast1 := &fsmv1.ObservedGroup{Name: "g-web1", Status: "Online", Current: "east-1"}
	other := &fsmv1.ObservedGroup{Name: "a-other", Status: "Offline"}
	runApplyCases(t, []applyCase{
		{
			name: "nothing observed changes nothing", seed: true,
			cmd: &fsmv1.ObservationBatchCommand{Members: []*fsmv1.MemberObservation{{Member: "east"}, {Member: "west", Servers: []*fsmv1.MemberServer{{Name: "west-9", Status: "Online"}}}}},
		},
		{
			name: "groups that confirm the placement leave DNS alone, stored sorted", seed: true,
			cmd:  observe("east", onEast1, other),
			want: func(d *fsm.Data, _ int64) { d.Members["east"].Groups = []*fsmv1.ObservedGroup{other, onEast1} },
		},
		{
			name: "health and server status", seed: true,
			cmd: &fsmv1.ObservationBatchCommand{Members: []*fsmv1.MemberObservation{
				{Member: "west", Health: fsm.HealthDegraded, HealthReason: "west-2 offline", Servers: []*fsmv1.MemberServer{{Name: "west-1", Status: "Online"}, {Name: "west-2", Status: "Offline"}}},
				{Member: "gone", Health: fsm.HealthDown},
				{Member: "north", Health: "bogus"},
			}},
			want: func(d *fsm.Data, at int64) {
				m := d.Members["west"]
				m.Health, m.HealthReason, m.HealthSinceUnixNano = fsm.HealthDegraded, "west-2 offline", at
				m.Servers[0].Status, m.Servers[1].Status = "Online", "Offline"
			},
			events: []ev{{Kind: "detection", Severity: "info", Member: "west", Msg: "member west health unknown -> degraded: west-2 offline"}},
		},
		{
			name: "group moved to another server inside the member", seed: true,
			cmd: observe("east", &fsmv1.ObservedGroup{Name: "g-web1", Status: "Online", Current: "east-2"}),
			dns: true,
			want: func(d *fsm.Data, _ int64) {
				d.Members["east"].Groups = []*fsmv1.ObservedGroup{{Name: "g-web1", Status: "Online", Current: "east-2"}}
				d.Workloads["web1"].Placement.Server = "east-2"
			},
		},
		{
			name: "group gone is Offline from now", seed: true,
			cmd: observe("east", other),
			dns: true,
			want: func(d *fsm.Data, at int64) {
				d.Members["east"].Groups = []*fsmv1.ObservedGroup{other}
				d.Workloads["web1"].Placement.Status = "Offline"
				d.Workloads["web1"].OfflineSinceUnixNano = at
			},
			events: []ev{{Kind: "dns", Severity: "info", Workload: "web1", Member: "east", Msg: "workload web1 is Offline on east/east-1"}},
		},
		{
			name: "still Offline keeps the first offline time", seed: true,
			setup: []proto.Message{observe("east")},
			cmd:   observe("east", &fsmv1.ObservedGroup{Name: "g-web1", Status: "Offline"}),
			want: func(d *fsm.Data, _ int64) {
				d.Members["east"].Groups = []*fsmv1.ObservedGroup{{Name: "g-web1", Status: "Offline"}}
			},
		},
		{
			name: "back Online clears the offline time", seed: true,
			setup: []proto.Message{observe("east")},
			cmd:   observe("east", onEast1),
			dns:   true,
			want: func(d *fsm.Data, _ int64) {
				d.Members["east"].Groups = []*fsmv1.ObservedGroup{onEast1}
				d.Workloads["web1"].Placement.Status = "Online"
				d.Workloads["web1"].OfflineSinceUnixNano = 0
			},
			events: []ev{{Kind: "dns", Severity: "info", Workload: "web1", Member: "east", Msg: "workload web1 is Online on east/east-1"}},
		},
		{
			name: "failure status", seed: true,
			cmd: observe("east", &fsmv1.ObservedGroup{Name: "g-web1", Status: "Online Failure", Current: "east-1"}),
			dns: true,
			want: func(d *fsm.Data, _ int64) {
				d.Members["east"].Groups = []*fsmv1.ObservedGroup{{Name: "g-web1", Status: "Online Failure", Current: "east-1"}}
				d.Workloads["web1"].Placement.Status = "Online Failure"
			},
			events: []ev{{Kind: "dns", Severity: "info", Workload: "web1", Member: "east", Msg: "workload web1 is Online Failure on east/east-1"}},
		},
		{
			name: "a group online where the workload is not placed changes no placement", seed: true,
			cmd: observe("west", &fsmv1.ObservedGroup{Name: "g-web1", Status: "Online", Current: "west-1"}),
			want: func(d *fsm.Data, _ int64) {
				d.Members["west"].Groups = []*fsmv1.ObservedGroup{{Name: "g-web1", Status: "Online", Current: "west-1"}}
			},
		},
		{
			name: "events of the batch",
			cmd: &fsmv1.ObservationBatchCommand{Events: []*fsmv1.Event{
				{Kind: "conflict", Severity: "error", Workload: "web1", Member: "west"},
			}},
			events: []ev{{Kind: "conflict", Severity: "error", Workload: "web1", Member: "west"}},
		},
	})
}

// TestFSM_RegisteredAndObservedIndexes: a workload carries the index that registered it or
// changed its group or candidates (not any other update, not what a client sends); a member
// carries the index its last recorded poll started from, raised only, never past the entry.
func TestFSM_RegisteredAndObservedIndexes(t *testing.T) {
	t.Parallel()
	f := seeded(t)
	api := fsmtest.Workload("api", "north", "east")
	api.RegisteredIndex = 999 // a client cannot set it
	at := fsmtest.Apply(t, f, &fsmv1.UpsertWorkloadCommand{Workload: api})
	if got := f.Workload("api").GetRegisteredIndex(); got != at {
		t.Fatalf("registered at %d, want %d", got, at)
	}
	sized := fsmtest.Workload("api", "north", "east")
	sized.Size = 3
	fsmtest.Apply(t, f, &fsmv1.UpsertWorkloadCommand{Workload: sized})
	if got := f.Workload("api").GetRegisteredIndex(); got != at {
		t.Fatalf("after a size change: registered at %d, want %d kept", got, at)
	}
	moved := fsmtest.Workload("api", "east")
	again := fsmtest.Apply(t, f, &fsmv1.UpsertWorkloadCommand{Workload: moved})
	if got := f.Workload("api").GetRegisteredIndex(); got != again {
		t.Fatalf("after new candidates: registered at %d, want %d", got, again)
	}

	observe := func(asOf uint64) {
		fsmtest.Apply(t, f, &fsmv1.ObservationBatchCommand{Members: []*fsmv1.MemberObservation{{Member: "east", AsOfIndex: asOf}}})
	}
	observe(again)
	if got := f.Member("east").GetObservedIndex(); got != again {
		t.Fatalf("observed at %d, want %d", got, again)
	}
	observe(again - 1) // an older poll committed late
	if got := f.Member("east").GetObservedIndex(); got != again {
		t.Fatalf("an older poll lowered the observed index to %d", got)
	}
	observe(f.AppliedIndex() + 10) // never past the entry that records it
	if got := f.Member("east").GetObservedIndex(); got != again {
		t.Fatalf("observed index %d from the future", got)
	}
}

// probed returns w with a TCP probe on port 80 (the defaults the server fills in).
func probed(w *fsmv1.Workload, dns string) *fsmv1.Workload {
	w.Probe = &fsmv1.Probe{Kind: fsm.ProbeTCP, Port: 80, TimeoutMs: 2000, IntervalMs: 5000, GraceMs: 30000, HealthyAfter: 1, UnhealthyAfter: 3, Dns: dns}
	return w
}

func TestFSM_ApplySetReachability(t *testing.T) {
	t.Parallel()
	withhold := &fsmv1.UpsertWorkloadCommand{Workload: probed(seedWeb1(), fsm.ProbeDNSWithhold)}
	keep := &fsmv1.UpsertWorkloadCommand{Workload: probed(seedWeb1(), fsm.ProbeDNSKeep)}
	unreachable := &fsmv1.SetReachabilityCommand{Workload: "web1", Member: "east", Reachability: fsm.ReachabilityUnreachable, Error: "connect 10.1.1.10:80: connection refused", SinceUnixNano: 77}
	runApplyCases(t, []applyCase{
		{
			name: "unreachable with dns withhold changes DNS", seed: true, setup: []proto.Message{withhold},
			cmd: unreachable, dns: true,
			want: func(d *fsm.Data, _ int64) {
				p := d.Workloads["web1"].Placement
				p.Reachability, p.ProbeError, p.ReachabilitySinceUnixNano = fsm.ReachabilityUnreachable, "connect 10.1.1.10:80: connection refused", 77
			},
			events: []ev{{Kind: "probe", Severity: "warn", Workload: "web1", Member: "east", Msg: "workload web1 is Online on east but clients cannot reach it: connect 10.1.1.10:80: connection refused"}},
		},
		{
			name: "unreachable with dns keep leaves DNS", seed: true, setup: []proto.Message{keep},
			cmd: unreachable,
			want: func(d *fsm.Data, _ int64) {
				p := d.Workloads["web1"].Placement
				p.Reachability, p.ProbeError, p.ReachabilitySinceUnixNano = fsm.ReachabilityUnreachable, "connect 10.1.1.10:80: connection refused", 77
			},
			events: []ev{{Kind: "probe", Severity: "warn", Workload: "web1", Member: "east", Msg: "workload web1 is Online on east but clients cannot reach it: connect 10.1.1.10:80: connection refused"}},
		},
		{
			name: "reachable again clears the error, stamped with the entry's time", seed: true, setup: []proto.Message{withhold, unreachable},
			cmd: &fsmv1.SetReachabilityCommand{Workload: "web1", Member: "east", Reachability: fsm.ReachabilityReachable, Error: "ignored"}, dns: true,
			want: func(d *fsm.Data, at int64) {
				p := d.Workloads["web1"].Placement
				p.Reachability, p.ProbeError, p.ReachabilitySinceUnixNano = fsm.ReachabilityReachable, "", at
			},
			events: []ev{{Kind: "probe", Severity: "info", Workload: "web1", Member: "east", Msg: "workload web1 is reachable on east"}},
		},
		{name: "the same result again changes nothing", seed: true, setup: []proto.Message{withhold, unreachable}, cmd: unreachable},
		{
			name: "a result about a member it left is stale", seed: true, setup: []proto.Message{withhold},
			cmd:     &fsmv1.SetReachabilityCommand{Workload: "web1", Member: "west", Reachability: fsm.ReachabilityReachable},
			wantErr: fsm.ErrFailedPrecondition, errHas: `no longer placed on "west"`,
		},
		{name: "unknown workload", seed: true, cmd: &fsmv1.SetReachabilityCommand{Workload: "api", Member: "east", Reachability: fsm.ReachabilityReachable}, wantErr: fsm.ErrNotFound},
		{name: "unknown result", seed: true, cmd: &fsmv1.SetReachabilityCommand{Workload: "web1", Member: "east", Reachability: "maybe"}, wantErr: fsm.ErrInvalidArgument, errHas: "use reachable or unreachable"},
	})
}

func TestFSM_ValidateWorkloadProbe(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		edit   func(p *fsmv1.Probe, w *fsmv1.Workload)
		errHas string
	}{
		{"valid tcp", func(*fsmv1.Probe, *fsmv1.Workload) {}, ""},
		{"valid http", func(p *fsmv1.Probe, _ *fsmv1.Workload) {
			p.Kind, p.Path, p.StatusMin, p.StatusMax = fsm.ProbeHTTP, "/health", 200, 299
		}, ""},
		{"none needs nothing", func(p *fsmv1.Probe, w *fsmv1.Workload) { *p = fsmv1.Probe{Kind: fsm.ProbeNone}; w.Addresses = nil }, ""},
		{"unknown kind", func(p *fsmv1.Probe, _ *fsmv1.Workload) { p.Kind = "icmp" }, `kind "icmp" is unknown`},
		{"port", func(p *fsmv1.Probe, _ *fsmv1.Workload) { p.Port = 0 }, "port 0: use 1-65535"},
		{"http path", func(p *fsmv1.Probe, _ *fsmv1.Workload) {
			p.Kind, p.Path, p.StatusMin, p.StatusMax = fsm.ProbeHTTPS, "health", 200, 399
		}, "must start with /"},
		{"status range", func(p *fsmv1.Probe, _ *fsmv1.Workload) {
			p.Kind, p.Path, p.StatusMin, p.StatusMax = fsm.ProbeHTTP, "/", 400, 200
		}, "not a range within 100-599"},
		{"timeout", func(p *fsmv1.Probe, _ *fsmv1.Workload) { p.TimeoutMs = 0 }, "use 1ms-60s"},
		{"interval below the timeout", func(p *fsmv1.Probe, _ *fsmv1.Workload) { p.IntervalMs = 1000 }, "at least the timeout"},
		{"grace below the timeout", func(p *fsmv1.Probe, _ *fsmv1.Workload) { p.GraceMs = 10 }, "grace 10ms must be at least the timeout"},
		{"counts", func(p *fsmv1.Probe, _ *fsmv1.Workload) { p.UnhealthyAfter = 0 }, "must be in 1-100"},
		{"dns", func(p *fsmv1.Probe, _ *fsmv1.Workload) { p.Dns = "hide" }, `dns "hide" is unknown`},
		{"a candidate without address", func(_ *fsmv1.Probe, w *fsmv1.Workload) { delete(w.Addresses, "west") }, `candidate "west" has no address to probe`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := probed(seedWeb1(), fsm.ProbeDNSKeep)
			tc.edit(w.Probe, w)
			err := fsm.ValidateWorkload(w)
			switch {
			case tc.errHas == "" && err != nil:
				t.Fatalf("ValidateWorkload: %v", err)
			case tc.errHas != "" && (err == nil || !strings.Contains(err.Error(), tc.errHas)):
				t.Fatalf("ValidateWorkload = %v, want an error containing %q", err, tc.errHas)
			case tc.errHas != "" && !errors.Is(err, fsm.ErrInvalidArgument):
				t.Fatalf("ValidateWorkload = %v, want an invalid-argument error", err)
			}
		})
	}
}

// TestFSM_ObservationBatchDerivesEveryMembersPlacements: one batch reporting the groups of
// several members updates the workloads placed on each of them from that member's groups (the
// batch finds the placed workloads of all its members in one pass).
func TestFSM_ObservationBatchDerivesEveryMembersPlacements(t *testing.T) {
	t.Parallel()
	f := seeded(t)
	idx := uint64(seedLen)
	step := func(cmd proto.Message) {
		t.Helper()
		idx++
		if err := applyCmd(t, f, idx, cmd).Err; err != nil {
			t.Fatal(err)
		}
	}
	step(&fsmv1.UpsertWorkloadCommand{Workload: fsmtest.Workload("api", "north", "east")})
	step(&fsmv1.SetPlacementCommand{Workload: "db", Placement: &fsmv1.Placement{Member: "west", Server: "west-1", Status: fsm.StatusOnline}})
	step(&fsmv1.SetPlacementCommand{Workload: "api", Placement: &fsmv1.Placement{Member: "north", Server: "north-1", Status: fsm.StatusOnline}})
	step(&fsmv1.ObservationBatchCommand{Members: []*fsmv1.MemberObservation{
		{Member: "east", GroupsSet: true, Groups: []*fsmv1.ObservedGroup{{Name: "g-web1", Status: "Online", Current: "east-2"}}},
		{Member: "north", GroupsSet: true, Groups: []*fsmv1.ObservedGroup{{Name: "g-other", Status: "Online"}}},
		{Member: "west", GroupsSet: true, Groups: []*fsmv1.ObservedGroup{{Name: "g-db", Status: "Online Failure", Current: "west-1"}}},
	}})
	d := f.Data()
	for name, want := range map[string][2]string{
		"web1": {"Online", "east-2"},           // its group moved to the other server
		"api":  {fsm.StatusOffline, "north-1"}, // its group is gone from north
		"db":   {"Online Failure", "west-1"},
	} {
		p := d.Workloads[name].GetPlacement()
		if got := [2]string{p.GetStatus(), p.GetServer()}; got != want {
			t.Errorf("%s: status and server %v, want %v", name, got, want)
		}
	}
}
