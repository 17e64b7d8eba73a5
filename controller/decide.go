package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"weak"

	"github.com/cset-project/cset/fsm"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"github.com/cset-project/cset/scheduler"
)

// where returns the members on which a workload's group is observed running, in the
// workload's preference order. A member declared down is left out: its last observation is
// stale and the witness rule says it has fenced itself.
func where(d *fsm.Data, w *fsmv1.Workload) []string {
	var out []string
	for _, mn := range w.Candidates {
		m := d.Members[mn]
		if m == nil || m.Health == fsm.HealthDown {
			continue
		}
		for _, g := range m.Groups {
			if g.Name == w.Group && fsm.MayRun(g.Status) {
				out = append(out, mn)
			}
		}
	}
	return out
}

// runningIndex is where for every workload of a state at once: group -> member -> how many of
// the member's observed groups of that name may run. decide asks where of every workload each
// round, which scanned every group of every candidate member once per workload.
type runningIndex map[string]map[string]int

func indexRunning(d *fsm.Data) runningIndex {
	ix := runningIndex{}
	for _, m := range d.Members {
		if m.Health == fsm.HealthDown {
			continue
		}
		for _, g := range m.Groups {
			if !fsm.MayRun(g.Status) {
				continue
			}
			if ix[g.Name] == nil {
				ix[g.Name] = map[string]int{}
			}
			ix[g.Name][m.Name]++
		}
	}
	return ix
}

// where is the package's where(d, w) for the state the index was built from.
func (ix runningIndex) where(w *fsmv1.Workload) []string {
	var out []string
	byMember := ix[w.Group]
	for _, mn := range w.Candidates {
		for range byMember[mn] {
			out = append(out, mn)
		}
	}
	return out
}

// roundState is the scheduler's view of one decide round: built once, then updated with each
// operation the round decides (its target counts as load there, fsm.LoadMember), so every
// placement sees the earlier ones without reading the replicated state again.
//
// It is built on the first placement a round needs (view), not per round: a quiet round
// places nothing and would build it, O(state), for nothing.
type roundState struct {
	d   *fsm.Data
	st  scheduler.State
	idx map[string]int // workload -> its index in st.Workloads; nil until view
}

func newRoundState(d *fsm.Data) *roundState { return &roundState{d: d} }

// view returns the scheduler's state of the round, building it on first use.
func (r *roundState) view() scheduler.State {
	if r.idx == nil {
		r.st, r.idx = SchedulerState(r.d), map[string]int{}
		for i, w := range r.st.Workloads {
			r.idx[w.Name] = i
		}
	}
	return r.st
}

// decided counts a new operation's target as its workload's member.
func (r *roundState) decided(op *fsmv1.Operation) {
	r.view()
	if i, ok := r.idx[op.Workload]; ok && op.TargetMember != "" && op.Reason != fsm.ReasonStop {
		r.st.Workloads[i].Member = op.TargetMember
	}
}

// budgeted reports whether an operation counts against max_parallel_operations when decide
// starts it. Operations that take a running workload down (planned moves, drains, rebalances,
// failbacks, stops, moves off an unreachable address) do: at most that many workloads are in
// transition at once. A failover or a first start does not: its workload is not running
// anyway, so starting every such operation at once disrupts nothing more, as a member dying
// takes down all its workloads at once (Kubernetes evicts every pod of a failed node at once
// and rate-limits only the nodes, WSFC moves every group of a failed node at once:
// docs/benchmarks-failover.md). How many operations act at once is bounded all the same: a
// runner holds one of the max_parallel_operations slots while it acts (resumeOperations).
func budgeted(op *fsmv1.Operation) bool {
	return op.Reason != fsm.ReasonFailover && op.Reason != fsm.ReasonStart
}

