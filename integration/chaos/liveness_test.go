package chaos

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// monitorPeriod is how often the monitor samples the system during the run.
const monitorPeriod = 250 * time.Millisecond

// sample is one look at the system: where ecxsim runs each workload's group Online, whether a
// majority of the masters' DNS servers answer it there, and who leads.
type sample struct {
	at      time.Time
	leaders []string // the masters that report themselves leader (none while there is no leader)
	on      []string // per workload index: the members where ecxsim reports its group Online, joined by ","
	live    []bool   // per workload index: Online on exactly one member and in DNS there
}

// monitor samples the system every monitorPeriod until stopped. Its samples are the evidence of
// the liveness checker. It is safe for concurrent use.
type monitor struct {
	e       *env
	mu      sync.Mutex
	samples []sample
}

func (mo *monitor) run(ctx context.Context) {
	for ctx.Err() == nil {
		start := time.Now()
		if s, ok := mo.round(); ok {
			mo.mu.Lock()
			mo.samples = append(mo.samples, s)
			mo.mu.Unlock()
		}
		sleepCtx(ctx, monitorPeriod-time.Since(start))
	}
}

func (mo *monitor) snapshot() []sample {
	mo.mu.Lock()
	defer mo.mu.Unlock()
	return slices.Clone(mo.samples)
}

// round takes one sample; ok is false when ecxsim did not answer.
func (mo *monitor) round() (sample, bool) {
	e := mo.e
	s := sample{at: time.Now(), on: make([]string, nAll), live: make([]bool, nAll)}
	running, err := e.runningOn()
	if err != nil {
		return s, false
	}
	// answers[m][i]: the addresses master m's DNS answers for workload i.
	answers := make([][][]string, len(e.masters))
	isLeader := make([]bool, len(e.masters))
	var wg sync.WaitGroup
	for j, m := range e.masters {
		if !m.running() || m.isPaused() || m.tiebreaker {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if h, err := m.health(); err == nil && h.RaftState == "Leader" {
				isLeader[j] = true
			}
			cl := &dns.Client{Timeout: 300 * time.Millisecond}
			answers[j] = make([][]string, nAll)
			for i := range nAll {
				got, _, err := queryA(cl, m.dnsAddr(), workloadName(i)+"."+zone)
				if err != nil {
					return // a master that does not answer now is not asked the rest of this round
				}
				answers[j][i] = got
			}
		}()
	}
	wg.Wait()
	for j, m := range e.masters {
		if isLeader[j] {
			s.leaders = append(s.leaders, m.id)
		}
	}
	for i := range nAll {
		on := running[workloadName(i)]
		s.on[i] = strings.Join(on, ",")
		if len(on) != 1 {
			continue
		}
		want, votes := workloadAddr(workloadIndexOfMember(on[0]), i), 0
		for j := range e.masters {
			if answers[j] != nil && slices.Contains(answers[j][i], want) {
				votes++
			}
		}
		// In DNS: a majority of the masters answer its address; with a tie-breaker (two DNS
		// masters, one per site), either site's master, as each site's clients ask their own.
		s.live[i] = 2*votes > nMasters || (*flagTiebreaker && votes >= 1)
	}
	return s, true
}

// opSpan is an operation of a workload as the event log shows it: from its creation to its
// done or failed event (zero while unfinished), and every member it named as source or target.
type opSpan struct {
	id       string
	from, to time.Time
	members  []string
}

func (o *opSpan) activeAt(t time.Time) bool {
	return !o.from.After(t) && (o.to.IsZero() || o.to.After(t))
}

var opSource = regexp.MustCompile(`: ([a-z0-9-]*)/[^ ]* -> ([a-z0-9-]*)/`)

// operationSpans returns, per workload, its operations, from the event log.
func (l *eventLog) operationSpans() map[string][]*opSpan {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string][]*opSpan{}
	byID := map[string]*opSpan{}
	for _, ev := range l.evs {
		id, w := ev.GetOperationId(), ev.GetWorkload()
		if ev.GetKind() != "operation" || id == "" || w == "" {
			continue
		}
		at := time.Unix(0, ev.GetTimeUnixNano())
		o := byID[id]
		if o == nil {
			o = &opSpan{id: id, from: at}
			byID[id] = o
			out[w] = append(out[w], o)
		}
		if m := ev.GetMember(); m != "" && !slices.Contains(o.members, m) {
			o.members = append(o.members, m)
		}
		if m := opSource.FindStringSubmatch(ev.GetMessage()); m != nil {
			for _, mb := range m[1:] {
				if mb != "" && !slices.Contains(o.members, mb) {
					o.members = append(o.members, mb)
				}
			}
		}
		if msg := ev.GetMessage(); strings.Contains(msg, id+" done: ") || strings.Contains(msg, id+" failed: ") {
			o.to = at
		}
	}
	return out
}

