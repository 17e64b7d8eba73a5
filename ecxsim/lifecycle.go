package ecxsim

import "time"

// Every method in this file must be called with c.mu held.

// startGroup puts g into "Online Pending" on server target and schedules "Online" (or "Online
// Failure") after its start duration. The group counts as online for the audit from now on.
func (c *simCluster) startGroup(g *group, target int, now time.Time) {
	g.seq++
	seq := g.seq
	g.status = StatusOnlinePending
	g.current = target
	g.orphan = false
	g.moving = false
	for _, r := range g.resources {
		r.state = resFollow
	}
	c.sim.auditOpen(c, g, target, now)
	c.syncService(g)
	c.sim.sched.after(g.cfg.StartDuration, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if g.seq != seq {
			return
		}
		if g.failStart {
			g.status = StatusOnlineFailure
			c.sim.log.Info("group start failed", "cluster", c.cfg.Name, "group", g.cfg.Name, "server", c.serverName(target))
			return
		}
		g.status = StatusOnline
		c.syncService(g)
	})
}

// stopGroup puts g into "Offline Pending" and schedules "Offline" after its stop duration; then,
// if not nil, runs with the server the group was stopped on, under the cluster lock. A group set
// to fail its stops (SetFailStop) ends in "Offline Failure" instead, still on its server (it may
// hold its resources: the audit interval stays open), and then does not run: a move or failover
// whose stop failed goes no further. The simulator models the final action "no operation" for a
// deactivation failure (ECX's default would shut the server down).
func (c *simCluster) stopGroup(g *group, then func(prev int)) {
	g.seq++
	seq := g.seq
	g.status = StatusOfflinePending
	g.moving = false
	for _, r := range g.resources {
		r.state = resFollow
	}
	c.syncService(g)
	c.sim.sched.after(g.cfg.StopDuration, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if g.seq != seq {
			return
		}
		if g.failStop {
			g.seq++
			g.status = StatusOfflineFailure
			g.moving = false
			c.sim.log.Info("group stop failed", "cluster", c.cfg.Name, "group", g.cfg.Name, "server", c.serverName(g.current))
			return
		}
		prev := g.current
		c.setOffline(g, time.Now())
		if then != nil {
			then(prev)
		}
	})
}

// moveGroup moves an online group to server target: it stops on its server, then starts on
// target if target can still take it. Until the stop completes the group is moving: a stop sent
// meanwhile is refused (opStopGroup).
func (c *simCluster) moveGroup(g *group, target int) {
	c.stopGroup(g, func(int) {
		if c.usable(target) && g.status == StatusOffline {
			c.startGroup(g, target, time.Now())
		}
	})
	g.moving, g.moveTo = true, target
}

// setOffline makes g "Offline" on no server at once and closes its audit interval.
func (c *simCluster) setOffline(g *group, now time.Time) {
	g.seq++
	g.status = StatusOffline
	g.current = -1
	g.orphan = false
	g.moving = false
	for _, r := range g.resources {
		r.state = resFollow
	}
	c.syncService(g)
	c.sim.auditClose(g, now)
}

// pickTarget returns the highest-priority usable server for g, avoiding server avoid when another
// one is usable, or -1.
func (c *simCluster) pickTarget(g *group, avoid int) int {
	fallback := -1
	for _, i := range g.priority {
		if !c.usable(i) {
			continue
		}
		if i != avoid {
			return i
		}
		fallback = i
	}
	return fallback
}

// autoStart starts every auto-start group that runs nowhere on its highest-priority usable server.
func (c *simCluster) autoStart(now time.Time) {
	for _, g := range c.groups {
		if !g.cfg.AutoStart || g.orphan || g.status != StatusOffline {
			continue
		}
		if t := c.pickTarget(g, -1); t >= 0 {
			c.startGroup(g, t, now)
		}
	}
}

