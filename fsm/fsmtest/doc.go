// Package fsmtest holds fixture factories and log helpers for tests of cset's replicated state:
// valid objects (ClusterSet, Member, Workload, ...) that tests change field by field, Entry to
// wrap any command message in a LogEntry, MakeLog to encode it into a raft.Log as raft would
// hand it to FSM.Apply, and SnapshotSink, an in-memory raft.SnapshotSink.
//
// It may only be imported from _test.go files (docs/design.md, "Packages and who may import whom"): it imports testing.
package fsmtest