// unseen reports whether a candidate member of w may run w's group without the state knowing:
// a member the leader has not observed yet (just added: health unknown) or cannot observe now
// (unreachable, partitioned). A workload is started only when every candidate is either
// observed (up, degraded) or declared down (fenced by the witness rule): an ECX group the
// masters do not manage (its workload was unregistered, then registered again; a member removed
// with --force and added back) keeps running on such a member, and a start elsewhere would run
// it twice (chaos seed 1, w09). Where the group turns out to run, it is adopted.
//
// An observed member whose last poll started before the workload was registered (or given its
// group or candidates) counts as unseen too: its groups say nothing of what ran there since, and
// the group may have been started there just before its workload was unregistered and registered
// again (chaos seed 5 on a59126c, w11).
func unseen(d *fsm.Data, w *fsmv1.Workload) bool {
	for _, mn := range w.Candidates {
		m := d.Members[mn]
		if m == nil {
			continue
		}
		switch m.Health {
		case fsm.HealthDown:
		case fsm.HealthUp, fsm.HealthDegraded:
			if stale(m, w) {
				return true
			}
		default:
			return true
		}
	}
	return false
}

// stale reports whether m was last polled from before w was registered or given its group or
// candidates, so its observed groups cannot tell where w's group runs.
func stale(m *fsmv1.Member, w *fsmv1.Workload) bool {
	return m.GetObservedIndex() < w.GetRegisteredIndex()
}

// staleCandidates returns w's candidates, not declared down, whose observation is stale for w.
func staleCandidates(d *fsm.Data, w *fsmv1.Workload) []string {
	var out []string
	for _, mn := range w.Candidates {
		if m := d.Members[mn]; m != nil && m.Health != fsm.HealthDown && stale(m, w) {
			out = append(out, mn)
		}
	}
	return out
}

// reachable keeps the members the leader reaches now (up or degraded): only there is an
// observation fresh enough to act on.
func reachable(d *fsm.Data, members []string) []string {
	var out []string
	for _, mn := range members {
		if h := d.Members[mn].GetHealth(); h == fsm.HealthUp || h == fsm.HealthDegraded {
			out = append(out, mn)
		}
	}
	return out
}

// decide starts the operations that the state calls for (docs/design.md, "The controller"). It
// returns the state as it left it, including the operations it started.
func (c *Controller) decide(ctx context.Context, d *fsm.Data, obs map[string]*observation) *fsm.Data {
	now := c.deps.Now()
	active := map[string]bool{}
	inFlight := 0
	for _, op := range d.Operations {
		if !fsm.Terminal(op.Phase) {
			active[op.Workload] = true // a blocked operation holds its workload too
			if op.Phase != fsm.PhaseBlocked && budgeted(op) {
				inFlight++
			}
		}
	}
	// No more budgeted operations are started than can run at once: the rest are decided next
	// round, against a state that includes these. Blocked operations wait for an operator and
	// take no slot; failovers and first starts are not budgeted (budgeted).
	budget := c.cfg.MaxParallelOperations - inFlight
	retryAt := c.retryTimes(d)
	c.updateBrake(ctx, d, obs)
	run := indexRunning(d)
	round := newRoundState(d)
	var decided []*fsmv1.Operation
	for _, w := range d.SortedWorkloads() {
		running := run.where(w)
		if live := reachable(d, running); len(live) > 1 {
			c.resolveConflict(ctx, d, w, live)
		}
		if active[w.Name] {
			continue
		}
		// After failed operations, wait before trying again by itself (growing backoff).
		if t, ok := retryAt[w.Name]; ok && now.Before(t) {
			continue
		}
		op := c.plan(d, w, running, now)
		if op == nil && len(running) <= 1 {
			op = c.failbackPlan(ctx, d, w, now)
		}
		if op != nil {
			why := dependencyWait(d, w, op)
			c.noteDependencyWait(ctx, w, op, why)
			if why != "" {
				continue
			}
			if (budget > 0 || !budgeted(op)) && c.placeable(ctx, round, w, op) {
				if budgeted(op) {
					budget--
				}
				// The next placement must see this one's target (round: d is shared and read
				// only), and the next failback this one (autoMoves).
				round.decided(op)
				prepareOperation(op)
				if op.Reason == fsm.ReasonFailback {
					c.autoMoves[op.Id] = now
				}
				decided = append(decided, op)
			}
		} else if w.Placement == nil && len(running) >= 1 && w.Desired == fsm.DesiredOnline {
			c.adopt(ctx, d, w, running[0])
		}
	}
	if len(decided) > 0 {
		started := c.startOperations(ctx, decided)
		for _, op := range decided {
			if !slices.Contains(started, op) {
				delete(c.autoMoves, op.Id)
			}
		}
		d = c.deps.State.Data()
	}
	d = c.finishRemovals(ctx, d)
	return d
}

