package dnsserver

import (
	"net/netip"
	"slices"
)

// Zone is everything the server needs to answer for the cluster-set zone. The server never reads
// the replicated state itself: the caller hands it a complete Zone (push model) and the server
// turns it into a pre-packed index, so the query path never calls out. A Zone handed to the server
// must not be modified afterwards.
type Zone struct {
	// Origin is the zone apex as a fully qualified name, e.g. "cset.example.com.".
	Origin string
	// TTL is the TTL of every positive answer; NegativeTTL is the SOA MINIMUM and the TTL of the
	// SOA in negative answers (RFC 2308).
	TTL, NegativeTTL uint32
	// Serial is the SOA serial: the Raft index of the last change that altered DNS data,
	// truncated to 32 bits, so that every master serves the same serial.
	Serial uint32
	// Nameservers lists every master. Each gets an NS record at the apex and glue.
	Nameservers []Nameserver
	// Workloads lists every registered workload, online or not.
	Workloads []WorkloadRecord
}

// Nameserver is one master. Name is either a single label such as "m1", served as
// "m1.ns.<origin>" with Addrs as glue A/AAAA records, or a fully qualified name ending in a dot,
// served as is (with glue only when it lies inside the zone).
type Nameserver struct {
	Name  string
	Addrs []netip.Addr
}

// WorkloadRecord is one workload. Name is its relative name in the zone ("web" serves
// "web.<origin>"); it is matched case-insensitively. When Online is true the name answers A/AAAA
// with Addrs, TXT "member=<Member> server=<Server>" and SRV for Services; otherwise the name exists
// but answers NOERROR with no data.
type WorkloadRecord struct {
	Name     string
	Online   bool
	Addrs    []netip.Addr
	Member   string
	Server   string
	Services []Service
}

// equal reports whether w and o serve the same records.
func (w WorkloadRecord) equal(o WorkloadRecord) bool {
	return w.Name == o.Name && w.Online == o.Online && w.Member == o.Member && w.Server == o.Server &&
		slices.Equal(w.Addrs, o.Addrs) && slices.Equal(w.Services, o.Services)
}

// clone returns a copy of w that shares no slice with it.
func (w WorkloadRecord) clone() WorkloadRecord {
	w.Addrs, w.Services = slices.Clone(w.Addrs), slices.Clone(w.Services)
	return w
}

// Service is a declared service port, served as "<Name>.<workload>.<origin> SRV Priority Weight
// Port <workload>.<origin>". Name is the SRV prefix, e.g. "_http._tcp".
type Service struct {
	Name     string
	Port     uint16
	Priority uint16
	Weight   uint16
}

// RecordSource supplies the zone. It is declared here and implemented by the caller (server
// adapts the replicated state to it).
//
// DNSZone returns the current zone, or nil when the cluster set has no zone yet (the server then
// refuses every query). Watch is called once by Start; the server calls DNSZone again after every
// value received on the channel. Sends may be coalesced (a channel with a buffer of one and a
// non-blocking send is enough); closing the channel stops the watching. Both must be safe for
// concurrent use.
type RecordSource interface {
	DNSZone() *Zone
	Watch() <-chan struct{}
}
