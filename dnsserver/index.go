package dnsserver

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"

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
	// nxTail is the authority section of NXDOMAIN and NODATA answers: the SOA with its first two
	// bytes left for a compression pointer to the origin inside the question (appendSOATail).
	nxTail []byte
	// transfer returns the zone content in transfer order, SOA first, without the closing SOA
	// (records); it is made at the first transfer, not at every change.
	transfer    func() []dns.RR
	recordsOnce sync.Once
	recordsList []dns.RR
	// workloads holds what each workload (by WorkloadRecord.Name) made of its names, for the next
	// build (buildIndexFrom); nil when the zone was built whole.
	workloads map[string]*packedWorkload
}

// records returns the zone content in transfer order, SOA first, without the closing SOA.
func (idx *index) records() []dns.RR {
	idx.recordsOnce.Do(func() { idx.recordsList = idx.transfer() })
	return idx.recordsList
}

// packedName is one name's entry of the table (its answers by qtype and its NODATA answer,
// encodeEntry), with its records for transfers.
type packedName struct {
	name  string // lower-case FQDN
	entry []byte
	hash  uint64   // hashKey of the name's wire form
	rrs   []dns.RR // in transfer order; none for the origin's SOA and NS
}

// packedWorkload is what one workload made of its names in an index.
type packedWorkload struct {
	rec   WorkloadRecord
	names []*packedName
	// ancestors are the names between the workload's names and the origin that it does not own
	// itself: empty non-terminals unless another owner has them.
	ancestors []string
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
	return buildIndexFrom(nil, z)
}

// buildIndexFrom is buildIndex reusing what prev, the index served before, made of the
// workloads that did not change: their names' answers are kept as they were packed, so a change
// of a few workloads re-packs a few names, not the zone (the serial is not in any name's
// answers: negative answers get the SOA at query time). A zone in which a workload is invalid or
// shares a name with another workload or a nameserver is built whole, as buildIndexFull does.
func buildIndexFrom(prev *index, z *Zone) (idx *index, problems []error, err error) {
	b, idx, problems, err := zoneApex(z)
	if err != nil {
		return nil, nil, err
	}
	owned := make(map[string]bool, len(b.exists)+2*len(z.Workloads))
	for name := range b.exists {
		owned[name] = true
	}
	reuse := prev != nil && prev.origin == idx.origin && prev.ttl == idx.ttl && prev.workloads != nil
	idx.workloads = make(map[string]*packedWorkload, len(z.Workloads))
	pws := make([]*packedWorkload, 0, len(z.Workloads)) // in the zone's order
	pk := &packer{buf: make([]byte, 0, 4*maxMsg)}
	wb := &builder{origin: idx.origin, rrsets: map[string]map[uint16][]dns.RR{}, exists: map[string]bool{}}
	for _, w := range z.Workloads {
		var pw *packedWorkload
		if reuse {
			if old := prev.workloads[w.Name]; old != nil && old.rec.equal(w) {
				pw = old
			}
		}
		if pw == nil {
			if pw, err = wb.packWorkload(pk, idx.ttl, w); err != nil {
				return buildIndexFull(z) // reports the problem as the full build does
			}
		}
		if idx.workloads[w.Name] != nil {
			return buildIndexFull(z)
		}
		for _, pn := range pw.names {
			if owned[pn.name] {
				return buildIndexFull(z) // a name two owners share: their records merge
			}
			owned[pn.name] = true
		}
		idx.workloads[w.Name] = pw
		pws = append(pws, pw)
	}
	apex, err := b.packNames(pk, idx.origin, idx.ttl, sortedKeys(b.exists))
	if err != nil {
		return nil, problems, err
	}
	ents := emptyNonTerminals(idx.origin, maps.Clone(b.exists))
	for _, name := range ents {
		owned[name] = true
	}
	for _, pw := range pws {
		for _, a := range pw.ancestors {
			if !owned[a] {
				owned[a] = true
				ents = append(ents, a)
			}
		}
	}
	size := 0
	for _, pn := range apex {
		size += len(pn.entry)
	}
	for _, name := range ents {
		size += 2*len(name) + 22 // key and nodataMsg: 2+len(name) each, plus the directory
	}
	for _, pw := range pws {
		for _, pn := range pw.names {
			size += len(pn.entry)
		}
	}
	idx.names = newTable(len(owned), size)
	var tableErr error
	add := func(pn *packedName) {
		if err := idx.names.addEntry(pn.entry, pn.hash); err != nil && tableErr == nil {
			tableErr = fmt.Errorf("index %s: %w", pn.name, err)
		}
	}
	for _, pn := range apex {
		add(pn)
	}
	for _, name := range ents {
		key := wireName(name)
		entry, err := encodeEntry(nil, key, nil, nodataMsg(key))
		if err != nil {
			return nil, problems, fmt.Errorf("index %s: %w", name, err)
		}
		add(&packedName{name: name, entry: entry, hash: hashKey(key)})
	}
	for _, pw := range pws {
		for _, pn := range pw.names {
			add(pn)
		}
	}
	if tableErr != nil {
		return nil, problems, tableErr
	}
	idx.transfer = func() []dns.RR {
		all := slices.Clone(apex)
		for _, pw := range pws {
			all = append(all, pw.names...)
		}
		return transferRecords(idx.soa, b.rrsets[idx.origin][dns.TypeNS], all)
	}
	return idx, problems, nil
}

