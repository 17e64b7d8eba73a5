package chaos

import (
	"context"
	"fmt"
	"strings"
	"time"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

// regEvent is a registration or unregistration of a workload in the replicated event log.
type regEvent struct {
	at         time.Time
	registered bool
}

// registrations reads, per workload, when it was registered and unregistered (the leader
// stamps event times before the log, so every master shows the same).
func (e *env) registrations() (map[string][]regEvent, error) {
	out := map[string][]regEvent{}
	for i := range nWorkloads {
		name := workloadName(i)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		evs, err := e.masters[0].api.ListEvents(ctx, &apiv1.ListEventsRequest{Workload: name, Limit: 100000})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("events of %s: %w", name, err)
		}
		for _, ev := range evs.GetEvents() {
			msg := ev.GetMessage()
			at := time.Unix(0, ev.GetTimeUnixNano())
			switch {
			case strings.HasPrefix(msg, "workload "+name+" registered"):
				out[name] = append(out[name], regEvent{at, true})
			case strings.HasPrefix(msg, "workload "+name+" unregistered"):
				out[name] = append(out[name], regEvent{at, false})
			}
		}
	}
	return out, nil
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
		if f.kind != "member-kill" {
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
			if !registeredThroughout(regs[w], t0, minTime(deadline, t1)) {
				st.skipped++
				continue
			}
			back, at := backOnline(audit, w, f.target, t0.Add(-time.Second), minTime(deadline, t1))
			switch {
			case back:
				st.checked++
				st.passed++
			case !ok:
				st.skipped++ // the member came back before a quiet window of the bound's length
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
			if g == self || g.kind == "client-cut" {
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
			return true, ""
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
