package dnsserver

import (
	"testing"

	"github.com/miekg/dns"
)

const soaNeg = "cset.test. 5 IN SOA m1.ns.cset.test. hostmaster.cset.test. 42 300 60 1209600 5"

type queryCase struct {
	name               string
	qname              string
	qtype              uint16
	qclass             uint16 // default IN
	opcode             int
	tcp                bool
	from               string // client address, default 127.0.0.1 (allowed to transfer)
	edns               uint16 // EDNS buffer size, 0 for no OPT
	do                 bool
	rcode              int
	aa, tc             bool
	answer, ns, extra  []string
	skipSectionCompare bool
	wantAnswers        int // with skipSectionCompare: number of answer records
}

func TestServer_Query(t *testing.T) {
	t.Parallel()
	cases := []queryCase{
		{name: "A", qname: "web.cset.test.", qtype: dns.TypeA, aa: true,
			answer: []string{"web.cset.test. 30 IN A 10.0.0.1"}},
		{name: "AAAA", qname: "web.cset.test.", qtype: dns.TypeAAAA, aa: true,
			answer: []string{"web.cset.test. 30 IN AAAA 2001:db8::10"}},
		{name: "TXT", qname: "web.cset.test.", qtype: dns.TypeTXT, aa: true,
			answer: []string{`web.cset.test. 30 IN TXT "member=east server=e1"`}},
		{name: "SRV with additional", qname: "_http._tcp.web.cset.test.", qtype: dns.TypeSRV, aa: true,
			answer: []string{"_http._tcp.web.cset.test. 30 IN SRV 10 5 80 web.cset.test."},
			extra:  []string{"web.cset.test. 30 IN A 10.0.0.1", "web.cset.test. 30 IN AAAA 2001:db8::10"}},
		{name: "workload name stored in upper case", qname: "app.cset.test.", qtype: dns.TypeA, aa: true,
			answer: []string{"app.cset.test. 30 IN A 10.0.0.3"}},
		{name: "case insensitive", qname: "WeB.CSET.test.", qtype: dns.TypeA, aa: true,
			answer: []string{"web.cset.test. 30 IN A 10.0.0.1"}},
		{name: "no AAAA for v4-only workload", qname: "app.cset.test.", qtype: dns.TypeAAAA, aa: true,
			ns: []string{soaNeg}},
		{name: "no data for other type", qname: "web.cset.test.", qtype: dns.TypeMX, aa: true, ns: []string{soaNeg}},
		{name: "offline workload", qname: "db.cset.test.", qtype: dns.TypeA, aa: true, ns: []string{soaNeg}},
		{name: "offline workload TXT", qname: "db.cset.test.", qtype: dns.TypeTXT, aa: true, ns: []string{soaNeg}},
		{name: "offline workload SRV", qname: "_pg._tcp.db.cset.test.", qtype: dns.TypeSRV, aa: true, ns: []string{soaNeg}},
		{name: "offline workload ANY", qname: "db.cset.test.", qtype: dns.TypeANY, aa: true, ns: []string{soaNeg}},
		{name: "unknown name", qname: "nope.cset.test.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true,
			ns: []string{soaNeg}},
		{name: "unknown deep name", qname: "a.b.Nope.cset.test.", qtype: dns.TypeTXT, rcode: dns.RcodeNameError,
			aa: true, ns: []string{soaNeg}},
		{name: "below a workload", qname: "x.web.cset.test.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true,
			ns: []string{soaNeg}},
		{name: "empty non-terminal ns", qname: "ns.cset.test.", qtype: dns.TypeA, aa: true, ns: []string{soaNeg}},
		{name: "empty non-terminal srv", qname: "_tcp.web.cset.test.", qtype: dns.TypeSRV, aa: true, ns: []string{soaNeg}},
		{name: "outside the zone", qname: "example.com.", qtype: dns.TypeA, rcode: dns.RcodeRefused},
		{name: "parent zone", qname: "test.", qtype: dns.TypeSOA, rcode: dns.RcodeRefused},
		{name: "not a label boundary", qname: "xcset.test.", qtype: dns.TypeA, rcode: dns.RcodeRefused},
		{name: "root", qname: ".", qtype: dns.TypeNS, rcode: dns.RcodeRefused},
		{name: "SOA", qname: "cset.test.", qtype: dns.TypeSOA, aa: true,
			answer: []string{"cset.test. 30 IN SOA m1.ns.cset.test. hostmaster.cset.test. 42 300 60 1209600 5"}},
		{name: "NS with glue", qname: "cset.test.", qtype: dns.TypeNS, aa: true,
			answer: []string{"cset.test. 30 IN NS m1.ns.cset.test.", "cset.test. 30 IN NS m2.ns.cset.test."},
			extra: []string{"m1.ns.cset.test. 30 IN A 192.0.2.1", "m1.ns.cset.test. 30 IN AAAA 2001:db8::1",
				"m2.ns.cset.test. 30 IN A 192.0.2.2"}},
		{name: "apex A", qname: "cset.test.", qtype: dns.TypeA, aa: true, ns: []string{soaNeg}},
		{name: "nameserver address", qname: "M1.ns.cset.test.", qtype: dns.TypeAAAA, aa: true,
			answer: []string{"m1.ns.cset.test. 30 IN AAAA 2001:db8::1"}},
		{name: "ANY RFC 8482", qname: "web.cset.test.", qtype: dns.TypeANY, aa: true,
			answer: []string{`web.cset.test. 30 IN HINFO "RFC8482" ""`}},
		{name: "ANY apex", qname: "cset.test.", qtype: dns.TypeANY, aa: true,
			answer: []string{`cset.test. 30 IN HINFO "RFC8482" ""`}},
		{name: "ANY unknown", qname: "nope.cset.test.", qtype: dns.TypeANY, rcode: dns.RcodeNameError, aa: true,
			ns: []string{soaNeg}},
		{name: "EDNS echoed", qname: "web.cset.test.", qtype: dns.TypeA, edns: 4096, do: true, aa: true,
			answer: []string{"web.cset.test. 30 IN A 10.0.0.1"}},
		{name: "EDNS NXDOMAIN", qname: "nope.cset.test.", qtype: dns.TypeA, edns: 1232, rcode: dns.RcodeNameError,
			aa: true, ns: []string{soaNeg}},
		{name: "chaos class", qname: "version.bind.", qtype: dns.TypeTXT, qclass: dns.ClassCHAOS, rcode: dns.RcodeRefused},
		{name: "chaos class in zone", qname: "web.cset.test.", qtype: dns.TypeA, qclass: dns.ClassCHAOS,
			rcode: dns.RcodeRefused},
		{name: "class ANY", qname: "web.cset.test.", qtype: dns.TypeA, qclass: dns.ClassANY, rcode: dns.RcodeNotImplemented},
		{name: "class NONE", qname: "web.cset.test.", qtype: dns.TypeA, qclass: dns.ClassNONE, rcode: dns.RcodeFormatError},
		{name: "opcode NOTIFY", qname: "cset.test.", qtype: dns.TypeSOA, opcode: dns.OpcodeNotify,
			rcode: dns.RcodeNotImplemented},
		{name: "opcode UPDATE", qname: "cset.test.", qtype: dns.TypeSOA, opcode: dns.OpcodeUpdate,
			rcode: dns.RcodeNotImplemented},
		{name: "opcode STATUS", qname: "cset.test.", qtype: dns.TypeA, opcode: dns.OpcodeStatus,
			rcode: dns.RcodeNotImplemented},
		{name: "qtype OPT", qname: "web.cset.test.", qtype: dns.TypeOPT, rcode: dns.RcodeFormatError},
		{name: "qtype MAILB", qname: "web.cset.test.", qtype: dns.TypeMAILB, rcode: dns.RcodeNotImplemented},
		{name: "AXFR over UDP", qname: "cset.test.", qtype: dns.TypeAXFR, rcode: dns.RcodeFormatError},
		{name: "IXFR over UDP answers the SOA", qname: "cset.test.", qtype: dns.TypeIXFR, aa: true,
			answer: []string{"cset.test. 30 IN SOA m1.ns.cset.test. hostmaster.cset.test. 42 300 60 1209600 5"}},
		{name: "IXFR over UDP refused", qname: "cset.test.", qtype: dns.TypeIXFR, from: "192.0.2.99",
			rcode: dns.RcodeRefused},
		{name: "AXFR refused", qname: "cset.test.", qtype: dns.TypeAXFR, tcp: true, from: "192.0.2.99",
			rcode: dns.RcodeRefused},
		{name: "AXFR of a subdomain", qname: "web.cset.test.", qtype: dns.TypeAXFR, tcp: true, rcode: dns.RcodeNotAuth,
			aa: true},
		{name: "AXFR of another zone", qname: "example.com.", qtype: dns.TypeAXFR, tcp: true, rcode: dns.RcodeRefused},
		{name: "truncated without EDNS", qname: "big.cset.test.", qtype: dns.TypeAAAA, aa: true, tc: true},
		{name: "fits with EDNS", qname: "big.cset.test.", qtype: dns.TypeAAAA, edns: 1232, aa: true,
			skipSectionCompare: true, wantAnswers: 30},
		{name: "truncated at our maximum", qname: "huge.cset.test.", qtype: dns.TypeAAAA, edns: 4096, aa: true, tc: true},
		{name: "TCP is never truncated", qname: "huge.cset.test.", qtype: dns.TypeAAAA, tcp: true, aa: true,
			skipSectionCompare: true, wantAnswers: 60},
	}
	s := newTestServer(t, testZone(42), nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := new(dns.Msg)
			m.SetQuestion(tc.qname, tc.qtype)
			m.Opcode = tc.opcode
			if tc.qclass != 0 {
				m.Question[0].Qclass = tc.qclass
			}
			if tc.edns != 0 {
				m.SetEdns0(tc.edns, tc.do)
			}
			from := tc.from
			if from == "" {
				from = "127.0.0.1"
			}
			w := newRecorder(tc.tcp, from)
			s.ServeDNS(w, m)
			if len(w.msgs) != 1 {
				t.Fatalf("got %d messages, want 1", len(w.msgs))
			}
			checkAnswer(t, tc, m, w.msgs[0])
		})
	}
}

