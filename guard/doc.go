// Package guard is the member guard (`csetd guard`): the member-side half of cset's split-brain
// protection (docs/design.md, "Split-brain protection"). One guard runs on every ECX server. It
// heartbeats both the witness and the masters for its server, and when neither has acknowledged a
// heartbeat for the guard timeout (counted from the send time of the last acknowledged one) it
// stops every cset-managed group running on its server through the local ECX REST API, and keeps
// them stopped until either answers again. The masters declare a member down only after neither
// they nor the witness have heard any of its guards for fence_after, which the masters' configuration
// keeps above guard timeout + group stop time + a drift margin: so a member is always stopped by its
// own guards before the masters start its workloads elsewhere.
//
// The package declares what it needs as interfaces (Local, Witness, Masters, Clock), so the same
// code runs in `csetd guard` over ecxclient and in ecxsim over the simulator's model. It never
// imports ecxclient (ecxsim must not depend on it).
package guard
