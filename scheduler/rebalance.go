package scheduler

import (
	"cmp"
	"fmt"
	"math/bits"
	"slices"
	"strings"
)

// Rebalance proposes at most maxMoves moves that even out the load of the members, in the
// order they should run. A move takes a workload from an eligible member (active, up or
// degraded, with an online server) whose load is above its pool's fair share to the best
// accepted candidate of Rank (with the source excluded) that
//   - is in the same pool: members with a finite capacity are balanced by load ratio
//     (load/capacity), members with unlimited capacity by absolute load, and no move
//     crosses between the two;
//   - strictly lowers the pool's imbalance (the sum over members of load²/capacity, or of
//     load² for unlimited members), so moves never oscillate;
//   - does not add soft spread conflicts for the workload.
//
// Moves respect capacity and hard spread because their targets are accepted by Rank on the
// state with the earlier moves applied. Each workload moves at most once, workloads of
// size 0 never. Rebalance returns nil for maxMoves <= 0, for a state Rank would reject
// with ErrInvalidState, and for a state with two workloads of the same name. It is pure
// and deterministic; s is not modified.
func Rebalance(s State, maxMoves int) []Move {
	if maxMoves <= 0 {
		return nil
	}
	x, err := newIndex(s)
	if err != nil || hasDuplicateNames(s.Workloads) {
		return nil
	}
	// The simulation moves workloads in a private copy of the workload list.
	x.workloads = slices.Clone(x.workloads)
	x.indexSets()
	b := newBalancer(x)
	var moves []Move
	for len(moves) < maxMoves {
		mv, ok := b.next()
		if !ok {
			break
		}
		moves = append(moves, mv)
	}
	return moves
}

// hasDuplicateNames reports whether two workloads share a name: Rebalance could not tell
// the controller which one to move.
func hasDuplicateNames(ws []Workload) bool {
	seen := make(map[string]struct{}, len(ws))
	for _, w := range ws {
		if _, dup := seen[w.Name]; dup {
			return true
		}
		seen[w.Name] = struct{}{}
	}
	return false
}

// pool is a set of members balanced against each other.
type pool struct {
	finite bool
	load   int64 // total load of the pool's members (constant: moves stay in the pool)
	weight int64 // total capacity (finite pool) or number of members (unlimited pool)
}

type balancer struct {
	x        *index
	eligible []bool
	pools    [2]pool // [0] finite capacity, [1] unlimited
	hosted   [][]int // workloads placed on each member
	moved    []bool
}

func newBalancer(x *index) *balancer {
	b := &balancer{
		x:        x,
		eligible: make([]bool, len(x.members)),
		hosted:   make([][]int, len(x.members)),
		moved:    make([]bool, len(x.workloads)),
	}
	b.pools[0].finite = true
	for mi := range x.members {
		m := &x.members[mi]
		b.eligible[mi] = len(appendAdmissionReasons(nil, m)) == 0 && onlineServers(m) > 0
		if !b.eligible[mi] {
			continue
		}
		p := b.poolOf(mi)
		p.load = satAdd(p.load, x.load[mi])
		if p.finite {
			p.weight = satAdd(p.weight, m.Capacity)
		} else {
			p.weight++
		}
	}
	for wi, w := range x.workloads {
		if mi, ok := x.memberIdx[w.Member]; ok && w.Member != "" {
			b.hosted[mi] = append(b.hosted[mi], wi)
		}
	}
	return b
}

func (b *balancer) poolOf(mi int) *pool {
	if b.x.members[mi].Capacity > 0 {
		return &b.pools[0]
	}
	return &b.pools[1]
}

// metric is a member's load relative to its pool: load ratio or absolute load.
func (b *balancer) metric(mi int) float64 {
	if c := b.x.members[mi].Capacity; c > 0 {
		return float64(b.x.load[mi]) / float64(c)
	}
	return float64(b.x.load[mi])
}

// fair is a pool's fair share in the unit of metric.
func (p *pool) fair() float64 {
	return float64(p.load) / float64(p.weight)
}

// overFair reports exactly whether member mi's metric exceeds its pool's fair share:
// load/capacity > poolLoad/poolCapacity, or load > poolLoad/members.
func (b *balancer) overFair(mi int) bool {
	p := b.poolOf(mi)
	per := b.x.members[mi].Capacity
	if !p.finite {
		per = 1
	}
	return cmp128(mul(b.x.load[mi], p.weight), mul(p.load, per)) > 0
}

// next finds the next move and applies it to the simulation.
func (b *balancer) next() (Move, bool) {
	for _, src := range b.sources() {
		for _, wi := range b.movable(src) {
			if dst, ok := b.target(src, wi); ok {
				return b.apply(src, dst, wi), true
			}
		}
	}
	return Move{}, false
}

// sources lists the eligible members above their fair share, the most loaded relative to
// their fair share first.
func (b *balancer) sources() []int {
	var out []int
	for mi := range b.x.members {
		if b.eligible[mi] && b.overFair(mi) {
			out = append(out, mi)
		}
	}
	excess := func(mi int) float64 { return b.metric(mi) / b.poolOf(mi).fair() }
	slices.SortFunc(out, func(i, j int) int {
		if c := cmp.Compare(excess(j), excess(i)); c != 0 {
			return c
		}
		return strings.Compare(b.x.members[i].Name, b.x.members[j].Name)
	})
	return out
}