// buildIndexFull builds the index of z from nothing, every name packed from the records that all
// of its owners (nameservers, workloads) give it.
func buildIndexFull(z *Zone) (idx *index, problems []error, err error) {
	b, idx, problems, err := zoneApex(z)
	if err != nil {
		return nil, nil, err
	}
	seen := map[string]bool{}
	for _, w := range z.Workloads {
		if err := b.addWorkload(w, z.TTL, seen); err != nil {
			problems = append(problems, err)
		}
	}
	b.addEmptyNonTerminals()
	pns, err := b.packNames(&packer{buf: make([]byte, 0, 4*maxMsg)}, idx.origin, idx.ttl, sortedKeys(b.exists))
	if err != nil {
		return nil, problems, err
	}
	size := 0
	for _, pn := range pns {
		size += len(pn.entry)
	}
	idx.names = newTable(len(pns), size)
	for _, pn := range pns {
		if err := idx.names.addEntry(pn.entry, pn.hash); err != nil {
			return nil, problems, fmt.Errorf("index %s: %w", pn.name, err)
		}
	}
	idx.transfer = func() []dns.RR { return transferRecords(idx.soa, b.rrsets[idx.origin][dns.TypeNS], pns) }
	return idx, problems, nil
}

// zoneApex starts the index of z: the origin, the serial, the TTLs, the SOA and the
// nameservers, with the records of the origin and the nameserver hosts in b.
func zoneApex(z *Zone) (b *builder, idx *index, problems []error, err error) {
	if z == nil {
		return nil, nil, nil, errors.New("no zone")
	}
	origin := dns.CanonicalName(z.Origin)
	if _, ok := dns.IsDomainName(origin); !ok || origin == "." || strings.ContainsAny(origin, " \\\"") {
		return nil, nil, nil, fmt.Errorf("invalid zone origin %q", z.Origin)
	}
	b = &builder{origin: origin, rrsets: map[string]map[uint16][]dns.RR{}, exists: map[string]bool{}}
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
	negSOA := dns.Copy(idx.soa).(*dns.SOA)
	negSOA.Hdr.Ttl = z.NegativeTTL
	if idx.nxTail, err = packTail(negSOA, len(idx.originWire)); err != nil {
		return nil, nil, problems, err
	}
	return b, idx, problems, nil
}

// packWorkload packs the names of one workload on their own, with b emptied first: valid only
// when no other owner gives them records (buildIndexFrom checks).
func (b *builder) packWorkload(pk *packer, ttl uint32, w WorkloadRecord) (*packedWorkload, error) {
	clear(b.rrsets)
	clear(b.exists)
	if err := b.addWorkload(w, ttl, map[string]bool{}); err != nil {
		return nil, err
	}
	pns, err := b.packNames(pk, b.origin, ttl, sortedKeys(b.exists))
	if err != nil {
		return nil, err
	}
	pw := &packedWorkload{rec: w.clone(), names: pns}
	for _, pn := range pns {
		for n := pn.name; n != b.origin; {
			n = n[strings.IndexByte(n, '.')+1:]
			if n != b.origin && !b.exists[n] && !slices.Contains(pw.ancestors, n) {
				pw.ancestors = append(pw.ancestors, n)
			}
		}
	}
	return pw, nil
}