// powerOn boots server i (when openListener, its REST listener opens too) and starts its ECX
// service. Peers forget what they believed about it: it restarted.
func (c *simCluster) powerOn(i int, openListener bool, now time.Time) error {
	s := c.servers[i]
	if openListener && !s.power {
		if err := c.sim.openServer(s); err != nil {
			return err
		}
	}
	s.power = true
	s.service = true
	s.stopping = false
	s.dummyFailed = false
	s.seq++
	s.witnessOK = now
	for j := range c.servers {
		c.member[i][j], c.member[j][i] = false, false
		c.lostSince[i][j], c.lostSince[j][i] = time.Time{}, time.Time{}
	}
	return nil
}

// bringUp boots the given servers. When no server of the cluster was alive, this is a cluster start:
// groups of the dead past are cleared, the servers know each other and auto-start groups start.
func (c *simCluster) bringUp(idxs []int, openListener bool, now time.Time) error {
	cold := c.aliveCount() == 0
	var firstErr error
	for _, i := range idxs {
		if c.alive(i) {
			continue
		}
		if err := c.powerOn(i, openListener, now); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	if cold && c.aliveCount() > 0 {
		for _, g := range c.groups {
			if g.orphan {
				c.setOffline(g, now)
			}
		}
		for i := range c.servers {
			for j := range c.servers {
				c.member[i][j] = i != j && c.alive(i) && c.alive(j)
			}
		}
		c.autoStart(now)
	}
	c.reconcile(now)
	return firstErr
}

// crash powers server i off at once (a failure, a forced shutdown or the partition action): its
// groups stop existing now. Groups that were online or starting become orphans until their
// failure is detected; the others are simply offline.
func (c *simCluster) crash(i int, now time.Time, reason string) {
	s := c.servers[i]
	if !s.power {
		return
	}
	c.sim.log.Info("server down", "cluster", c.cfg.Name, "server", s.name, "reason", reason)
	s.power = false
	c.sim.closeServer(s)
	c.failService(i, now)
}

// failService ends the ECX service of server i abruptly (a crash, or a dummy failure of a server
// that stays powered on): its groups stop existing now. Groups that were online or starting become
// orphans until their failure is detected; the others are simply offline. The server hears no
// peer any more and forgets its monitor suspensions and dummy failures.
func (c *simCluster) failService(i int, now time.Time) {
	s := c.servers[i]
	s.service, s.stopping = false, false
	s.seq++
	for _, g := range c.groups {
		if g.runningOn() != i {
			continue
		}
		if g.status == StatusOnline || g.status == StatusOnlinePending {
			g.seq++
			g.orphan = true
			g.moving = false
			c.syncService(g)
			c.sim.auditClose(g, now)
			continue
		}
		c.setOffline(g, now)
	}
	for _, m := range c.monitors {
		m.suspended[i] = false
		m.dummy[i] = false
	}
	for j := range c.servers {
		c.member[i][j] = false
		c.lostSince[i][j] = time.Time{}
	}
}

// leave tells every peer at once that server i stops in an orderly way, so they need no heartbeat
// timeout to know.
func (c *simCluster) leave(i int) {
	for j := range c.servers {
		c.member[j][i] = false
		c.lostSince[j][i] = time.Time{}
	}
}

// serverAction is what happens to a server at the end of an orderly stop.
type serverAction int

const (
	actionStopService serverAction = iota
	actionShutdown
	actionReboot
)

func (a serverAction) String() string {
	return [...]string{"stop", "shutdown", "reboot"}[a]
}

// stopServer stops server i in an orderly way: its groups stop (and, when failover is set, start
// again on the next server of their policy), then the action runs.
func (c *simCluster) stopServer(i int, action serverAction, failover bool, now time.Time) time.Duration {
	s := c.servers[i]
	s.stopping = true
	wait := time.Duration(0)
	for _, g := range c.groups {
		if g.runningOn() != i {
			continue
		}
		wait = max(wait, g.cfg.StopDuration)
		if g.status == StatusOfflinePending {
			continue
		}
		move := failover && (g.status == StatusOnline || g.status == StatusOnlinePending)
		c.stopGroup(g, func(prev int) {
			if !move || g.status != StatusOffline {
				return
			}
			if t := c.pickTarget(g, prev); t >= 0 && t != prev {
				c.sim.log.Info("group failover", "cluster", c.cfg.Name, "group", g.cfg.Name, "from", c.serverName(prev), "to", c.serverName(t))
				c.startGroup(g, t, time.Now())
			}
		})
		g.moving, g.moveTo = move, -1
	}
	seq := s.seq
	c.sim.sched.after(wait, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if s.seq != seq {
			return
		}
		c.finishStop(i, action, time.Now())
	})
	return wait
}

