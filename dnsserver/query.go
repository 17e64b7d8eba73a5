package dnsserver

import (
	"net/netip"

	"github.com/miekg/dns"
)

const (
	headerLen = 12
	optLen    = 11 // root owner, type, class, ttl, rdlength
	// maxMsg is the largest DNS message (TCP).
	maxMsg = 65535
	// minUDP is the UDP payload every client accepts (RFC 1035).
	minUDP = 512
)

// Header flag bits, byte 2 and byte 3 of the header.
const (
	flagQR = 0x80
	flagAA = 0x04
	flagTC = 0x02
	flagRD = 0x01
	flagCD = 0x10
)

// scratch is per-goroutine state that lets the fast path run without allocating.
type scratch struct {
	key    [256]byte
	labels [128]uint8
	out    []byte
	tcpw   []byte
}

func newScratch() *scratch {
	return &scratch{out: make([]byte, 0, maxMsg+optLen), tcpw: make([]byte, 0, maxMsg+2)}
}

// question is the result of the minimal parse of a query.
type question struct {
	nameLen  int // wire length of the lower-cased name in scratch.key
	nlabels  int
	qtype    uint16
	qend     int // offset just after the question
	edns     bool
	ednsSize uint16
	do       bool
}

// parseFast parses a plain query: one question with an uncompressed name, class IN, no answer or
// authority records and at most an OPT record of version 0. Anything else returns false and goes
// to the slow path.
func parseFast(q []byte, sc *scratch) (p question, ok bool) {
	if len(q) < headerLen+5 || q[2]&0xF8 != 0 { // QR or a non-zero opcode
		return p, false
	}
	if be16(q[4:]) != 1 || be16(q[6:]) != 0 || be16(q[8:]) != 0 || be16(q[10:]) > 1 {
		return p, false
	}
	off, n, nl := headerLen, 0, 0
	for {
		if off >= len(q) {
			return p, false
		}
		l := int(q[off])
		if l == 0 {
			sc.key[n] = 0
			n++
			off++
			break
		}
		if l > 63 || off+1+l > len(q) || n+1+l > 254 {
			return p, false
		}
		sc.labels[nl] = uint8(n)
		nl++
		sc.key[n] = byte(l)
		n++
		for _, c := range q[off+1 : off+1+l] {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			sc.key[n] = c
			n++
		}
		off += 1 + l
	}
	if off+4 > len(q) || be16(q[off+2:]) != dns.ClassINET {
		return p, false
	}
	p.nameLen, p.nlabels, p.qtype = n, nl, be16(q[off:])
	off += 4
	p.qend = off
	if isMetaType(p.qtype) {
		return p, false
	}
	if be16(q[10:]) == 1 {
		if off+optLen > len(q) || q[off] != 0 || be16(q[off+1:]) != dns.TypeOPT || q[off+6] != 0 {
			return p, false
		}
		p.edns, p.ednsSize, p.do = true, be16(q[off+3:]), q[off+7]&0x80 != 0
		off += optLen + int(be16(q[off+9:]))
	}
	return p, off == len(q)
}

// isMetaType reports the qtypes the fast path leaves to the slow path.
func isMetaType(t uint16) bool {
	switch t {
	case dns.TypeOPT, dns.TypeAXFR, dns.TypeIXFR, dns.TypeMAILA, dns.TypeMAILB, dns.TypeTSIG, dns.TypeTKEY:
		return true
	}
	return false
}

// inZone reports whether the parsed name lies at or below the origin.
func (idx *index) inZone(sc *scratch, p question) bool {
	start := p.nameLen - len(idx.originWire)
	if start < 0 || string(sc.key[start:p.nameLen]) != string(idx.originWire) {
		return false
	}
	if start == 0 {
		return true
	}
	for i := 0; i < p.nlabels; i++ {
		if int(sc.labels[i]) == start {
			return true
		}
	}
	return false
}

