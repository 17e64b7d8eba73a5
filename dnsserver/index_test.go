package dnsserver

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/miekg/dns"
)

// entries returns every entry of t by key (the bytes addEntry stored for it).
func entries(t *table) map[string][]byte {
	out := map[string][]byte{}
	for _, s := range t.slots {
		if s == 0 {
			continue
		}
		off := int(s&0xffffffff) - 1
		d := t.data
		p := off + 1 + int(d[off])
		n := int(d[p])
		size := p + 1 + 4*n + 2 - off
		for i := range n {
			e := p + 1 + 4*i
			size += int(d[e+2])<<8 | int(d[e+3])
		}
		size += int(d[p+1+4*n])<<8 | int(d[p+1+4*n+1])
		out[string(d[off+1:p])] = d[off : off+size]
	}
	return out
}

// sameIndex fails unless got serves exactly what want serves: the same entry for every name,
// the same negative-answer tail and SOA, and the same zone transfer.
func sameIndex(t *testing.T, step string, got, want *index) {
	t.Helper()
	if got.origin != want.origin || got.serial != want.serial || got.ttl != want.ttl ||
		!bytes.Equal(got.nxTail, want.nxTail) || got.soa.String() != want.soa.String() {
		t.Fatalf("%s: apex differs: got %s %d %v, want %s %d %v", step, got.origin, got.serial, got.soa, want.origin, want.serial, want.soa)
	}
	ge, we := entries(got.names), entries(want.names)
	if len(ge) != len(we) || got.names.names != want.names.names {
		t.Fatalf("%s: %d names (%d counted), want %d (%d)", step, len(ge), got.names.names, len(we), want.names.names)
	}
	for k, w := range we {
		if g, ok := ge[k]; !ok || !bytes.Equal(g, w) {
			t.Fatalf("%s: entry of %q:\n got  %x\n want %x", step, k, g, w)
		}
	}
	inOrder := func(rrs []dns.RR) []string {
		out := make([]string, len(rrs))
		for i, rr := range rrs {
			out[i] = rr.String()
		}
		return out
	}
	if g, w := inOrder(got.records()), inOrder(want.records()); !slices.Equal(g, w) {
		t.Fatalf("%s: transfer differs:\n got  %v\n want %v", step, g, w)
	}
}

// Workload names of the random zones: moves, renames, services, offline workloads and names
// under other names (empty non-terminals) occur among them; the rare ones make the build whole
// (a name web's service also has, a nameserver's, an invalid one).
var (
	randomNames = []string{"web", "db", "App", "a.b.c", "x.sub", "y.sub", "sub", "api.v2"}
	rareNames   = []string{"_http._tcp.web", "m1.ns", "bad name"}
)

func randomWorkload(r *rand.Rand, name string) WorkloadRecord {
	w := WorkloadRecord{Name: name, Online: r.IntN(4) != 0, Member: []string{"east", "west"}[r.IntN(2)], Server: fmt.Sprintf("s%d", r.IntN(2))}
	for range r.IntN(3) {
		if r.IntN(2) == 0 {
			w.Addrs = append(w.Addrs, netip.AddrFrom4([4]byte{10, 0, byte(r.IntN(3)), byte(r.IntN(3))}))
		} else {
			w.Addrs = append(w.Addrs, netip.MustParseAddr(fmt.Sprintf("2001:db8::%x", r.IntN(3))))
		}
	}
	if r.IntN(3) == 0 {
		w.Services = append(w.Services, Service{Name: "_http._tcp", Port: uint16(80 + r.IntN(2)), Priority: 1, Weight: 1})
	}
	return w
}

// randomZone is a small zone of randomWorkloads.
func randomZone(r *rand.Rand, serial uint32) *Zone {
	z := &Zone{Origin: "cset.test.", TTL: 30, NegativeTTL: 5, Serial: serial,
		Nameservers: []Nameserver{{Name: "m1", Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}, {Name: "ns.example.org."}}}
	if r.IntN(4) == 0 {
		z.Nameservers = append(z.Nameservers, Nameserver{Name: "m2", Addrs: []netip.Addr{netip.MustParseAddr("2001:db8::2")}})
	}
	for _, name := range randomNames {
		if r.IntN(3) != 0 {
			z.Workloads = append(z.Workloads, randomWorkload(r, name))
		}
	}
	return z
}

