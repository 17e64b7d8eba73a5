package scheduler

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// chooser makes the generator's decisions: from a seeded PRNG for the randomized tests, or
// from the fuzzer's bytes.
type chooser interface {
	// intn returns a number in [0, n); n > 0.
	intn(n int) int
}

type randChooser struct{ r *rand.Rand }

func (c randChooser) intn(n int) int { return c.r.IntN(n) }

// byteChooser reads one byte per decision and answers 0 once the bytes run out, so every
// input decodes to a (small) valid scenario.
type byteChooser struct {
	data []byte
	pos  int
}

func (c *byteChooser) intn(n int) int {
	if c.pos >= len(c.data) {
		return 0
	}
	b := int(c.data[c.pos])
	c.pos++
	return b % n
}

func pick[T any](c chooser, xs ...T) T { return xs[c.intn(len(xs))] }

// genState generates a small cluster set with every feature the scheduler looks at: fault
// domains (and members without one), finite and unlimited capacities, every admin state
// and health, offline servers, hard, soft and undeclared availability sets, workloads
// placed, unplaced and placed on an unknown member, candidates that repeat or do not exist.
func genState(c chooser) State {
	var s State
	// Half of the states are mostly healthy, so that plenty of candidates get accepted and
	// Rebalance has moves to propose; the others mix every admin state and health.
	healthy := c.intn(2) == 0
	nMembers := c.intn(8)
	for i := range nMembers {
		m := Member{
			Name:        fmt.Sprintf("m%d", i),
			FaultDomain: pick(c, "", "rack-a", "rack-b", "rack-c", "rack-a"),
			Capacity:    pick[int64](c, 0, 0, 5, 10, 20, 40),
			Admin:       pick(c, AdminActive, AdminActive, AdminActive, AdminActive, AdminDraining, AdminDisabled, ""),
			Health: pick(c, HealthUp, HealthUp, HealthUp, HealthUp, HealthDegraded, HealthDegraded,
				HealthDown, HealthUnreachable, HealthPartitioned, HealthUnknown, ""),
		}
		nServers, offline := c.intn(4), 4
		if healthy {
			m.Admin, m.Health = AdminActive, pick(c, HealthUp, HealthUp, HealthUp, HealthDegraded)
			nServers, offline = 1+c.intn(3), 8
		}
		for j := range nServers {
			m.Servers = append(m.Servers, Server{Name: fmt.Sprintf("m%d-%d", i, j+1), Online: c.intn(offline) != 0})
		}
		s.Members = append(s.Members, m)
	}
	names := []string{"ghost"}
	for _, m := range s.Members {
		names = append(names, m.Name, m.Name, m.Name)
	}
	s.AvailabilitySets = []AvailabilitySet{{Name: "h1", Hard: true}, {Name: "h2", Hard: true}, {Name: "s1"}}
	for i := range c.intn(16) {
		w := Workload{
			Name:            fmt.Sprintf("w%d", i),
			Size:            int64(c.intn(9)),
			AvailabilitySet: pick(c, "", "", "h1", "h2", "s1", "undeclared"),
			Group:           pick(c, "", fmt.Sprintf("g%d", i), fmt.Sprintf("g%d", i), "shared"),
		}
		for range c.intn(5) {
			w.Candidates = append(w.Candidates, pick(c, names...))
		}
		if c.intn(4) != 0 {
			w.Member = pick(c, names...)
		}
		s.Workloads = append(s.Workloads, w)
	}
	return s
}

// genRequest generates a request for s, mostly valid, sometimes not.
func genRequest(c chooser, s State) Request {
	var r Request
	switch {
	case len(s.Workloads) == 0 || c.intn(20) == 0:
		r.Workload = pick(c, "", "nope")
	default:
		r.Workload = pick(c, s.Workloads...).Name
	}
	var w Workload
	if i := slices.IndexFunc(s.Workloads, func(w Workload) bool { return w.Name == r.Workload }); i >= 0 {
		w = s.Workloads[i]
	}
	names := append([]string{"ghost"}, w.Candidates...)
	for _, m := range s.Members {
		names = append(names, m.Name)
	}
	for range pick(c, 0, 0, 1, 1, 2) {
		r.Exclude = append(r.Exclude, pick(c, names...))
	}
	if len(r.Exclude) > 0 && c.intn(2) == 0 {
		r.Reason = "source of the failover"
	}
	if c.intn(6) == 0 {
		r.PinMember = pick(c, append(names, w.Candidates...)...)
		if m := slices.IndexFunc(s.Members, func(m Member) bool { return m.Name == r.PinMember }); m >= 0 &&
			len(s.Members[m].Servers) > 0 && c.intn(2) == 0 {
			r.PinServer = pick(c, s.Members[m].Servers...).Name
		}
	}
	if c.intn(30) == 0 {
		r.PinServer = "stray"
	}
	if (r.PinMember != "" && c.intn(2) == 0) || c.intn(40) == 0 {
		r.Force = true
	}
	return r
}

// corrupt occasionally breaks a generated state the way a buggy adapter could.
func corrupt(c chooser, s State) State {
	switch c.intn(40) {
	case 0:
		if len(s.Members) > 0 {
			s.Members = append(s.Members, s.Members[0])
		}
	case 1:
		if len(s.Workloads) > 0 {
			s.Workloads[0].Size = -1
		}
	case 2:
		if len(s.Members) > 0 {
			s.Members[0].Capacity = -5
		}
	case 3:
		if len(s.Workloads) > 0 {
			s.Workloads = append(s.Workloads, s.Workloads[0])
		}
	case 4:
		s.AvailabilitySets = append(s.AvailabilitySets, AvailabilitySet{Name: "s1", Hard: true})
	}
	return s
}

// checkScenario runs Rank and Rebalance on one generated scenario and reports violations.
func checkScenario(t *testing.T, label string, c chooser) {
	t.Helper()
	s := corrupt(c, genState(c))
	r := genRequest(c, s)
	p, err := Rank(s, r)
	for _, v := range checkRank(s, r, p, err) {
		t.Errorf("%s: Rank(%+v, %+v): %s", label, s, r, v)
	}
	maxMoves := c.intn(6)
	for _, v := range checkRebalance(s, maxMoves, Rebalance(s, maxMoves)) {
		t.Errorf("%s: Rebalance(%+v, %d): %s", label, s, maxMoves, v)
	}
}

// TestScheduler_RandomizedInvariants checks the invariants on states generated from a fixed
// seed, so a failure reproduces exactly.
func TestScheduler_RandomizedInvariants(t *testing.T) {
	t.Parallel()
	n := 3000
	switch {
	case testing.Short():
		n = 300
	case raceEnabled:
		n = 1000
	}
	r := rand.New(rand.NewPCG(20261125, 6))
	for i := range n {
		checkScenario(t, fmt.Sprintf("case %d", i), randChooser{r})
		if t.Failed() {
			t.Fatalf("stopping after the first failing case (%d)", i)
		}
	}
}

// FuzzScheduler decodes the fuzzer's bytes into a scenario and checks every invariant.
func FuzzScheduler(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{3, 1, 2, 0, 0, 0, 2, 1, 1, 1, 2, 4, 1, 3, 5, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	r := rand.New(rand.NewPCG(6, 6))
	for range 16 {
		seed := make([]byte, 96)
		for i := range seed {
			seed[i] = byte(r.IntN(256))
		}
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkScenario(t, "fuzz", &byteChooser{data: data})
	})
}