// maxRetryBackoff caps the wait between automatic attempts after repeated failures.
const maxRetryBackoff = 30 * time.Minute

// retryTimes returns, for each workload whose latest operations failed, when the controller may
// start another one by itself: one recovery grace after one failure, doubling with each further
// consecutive failure (capped at maxRetryBackoff), so a hook that always fails is not re-run
// every grace period forever. An operator's move or start is not held back by this.
func (c *Controller) retryTimes(d *fsm.Data) map[string]time.Time {
	byWorkload := map[string][]*fsmv1.Operation{}
	for _, op := range d.Operations {
		if fsm.Terminal(op.Phase) {
			byWorkload[op.Workload] = append(byWorkload[op.Workload], op)
		}
	}
	out := map[string]time.Time{}
	for w, ops := range byWorkload {
		slices.SortFunc(ops, func(a, b *fsmv1.Operation) int { return cmpInt64(b.UpdatedUnixNano, a.UpdatedUnixNano) })
		failures := 0
		for _, op := range ops {
			if op.Phase != fsm.PhaseFailed {
				break
			}
			failures++
		}
		if failures == 0 {
			continue
		}
		wait := c.cfg.GroupRecoveryGrace << min(failures-1, 20)
		if wait <= 0 || wait > maxRetryBackoff {
			wait = maxRetryBackoff
		}
		out[w] = time.Unix(0, ops[0].UpdatedUnixNano).Add(wait)
	}
	return out
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// plan returns the operation a workload needs now, or nil.
func (c *Controller) plan(d *fsm.Data, w *fsmv1.Workload, running []string, now time.Time) *fsmv1.Operation {
	p := w.Placement
	if w.Desired == fsm.DesiredOffline {
		if p != nil || len(running) > 0 {
			src := p.GetMember()
			if src == "" {
				src = running[0]
			}
			return &fsmv1.Operation{Workload: w.Name, Reason: fsm.ReasonStop, SourceMember: src, SourceServer: p.GetServer()}
		}
		return nil
	}
	if p == nil {
		if len(running) > 0 {
			return nil // adopt instead
		}
		if unseen(d, w) {
			return nil // the group may run where no fresh observation reaches: wait
		}
		return &fsmv1.Operation{Workload: w.Name, Reason: fsm.ReasonStart}
	}
	m := d.Members[p.Member]
	if m == nil {
		return nil
	}
	need := ""
	switch {
	case m.Health == fsm.HealthDown:
		need = fmt.Sprintf("member %s is down", m.Name)
	case m.Health != fsm.HealthUp && m.Health != fsm.HealthDegraded:
		return nil // unreachable or partitioned: wait, never act on a member that may be alive
	case p.Status == fsm.StatusOnlineFailure || p.Status == fsm.StatusOfflineFailure:
		// ECX gave up on the group there. A failover fences it first, and a group that failed to
		// stop ("Offline Failure") is fenced only once a stop is read back as Offline: until then
		// the operation waits in fencing and nothing starts elsewhere.
		need = fmt.Sprintf("group %s is %s on %s", w.Group, p.Status, m.Name)
	case p.Status == fsm.StatusOffline && w.OfflineSinceUnixNano != 0 && now.Sub(time.Unix(0, w.OfflineSinceUnixNano)) > c.cfg.GroupRecoveryGrace:
		need = fmt.Sprintf("group %s has been Offline on %s for more than %v", w.Group, m.Name, c.cfg.GroupRecoveryGrace)
	case m.Admin == fsm.AdminDraining:
		return &fsmv1.Operation{Workload: w.Name, Reason: fsm.ReasonDrain, SourceMember: p.Member, SourceServer: p.Server}
	case p.Status == fsm.StatusOnline && p.Reachability == fsm.ReachabilityUnreachable && w.GetProbe().GetFailover():
		// Online, but clients cannot reach it there, and its probe says to move it then.
		if !w.AutoFailover || c.brakeOn.Load() {
			return nil
		}
		return &fsmv1.Operation{Workload: w.Name, Reason: fsm.ReasonUnreachable, SourceMember: p.Member, SourceServer: p.Server,
			Error: fmt.Sprintf("clients cannot reach it on %s: %s", m.Name, p.ProbeError)}
	case p.Status != fsm.StatusOnline && p.Status != fsm.StatusOnlinePending && p.Status != fsm.StatusOfflinePending && p.Status != fsm.StatusOffline:
		// "Unknown" (ECX cannot read the server that runs it), "Error", "Unused" or a string
		// outside the vocabulary: the group may run there, and nothing says it failed. Act on
		// nothing until ECX reports a known status again (ECX itself declares a dead server
		// down after its heartbeat timeout, and the group then fails over or goes Offline).
		return nil
	}
	if need == "" {
		return nil
	}
	if !w.AutoFailover {
		return nil
	}
	if c.brakeOn.Load() {
		return nil
	}
	return &fsmv1.Operation{Workload: w.Name, Reason: fsm.ReasonFailover, SourceMember: p.Member, SourceServer: p.Server, Error: need}
}

// updateBrake holds automatic failovers while more than half of the members look down (declared
// down, or not answering this round): then the masters are more likely the isolated side.
func (c *Controller) updateBrake(ctx context.Context, d *fsm.Data, obs map[string]*observation) {
	down := 0
	for _, m := range d.Members {
		if o := obs[m.Name]; m.Health == fsm.HealthDown || o != nil && !o.reached {
			down++
		}
	}
	on := len(d.Members) > 1 && down*2 > len(d.Members)
	if on == c.brakeOn.Load() {
		return
	}
	c.brakeOn.Store(on)
	c.deps.Observer.Brake(on)
	if on {
		c.log.Warn("failover brake engaged", "down", down, "members", len(d.Members))
		c.event(ctx, &fsmv1.Event{Kind: "decision", Severity: "error", Message: fmt.Sprintf("failover brake engaged: %d of %d members look down, so the masters may be the isolated side; automatic failovers are held until fewer than half are down", down, len(d.Members))})
	} else {
		c.event(ctx, &fsmv1.Event{Kind: "decision", Severity: "info", Message: "failover brake released"})
	}
}

// adopt records a group already online on a member as the workload's placement.
func (c *Controller) adopt(ctx context.Context, d *fsm.Data, w *fsmv1.Workload, member string) {
	m := d.Members[member]
	for _, g := range m.Groups {
		if g.Name == w.Group && g.Status == fsm.StatusOnline {
			_, err := c.deps.Committer.Commit(ctx, &fsmv1.LogEntry{Actor: "controller", Command: &fsmv1.LogEntry_SetPlacement{SetPlacement: &fsmv1.SetPlacementCommand{
				Workload: w.Name, Placement: &fsmv1.Placement{Member: member, Server: g.Current, Status: g.Status},
			}}})
			if err != nil {
				c.log.Warn("adopting a running group failed", "workload", w.Name, "error", err)
			}
			return
		}
	}
}

// resolveConflict stops every copy of a group but the one to keep, under the fence. A copy
// that would not stop is stopped again after a backoff (conflictRetry), and the conflict event
// is written when the conflict is found, not at every retry.
func (c *Controller) resolveConflict(ctx context.Context, d *fsm.Data, w *fsmv1.Workload, running []string) {
	keep := running[0]
	if p := w.Placement; p != nil && slices.Contains(running, p.Member) {
		keep = p.Member
	}
	now := c.deps.Now()
	for _, mn := range running {
		if mn == keep {
			continue
		}
		key := mn + "/" + w.Group
		retry, due := c.conflictDue(key, now)
		if !due {
			continue
		}
		if _, busy := c.stopping.LoadOrStore(key, true); busy {
			continue
		}
		m := d.Members[mn]
		if retry.failures == 0 {
			c.event(ctx, &fsmv1.Event{Kind: "conflict", Severity: "error", Workload: w.Name, Member: mn,
				Message: fmt.Sprintf("group %s is running on %s and %s: keeping %s, stopping it on %s", w.Group, keep, mn, keep, mn)})
		} else {
			c.log.Warn("stopping a conflicting copy again", "workload", w.Name, "member", mn, "failed_stops", retry.failures)
		}
		c.opWG.Add(1)
		go func() {
			defer c.opWG.Done()
			defer c.stopping.Delete(key)
			err := c.stopOn(ctx, m, w.Group)
			c.conflictStopped(key, err, c.deps.Now())
			if err != nil {
				c.log.Error("stopping a conflicting copy failed", "workload", w.Name, "member", mn, "error", err)
			}
		}()
	}
}

// conflictRetry is the backoff of the stops of one conflicting copy that would not stop.
type conflictRetry struct {
	failures int
	next     time.Time // no stop before this
}

// conflictBackoff is the wait after failures failed stops: the poll interval doubled at each
// failure, at most 16 poll intervals. A conflict whose last failure is older than forgetConflictAfter
// counts as new (its event is written again).
func (c *Controller) conflictBackoff(failures int) time.Duration {
	return c.cfg.PollInterval << min(failures, 4)
}

const forgetConflictAfter = 5 * time.Minute

// conflictDue returns the retry state of key and whether a stop may be sent now.
func (c *Controller) conflictDue(key string, now time.Time) (conflictRetry, bool) {
	c.conflictMu.Lock()
	defer c.conflictMu.Unlock()
	r, ok := c.conflicts[key]
	if ok && now.Sub(r.next) > forgetConflictAfter {
		delete(c.conflicts, key)
		return conflictRetry{}, true
	}
	return r, !now.Before(r.next)
}

// conflictStopped records the outcome of a stop of a conflicting copy: a success ends the
// episode, a failure pushes the next stop back.
func (c *Controller) conflictStopped(key string, err error, now time.Time) {
	c.conflictMu.Lock()
	defer c.conflictMu.Unlock()
	if err == nil {
		delete(c.conflicts, key)
		return
	}
	r := c.conflicts[key]
	r.failures++
	r.next = now.Add(c.conflictBackoff(r.failures))
	c.conflicts[key] = r
}

// placeable reports whether an operation that needs a target has one now. When it has none it
// records why once (until the reason changes) instead of starting an operation bound to fail.
func (c *Controller) placeable(ctx context.Context, round *roundState, w *fsmv1.Workload, op *fsmv1.Operation) bool {
	if op.Reason == fsm.ReasonStop {
		return true
	}
	plan, err := rankIn(round.view(), op)
	why := ""
	if err != nil {
		why = err.Error()
	} else if _, ok := plan.Best(); !ok {
		var parts []string
		for _, cand := range plan.Candidates {
			parts = append(parts, cand.Member+": "+cand.Reason)
		}
		why = strings.Join(parts, "; ")
	}
	if why == "" {
		delete(c.blocked, w.Name)
		if best, _ := plan.Best(); op.TargetMember == "" {
			op.TargetMember, op.TargetServer = best.Member, best.Server
		}
		return true
	}
	if c.blocked[w.Name] != why {
		c.blocked[w.Name] = why
		c.event(ctx, &fsmv1.Event{Kind: "decision", Severity: "warn", Workload: w.Name,
			Message: fmt.Sprintf("%s of %s is waiting: no candidate member can take it (%s)", op.Reason, w.Name, why)})
	}
	return false
}

// prepareOperation makes op a new operation, as the state will hold it once committed.
func prepareOperation(op *fsmv1.Operation) {
	op.Id = newOperationID()
	op.Phase = fsm.PhasePending
}

// startOperations commits new operations (prepareOperation), all at once: the master packs
// commits that wait at the same time into few Raft entries, where one commit after another
// would take one round trip to the disk each (a dead member's thousand failovers). Their
// decision events follow in one commit per eventsPerCommit. It returns the operations
// committed; their runners start in resumeOperations.
func (c *Controller) startOperations(ctx context.Context, ops []*fsmv1.Operation) []*fsmv1.Operation {
	ok := make([]bool, len(ops))
	why := make([]string, len(ops))
	var wg sync.WaitGroup
	for i, op := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			why[i], ok[i] = c.commitOperation(ctx, op)
		}()
	}
	wg.Wait()
	var out []*fsmv1.Operation
	var evs []*fsmv1.Event
	for i, op := range ops {
		if !ok[i] {
			continue
		}
		out = append(out, op)
		if why[i] != "" {
			evs = append(evs, decisionEvent(op, why[i]))
		}
	}
	for len(evs) > 0 {
		n := min(len(evs), eventsPerCommit)
		c.event(ctx, evs[:n]...)
		evs = evs[n:]
	}
	return out
}

