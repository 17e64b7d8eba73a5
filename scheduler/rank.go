package scheduler

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Weights of the score (see DESIGN.md). Each one exceeds the largest possible sum of the
// terms below it, so the score orders candidates lexicographically by health, then soft
// spread conflicts, then preference, then load, as long as a workload has fewer than a
// million candidates and a fault domain hosts fewer than a million workloads of its set.
const (
	weightDegraded   = 1e12
	weightSoftSpread = 1e6
	weightPreference = 1
)

// Rank ranks the candidate members of r.Workload, and a server within each accepted member,
// in state s. The plan lists every distinct member named in the workload's candidate list
// once: accepted candidates first, best first, then rejected ones, each with its reason.
//
// Rank returns an error only for a request it cannot answer: an unknown workload
// (ErrUnknownWorkload), a malformed request such as a pin to a member that is not a candidate
// (ErrInvalidRequest), or a state that breaks the preconditions (ErrInvalidState). A
// request that no member can satisfy is not an error: its plan has no accepted candidate.
//
// Rank is pure: it reads s only, and the same input always yields the same plan.
func Rank(s State, r Request) (Plan, error) {
	x, err := newIndex(s)
	if err != nil {
		return Plan{}, err
	}
	wi, err := x.findWorkload(r.Workload)
	if err != nil {
		return Plan{}, err
	}
	ranked, err := x.rank(wi, r)
	if err != nil {
		return Plan{}, err
	}
	p := Plan{Workload: r.Workload, Candidates: make([]Candidate, len(ranked))}
	for i := range ranked {
		p.Candidates[i] = ranked[i].Candidate
	}
	return p, nil
}

// ranked is a Candidate with the facts Rebalance needs besides the public fields.
type ranked struct {
	Candidate
	member int // index in x.members, -1 for an unknown member
	soft   int // soft spread conflicts of an accepted candidate
}

// rank evaluates every candidate of workload wi and orders them as Rank documents.
func (x *index) rank(wi int, r Request) ([]ranked, error) {
	w := &x.workloads[wi]
	cands := distinct(w.Candidates)
	if err := x.checkRequest(w, cands, r); err != nil {
		return nil, err
	}
	sp := x.spreadFor(wi)
	owners := x.groupOwners(wi)
	out := make([]ranked, 0, len(cands))
	var rejected []ranked
	for pref, name := range cands {
		c := x.evaluate(wi, pref, len(cands), name, r, sp, owners)
		if c.Rejected {
			rejected = append(rejected, c)
			continue
		}
		out = append(out, c)
	}
	slices.SortStableFunc(out, func(a, b ranked) int {
		if a.Score != b.Score {
			return cmp.Compare(b.Score, a.Score)
		}
		return strings.Compare(a.Member, b.Member)
	})
	return append(out, rejected...), nil
}

// checkRequest rejects requests that cannot be answered with a plan.
func (x *index) checkRequest(w *Workload, cands []string, r Request) error {
	if r.Force && r.PinMember == "" {
		return fmt.Errorf("%w: force applies to a pinned target only", ErrInvalidRequest)
	}
	if r.PinServer != "" && r.PinMember == "" {
		return fmt.Errorf("%w: pin to server %s needs its member", ErrInvalidRequest, r.PinServer)
	}
	if r.PinMember == "" {
		return nil
	}
	mi, known := x.memberIdx[r.PinMember]
	switch {
	case !known:
		return fmt.Errorf("%w: pin to member %s: no such member in the cluster set", ErrInvalidRequest, r.PinMember)
	case !slices.Contains(cands, r.PinMember):
		return fmt.Errorf("%w: pin to member %s: not a candidate of workload %s (candidates: %s)",
			ErrInvalidRequest, r.PinMember, w.Name, candidateList(cands))
	case slices.Contains(r.Exclude, r.PinMember):
		return fmt.Errorf("%w: pin to member %s: the request also excludes it", ErrInvalidRequest, r.PinMember)
	}
	if r.PinServer != "" && serverIndex(&x.members[mi], r.PinServer) < 0 {
		return fmt.Errorf("%w: pin to server %s/%s: member %s has no server %s",
			ErrInvalidRequest, r.PinMember, r.PinServer, r.PinMember, r.PinServer)
	}
	return nil
}

