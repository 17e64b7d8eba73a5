package scheduler

import (
	"errors"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The topology of `csetd agent -dev` (cmd/csetd/dev.go) plus a third member sharing east's fault domain.
var (
	east  = member("east", "rack-a", 0, "east-1", "east-2")
	west  = member("west", "rack-b", 0, "west-1", "west-2")
	north = member("north", "rack-a", 0, "north-1")
)

func withCapacity(m Member, c int64) Member { m.Capacity = c; return m }

var approx = cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) < 1e-9 })

type rankCase struct {
	name  string
	state State
	req   Request
	want  []Candidate
}

func runRankCases(t *testing.T, cases []rankCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tc.state)
			p, err := h.rank(tc.req)
			if err != nil {
				t.Fatalf("Rank: %v", err)
			}
			if d := cmp.Diff(tc.want, p.Candidates, approx); d != "" {
				t.Errorf("candidates (-want +got):\n%s", d)
			}
		})
	}
}

func TestScheduler_RankPreferenceAndLoad(t *testing.T) {
	t.Parallel()
	runRankCases(t, []rankCase{
		{
			name:  "preference order",
			state: State{Members: []Member{east, west}, Workloads: []Workload{workload("web", 1, "west", "east")}},
			req:   Request{Workload: "web"},
			want: []Candidate{
				{Member: "west", Server: "west-1", Score: 0, Reason: "up, preference 1 of 2, load 1 after placement, capacity unlimited", Load: 0},
				{Member: "east", Server: "east-1", Score: -1, Reason: "up, preference 2 of 2, load 1 after placement, capacity unlimited", Load: 0},
			},
		},
		{
			name: "preference beats load",
			state: State{
				Members:   []Member{withCapacity(east, 10), withCapacity(west, 10)},
				Workloads: []Workload{workload("web", 1, "east", "west"), placedOn(workload("db", 8), "east")},
			},
			req: Request{Workload: "web"},
			want: []Candidate{
				{Member: "east", Server: "east-1", Score: -0.9, Reason: "up, preference 1 of 2, load 9/10 after placement (90%)", Load: 8, Capacity: 10},
				{Member: "west", Server: "west-1", Score: -1.1, Reason: "up, preference 2 of 2, load 1/10 after placement (10%)", Load: 0, Capacity: 10},
			},
		},
		{
			// west (preferred) would be full, east empty: 1 + 4/4 = 1 + 0, so the name decides.
			name: "tie broken by name",
			state: State{
				Members:   []Member{east, withCapacity(west, 4)},
				Workloads: []Workload{workload("web", 1, "west", "east"), placedOn(workload("db", 3), "west")},
			},
			req: Request{Workload: "web"},
			want: []Candidate{
				{Member: "east", Server: "east-1", Score: -1, Reason: "up, preference 2 of 2, load 1 after placement, capacity unlimited"},
				{Member: "west", Server: "west-1", Score: -1, Reason: "up, preference 1 of 2, load 4/4 after placement (100%)", Load: 3, Capacity: 4},
			},
		},
		{
			name: "degraded ranks below up, first online server chosen",
			state: State{
				Members:   []Member{withHealth(withOffline(east, "east-1"), HealthDegraded), west},
				Workloads: []Workload{workload("web", 1, "east", "west")},
			},
			req: Request{Workload: "web"},
			want: []Candidate{
				{Member: "west", Server: "west-1", Score: -1, Reason: "up, preference 2 of 2, load 1 after placement, capacity unlimited"},
				{Member: "east", Server: "east-2", Score: -1e12, Reason: "degraded (1 of 2 servers online), preference 1 of 2, load 1 after placement, capacity unlimited"},
			},
		},
		{
			name:  "repeated candidates are listed once",
			state: State{Members: []Member{east, west}, Workloads: []Workload{workload("web", 1, "east", "west", "east")}},
			req:   Request{Workload: "web"},
			want: []Candidate{
				{Member: "east", Server: "east-1", Score: 0, Reason: "up, preference 1 of 2, load 1 after placement, capacity unlimited"},
				{Member: "west", Server: "west-1", Score: -1, Reason: "up, preference 2 of 2, load 1 after placement, capacity unlimited"},
			},
		},
		{
			name:  "no candidates",
			state: State{Members: []Member{east, west}, Workloads: []Workload{workload("web", 1)}},
			req:   Request{Workload: "web"},
			want:  []Candidate{},
		},
	})
}