// eventsPerCommit bounds the events of one commit (a thousand failovers' reasons are 200 KB).
const eventsPerCommit = 200

// startOperation commits a new operation (made one by prepareOperation unless it has an id)
// and its decision event.
func (c *Controller) startOperation(ctx context.Context, op *fsmv1.Operation) bool {
	why, ok := c.commitOperation(ctx, op)
	if ok && why != "" {
		c.event(ctx, decisionEvent(op, why))
	}
	return ok
}

// commitOperation commits a new operation (made one by prepareOperation unless it has an id).
// It returns why it was started (op.Error, which it clears) and whether the commit succeeded.
func (c *Controller) commitOperation(ctx context.Context, op *fsmv1.Operation) (string, bool) {
	if op.Id == "" {
		prepareOperation(op)
	}
	why := op.Error
	op.Error = ""
	_, err := c.deps.Committer.Commit(ctx, &fsmv1.LogEntry{Actor: "controller", Command: &fsmv1.LogEntry_StartOperation{StartOperation: &fsmv1.StartOperationCommand{Operation: op}}})
	if err != nil {
		c.log.Warn("starting an operation failed", "workload", op.Workload, "reason", op.Reason, "error", err)
		return why, false
	}
	c.deps.Observer.OperationStarted(op.Reason)
	return why, true
}

