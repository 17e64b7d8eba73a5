package fsm_test

import (
	"testing"

	"github.com/cset-project/cset/fsm"
	"github.com/cset-project/cset/fsm/fsmtest"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"google.golang.org/protobuf/proto"
)

func TestFSM_ApplySetClusterSet(t *testing.T) {
	t.Parallel()
	runApplyCases(t, []applyCase{
		{
			name:   "create",
			cmd:    &fsmv1.SetClusterSetCommand{ClusterSet: fsmtest.ClusterSet()},
			dns:    true,
			want:   func(d *fsm.Data, _ int64) { d.ClusterSet = fsmtest.ClusterSet() },
			events: []ev{{Kind: "admin", Severity: "info", Msg: "cluster set prod with zone cset.example.com. (ttl 30s)"}},
		},
		{
			name: "zone normalized and TTL defaults",
			cmd:  &fsmv1.SetClusterSetCommand{ClusterSet: &fsmv1.ClusterSet{Name: "prod", Zone: " CSET.Example.COM "}},
			dns:  true,
			want: func(d *fsm.Data, _ int64) {
				d.ClusterSet = &fsmv1.ClusterSet{Name: "prod", Zone: "cset.example.com.", TtlSeconds: fsm.DefaultTTLSeconds, NegativeTtlSeconds: fsm.DefaultNegativeTTLSeconds}
			},
			events: []ev{{Kind: "admin", Severity: "info", Msg: "cluster set prod with zone cset.example.com. (ttl 30s)"}},
		},
		{
			name: "zone changed",
			seed: true,
			cmd:  &fsmv1.SetClusterSetCommand{ClusterSet: &fsmv1.ClusterSet{Name: "prod", Zone: "other.example.org.", TtlSeconds: 60, NegativeTtlSeconds: 5}},
			dns:  true,
			want: func(d *fsm.Data, _ int64) {
				d.ClusterSet = &fsmv1.ClusterSet{Name: "prod", Zone: "other.example.org.", TtlSeconds: 60, NegativeTtlSeconds: 5}
			},
			events: []ev{{Kind: "admin", Severity: "info", Msg: "cluster set prod with zone other.example.org. (ttl 60s)"}},
		},
		{
			name:   "same settings again leave the DNS serial",
			seed:   true,
			cmd:    &fsmv1.SetClusterSetCommand{ClusterSet: &fsmv1.ClusterSet{Name: "prod", Zone: "cset.example.com"}},
			events: []ev{{Kind: "admin", Severity: "info", Msg: "cluster set prod with zone cset.example.com. (ttl 30s)"}},
		},
		{name: "no cluster set", cmd: &fsmv1.SetClusterSetCommand{}, wantErr: fsm.ErrInvalidArgument, errHas: "cluster set name is empty"},
		{
			name: "name not a DNS label", seed: true,
			cmd:     &fsmv1.SetClusterSetCommand{ClusterSet: &fsmv1.ClusterSet{Name: "Prod_1", Zone: fsmtest.Zone}},
			wantErr: fsm.ErrInvalidArgument, errHas: `cluster set name "Prod_1"`,
		},
		{
			name:    "empty zone",
			cmd:     &fsmv1.SetClusterSetCommand{ClusterSet: &fsmv1.ClusterSet{Name: "prod"}},
			wantErr: fsm.ErrInvalidArgument, errHas: "zone is empty",
		},
		{
			name:    "empty zone label",
			cmd:     &fsmv1.SetClusterSetCommand{ClusterSet: &fsmv1.ClusterSet{Name: "prod", Zone: "cset..example.com."}},
			wantErr: fsm.ErrInvalidArgument, errHas: "zone label is empty",
		},
		{
			name:    "zone label with underscore",
			cmd:     &fsmv1.SetClusterSetCommand{ClusterSet: &fsmv1.ClusterSet{Name: "prod", Zone: "my_set.example.com"}},
			wantErr: fsm.ErrInvalidArgument, errHas: `zone "my_set.example.com"`,
		},
	})
}