func checkAnswer(t *testing.T, tc queryCase, q, got *dns.Msg) {
	t.Helper()
	if got.Rcode != tc.rcode {
		t.Errorf("rcode = %s, want %s", dns.RcodeToString[got.Rcode], dns.RcodeToString[tc.rcode])
	}
	if got.Id != q.Id || !got.Response || got.Opcode != q.Opcode {
		t.Errorf("header id=%d qr=%v opcode=%d, want id=%d qr opcode=%d", got.Id, got.Response, got.Opcode, q.Id, q.Opcode)
	}
	if got.Authoritative != tc.aa || got.Truncated != tc.tc || got.RecursionAvailable {
		t.Errorf("flags aa=%v tc=%v ra=%v, want aa=%v tc=%v ra=false", got.Authoritative, got.Truncated,
			got.RecursionAvailable, tc.aa, tc.tc)
	}
	if got.RecursionDesired != q.RecursionDesired {
		t.Errorf("rd = %v, want it copied (%v)", got.RecursionDesired, q.RecursionDesired)
	}
	if len(got.Question) != 1 || got.Question[0] != q.Question[0] {
		t.Errorf("question = %v, want %v echoed as sent", got.Question, q.Question)
	}
	opt := got.IsEdns0()
	switch {
	case tc.edns == 0 && opt != nil:
		t.Errorf("OPT in answer to a query without EDNS")
	case tc.edns != 0 && opt == nil:
		t.Errorf("no OPT in answer to an EDNS query")
	case opt != nil && (opt.UDPSize() != advertisedUDP || opt.Do() != tc.do || opt.Version() != 0):
		t.Errorf("OPT size=%d do=%v version=%d, want %d %v 0", opt.UDPSize(), opt.Do(), opt.Version(), advertisedUDP, tc.do)
	}
	if tc.skipSectionCompare {
		if len(got.Answer) != tc.wantAnswers {
			t.Errorf("got %d answers, want %d", len(got.Answer), tc.wantAnswers)
		}
		return
	}
	checkSections(t, got, tc.answer, tc.ns, tc.extra)
}