// movable lists the workloads of member src that may still move, largest first.
func (b *balancer) movable(src int) []int {
	var out []int
	for _, wi := range b.hosted[src] {
		if !b.moved[wi] && b.x.workloads[wi].Size > 0 {
			out = append(out, wi)
		}
	}
	slices.SortFunc(out, func(i, j int) int {
		wi, wj := &b.x.workloads[i], &b.x.workloads[j]
		if c := cmp.Compare(wj.Size, wi.Size); c != 0 {
			return c
		}
		return strings.Compare(wi.Name, wj.Name)
	})
	return out
}

// target returns the best member to move workload wi to from src, if any improves balance.
func (b *balancer) target(src, wi int) (int, bool) {
	w := &b.x.workloads[wi]
	// Ranking explains every candidate, which costs; first make sure one could improve.
	if !slices.ContainsFunc(w.Candidates, func(name string) bool { return b.couldTake(src, name, w.Size) }) {
		return 0, false
	}
	cands, err := b.x.rank(wi, Request{Workload: w.Name, Exclude: []string{w.Member}})
	if err != nil {
		return 0, false
	}
	softNow := 0
	if sp := b.x.spreadFor(wi); !sp.hard {
		softNow = sp.domains[domainOf(&b.x.members[src])].count
	}
	for _, c := range cands {
		if c.Rejected {
			break // accepted candidates come first
		}
		if b.poolOf(c.member) == b.poolOf(src) && c.soft <= softNow && b.improves(src, c.member, w.Size) {
			return c.member, true
		}
	}
	return 0, false
}

// couldTake reports whether member name is eligible, in src's pool and would lower the
// imbalance by taking size from src: the cheap part of the target conditions.
func (b *balancer) couldTake(src int, name string, size int64) bool {
	mi, ok := b.x.memberIdx[name]
	return ok && mi != src && b.eligible[mi] && b.poolOf(mi) == b.poolOf(src) && b.improves(src, mi, size)
}

// improves reports exactly whether moving size from member a to member b of the same pool
// strictly lowers the pool's imbalance. For capacities ca and cb and loads la and lb,
// (la-s)²/ca + (lb+s)²/cb < la²/ca + lb²/cb  ⇔  s·(ca+cb) + 2·lb·ca < 2·la·cb,
// and with unlimited capacities (ca = cb = 1) it reads lb + s < la.
func (b *balancer) improves(a, bm int, size int64) bool {
	ca, cb := b.x.members[a].Capacity, b.x.members[bm].Capacity
	if ca == 0 {
		ca, cb = 1, 1
	}
	la, lb := b.x.load[a], b.x.load[bm]
	lhs := add128(mulU(uint64(size), uint64(ca)+uint64(cb)), shl1(mul(lb, ca)))
	return cmp128(lhs, shl1(mul(la, cb))) < 0
}

// apply records the move of workload wi from src to dst in the simulation.
func (b *balancer) apply(src, dst, wi int) Move {
	x := b.x
	w := &x.workloads[wi]
	before, beforeDst := x.load[src], x.load[dst]
	x.load[src] -= w.Size
	x.load[dst] = satAdd(x.load[dst], w.Size)
	w.Member = x.members[dst].Name
	b.hosted[src] = slices.DeleteFunc(b.hosted[src], func(i int) bool { return i == wi })
	b.hosted[dst] = append(b.hosted[dst], wi)
	b.moved[wi] = true
	return Move{
		Workload: w.Name,
		From:     x.members[src].Name,
		To:       x.members[dst].Name,
		Reason:   b.moveReason(src, dst, before, beforeDst),
	}
}

func (b *balancer) moveReason(src, dst int, before, beforeDst int64) string {
	x := b.x
	ms, md := &x.members[src], &x.members[dst]
	if p := b.poolOf(src); p.finite {
		return fmt.Sprintf("member %s load %d/%d (%.0f%%) is above the fair share %.0f%%; %s goes from %d/%d to %d/%d",
			ms.Name, before, ms.Capacity, 100*float64(before)/float64(ms.Capacity), 100*p.fair(),
			md.Name, beforeDst, md.Capacity, x.load[dst], md.Capacity)
	}
	return fmt.Sprintf("member %s load %d is above the fair share %.1f of members with unlimited capacity; %s goes from %d to %d",
		ms.Name, before, b.poolOf(src).fair(), md.Name, beforeDst, x.load[dst])
}

// u128 is an unsigned 128-bit integer for exact comparisons of products of int64 values.
type u128 struct{ hi, lo uint64 }

// mul multiplies two non-negative int64 values.
func mul(a, b int64) u128 { return mulU(uint64(a), uint64(b)) }

func mulU(a, b uint64) u128 {
	hi, lo := bits.Mul64(a, b)
	return u128{hi, lo}
}

func add128(a, b u128) u128 {
	lo, carry := bits.Add64(a.lo, b.lo, 0)
	hi, _ := bits.Add64(a.hi, b.hi, carry)
	return u128{hi, lo}
}

func shl1(a u128) u128 { return u128{a.hi<<1 | a.lo>>63, a.lo << 1} }

func cmp128(a, b u128) int {
	if c := cmp.Compare(a.hi, b.hi); c != 0 {
		return c
	}
	return cmp.Compare(a.lo, b.lo)
}
