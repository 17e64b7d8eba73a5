package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/cset-project/cset/ecxclient"
	"github.com/cset-project/cset/fsm"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
)

// resumeOperations gives every unfinished operation a runner. A new leader resumes its
// predecessor's operations here, at their committed phase.
//
// Runners act on ECX (fencing stops, sending a start) and run handover hooks only while they
// hold one of the MaxParallelOperations slots (opSlot); reading the state and committing
// phases needs none, and neither does waiting while ECX brings a group Online, which takes
// ECX seconds to minutes and costs the member only a share of the client's polls (ecxclient's
// shared poller). A slot that frees up goes at once to the next runner waiting for one.
func (c *Controller) resumeOperations(ctx context.Context, d *fsm.Data) {
	var ops []*fsmv1.Operation
	for _, op := range d.Operations {
		if !fsm.Terminal(op.Phase) && op.Phase != fsm.PhaseBlocked { // blocked waits for an operator
			ops = append(ops, op)
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].CreatedUnixNano < ops[j].CreatedUnixNano })
	for _, op := range ops {
		c.opsMu.Lock()
		if c.running[op.Id] {
			c.opsMu.Unlock()
			continue
		}
		c.running[op.Id] = true
		c.opsMu.Unlock()
		c.opWG.Add(1)
		slot := &opSlot{slots: c.opSlots}
		go func(id string) {
			defer func() {
				slot.release()
				c.opsMu.Lock()
				delete(c.running, id)
				c.opsMu.Unlock()
				c.opWG.Done()
			}()
			if err := c.runOperation(withSlot(ctx, slot), id); err != nil && ctx.Err() == nil {
				c.notePause(ctx, id, err)
			} else if err == nil {
				c.opsMu.Lock()
				delete(c.paused, id)
				c.opsMu.Unlock()
			}
		}(op.Id)
	}
}

// opSlot is one runner's claim on a slot of Controller.opSlots. Runners blocked on a full
// channel are served in the order they blocked.
type opSlot struct {
	slots chan struct{}
	mu    sync.Mutex
	held  bool
	gen   uint64 // acquisitions so far: a done function gives back its own only
}

type slotKey struct{}

// withSlot returns ctx carrying the runner's slot.
func withSlot(ctx context.Context, s *opSlot) context.Context {
	return context.WithValue(ctx, slotKey{}, s)
}

// slotOf returns the runner's slot in ctx; nil, whose methods do nothing, outside a runner
// (a conflicting copy's stop).
func slotOf(ctx context.Context) *opSlot {
	s, _ := ctx.Value(slotKey{}).(*opSlot)
	return s
}

// hold waits for a free slot unless the runner holds one already, and returns the function
// that gives back what this call took: nothing when the slot was held already, and nothing
// once the slot was given back and taken again since. It may be called more than once and from
// any goroutine.
func (s *opSlot) hold(ctx context.Context) (done func(), err error) {
	if s == nil {
		return func() {}, nil
	}
	s.mu.Lock()
	held := s.held
	s.mu.Unlock()
	if held {
		return func() {}, nil
	}
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return func() {}, ctx.Err()
	}
	s.mu.Lock()
	s.held = true
	s.gen++
	gen := s.gen
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.held && s.gen == gen {
			s.held = false
			<-s.slots
		}
	}, nil
}

// release gives the slot back, if held (the runner's end).
func (s *opSlot) release() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held {
		s.held = false
		<-s.slots
	}
}

// sendUnderSlot returns ctx with an ecxclient.WaitTrace that makes an *AndWait helper send
// its operation holding the runner's slot (taken once the helper's read showed the operation
// is needed, given back once ECX has accepted it, or when the helper gives up), so that the
// reads and the wait, shared with every other helper on the member, cost no slot. Without a
// runner (a conflicting copy's stop) it returns ctx.
func sendUnderSlot(ctx context.Context) context.Context {
	s := slotOf(ctx)
	if s == nil {
		return ctx
	}
	var mu sync.Mutex
	done := func() {}
	giveBack := func() {
		mu.Lock()
		defer mu.Unlock()
		done()
	}
	return ecxclient.WithWaitTrace(ctx, &ecxclient.WaitTrace{
		Send: func(ctx context.Context) error {
			d, err := s.hold(ctx)
			if err != nil {
				return err
			}
			mu.Lock()
			done = d
			mu.Unlock()
			context.AfterFunc(ctx, giveBack) // the helper returned or gave up
			return nil
		},
		Accepted: giveBack,
	})
}

