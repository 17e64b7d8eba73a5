package dnsserver

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestTable_TagCollision stores two names whose hashes share the 32-bit tag kept in the slots and
// the first slot probed in a table of 8 (so only the key comparison tells them apart) and one
// that only shares the slot, and finds each.
// add stores the answers of the name key (lower-case wire form), as the index builds do with
// encodeEntry and addEntry.
func (t *table) add(key []byte, answers []answer, nodata []byte) error {
	entry, err := encodeEntry(nil, key, answers, nodata)
	if err != nil {
		return err
	}
	return t.addEntry(entry, t.hash(key))
}

func TestTable_TagCollision(t *testing.T) {
	t.Parallel()
	probe := &table{seed: 1}
	seen := map[uint64][]byte{}
	var a, b []byte
	for i := 0; a == nil; i++ {
		if i > 1<<22 {
			t.Fatal("no collision among 4M names")
		}
		k := wireName(fmt.Sprintf("n%d.cset.test.", i))
		h := probe.hash(k)
		tag := h&^0xffffffff | h&7
		if prev, ok := seen[tag]; ok {
			a, b = prev, k
		}
		seen[tag] = k
	}
	tb := newTable(3, 0)
	tb.seed = 1
	if tb.mask != 7 {
		t.Fatalf("a table for 3 names has %d slots, want 8", tb.mask+1)
	}
	if tb.lookup(a, tb.hash(a)) != -1 {
		t.Fatal("empty table finds a name")
	}
	if err := tb.add(a, []answer{{dns.TypeA, []byte("a-A")}}, []byte("a-nodata")); err != nil {
		t.Fatal(err)
	}
	if off := tb.lookup(b, tb.hash(b)); off != -1 {
		t.Fatalf("a name with the same tag but another key is found at %d", off)
	}
	if err := tb.add(b, []answer{{dns.TypeA, []byte("b-A")}, {dns.TypeTXT, []byte("b-TXT")}}, []byte("b-nodata")); err != nil {
		t.Fatal(err)
	}
	// A third name in the same slot as a (the table has 8 slots): probing passes both.
	var c []byte
	for i := 0; c == nil; i++ {
		k := wireName(fmt.Sprintf("c%d.cset.test.", i))
		if tb.hash(k)&tb.mask == tb.hash(a)&tb.mask {
			c = k
		}
	}
	if err := tb.add(c, nil, []byte("c-nodata")); err != nil {
		t.Fatal(err)
	}
	if err := tb.add(a, nil, nil); err == nil {
		t.Error("a duplicate name was accepted")
	}
	for _, tc := range []struct {
		key   []byte
		qtype uint16
		want  string
	}{
		{a, dns.TypeA, "a-A"}, {a, dns.TypeTXT, "a-nodata"},
		{b, dns.TypeA, "b-A"}, {b, dns.TypeTXT, "b-TXT"}, {b, dns.TypeAAAA, "b-nodata"},
		{c, dns.TypeA, "c-nodata"},
	} {
		off := tb.lookup(tc.key, tb.hash(tc.key))
		if off < 0 {
			t.Errorf("%q not found", tc.key)
			continue
		}
		msg, nodata := tb.answer(off, tc.qtype)
		if got := string(msg); got != tc.want {
			t.Errorf("%q %s: %q, want %q", tc.key, dns.TypeToString[tc.qtype], got, tc.want)
		}
		if want := strings.HasSuffix(tc.want, "-nodata"); nodata != want {
			t.Errorf("%q %s: nodata %v, want %v", tc.key, dns.TypeToString[tc.qtype], nodata, want)
		}
	}
	if tb.names != 3 {
		t.Errorf("names = %d, want 3", tb.names)
	}
}

// manyZone is a zone of n workloads with names of every length up to the longest label, some
// of several labels, declared in mixed case, every third one offline, every fifth with a service.
func manyZone(n int, serial uint32, addr func(i int) netip.Addr) *Zone {
	z := &Zone{Origin: "cset.test.", TTL: 30, NegativeTTL: 5, Serial: serial,
		Nameservers: []Nameserver{{Name: "m1", Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}}}
	for i := range n {
		z.Workloads = append(z.Workloads, WorkloadRecord{Name: manyName(i), Online: i%3 != 0, Member: "east",
			Server: "e1", Addrs: []netip.Addr{addr(i)}})
		if i%5 == 0 {
			z.Workloads[i].Services = []Service{{Name: "_http._tcp", Port: 80}}
		}
	}
	return z
}

func manyName(i int) string {
	name := fmt.Sprintf("W%d-%s", i, strings.Repeat("x", i%53))
	if i%7 == 0 {
		name += ".Sub"
	}
	return name
}

