package dnsserver

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

func packQuery(t testing.TB, m *dns.Msg) []byte {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatalf("pack: %v", err)
	}
	return b
}

func unpackAnswer(t testing.TB, b []byte) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		t.Fatalf("answer does not unpack: %v", err)
	}
	return m
}

// TestServer_RawPackets covers packets that dns.Msg cannot express or that must be dropped.
func TestServer_RawPackets(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, testZone(42), nil)
	query := func(mod func(*dns.Msg)) []byte {
		m := new(dns.Msg)
		m.SetQuestion("web.cset.test.", dns.TypeA)
		m.Id = 0x1234
		if mod != nil {
			mod(m)
		}
		return packQuery(t, m)
	}
	handMade := []byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
		3, 'W', 'e', 'b', 4, 'c', 's', 'e', 't', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1}
	// Bytes after the question make the fast path give up; the slow path normalises the query.
	trailing := append(query(nil), 0xde, 0xad)
	cases := []struct {
		name  string
		pkt   []byte
		drop  bool
		rcode int
		qs    int
	}{
		{name: "response dropped", pkt: query(func(m *dns.Msg) { m.Response = true }), drop: true},
		{name: "short header dropped", pkt: []byte{1, 2, 3}, drop: true},
		{name: "truncated question dropped", pkt: query(nil)[:20], drop: true},
		{name: "empty dropped", pkt: nil, drop: true},
		{name: "hand-made mixed case", pkt: handMade, rcode: dns.RcodeSuccess, qs: 1},
		{name: "trailing bytes", pkt: trailing, rcode: dns.RcodeSuccess, qs: 1},
		{name: "no question", pkt: query(func(m *dns.Msg) { m.Question = nil }), rcode: dns.RcodeFormatError},
		{name: "two questions", pkt: query(func(m *dns.Msg) {
			m.Question = append(m.Question, dns.Question{Name: "db.cset.test.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
		}), rcode: dns.RcodeFormatError},
		{name: "answer section in query", pkt: query(func(m *dns.Msg) {
			rr, _ := dns.NewRR("web.cset.test. 1 IN A 1.2.3.4")
			m.Answer = []dns.RR{rr}
		}), rcode: dns.RcodeFormatError, qs: 1},
		{name: "EDNS version 1", pkt: query(func(m *dns.Msg) {
			m.SetEdns0(1232, false)
			m.IsEdns0().SetVersion(1)
		}), rcode: dns.RcodeBadVers, qs: 1},
		{name: "TSIG query", pkt: query(func(m *dns.Msg) {
			m.Extra = append(m.Extra, &dns.TSIG{Hdr: dns.RR_Header{Name: "key.", Rrtype: dns.TypeTSIG, Class: dns.ClassANY},
				Algorithm: dns.HmacSHA256, MACSize: 0, OrigId: 0x1234})
		}), rcode: dns.RcodeNotAuth, qs: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, xfr := s.handle(tc.pkt, newScratch(), false, netip.MustParseAddr("127.0.0.1"))
			if xfr != nil {
				t.Fatalf("unexpected transfer")
			}
			if tc.drop {
				if out != nil {
					t.Fatalf("got an answer, want a drop")
				}
				return
			}
			if out == nil {
				t.Fatalf("dropped, want rcode %s", dns.RcodeToString[tc.rcode])
			}
			m := unpackAnswer(t, out)
			if m.Rcode != tc.rcode || !m.Response || m.Id != 0x1234 || len(m.Question) != tc.qs {
				t.Errorf("got rcode %s qr=%v id=%#x questions=%d, want %s qr id 0x1234 questions=%d",
					dns.RcodeToString[m.Rcode], m.Response, m.Id, len(m.Question), dns.RcodeToString[tc.rcode], tc.qs)
			}
			if tc.rcode == dns.RcodeSuccess && (len(m.Answer) != 1 || m.Question[0].Name != "Web.cset.test." && m.Question[0].Name != "web.cset.test.") {
				t.Errorf("answer %v", m)
			}
		})
	}
}

func TestServer_NoZoneRefuses(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil, nil)
	for _, qt := range []uint16{dns.TypeA, dns.TypeAXFR} {
		m := new(dns.Msg)
		m.SetQuestion("web.cset.test.", qt)
		w := newRecorder(true, "127.0.0.1")
		s.ServeDNS(w, m)
		if len(w.msgs) != 1 || w.msgs[0].Rcode != dns.RcodeRefused {
			t.Fatalf("%s: got %v, want REFUSED", dns.TypeToString[qt], w.msgs)
		}
	}
}

