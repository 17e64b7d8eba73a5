package scheduler_test

import (
	"fmt"

	"github.com/cset-project/cset/scheduler"
)

// The dev cluster set: web runs on east, which just died; the controller asks where to fail
// it over, with east excluded.
func ExampleRank() {
	s := scheduler.State{
		Members: []scheduler.Member{
			{Name: "east", FaultDomain: "rack-a", Admin: scheduler.AdminActive, Health: scheduler.HealthDown,
				Servers: []scheduler.Server{{Name: "east-1"}, {Name: "east-2"}}},
			{Name: "west", FaultDomain: "rack-b", Capacity: 10, Admin: scheduler.AdminActive, Health: scheduler.HealthUp,
				Servers: []scheduler.Server{{Name: "west-1", Online: true}, {Name: "west-2", Online: true}}},
		},
		Workloads: []scheduler.Workload{
			{Name: "web", Size: 2, Candidates: []string{"east", "west"}, Member: "east"},
			{Name: "db", Size: 5, Candidates: []string{"west", "east"}, Member: "west"},
		},
	}
	p, err := scheduler.Rank(s, scheduler.Request{Workload: "web", Exclude: []string{"east"}, Reason: "source of the failover"})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range p.Candidates {
		fmt.Printf("%s/%s rejected=%v score=%.2f: %s\n", c.Member, c.Server, c.Rejected, c.Score, c.Reason)
	}
	if best, ok := p.Best(); ok {
		fmt.Println("start web on", best.Member, best.Server)
	}
	// Output:
	// west/west-1 rejected=false score=-1.70: up, preference 2 of 2, load 7/10 after placement (70%)
	// east/ rejected=true score=0.00: excluded: source of the failover; member east health is down; no online server
	// start web on west west-1
}