// answerFast writes the answer to a query accepted by parseFast into sc.out. It does not allocate.
func (idx *index) answerFast(q []byte, sc *scratch, p question, maxSize int) []byte {
	out := sc.out[:0]
	switch {
	case idx == nil:
		out = appendHeader(out, dns.RcodeRefused, 0, 0)
		out = append(out, q[headerLen:p.qend]...)
	default:
		key := sc.key[:p.nameLen]
		if off := idx.names.lookup(key, idx.names.hash(key)); off >= 0 {
			msg, nodata := idx.names.answer(off, p.qtype)
			out = append(out, msg...)
			copy(out[headerLen:p.qend], q[headerLen:p.qend])
			if nodata {
				out[9] = 1 // NSCOUNT: the SOA
				out = idx.appendSOATail(out, p)
			}
		} else if idx.inZone(sc, p) {
			out = appendHeader(out, dns.RcodeNameError, flagAA, 1)
			out = append(out, q[headerLen:p.qend]...)
			out = idx.appendSOATail(out, p)
		} else {
			out = appendHeader(out, dns.RcodeRefused, 0, 0)
			out = append(out, q[headerLen:p.qend]...)
		}
	}
	out[0], out[1] = q[0], q[1]
	out[2] = out[2]&^flagRD | q[2]&flagRD
	out[3] = out[3]&^flagCD | q[3]&flagCD
	if p.edns {
		out = appendOPT(out, p.do)
	}
	if len(out) > maxSize {
		out = truncate(out, p.qend, p.edns, p.do)
	}
	return out
}

// appendSOATail appends the authority section of a negative answer, the zone's SOA, to out,
// which ends with the question p: the SOA's owner is a compression pointer to the origin inside
// the question's name.
func (idx *index) appendSOATail(out []byte, p question) []byte {
	at := len(out)
	ptr := headerLen + p.nameLen - len(idx.originWire)
	out = append(out, idx.nxTail...)
	out[at] = 0xC0 | byte(ptr>>8)
	out[at+1] = byte(ptr)
	return out
}

// udpLimit is the largest UDP answer for a query: 512 without EDNS, else the client's size
// clamped to [512, max].
func udpLimit(p question, max int) int {
	if !p.edns || p.ednsSize <= minUDP {
		return minUDP
	}
	return min(int(p.ednsSize), max)
}

// truncate cuts an answer that does not fit to its header and question, with TC set.
func truncate(out []byte, qend int, edns, do bool) []byte {
	out = out[:qend]
	out[2] |= flagTC
	out[6], out[7], out[8], out[9], out[10], out[11] = 0, 0, 0, 0, 0, 0
	if edns {
		out = appendOPT(out, do)
	}
	return out
}

// appendHeader appends a response header with id 0, one question and nscount records in the
// authority section.
func appendHeader(out []byte, rcode int, flags byte, nscount byte) []byte {
	return append(out, 0, 0, flagQR|flags, byte(rcode), 0, 1, 0, 0, 0, nscount, 0, 0)
}

// appendOPT appends our OPT record and counts it in ARCOUNT.
func appendOPT(out []byte, do bool) []byte {
	var d byte
	if do {
		d = 0x80
	}
	out = append(out, 0, byte(dns.TypeOPT>>8), byte(dns.TypeOPT), byte(advertisedUDP>>8), byte(advertisedUDP&0xff),
		0, 0, d, 0, 0, 0)
	ar := be16(out[10:]) + 1
	out[10], out[11] = byte(ar>>8), byte(ar)
	return out
}

func be16(b []byte) uint16 { return uint16(b[0])<<8 | uint16(b[1]) }

// advertisedUDP is the EDNS buffer size we announce (DNS flag day 2020).
const advertisedUDP = 1232

// handle answers one raw query. It returns the answer, or nil to drop the query; xfr is non-nil
// when the query is a zone transfer the caller must stream (TCP only).
func (s *Server) handle(q []byte, sc *scratch, tcp bool, remote netip.Addr) (out []byte, xfr *dns.Msg) {
	idx := s.idx.Load()
	if p, ok := parseFast(q, sc); ok {
		limit := maxMsg
		if !tcp {
			limit = udpLimit(p, s.maxUDP)
		}
		out = idx.answerFast(q, sc, p, limit)
		s.metrics.query(p.qtype, out)
		return s.limit(out, q, tcp, remote), nil
	}
	out, xfr = s.answerSlow(idx, q, sc, tcp, remote)
	if xfr != nil {
		return nil, xfr
	}
	if out == nil {
		s.metrics.drop()
		return nil, nil
	}
	var qtype uint16
	if be16(out[4:]) == 1 {
		if _, off, err := dns.UnpackDomainName(out, headerLen); err == nil && off+2 <= len(out) {
			qtype = be16(out[off:])
		}
	}
	s.metrics.query(qtype, out)
	return s.limit(out, q, tcp, remote), nil
}

// limit applies response rate limiting to a UDP answer: it returns out, its truncated form, or
// nil to drop it.
func (s *Server) limit(out, q []byte, tcp bool, remote netip.Addr) []byte {
	if s.rrl == nil || tcp || out == nil {
		return out
	}
	switch s.rrl.check(remote, q) {
	case rrlSlip:
		s.metrics.rateLimited("slip")
		return truncatedAnswer(out)
	case rrlDrop:
		s.metrics.rateLimited("drop")
		return nil
	}
	return out
}
