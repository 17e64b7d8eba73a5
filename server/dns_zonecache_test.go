package server

import (
	"maps"
	"reflect"
	"testing"

	"github.com/cset-project/cset/dnsserver"
	"github.com/cset-project/cset/fsm"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
)

// zoneFromState builds the zone of d from nothing.
func zoneFromState(d *fsm.Data) *dnsserver.Zone {
	var c zoneCache
	return c.zone(d)
}

// TestZoneCache_FollowsEveryKindOfChange: the zone made from the one before equals the zone made
// from nothing after each kind of change a new state can bring — a workload moved, a member
// declared down and back up, a workload removed, one added, one renamed in the sort order.
func TestZoneCache_FollowsEveryKindOfChange(t *testing.T) {
	d := dnsBenchState(50)
	var c zoneCache
	check := func(step string, d *fsm.Data) {
		t.Helper()
		if got, want := c.zone(d), zoneFromState(d); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: the cached zone differs from the zone made from nothing:\n got  %+v\n want %+v", step, got.Workloads, want.Workloads)
		}
	}
	check("first", d)
	next := func(change func(ws map[string]*fsmv1.Workload, ms map[string]*fsmv1.Member)) *fsm.Data {
		n := *d
		n.Workloads, n.Members = maps.Clone(d.Workloads), maps.Clone(d.Members)
		change(n.Workloads, n.Members)
		n.DNSSerial++
		return &n
	}
	d = next(func(ws map[string]*fsmv1.Workload, _ map[string]*fsmv1.Member) {
		w := ws["w00003"]
		ws["w00003"] = &fsmv1.Workload{Name: w.Name, Addresses: w.Addresses, Placement: &fsmv1.Placement{Member: "m1", Status: fsm.StatusOnline}}
	})
	check("moved", d)
	d = next(func(_ map[string]*fsmv1.Workload, ms map[string]*fsmv1.Member) {
		ms["m0"] = &fsmv1.Member{Name: "m0", Health: fsm.HealthDown}
	})
	check("member down", d)
	if c.zone(d).Workloads[0].Online {
		t.Fatal("a workload on a down member is answered")
	}
	d = next(func(_ map[string]*fsmv1.Workload, ms map[string]*fsmv1.Member) {
		ms["m0"] = &fsmv1.Member{Name: "m0", Health: fsm.HealthUp}
	})
	check("member up", d)
	d = next(func(ws map[string]*fsmv1.Workload, _ map[string]*fsmv1.Member) { delete(ws, "w00010") })
	check("removed", d)
	d = next(func(ws map[string]*fsmv1.Workload, _ map[string]*fsmv1.Member) {
		ws["a-first"] = &fsmv1.Workload{Name: "a-first", Placement: &fsmv1.Placement{Member: "m1", Status: fsm.StatusOnline},
			Addresses: map[string]*fsmv1.AddressList{"m1": {Addresses: []string{"10.9.9.9"}}}}
	})
	check("added", d)
	d = next(func(ws map[string]*fsmv1.Workload, _ map[string]*fsmv1.Member) {
		ws["w00010"] = ws["a-first"]
		delete(ws, "a-first") // as many names as before, not the same names
	})
	check("renamed", d)
}
