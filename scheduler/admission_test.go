package scheduler

import (
	"errors"
	"testing"
)

func withGroup(w Workload, g string) Workload { w.Group = g; return w }

// TestScheduler_PinAdmission: an operator's pinned target passes every predicate; --force
// (Request.Force) overrides capacity and soft spread only, and says what it overrode.
func TestScheduler_PinAdmission(t *testing.T) {
	t.Parallel()
	soft := State{
		Members:          []Member{east, west, north},
		Workloads:        []Workload{inSet(placedOn(workload("web", 1, "west", "east"), "west"), "s"), inSet(placedOn(workload("web-b", 1, "east"), "east"), "s")},
		AvailabilitySets: []AvailabilitySet{{Name: "s"}},
	}
	full := State{
		Members:   []Member{withCapacity(east, 1), west},
		Workloads: []Workload{placedOn(workload("web", 1, "west", "east"), "west"), placedOn(workload("db", 1, "east"), "east")},
	}
	notTarget := "not the requested target: the request pins east"
	runRankCases(t, []rankCase{
		{
			name: "a pin adding a soft spread conflict is refused", state: soft,
			req: Request{Workload: "web", PinMember: "east"},
			want: []Candidate{
				{Member: "west", Rejected: true, Reason: notTarget},
				{Member: "east", Rejected: true, Reason: "fault domain rack-a already hosts web-b of soft availability set s", Load: 1},
			},
		},
		{
			name: "force overrides soft spread", state: soft,
			req: Request{Workload: "web", PinMember: "east", Force: true},
			want: []Candidate{
				{Member: "east", Server: "east-1", Score: -1e6 - 1, Load: 1, Overrides: "fault domain rack-a already hosts web-b of soft availability set s",
					Reason: "up, soft spread: fault domain rack-a already hosts web-b of availability set s, preference 2 of 2, load 2 after placement, capacity unlimited"},
				{Member: "west", Rejected: true, Reason: notTarget},
			},
		},
		{
			name: "automatic placement keeps soft spread a preference", state: soft,
			req: Request{Workload: "web", Exclude: []string{"west"}},
			want: []Candidate{
				{Member: "east", Server: "east-1", Score: -1e6 - 1, Load: 1,
					Reason: "up, soft spread: fault domain rack-a already hosts web-b of availability set s, preference 2 of 2, load 2 after placement, capacity unlimited"},
				{Member: "west", Rejected: true, Reason: "excluded by the request"},
			},
		},
		{
			name: "a pin over capacity is refused", state: full,
			req: Request{Workload: "web", PinMember: "east"},
			want: []Candidate{
				{Member: "west", Rejected: true, Reason: notTarget},
				{Member: "east", Rejected: true, Reason: "capacity 1 exceeded: load 1 + size 1", Load: 1, Capacity: 1},
			},
		},
		{
			name: "force overrides capacity", state: full,
			req: Request{Workload: "web", PinMember: "east", Force: true},
			want: []Candidate{
				{Member: "east", Server: "east-1", Score: -3, Load: 1, Capacity: 1, Overrides: "capacity 1 exceeded: load 1 + size 1",
					Reason: "up, preference 2 of 2, load 2/1 after placement (200%)"},
				{Member: "west", Rejected: true, Reason: notTarget},
			},
		},
		{
			name: "force overrides neither admin state, health, hard spread nor group ownership",
			state: State{
				Members: []Member{withHealth(withAdmin(east, AdminDraining), HealthDown), west},
				Workloads: []Workload{
					withGroup(inSet(placedOn(workload("web", 1, "west", "east"), "west"), "h"), "g"),
					inSet(placedOn(workload("web-b", 1, "east"), "east"), "h"),
					withGroup(workload("web2", 1, "east"), "g"),
				},
				AvailabilitySets: []AvailabilitySet{{Name: "h", Hard: true}},
			},
			req: Request{Workload: "web", PinMember: "east", Force: true},
			want: []Candidate{
				{Member: "west", Rejected: true, Reason: notTarget},
				{Member: "east", Rejected: true, Load: 1, Reason: "member east is draining; member east health is down; ECX group g on member east belongs to workload web2; " +
					"fault domain rack-a already hosts web-b of hard availability set h"},
			},
		},
		{
			name: "group ownership rejects a member another workload of the group may run on",
			state: State{
				Members:   []Member{east, west},
				Workloads: []Workload{withGroup(workload("web2", 1, "east", "west"), "web"), withGroup(workload("web", 1, "east"), "web"), withGroup(workload("other", 1, "west"), "db")},
			},
			req: Request{Workload: "web2"},
			want: []Candidate{
				{Member: "west", Server: "west-1", Score: -1, Reason: "up, preference 2 of 2, load 1 after placement, capacity unlimited"},
				{Member: "east", Rejected: true, Reason: "ECX group web on member east belongs to workload web"},
			},
		},
	})
}

func TestScheduler_ForceNeedsAPin(t *testing.T) {
	t.Parallel()
	h := newHarness(t, State{Members: []Member{east}, Workloads: []Workload{workload("web", 1, "east")}})
	if _, err := h.rank(Request{Workload: "web", Force: true}); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("Rank with force and no pin: %v, want ErrInvalidRequest", err)
	}
}