func TestScheduler_RankCapacity(t *testing.T) {
	t.Parallel()
	runRankCases(t, []rankCase{
		{
			name: "capacity exceeded",
			state: State{
				Members:   []Member{withCapacity(east, 10), west},
				Workloads: []Workload{workload("web", 4, "east", "west"), placedOn(workload("db", 8), "east")},
			},
			req: Request{Workload: "web"},
			want: []Candidate{
				{Member: "west", Server: "west-1", Score: -1, Reason: "up, preference 2 of 2, load 4 after placement, capacity unlimited"},
				{Member: "east", Rejected: true, Reason: "capacity 10 exceeded: load 8 + size 4", Load: 8, Capacity: 10},
			},
		},
		{
			name: "exactly full fits",
			state: State{
				Members:   []Member{withCapacity(east, 12)},
				Workloads: []Workload{workload("web", 4, "east"), placedOn(workload("db", 8), "east")},
			},
			req: Request{Workload: "web"},
			want: []Candidate{
				{Member: "east", Server: "east-1", Score: -1, Reason: "up, preference 1 of 1, load 12/12 after placement (100%)", Load: 8, Capacity: 12},
			},
		},
		{
			name: "own placement does not count against itself",
			state: State{
				Members: []Member{withCapacity(east, 10)},
				Workloads: []Workload{
					placedOn(workload("web", 4, "east"), "east"),
					placedOn(workload("db", 6), "east"),
				},
			},
			req: Request{Workload: "web"},
			want: []Candidate{
				{Member: "east", Server: "east-1", Score: -1, Reason: "up, preference 1 of 1, load 10/10 after placement (100%)", Load: 6, Capacity: 10},
			},
		},
		{
			name: "workloads placed on unknown members load nobody",
			state: State{
				Members:   []Member{withCapacity(east, 5)},
				Workloads: []Workload{workload("web", 5, "east"), placedOn(workload("db", 6), "gone")},
			},
			req: Request{Workload: "web"},
			want: []Candidate{
				{Member: "east", Server: "east-1", Score: -1, Reason: "up, preference 1 of 1, load 5/5 after placement (100%)", Capacity: 5},
			},
		},
	})
}