func TestFSM_ApplyUpsertMember(t *testing.T) {
	t.Parallel()
	observed := &fsmv1.ObservationBatchCommand{Members: []*fsmv1.MemberObservation{{
		Member: "east", Health: fsm.HealthDegraded, HealthReason: "east-2 offline",
		Servers:   []*fsmv1.MemberServer{{Name: "east-1", Status: "Online"}, {Name: "east-2", Status: "Offline"}},
		Groups:    []*fsmv1.ObservedGroup{{Name: "g-web1", Status: "Online", Current: "east-1"}},
		GroupsSet: true,
	}}}
	withFD := func(name, fd string) *fsmv1.Member { m := fsmtest.Member(name); m.FaultDomain = fd; return m }
	edit := func(name string, fn func(m *fsmv1.Member)) *fsmv1.Member { m := fsmtest.Member(name); fn(m); return m }
	runApplyCases(t, []applyCase{
		{
			name:   "create with defaults",
			cmd:    &fsmv1.UpsertMemberCommand{Member: fsmtest.Member("south")},
			want:   func(d *fsm.Data, at int64) { d.Members["south"] = member("south", "", at) },
			events: []ev{{Kind: "admin", Severity: "info", Member: "south", Msg: "member south added with 2 servers"}},
		},
		{
			name: "create in a fault domain, create-only, disabled", seed: true,
			cmd: &fsmv1.UpsertMemberCommand{Member: edit("south", func(m *fsmv1.Member) { m.FaultDomain, m.Admin = "rack2", fsm.AdminDisabled }), CreateOnly: true},
			want: func(d *fsm.Data, at int64) {
				m := member("south", "rack2", at)
				m.Admin = fsm.AdminDisabled
				d.Members["south"] = m
			},
			events: []ev{{Kind: "admin", Severity: "info", Member: "south", Msg: "member south added with 2 servers"}},
		},
		{
			name: "update keeps admin, health, observed groups, server status and password", seed: true,
			setup: []proto.Message{&fsmv1.SetMemberAdminCommand{Name: "east", Admin: fsm.AdminDraining}, observed},
			cmd: &fsmv1.UpsertMemberCommand{KeepPassword: true, Member: edit("east", func(m *fsmv1.Member) {
				m.FaultDomain, m.Capacity, m.Password = "rack1", 20, ""
				m.Servers = append(m.Servers, &fsmv1.MemberServer{Name: "east-3", Url: "http://10.9.9.9:29009"})
			})},
			want: func(d *fsm.Data, _ int64) {
				m := d.Members["east"]
				m.Capacity = 20
				m.Servers = append(m.Servers, &fsmv1.MemberServer{Name: "east-3", Url: "http://10.9.9.9:29009"})
			},
			events: []ev{{Kind: "admin", Severity: "info", Member: "east", Msg: "member east updated"}},
		},
		{
			name: "update without keep_password clears the password and sets admin", seed: true,
			cmd: &fsmv1.UpsertMemberCommand{Member: edit("west", func(m *fsmv1.Member) { m.FaultDomain, m.Password, m.Admin = "rack2", "", fsm.AdminDisabled })},
			want: func(d *fsm.Data, _ int64) {
				d.Members["west"].Password = ""
				d.Members["west"].Admin = fsm.AdminDisabled
			},
			events: []ev{{Kind: "admin", Severity: "info", Member: "west", Msg: "member west updated"}},
		},
		{
			name: "moving a member with a placed workload to no fault domain leaves DNS alone", seed: true,
			cmd:    &fsmv1.UpsertMemberCommand{Member: fsmtest.Member("east")},
			want:   func(d *fsm.Data, _ int64) { d.Members["east"].FaultDomain = "" },
			events: []ev{{Kind: "admin", Severity: "info", Member: "east", Msg: "member east updated"}},
		},
		{name: "no member", cmd: &fsmv1.UpsertMemberCommand{}, wantErr: fsm.ErrInvalidArgument, errHas: "member name is empty"},
		{name: "create-only on an existing member", seed: true, cmd: &fsmv1.UpsertMemberCommand{Member: withFD("east", "rack1"), CreateOnly: true}, wantErr: fsm.ErrAlreadyExists, errHas: `member "east" already exists`},
		{name: "unknown fault domain", seed: true, cmd: &fsmv1.UpsertMemberCommand{Member: withFD("south", "rack9")}, wantErr: fsm.ErrNotFound, errHas: "faultdomain create rack9"},
		{name: "fault domain not a DNS label", cmd: &fsmv1.UpsertMemberCommand{Member: withFD("south", "Rack 9")}, wantErr: fsm.ErrInvalidArgument, errHas: "fault domain"},
		{name: "name not a DNS label", cmd: &fsmv1.UpsertMemberCommand{Member: fsmtest.Member("-east")}, wantErr: fsm.ErrInvalidArgument, errHas: "starts or ends with '-'"},
		{name: "name too long", cmd: &fsmv1.UpsertMemberCommand{Member: fsmtest.Member("a234567890123456789012345678901234567890123456789012345678901234")}, wantErr: fsm.ErrInvalidArgument, errHas: "at most 63"},
		{name: "no servers", cmd: &fsmv1.UpsertMemberCommand{Member: edit("south", func(m *fsmv1.Member) { m.Servers = nil })}, wantErr: fsm.ErrInvalidArgument, errHas: "--server NAME=URL"},
		{name: "URL with another scheme", cmd: &fsmv1.UpsertMemberCommand{Member: edit("south", func(m *fsmv1.Member) { m.Servers[0].Url = "ftp://h:29009" })}, wantErr: fsm.ErrInvalidArgument, errHas: "must start with http:// or https://"},
		{name: "URL without host", cmd: &fsmv1.UpsertMemberCommand{Member: edit("south", func(m *fsmv1.Member) { m.Servers[1].Url = "http://:29009/" })}, wantErr: fsm.ErrInvalidArgument, errHas: "has no host"},
		{name: "URL unparsable", cmd: &fsmv1.UpsertMemberCommand{Member: edit("south", func(m *fsmv1.Member) { m.Servers[1].Url = "http://[::1" })}, wantErr: fsm.ErrInvalidArgument, errHas: "is not a URL"},
		{name: "server twice", cmd: &fsmv1.UpsertMemberCommand{Member: edit("south", func(m *fsmv1.Member) { m.Servers[1].Name = m.Servers[0].Name })}, wantErr: fsm.ErrInvalidArgument, errHas: `lists server "south-1" twice`},
		{name: "server name with a slash", cmd: &fsmv1.UpsertMemberCommand{Member: edit("south", func(m *fsmv1.Member) { m.Servers[1].Name = "a/b" })}, wantErr: fsm.ErrInvalidArgument, errHas: "cannot contain"},
		{name: "negative capacity", cmd: &fsmv1.UpsertMemberCommand{Member: edit("south", func(m *fsmv1.Member) { m.Capacity = -1 })}, wantErr: fsm.ErrInvalidArgument, errHas: "use 0 for unlimited"},
		{name: "unknown admin state", cmd: &fsmv1.UpsertMemberCommand{Member: edit("south", func(m *fsmv1.Member) { m.Admin = "paused" })}, wantErr: fsm.ErrInvalidArgument, errHas: "use active, draining or disabled"},
		{
			name:    "several problems are reported together",
			cmd:     &fsmv1.UpsertMemberCommand{Member: edit("South", func(m *fsmv1.Member) { m.Capacity = -1; m.Servers[0].Url = "ftp://x" })},
			wantErr: fsm.ErrInvalidArgument, errHas: "capacity -1 is negative",
		},
	})
}

