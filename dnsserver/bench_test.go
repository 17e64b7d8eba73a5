package dnsserver

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// benchZone is a zone of n online workloads.
func benchZone(n int) *Zone {
	z := &Zone{Origin: "cset.test.", TTL: 30, NegativeTTL: 5, Serial: 1,
		Nameservers: []Nameserver{{Name: "m1", Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}}}
	for i := range n {
		z.Workloads = append(z.Workloads, WorkloadRecord{Name: fmt.Sprintf("w%d", i), Online: true, Member: "a",
			Server: "s1", Addrs: []netip.Addr{netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})}})
	}
	return z
}

func BenchmarkServer_Query(b *testing.B) {
	s := newTestServer(b, benchZone(10000), nil)
	remote := netip.MustParseAddr("127.0.0.1")
	for _, tc := range []struct {
		name  string
		qname string
		qtype uint16
		edns  bool
	}{
		{"A", "w5000.cset.test.", dns.TypeA, false},
		{"A_EDNS", "W5000.Cset.test.", dns.TypeA, true},
		{"NXDOMAIN", "nope.cset.test.", dns.TypeA, true},
		{"NODATA_AAAA", "w5000.cset.test.", dns.TypeAAAA, true},
		{"REFUSED", "example.com.", dns.TypeA, false},
		{"slow_path_trailing", "w5000.cset.test.", dns.TypeA, false},
	} {
		m := new(dns.Msg)
		m.SetQuestion(tc.qname, tc.qtype)
		if tc.edns {
			m.SetEdns0(1232, false)
		}
		q := packQuery(b, m)
		if tc.name == "slow_path_trailing" {
			q = append(q, 0)
		}
		b.Run(tc.name, func(b *testing.B) {
			sc := newScratch()
			b.ReportAllocs()
			for b.Loop() {
				s.handle(q, sc, false, remote)
			}
		})
	}
}

func BenchmarkServer_BuildIndex(b *testing.B) {
	z := benchZone(10000)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := buildIndex(z); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkServer_RebuildIndex measures SetZone's index build after a change: n workloads of
// which changed moved to another address (and the serial went up), built from the index served
// before (buildIndexFrom), and, for comparison, built whole.
func BenchmarkServer_RebuildIndex(b *testing.B) {
	for _, n := range []int{10000, 50000} {
		for _, changed := range []int{1, 100, 1000} {
			zs := [2]*Zone{benchZone(n), benchZone(n)}
			zs[1].Serial = 2
			for i := range changed {
				w := &zs[1].Workloads[i*(n/changed)]
				w.Member, w.Addrs = "b", []netip.Addr{netip.AddrFrom4([4]byte{172, 16, byte(i >> 8), byte(i)})}
			}
			b.Run(fmt.Sprintf("workloads=%d/changed=%d", n, changed), func(b *testing.B) {
				prev, _, err := buildIndex(zs[0])
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					i++
					if prev, _, err = buildIndexFrom(prev, zs[i%2]); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		b.Run(fmt.Sprintf("workloads=%d/whole", n), func(b *testing.B) {
			z := benchZone(n)
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := buildIndexFull(z); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkServer_QueryMix answers the query mix of bench/dns.sh over a zone of 10,000 names:
// 90% A of a random existing name, 7% a random unknown name, 3% AAAA of a random existing name.
// Unlike BenchmarkServer_Query, which asks one name again and again, the names asked are spread
// over the whole zone, so the cost includes the cache misses of finding a name among 10,000.
func BenchmarkServer_QueryMix(b *testing.B) {
	const names = 10000
	s := newTestServer(b, benchZone(names), nil)
	remote := netip.MustParseAddr("127.0.0.1")
	r := rand.New(rand.NewPCG(42, 42))
	queries := make([][]byte, 1<<16)
	for i := range queries {
		m := new(dns.Msg)
		switch x := r.Float64(); {
		case x < 0.90:
			m.SetQuestion(fmt.Sprintf("w%d.cset.test.", r.IntN(names)), dns.TypeA)
		case x < 0.97:
			m.SetQuestion(fmt.Sprintf("nx%d.cset.test.", r.IntN(names)), dns.TypeA)
		default:
			m.SetQuestion(fmt.Sprintf("w%d.cset.test.", r.IntN(names)), dns.TypeAAAA)
		}
		m.Id = uint16(i)
		queries[i] = packQuery(b, m)
	}
	sc := newScratch()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if out, _ := s.handle(queries[i&(len(queries)-1)], sc, false, remote); out == nil {
			b.Fatal("dropped")
		}
		i++
	}
}
