package dnsserver

import (
	"net/netip"

	"github.com/miekg/dns"
)

// answerSlow handles every query the fast path does not: it unpacks with miekg/dns, answers
// protocol oddities itself, and hands plain queries, normalised, back to the fast path.
// It returns nil to drop the packet, or xfr for a zone transfer to stream.
func (s *Server) answerSlow(idx *index, q []byte, sc *scratch, tcp bool, remote netip.Addr) ([]byte, *dns.Msg) {
	m := new(dns.Msg)
	if err := m.Unpack(q); err != nil || m.Response {
		return nil, nil
	}
	resp := new(dns.Msg)
	resp.Id, resp.Response, resp.Opcode = m.Id, true, m.Opcode
	resp.RecursionDesired, resp.CheckingDisabled = m.RecursionDesired, m.CheckingDisabled
	if len(m.Question) == 1 {
		resp.Question = m.Question
	}
	opt := m.IsEdns0()
	var rcode int
	if malformed(q, m) {
		// Answer FORMERR without EDNS: the OPT record of such a query is not to be trusted.
		rcode, opt = dns.RcodeFormatError, nil
	} else {
		rcode = s.classify(idx, m, opt, tcp, remote)
	}
	switch rcode {
	case rcodeTransfer:
		return nil, m
	case rcodeSOAOnly:
		resp.Authoritative = true
		resp.Answer = []dns.RR{idx.soa}
	case rcodeNormal:
		return s.normalized(idx, m, opt, sc, tcp)
	default:
		resp.Rcode = rcode
		if rcode == dns.RcodeNotAuth && idx != nil && len(m.Question) == 1 && idx.contains(m.Question[0].Name) {
			resp.Authoritative = true
		}
	}
	if opt != nil {
		resp.SetEdns0(advertisedUDP, opt.Do())
	}
	out, err := resp.PackBuffer(sc.out[:cap(sc.out)])
	if err != nil {
		return nil, nil
	}
	return out, nil
}

// malformed reports a query that miekg/dns unpacks leniently but RFC 1035 and RFC 6891 make a
// format error: a section count in the header that the records do not match (Unpack stops at
// the end of the message, so ANCOUNT 65535 with no record unpacks as an empty section), more
// than one OPT record, or an OPT record outside the additional section (RFC 6891, 6.1.1).
func malformed(q []byte, m *dns.Msg) bool {
	if int(be16(q[4:])) != len(m.Question) || int(be16(q[6:])) != len(m.Answer) ||
		int(be16(q[8:])) != len(m.Ns) || int(be16(q[10:])) != len(m.Extra) {
		return true
	}
	return countOPT(m.Answer) > 0 || countOPT(m.Ns) > 0 || countOPT(m.Extra) > 1
}

func countOPT(rrs []dns.RR) int {
	n := 0
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			n++
		}
	}
	return n
}

// Pseudo rcodes returned by classify.
const (
	rcodeNormal   = -1 // a plain query: answer through the fast path
	rcodeTransfer = -2 // AXFR/IXFR over TCP from an allowed network
	rcodeSOAOnly  = -3 // IXFR over UDP: answer our SOA so the client retries over TCP (RFC 1995)
)

// classify decides how to answer an unpacked query.
func (s *Server) classify(idx *index, m *dns.Msg, opt *dns.OPT, tcp bool, remote netip.Addr) int {
	switch {
	case m.Opcode != dns.OpcodeQuery:
		return dns.RcodeNotImplemented
	case len(m.Question) != 1:
		return dns.RcodeFormatError
	case opt != nil && opt.Version() != 0:
		return dns.RcodeBadVers
	case m.IsTsig() != nil:
		return dns.RcodeNotAuth
	}
	qt := m.Question[0]
	switch {
	case len(m.Answer) != 0 || (len(m.Ns) != 0 && qt.Qtype != dns.TypeIXFR):
		return dns.RcodeFormatError
	case qt.Qclass == dns.ClassNONE || qt.Qtype == dns.TypeOPT || qt.Qtype == dns.TypeTSIG || qt.Qtype == dns.TypeTKEY:
		return dns.RcodeFormatError
	case qt.Qclass == dns.ClassANY || qt.Qtype == dns.TypeMAILA || qt.Qtype == dns.TypeMAILB:
		return dns.RcodeNotImplemented
	case qt.Qclass != dns.ClassINET || idx == nil:
		return dns.RcodeRefused
	case qt.Qtype == dns.TypeAXFR || qt.Qtype == dns.TypeIXFR:
		return s.classifyTransfer(idx, qt, tcp, remote)
	}
	return rcodeNormal
}

func (s *Server) classifyTransfer(idx *index, qt dns.Question, tcp bool, remote netip.Addr) int {
	switch {
	case !idx.contains(qt.Name):
		return dns.RcodeRefused
	case dns.CanonicalName(qt.Name) != idx.origin:
		return dns.RcodeNotAuth
	case !s.transferAllowed(remote):
		s.metrics.transfer(qt.Qtype, "refused")
		return dns.RcodeRefused
	case tcp:
		return rcodeTransfer
	case qt.Qtype == dns.TypeIXFR:
		return rcodeSOAOnly
	}
	return dns.RcodeFormatError // AXFR over UDP is not defined (RFC 5936)
}

func (s *Server) transferAllowed(remote netip.Addr) bool {
	remote = remote.Unmap()
	for _, p := range s.cfg.AllowTransfer {
		if p.Contains(remote) {
			return true
		}
	}
	return false
}

// contains reports whether name lies at or below the origin.
func (idx *index) contains(name string) bool {
	return dns.IsSubDomain(idx.origin, dns.CanonicalName(name))
}

// normalized re-packs a plain query in the layout the fast path accepts and answers it there.
func (s *Server) normalized(idx *index, m *dns.Msg, opt *dns.OPT, sc *scratch, tcp bool) ([]byte, *dns.Msg) {
	n := new(dns.Msg)
	n.Id, n.RecursionDesired, n.CheckingDisabled = m.Id, m.RecursionDesired, m.CheckingDisabled
	n.Question = m.Question
	if opt != nil {
		n.SetEdns0(opt.UDPSize(), opt.Do())
	}
	raw, err := n.Pack()
	if err != nil {
		return nil, nil
	}
	p, ok := parseFast(raw, sc)
	if !ok {
		return nil, nil
	}
	limit := maxMsg
	if !tcp {
		limit = udpLimit(p, s.maxUDP)
	}
	return idx.answerFast(raw, sc, p, limit), nil
}