// livenessStats counts the outages the liveness checker judged.
type livenessStats struct {
	outages    int             // times a required workload was not live
	disturbed  int             // of them, those a fault touched (held back, or hit a member involved)
	recoveries []time.Duration // per disturbed outage: from the end of the last hold (or its start) to live again
	plannedMax time.Duration   // the longest outage no fault explains (planned moves, new registrations)
	details    []string        // one line per judged outage, for outages.txt
}

// summary is "min/median/p90/p99/max" of the recovery times.
func (s livenessStats) summary() string {
	return distribution(s.recoveries)
}

func distribution(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	l := slices.Clone(ds)
	slices.Sort(l)
	q := func(p float64) string {
		return l[min(len(l)-1, int(p*float64(len(l))))].Round(100 * time.Millisecond).String()
	}
	return l[0].Round(100*time.Millisecond).String() + "/" + q(0.5) + "/" + q(0.9) + "/" + q(0.99) + "/" + l[len(l)-1].Round(100*time.Millisecond).String()
}

// registeredAt reports whether the workload is registered at t (declared at the start), and
// since when.
func registeredAt(evs []regEvent, t time.Time) (bool, time.Time) {
	reg, since := true, time.Time{}
	for _, ev := range evs {
		if ev.at.After(t) {
			break
		}
		reg = ev.registered
		if reg {
			since = ev.at
		}
	}
	return reg, since
}

// sampleIndex is the index of the first sample at or after t.
func sampleIndex(samples []sample, t time.Time) int {
	return sort.Search(len(samples), func(k int) bool { return !samples[k].at.Before(t) })
}