func TestServer_InvalidZoneKeepsPrevious(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, testZone(42), nil)
	s.SetZone(&Zone{Origin: "bad origin.", Serial: 43})
	s.SetZone(nil)
	if serial, ok := s.Serial(); !ok || serial != 42 {
		t.Fatalf("serial = %d, %v; want the previous zone (42)", serial, ok)
	}
	z := testZone(44)
	z.Workloads = append(z.Workloads, WorkloadRecord{Name: "bad name", Online: true},
		WorkloadRecord{Name: "WEB", Online: true})
	s.SetZone(z)
	if serial, _ := s.Serial(); serial != 44 {
		t.Fatalf("serial = %d, want 44 (bad records skipped, zone served)", serial)
	}
}

func TestServer_AXFR(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, testZone(42), nil)
	m := new(dns.Msg)
	m.SetQuestion("CSET.test.", dns.TypeAXFR)
	w := newRecorder(true, "127.0.0.1")
	s.ServeDNS(w, m)
	var rrs []dns.RR
	for _, msg := range w.msgs {
		if msg.Rcode != dns.RcodeSuccess || !msg.Authoritative || msg.Id != m.Id {
			t.Fatalf("transfer message header: %v", msg.MsgHdr)
		}
		rrs = append(rrs, msg.Answer...)
	}
	if len(w.msgs) < 2 {
		t.Errorf("got %d messages; the 100+ records should span several", len(w.msgs))
	}
	if len(rrs) < 2 || rrs[0].Header().Rrtype != dns.TypeSOA || rrs[len(rrs)-1].Header().Rrtype != dns.TypeSOA {
		t.Fatalf("transfer does not start and end with the SOA")
	}
	// 2 SOA + 2 NS + 3 glue + web (A, AAAA, TXT, SRV) + App (A, TXT) + big (30 + TXT) + huge (60 + TXT).
	if want := 2 + 2 + 3 + 4 + 2 + 31 + 61; len(rrs) != want {
		t.Errorf("transfer has %d records, want %d", len(rrs), want)
	}

	// IXFR from a secondary that is current gets the SOA alone.
	ixfr := new(dns.Msg)
	ixfr.SetIxfr("cset.test.", 42, "m1.ns.cset.test.", "hostmaster.cset.test.")
	w = newRecorder(true, "127.0.0.1")
	s.ServeDNS(w, ixfr)
	if len(w.msgs) != 1 || len(w.msgs[0].Answer) != 1 {
		t.Fatalf("IXFR at current serial: got %v, want the SOA alone", w.msgs)
	}
	// An older serial gets the whole zone (AXFR-style answer, RFC 1995).
	ixfr.SetIxfr("cset.test.", 41, "m1.ns.cset.test.", "hostmaster.cset.test.")
	w = newRecorder(true, "127.0.0.1")
	s.ServeDNS(w, ixfr)
	n := 0
	for _, msg := range w.msgs {
		n += len(msg.Answer)
	}
	if n != len(rrs) {
		t.Fatalf("IXFR from an older serial: %d records, want the full zone (%d)", n, len(rrs))
	}
}

// TestServer_FastPathAllocs proves the common queries do not allocate.
func TestServer_FastPathAllocs(t *testing.T) {
	s := newTestServer(t, testZone(42), nil)
	for _, tc := range []struct {
		name  string
		qname string
		qtype uint16
		edns  bool
	}{
		{"A", "web.cset.test.", dns.TypeA, false},
		{"A mixed case EDNS", "WEB.cset.test.", dns.TypeA, true},
		{"NODATA", "db.cset.test.", dns.TypeA, false},
		{"NXDOMAIN", "nope.cset.test.", dns.TypeAAAA, true},
		{"REFUSED", "example.org.", dns.TypeA, false},
		{"truncated", "huge.cset.test.", dns.TypeAAAA, true},
	} {
		m := new(dns.Msg)
		m.SetQuestion(tc.qname, tc.qtype)
		if tc.edns {
			m.SetEdns0(1232, true)
		}
		q := packQuery(t, m)
		sc := newScratch()
		remote := netip.MustParseAddr("127.0.0.1")
		s.handle(q, sc, false, remote) // resolve the metric once
		allocs := testing.AllocsPerRun(1000, func() {
			if out, _ := s.handle(q, sc, false, remote); out == nil {
				t.Fatal("dropped")
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %.1f allocations per query, want 0", tc.name, allocs)
		}
	}
}