func addr4(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

// TestServer_EveryNameOfALargeZone asks every name of a zone of 5,000 (and a missing sibling of
// each) for several types, and checks each answer against the zone: every entry of the table,
// whatever its probe distance, answers for its own name only.
func TestServer_EveryNameOfALargeZone(t *testing.T) {
	t.Parallel()
	const n = 5000
	s := newTestServer(t, manyZone(n, 1, addr4), nil)
	sc := newScratch()
	remote := netip.MustParseAddr("127.0.0.1")
	ask := func(qname string, qtype uint16) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(qname, qtype)
		out, _ := s.handle(packQuery(t, m), sc, true, remote)
		if out == nil {
			t.Fatalf("%s %s dropped", qname, dns.TypeToString[qtype])
		}
		return unpackAnswer(t, out)
	}
	for i := range n {
		name := manyName(i) + ".cset.test."
		r := ask(strings.ToUpper(name), dns.TypeA)
		if r.Rcode != dns.RcodeSuccess {
			t.Fatalf("%s A: rcode %s", name, dns.RcodeToString[r.Rcode])
		}
		if i%3 == 0 {
			if len(r.Answer) != 0 {
				t.Fatalf("offline %s answers %v", name, r.Answer)
			}
		} else if len(r.Answer) != 1 || !strings.EqualFold(r.Answer[0].Header().Name, name) ||
			r.Answer[0].(*dns.A).A.String() != addr4(i).String() {
			t.Fatalf("%s A: %v, want %s", name, r.Answer, addr4(i))
		}
		r = ask(name, dns.TypeTXT)
		if i%3 != 0 && (len(r.Answer) != 1 || r.Answer[0].(*dns.TXT).Txt[0] != "member=east server=e1") {
			t.Fatalf("%s TXT: %v", name, r.Answer)
		}
		if r := ask(name, dns.TypeAAAA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) != 1 {
			t.Fatalf("%s AAAA: want NODATA, got %v", name, r)
		}
		if i%5 == 0 {
			r := ask("_http._tcp."+name, dns.TypeSRV)
			if i%3 != 0 && (len(r.Answer) != 1 || r.Answer[0].(*dns.SRV).Port != 80) {
				t.Fatalf("_http._tcp.%s SRV: %v", name, r.Answer)
			}
		}
		if r := ask("x"+name, dns.TypeA); r.Rcode != dns.RcodeNameError {
			t.Fatalf("x%s: rcode %s, want NXDOMAIN", name, dns.RcodeToString[r.Rcode])
		}
	}
}

// TestServer_UDPBatches sends bursts of queries on one socket without waiting, so that the
// server reads them in batches (recvmmsg) and warms the table for a batch before answering it,
// and checks every answer; then it changes the zone and does it again: no answer of the old
// zone may survive the change.
func TestServer_UDPBatches(t *testing.T) {
	t.Parallel()
	const n = 2000
	src := newFakeSource(nil)
	s := startServer(t, src, func(c *Config) { c.Sockets = 1 })
	conn, err := net.Dial("udp", s.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	// check sends 400 queries (A of online, offline and missing names, AAAA) in bursts of 50
	// (few enough to fit the server's socket buffer) and checks the answers, matched by id.
	check := func(round string, want func(i int, r *dns.Msg) error) {
		t.Helper()
		buf := make([]byte, 4096)
		for burst := range 8 {
			queries := map[uint16]int{}
			for id := burst * 50; id < burst*50+50; id++ {
				i := (id * 7919) % n
				m := new(dns.Msg)
				switch {
				case id%10 == 9:
					m.SetQuestion("nx"+manyName(i)+".cset.test.", dns.TypeA)
					i = -1
				case id%10 == 8:
					m.SetQuestion(manyName(i)+".cset.test.", dns.TypeAAAA)
					i = -2 - i
				default:
					m.SetQuestion(manyName(i)+".cset.test.", dns.TypeA)
				}
				m.Id = uint16(id)
				queries[m.Id] = i
				if _, err := conn.Write(packQuery(t, m)); err != nil {
					t.Fatal(err)
				}
			}
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			for len(queries) > 0 {
				k, err := conn.Read(buf)
				if err != nil {
					t.Fatalf("%s: %d answers missing: %v", round, len(queries), err)
				}
				r := unpackAnswer(t, buf[:k])
				i, ok := queries[r.Id]
				if !ok {
					t.Fatalf("%s: unexpected answer %d", round, r.Id)
				}
				delete(queries, r.Id)
				if err := want(i, r); err != nil {
					t.Fatalf("%s: query %d (%v): %v", round, r.Id, r.Question, err)
				}
			}
		}
	}
	answers := func(addr func(int) netip.Addr) func(i int, r *dns.Msg) error {
		return func(i int, r *dns.Msg) error {
			switch {
			case i == -1:
				if r.Rcode != dns.RcodeNameError {
					return fmt.Errorf("rcode %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
				}
			case i < -1:
				if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
					return fmt.Errorf("want NODATA, got %v", r)
				}
			case i%3 == 0:
				if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
					return fmt.Errorf("offline: want NODATA, got %v", r)
				}
			default:
				if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != addr(i).String() {
					return fmt.Errorf("answer %v, want %s", r.Answer, addr(i))
				}
			}
			return nil
		}
	}

	check("no zone", func(_ int, r *dns.Msg) error {
		if r.Rcode != dns.RcodeRefused {
			return fmt.Errorf("rcode %s, want REFUSED", dns.RcodeToString[r.Rcode])
		}
		return nil
	})
	src.set(manyZone(n, 1, addr4))
	eventually(t, 5*time.Second, "the zone served", func() bool { serial, ok := s.Serial(); return ok && serial == 1 })
	check("zone 1", answers(addr4))
	addr2 := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{172, 16 + byte(i>>16), byte(i >> 8), byte(i)}) }
	src.set(manyZone(n, 2, addr2))
	eventually(t, 5*time.Second, "the new zone served", func() bool { serial, ok := s.Serial(); return ok && serial == 2 })
	check("zone 2", answers(addr2))
}
