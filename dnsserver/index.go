package dnsserver

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// SOA timers. cset NOTIFYs its secondaries on every change, so refresh only bounds how long a
// secondary that missed a NOTIFY stays behind.
const (
	soaRefresh = 300
	soaRetry   = 60
	soaExpire  = 1209600
)

// index is an immutable, pre-packed view of one Zone. Every answer the fast path can give is a
// complete DNS message built here for a lower-case question; the query path copies it, patches the
// id, the flags and the question as sent, and is done.
type index struct {
	origin     string // lower-case FQDN
	originWire []byte // lower-case wire form
	serial     uint32
	ttl        uint32
	soa        *dns.SOA // TTL = zone TTL
	// names holds, for every existing name, its pre-packed answers by qtype and its NODATA
	// answer (table.go).
	names *table
	// nxTail is the authority section of NXDOMAIN answers: the SOA with its first two bytes left
	// for a compression pointer to the origin inside the question.
	nxTail []byte
	// records is the zone content in transfer order, SOA first, without the closing SOA.
	records []dns.RR
}

// answer is a pre-packed positive answer of one name for one qtype.
type answer struct {
	qtype uint16
	msg   []byte
}

// builder collects RRsets by lower-case owner name before packing.
type builder struct {
	origin string
	rrsets map[string]map[uint16][]dns.RR
	exists map[string]bool
}

func (b *builder) add(rr dns.RR) {
	name := rr.Header().Name
	if b.rrsets[name] == nil {
		b.rrsets[name] = map[uint16][]dns.RR{}
	}
	b.rrsets[name][rr.Header().Rrtype] = append(b.rrsets[name][rr.Header().Rrtype], rr)
	b.exists[name] = true
}

func hdr(name string, rrtype uint16, ttl uint32) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: rrtype, Class: dns.ClassINET, Ttl: ttl}
}

// addrRR returns an A or AAAA record for addr.
func addrRR(name string, addr netip.Addr, ttl uint32) dns.RR {
	addr = addr.Unmap()
	if addr.Is4() {
		a := addr.As4()
		return &dns.A{Hdr: hdr(name, dns.TypeA, ttl), A: a[:]}
	}
	a := addr.As16()
	return &dns.AAAA{Hdr: hdr(name, dns.TypeAAAA, ttl), AAAA: a[:]}
}

// relName validates a relative name and returns "<rel>.<origin>" in lower case.
func relName(rel, origin string) (string, error) {
	rel = strings.ToLower(strings.TrimSuffix(rel, "."))
	if rel == "" || strings.ContainsAny(rel, " \\\"();@$") {
		return "", fmt.Errorf("invalid relative name %q", rel)
	}
	name := rel + "." + origin
	if _, ok := dns.IsDomainName(name); !ok || len(name) > 254 {
		return "", fmt.Errorf("invalid name %q", name)
	}
	return name, nil
}

// nsHost returns the host name served for a nameserver.
func nsHost(ns Nameserver, origin string) (string, error) {
	if strings.HasSuffix(ns.Name, ".") {
		name := strings.ToLower(ns.Name)
		if _, ok := dns.IsDomainName(name); !ok {
			return "", fmt.Errorf("invalid nameserver name %q", ns.Name)
		}
		return name, nil
	}
	return relName(ns.Name+".ns", origin)
}

// buildIndex turns z into an index. A nil zone or an invalid origin yields an error and no
// index; an invalid nameserver or workload is skipped and reported in problems.
func buildIndex(z *Zone) (idx *index, problems []error, err error) {
	if z == nil {
		return nil, nil, errors.New("no zone")
	}
	origin := dns.CanonicalName(z.Origin)
	if _, ok := dns.IsDomainName(origin); !ok || origin == "." || strings.ContainsAny(origin, " \\\"") {
		return nil, nil, fmt.Errorf("invalid zone origin %q", z.Origin)
	}
	b := &builder{origin: origin, rrsets: map[string]map[uint16][]dns.RR{}, exists: map[string]bool{}}
	idx = &index{origin: origin, serial: z.Serial, ttl: z.TTL}
	idx.originWire = wireName(origin)

	hosts := make([]string, 0, len(z.Nameservers))
	for _, ns := range z.Nameservers {
		host, err := nsHost(ns, origin)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		if slices.Contains(hosts, host) {
			problems = append(problems, fmt.Errorf("duplicate nameserver %q", host))
			continue
		}
		hosts = append(hosts, host)
		b.add(&dns.NS{Hdr: hdr(origin, dns.TypeNS, z.TTL), Ns: host})
		if dns.IsSubDomain(origin, host) {
			for _, a := range ns.Addrs {
				if a.IsValid() {
					b.add(addrRR(host, a, z.TTL))
				}
			}
		}
	}
	mname := "ns." + origin
	if len(hosts) > 0 {
		mname = slices.Min(hosts)
	}
	idx.soa = &dns.SOA{Hdr: hdr(origin, dns.TypeSOA, z.TTL), Ns: mname, Mbox: "hostmaster." + origin,
		Serial: z.Serial, Refresh: soaRefresh, Retry: soaRetry, Expire: soaExpire, Minttl: z.NegativeTTL}
	b.add(idx.soa)

	seen := map[string]bool{}
	for _, w := range z.Workloads {
		if err := b.addWorkload(w, z.TTL, seen); err != nil {
			problems = append(problems, err)
		}
	}
	b.addEmptyNonTerminals()

	negSOA := dns.Copy(idx.soa).(*dns.SOA)
	negSOA.Hdr.Ttl = z.NegativeTTL
	if err := idx.pack(b, negSOA); err != nil {
		return nil, problems, err
	}
	return idx, problems, nil
}