func TestScheduler_RankSpread(t *testing.T) {
	t.Parallel()
	hard := []AvailabilitySet{{Name: "ha1", Hard: true}}
	soft := []AvailabilitySet{{Name: "s1"}}
	solo := member("solo", "", 0, "solo-1")
	solo2 := member("solo2", "", 0, "solo2-1")
	runRankCases(t, []rankCase{
		{
			name: "hard spread rejects the fault domain of a peer",
			state: State{
				Members:          []Member{east, west, north},
				AvailabilitySets: hard,
				Workloads: []Workload{
					inSet(workload("web", 1, "north", "east", "west"), "ha1"),
					inSet(placedOn(workload("db", 1), "east"), "ha1"),
				},
			},
			req: Request{Workload: "web"},
			want: []Candidate{
				{Member: "west", Server: "west-1", Score: -2, Reason: "up, preference 3 of 3, load 1 after placement, capacity unlimited"},
				{Member: "north", Rejected: true, Reason: "fault domain rack-a already hosts db of hard availability set ha1"},
				{Member: "east", Rejected: true, Reason: "fault domain rack-a already hosts db of hard availability set ha1", Load: 1},
			},
		},
		{
			name: "hard spread can reject every candidate",
			state: State{
				Members:          []Member{east, west, north},
				AvailabilitySets: hard,
				Workloads: []Workload{
					inSet(workload("web", 1, "north", "west"), "ha1"),
					inSet(placedOn(workload("db", 1), "east"), "ha1"),
					inSet(placedOn(workload("api", 1), "west"), "ha1"),
					inSet(placedOn(workload("cache", 1), "west"), "ha1"),
				},
			},
			req: Request{Workload: "web"},
			want: []Candidate{
				{Member: "north", Rejected: true, Reason: "fault domain rack-a already hosts db of hard availability set ha1"},
				{Member: "west", Rejected: true, Reason: "fault domain rack-b already hosts api and 1 more of hard availability set ha1", Load: 2},
			},
		},
		{
			name: "a member without fault domain is its own domain",
			state: State{
				Members:          []Member{solo, solo2},
				AvailabilitySets: hard,
				Workloads: []Workload{
					inSet(workload("web", 1, "solo", "solo2"), "ha1"),
					inSet(placedOn(workload("db", 1), "solo"), "ha1"),
				},
			},
			req: Request{Workload: "web"},
			want: []Candidate{
				{Member: "solo2", Server: "solo2-1", Score: -1, Reason: "up, preference 2 of 2, load 1 after placement, capacity unlimited"},
				{Member: "solo", Rejected: true, Reason: "member solo (no fault domain) already hosts db of hard availability set ha1", Load: 1},
			},
		},
		{
			name: "soft spread penalises",
			state: State{
				Members:          []Member{east, west, north},
				AvailabilitySets: soft,
				Workloads: []Workload{
					inSet(workload("web", 1, "north", "west"), "s1"),
					inSet(placedOn(workload("db", 1), "east"), "s1"),
				},
			},
			req: Request{Workload: "web"},
			want: []Candidate{
				{Member: "west", Server: "west-1", Score: -1, Reason: "up, preference 2 of 2, load 1 after placement, capacity unlimited"},
				{Member: "north", Server: "north-1", Score: -1e6, Reason: "up, soft spread: fault domain rack-a already hosts db of availability set s1, preference 1 of 2, load 1 after placement, capacity unlimited"},
			},
		},
		{
			name: "an undeclared availability set is soft",
			state: State{
				Members: []Member{east, west},
				Workloads: []Workload{
					inSet(workload("web", 1, "east", "west"), "nowhere"),
					inSet(placedOn(workload("db", 1), "east"), "nowhere"),
				},
			},
			req: Request{Workload: "web"},
			want: []Candidate{
				{Member: "west", Server: "west-1", Score: -1, Reason: "up, preference 2 of 2, load 1 after placement, capacity unlimited"},
				{Member: "east", Server: "east-1", Score: -1e6, Reason: "up, soft spread: fault domain rack-a already hosts db of availability set nowhere, preference 1 of 2, load 2 after placement, capacity unlimited", Load: 1},
			},
		},
		{
			name: "moving within its own domain does not conflict with itself",
			state: State{
				Members:          []Member{east, north},
				AvailabilitySets: hard,
				Workloads:        []Workload{inSet(placedOn(workload("web", 1, "north"), "east"), "ha1")},
			},
			req: Request{Workload: "web", Exclude: []string{"east"}},
			want: []Candidate{
				{Member: "north", Server: "north-1", Score: 0, Reason: "up, preference 1 of 1, load 1 after placement, capacity unlimited"},
			},
		},
	})
}