func (c *simCluster) finishStop(i int, action serverAction, now time.Time) {
	s := c.servers[i]
	c.leave(i)
	c.sim.log.Info("server stopped", "cluster", c.cfg.Name, "server", s.name, "action", action.String())
	if action == actionStopService {
		s.service, s.stopping = false, false
		s.seq++
		for j := range c.servers {
			c.member[i][j] = false
			c.lostSince[i][j] = time.Time{}
		}
		c.syncServices()
		c.reconcile(now)
		return
	}
	c.crash(i, now, action.String())
	c.reconcile(now)
	if action == actionReboot {
		seq := s.seq
		c.sim.sched.after(c.cfg.RebootDuration, func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if s.seq != seq {
				return
			}
			if err := c.bringUp([]int{i}, true, time.Now()); err != nil {
				c.sim.log.Error("reboot failed", "cluster", c.cfg.Name, "server", s.name, "error", err)
			}
		})
	}
}

// stopCluster stops every group (no failover), then applies action to every live server.
func (c *simCluster) stopCluster(action serverAction, now time.Time) {
	c.opSeq++
	seq := c.opSeq
	wait := time.Duration(0)
	for i := range c.servers {
		if c.alive(i) {
			c.servers[i].stopping = true
		}
	}
	for _, g := range c.groups {
		if g.runningOn() < 0 {
			continue
		}
		wait = max(wait, g.cfg.StopDuration)
		if g.status != StatusOfflinePending {
			c.stopGroup(g, nil)
		}
	}
	c.sim.sched.after(wait, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.opSeq != seq {
			return
		}
		var down []int
		for i, s := range c.servers {
			if c.alive(i) && s.stopping {
				down = append(down, i)
			}
		}
		for _, i := range down {
			c.leave(i)
		}
		for _, i := range down {
			c.finishStop(i, action, time.Now())
		}
	})
}

// reconcile brings the failure detector up to date: who hears whom now, which servers declared
// silent peers down after the heartbeat timeout, which isolated servers shut themselves down, and
// which groups fail over. It is cheap (servers per cluster squared) and called after every change.
func (c *simCluster) reconcile(now time.Time) {
	comp := c.components(now)
	timeout := c.timeout()
	for i := range c.servers {
		if comp[i] < 0 {
			continue
		}
		for j := range c.servers {
			if j == i {
				continue
			}
			if comp[j] == comp[i] {
				c.lostSince[i][j] = time.Time{}
			} else if c.member[i][j] && c.lostSince[i][j].IsZero() {
				c.lostSince[i][j] = now
			}
		}
	}
	expired := func(i, j int) bool {
		return c.member[i][j] && !c.lostSince[i][j].IsZero() && now.Sub(c.lostSince[i][j]) >= timeout
	}
	// Partition action first, so that a survivor never starts a group the loser still runs.
	var losers []int
	for i := range c.servers {
		if comp[i] < 0 {
			continue
		}
		for j := range c.servers {
			if expired(i, j) && c.losesPartition(i, comp, now) {
				losers = append(losers, i)
				break
			}
		}
	}
	for _, i := range losers {
		c.crash(i, now, "network partition: no peer and no witness")
	}
	for i := range c.servers {
		if !c.alive(i) {
			continue
		}
		for j := range c.servers {
			switch {
			case expired(i, j):
				c.member[i][j] = false
				c.lostSince[i][j] = time.Time{}
				c.sim.log.Info("peer declared down", "cluster", c.cfg.Name, "server", c.servers[i].name, "peer", c.servers[j].name)
			case !c.lostSince[i][j].IsZero():
				c.scheduleCheck(c.lostSince[i][j].Add(timeout))
			}
		}
	}
	c.failOverOrphans(now)
	if len(losers) > 0 {
		comp = c.components(now)
	}
	for i := range c.servers {
		for j := range c.servers {
			if i != j && comp[i] >= 0 && comp[i] == comp[j] {
				c.member[i][j] = true
			}
		}
	}
}

