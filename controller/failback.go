package controller

import (
	"context"
	"fmt"
	"time"

	"github.com/cset-project/cset/fsm"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
)

// failbackPlan returns the operation that moves w back to its first candidate, its preferred
// member, when w says failback: auto and everything is quiet enough (docs/operations.md,
// "Failback and rebalance"), or nil. Damping: the preferred member must have been up and active
// for the workload's failback_after; no member's health may have changed within
// controller.auto_move_quiet; the failover brake must be off; and at most
// controller.max_auto_moves_per_hour failbacks start in any hour. Why a due failback is held
// is written as one event per distinct reason.
func (c *Controller) failbackPlan(ctx context.Context, d *fsm.Data, w *fsmv1.Workload, now time.Time) *fsmv1.Operation {
	p := w.Placement
	if w.Failback != fsm.FailbackAuto || w.Desired != fsm.DesiredOnline || p == nil || p.Status != fsm.StatusOnline || len(w.Candidates) == 0 {
		return nil
	}
	pref := w.Candidates[0]
	m := d.Members[pref]
	if p.Member == pref || m == nil || m.Health != fsm.HealthUp || m.Admin != fsm.AdminActive || m.Removal != "" {
		c.noteFailbackHeld(ctx, w, "")
		return nil
	}
	after := time.Duration(w.FailbackAfterSeconds) * time.Second
	if up := now.Sub(time.Unix(0, m.HealthSinceUnixNano)); up < after {
		return nil // not stable long enough yet: nothing to report
	}
	why := ""
	switch {
	case c.brakeOn.Load():
		why = "the failover brake is engaged"
	case c.cfg.MaxAutoMovesPerHour == 0:
		why = "controller.max_auto_moves_per_hour is 0"
	}
	if why == "" {
		for _, x := range d.SortedMembers() {
			if since := now.Sub(time.Unix(0, x.HealthSinceUnixNano)); since < c.cfg.AutoMoveQuiet {
				why = fmt.Sprintf("member %s changed health (to %s) %v ago, within controller.auto_move_quiet (%v)", x.Name, x.Health, since.Round(time.Second), c.cfg.AutoMoveQuiet)
				break
			}
		}
	}
	if n := c.autoMovesInLastHour(d, now); why == "" && n >= c.cfg.MaxAutoMovesPerHour {
		why = fmt.Sprintf("%d automatic moves started in the last hour, the limit of controller.max_auto_moves_per_hour", n)
	}
	op := &fsmv1.Operation{Workload: w.Name, Reason: fsm.ReasonFailback, SourceMember: p.Member, SourceServer: p.Server, TargetMember: pref,
		Error: fmt.Sprintf("its first candidate %s has been up and active for more than %v (failback: auto)", pref, after)}
	if why == "" {
		if _, err := AdmitPlanned(d, op); err != nil {
			why = err.Error()
		}
	}
	c.noteFailbackHeld(ctx, w, why)
	if why != "" {
		return nil
	}
	return op
}

// noteFailbackHeld writes why w's due failback is held, once per distinct reason.
func (c *Controller) noteFailbackHeld(ctx context.Context, w *fsmv1.Workload, why string) {
	key := "failback/" + w.Name // no workload name has a '/' (placeable's keys are names)
	if why == "" {
		delete(c.blocked, key)
		return
	}
	if c.blocked[key] == why {
		return
	}
	c.blocked[key] = why
	c.event(ctx, &fsmv1.Event{Kind: "decision", Severity: "info", Workload: w.Name, Member: w.Candidates[0],
		Message: fmt.Sprintf("failback of %s to %s is held: %s", w.Name, w.Candidates[0], why)})
}

// autoMovesInLastHour counts the failbacks started within the hour before now: those the state
// still holds, and those this leader started (the state prunes finished operations).
func (c *Controller) autoMovesInLastHour(d *fsm.Data, now time.Time) int {
	hourAgo := now.Add(-time.Hour).UnixNano()
	seen := map[string]bool{}
	for _, op := range d.Operations {
		if op.Reason == fsm.ReasonFailback && op.CreatedUnixNano >= hourAgo {
			seen[op.Id] = true
		}
	}
	for id, at := range c.autoMoves {
		if at.UnixNano() < hourAgo {
			delete(c.autoMoves, id)
			continue
		}
		seen[id] = true
	}
	return len(seen)
}