func TestScheduler_RankAdmissionAndServers(t *testing.T) {
	t.Parallel()
	runRankCases(t, []rankCase{
		{
			name: "admin states",
			state: State{
				Members:   []Member{withAdmin(east, AdminDraining), withAdmin(west, AdminDisabled), withAdmin(north, "")},
				Workloads: []Workload{workload("web", 1, "east", "west", "north")},
			},
			req: Request{Workload: "web"},
			want: []Candidate{
				{Member: "east", Rejected: true, Reason: "member east is draining"},
				{Member: "west", Rejected: true, Reason: "member west is disabled"},
				{Member: "north", Rejected: true, Reason: `member north admin state "" is not active`},
			},
		},
		{
			name: "health states",
			state: State{
				Members: []Member{
					withHealth(east, HealthDown), withHealth(west, HealthUnreachable), withHealth(north, HealthPartitioned),
					withHealth(member("south", "rack-c", 0, "south-1"), HealthUnknown), withHealth(member("new", "rack-c", 0, "new-1"), ""),
				},
				Workloads: []Workload{workload("web", 1, "east", "west", "north", "south", "new")},
			},
			req: Request{Workload: "web"},
			want: []Candidate{
				{Member: "east", Rejected: true, Reason: "member east health is down"},
				{Member: "west", Rejected: true, Reason: "member west health is unreachable"},
				{Member: "north", Rejected: true, Reason: "member north health is partitioned"},
				{Member: "south", Rejected: true, Reason: "member south health is unknown"},
				{Member: "new", Rejected: true, Reason: "member new health is unknown"},
			},
		},
		{
			name: "every reason is given",
			state: State{
				Members:   []Member{withHealth(withAdmin(withCapacity(withOffline(east, "east-1", "east-2"), 2), AdminDraining), HealthDown)},
				Workloads: []Workload{workload("web", 3, "east")},
			},
			req: Request{Workload: "web", Exclude: []string{"east"}},
			want: []Candidate{
				{Member: "east", Rejected: true, Capacity: 2, Reason: "excluded by the request; member east is draining; member east health is down; capacity 2 exceeded: load 0 + size 3; no online server"},
			},
		},
		{
			name: "no online server",
			state: State{
				Members:   []Member{withOffline(east, "east-1", "east-2"), member("empty", "rack-c", 0)},
				Workloads: []Workload{workload("web", 1, "east", "empty")},
			},
			req: Request{Workload: "web"},
			want: []Candidate{
				{Member: "east", Rejected: true, Reason: "no online server"},
				{Member: "empty", Rejected: true, Reason: "no online server"},
			},
		},
		{
			name:  "unknown candidate member",
			state: State{Members: []Member{east}, Workloads: []Workload{workload("web", 1, "ghost", "east")}},
			req:   Request{Workload: "web"},
			want: []Candidate{
				{Member: "east", Server: "east-1", Score: -1, Reason: "up, preference 2 of 2, load 1 after placement, capacity unlimited"},
				{Member: "ghost", Rejected: true, Reason: "member ghost is not in the cluster set"},
			},
		},
	})
}

func TestScheduler_RankExcludeAndPin(t *testing.T) {
	t.Parallel()
	state := State{
		Members:   []Member{withHealth(east, HealthDown), west, withOffline(north, "north-1")},
		Workloads: []Workload{placedOn(workload("web", 1, "east", "west", "north"), "east")},
	}
	runRankCases(t, []rankCase{
		{
			name:  "exclude the failover source",
			state: state,
			req:   Request{Workload: "web", Exclude: []string{"east"}, Reason: "source of the failover"},
			want: []Candidate{
				{Member: "west", Server: "west-1", Score: -1, Reason: "up, preference 2 of 3, load 1 after placement, capacity unlimited"},
				{Member: "east", Rejected: true, Reason: "excluded: source of the failover; member east health is down"},
				{Member: "north", Rejected: true, Reason: "no online server"},
			},
		},
		{
			name:  "pin to a member and server",
			state: state,
			req:   Request{Workload: "web", PinMember: "west", PinServer: "west-2"},
			want: []Candidate{
				{Member: "west", Server: "west-2", Score: -1, Reason: "up, preference 2 of 3, load 1 after placement, capacity unlimited"},
				{Member: "east", Rejected: true, Reason: "not the requested target: the request pins west"},
				{Member: "north", Rejected: true, Reason: "not the requested target: the request pins west"},
			},
		},
		{
			name:  "pin to an offline server",
			state: state,
			req:   Request{Workload: "web", PinMember: "north", PinServer: "north-1"},
			want: []Candidate{
				{Member: "east", Rejected: true, Reason: "not the requested target: the request pins north"},
				{Member: "west", Rejected: true, Reason: "not the requested target: the request pins north"},
				{Member: "north", Rejected: true, Reason: "server north-1 is offline"},
			},
		},
		{
			name:  "pin to an unhealthy member",
			state: state,
			req:   Request{Workload: "web", PinMember: "east"},
			want: []Candidate{
				{Member: "east", Rejected: true, Reason: "member east health is down"},
				{Member: "west", Rejected: true, Reason: "not the requested target: the request pins east"},
				{Member: "north", Rejected: true, Reason: "not the requested target: the request pins east"},
			},
		},
	})
}