// notePause logs and records why an operation waits, once per distinct reason, so a member
// that stays unreachable does not flood the logs and the event ring every poll interval.
func (c *Controller) notePause(ctx context.Context, id string, err error) {
	c.opsMu.Lock()
	same := c.paused[id] == err.Error()
	c.paused[id] = err.Error()
	c.opsMu.Unlock()
	if same {
		return
	}
	c.log.Warn("operation paused; it resumes next round", "operation", id, "error", err)
	op := c.deps.State.Data().Operations[id]
	if op != nil {
		c.event(ctx, &fsmv1.Event{Kind: "operation", Severity: "warn", Workload: op.Workload, Member: op.SourceMember, OperationId: id,
			Message: fmt.Sprintf("operation %s waits in phase %s: %v", id, op.Phase, err)})
	}
}

// errRetry pauses a runner; the operation resumes at its committed phase in a later round.
var errRetry = errors.New("retry later")

// runOperation drives one operation through its phases. Each phase is committed before its
// action and each action is idempotent, so stopping anywhere and resuming is safe.
func (c *Controller) runOperation(ctx context.Context, id string) error {
	for ctx.Err() == nil {
		d := c.deps.State.Data()
		op := d.Operations[id]
		if op == nil || fsm.Terminal(op.Phase) {
			return nil
		}
		w := d.Workloads[op.Workload]
		if w == nil {
			return c.finish(ctx, op, false, "the workload was unregistered", nil)
		}
		var err error
		phaseStart := time.Now()
		switch op.Phase {
		case fsm.PhasePending:
			err = c.phasePending(ctx, d, op)
		case fsm.PhaseFencing:
			err = c.phaseFencing(ctx, d, w, op)
		case fsm.PhaseHandover:
			err = c.handover(ctx, d, w, op)
		case fsm.PhaseBlocked:
			return nil // until an operator's retry or cancel
		case fsm.PhaseStarting:
			err = c.phaseStarting(ctx, d, w, op)
		default:
			return c.finish(ctx, op, false, fmt.Sprintf("unknown phase %q", op.Phase), nil)
		}
		c.deps.Observer.Phase(op.Phase, time.Since(phaseStart))
		if err != nil {
			return err
		}
	}
	return ctx.Err()
}

// handover runs phaseHandover, holding a slot while hooks are left to run.
func (c *Controller) handover(ctx context.Context, d *fsm.Data, w *fsmv1.Workload, op *fsmv1.Operation) error {
	if slices.ContainsFunc(w.Hooks, func(h string) bool { return !hookSucceeded(op, h) }) {
		done, err := slotOf(ctx).hold(ctx)
		if err != nil {
			return err
		}
		defer done()
	}
	return c.phaseHandover(ctx, d, w, op)
}

func (c *Controller) advance(ctx context.Context, cmd *fsmv1.AdvanceOperationCommand) error {
	_, err := c.deps.Committer.Commit(ctx, &fsmv1.LogEntry{Actor: "controller", Command: &fsmv1.LogEntry_AdvanceOperation{AdvanceOperation: cmd}})
	return err
}

func (c *Controller) finish(ctx context.Context, op *fsmv1.Operation, ok bool, msg string, p *fsmv1.Placement) error {
	_, err := c.deps.Committer.Commit(ctx, &fsmv1.LogEntry{Actor: "controller", Command: &fsmv1.LogEntry_FinishOperation{FinishOperation: &fsmv1.FinishOperationCommand{
		Id: op.Id, Success: ok, Error: msg, Placement: p,
	}}})
	if err == nil {
		now := c.deps.Now()
		c.deps.Observer.OperationFinished(op.Reason, ok, now.Sub(time.Unix(0, op.CreatedUnixNano)))
		if src := c.deps.State.Member(op.SourceMember); ok && op.Reason == fsm.ReasonFailover && src != nil && src.Health == fsm.HealthDown {
			c.deps.Observer.Failover(now.Sub(time.Unix(0, src.HealthSinceUnixNano)))
		}
	}
	return err
}

