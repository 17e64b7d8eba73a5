package fsm_test

import (
	"testing"

	"github.com/cset-project/cset/fsm"
	"github.com/cset-project/cset/fsm/fsmtest"
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
	if load, names := f.MemberLoad("east"); load != 1 || !equalStrings(names, []string{"web1"}) {
		t.Errorf("MemberLoad(east) = %d %v, want 1 [web1]", load, names)
	}
	if f.DNSSerial() != d.DNSSerial || d.DNSSerial != seedLen {
		t.Errorf("DNSSerial = %d, Data %d; want %d (the seed's placement)", f.DNSSerial(), d.DNSSerial, seedLen)
	}

	f.Member("east").Admin = "changed"
	f.Workload("web1").Placement.Member = "changed"
	f.Operation("op1").Phase = "changed"
	diffProto(t, "state after callers changed their copies", d, f.Data())
}