func TestFSM_ApplyRemoveMember(t *testing.T) {
	t.Parallel()
	runApplyCases(t, []applyCase{
		{
			name: "unused member", seed: true,
			cmd:    &fsmv1.RemoveMemberCommand{Name: "north"},
			want:   func(d *fsm.Data, _ int64) { delete(d.Members, "north") },
			events: []ev{{Kind: "admin", Severity: "warn", Member: "north", Msg: "member north removed (force=false, workloads affected: )"}},
		},
		{name: "unknown member", seed: true, cmd: &fsmv1.RemoveMemberCommand{Name: "south"}, wantErr: fsm.ErrNotFound, errHas: `member "south" does not exist`},
		{name: "candidate without force", seed: true, cmd: &fsmv1.RemoveMemberCommand{Name: "west"}, wantErr: fsm.ErrFailedPrecondition, errHas: "candidate of workloads db, web1: move or unregister them, or remove it with --force"},
		{
			name: "force drops it from candidates and addresses", seed: true,
			cmd: &fsmv1.RemoveMemberCommand{Name: "west", Force: true},
			want: func(d *fsm.Data, _ int64) {
				delete(d.Members, "west")
				for _, w := range d.Workloads {
					w.Candidates = []string{"east"}
					delete(w.Addresses, "west")
				}
			},
			events: []ev{{Kind: "admin", Severity: "warn", Member: "west", Msg: "member west removed (force=true, workloads affected: db,web1)"}},
		},
		{
			name: "force clears the placement on it and changes DNS", seed: true,
			cmd: &fsmv1.RemoveMemberCommand{Name: "east", Force: true},
			dns: true,
			want: func(d *fsm.Data, _ int64) {
				delete(d.Members, "east")
				for _, w := range d.Workloads {
					w.Candidates = []string{"west"}
					delete(w.Addresses, "east")
				}
				d.Workloads["web1"].Placement = nil
			},
			events: []ev{{Kind: "admin", Severity: "warn", Member: "east", Msg: "member east removed (force=true, workloads affected: db,web1)"}},
		},
	})
}