// phasePending chooses the target and commits it with the move to fencing. Every target passes
// the scheduler's predicates here, against the state as it is now (it may have changed since
// the operation was admitted): an operator's planned target with its --force, else the
// controller's earlier choice if still accepted, else the scheduler's best.
func (c *Controller) phasePending(ctx context.Context, d *fsm.Data, op *fsmv1.Operation) error {
	next := &fsmv1.AdvanceOperationCommand{Id: op.Id, Phase: fsm.PhaseFencing}
	if op.Reason == fsm.ReasonStop {
		return c.advance(ctx, next)
	}
	if (op.Reason == fsm.ReasonPlanned || op.Reason == fsm.ReasonFailback) && op.TargetMember != "" && !slices.Contains(op.TriedMembers, op.TargetMember) {
		cand, err := AdmitPlanned(d, op)
		if err != nil {
			return c.finish(ctx, op, false, err.Error(), nil)
		}
		if cand.Overrides != "" {
			c.event(ctx, &fsmv1.Event{Kind: "decision", Severity: "warn", Workload: op.Workload, Member: cand.Member, OperationId: op.Id,
				Message: fmt.Sprintf("planned move of %s to %s admitted by --force over: %s", op.Workload, cand.Member, cand.Overrides)})
		}
		next.TargetMember, next.TargetServer = cand.Member, cand.Server
		return c.advance(ctx, next)
	}
	plan, err := c.schedulerRank(d, op)
	if err != nil {
		return c.finish(ctx, op, false, "cannot place: "+err.Error(), nil)
	}
	best, ok := plan.Best()
	if !ok {
		return c.finish(ctx, op, false, "no candidate member can take it: "+reasons(plan), nil)
	}
	for _, cand := range plan.Candidates {
		if cand.Member == op.TargetMember && !cand.Rejected && !slices.Contains(op.TriedMembers, cand.Member) {
			best = cand
		}
	}
	if best.Member == op.SourceMember {
		c.event(ctx, &fsmv1.Event{Kind: "decision", Severity: "warn", Workload: op.Workload, Member: best.Member, OperationId: op.Id,
			Message: fmt.Sprintf("%s of %s: no other member can take it, so restarting it on its source %s", op.Reason, op.Workload, best.Member)})
	}
	next.TargetMember, next.TargetServer = best.Member, best.Server
	// With nothing to fence (every other copy is on a member declared down, so fenced by the
	// witness rule) and no hook to run, fencing and handover would each commit their phase and
	// do nothing: go to starting in one commit (a dead member's thousand failovers take two
	// rounds of commits fewer each).
	chosen := &fsmv1.Operation{Reason: op.Reason, SourceMember: op.SourceMember, TargetMember: next.TargetMember, TriedMembers: op.TriedMembers}
	if w := d.Workloads[op.Workload]; w == nil {
		// unregistered meanwhile: runOperation ends it at the next pass
	} else if fence, err := c.fenceList(d, w, chosen); err == nil && len(fence) == 0 && !handoverLeft(w, op) {
		next.Phase = fsm.PhaseStarting
	}
	return c.advance(ctx, next)
}

// handoverLeft reports whether phaseHandover has something to do for op: hooks that have not
// succeeded yet, except for the first start of a workload, which runs none.
func handoverLeft(w *fsmv1.Workload, op *fsmv1.Operation) bool {
	if op.SourceMember == "" && op.Reason == fsm.ReasonStart {
		return false
	}
	return slices.ContainsFunc(w.Hooks, func(h string) bool { return !hookSucceeded(op, h) })
}

