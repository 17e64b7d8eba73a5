package server

import (
	"fmt"
	"maps"
	"testing"

	"github.com/cset-project/cset/dnsserver"
	"github.com/cset-project/cset/fsm"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkDNSChange measures what one change of the state costs each master's DNS: the zone
// made from the state (zoneCache, as dnsSource makes it) and, in the "zone+index" runs, the index the DNS server
// builds from it (SetZone, which re-packs only the changed workloads). The state has n online
// workloads; the change moves one of them to another member.
func BenchmarkDNSChange(b *testing.B) {
	for _, n := range []int{10000, 50000} {
		states := [2]*fsm.Data{dnsBenchState(n), nil}
		moved := maps.Clone(states[0].Workloads)
		w := moved["w00000"]
		moved["w00000"] = &fsmv1.Workload{Name: w.Name, Group: w.Group, Desired: w.Desired, Addresses: w.Addresses,
			Placement: &fsmv1.Placement{Member: "m1", Server: "m1-s1", Status: fsm.StatusOnline}}
		states[1] = &fsm.Data{ClusterSet: states[0].ClusterSet, Members: states[0].Members, Masters: states[0].Masters,
			Workloads: moved, DNSSerial: 2}
		b.Run(fmt.Sprintf("workloads=%d/zone", n), func(b *testing.B) {
			var c zoneCache
			c.zone(states[0])
			i := 0
			for b.Loop() {
				i++
				if c.zone(states[i%2]) == nil {
					b.Fatal("no zone")
				}
			}
		})
		b.Run(fmt.Sprintf("workloads=%d/zone+index", n), func(b *testing.B) {
			srv, err := dnsserver.New(dnsserver.Config{Addr: "127.0.0.1:0", Registerer: prometheus.NewRegistry()}, nil, hclog.NewNullLogger())
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			var c zoneCache
			srv.SetZone(c.zone(states[0]))
			i := 0
			for b.Loop() {
				i++
				srv.SetZone(c.zone(states[i%2]))
				if s, ok := srv.Serial(); !ok || s != uint32(states[i%2].DNSSerial) {
					b.Fatalf("serving serial %d %v, want %d", s, ok, states[i%2].DNSSerial)
				}
			}
		})
	}
}

// dnsBenchState is a set with two members and n workloads online on the first.
func dnsBenchState(n int) *fsm.Data {
	d := &fsm.Data{
		ClusterSet: &fsmv1.ClusterSet{Name: "bench", Zone: "cset.test.", TtlSeconds: 30, NegativeTtlSeconds: 5},
		Members:    map[string]*fsmv1.Member{},
		Masters:    map[string]*fsmv1.Master{"a1": {Id: "a1", DnsAddr: "192.0.2.1:53"}},
		Workloads:  make(map[string]*fsmv1.Workload, n),
		DNSSerial:  1,
	}
	for _, m := range []string{"m0", "m1"} {
		d.Members[m] = &fsmv1.Member{Name: m, Health: fsm.HealthUp}
	}
	for i := range n {
		name := fmt.Sprintf("w%05d", i)
		d.Workloads[name] = &fsmv1.Workload{Name: name, Group: name, Desired: fsm.DesiredOnline,
			Placement: &fsmv1.Placement{Member: "m0", Server: "m0-s1", Status: fsm.StatusOnline},
			Addresses: map[string]*fsmv1.AddressList{
				"m0": {Addresses: []string{fmt.Sprintf("10.0.%d.%d", i>>8&255, i&255)}},
				"m1": {Addresses: []string{fmt.Sprintf("10.1.%d.%d", i>>8&255, i&255)}},
			}}
	}
	return d
}