// groupOwners returns, for workload wi's ECX group, every member that another workload of the
// same group lists as a candidate, with the alphabetically first such workload.
func (x *index) groupOwners(wi int) map[string]string {
	w := &x.workloads[wi]
	if w.Group == "" {
		return nil
	}
	var owners map[string]string
	x.groupPeers(w.Group, func(oi int) {
		o := &x.workloads[oi]
		if oi == wi {
			return
		}
		if owners == nil {
			owners = make(map[string]string)
		}
		for _, c := range o.Candidates {
			if cur, ok := owners[c]; !ok || o.Name < cur {
				owners[c] = o.Name
			}
		}
	})
	return owners
}

// evaluate judges one candidate member: the workload's pref-th of n distinct candidates.
func (x *index) evaluate(wi, pref, n int, name string, r Request, sp spread, owners map[string]string) ranked {
	w := &x.workloads[wi]
	mi, ok := x.memberIdx[name]
	if !ok {
		return rejectedCandidate(name, -1, "member "+name+" is not in the cluster set")
	}
	m := &x.members[mi]
	load := x.loadWithout(mi, wi)
	if r.PinMember != "" && name != r.PinMember {
		c := rejectedCandidate(name, mi, "not the requested target: the request pins "+r.PinMember)
		c.Load, c.Capacity = load, m.Capacity
		return c
	}
	var reasons []string
	if slices.Contains(r.Exclude, name) {
		reasons = append(reasons, excludeReason(r))
	}
	reasons = appendAdmissionReasons(reasons, m)
	if owner, ok := owners[name]; ok {
		reasons = append(reasons, fmt.Sprintf("ECX group %s on member %s belongs to workload %s", w.Group, name, owner))
	}
	// An operator's pin is held to capacity and soft spread unless forced; the scheduler's own
	// choice treats soft spread as a preference (the score).
	var overrides []string
	overridable := func(why string) {
		if r.Force {
			overrides = append(overrides, why)
		} else {
			reasons = append(reasons, why)
		}
	}
	if m.Capacity > 0 && satAdd(load, w.Size) > m.Capacity {
		overridable(fmt.Sprintf("capacity %d exceeded: load %d + size %d", m.Capacity, load, w.Size))
	}
	d := domainOf(m)
	occ := sp.domains[d]
	if sp.hard && occ.count > 0 {
		reasons = append(reasons, fmt.Sprintf("%s already hosts %s of hard availability set %s",
			d.describe(), hosted(occ), sp.set))
	}
	if !sp.hard && occ.count > 0 && r.PinMember == name {
		overridable(fmt.Sprintf("%s already hosts %s of soft availability set %s", d.describe(), hosted(occ), sp.set))
	}
	server, why := pickServer(m, r.PinServer)
	if why != "" {
		reasons = append(reasons, why)
	}
	if len(reasons) > 0 {
		c := rejectedCandidate(name, mi, strings.Join(reasons, "; "))
		c.Load, c.Capacity = load, m.Capacity
		return c
	}
	c := ranked{
		Candidate: Candidate{Member: name, Server: server, Load: load, Capacity: m.Capacity, Overrides: strings.Join(overrides, "; ")},
		member:    mi,
	}
	if !sp.hard {
		c.soft = occ.count
	}
	c.Score, c.Reason = score(m, pref, n, satAdd(load, w.Size), c.soft, d, occ, sp.set)
	return c
}

// appendAdmissionReasons adds why a member's admin state or health keeps it from hosting
// any workload.
func appendAdmissionReasons(reasons []string, m *Member) []string {
	switch m.Admin {
	case AdminActive:
	case AdminDraining, AdminDisabled:
		reasons = append(reasons, fmt.Sprintf("member %s is %s", m.Name, m.Admin))
	default:
		reasons = append(reasons, fmt.Sprintf("member %s admin state %q is not active", m.Name, m.Admin))
	}
	switch m.Health {
	case HealthUp, HealthDegraded:
	case "":
		reasons = append(reasons, fmt.Sprintf("member %s health is %s", m.Name, HealthUnknown))
	default:
		reasons = append(reasons, fmt.Sprintf("member %s health is %s", m.Name, m.Health))
	}
	return reasons
}

