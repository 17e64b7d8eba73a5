package scheduler

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestScheduler_Rebalance(t *testing.T) {
	t.Parallel()
	e10, w10, n10 := withCapacity(east, 10), withCapacity(west, 10), withCapacity(north, 10)
	e20, w20, n20 := withCapacity(east, 20), withCapacity(west, 20), withCapacity(north, 20)
	cases := []struct {
		name     string
		state    State
		maxMoves int
		want     []Move
	}{
		{
			name: "balanced",
			state: State{Members: []Member{e10, w10}, Workloads: []Workload{
				placedOn(workload("a", 4, "east", "west"), "east"), placedOn(workload("b", 4, "east", "west"), "west"),
			}},
			maxMoves: 5,
		},
		{
			name: "one move evens two members",
			state: State{Members: []Member{e10, w10}, Workloads: []Workload{
				placedOn(workload("a", 4, "east", "west"), "east"), placedOn(workload("b", 4, "east", "west"), "east"),
			}},
			maxMoves: 5,
			want: []Move{{Workload: "a", From: "east", To: "west",
				Reason: "member east load 8/10 (80%) is above the fair share 40%; west goes from 0/10 to 4/10"}},
		},
		{
			name:     "moves follow the preference order and stop at maxMoves",
			state:    fourOnEast(e20, w20, n20),
			maxMoves: 2,
			want: []Move{
				{Workload: "w1", From: "east", To: "west", Reason: "member east load 8/20 (40%) is above the fair share 13%; west goes from 0/20 to 2/20"},
				{Workload: "w2", From: "east", To: "west", Reason: "member east load 6/20 (30%) is above the fair share 13%; west goes from 2/20 to 4/20"},
			},
		},
		{
			name:     "a move must lower the imbalance",
			state:    fourOnEast(e20, w20, n20),
			maxMoves: 10,
			want: []Move{
				{Workload: "w1", From: "east", To: "west", Reason: "member east load 8/20 (40%) is above the fair share 13%; west goes from 0/20 to 2/20"},
				{Workload: "w2", From: "east", To: "west", Reason: "member east load 6/20 (30%) is above the fair share 13%; west goes from 2/20 to 4/20"},
				{Workload: "w3", From: "east", To: "north", Reason: "member east load 4/20 (20%) is above the fair share 13%; north goes from 0/20 to 2/20"},
			},
		},
		{
			name: "capacity is respected",
			state: State{Members: []Member{e10, withCapacity(west, 3)}, Workloads: []Workload{
				placedOn(workload("a", 6, "east", "west"), "east"), placedOn(workload("b", 4, "east", "west"), "east"),
			}},
			maxMoves: 5,
		},
		{
			name: "hard spread is respected",
			state: State{
				Members:          []Member{e10, w10, n10},
				AvailabilitySets: []AvailabilitySet{{Name: "ha1", Hard: true}},
				Workloads: []Workload{
					inSet(placedOn(workload("x", 1, "west"), "west"), "ha1"),
					inSet(placedOn(workload("y", 5, "east", "west", "north"), "east"), "ha1"),
					placedOn(workload("z", 4, "east"), "east"),
				},
			},
			maxMoves: 5,
			want: []Move{{Workload: "y", From: "east", To: "north",
				Reason: "member east load 9/10 (90%) is above the fair share 33%; north goes from 0/10 to 5/10"}},
		},
		{
			name: "soft spread is not made worse",
			state: State{
				Members:          []Member{e10, w10},
				AvailabilitySets: []AvailabilitySet{{Name: "s1"}},
				Workloads: []Workload{
					inSet(placedOn(workload("a", 4, "east", "west"), "east"), "s1"),
					placedOn(workload("b", 3, "east", "west"), "east"),
					inSet(placedOn(workload("d", 1, "west"), "west"), "s1"),
				},
			},
			maxMoves: 5,
			want: []Move{{Workload: "b", From: "east", To: "west",
				Reason: "member east load 7/10 (70%) is above the fair share 40%; west goes from 1/10 to 4/10"}},
		},
		{
			name: "unlimited members balance by load",
			state: State{Members: []Member{east, west}, Workloads: []Workload{
				placedOn(workload("a", 1, "east", "west"), "east"), placedOn(workload("b", 1, "east", "west"), "east"),
				placedOn(workload("c", 1, "east", "west"), "east"),
			}},
			maxMoves: 5,
			want: []Move{{Workload: "a", From: "east", To: "west",
				Reason: "member east load 3 is above the fair share 1.5 of members with unlimited capacity; west goes from 0 to 1"}},
		},
		{
			name: "no move between finite and unlimited capacity",
			state: State{Members: []Member{east, w10}, Workloads: []Workload{
				placedOn(workload("a", 1, "east", "west"), "east"), placedOn(workload("b", 1, "east", "west"), "east"),
			}},
			maxMoves: 5,
		},
		{
			name: "draining and unhealthy members take no part",
			state: State{Members: []Member{withAdmin(e10, AdminDraining), w10, withHealth(n10, HealthDown)}, Workloads: []Workload{
				placedOn(workload("a", 4, "east", "west", "north"), "east"), placedOn(workload("b", 4, "east", "west", "north"), "east"),
				placedOn(workload("c", 4, "east", "west", "north"), "west"), placedOn(workload("d", 4, "west", "north"), "west"),
			}},
			maxMoves: 5,
		},
		{
			name: "size 0 workloads never move",
			state: State{Members: []Member{east, west}, Workloads: []Workload{
				placedOn(workload("a", 0, "east", "west"), "east"), placedOn(workload("b", 0, "east", "west"), "east"),
			}},
			maxMoves: 5,
		},
		{
			name:     "maxMoves 0",
			state:    fourOnEast(e20, w20, n20),
			maxMoves: 0,
		},
		{
			name: "duplicate workload names",
			state: State{Members: []Member{e10, w10}, Workloads: []Workload{
				placedOn(workload("a", 4, "east", "west"), "east"), placedOn(workload("a", 4, "east", "west"), "east"),
			}},
			maxMoves: 5,
		},
		{
			name:     "invalid state",
			state:    State{Members: []Member{e10, e10}, Workloads: fourOnEast(e20, w20, n20).Workloads},
			maxMoves: 5,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := newHarness(t, tc.state).rebalance(tc.maxMoves)
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("moves (-want +got):\n%s", d)
			}
		})
	}
}

// fourOnEast places four workloads of size 2 on east, with candidates east, west, north.
func fourOnEast(e, w, n Member) State {
	s := State{Members: []Member{e, w, n}}
	for i := 1; i <= 4; i++ {
		s.Workloads = append(s.Workloads, placedOn(workload(fmt.Sprintf("w%d", i), 2, "east", "west", "north"), "east"))
	}
	return s
}

// TestScheduler_RebalanceConverges applies Rebalance's moves until it proposes none: every
// move lowers the imbalance, so this must end, whatever the state.
func TestScheduler_RebalanceConverges(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 11))
	for i := range 300 {
		s := genState(randChooser{r})
		rounds := 0
		for ; rounds < 200; rounds++ {
			moves := newHarness(t, s).rebalance(3)
			if len(moves) == 0 {
				break
			}
			s = applyMoves(s, moves)
		}
		if rounds == 200 {
			t.Fatalf("case %d: Rebalance still proposes moves after %d rounds on %+v", i, rounds, s)
		}
	}
}

func applyMoves(s State, moves []Move) State {
	s = cloneState(s)
	for _, mv := range moves {
		for i := range s.Workloads {
			if s.Workloads[i].Name == mv.Workload {
				s.Workloads[i].Member = mv.To
			}
		}
	}
	return s
}
