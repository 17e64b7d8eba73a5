package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

// regEvent is a registration or unregistration of a workload in the replicated event log.
type regEvent struct {
	at         time.Time
	registered bool
}

// eventLog copies the replicated event log while the run goes on: the masters keep only the
// newest 10,000 events, fewer than a long run makes. Event sequence numbers are assigned in
// the FSM, so every master's list is a prefix of the same sequence and any master will do.
type eventLog struct {
	mu   sync.Mutex
	evs  []*apiv1.Event
	last uint64
	f    *os.File
}

func newEventLog(path string) (*eventLog, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &eventLog{f: f}, nil
}

// poll fetches the events after the last one seen from master m.
func (l *eventLog) poll(m *master) error {
	l.mu.Lock()
	after := l.last
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := m.api.ListEvents(ctx, &apiv1.ListEventsRequest{AfterSeq: after, Limit: 1 << 20})
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ev := range resp.GetEvents() {
		if ev.GetSeq() != l.last+1 && l.last != 0 {
			if ev.GetSeq() <= l.last {
				continue
			}
			fmt.Fprintf(l.f, "---- events %d..%d lost (the ring moved on)\n", l.last+1, ev.GetSeq()-1)
		}
		l.last = ev.GetSeq()
		l.evs = append(l.evs, ev)
		fmt.Fprintf(l.f, "%6d %s %-9s %-5s %s\n", ev.GetSeq(), time.Unix(0, ev.GetTimeUnixNano()).Format("15:04:05.000"), ev.GetKind(), ev.GetSeverity(), ev.GetMessage())
	}
	return nil
}

// run polls a random master every half second until ctx ends.
func (l *eventLog) run(ctx context.Context, e *env, rng *rand.Rand) {
	for ctx.Err() == nil {
		_ = l.poll(e.masters[rng.IntN(len(e.masters))])
		sleepCtx(ctx, 500*time.Millisecond)
	}
}

func (l *eventLog) close() { l.f.Close() }

// registrations returns, per workload, when it was registered and unregistered (the leader
// stamps event times before the log, so every master shows the same).
func (l *eventLog) registrations() map[string][]regEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string][]regEvent{}
	for _, ev := range l.evs {
		name, msg := ev.GetWorkload(), ev.GetMessage()
		at := time.Unix(0, ev.GetTimeUnixNano())
		switch {
		case name == "":
		case strings.HasPrefix(msg, "workload "+name+" registered"):
			out[name] = append(out[name], regEvent{at, true})
		case strings.HasPrefix(msg, "workload "+name+" unregistered"):
			out[name] = append(out[name], regEvent{at, false})
		}
	}
	return out
}

// registeredThroughout reports whether the events prove the workload registered during all of
// [from, to]; false when the event ring no longer reaches back to from.
func registeredThroughout(evs []regEvent, from, to time.Time) bool {
	known, reg := false, false
	for _, ev := range evs {
		if ev.at.After(to) {
			break
		}
		if !ev.at.After(from) {
			known, reg = true, ev.registered
			continue
		}
		if !ev.registered {
			return false
		}
	}
	return known && reg
}

// recoveryStats counts the failover checks.
type recoveryStats struct {
	deaths, checked, passed, skipped int
	details                          []string        // one line per judged or skipped workload, for the report
	latencies                        []time.Duration // death to start elsewhere, for the workloads back in time
}

// latencySummary is "min/median/max" of the failover latencies.
func (s recoveryStats) latencySummary() string {
	if len(s.latencies) == 0 {
		return "-"
	}
	l := slices.Clone(s.latencies)
	slices.Sort(l)
	r := func(d time.Duration) string { return d.Round(100 * time.Millisecond).String() }
	return r(l[0]) + "/" + r(l[len(l)/2]) + "/" + r(l[len(l)-1])
}

// checkRecovery checks, for every member death, that each registered workload that was online
// on the dead member was online on another member within recoveryBound of the first moment
// from which no other fault was active (so a healthy candidate existed), unless the member came
// back first.
func checkRecovery(faults []*faultRec, audit []auditRecord, regs map[string][]regEvent, end time.Time) ([]string, recoveryStats) {
	var v []string
	var st recoveryStats
	bound := recoveryBound()
	for _, f := range faults {
		if f.kind != "member-kill" && f.kind != "member-kill-starting" {
			continue
		}
		st.deaths++
		t0, t1 := f.injected, f.healed
		if t1.IsZero() {
			t1 = end
		}
		h, ok := quietWindow(faults, f, t0, t1, bound)
		deadline := h.Add(bound)
		for _, r := range audit {
			if r.Cluster != f.target || !r.OnlineFrom.Before(t0) || r.until().Before(t0.Add(-time.Second)) || r.until().After(t0.Add(time.Second)) {
				continue
			}
			w := r.Group
			back, at := backOnline(audit, w, f.target, t0.Add(-time.Second), minTime(deadline, t1))
			switch {
			case back:
				st.checked++
				st.passed++
				if when, err := time.Parse(time.RFC3339Nano, at); err == nil {
					st.latencies = append(st.latencies, when.Sub(t0))
				}
				st.details = append(st.details, fmt.Sprintf("step %d %s %s: back online in time (%s)", f.step, f.target, w, at))
			case !registeredThroughout(regs[w], t0, minTime(deadline, t1)):
				st.skipped++
				st.details = append(st.details, fmt.Sprintf("step %d %s %s: skipped, not registered throughout", f.step, f.target, w))
			case !ok:
				st.skipped++ // the member came back before a quiet window of the bound's length
				st.details = append(st.details, fmt.Sprintf("step %d %s %s: skipped, member back at +%v before a quiet window (quiet from +%v)", f.step, f.target, w, t1.Sub(t0).Round(time.Millisecond), h.Sub(t0).Round(time.Millisecond)))
			default:
				st.checked++
				v = append(v, fmt.Sprintf("recovery: step %d %s died at %s; %s (online there until %s) was not online on another member by %s (quiet from %s + bound %v)%s",
					f.step, f.target, t0.Format("15:04:05.000"), w, r.until().Format("15:04:05.000"), deadline.Format("15:04:05.000"), h.Format("15:04:05.000"), bound, at))
			}
		}
	}
	return v, st
}

// quietWindow finds the first instant h >= t0 such that no fault other than self (and the
// harmless client cuts) is active during [h, h+bound]; ok is false when that window does not
// end before t1.
func quietWindow(faults []*faultRec, self *faultRec, t0, t1 time.Time, bound time.Duration) (time.Time, bool) {
	h := t0
	for changed := true; changed; {
		changed = false
		for _, g := range faults {
			if g == self || g.harmless {
				continue
			}
			healed := g.healed
			if healed.IsZero() {
				healed = t1.Add(time.Hour)
			}
			if g.injected.Before(h.Add(bound)) && healed.After(h) {
				h, changed = healed, true
			}
		}
	}
	return h, !h.Add(bound).After(t1)
}

// backOnline reports whether group was started on a member other than dead in [from, to].
func backOnline(audit []auditRecord, group, dead string, from, to time.Time) (bool, string) {
	var later []string
	for _, r := range audit {
		if r.Group != group || r.Cluster == dead {
			continue
		}
		if !r.OnlineFrom.Before(from) && !r.OnlineFrom.After(to) {
			return true, r.OnlineFrom.Format(time.RFC3339Nano)
		}
		if r.OnlineFrom.After(to) {
			later = append(later, r.String())
		}
	}
	if len(later) > 0 {
		return false, "; later: " + strings.Join(later, ", ")
	}
	return false, ""
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