func TestFSM_ApplySetMemberAdmin(t *testing.T) {
	t.Parallel()
	runApplyCases(t, []applyCase{
		{
			name: "drain a member with a placed workload leaves DNS alone", seed: true,
			cmd:    &fsmv1.SetMemberAdminCommand{Name: "east", Admin: fsm.AdminDraining},
			want:   func(d *fsm.Data, _ int64) { d.Members["east"].Admin = fsm.AdminDraining },
			events: []ev{{Kind: "admin", Severity: "info", Member: "east", Msg: "member east admin state active -> draining"}},
		},
		{
			name: "back to active", seed: true,
			setup:  []proto.Message{&fsmv1.SetMemberAdminCommand{Name: "west", Admin: fsm.AdminDisabled}},
			cmd:    &fsmv1.SetMemberAdminCommand{Name: "west", Admin: fsm.AdminActive},
			want:   func(d *fsm.Data, _ int64) { d.Members["west"].Admin = fsm.AdminActive },
			events: []ev{{Kind: "admin", Severity: "info", Member: "west", Msg: "member west admin state disabled -> active"}},
		},
		{name: "unchanged writes no event", seed: true, cmd: &fsmv1.SetMemberAdminCommand{Name: "east", Admin: fsm.AdminActive}},
		{name: "unknown member", seed: true, cmd: &fsmv1.SetMemberAdminCommand{Name: "south", Admin: fsm.AdminActive}, wantErr: fsm.ErrNotFound},
		{name: "unknown admin state", seed: true, cmd: &fsmv1.SetMemberAdminCommand{Name: "east", Admin: "off"}, wantErr: fsm.ErrInvalidArgument, errHas: `admin state "off" is unknown`},
	})
}

func TestFSM_ApplySetMemberHealth(t *testing.T) {
	t.Parallel()
	runApplyCases(t, []applyCase{
		{
			name: "up", seed: true,
			cmd: &fsmv1.SetMemberHealthCommand{Name: "east", Health: fsm.HealthUp, Reason: "all servers online"},
			want: func(d *fsm.Data, at int64) {
				m := d.Members["east"]
				m.Health, m.HealthReason, m.HealthSinceUnixNano = fsm.HealthUp, "all servers online", at
			},
			events: []ev{{Kind: "detection", Severity: "info", Member: "east", Msg: "member east health unknown -> up: all servers online"}},
		},
		{
			name: "down is a warning and leaves DNS alone", seed: true,
			cmd: &fsmv1.SetMemberHealthCommand{Name: "east", Health: fsm.HealthDown, Reason: "declared down"},
			want: func(d *fsm.Data, at int64) {
				m := d.Members["east"]
				m.Health, m.HealthReason, m.HealthSinceUnixNano = fsm.HealthDown, "declared down", at
			},
			events: []ev{{Kind: "detection", Severity: "warn", Member: "east", Msg: "member east health unknown -> down: declared down"}},
		},
		{
			name: "new reason keeps the since time", seed: true,
			setup:  []proto.Message{&fsmv1.SetMemberHealthCommand{Name: "west", Health: fsm.HealthDegraded, Reason: "west-1 offline"}},
			cmd:    &fsmv1.SetMemberHealthCommand{Name: "west", Health: fsm.HealthDegraded, Reason: "west-2 offline"},
			want:   func(d *fsm.Data, _ int64) { d.Members["west"].HealthReason = "west-2 offline" },
			events: []ev{{Kind: "detection", Severity: "info", Member: "west", Msg: "member west health degraded -> degraded: west-2 offline"}},
		},
		{
			name: "unchanged writes no event", seed: true,
			setup: []proto.Message{&fsmv1.SetMemberHealthCommand{Name: "west", Health: fsm.HealthPartitioned, Reason: "witness hears it"}},
			cmd:   &fsmv1.SetMemberHealthCommand{Name: "west", Health: fsm.HealthPartitioned, Reason: "witness hears it"},
		},
		{name: "unknown member", seed: true, cmd: &fsmv1.SetMemberHealthCommand{Name: "south", Health: fsm.HealthUp}, wantErr: fsm.ErrNotFound},
		{name: "unknown health", seed: true, cmd: &fsmv1.SetMemberHealthCommand{Name: "east", Health: "sick"}, wantErr: fsm.ErrInvalidArgument, errHas: `health "sick" is unknown`},
	})
}

