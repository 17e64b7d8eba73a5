package fsmtest

import (
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"google.golang.org/protobuf/proto"
)

// SeedCommands returns the commands of a small, typical cluster set, in an order that applies
// without error to an empty FSM:
//
//   - cluster set "prod" (zone Zone), fault domains rack1 and rack2, hard availability set "web";
//   - members east (rack1), west (rack2) and north (no fault domain, candidate of nothing);
//   - workloads web1 (candidates east, west; availability set web) and db (west, east);
//   - master m1;
//   - web1 placed on east/east-1, status Online.
func SeedCommands() []proto.Message {
	east, west := Member("east"), Member("west")
	east.FaultDomain, west.FaultDomain = "rack1", "rack2"
	web1 := Workload("web1", "east", "west")
	web1.AvailabilitySet = "web"
	return []proto.Message{
		&fsmv1.SetClusterSetCommand{ClusterSet: ClusterSet()},
		&fsmv1.UpsertFaultDomainCommand{FaultDomain: FaultDomain("rack1")},
		&fsmv1.UpsertFaultDomainCommand{FaultDomain: FaultDomain("rack2")},
		&fsmv1.UpsertAvailabilitySetCommand{AvailabilitySet: AvailabilitySet("web", true)},
		&fsmv1.UpsertMemberCommand{Member: east},
		&fsmv1.UpsertMemberCommand{Member: west},
		&fsmv1.UpsertMemberCommand{Member: Member("north")},
		&fsmv1.UpsertWorkloadCommand{Workload: web1},
		&fsmv1.UpsertWorkloadCommand{Workload: Workload("db", "west", "east")},
		&fsmv1.RegisterMasterCommand{Master: Master("m1")},
		&fsmv1.SetPlacementCommand{Workload: "web1", Placement: &fsmv1.Placement{Member: "east", Server: "east-1", Status: "Online"}},
	}
}
