// Package core benchmarks the replicated master core end to end: it builds csetd, starts a
// three-master cluster on loopback with tuned Raft timings, and measures API write throughput
// (every write is one Raft commit) with 1 and 64 concurrent gRPC clients, against the leader and
// through a follower, and the time from kill -9 of the leader to the next accepted write. Its
// anchors are bare hashicorp/raft rings with csetd's stores and a trivial FSM: three nodes in
// this process (BenchmarkRaftCeiling) and three processes (BenchmarkRaftProcesses, which
// re-runs this test binary as each node).
//
// The package has no code outside its benchmarks. Run it with `make bench` or
//
//	go test -run '^$' -bench . -benchtime 1x ./bench/core/
//
// and see docs/benchmarks.md for the numbers and how they were taken.
package core
