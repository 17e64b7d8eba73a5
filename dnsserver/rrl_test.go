package dnsserver

import (
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func rrlQuery(t *testing.T, name string, qtype uint16) []byte {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRRL_LimitsIdenticalAnswersPerNetwork(t *testing.T) {
	t.Parallel()
	r := newRRL(5, 2)
	sec := time.Unix(1_000_000, 0)
	r.now = func() time.Time { return sec }
	victim := netip.MustParseAddr("192.0.2.10")
	neighbour := netip.MustParseAddr("192.0.2.99") // same /24
	other := netip.MustParseAddr("198.51.100.1")
	q := rrlQuery(t, "web.cset.test.", dns.TypeA)
	qUpper := rrlQuery(t, "WEB.cset.test.", dns.TypeA)
	pass, slip, drop := 0, 0, 0
	for i := range 20 {
		addr, qq := victim, q
		if i%2 == 1 {
			addr, qq = neighbour, qUpper // same network, same question in another case
		}
		switch r.check(addr, qq) {
		case rrlPass:
			pass++
		case rrlSlip:
			slip++
		default:
			drop++
		}
	}
	if pass != 5 || slip != 7 || drop != 8 {
		t.Errorf("pass %d slip %d drop %d, want 5 passed and the rest half slipped", pass, slip, drop)
	}
	if r.check(other, q) != rrlPass {
		t.Errorf("another network is limited too")
	}
	if r.check(victim, rrlQuery(t, "db.cset.test.", dns.TypeA)) != rrlPass {
		t.Errorf("another question is limited too")
	}
	sec = sec.Add(time.Second)
	if r.check(victim, q) != rrlPass {
		t.Errorf("the limit does not reset the next second")
	}
}

func TestRRL_TruncatedAnswerKeepsQuestion(t *testing.T) {
	t.Parallel()
	m := new(dns.Msg)
	m.SetQuestion("web.cset.test.", dns.TypeA)
	m.Response, m.Authoritative = true, true
	m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "web.cset.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 5}, A: []byte{10, 0, 0, 1}}}
	b, _ := m.Pack()
	tc := new(dns.Msg)
	if err := tc.Unpack(truncatedAnswer(b)); err != nil {
		t.Fatal(err)
	}
	if !tc.Truncated || len(tc.Answer) != 0 || len(tc.Question) != 1 || tc.Question[0].Name != "web.cset.test." || tc.Id != m.Id {
		t.Errorf("truncated answer %v", tc)
	}
}

func BenchmarkRRL_Check(b *testing.B) {
	r := newRRL(1<<30, 2)
	q := make([]byte, 0, 64)
	m := new(dns.Msg)
	m.SetQuestion("web.cset.test.", dns.TypeA)
	q, _ = m.PackBuffer(q)
	addr := netip.MustParseAddr("192.0.2.10")
	b.ReportAllocs()
	for b.Loop() {
		r.check(addr, q)
	}
}

func TestServer_RateLimitsUDPNotTCP(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, testZone(1), func(c *Config) { c.RateLimit, c.RateLimitSlip = 3, -1 })
	q := rrlQuery(t, "web.cset.test.", dns.TypeA)
	remote := netip.MustParseAddr("203.0.113.7")
	sc := newScratch()
	answered := 0
	for range 10 {
		if out, _ := s.handle(q, sc, false, remote); out != nil {
			answered++
		}
	}
	// The limit is per second: a run that crosses a second boundary may answer up to twice.
	if answered < 3 || answered > 6 {
		t.Errorf("%d of 10 identical UDP answers sent with a limit of 3/s and no slip", answered)
	}
	for range 10 {
		if out, _ := s.handle(q, sc, true, remote); out == nil {
			t.Fatal("a TCP answer was rate limited")
		}
	}
}