func (b *builder) addWorkload(w WorkloadRecord, ttl uint32, seen map[string]bool) error {
	name, err := relName(w.Name, b.origin)
	if err != nil {
		return fmt.Errorf("workload %q: %w", w.Name, err)
	}
	if seen[name] {
		return fmt.Errorf("workload %q: duplicate name", w.Name)
	}
	seen[name] = true
	b.exists[name] = true
	srvNames := make([]string, 0, len(w.Services))
	for _, svc := range w.Services {
		sn, err := relName(svc.Name+"."+strings.TrimSuffix(name, "."+b.origin), b.origin)
		if err != nil {
			return fmt.Errorf("workload %q service %q: %w", w.Name, svc.Name, err)
		}
		srvNames = append(srvNames, sn)
		b.exists[sn] = true
	}
	if !w.Online {
		return nil
	}
	for _, a := range w.Addrs {
		if a.IsValid() {
			b.add(addrRR(name, a, ttl))
		}
	}
	b.add(&dns.TXT{Hdr: hdr(name, dns.TypeTXT, ttl), Txt: []string{txtValue(w)}})
	for i, svc := range w.Services {
		b.add(&dns.SRV{Hdr: hdr(srvNames[i], dns.TypeSRV, ttl), Priority: svc.Priority, Weight: svc.Weight,
			Port: svc.Port, Target: name})
	}
	return nil
}

// txtValue is the TXT string served for an online workload.
func txtValue(w WorkloadRecord) string {
	return "member=" + w.Member + " server=" + w.Server
}

// addEmptyNonTerminals marks every ancestor of an existing name, down to the origin, as existing,
// so that it answers NODATA rather than NXDOMAIN.
func (b *builder) addEmptyNonTerminals() {
	for name := range b.exists {
		if !dns.IsSubDomain(b.origin, name) {
			continue
		}
		for n := name; n != b.origin; {
			i := strings.IndexByte(n, '.')
			n = n[i+1:]
			if b.exists[n] {
				break
			}
			b.exists[n] = true
		}
	}
}

// pack builds every pre-packed answer and the transfer list.
func (idx *index) pack(b *builder, negSOA *dns.SOA) error {
	var err error
	tail, err := packTail(negSOA, len(idx.originWire))
	if err != nil {
		return err
	}
	idx.nxTail = tail
	names := make([]string, 0, len(b.exists))
	for name := range b.exists {
		names = append(names, name)
	}
	slices.Sort(names)
	idx.names = newTable(len(names))
	idx.names.data = make([]byte, 0, 256*len(names))
	var answers []answer
	pk := &packer{buf: make([]byte, 0, 4*maxMsg)}
	for _, name := range names {
		if !dns.IsSubDomain(idx.origin, name) {
			continue // an out-of-zone nameserver: served nowhere
		}
		answers, pk.buf = answers[:0], pk.buf[:0]
		nodata, err := pk.pack(name, dns.RcodeSuccess, nil, []dns.RR{negSOA}, nil)
		if err != nil {
			return fmt.Errorf("pack nodata %s: %w", name, err)
		}
		types := make([]uint16, 0, len(b.rrsets[name]))
		for t := range b.rrsets[name] {
			types = append(types, t)
		}
		slices.Sort(types)
		for _, t := range types {
			rrs := b.rrsets[name][t]
			sortRRs(rrs)
			msg, err := pk.pack(name, dns.RcodeSuccess, rrs, nil, b.additional(rrs))
			if err != nil {
				return fmt.Errorf("pack %s %s: %w", name, dns.TypeToString[t], err)
			}
			answers = append(answers, answer{qtype: t, msg: msg})
		}
		if len(types) > 0 {
			hinfo := &dns.HINFO{Hdr: hdr(name, dns.TypeHINFO, idx.ttl), Cpu: "RFC8482"}
			msg, err := pk.pack(name, dns.RcodeSuccess, []dns.RR{hinfo}, nil, nil)
			if err != nil {
				return fmt.Errorf("pack %s ANY: %w", name, err)
			}
			answers = append(answers, answer{qtype: dns.TypeANY, msg: msg})
		}
		if err := idx.names.add(wireName(name), answers, nodata); err != nil {
			return fmt.Errorf("index %s: %w", name, err)
		}
	}
	idx.records = transferList(b, names, idx.soa)
	return nil
}

