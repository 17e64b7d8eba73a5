package scheduler

import (
	"errors"
	"fmt"
	"math/big"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// harness runs the scheduler the way the controller does and checks every answer against
// the invariants below, like nomad's scheduler/tests Harness: a test states its scenario
// and its expectations, the harness adds the checks every scenario must pass.
type harness struct {
	t     testing.TB
	state State
}

func newHarness(t testing.TB, s State) *harness {
	t.Helper()
	return &harness{t: t, state: s}
}

// rank calls Rank and fails the test if the answer breaks an invariant.
func (h *harness) rank(r Request) (Plan, error) {
	h.t.Helper()
	p, err := Rank(h.state, r)
	for _, v := range checkRank(h.state, r, p, err) {
		h.t.Errorf("invariant: %s", v)
	}
	return p, err
}

// rebalance calls Rebalance and fails the test if the answer breaks an invariant.
func (h *harness) rebalance(maxMoves int) []Move {
	h.t.Helper()
	moves := Rebalance(h.state, maxMoves)
	for _, v := range checkRebalance(h.state, maxMoves, moves) {
		h.t.Errorf("invariant: %s", v)
	}
	return moves
}

// Fixtures, in the spirit of nomad's mock package: a healthy active member whose servers
// are all online, and an unplaced workload.

func member(name, faultDomain string, capacity int64, servers ...string) Member {
	m := Member{Name: name, FaultDomain: faultDomain, Capacity: capacity, Admin: AdminActive, Health: HealthUp}
	for _, s := range servers {
		m.Servers = append(m.Servers, Server{Name: s, Online: true})
	}
	return m
}

func withAdmin(m Member, a Admin) Member { m.Admin = a; return m }

func withHealth(m Member, h Health) Member { m.Health = h; return m }

// withOffline marks servers offline (and copies the server list, so fixtures stay shared-free).
func withOffline(m Member, servers ...string) Member {
	m.Servers = slices.Clone(m.Servers)
	for i := range m.Servers {
		if slices.Contains(servers, m.Servers[i].Name) {
			m.Servers[i].Online = false
		}
	}
	return m
}

func workload(name string, size int64, candidates ...string) Workload {
	return Workload{Name: name, Size: size, Candidates: candidates}
}

func placedOn(w Workload, member string) Workload { w.Member = member; return w }

func inSet(w Workload, set string) Workload { w.AvailabilitySet = set; return w }

// cloneState deep-copies a state so a test can prove the scheduler did not modify it.
func cloneState(s State) State {
	out := State{
		Members:          slices.Clone(s.Members),
		Workloads:        slices.Clone(s.Workloads),
		AvailabilitySets: slices.Clone(s.AvailabilitySets),
	}
	for i := range out.Members {
		out.Members[i].Servers = slices.Clone(out.Members[i].Servers)
	}
	for i := range out.Workloads {
		out.Workloads[i].Candidates = slices.Clone(out.Workloads[i].Candidates)
	}
	return out
}

// permuted reverses every list of a state: the answer must not depend on their order.
func permuted(s State) State {
	out := cloneState(s)
	slices.Reverse(out.Members)
	slices.Reverse(out.Workloads)
	slices.Reverse(out.AvailabilitySets)
	return out
}

// checkRank checks the answer of Rank(s, r) against an independent, naive oracle and returns
// every violation found.
func checkRank(s State, r Request, p Plan, err error) []string {
	var v []string
	before := cloneState(s)
	p2, err2 := Rank(s, r)
	if d := cmp.Diff(before, s); d != "" {
		v = append(v, "Rank modified its input (-before +after):\n"+d)
	}
	if d := cmp.Diff(p, p2); d != "" || fmt.Sprint(err) != fmt.Sprint(err2) {
		v = append(v, fmt.Sprintf("not deterministic: errors %v / %v, plan diff:\n%s", err, err2, d))
	}
	p3, err3 := Rank(permuted(s), r)
	if d := cmp.Diff(p, p3); d != "" || fmt.Sprint(err) != fmt.Sprint(err3) {
		v = append(v, fmt.Sprintf("depends on the order of the state: errors %v / %v, plan diff:\n%s", err, err3, d))
	}
	o := newOracle(s)
	want := o.requestError(r)
	switch {
	case want == nil && err != nil:
		return append(v, fmt.Sprintf("unexpected error %v", err))
	case want != nil && !errors.Is(err, want):
		return append(v, fmt.Sprintf("error %v, want one wrapping %v", err, want))
	case err != nil:
		if p.Workload != "" || p.Candidates != nil {
			v = append(v, fmt.Sprintf("plan %+v returned with error %v", p, err))
		}
		if err.Error() == want.Error() {
			v = append(v, "error carries no detail: "+err.Error())
		}
		return v
	}
	return append(v, o.checkPlan(r, p)...)
}

// oracle recomputes the scheduler's rules the slow, obvious way.
type oracle struct {
	s State
}

func newOracle(s State) *oracle { return &oracle{s: s} }

func (o *oracle) member(name string) (Member, bool) {
	for _, m := range o.s.Members {
		if m.Name == name {
			return m, true
		}
	}
	return Member{}, false
}

func (o *oracle) workload(name string) (Workload, int) {
	n := 0
	var w Workload
	for _, x := range o.s.Workloads {
		if x.Name == name {
			w = x
			n++
		}
	}
	return w, n
}

// requestError is the sentinel Rank must return for r, or nil.
func (o *oracle) requestError(r Request) error {
	if err := o.stateError(); err != nil {
		return err
	}
	if r.Workload == "" {
		return ErrInvalidRequest
	}
	w, n := o.workload(r.Workload)
	switch {
	case n == 0:
		return ErrUnknownWorkload
	case n > 1:
		return ErrInvalidState
	case r.PinServer != "" && r.PinMember == "", r.Force && r.PinMember == "":
		return ErrInvalidRequest
	case r.PinMember == "":
		return nil
	}
	m, known := o.member(r.PinMember)
	if !known || !slices.Contains(w.Candidates, r.PinMember) || slices.Contains(r.Exclude, r.PinMember) {
		return ErrInvalidRequest
	}
	if r.PinServer != "" && !slices.ContainsFunc(m.Servers, func(x Server) bool { return x.Name == r.PinServer }) {
		return ErrInvalidRequest
	}
	return nil
}

// stateError is ErrInvalidState if s breaks the preconditions every call checks.
func (o *oracle) stateError() error {
	seen := map[string]bool{}
	for _, m := range o.s.Members {
		if m.Name == "" || seen[m.Name] || m.Capacity < 0 {
			return ErrInvalidState
		}
		seen[m.Name] = true
	}
	sets := map[string]bool{}
	for _, as := range o.s.AvailabilitySets {
		if sets[as.Name] {
			return ErrInvalidState
		}
		sets[as.Name] = true
	}
	for _, x := range o.s.Workloads {
		if x.Size < 0 {
			return ErrInvalidState
		}
	}
	return nil
}

// load is the sum of the sizes of the workloads other than self placed on member.
func (o *oracle) load(member, self string) int64 {
	var sum int64
	for _, w := range o.s.Workloads {
		if w.Member == member && w.Name != self {
			sum += w.Size
		}
	}
	return sum
}

func (o *oracle) isHard(set string) bool {
	for _, as := range o.s.AvailabilitySets {
		if as.Name == set {
			return as.Hard
		}
	}
	return false
}

func sameDomain(a, b Member) bool {
	if a.FaultDomain == "" || b.FaultDomain == "" {
		return a.Name == b.Name
	}
	return a.FaultDomain == b.FaultDomain
}

// setPeers counts the other workloads of w's availability set placed in m's fault domain.
func (o *oracle) setPeers(w Workload, m Member) int {
	if w.AvailabilitySet == "" {
		return 0
	}
	n := 0
	for _, x := range o.s.Workloads {
		if x.Name == w.Name || x.AvailabilitySet != w.AvailabilitySet {
			continue
		}
		if xm, ok := o.member(x.Member); ok && sameDomain(xm, m) {
			n++
		}
	}
	return n
}

// acceptable says whether w may be placed on member name under request r.
func (o *oracle) acceptable(w Workload, name string, r Request) bool {
	m, ok := o.member(name)
	if !ok || slices.Contains(r.Exclude, name) || (r.PinMember != "" && r.PinMember != name) {
		return false
	}
	if m.Admin != AdminActive || (m.Health != HealthUp && m.Health != HealthDegraded) {
		return false
	}
	forced := r.Force && r.PinMember == name
	if m.Capacity > 0 && o.load(name, w.Name)+w.Size > m.Capacity && !forced {
		return false
	}
	if o.isHard(w.AvailabilitySet) && o.setPeers(w, m) > 0 {
		return false
	}
	if !o.isHard(w.AvailabilitySet) && r.PinMember == name && o.setPeers(w, m) > 0 && !forced {
		return false
	}
	if o.groupClaimedBy(w, name) {
		return false
	}
	return slices.ContainsFunc(m.Servers, func(s Server) bool {
		return s.Online && (r.PinServer == "" || s.Name == r.PinServer)
	})
}

// groupClaimedBy says whether another workload of w's ECX group lists member as a candidate.
func (o *oracle) groupClaimedBy(w Workload, member string) bool {
	for _, x := range o.s.Workloads {
		if w.Group != "" && x.Name != w.Name && x.Group == w.Group && slices.Contains(x.Candidates, member) {
			return true
		}
	}
	return false
}

// score recomputes the documented score formula.
func (o *oracle) score(w Workload, m Member, pref int) float64 {
	var penalty float64
	if m.Health == HealthDegraded {
		penalty += 1e12
	}
	if !o.isHard(w.AvailabilitySet) {
		penalty += 1e6 * float64(o.setPeers(w, m))
	}
	penalty += float64(pref)
	if m.Capacity > 0 {
		penalty += float64(o.load(m.Name, w.Name)+w.Size) / float64(m.Capacity)
	}
	return 0 - penalty
}

func (o *oracle) checkPlan(r Request, p Plan) []string {
	var v []string
	w, _ := o.workload(r.Workload)
	if p.Workload != w.Name {
		v = append(v, fmt.Sprintf("plan for %q, want %q", p.Workload, w.Name))
	}
	var prefs []string // distinct candidates in preference order
	for _, c := range w.Candidates {
		if !slices.Contains(prefs, c) {
			prefs = append(prefs, c)
		}
	}
	var listed, rejectedOrder []string
	accepted := 0
	for i, c := range p.Candidates {
		listed = append(listed, c.Member)
		if c.Rejected {
			rejectedOrder = append(rejectedOrder, c.Member)
			v = append(v, o.checkRejected(w, r, c)...)
			continue
		}
		accepted++
		if i > 0 && p.Candidates[i-1].Rejected {
			v = append(v, fmt.Sprintf("accepted %s listed after a rejected candidate", c.Member))
		}
		if i > 0 && !p.Candidates[i-1].Rejected && !rankedBefore(p.Candidates[i-1], c) {
			v = append(v, fmt.Sprintf("%s (%v) ranked before %s (%v)", p.Candidates[i-1].Member,
				p.Candidates[i-1].Score, c.Member, c.Score))
		}
		v = append(v, o.checkAccepted(w, r, c, slices.Index(prefs, c.Member))...)
	}
	sortedListed := slices.Sorted(slices.Values(listed))
	if d := cmp.Diff(slices.Sorted(slices.Values(prefs)), sortedListed); d != "" {
		v = append(v, "listed members are not the distinct candidates (-want +got):\n"+d)
	}
	var wantRejected []string
	for _, c := range prefs {
		if slices.Contains(rejectedOrder, c) {
			wantRejected = append(wantRejected, c)
		}
	}
	if d := cmp.Diff(wantRejected, rejectedOrder); d != "" {
		v = append(v, "rejected candidates are not in preference order:\n"+d)
	}
	if r.PinMember != "" && accepted > 1 {
		v = append(v, fmt.Sprintf("pinned to %s but %d candidates accepted", r.PinMember, accepted))
	}
	if best, ok := p.Best(); ok != (accepted > 0) || (ok && best != p.Candidates[0]) {
		v = append(v, fmt.Sprintf("Best() = %v, %v with %d accepted", best, ok, accepted))
	}
	return v
}

func rankedBefore(a, b Candidate) bool {
	return a.Score > b.Score || (a.Score == b.Score && a.Member < b.Member)
}

func (o *oracle) checkRejected(w Workload, r Request, c Candidate) []string {
	var v []string
	if c.Reason == "" {
		v = append(v, fmt.Sprintf("rejected %s has no reason", c.Member))
	}
	if c.Server != "" || c.Score != 0 {
		v = append(v, fmt.Sprintf("rejected %s has server %q score %v", c.Member, c.Server, c.Score))
	}
	if o.acceptable(w, c.Member, r) {
		v = append(v, fmt.Sprintf("%s rejected (%s) but acceptable", c.Member, c.Reason))
	}
	if m, ok := o.member(c.Member); ok && (c.Load != o.load(m.Name, w.Name) || c.Capacity != m.Capacity) {
		v = append(v, fmt.Sprintf("%s load %d capacity %d, want %d %d", c.Member, c.Load, c.Capacity,
			o.load(m.Name, w.Name), m.Capacity))
	}
	return v
}

func (o *oracle) checkAccepted(w Workload, r Request, c Candidate, pref int) []string {
	var v []string
	if !o.acceptable(w, c.Member, r) {
		return append(v, fmt.Sprintf("%s accepted (%s) but not acceptable", c.Member, c.Reason))
	}
	m, _ := o.member(c.Member)
	load := o.load(m.Name, w.Name)
	forced := r.Force && r.PinMember == c.Member
	if m.Capacity > 0 && load+w.Size > m.Capacity && !forced {
		v = append(v, fmt.Sprintf("capacity exceeded on %s: %d + %d > %d", m.Name, load, w.Size, m.Capacity))
	}
	if (c.Overrides != "") != (forced && (m.Capacity > 0 && load+w.Size > m.Capacity || !o.isHard(w.AvailabilitySet) && o.setPeers(w, m) > 0)) {
		v = append(v, fmt.Sprintf("%s overrides %q with force %v", m.Name, c.Overrides, r.Force))
	}
	if o.isHard(w.AvailabilitySet) && o.setPeers(w, m) > 0 {
		v = append(v, fmt.Sprintf("hard spread of %s violated on %s", w.AvailabilitySet, m.Name))
	}
	if c.Reason == "" {
		v = append(v, fmt.Sprintf("accepted %s has no explanation", c.Member))
	}
	if c.Load != load || c.Capacity != m.Capacity {
		v = append(v, fmt.Sprintf("%s load %d capacity %d, want %d %d", c.Member, c.Load, c.Capacity, load, m.Capacity))
	}
	wantServer := r.PinServer
	if wantServer == "" {
		i := slices.IndexFunc(m.Servers, func(s Server) bool { return s.Online })
		wantServer = m.Servers[i].Name
	}
	if c.Server != wantServer {
		v = append(v, fmt.Sprintf("%s server %q, want %q", c.Member, c.Server, wantServer))
	}
	if want := o.score(w, m, pref); c.Score != want {
		v = append(v, fmt.Sprintf("%s score %v, want %v", c.Member, c.Score, want))
	}
	return v
}

// checkRebalance replays the moves on a copy of s and checks each one.
func checkRebalance(s State, maxMoves int, moves []Move) []string {
	var v []string
	before := cloneState(s)
	again := Rebalance(s, maxMoves)
	if d := cmp.Diff(before, s); d != "" {
		v = append(v, "Rebalance modified its input:\n"+d)
	}
	if d := cmp.Diff(moves, again); d != "" {
		v = append(v, "Rebalance not deterministic:\n"+d)
	}
	if d := cmp.Diff(moves, Rebalance(permuted(s), maxMoves)); d != "" {
		v = append(v, "Rebalance depends on the order of the state:\n"+d)
	}
	if err := newOracle(s).stateError(); (err != nil || hasDuplicateWorkloads(s)) && moves != nil {
		v = append(v, fmt.Sprintf("moves %v for an invalid state", moves))
	}
	if len(moves) > max(maxMoves, 0) {
		v = append(v, fmt.Sprintf("%d moves, max %d", len(moves), maxMoves))
	}
	sim := cloneState(s)
	moved := map[string]bool{}
	for _, mv := range moves {
		v = append(v, checkMove(sim, mv, moved)...)
		for i := range sim.Workloads {
			if sim.Workloads[i].Name == mv.Workload {
				sim.Workloads[i].Member = mv.To
			}
		}
	}
	return v
}

func checkMove(sim State, mv Move, moved map[string]bool) []string {
	var v []string
	o := newOracle(sim)
	w, n := o.workload(mv.Workload)
	if n != 1 || moved[mv.Workload] || w.Member != mv.From || mv.From == mv.To || mv.Reason == "" || w.Size == 0 {
		return append(v, fmt.Sprintf("bad move %+v of workload %+v (moved before: %v)", mv, w, moved[mv.Workload]))
	}
	moved[mv.Workload] = true
	if !slices.Contains(w.Candidates, mv.To) || !o.acceptable(w, mv.To, Request{Workload: w.Name}) {
		v = append(v, fmt.Sprintf("move %+v: target not acceptable", mv))
	}
	from, _ := o.member(mv.From)
	to, _ := o.member(mv.To)
	if (from.Capacity == 0) != (to.Capacity == 0) {
		v = append(v, fmt.Sprintf("move %+v crosses between finite and unlimited capacity", mv))
	}
	if !o.isHard(w.AvailabilitySet) && o.setPeers(w, to) > o.setPeers(w, from) {
		v = append(v, fmt.Sprintf("move %+v adds soft spread conflicts", mv))
	}
	if !overFairShare(sim, from) {
		v = append(v, fmt.Sprintf("move %+v: source is not above its fair share", mv))
	}
	after := cloneState(sim)
	for i := range after.Workloads {
		if after.Workloads[i].Name == w.Name {
			after.Workloads[i].Member = mv.To
		}
	}
	if imbalance(after, to.Capacity > 0).Cmp(imbalance(sim, to.Capacity > 0)) >= 0 {
		v = append(v, fmt.Sprintf("move %+v does not lower the imbalance", mv))
	}
	return v
}

// imbalance is Σ load²/capacity over finite-capacity members, or Σ load² over unlimited
// ones, computed with exact rationals.
func imbalance(s State, finite bool) *big.Rat {
	o := newOracle(s)
	sum := new(big.Rat)
	for _, m := range s.Members {
		if (m.Capacity > 0) != finite {
			continue
		}
		l := big.NewRat(o.load(m.Name, ""), 1)
		term := new(big.Rat).Mul(l, l)
		if finite {
			term.Quo(term, big.NewRat(m.Capacity, 1))
		}
		sum.Add(sum, term)
	}
	return sum
}

func hasDuplicateWorkloads(s State) bool {
	seen := map[string]bool{}
	for _, w := range s.Workloads {
		if seen[w.Name] {
			return true
		}
		seen[w.Name] = true
	}
	return false
}

// overFairShare reports whether m's load is above the fair share of its pool: the eligible
// members with the same kind of capacity (finite: by load ratio; unlimited: by load).
func overFairShare(s State, m Member) bool {
	o := newOracle(s)
	total, weight := new(big.Rat), new(big.Rat)
	for _, x := range s.Members {
		eligible := x.Admin == AdminActive && (x.Health == HealthUp || x.Health == HealthDegraded) &&
			slices.ContainsFunc(x.Servers, func(s Server) bool { return s.Online })
		if !eligible || (x.Capacity > 0) != (m.Capacity > 0) {
			continue
		}
		total.Add(total, big.NewRat(o.load(x.Name, ""), 1))
		weight.Add(weight, big.NewRat(max(x.Capacity, 1), 1))
	}
	if weight.Sign() == 0 {
		return false
	}
	fair := new(big.Rat).Quo(total, weight)
	mine := big.NewRat(o.load(m.Name, ""), max(m.Capacity, 1))
	return mine.Cmp(fair) > 0
}