// components labels every live server with its connected component (-1 for a dead server). Two
// servers hear each other directly unless one's interconnect is cut, and through the witness when
// both reach it (the witness heartbeat is a heartbeat path in ECX).
func (c *simCluster) components(now time.Time) []int {
	n := len(c.servers)
	comp := make([]int, n)
	for i := range comp {
		comp[i] = -1
	}
	linked := func(i, j int) bool {
		if !c.servers[i].peerCut && !c.servers[j].peerCut {
			return true
		}
		return c.witnessOK(i, now) && c.witnessOK(j, now)
	}
	label := 0
	for i := range c.servers {
		if comp[i] >= 0 || !c.alive(i) {
			continue
		}
		comp[i] = label
		stack := []int{i}
		for len(stack) > 0 {
			k := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for j := range c.servers {
				if comp[j] < 0 && c.alive(j) && linked(k, j) {
					comp[j] = label
					stack = append(stack, j)
				}
			}
		}
		label++
	}
	return comp
}

// losesPartition decides ECX's network-partition resolution for live server i that lost a peer.
// With a witness, a side survives only if one of its servers reaches the witness (HTTP NP
// resolution). Without one, the simulator stands in for the other NP methods: the side with most
// live servers survives, a tie going to the side with the first live server in configuration order.
func (c *simCluster) losesPartition(i int, comp []int, now time.Time) bool {
	size, alive, first := 0, 0, -1
	witness := false
	for j := range c.servers {
		if comp[j] < 0 {
			continue
		}
		alive++
		if first < 0 {
			first = j
		}
		if comp[j] == comp[i] {
			size++
			witness = witness || c.witnessOK(j, now)
		}
	}
	if c.cfg.hasWitness() {
		return !witness
	}
	return !(2*size > alive || (2*size == alive && comp[first] == comp[i]))
}

// failOverOrphans starts every orphan group whose server every live peer has declared down (or
// that restarted) on the highest-priority usable server of its policy.
func (c *simCluster) failOverOrphans(now time.Time) {
	for _, g := range c.groups {
		if !g.orphan {
			continue
		}
		o := g.current
		pending := false
		for j := range c.servers {
			if j != o && c.alive(j) && c.member[j][o] {
				pending = true
				break
			}
		}
		if pending || c.aliveCount() == 0 {
			continue
		}
		t := c.pickTarget(g, o)
		if t < 0 {
			c.setOffline(g, now)
			continue
		}
		c.sim.log.Info("group failover", "cluster", c.cfg.Name, "group", g.cfg.Name, "from", c.serverName(o), "to", c.serverName(t))
		c.startGroup(g, t, now)
	}
}

// scheduleCheck makes sure reconcile runs at t.
func (c *simCluster) scheduleCheck(t time.Time) {
	if !c.checkAt.IsZero() && !c.checkAt.After(t) {
		return
	}
	c.checkAt = t
	c.sim.sched.at(t, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.checkAt.Equal(t) {
			c.checkAt = time.Time{}
		}
		c.reconcile(time.Now())
	})
}

// heartbeatTick runs one round of the servers' guards (witness and masters heartbeats, the member
// rule; see guard.go) and re-evaluates the failure detector, whose
// view of the witness ages with time. It reschedules itself every heartbeat interval.
func (c *simCluster) heartbeatTick() {
	c.mu.Lock()
	now := time.Now()
	c.sim.guardTick(c, now)
	c.reconcile(now)
	c.mu.Unlock()
	c.sim.sched.after(c.cfg.HeartbeatInterval, c.heartbeatTick)
}