// additional returns the in-zone addresses of the targets of NS and SRV records.
func (b *builder) additional(rrs []dns.RR) []dns.RR {
	var extra []dns.RR
	for _, rr := range rrs {
		var target string
		switch rr := rr.(type) {
		case *dns.NS:
			target = rr.Ns
		case *dns.SRV:
			target = rr.Target
		default:
			continue
		}
		extra = append(extra, b.rrsets[target][dns.TypeA]...)
		extra = append(extra, b.rrsets[target][dns.TypeAAAA]...)
	}
	return extra
}

func transferList(b *builder, names []string, soa *dns.SOA) []dns.RR {
	out := []dns.RR{soa}
	out = append(out, b.rrsets[b.origin][dns.TypeNS]...)
	for _, name := range names {
		types := make([]uint16, 0, len(b.rrsets[name]))
		for t := range b.rrsets[name] {
			if name == b.origin && (t == dns.TypeSOA || t == dns.TypeNS) {
				continue
			}
			types = append(types, t)
		}
		slices.Sort(types)
		for _, t := range types {
			out = append(out, b.rrsets[name][t]...)
		}
	}
	return out
}

// sortRRs orders an RRset by its presentation form, so answers are deterministic.
func sortRRs(rrs []dns.RR) {
	slices.SortFunc(rrs, func(a, b dns.RR) int { return strings.Compare(a.String(), b.String()) })
}

// packer packs the answers of one name into a buffer reused for every name (they are copied
// into the table before the next name).
type packer struct {
	buf []byte
	m   dns.Msg
	q   [1]dns.Question
}

// pack packs a complete authoritative response with id 0 and the question name/IN/A; the query
// path overwrites the id, flags and question bytes. The answer is valid until buf is reset.
func (p *packer) pack(qname string, rcode int, answer, ns, extra []dns.RR) ([]byte, error) {
	p.m = dns.Msg{Compress: true}
	p.m.Response = true
	p.m.Authoritative = true
	p.m.Rcode = rcode
	p.q[0] = dns.Question{Name: qname, Qtype: dns.TypeA, Qclass: dns.ClassINET}
	p.m.Question = p.q[:]
	p.m.Answer, p.m.Ns, p.m.Extra = answer, ns, extra
	start := len(p.buf)
	out, err := p.m.PackBuffer(p.buf[start:cap(p.buf)])
	if err != nil {
		return nil, err
	}
	if len(out) <= cap(p.buf)-start && cap(p.buf) > start && &out[0] == &p.buf[start:cap(p.buf)][0] {
		p.buf = p.buf[:start+len(out)] // packed in place
	}
	return out, nil
}

// packTail packs rr uncompressed and replaces its owner name (the origin, originLen bytes in wire
// form) by a two-byte placeholder for a compression pointer.
func packTail(rr dns.RR, originLen int) ([]byte, error) {
	buf := make([]byte, dns.Len(rr)+16)
	n, err := dns.PackRR(rr, buf, 0, nil, false)
	if err != nil {
		return nil, fmt.Errorf("pack soa: %w", err)
	}
	tail := make([]byte, 0, n-originLen+2)
	tail = append(tail, 0xC0, 0)
	return append(tail, buf[originLen:n]...), nil
}

// wireName returns the lower-case uncompressed wire form of a valid FQDN.
func wireName(name string) []byte {
	buf := make([]byte, 256)
	n, err := dns.PackDomainName(name, buf, 0, nil, false)
	if err != nil {
		return nil
	}
	return lowerASCII(buf[:n])
}

func lowerASCII(b []byte) []byte {
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return b
}
