package scheduler

import "errors"

// Health is a member's observed health, as the controller records it (docs/design.md, "The controller").
type Health string

// The member health values. Only HealthUp and HealthDegraded members can receive a workload.
const (
	HealthUp          Health = "up"
	HealthDegraded    Health = "degraded"
	HealthUnreachable Health = "unreachable"
	HealthPartitioned Health = "partitioned"
	HealthDown        Health = "down"
	HealthUnknown     Health = "unknown"
)

// Admin is a member's administrative state, set by an operator.
type Admin string

// The admin states. Only AdminActive members can receive a workload.
const (
	AdminActive   Admin = "active"
	AdminDraining Admin = "draining"
	AdminDisabled Admin = "disabled"
)

// Member is one ECX cluster of the set as the scheduler sees it.
type Member struct {
	Name string
	// FaultDomain is the member's fault domain. A member without one is its own fault domain.
	FaultDomain string
	// Capacity is the largest sum of workload sizes the member may host; 0 means unlimited.
	Capacity int64
	Admin    Admin
	Health   Health
	// Servers are the member's ECX servers in ECX priority order.
	Servers []Server
}

// Server is one ECX server of a member.
type Server struct {
	Name   string
	Online bool
}

// Workload is one registered workload (an ECX failover group).
type Workload struct {
	Name string
	// Size counts against the capacity of the member the workload is placed on.
	Size int64
	// Candidates are the members the workload may run on, most preferred first.
	Candidates []string
	// AvailabilitySet names the set the workload belongs to, "" for none. A name that
	// State.AvailabilitySets does not list is treated as a soft set.
	AvailabilitySet string
	// Member is the current placement, "" if the workload is placed nowhere.
	Member string
	// Group is the workload's ECX failover group. In a member, a group belongs to one
	// workload: a member that another workload of the same group lists as a candidate is
	// rejected. "" claims nothing.
	Group string
}

// AvailabilitySet is a group of workloads to spread over fault domains: strictly when Hard,
// preferably otherwise.
type AvailabilitySet struct {
	Name string
	Hard bool
}

// State is the part of the replicated state the scheduler needs. Names are unique within
// Members, Workloads and AvailabilitySets. The scheduler never modifies a State.
type State struct {
	Members          []Member
	Workloads        []Workload
	AvailabilitySets []AvailabilitySet
}

// Request asks where one workload should run.
type Request struct {
	Workload string
	// Exclude lists members that must not be chosen, e.g. the failed source of a failover or
	// a target whose start just failed.
	Exclude []string
	// PinMember and PinServer are an operator's explicit target (csetctl workload move
	// --to MEMBER[/SERVER]). PinServer requires PinMember.
	PinMember string
	PinServer string
	// Reason explains Exclude in the rejection reasons ("excluded: " + Reason), e.g.
	// "source of the failover". Empty means "excluded by the request".
	Reason string
	// Force is an operator's --force on a pinned move: the pinned member is not rejected for
	// capacity or for a soft spread conflict (Candidate.Overrides says what was overridden).
	// Health, admin state, candidates, hard spread and group ownership are never overridden.
	// Force requires PinMember.
	Force bool
}

// Candidate is one candidate member of a Plan with its verdict.
type Candidate struct {
	Member string
	// Server is the chosen server of an accepted candidate, "" for a rejected one.
	Server string
	// Score orders accepted candidates: higher is better, 0 is a perfect candidate. It is
	// 0 for rejected candidates. See DESIGN.md for the formula.
	Score    float64
	Rejected bool
	// Reason says why the candidate was rejected, or briefly why it ranks where it does.
	Reason string
	// Load is the sum of the sizes of the other workloads placed on the member: the
	// workload's own current placement does not count against its own move.
	Load int64
	// Capacity is the member's capacity, 0 for unlimited.
	Capacity int64
	// Overrides lists, joined by "; ", the reasons that would have rejected an accepted
	// candidate but were overridden by Request.Force; "" when nothing was.
	Overrides string
}

// Plan is the ranking of every candidate member of one workload: the accepted candidates
// first, best first, then the rejected ones in the workload's preference order.
type Plan struct {
	Workload   string
	Candidates []Candidate
}

// Best returns the best accepted candidate, or false when every candidate was rejected.
func (p Plan) Best() (Candidate, bool) {
	if len(p.Candidates) == 0 || p.Candidates[0].Rejected {
		return Candidate{}, false
	}
	return p.Candidates[0], true
}

// Move is one proposed move of a workload from one member to another.
type Move struct {
	Workload string
	From     string
	To       string
	Reason   string
}

// Errors returned by Rank, wrapped with details; compare with errors.Is.
var (
	// ErrUnknownWorkload: the requested workload is not in the state.
	ErrUnknownWorkload = errors.New("unknown workload")
	// ErrInvalidRequest: the request is malformed or contradicts the state, e.g. a pin to a
	// member that is not a candidate of the workload.
	ErrInvalidRequest = errors.New("invalid placement request")
	// ErrInvalidState: the state breaks the scheduler's preconditions (duplicate member
	// names, negative sizes or capacities). It points at a bug in the caller's adapter.
	ErrInvalidState = errors.New("invalid scheduler state")
)
