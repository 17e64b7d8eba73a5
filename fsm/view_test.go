package fsm_test

import (
	"testing"

	"github.com/cset-project/cset/fsm"
	"github.com/cset-project/cset/fsm/fsmtest"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
)

// TestFSM_RecordAccessors checks that the one-record accessors agree with Data, return nil for
// what does not exist, and hand out copies.
func TestFSM_RecordAccessors(t *testing.T) {
	t.Parallel()
	f := seeded(t)
	fsmtest.Apply(t, f, activeOp)
	d := f.Data()

	diffProto(t, "ClusterSet", d.ClusterSet, f.ClusterSet())
	diffProto(t, "Member", d.Members["east"], f.Member("east"))
	diffProto(t, "Workload", d.Workloads["web1"], f.Workload("web1"))
	diffProto(t, "Master", d.Masters["m1"], f.Master("m1"))
	diffProto(t, "Operation", d.Operations["op1"], f.Operation("op1"))
	diffProto(t, "Masters", d.SortedMasters(), f.Masters())
	if f.Member("south") != nil || f.Workload("api") != nil || f.Master("m9") != nil || f.Operation("op9") != nil {
		t.Error("an accessor returned a record that does not exist")
	}
	if fsm.New(nil).ClusterSet() != nil {
		t.Error("ClusterSet of an empty state is not nil")
	}
	fd, members := f.FaultDomain("rack1")
	diffProto(t, "FaultDomain", d.FaultDomains["rack1"], fd)
	if !equalStrings(members, []string{"east"}) {
		t.Errorf("members of rack1 = %v, want [east]", members)
	}
	if fd, members := f.FaultDomain("rack9"); fd != nil || members != nil {
		t.Errorf("FaultDomain(rack9) = %v %v", fd, members)
	}
	as, workloads := f.AvailabilitySet("web")
	diffProto(t, "AvailabilitySet", d.AvailabilitySets["web"], as)
	if !equalStrings(workloads, []string{"web1"}) {
		t.Errorf("workloads of web = %v, want [web1]", workloads)
	}
	if as, _ := f.AvailabilitySet("batch"); as != nil {
		t.Errorf("AvailabilitySet(batch) = %v", as)
	}
	if m, w := f.Counts(); m != 3 || w != 2 {
		t.Errorf("Counts = %d, %d; want 3, 2", m, w)
	}
	// web1 is being moved from east to west by op1: its size counts on west (fsm.LoadMember).
	if load, names := f.MemberLoad("west"); load != 1 || !equalStrings(names, []string{"web1"}) {
		t.Errorf("MemberLoad(west) = %d %v, want 1 [web1]", load, names)
	}
	if load, names := f.MemberLoad("east"); load != 0 || len(names) != 0 || load != d.MemberLoad("east") {
		t.Errorf("MemberLoad(east) = %d %v (Data %d), want 0 []", load, names, d.MemberLoad("east"))
	}
	if f.DNSSerial() != d.DNSSerial || d.DNSSerial != seedLen {
		t.Errorf("DNSSerial = %d, Data %d; want %d (the seed's placement)", f.DNSSerial(), d.DNSSerial, seedLen)
	}

	f.Member("east").Admin = "changed"
	f.Workload("web1").Placement.Member = "changed"
	f.Operation("op1").Phase = "changed"
	diffProto(t, "state after callers changed their copies", d, f.Data())
}

// TestLoads_CountAnOperationInFlightOnItsTarget: the API and the scheduler count load by one
// rule: a workload being moved counts on its target from the moment the operation is committed;
// a stop leaves it where it is.
func TestLoads_CountAnOperationInFlightOnItsTarget(t *testing.T) {
	d := &fsm.Data{
		Workloads: map[string]*fsmv1.Workload{
			"web": {Name: "web", Size: 2, Placement: &fsmv1.Placement{Member: "east"}},
			"db":  {Name: "db", Size: 3, Placement: &fsmv1.Placement{Member: "east"}},
			"api": {Name: "api", Size: 5},
		},
		Operations: map[string]*fsmv1.Operation{
			"op1": {Id: "op1", Workload: "web", Phase: fsm.PhaseStarting, TargetMember: "west", Reason: fsm.ReasonPlanned},
			"op2": {Id: "op2", Workload: "db", Phase: fsm.PhasePending, TargetMember: "west", Reason: fsm.ReasonStop},
			"op3": {Id: "op3", Workload: "api", Phase: fsm.PhaseDone, TargetMember: "west", Reason: fsm.ReasonPlanned},
		},
	}
	load, names := d.Loads()
	if load["east"] != 3 || load["west"] != 2 || !equalStrings(names["east"], []string{"db"}) || !equalStrings(names["west"], []string{"web"}) {
		t.Fatalf("loads %v %v: want east 3 [db], west 2 [web]", load, names)
	}
	if d.MemberLoad("west") != 2 {
		t.Fatalf("MemberLoad(west) = %d", d.MemberLoad("west"))
	}
}
