package dnsserver

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// TestServer_FormatErrors covers queries that miekg/dns unpacks leniently but that are format
// errors: header counts the records do not match, and more than one OPT record or an OPT record
// outside the additional section (RFC 6891, 6.1.1). Each must be answered FORMERR, without EDNS.
func TestServer_FormatErrors(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, testZone(42), nil)
	query := func(mod func(*dns.Msg)) []byte {
		m := new(dns.Msg)
		m.SetQuestion("web.cset.test.", dns.TypeA)
		m.Id = 0x4321
		if mod != nil {
			mod(m)
		}
		return packQuery(t, m)
	}
	secondOPT := func(m *dns.Msg) {
		m.SetEdns0(1232, false)
		m.Extra = append(m.Extra, &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT, Class: 512}})
	}
	setCount := func(b []byte, at int, v uint16) []byte {
		b[at], b[at+1] = byte(v>>8), byte(v)
		return b
	}
	opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT, Class: 1232}}
	cases := []struct {
		name string
		pkt  []byte
	}{
		{"two OPT records", query(secondOPT)},
		{"two OPT records with DO", query(func(m *dns.Msg) { secondOPT(m); m.IsEdns0().SetDo() })},
		{"OPT in the authority section", query(func(m *dns.Msg) { m.Ns = []dns.RR{opt} })},
		{"ANCOUNT 65535 and no record", setCount(query(nil), 6, 0xffff)},
		{"NSCOUNT 65535 and no record", setCount(query(nil), 8, 0xffff)},
		{"ARCOUNT 2 and one OPT", setCount(query(func(m *dns.Msg) { m.SetEdns0(1232, false) }), 10, 2)},
		{"ARCOUNT 1 and no record", setCount(query(nil), 10, 1)},
	}
	for _, tc := range cases {
		for _, tcp := range []bool{false, true} {
			out, xfr := s.handle(tc.pkt, newScratch(), tcp, netip.MustParseAddr("127.0.0.1"))
			if xfr != nil {
				t.Fatalf("%s (tcp %v): unexpected transfer", tc.name, tcp)
			}
			if out == nil {
				t.Fatalf("%s (tcp %v): dropped, want FORMERR", tc.name, tcp)
			}
			m := unpackAnswer(t, out)
			if m.Rcode != dns.RcodeFormatError || !m.Response || m.Id != 0x4321 || len(m.Answer) != 0 {
				t.Errorf("%s (tcp %v): got rcode %s qr=%v id=%#x answers=%d, want FORMERR to id 0x4321 without answers",
					tc.name, tcp, dns.RcodeToString[m.Rcode], m.Response, m.Id, len(m.Answer))
			}
			if m.IsEdns0() != nil {
				t.Errorf("%s (tcp %v): FORMERR carries an OPT record", tc.name, tcp)
			}
		}
	}
	// The same queries, well formed, are answered: the check is not over-eager.
	for _, pkt := range [][]byte{query(nil), query(func(m *dns.Msg) { m.SetEdns0(1232, true) })} {
		out, _ := s.handle(pkt, newScratch(), false, netip.MustParseAddr("127.0.0.1"))
		if m := unpackAnswer(t, out); m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
			t.Errorf("well-formed query: got %s with %d answers, want NOERROR with 1", dns.RcodeToString[m.Rcode], len(m.Answer))
		}
	}
	// A well-formed query that only the slow path takes (trailing bytes) is still answered.
	out, _ := s.handle(append(query(func(m *dns.Msg) { m.SetEdns0(1232, false) }), 0xde, 0xad), newScratch(), false, netip.MustParseAddr("127.0.0.1"))
	if m := unpackAnswer(t, out); m.Rcode != dns.RcodeSuccess {
		t.Errorf("query with trailing bytes: got %s, want NOERROR", dns.RcodeToString[m.Rcode])
	}
}