// decisionEvent records why an operation was started.
func decisionEvent(op *fsmv1.Operation, why string) *fsmv1.Event {
	return &fsmv1.Event{Kind: "decision", Severity: "warn", Workload: op.Workload, Member: op.SourceMember, OperationId: op.Id, Message: fmt.Sprintf("%s of %s: %s", op.Reason, op.Workload, why)}
}

// schedulerRank ranks the targets of an operation. A drain or a rebalance never goes back to
// its source. A failover prefers any other member, but when none can take the workload and the
// source is eligible again (it came back from a blip, and the group is merely Offline or failed
// there), the source is its last resort: restarting in place beats staying offline until a dead
// member returns (chaos finding L1).
func (c *Controller) schedulerRank(d *fsm.Data, op *fsmv1.Operation) (scheduler.Plan, error) {
	return rankIn(c.schedulerState(d), op)
}

// schedCache keeps the scheduler state of the latest state read by a controller's runners:
// a thousand failovers each rank their workload in phase pending, most of them against the
// same applied index, and building the scheduler state costs as much as the state is large.
// The scheduler never modifies a State it ranks in.
var schedCache struct {
	mu    sync.Mutex
	owner weak.Pointer[Controller]
	index uint64
	st    scheduler.State
}

// schedulerState returns SchedulerState(d), built once per applied index.
func (c *Controller) schedulerState(d *fsm.Data) scheduler.State {
	if d.AppliedIndex == 0 {
		return SchedulerState(d) // not a state read from the FSM (tests)
	}
	k := weak.Make(c)
	schedCache.mu.Lock()
	defer schedCache.mu.Unlock()
	if schedCache.owner == k && schedCache.index == d.AppliedIndex {
		return schedCache.st
	}
	st := SchedulerState(d)
	if schedCache.owner != k || d.AppliedIndex > schedCache.index {
		schedCache.owner, schedCache.index, schedCache.st = k, d.AppliedIndex, st
	}
	return st
}

// rankIn is schedulerRank against a scheduler state already built.
func rankIn(st scheduler.State, op *fsmv1.Operation) (scheduler.Plan, error) {
	req := scheduler.Request{Workload: op.Workload, Exclude: slices.Clone(op.TriedMembers)}
	switch op.Reason {
	case fsm.ReasonFailover, fsm.ReasonDrain, fsm.ReasonRebalance, fsm.ReasonUnreachable, fsm.ReasonFailback:
		if op.SourceMember != "" {
			req.Exclude = append(req.Exclude, op.SourceMember)
			req.Reason = "source of the " + op.Reason
		}
	}
	plan, err := scheduler.Rank(st, req)
	if err != nil || op.Reason != fsm.ReasonFailover || op.SourceMember == "" || slices.Contains(op.TriedMembers, op.SourceMember) {
		return plan, err
	}
	if _, ok := plan.Best(); ok {
		return plan, nil
	}
	again, err := scheduler.Rank(st, scheduler.Request{Workload: op.Workload, Exclude: slices.Clone(op.TriedMembers)})
	if best, ok := again.Best(); err == nil && ok && best.Member == op.SourceMember {
		return again, nil
	}
	return plan, nil
}
