package scheduler

import (
	"fmt"
	"testing"
)

// benchState builds the scale target of issue 6: members of 2 servers each in 10 fault
// domains, 10 workloads on each member, one availability set (hard or soft) per 5
// workloads, every workload with nCand candidates.
func benchState(members, perMember, nCand int) State {
	s := State{}
	for i := range members {
		m := member(fmt.Sprintf("m%04d", i), fmt.Sprintf("rack-%d", i%10), 100,
			fmt.Sprintf("m%04d-1", i), fmt.Sprintf("m%04d-2", i))
		s.Members = append(s.Members, m)
	}
	for i := range members * perMember / 5 {
		s.AvailabilitySets = append(s.AvailabilitySets, AvailabilitySet{Name: fmt.Sprintf("as%d", i), Hard: i%2 == 0})
	}
	for i := range members * perMember {
		home := i / perMember
		w := Workload{
			Name:            fmt.Sprintf("w%05d", i),
			Size:            int64(1 + i%5),
			Member:          s.Members[home].Name,
			AvailabilitySet: fmt.Sprintf("as%d", i/5),
		}
		for c := range nCand {
			w.Candidates = append(w.Candidates, s.Members[(home+c*7)%members].Name)
		}
		s.Workloads = append(s.Workloads, w)
	}
	return s
}

// BenchmarkRank ranks one workload of 1,000 members x 10 workloads, as a failover does
// (its current member excluded).
func BenchmarkRank(b *testing.B) {
	for _, nCand := range []int{3, 1000} {
		b.Run(fmt.Sprintf("candidates=%d", nCand), func(b *testing.B) {
			s := benchState(1000, 10, nCand)
			w := s.Workloads[len(s.Workloads)/2]
			r := Request{Workload: w.Name, Exclude: []string{w.Member}, Reason: "source of the failover"}
			if p, err := Rank(s, r); err != nil || len(p.Candidates) != nCand {
				b.Fatalf("Rank: %v, %d candidates", err, len(p.Candidates))
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Rank(s, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRebalance proposes 16 moves on 1,000 members x 10 workloads where the first
// hundred members carry twice the load of the others.
func BenchmarkRebalance(b *testing.B) {
	s := benchState(1000, 10, 3)
	for i := range s.Workloads[:1000] {
		s.Workloads[i].Size *= 2
	}
	if moves := Rebalance(s, 16); len(moves) != 16 {
		b.Fatalf("Rebalance proposed %d moves, want 16", len(moves))
	}
	b.ReportAllocs()
	for b.Loop() {
		Rebalance(s, 16)
	}
}
