package dnsserver

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// FuzzServer_Query feeds arbitrary packets to the query path: it must never crash, and every
// answer must unpack and carry the query's id.
func FuzzServer_Query(f *testing.F) {
	for _, q := range []struct {
		name  string
		qtype uint16
		edns  bool
	}{
		{"web.cset.test.", dns.TypeA, false}, {"WEB.cset.test.", dns.TypeAAAA, true},
		{"nope.cset.test.", dns.TypeTXT, true}, {"example.com.", dns.TypeA, false},
		{"cset.test.", dns.TypeAXFR, false}, {"cset.test.", dns.TypeIXFR, true}, {"huge.cset.test.", dns.TypeAAAA, false},
	} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		if q.edns {
			m.SetEdns0(4096, true)
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
		f.Add(b, true)
	}
	f.Add([]byte{0, 1, 2}, false)
	s := newTestServer(f, testZone(42), nil)
	remote := netip.MustParseAddr("127.0.0.1")
	f.Fuzz(func(t *testing.T, pkt []byte, tcp bool) {
		sc := newScratch()
		out, xfr := s.handle(pkt, sc, tcp, remote)
		if xfr != nil {
			if !tcp {
				t.Fatal("transfer over UDP")
			}
			n := 0
			if err := s.transfer(xfr, func(m *dns.Msg) error { n++; _, err := m.Pack(); return err }); err != nil || n == 0 {
				t.Fatalf("transfer: %v (%d messages)", err, n)
			}
			return
		}
		if out == nil {
			return
		}
		m := new(dns.Msg)
		if err := m.Unpack(out); err != nil {
			t.Fatalf("answer does not unpack: %v\nquery %x\nanswer %x", err, pkt, out)
		}
		if !m.Response || len(pkt) < 2 || m.Id != uint16(pkt[0])<<8|uint16(pkt[1]) {
			t.Fatalf("answer is not a response to the query: %v", m.MsgHdr)
		}
		if !tcp && len(out) > max(minUDP, s.maxUDP) {
			t.Fatalf("UDP answer of %d bytes", len(out))
		}
	})
}