// score computes the score of an accepted candidate and the explanation shown with it.
// after is the member's load with the workload placed on it.
func score(m *Member, pref, n int, after int64, soft int, d domain, occ occupancy, set string) (float64, string) {
	var penalty float64
	var parts []string
	if m.Health == HealthDegraded {
		penalty += weightDegraded
		parts = append(parts, fmt.Sprintf("degraded (%d of %d servers online)", onlineServers(m), len(m.Servers)))
	} else {
		parts = append(parts, "up")
	}
	if soft > 0 {
		penalty += weightSoftSpread * float64(soft)
		parts = append(parts, fmt.Sprintf("soft spread: %s already hosts %s of availability set %s",
			d.describe(), hosted(occ), set))
	}
	penalty += weightPreference * float64(pref)
	parts = append(parts, fmt.Sprintf("preference %d of %d", pref+1, n))
	if m.Capacity > 0 {
		ratio := float64(after) / float64(m.Capacity)
		penalty += ratio
		parts = append(parts, fmt.Sprintf("load %d/%d after placement (%.0f%%)", after, m.Capacity, 100*ratio))
	} else {
		parts = append(parts, fmt.Sprintf("load %d after placement, capacity unlimited", after))
	}
	// 0 - penalty rather than -penalty: a perfect candidate scores 0, not -0.
	return 0 - penalty, strings.Join(parts, ", ")
}

// pickServer chooses the server of a member: the pinned one if it is online, else the
// first online server in the member's (ECX priority) order. why is non-empty when none fits.
func pickServer(m *Member, pin string) (server, why string) {
	if pin != "" {
		if i := serverIndex(m, pin); i >= 0 && m.Servers[i].Online {
			return pin, ""
		}
		return "", "server " + pin + " is offline"
	}
	for _, s := range m.Servers {
		if s.Online {
			return s.Name, ""
		}
	}
	return "", "no online server"
}

func serverIndex(m *Member, name string) int {
	return slices.IndexFunc(m.Servers, func(s Server) bool { return s.Name == name })
}

func onlineServers(m *Member) int {
	n := 0
	for _, s := range m.Servers {
		if s.Online {
			n++
		}
	}
	return n
}

func rejectedCandidate(name string, mi int, reason string) ranked {
	return ranked{Candidate: Candidate{Member: name, Rejected: true, Reason: reason}, member: mi}
}

func excludeReason(r Request) string {
	if r.Reason == "" {
		return "excluded by the request"
	}
	return "excluded: " + r.Reason
}

// hosted names the workloads of a set that a fault domain hosts.
func hosted(occ occupancy) string {
	if occ.count > 1 {
		return fmt.Sprintf("%s and %d more", occ.first, occ.count-1)
	}
	return occ.first
}

// distinct returns names without repetitions, first occurrence kept; it copies only when
// it has to drop something.
func distinct(names []string) []string {
	if len(names) > 16 {
		return distinctLarge(names)
	}
	for i := 1; i < len(names); i++ {
		if slices.Contains(names[:i], names[i]) {
			out := slices.Clone(names[:i])
			for _, n := range names[i+1:] {
				if !slices.Contains(out, n) {
					out = append(out, n)
				}
			}
			return out
		}
	}
	return names
}

// distinctLarge is distinct for long lists, where a quadratic scan would dominate Rank.
func distinctLarge(names []string) []string {
	seen := make(map[string]struct{}, len(names))
	var out []string
	for i, n := range names {
		if _, dup := seen[n]; !dup {
			seen[n] = struct{}{}
			if out != nil {
				out = append(out, n)
			}
			continue
		}
		if out == nil {
			out = slices.Clone(names[:i])
		}
	}
	if out == nil {
		return names
	}
	return out
}

func candidateList(cands []string) string {
	if len(cands) == 0 {
		return "none"
	}
	return strings.Join(cands, ", ")
}