// phaseFencing makes sure the group runs nowhere but possibly the target: it stops the source
// and every other observed copy. A member declared down is fenced by the witness rule.
func (c *Controller) phaseFencing(ctx context.Context, d *fsm.Data, w *fsmv1.Workload, op *fsmv1.Operation) error {
	fence, err := c.fenceList(d, w, op)
	if err != nil {
		return err
	}
	for _, m := range fence {
		if err := c.stopOn(ctx, m, w.Group); errors.Is(err, errMemberDown) {
			return nil // look again: a member declared down is fenced by the witness rule
		} else if err != nil {
			return fmt.Errorf("%w: fencing %s on %s: %s: %v", errRetry, w.Group, m.Name, notFencedBecause(err), err)
		}
	}
	if op.Reason == fsm.ReasonStop {
		return c.finish(ctx, op, true, "", &fsmv1.Placement{})
	}
	next := &fsmv1.AdvanceOperationCommand{Id: op.Id, Phase: fsm.PhaseHandover}
	if !handoverLeft(w, op) {
		next.Phase = fsm.PhaseStarting // no hook to run: handover would only commit its phase
	}
	return c.advance(ctx, next)
}

// fenceList returns the members on which phaseFencing stops op's group: the source, every
// member where the group is seen running, every earlier target of this operation (a start
// sent there, perhaps by a previous leader, may still complete), and every candidate not
// polled since the workload was registered (the state cannot say whether the group runs there,
// so it is read, and stopped, there now); but not the target, and no member declared down,
// which the witness rule fenced. It returns an errRetry error when the group cannot be fenced
// now: a member that may run it is neither observed nor down, or members look down while the
// failover brake is engaged.
func (c *Controller) fenceList(d *fsm.Data, w *fsmv1.Workload, op *fsmv1.Operation) ([]*fsmv1.Member, error) {
	targets := where(d, w)
	for _, mn := range append(append([]string{op.SourceMember}, op.TriedMembers...), staleCandidates(d, w)...) {
		if mn != "" && !slices.Contains(targets, mn) {
			targets = append(targets, mn)
		}
	}
	var out []*fsmv1.Member
	for _, mn := range targets {
		if mn == op.TargetMember && op.Reason != fsm.ReasonStop && mn != op.SourceMember {
			continue
		}
		m := d.Members[mn]
		if m == nil {
			continue
		}
		if m.Health == fsm.HealthDown {
			// Fenced by the witness rule, unless most members look down at once: then the
			// masters may be the isolated side and "down" is not to be trusted, for planned
			// moves and drains as much as for automatic failovers.
			if c.brakeOn.Load() {
				return nil, fmt.Errorf("%w: member %s is down but the failover brake is engaged (most members look down); waiting", errRetry, mn)
			}
			continue
		}
		if m.Health != fsm.HealthUp && m.Health != fsm.HealthDegraded && m.Health != fsm.HealthUnknown {
			return nil, fmt.Errorf("%w: member %s is %s, so the group cannot be stopped there and cannot be started elsewhere", errRetry, mn, m.Health)
		}
		out = append(out, m)
	}
	return out, nil
}

// notFencedBecause explains why a fencing stop does not count: the controller believes a group
// stopped only when it reads it back Offline, never from ECX's answer to the stop.
func notFencedBecause(err error) string {
	switch {
	case errors.Is(err, ecxclient.ErrGroupFailed):
		return "the group failed to stop there and may still hold its resources, so it is not started elsewhere"
	case errors.Is(err, ecxclient.ErrWaitTimeout):
		return "ECX accepted the stop but the group was never read back Offline, so it is not believed stopped"
	case errors.Is(err, ecxclient.ErrRejected):
		return "ECX refused the stop (the group may be moving inside the member); it is sent again"
	}
	return "the group is not known to be stopped"
}

