package fsm

import (
	"testing"

	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"google.golang.org/protobuf/proto"
)

// TestTable_ForkLeavesItsParentAlone: a fork (what a declaration and its plan run on) copies
// the records it hands out for writing, so whatever it does, and whether it is kept or thrown
// away, its parent's records are as they were.
func TestTable_ForkLeavesItsParentAlone(t *testing.T) {
	parent := newTable[*fsmv1.Member]()
	for _, n := range []string{"east", "west", "north"} {
		parent.put(n, &fsmv1.Member{Name: n, Capacity: 1})
	}
	before := cloneMap(parent.m)

	f := parent.fork()
	f.get("east").Capacity = 7                              // changed in place
	f.put("west", &fsmv1.Member{Name: "west", Capacity: 8}) // replaced
	f.del("north")
	f.put("south", &fsmv1.Member{Name: "south"})
	f.get("south").Capacity = 9 // its own record: no copy needed, none made

	if len(parent.m) != len(before) {
		t.Fatalf("parent holds %d records, want %d", len(parent.m), len(before))
	}
	for n, want := range before {
		if got := parent.m[n]; !proto.Equal(got, want) {
			t.Errorf("parent's %s became %v, want %v", n, got, want)
		}
	}
	if got := f.m["east"].GetCapacity(); got != 7 {
		t.Errorf("fork's east capacity %d, want 7", got)
	}
	if f.m["east"] == parent.m["east"] {
		t.Error("fork's changed east is the parent's record")
	}
	if f.m["north"] != nil || f.m["south"].GetCapacity() != 9 {
		t.Errorf("fork: north %v (want deleted), south %v (want capacity 9)", f.m["north"], f.m["south"])
	}
	// Kept in the parent's place, it publishes every name either changed.
	parent.takeChanges()
	f.adopt()
	c := f.takeChanges()
	if !c.all && (c.records["east"] == nil || c.records["west"] == nil || c.records["south"] == nil || len(c.deleted) != 1) {
		t.Errorf("the adopted fork publishes records %v and deletes %v; want east, west, south and north", c.records, c.deleted)
	}
	if e := f.get("east"); e != f.m["east"] {
		t.Error("an adopted fork still copies its records on get")
	}
}

// TestState_FailedDeclarationLeavesTheStateAlone: a declaration that changes records in place
// and then fails leaves the state exactly as it was (all or nothing), though it ran on a fork
// that shares the records it did not change.
func TestState_FailedDeclarationLeavesTheStateAlone(t *testing.T) {
	s := newState()
	s.members.put("east", &fsmv1.Member{Name: "east", Admin: AdminActive, Health: HealthUp})
	s.faultDomains.put("rack1", &fsmv1.FaultDomain{Name: "rack1"})
	want := cloneMap(s.members.m)

	a := &applier{s: s, index: 10}
	err := a.applyDeclare(&fsmv1.DeclareCommand{Declaration: &fsmv1.ApplyDeclarationCommand{
		FaultDomains: []*fsmv1.FaultDomain{{Name: "rack2"}},
		Members:      []*fsmv1.Member{{Name: "east", FaultDomain: "rack2", Servers: []*fsmv1.MemberServer{{Name: "east-1", Url: "https://east-1:29009"}}}},
		Workloads:    []*fsmv1.Workload{{Name: "web", Group: "g-web", Candidates: []string{"nowhere"}}},
	}})
	if err == nil {
		t.Fatal("a declaration naming an unknown candidate was applied")
	}
	if a.s != s {
		t.Fatal("a failed declaration replaced the state")
	}
	for n, w := range want {
		if got := s.members.m[n]; !proto.Equal(got, w) {
			t.Errorf("member %s became %v, want %v", n, got, w)
		}
	}
	if s.faultDomains.has("rack2") {
		t.Error("the failed declaration's fault domain rack2 is in the state")
	}
}
