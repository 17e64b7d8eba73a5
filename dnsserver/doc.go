// Package dnsserver is cset's authoritative DNS server for the cluster-set zone (docs/design.md,
// "DNS"; docs/dns.md).
//
// The server never reads the replicated state: the caller pushes a complete Zone, through a
// RecordSource it watches or through SetZone. Each Zone is compiled into an index of pre-packed
// answers keyed by lower-cased wire name (an open-addressing table whose entries keep a name's
// key and answers together, table.go) and swapped in with an atomic pointer, so the query path
// takes no lock and, for ordinary queries, does not allocate: it parses the header and question
// in place, copies the pre-packed answer, and patches the id, the RD/CD flags and the question
// bytes as the client sent them (so the question is echoed in the client's case). Queries that
// are not plain (EDNS version > 0, odd opcodes and classes, meta types, compressed questions,
// TSIG, transfers) take a slow path through miekg/dns, which answers them itself or normalises
// them and hands them back to the fast path, so both paths give the same answers.
//
// Served: SOA (serial = Raft index of the last DNS change), NS for every master with glue,
// A/AAAA, TXT "member=... server=..." and optional SRV for online workloads, NODATA with the
// negative TTL for names without data (offline workloads, empty non-terminals), NXDOMAIN for
// unknown names, REFUSED outside the zone, RFC 8482 HINFO for ANY, AA always and RA never, EDNS0
// with truncation to the client's buffer (capped by Config.MaxUDPSize), AXFR and IXFR (answered
// with the full zone) over TCP to Config.AllowTransfer, NOTIFY to Config.Notify when the serial
// changes, and optionally RFC 2136 UPDATEs signed with TSIG to an external primary
// (Config.Update).
//
// UDP is served by Config.Sockets sockets bound with SO_REUSEPORT, one goroutine each (on Linux
// reading and answering batches with recvmmsg/sendmmsg made as raw system calls, udp_linux.go);
// TCP by one listener with a goroutine per connection.
package dnsserver