func TestFSM_ApplyUpsertFaultDomain(t *testing.T) {
	t.Parallel()
	runApplyCases(t, []applyCase{
		{
			name: "create with members", seed: true,
			cmd: &fsmv1.UpsertFaultDomainCommand{FaultDomain: fsmtest.FaultDomain("rack3"), Members: []string{"north", "east"}, CreateOnly: true},
			want: func(d *fsm.Data, _ int64) {
				d.FaultDomains["rack3"] = fsmtest.FaultDomain("rack3")
				d.Members["north"].FaultDomain = "rack3"
				d.Members["east"].FaultDomain = "rack3"
			},
			events: []ev{{Kind: "admin", Severity: "info", Msg: "fault domain rack3 with members north,east"}},
		},
		{
			name: "update the description", seed: true,
			cmd:    &fsmv1.UpsertFaultDomainCommand{FaultDomain: &fsmv1.FaultDomain{Name: "rack1", Description: "room 1"}},
			want:   func(d *fsm.Data, _ int64) { d.FaultDomains["rack1"].Description = "room 1" },
			events: []ev{{Kind: "admin", Severity: "info", Msg: "fault domain rack1 with members "}},
		},
		{name: "no fault domain", cmd: &fsmv1.UpsertFaultDomainCommand{}, wantErr: fsm.ErrInvalidArgument, errHas: "fault domain name is empty"},
		{name: "name not a DNS label", cmd: &fsmv1.UpsertFaultDomainCommand{FaultDomain: fsmtest.FaultDomain("rack.1")}, wantErr: fsm.ErrInvalidArgument},
		{name: "create-only on an existing one", seed: true, cmd: &fsmv1.UpsertFaultDomainCommand{FaultDomain: fsmtest.FaultDomain("rack1"), CreateOnly: true}, wantErr: fsm.ErrAlreadyExists},
		{
			name: "unknown member changes nothing", seed: true,
			cmd:     &fsmv1.UpsertFaultDomainCommand{FaultDomain: fsmtest.FaultDomain("rack3"), Members: []string{"north", "south"}},
			wantErr: fsm.ErrNotFound, errHas: `member "south" does not exist`,
		},
	})
}

func TestFSM_ApplyRemoveFaultDomain(t *testing.T) {
	t.Parallel()
	runApplyCases(t, []applyCase{
		{
			name: "empty", seed: true,
			setup:  []proto.Message{&fsmv1.UpsertFaultDomainCommand{FaultDomain: fsmtest.FaultDomain("rack3")}},
			cmd:    &fsmv1.RemoveFaultDomainCommand{Name: "rack3"},
			want:   func(d *fsm.Data, _ int64) { delete(d.FaultDomains, "rack3") },
			events: []ev{{Kind: "admin", Severity: "info", Msg: "fault domain rack3 removed"}},
		},
		{name: "unknown", seed: true, cmd: &fsmv1.RemoveFaultDomainCommand{Name: "rack3"}, wantErr: fsm.ErrNotFound},
		{name: "holds members", seed: true, cmd: &fsmv1.RemoveFaultDomainCommand{Name: "rack1"}, wantErr: fsm.ErrFailedPrecondition, errHas: "still holds members east"},
	})
}

