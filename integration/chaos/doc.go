// Package chaos is cset's fault-injection suite, in the style of the etcd robustness tests and
// Jepsen. It starts real processes on loopback (three csetd masters, a csetd witness and an
// ecxsim process simulating three ECX members with two servers each), puts a TCP fault proxy on
// every Raft, gRPC, ECX REST, witness and member-guard link, and then runs a seeded random
// schedule of faults (kill -9, SIGSTOP, partitions, one-way links, slow links, member deaths,
// isolations and site isolations, witness restarts, forced member removals, requests that must
// be refused, failing and slow handover hooks, ECX error answers) against a client load of
// registrations, updates, moves, unregistrations and consistent reads.
//
// After healing everything it checks that no workload was ever online on two members at once
// (the ecxsim audit), that the client history is linearizable (porcupine), that every
// acknowledged write is on every master, that DNS on every master names only the member where
// each workload runs, that workloads of a dead member came back within the configured bound, that
// every workload was Online and in DNS again within the liveness bound after the faults that held
// it back (docs/design.md, "Operations, failures and liveness"), and that no two runs of a handover hook overlapped.
//
// The package has no code outside its tests. TestChaos runs a short schedule in
// `go test ./integration/...` (skipped under -short); `make chaos SEED=n STEPS=n` runs long
// schedules. docs/chaos.md describes what is injected, what is checked and how to read a failure.
package chaos
