// Package controllerbench benchmarks the leader's controller (issue 6, docs/design.md, "The controller") in
// one process: a real master (BoltDB log, TCP Raft transport, gRPC API on 127.0.0.1), an
// in-process witness, and the ECX simulator.
//
//   - BenchmarkFailover kills the member that runs a workload and times, over 20 runs, detection,
//     decision, fencing, start and commit until the workload is Online on another member with
//     its new placement committed; it reports the control overhead (everything but the
//     configured detection window and the simulated start time).
//   - BenchmarkScale has one leader poll 1,000 simulated members (2 servers and 10 groups each,
//     in an ecxsim child process) every second with 10,000 workloads registered, and measures the
//     leader's CPU and memory and the Raft entries it writes while nothing changes.
//
// The package has no code outside its benchmarks. Run it with `make bench` or
//
//	go test -run '^$' -bench . -benchtime 1x ./bench/controller/
//
// and see docs/benchmarks-controller.md for the numbers and how they were taken.
package controllerbench