// checkLiveness checks docs/design.md, "Operations, failures and liveness" on the monitor's samples: every workload
// that is registered (desired online: the suite never sets offline) and has an eligible candidate
// must be Online on one member and answered there by a majority of the masters' DNS within bound
// of the moment nothing held it back any more. Faults hold a workload back while they are active
// and global, hit a master while that master leads (or while no master leads), name the
// workload, hit every candidate member of the workload (no eligible candidate), hit more than
// half of the members (the failover brake), or hit a member that an operation of the workload in
// flight waits on (its source or target). An outage still open when the samples end is judged at
// that time. The members involved in an outage (where it ran, what its operations named) are
// reported for debugging.
func checkLiveness(samples []sample, faults []*faultRec, regs map[string][]regEvent, ops map[string][]*opSpan, bound time.Duration) ([]string, livenessStats) {
	var st livenessStats
	if len(samples) == 0 {
		return nil, st
	}
	end := samples[len(samples)-1].at
	never := end.Add(time.Hour)
	healedAt := func(f *faultRec) time.Time {
		if f.healed.IsZero() {
			return never
		}
		return f.healed
	}
	// A master fault holds everything back while one of its masters leads or none does.
	global := map[*faultRec]bool{}
	for _, f := range faults {
		if f.harmless {
			continue
		}
		if f.global {
			global[f] = true
			continue
		}
		if len(f.masters) == 0 {
			continue
		}
		for _, s := range samples[sampleIndex(samples, f.injected):] {
			if s.at.After(healedAt(f)) {
				break
			}
			if len(s.leaders) == 0 || slices.ContainsFunc(s.leaders, func(l string) bool { return slices.Contains(f.masters, l) }) {
				global[f] = true
				break
			}
		}
	}
	var v []string
	for i := range nAll {
		w := workloadName(i)
		last := "" // the member it was last live on
		a := time.Time{}
		lastA := ""
		judge := func(b time.Time, open bool) {
			st.outages++
			reg, since := registeredAt(regs[w], b)
			if !reg {
				return // not required: unregistered (its group may go on running)
			}
			s0 := a
			if since.After(s0) {
				s0 = since
			}
			involved := []string{}
			if lastA != "" {
				involved = append(involved, lastA)
			}
			for _, s := range samples[sampleIndex(samples, s0):] {
				if !s.at.Before(b) {
					break
				}
				if s.on[i] != "" {
					involved = append(involved, strings.Split(s.on[i], ",")...)
				}
			}
			var spans []*opSpan // the operations of w during the outage
			for _, o := range ops[w] {
				if o.from.Before(b) && (o.to.IsZero() || o.to.After(s0)) {
					spans = append(spans, o)
					involved = append(involved, o.members...)
				}
			}
			slices.Sort(involved)
			involved = slices.Compact(involved)
			// The faults that overlap the outage. At an instant they hold w back when one of them
			// is global, names w, or hits every candidate member of w, or more than half of the
			// members (the failover brake).
			var rel []*faultRec
			for _, f := range faults {
				if !f.harmless && f.injected.Before(b) && healedAt(f).After(s0) {
					rel = append(rel, f)
				}
			}
			heldAt := func(t time.Time) *faultRec {
				hit := map[string]*faultRec{}
				var last *faultRec // the hitting fault that heals last
				for _, f := range rel {
					if f.injected.After(t) || !healedAt(f).After(t) {
						continue
					}
					if global[f] || slices.Contains(f.workloads, w) {
						return f
					}
					for _, m := range f.members {
						if hit[m] == nil || healedAt(f).After(healedAt(hit[m])) {
							hit[m] = f
						}
						if last == nil || healedAt(f).After(healedAt(last)) {
							last = f
						}
					}
				}
				if 2*len(hit) > nMembers {
					return last
				}
				// An operation waits, by design, on a source it must stop or a target that may be
				// starting the group, until the member answers or is declared down.
				for _, o := range spans {
					if o.activeAt(t) {
						for _, m := range o.members {
							if hit[m] != nil {
								return hit[m]
							}
						}
					}
				}
				var held *faultRec
				for _, c := range candidatesOf(i) {
					if hit[c] == nil {
						return nil // an eligible candidate
					}
					if held == nil || healedAt(hit[c]).Before(healedAt(held)) {
						held = hit[c] // the first candidate to become eligible again
					}
				}
				return held
			}
			touched := heldAt(s0) != nil
			from, heldAtEnd := s0, heldAt(b)
			var held *faultRec // the hold that ended last before b
			for _, f := range rel {
				if h := healedAt(f); h.After(s0) && !h.After(b) {
					if g := heldAt(h.Add(-time.Nanosecond)); g != nil {
						touched = true
						if h.After(from) {
							from, held = h, g
						}
					}
				}
				// For the statistics, a fault touches the outage when it could have caused it.
				if global[f] || slices.Contains(f.workloads, w) || slices.ContainsFunc(f.members, func(m string) bool { return slices.Contains(involved, m) }) {
					touched = true
				}
			}
			if touched || heldAtEnd != nil {
				st.disturbed++
				if !open {
					st.recoveries = append(st.recoveries, b.Sub(from))
				}
			} else if d := b.Sub(s0); d > st.plannedMax {
				st.plannedMax = d
			}
			heldBy := "-"
			if held != nil {
				heldBy = fmt.Sprintf("step %d %s %s", held.step, held.kind, held.target)
			}
			st.details = append(st.details, fmt.Sprintf("%s %s..%s outage %v recovery %v touched=%v held_until=%s by %s still_held=%v open=%v last_on=%q involved=%v",
				w, s0.Format("15:04:05.000"), b.Format("15:04:05.000"), b.Sub(s0).Round(time.Millisecond), b.Sub(from).Round(time.Millisecond),
				touched, from.Format("15:04:05.000"), heldBy, heldAtEnd != nil, open, lastA, involved))
			if heldAtEnd != nil || b.Sub(from) <= bound {
				return
			}
			why := "nothing held it back: an eligible candidate existed throughout"
			if held != nil {
				why = fmt.Sprintf("held back until %s by step %d %s %s", from.Format("15:04:05.000"), held.step, held.kind, held.target)
			}
			state := "live again at " + b.Format("15:04:05.000")
			if open {
				state = "still not live when the samples end at " + b.Format("15:04:05.000")
			}
			v = append(v, fmt.Sprintf("liveness: %s was not live (Online on one member and in DNS) from %s, %s: %v after %s (bound %v); %s; candidates %v; last live on %q; members involved %v",
				w, s0.Format("15:04:05.000"), state, b.Sub(from).Round(time.Millisecond), map[bool]string{true: "the hold ended", false: "the outage began"}[held != nil], bound, why, candidatesOf(i), lastA, involved))
		}
		for k, s := range samples {
			switch {
			case s.live[i] && !a.IsZero():
				judge(s.at, false)
				a = time.Time{}
			case !s.live[i] && a.IsZero():
				a, lastA = s.at, last
				if k == 0 {
					lastA = ""
				}
			}
			if s.live[i] {
				last = s.on[i]
			}
		}
		if !a.IsZero() {
			judge(end, true)
		}
	}
	return v, st
}
