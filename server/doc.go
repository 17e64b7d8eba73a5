// Package server is one cset master: it owns the Raft instance and its stores, serves the public
// gRPC API (forwarding writes and consistent reads to the leader), the HTTP endpoints for metrics
// and health, and starts and stops the leader-only work when leadership changes.
//
// Writes go through a single raftApply helper; every write handler is reached only on the leader
// because a unary interceptor forwards writes from followers first. See DESIGN.md in this
// directory for the flows and invariants.
package server
