// Package ecxsim simulates NEC EXPRESSCLUSTER X (ECX) failover clusters well enough that what passes
// against it passes against a real cluster (see docs/ecx.md and
// docs/ecxsim.md).
//
// One Sim holds any number of clusters. Every simulated server serves the ECX RESTful API
// (/api/v1/...) on its own listener (HTTPS with a certificate from a generated CA when the
// configuration has a tls section, tls.go) with HTTP Basic auth, the exact response envelope
// {"result":{"code":N,"message":"..."}, <plural key>: [...]}, the exact status strings and the
// asynchronous operations of ECX: a POST is accepted at once and the object then moves through
// "Online Pending" or "Offline Pending" to "Online", "Online Failure" or "Offline".
//
// Inside a cluster groups fail over by their server priority after the heartbeat timeout, a group
// never runs on two servers of one cluster, servers heartbeat to a witness (POST /v1/heartbeat) and a
// server that hears neither a peer nor the witness shuts itself down after the heartbeat timeout,
// like ECX's default network-partition action.
//
// A control API (HTTP + JSON under /sim/v1, and the same calls as Go methods on Sim) injects faults:
// servers or clusters down and up, REST isolation, latency, error responses (with an error status
// or inside HTTP 200), failing group starts and stops ("Online Failure", "Offline Failure"),
// servers whose state cannot be read ("Unknown"), interconnect and witness cuts. The REST API also
// serves the dummy failures of servers and monitors and the mirror actions of NEC's newest tool.
// A group can serve its own addresses (GroupConfig.Serve, service.go) while it is Online, like an
// application behind its floating IP, so that a reachability probe tests something real; the
// control call SetServiceMode makes such a service refuse, hang or fail while ECX still reports
// the group Online. Every interval in which a group was online is kept in an audit log,
// and CheckNoDoubleOnline proves that no group name was online in two clusters at the same instant.
//
// All time-driven behaviour (transitions, heartbeats, failure detection) runs on one scheduler per
// Sim, not one goroutine per object, so one process can simulate thousands of clusters. A Sim is safe
// for concurrent use. The package never imports ecxclient: the client contract is tested against an
// independent implementation.
package ecxsim