// emptyNonTerminals returns the ancestors of the names in owned, down to the origin, that are not
// in owned themselves (they answer NODATA rather than NXDOMAIN), and adds them to owned.
func emptyNonTerminals(origin string, owned map[string]bool) []string {
	var ents []string
	for name := range owned {
		if !dns.IsSubDomain(origin, name) {
			continue
		}
		for n := name; n != origin; {
			n = n[strings.IndexByte(n, '.')+1:]
			if owned[n] {
				break
			}
			owned[n] = true
			ents = append(ents, n)
		}
	}
	return ents
}

// nodataMsg is the NODATA answer (without its authority section) of the name whose lower-case
// wire form is key, as packer.pack packs it: the query path patches the id, the flags and the
// question and appends the SOA.
func nodataMsg(key []byte) []byte {
	msg := make([]byte, 0, headerLen+len(key)+4)
	msg = append(msg, 0, 0, flagQR|flagAA, 0, 0, 1, 0, 0, 0, 0, 0, 0)
	msg = append(msg, key...)
	return append(msg, 0, byte(dns.TypeA), 0, byte(dns.ClassINET))
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
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
func (b *builder) addEmptyNonTerminals() { emptyNonTerminals(b.origin, b.exists) }

// packNames packs the answers of each of names (in zone; others are skipped: an out-of-zone
// nameserver is served nowhere) from b's records.
func (b *builder) packNames(pk *packer, origin string, ttl uint32, names []string) ([]*packedName, error) {
	out := make([]*packedName, 0, len(names))
	var answers []answer
	for _, name := range names {
		if !dns.IsSubDomain(origin, name) {
			continue
		}
		answers, pk.buf = answers[:0], pk.buf[:0]
		nodata, err := pk.pack(name, dns.RcodeSuccess, nil, nil, nil) // the SOA is appended at query time
		if err != nil {
			return nil, fmt.Errorf("pack nodata %s: %w", name, err)
		}
		types := make([]uint16, 0, len(b.rrsets[name]))
		for t := range b.rrsets[name] {
			types = append(types, t)
		}
		slices.Sort(types)
		var rrs []dns.RR
		for _, t := range types {
			set := b.rrsets[name][t]
			sortRRs(set)
			msg, err := pk.pack(name, dns.RcodeSuccess, set, nil, b.additional(set))
			if err != nil {
				return nil, fmt.Errorf("pack %s %s: %w", name, dns.TypeToString[t], err)
			}
			answers = append(answers, answer{qtype: t, msg: msg})
			if name != origin || t != dns.TypeSOA && t != dns.TypeNS {
				rrs = append(rrs, set...)
			}
		}
		if len(types) > 0 {
			hinfo := &dns.HINFO{Hdr: hdr(name, dns.TypeHINFO, ttl), Cpu: "RFC8482"}
			msg, err := pk.pack(name, dns.RcodeSuccess, []dns.RR{hinfo}, nil, nil)
			if err != nil {
				return nil, fmt.Errorf("pack %s ANY: %w", name, err)
			}
			answers = append(answers, answer{qtype: dns.TypeANY, msg: msg})
		}
		pn, err := newPackedName(name, answers, nodata, rrs)
		if err != nil {
			return nil, err
		}
		out = append(out, pn)
	}
	return out, nil
}

// newPackedName encodes the table entry of name from answers, which point into a packer's
// buffer.
func newPackedName(name string, answers []answer, nodata []byte, rrs []dns.RR) (*packedName, error) {
	key := wireName(name)
	size := 1 + len(key) + 1 + 4*len(answers) + 2 + len(nodata)
	for _, a := range answers {
		size += len(a.msg)
	}
	entry, err := encodeEntry(make([]byte, 0, size), key, answers, nodata)
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", name, err)
	}
	return &packedName{name: name, entry: entry, hash: hashKey(key), rrs: rrs}, nil
}

// hashKey is the hash every table of this process gives the wire name key.
func hashKey(key []byte) uint64 { return (&table{seed: hashSeed}).hash(key) }

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

// transferRecords is the zone in transfer order without the closing SOA: the SOA, the origin's
// NS records, then every name's records by name (packedName.rrs).
func transferRecords(soa *dns.SOA, ns []dns.RR, names []*packedName) []dns.RR {
	names = slices.Clone(names)
	slices.SortFunc(names, func(a, b *packedName) int { return strings.Compare(a.name, b.name) })
	out := append([]dns.RR{soa}, ns...)
	for _, pn := range names {
		out = append(out, pn.rrs...)
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