func TestScheduler_RankErrors(t *testing.T) {
	t.Parallel()
	state := State{
		Members:   []Member{east, west, north},
		Workloads: []Workload{workload("web", 1, "east", "west")},
	}
	cases := []struct {
		name    string
		state   State
		req     Request
		wantErr error
		text    string
	}{
		{"unknown workload", state, Request{Workload: "nope"}, ErrUnknownWorkload, `unknown workload "nope"`},
		{"no workload", state, Request{}, ErrInvalidRequest, "invalid placement request: no workload named"},
		{"pin to a non-candidate", state, Request{Workload: "web", PinMember: "north"}, ErrInvalidRequest,
			"invalid placement request: pin to member north: not a candidate of workload web (candidates: east, west)"},
		{"pin to an unknown member", state, Request{Workload: "web", PinMember: "ghost"}, ErrInvalidRequest,
			"invalid placement request: pin to member ghost: no such member in the cluster set"},
		{"pin to an unknown server", state, Request{Workload: "web", PinMember: "east", PinServer: "west-1"}, ErrInvalidRequest,
			"invalid placement request: pin to server east/west-1: member east has no server west-1"},
		{"pin server without member", state, Request{Workload: "web", PinServer: "east-1"}, ErrInvalidRequest,
			"invalid placement request: pin to server east-1 needs its member"},
		{"pin to an excluded member", state, Request{Workload: "web", PinMember: "east", Exclude: []string{"east"}}, ErrInvalidRequest,
			"invalid placement request: pin to member east: the request also excludes it"},
		{"duplicate member", State{Members: []Member{east, east}, Workloads: state.Workloads}, Request{Workload: "web"},
			ErrInvalidState, "invalid scheduler state: member east is listed twice"},
		{"unnamed member", State{Members: []Member{{}}, Workloads: state.Workloads}, Request{Workload: "web"},
			ErrInvalidState, "invalid scheduler state: member 0 has no name"},
		{"negative capacity", State{Members: []Member{withCapacity(east, -1)}, Workloads: state.Workloads}, Request{Workload: "web"},
			ErrInvalidState, "invalid scheduler state: member east has negative capacity -1"},
		{"negative size", State{Members: []Member{east}, Workloads: []Workload{workload("web", -2)}}, Request{Workload: "web"},
			ErrInvalidState, "invalid scheduler state: workload web has negative size -2"},
		{"duplicate workload", State{Workloads: []Workload{workload("web", 1), workload("web", 2)}}, Request{Workload: "web"},
			ErrInvalidState, "invalid scheduler state: workload web is listed twice"},
		{"duplicate availability set", State{AvailabilitySets: []AvailabilitySet{{Name: "a"}, {Name: "a", Hard: true}}, Workloads: state.Workloads},
			Request{Workload: "web"}, ErrInvalidState, "invalid scheduler state: availability set a is listed twice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := newHarness(t, tc.state).rank(tc.req)
			if !errors.Is(err, tc.wantErr) || err.Error() != tc.text {
				t.Errorf("Rank error = %v, want %q wrapping %v", err, tc.text, tc.wantErr)
			}
			if d := cmp.Diff(Plan{}, p); d != "" {
				t.Errorf("plan returned with the error:\n%s", d)
			}
		})
	}
}

func TestScheduler_PlanBest(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		plan   Plan
		want   Candidate
		wantOK bool
	}{
		{"empty", Plan{}, Candidate{}, false},
		{"all rejected", Plan{Candidates: []Candidate{{Member: "a", Rejected: true, Reason: "x"}}}, Candidate{}, false},
		{"first accepted", Plan{Candidates: []Candidate{{Member: "a", Server: "a-1"}, {Member: "b", Rejected: true}}},
			Candidate{Member: "a", Server: "a-1"}, true},
	}
	for _, tc := range cases {
		got, ok := tc.plan.Best()
		if d := cmp.Diff(tc.want, got); d != "" || ok != tc.wantOK {
			t.Errorf("%s: Best() ok=%v, want %v; diff:\n%s", tc.name, ok, tc.wantOK, d)
		}
	}
}