func TestFSM_ApplyUpsertAvailabilitySet(t *testing.T) {
	t.Parallel()
	runApplyCases(t, []applyCase{
		{
			name:   "create soft",
			cmd:    &fsmv1.UpsertAvailabilitySetCommand{AvailabilitySet: fsmtest.AvailabilitySet("batch", false), CreateOnly: true},
			want:   func(d *fsm.Data, _ int64) { d.AvailabilitySets["batch"] = fsmtest.AvailabilitySet("batch", false) },
			events: []ev{{Kind: "admin", Severity: "info", Msg: "availability set batch (hard=false)"}},
		},
		{
			name: "make a used set soft", seed: true,
			cmd:    &fsmv1.UpsertAvailabilitySetCommand{AvailabilitySet: fsmtest.AvailabilitySet("web", false)},
			want:   func(d *fsm.Data, _ int64) { d.AvailabilitySets["web"].Hard = false },
			events: []ev{{Kind: "admin", Severity: "info", Msg: "availability set web (hard=false)"}},
		},
		{name: "no set", cmd: &fsmv1.UpsertAvailabilitySetCommand{}, wantErr: fsm.ErrInvalidArgument},
		{name: "name not a DNS label", cmd: &fsmv1.UpsertAvailabilitySetCommand{AvailabilitySet: fsmtest.AvailabilitySet("Web", true)}, wantErr: fsm.ErrInvalidArgument},
		{name: "create-only on an existing one", seed: true, cmd: &fsmv1.UpsertAvailabilitySetCommand{AvailabilitySet: fsmtest.AvailabilitySet("web", true), CreateOnly: true}, wantErr: fsm.ErrAlreadyExists},
	})
}

func TestFSM_ApplyRemoveAvailabilitySet(t *testing.T) {
	t.Parallel()
	runApplyCases(t, []applyCase{
		{
			name: "unused", seed: true,
			setup:  []proto.Message{&fsmv1.UpsertAvailabilitySetCommand{AvailabilitySet: fsmtest.AvailabilitySet("batch", false)}},
			cmd:    &fsmv1.RemoveAvailabilitySetCommand{Name: "batch"},
			want:   func(d *fsm.Data, _ int64) { delete(d.AvailabilitySets, "batch") },
			events: []ev{{Kind: "admin", Severity: "info", Msg: "availability set batch removed"}},
		},
		{name: "unknown", seed: true, cmd: &fsmv1.RemoveAvailabilitySetCommand{Name: "batch"}, wantErr: fsm.ErrNotFound},
		{name: "used", seed: true, cmd: &fsmv1.RemoveAvailabilitySetCommand{Name: "web"}, wantErr: fsm.ErrFailedPrecondition, errHas: "used by workloads web1"},
	})
}

func TestFSM_ApplyRegisterMaster(t *testing.T) {
	t.Parallel()
	moved := fsmtest.Master("m1")
	moved.GrpcAddr = "127.0.0.9:7100"
	runApplyCases(t, []applyCase{
		{
			name: "new master changes DNS (NS records)", seed: true,
			cmd: &fsmv1.RegisterMasterCommand{Master: fsmtest.Master("m2")},
			dns: true,
			want: func(d *fsm.Data, at int64) {
				m := fsmtest.Master("m2")
				m.JoinedUnixNano = at
				d.Masters["m2"] = m
			},
			events: []ev{{Kind: "admin", Severity: "info", Msg: "master m2 registered (raft 127.0.0.3:7101, grpc 127.0.0.3:7100)"}},
		},
		{
			name: "new address keeps the join time", seed: true,
			cmd:    &fsmv1.RegisterMasterCommand{Master: moved},
			dns:    true,
			want:   func(d *fsm.Data, _ int64) { d.Masters["m1"].GrpcAddr = moved.GrpcAddr },
			events: []ev{{Kind: "admin", Severity: "info", Msg: "master m1 registered (raft 127.0.0.2:7101, grpc 127.0.0.9:7100)"}},
		},
		{name: "same registration again changes nothing", seed: true, cmd: &fsmv1.RegisterMasterCommand{Master: fsmtest.Master("m1")}},
		{name: "no master", cmd: &fsmv1.RegisterMasterCommand{}, wantErr: fsm.ErrInvalidArgument, errHas: "needs an id"},
		{name: "no gRPC address", cmd: &fsmv1.RegisterMasterCommand{Master: &fsmv1.Master{Id: "m2", RaftAddr: "127.0.0.1:1"}}, wantErr: fsm.ErrInvalidArgument},
	})
}

func TestFSM_ApplyRemoveMaster(t *testing.T) {
	t.Parallel()
	runApplyCases(t, []applyCase{
		{
			name: "registered", seed: true,
			cmd:    &fsmv1.RemoveMasterCommand{Id: "m1"},
			dns:    true,
			want:   func(d *fsm.Data, _ int64) { delete(d.Masters, "m1") },
			events: []ev{{Kind: "admin", Severity: "warn", Msg: "master m1 removed"}},
		},
		{name: "unknown", seed: true, cmd: &fsmv1.RemoveMasterCommand{Id: "m9"}, wantErr: fsm.ErrNotFound, errHas: "raft peers"},
	})
}
