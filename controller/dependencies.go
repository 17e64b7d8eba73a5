package controller

import (
	"context"
	"fmt"

	"github.com/cset-project/cset/fsm"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
)

// dependencyWait says why op, which the controller decided for w, must wait for w's
// dependencies or dependents (depends_on), or "" when it may start now. A workload is started
// only once every dependency is Online (and not found unreachable by its probe), so a failover
// of several workloads starts them in dependency order, independent ones in parallel. Stops
// run the other way round: a dependent leaves a member (stopped, drained, or stopped for a
// forced removal) before what it depends on.
func dependencyWait(d *fsm.Data, w *fsmv1.Workload, op *fsmv1.Operation) string {
	switch op.Reason {
	case fsm.ReasonStop, fsm.ReasonDrain:
		src := d.Members[op.SourceMember]
		for _, n := range d.Dependents(w.Name) {
			x := d.Workloads[n]
			p := x.GetPlacement()
			if p == nil || p.Member != op.SourceMember || !fsm.MayRun(p.Status) {
				continue
			}
			switch {
			case op.Reason == fsm.ReasonDrain:
				return fmt.Sprintf("%s depends on it and is moved off %s first", n, op.SourceMember)
			case x.Desired == fsm.DesiredOffline:
				return fmt.Sprintf("%s depends on it and is stopped first", n)
			case src.GetRemoval() == fsm.RemovalForce:
				return fmt.Sprintf("%s depends on it and is stopped on %s first", n, op.SourceMember)
			}
		}
		if op.Reason == fsm.ReasonStop {
			return ""
		}
	}
	for _, dep := range w.GetDependsOn() {
		if why := notReady(d, dep); why != "" {
			return fmt.Sprintf("waiting for its dependency %s, which is %s", dep, why)
		}
	}
	return ""
}

// notReady says why dependency name is not ready for its dependents to start, "" when it is.
func notReady(d *fsm.Data, name string) string {
	w := d.Workloads[name]
	if w == nil {
		return "not registered"
	}
	p := w.Placement
	switch {
	case w.Desired == fsm.DesiredOffline:
		return "desired offline"
	case p == nil:
		return "not placed yet"
	case p.Status != fsm.StatusOnline:
		return fmt.Sprintf("%s on %s", p.Status, p.Member)
	}
	if h := d.Members[p.Member].GetHealth(); h != fsm.HealthUp && h != fsm.HealthDegraded {
		return fmt.Sprintf("on member %s, which is %s", p.Member, h)
	}
	if probed(w) && p.Reachability == fsm.ReachabilityUnreachable {
		return fmt.Sprintf("unreachable on %s (%s)", p.Member, p.ProbeError)
	}
	return ""
}

// noteDependencyWait records why w waits, as one event per distinct reason; "" clears it.
func (c *Controller) noteDependencyWait(ctx context.Context, w *fsmv1.Workload, op *fsmv1.Operation, why string) {
	key := "deps/" + w.Name // workload names are DNS labels: no '/' (placeable's keys)
	if why == "" {
		delete(c.blocked, key)
		return
	}
	if c.blocked[key] == why {
		return
	}
	c.blocked[key] = why
	c.event(ctx, &fsmv1.Event{Kind: "decision", Severity: "info", Workload: w.Name, Member: op.SourceMember,
		Message: fmt.Sprintf("%s of %s waits: %s", op.Reason, w.Name, why)})
}