// mutate returns the zone after z: the serial up and one change — a workload changed, added or
// removed, a rare name or a duplicate added, the TTL changed, or a new zone.
func mutate(r *rand.Rand, z *Zone) *Zone {
	n := *z
	n.Serial++
	n.Workloads = slices.Clone(z.Workloads)
	switch k := r.IntN(20); {
	case k < 8 && len(n.Workloads) > 0:
		i := r.IntN(len(n.Workloads))
		n.Workloads[i] = randomWorkload(r, n.Workloads[i].Name)
	case k < 11:
		n.Workloads = append(n.Workloads, randomWorkload(r, randomNames[r.IntN(len(randomNames))]))
	case k < 14 && len(n.Workloads) > 0:
		i := r.IntN(len(n.Workloads))
		n.Workloads = slices.Delete(n.Workloads, i, i+1)
	case k < 15:
		n.Workloads = append(n.Workloads, randomWorkload(r, rareNames[r.IntN(len(rareNames))]))
	case k < 16 && len(n.Workloads) > 0:
		n.Workloads = append(n.Workloads, n.Workloads[r.IntN(len(n.Workloads))]) // a duplicate
	case k < 17:
		n.TTL = uint32(30 + 30*r.IntN(2)) // a TTL change re-packs everything
	case k < 18:
		return randomZone(r, n.Serial)
	}
	return &n
}

// TestBuildIndexFrom_ServesWhatAWholeBuildServes builds a series of random zones each from the
// index of the one before and checks every answer against the index built whole.
func TestBuildIndexFrom_ServesWhatAWholeBuildServes(t *testing.T) {
	incremental, reused := 0, 0
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 1))
		var prev *index
		z := randomZone(r, 1)
		for step := range 30 {
			if step > 0 {
				z = mutate(r, z)
			}
			want, wantProblems, err := buildIndexFull(z)
			if err != nil {
				t.Fatal(err)
			}
			got, gotProblems, err := buildIndexFrom(prev, z)
			if err != nil {
				t.Fatal(err)
			}
			name := fmt.Sprintf("seed %d step %d", seed, step)
			if fmt.Sprint(gotProblems) != fmt.Sprint(wantProblems) {
				t.Fatalf("%s: problems %v, want %v", name, gotProblems, wantProblems)
			}
			sameIndex(t, name, got, want)
			if got.workloads != nil {
				incremental++
				for k, pw := range got.workloads {
					if prev != nil && prev.workloads[k] == pw {
						reused++
						break
					}
				}
			}
			prev = got
		}
	}
	// Both builds must have been compared often enough to mean something.
	if incremental < 2000 || reused < 1000 {
		t.Fatalf("%d of 6000 builds incremental, %d reusing a workload: the zones do not exercise buildIndexFrom", incremental, reused)
	}
	t.Logf("%d of 6000 builds incremental, %d reusing a workload", incremental, reused)
}

// TestBuildIndexFrom_ReusesUnchangedWorkloads: after a change of one workload and of the
// serial, every other workload's names are served from what the previous build packed, and
// negative answers carry the new serial (the SOA is not in any name's entry).
func TestBuildIndexFrom_ReusesUnchangedWorkloads(t *testing.T) {
	z1 := manyZone(200, 1, addr4)
	prev, _, err := buildIndex(z1)
	if err != nil {
		t.Fatal(err)
	}
	if prev.workloads == nil {
		t.Fatal("the first build kept nothing to reuse")
	}
	z2 := manyZone(200, 2, addr4)
	z2.Workloads[7].Addrs = []netip.Addr{netip.MustParseAddr("172.16.0.7")}
	next, _, err := buildIndexFrom(prev, z2)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range z2.Workloads {
		same := next.workloads[w.Name] == prev.workloads[w.Name]
		if same != (i != 7) {
			t.Errorf("workload %d %s: reused %v", i, w.Name, same)
		}
	}
	want, _, err := buildIndexFull(z2)
	if err != nil {
		t.Fatal(err)
	}
	sameIndex(t, "after one change", next, want)

	s := newTestServer(t, z1, nil)
	s.SetZone(z2)
	ask := func(name string, qtype uint16) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		w := newRecorder(false, "127.0.0.1")
		s.ServeDNS(w, m)
		if len(w.msgs) != 1 {
			t.Fatalf("%s: %d answers", name, len(w.msgs))
		}
		return w.msgs[0]
	}
	name := dns.Fqdn(z2.Workloads[1].Name) + "cset.test."
	if r := ask(name, dns.TypeAAAA); len(r.Ns) != 1 || r.Ns[0].(*dns.SOA).Serial != 2 {
		t.Errorf("NODATA of an unchanged name: %v, want the SOA of serial 2", r.Ns)
	}
	if r := ask(dns.Fqdn(z2.Workloads[7].Name)+"cset.test.", dns.TypeA); len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "172.16.0.7" {
		t.Errorf("the changed workload answers %v, want 172.16.0.7", r.Answer)
	}
}
