// Package witness implements the cset witness: the third-site arbiter that grants the master
// lease and records ECX server heartbeats (docs/design.md, "Split-brain protection"; docs/witness.md, "Protocol").
//
// The package has five parts:
//
//   - Server, run by `csetd witness`: the HTTP+JSON protocol, the lease rules, the two token
//     scopes (masters' leases, ECX servers' heartbeats), durable state and Prometheus metrics.
//     NewServer loads the state from ServerConfig.DataDir; NewHTTPServer serves its Handler with
//     timeouts and a connection limit (HTTPLimits, ConnLimiter); Close flushes and unlocks the
//     data directory.
//   - Client: one call per protocol endpoint (Acquire, Release, ResetLease, Heartbeat, Cluster, Ping), with
//     a deadline per call, the bearer token and TLS.
//   - Lease: keeps one master's lease renewed every TTL/3 while Run is active, and knows until
//     when the master holds it, counted from the time each request was sent minus a drift margin.
//   - Quorum and QuorumLease: an odd number of witnesses used as one (docs/witness.md, "Several
//     witnesses"): a heartbeat is acknowledged, a cluster silent and the lease held only by a
//     majority of them; with one witness they behave as its Client and Lease.
//   - Fence: the check the controller makes before every mutating ECX call: Raft leader and
//     holder of an unexpired lease for the current term (or, without a witness, VerifyLeader);
//     the lease is a FenceLease: a Lease or a QuorumLease.
//
// The package imports only the standard library, hclog and the Prometheus client; it knows
// nothing of Raft, which it sees through the LeaderState interface it declares.
// See DESIGN.md in this directory for the rules and their safety arguments.
package witness
