// Package scheduler decides where a workload should run: it ranks the candidate members of
// a workload, and a server within each, and proposes rebalancing moves.
//
// The package is pure. It performs no I/O, reads no clock, draws no random numbers and
// starts no goroutines; it imports nothing from this module. It declares its own input
// types (State, Member, Workload, ...) and the controller adapts the replicated state to
// them, so the same input always gives the same answer on every master and in every test.
//
// Rank answers "where should workload W go?" with a Plan that lists every candidate member
// of W: the accepted ones best first, each with its chosen server, score and a short
// explanation, then the rejected ones, each with the reason it was rejected. This is what
// `csetctl workload place NAME` shows and what the controller follows for placements,
// moves and failovers (falling through to the next accepted candidate when a start fails).
//
// Rebalance proposes moves from members above their fair share of load to less loaded
// members, never breaking capacity or hard spread.
//
// All functions are safe for concurrent use; they never modify their arguments. See
// DESIGN.md in this directory for the rules, the score formula and the trade-offs.
package scheduler
