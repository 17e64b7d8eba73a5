package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/cset-project/cset/fsm"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
)

// finishRemovals empties the members marked for removal (fsm.RemovalMove, fsm.RemovalForce)
// and deletes them once no cset group may run there (docs/design.md, "Split-brain protection": no removal may leave
// a group running where the state does not say it runs). It runs after decide's loop, which
// has already started a drain operation for every workload placed on such a member (it is
// draining) that another member can take. It returns the state including what it started.
//
// What it does for a member the leader reaches:
//   - a workload placed there with no operation: with force, a stop operation (the normal
//     phases, under the fence); without, nothing: its drain waits for a member that can take
//     it, and the removal waits with it;
//   - a group of a cset workload seen there that the state does not place there, with no
//     operation: stopped under the fence, like a conflicting copy (an unplaced group seen
//     Online is left to decide, which adopts it and then drains it);
//   - nothing of cset may run there any more: the removal is finalized.
//
// A member that is down is finalized at once (the witness rule fenced it), unless the failover
// brake is engaged; one that is unreachable or partitioned waits.
func (c *Controller) finishRemovals(ctx context.Context, d *fsm.Data) *fsm.Data {
	started := false
	budget := c.cfg.MaxParallelOperations - activeOperations(d)
	for _, m := range d.SortedMembers() {
		if m.Removal == "" {
			continue
		}
		if m.Health != fsm.HealthUp && m.Health != fsm.HealthDegraded && m.Health != fsm.HealthDown {
			continue
		}
		if m.Health == fsm.HealthDown && c.brakeOn.Load() {
			continue // "down" is not trusted while most members look down (see updateBrake)
		}
		busy := false
		if m.Health != fsm.HealthDown {
			for _, w := range d.SortedWorkloads() {
				b, s := c.emptyForRemoval(ctx, d, m, w, &budget)
				busy, started = busy || b, started || s
			}
		}
		if busy {
			continue
		}
		_, err := c.deps.Committer.Commit(ctx, &fsmv1.LogEntry{Actor: "controller", Command: &fsmv1.LogEntry_RemoveMember{RemoveMember: &fsmv1.RemoveMemberCommand{Name: m.Name, Finalize: true}}})
		if err != nil {
			// The state moved on since d (a new observation, an operation): next round decides.
			c.log.Debug("finalizing a member removal deferred", "member", m.Name, "error", err)
		} else {
			for k := range c.blocked {
				if strings.HasPrefix(k, "removal/"+m.Name+"/") {
					delete(c.blocked, k)
				}
			}
		}
		started = true
	}
	if started {
		return c.deps.State.Data()
	}
	return d
}

// emptyForRemoval does what workload w needs so that member m, marked for removal, can be
// deleted. busy reports that w may still run on m; started that it committed an operation
// (one of *budget, the operations that may still start this round).
func (c *Controller) emptyForRemoval(ctx context.Context, d *fsm.Data, m *fsmv1.Member, w *fsmv1.Workload, budget *int) (busy, started bool) {
	if op := activeOperationOf(d, w.Name); op != nil {
		return op.SourceMember == m.Name || op.TargetMember == m.Name || slices.Contains(op.TriedMembers, m.Name), false
	}
	if w.GetPlacement().GetMember() == m.Name {
		if m.Removal != fsm.RemovalForce || *budget <= 0 {
			return true, false
		}
		op := &fsmv1.Operation{Workload: w.Name, Reason: fsm.ReasonStop, SourceMember: m.Name, SourceServer: w.Placement.Server,
			Error: fmt.Sprintf("member %s is being removed with --force and no other member can take %s now: it is stopped there and started on another candidate when one can take it", m.Name, w.Name)}
		if why := dependencyWait(d, w, op); why != "" {
			c.noteDependencyWait(ctx, w, op, why)
			return true, false
		}
		if !c.startOperation(ctx, op) {
			return true, false
		}
		*budget--
		return true, true
	}
	if !slices.Contains(w.Candidates, m.Name) {
		return false, false
	}
	i := slices.IndexFunc(m.Groups, func(g *fsmv1.ObservedGroup) bool { return g.Name == w.Group })
	if i < 0 || !fsm.MayRun(m.Groups[i].Status) {
		return false, false
	}
	if w.Placement == nil && w.Desired == fsm.DesiredOnline && m.Groups[i].Status == fsm.StatusOnline {
		return true, false // decide adopts it, then drains it off
	}
	c.stopStray(ctx, m, w, m.Groups[i].Status)
	return true, false
}

// stopStray stops, under the fence and in the background, a copy of w's group on m that the
// state does not place there.
func (c *Controller) stopStray(ctx context.Context, m *fsmv1.Member, w *fsmv1.Workload, status string) {
	key := m.Name + "/" + w.Group
	if _, busy := c.stopping.LoadOrStore(key, true); busy {
		return
	}
	// Once per member, group and status, so a stop that keeps failing does not flood the ring.
	// The key cannot be a workload name (placeable's keys): those are DNS labels, without '/'.
	if noted := "removal/" + key; c.blocked[noted] != status {
		c.blocked[noted] = status
		c.event(ctx, &fsmv1.Event{Kind: "fence", Severity: "warn", Workload: w.Name, Member: m.Name,
			Message: fmt.Sprintf("member %s is being removed: stopping group %s there (%s; %s is not placed there)", m.Name, w.Group, status, w.Name)})
	}
	c.opWG.Add(1)
	go func() {
		defer c.opWG.Done()
		defer c.stopping.Delete(key)
		if err := c.stopOn(ctx, m, w.Group); err != nil {
			c.log.Warn("stopping a group on a member being removed failed; retrying next round", "workload", w.Name, "member", m.Name, "error", err)
		}
	}()
}

// activeOperations counts the unfinished operations: MaxParallelOperations bounds them.
func activeOperations(d *fsm.Data) int {
	n := 0
	for _, op := range d.Operations {
		if !fsm.Terminal(op.Phase) {
			n++
		}
	}
	return n
}

// activeOperationOf returns the workload's unfinished operation, or nil.
func activeOperationOf(d *fsm.Data, workload string) *fsmv1.Operation {
	for _, op := range d.Operations {
		if op.Workload == workload && !fsm.Terminal(op.Phase) {
			return op
		}
	}
	return nil
}