// stopOn stops a group on a member under the fence and waits until it is Offline. The wait
// ends at once, with an error wrapping errMemberDown, when the member is declared down. An
// operation's runner holds its slot while it sends the stop (sendUnderSlot).
func (c *Controller) stopOn(ctx context.Context, m *fsmv1.Member, group string) error {
	cl, err := c.client(m)
	if err != nil {
		return err
	}
	if err := c.deps.Fence.Check(ctx); err != nil {
		return err
	}
	wctx, cancel := c.whileUp(ctx, m.Name)
	defer cancel()
	_, err = cl.StopGroupAndWait(sendUnderSlot(wctx), group, c.cfg.StopTimeout)
	if err != nil && memberWentDown(wctx) && ctx.Err() == nil {
		return context.Cause(wctx)
	}
	return err
}

// phaseStarting starts the group on the target under the fence and waits until it is Online;
// on failure it cleans up and goes on: the next candidate, or, for an operator's planned move,
// back to the source (restoreOnSource). A wait whose target is declared down ends at once.
func (c *Controller) phaseStarting(ctx context.Context, d *fsm.Data, w *fsmv1.Workload, op *fsmv1.Operation) error {
	m := d.Members[op.TargetMember]
	retry := func(why string) error {
		c.log.Warn("start failed", "workload", w.Name, "member", op.TargetMember, "restoring", op.Restoring, "error", why)
		switch {
		case op.Restoring:
			return c.finish(ctx, op, false, fmt.Sprintf("%s; restarting it on its source %s failed too: %s", op.Error, op.TargetMember, why), nil)
		case op.Reason == fsm.ReasonPlanned, op.Reason == fsm.ReasonFailback:
			// The operator (or failback) chose this target: never fall through to another
			// one, and never report a move that did not happen.
			return c.restoreOnSource(ctx, d, op, fmt.Sprintf("start on %s failed: %s", op.TargetMember, why))
		}
		return c.advance(ctx, &fsmv1.AdvanceOperationCommand{Id: op.Id, Phase: fsm.PhasePending, TriedMember: op.TargetMember, Attempts: op.Attempts + 1, Error: why})
	}
	switch {
	case m == nil:
		return retry(fmt.Sprintf("target member %s was removed", op.TargetMember))
	case op.TargetServer == "":
		// Every start names its server ({"target"}): without one ECX would pick a server itself.
		return retry(fmt.Sprintf("no target server was chosen on %s", op.TargetMember))
	case m.Health == fsm.HealthDown:
		// Declared down by the witness rule: it has fenced itself, whatever was sent to it.
		return retry(fmt.Sprintf("target member %s is down", op.TargetMember))
	case m.Health != fsm.HealthUp && m.Health != fsm.HealthDegraded:
		// A start may already be on its way there (sent before a leader change or a cut):
		// trying elsewhere now could run the group twice. Wait until it answers or is down.
		return fmt.Errorf("%w: target member %s is %s; the start there may be in progress, so no other member is tried until it answers or is declared down", errRetry, op.TargetMember, m.Health)
	}
	cl, err := c.client(m)
	if err != nil {
		return retry(err.Error())
	}
	if c.deps.Guards != nil {
		// A guard that does not hold the group yet (a workload registered or given this
		// candidate a moment ago) would not stop it if the member were cut off now.
		if missing := c.deps.Guards.Unconfirmed(m.Name, w.Group); len(missing) > 0 {
			return fmt.Errorf("%w: waiting for the guards of %s on %v to confirm group %s (they learn it from their next heartbeat)", errRetry, m.Name, missing, w.Group)
		}
	}
	if err := c.deps.Fence.Check(ctx); err != nil {
		return fmt.Errorf("%w: %v", errRetry, err)
	}
	wctx, cancelDown := c.whileUp(ctx, m.Name)
	sctx, cancel := context.WithTimeout(wctx, c.cfg.StartTimeout+c.cfg.ECXTimeout)
	g, err := cl.StartGroupAndWait(sendUnderSlot(sctx), w.Group, op.TargetServer, c.cfg.StartTimeout)
	cancel()
	wentDown := memberWentDown(wctx)
	cancelDown()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if wentDown {
		return nil // look again: the target is down now, so the next pass moves on at once
	}
	if err != nil {
		// Leave nothing half-started behind before trying elsewhere.
		if serr := c.stopOn(ctx, m, w.Group); errors.Is(serr, errMemberDown) {
			return nil
		} else if serr != nil {
			return fmt.Errorf("%w: start of %s on %s failed (%v) and stopping it failed: %v", errRetry, w.Group, m.Name, err, serr)
		}
		return retry(err.Error())
	}
	p := &fsmv1.Placement{Member: m.Name, Server: g.Current, Status: fsm.StatusOnline, SinceUnixNano: time.Now().UnixNano()}
	if probed(w) && !op.Restoring {
		// ECX says Online; clients must reach it too before the operation ends and DNS
		// points at it (docs/probe.md).
		pctx, cancelDown := c.whileUp(ctx, m.Name)
		perr := c.probeGate(pctx, w, m.Name)
		wentDown := memberWentDown(pctx)
		cancelDown()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case wentDown:
			return nil // look again: the target is down now
		case perr != nil:
			why := fmt.Sprintf("ECX reports %s Online on %s but clients cannot reach it: %v", w.Group, m.Name, perr)
			c.event(ctx, &fsmv1.Event{Kind: "probe", Severity: "warn", Workload: w.Name, Member: m.Name, OperationId: op.Id,
				Message: fmt.Sprintf("%s of %s: %s; stopping it there", op.Reason, w.Name, why)})
			if serr := c.stopOn(ctx, m, w.Group); errors.Is(serr, errMemberDown) {
				return nil
			} else if serr != nil {
				return fmt.Errorf("%w: %s, and stopping it failed: %v", errRetry, why, serr)
			}
			return retry(why)
		}
		p.Reachability, p.ReachabilitySinceUnixNano = fsm.ReachabilityReachable, time.Now().UnixNano()
	}
	if op.Restoring {
		// Back where it was: the operation failed, and says so; the placement stays the source.
		return c.finish(ctx, op, false, fmt.Sprintf("%s; the workload was restarted on its source %s/%s", op.Error, m.Name, g.Current), nil)
	}
	return c.finish(ctx, op, true, "", p)
}

