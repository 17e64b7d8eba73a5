// Package fsm is cset's replicated state machine: it applies committed Raft log entries to the
// cluster-set state (the cluster set, members and their servers, workloads and placements, fault
// domains, availability sets, masters, operations and the bounded event ring), takes streamed
// snapshots and restores them atomically, and offers read-only views of the state.
//
// Apply is deterministic: it never reads the clock, randomness, configuration, the environment or
// the network. Timestamps and ids are stamped by the leader into the LogEntry before it is
// proposed. A log entry that cannot be decoded stops the process (a replica that cannot apply
// must not diverge); a command that breaks a business rule returns an *Error value as the Raft
// response, identically on every master.
//
// FSM is safe for concurrent use: raft calls Apply, Snapshot and Restore from its own goroutine
// while the API, DNS and controller read through the view methods, which return copies.
package fsm