// restoreOnSource ends a move that cannot complete (its handover hook failed, or the operator's
// target could not start the group) by starting the workload again where it ran: the
// operation goes to starting on its source, marked restoring, and finishes as failed with why.
// Everything but the source has been fenced already. When the source is not healthy, the
// operation fails now and the usual recovery (failover of a down member, recovery grace)
// takes over.
func (c *Controller) restoreOnSource(ctx context.Context, d *fsm.Data, op *fsmv1.Operation, why string) error {
	src := d.Members[op.SourceMember]
	if op.SourceMember == "" || src == nil || (src.Health != fsm.HealthUp && src.Health != fsm.HealthDegraded) {
		return c.finish(ctx, op, false, fmt.Sprintf("%s; its source %s is %s, so it was not restarted there", why, op.SourceMember, src.GetHealth()), nil)
	}
	server := op.SourceServer
	if !slices.ContainsFunc(src.Servers, func(s *fsmv1.MemberServer) bool { return s.Name == server && s.Status == fsm.StatusOnline }) {
		server = firstOnline(src)
	}
	if server == "" {
		return c.finish(ctx, op, false, fmt.Sprintf("%s; its source %s has no Online server, so it was not restarted there", why, op.SourceMember), nil)
	}
	c.event(ctx, &fsmv1.Event{Kind: "decision", Severity: "warn", Workload: op.Workload, Member: op.SourceMember, OperationId: op.Id,
		Message: fmt.Sprintf("%s of %s failed (%s): restarting it on its source %s", op.Reason, op.Workload, why, op.SourceMember)})
	return c.advance(ctx, &fsmv1.AdvanceOperationCommand{Id: op.Id, Phase: fsm.PhaseStarting, TargetMember: op.SourceMember, TargetServer: server,
		TriedMember: op.TargetMember, Restoring: true, Error: fmt.Sprintf("%s of %s to %s failed: %s", op.Reason, op.Workload, op.TargetMember, why)})
}

func firstOnline(m *fsmv1.Member) string {
	for _, s := range m.Servers {
		if s.Status == fsm.StatusOnline {
			return s.Name
		}
	}
	return ""
}
