package ecxsim

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"
)

// The POST operations. Each one is checked and accepted (or rejected) synchronously under the
// cluster lock; what it starts completes later on the scheduler (docs/ecx.md).

// runOp runs op under the cluster lock and writes the envelope of its outcome.
func runOp(w http.ResponseWriter, c *simCluster, op func(now time.Time) *apiError) {
	c.mu.Lock()
	e := op(time.Now())
	c.mu.Unlock()
	if e != nil {
		writeError(w, e)
		return
	}
	writeOK(w, "", nil)
}

func unknownOp(r *http.Request) *apiError {
	return &apiError{http.StatusNotFound, CodeNotFound, fmt.Sprintf("path %q not found", r.URL.Path)}
}

func postCluster(w http.ResponseWriter, r *http.Request, c *simCluster) {
	var action serverAction
	switch op := r.PathValue("op"); op {
	case "start":
		runOp(w, c, func(now time.Time) *apiError {
			var idx []int
			for i, s := range c.servers {
				if s.power && !s.service {
					idx = append(idx, i)
				}
			}
			if len(idx) > 0 {
				_ = c.bringUp(idx, false, now) // no listener to open: cannot fail
			}
			return nil
		})
		return
	case "suspend", "resume":
		runOp(w, c, func(now time.Time) *apiError {
			if c.aliveCount() == 0 {
				return rejected("cluster %q is stopped", c.cfg.Name)
			}
			c.suspended = op == "suspend"
			return nil
		})
		return
	case "stop":
		action = actionStopService
	case "reboot":
		action = actionReboot
	case "shutdown":
		action = actionShutdown
	default:
		writeError(w, unknownOp(r))
		return
	}
	runOp(w, c, func(now time.Time) *apiError {
		if c.aliveCount() > 0 {
			c.suspended = false
			c.stopCluster(action, now)
		}
		return nil
	})
}

var ratioTime = regexp.MustCompile(`^([0-9]+)([mhd])$`)

const maxRatioTime = 30 * 24 * time.Hour

type toratioBody struct {
	Ratio *int    `json:"ratio"`
	Time  *string `json:"time"`
}

func postToratio(w http.ResponseWriter, r *http.Request, c *simCluster) {
	switch r.PathValue("op") {
	case "reset":
		runOp(w, c, func(now time.Time) *apiError {
			c.setRatio(1, 0, now)
			return nil
		})
	case "set":
		var body toratioBody
		if e := readBody(r, &body); e != nil {
			writeError(w, e)
			return
		}
		ratio, d, e := parseRatio(body)
		if e != nil {
			writeError(w, e)
			return
		}
		runOp(w, c, func(now time.Time) *apiError {
			c.setRatio(ratio, d, now)
			return nil
		})
	default:
		writeError(w, unknownOp(r))
	}
}

// parseRatio checks a toratio/set body (docs/ecx.md): ratio 1-10000, time "<n>m|h|d" up to 30
// days, required unless ratio is 1, in which case it must be left out.
func parseRatio(b toratioBody) (int, time.Duration, *apiError) {
	if b.Ratio == nil {
		return 0, 0, invalid("ratio is required")
	}
	ratio := *b.Ratio
	if ratio < 1 || ratio > 10000 {
		return 0, 0, invalid("ratio must be between 1 and 10000, got %d", ratio)
	}
	if ratio == 1 {
		if b.Time != nil {
			return 0, 0, invalid("time must be left out when ratio is 1")
		}
		return 1, 0, nil
	}
	if b.Time == nil {
		return 0, 0, invalid("time is required when ratio is not 1")
	}
	m := ratioTime.FindStringSubmatch(*b.Time)
	if m == nil {
		return 0, 0, invalid("time %q must be a number followed by m, h or d", *b.Time)
	}
	n, err := strconv.Atoi(m[1])
	if err != nil || n <= 0 {
		return 0, 0, invalid("time %q must be positive", *b.Time)
	}
	unit := map[string]time.Duration{"m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}[m[2]]
	d := time.Duration(n) * unit
	if n > int(maxRatioTime/unit) {
		return 0, 0, invalid("time %q is longer than 30 days", *b.Time)
	}
	return ratio, d, nil
}

// setRatio sets the timeout ratio, reverting to 1 after d when d > 0.
func (c *simCluster) setRatio(ratio int, d time.Duration, now time.Time) {
	c.toratio = ratio
	c.ratioSeq++
	seq := c.ratioSeq
	if d > 0 {
		c.sim.sched.after(d, func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.ratioSeq == seq {
				c.setRatio(1, 0, time.Now())
			}
		})
	}
	c.reconcile(now)
}

func postServer(w http.ResponseWriter, r *http.Request, c *simCluster) {
	name := r.PathValue("server")
	srv := c.serverByName[name]
	if srv == nil {
		writeError(w, notFound("server", name))
		return
	}
	i := srv.idx
	var action serverAction
	switch r.PathValue("op") {
	case "start":
		runOp(w, c, func(now time.Time) *apiError {
			if !srv.power {
				return rejected("server %q is powered off", name)
			}
			if !srv.service {
				_ = c.bringUp([]int{i}, false, now) // no listener to open: cannot fail
			}
			return nil
		})
		return
	case "stop":
		action = actionStopService
	case "reboot":
		action = actionReboot
	case "shutdown":
		action = actionShutdown
	default:
		writeError(w, unknownOp(r))
		return
	}
	runOp(w, c, func(now time.Time) *apiError {
		switch {
		case !srv.power:
			return rejected("server %q is powered off", name)
		case srv.stopping:
			return nil
		case srv.service:
			c.stopServer(i, action, true, now)
		case action != actionStopService:
			c.finishStop(i, action, now)
		}
		return nil
	})
}

func postGroup(w http.ResponseWriter, r *http.Request, c *simCluster) {
	name := r.PathValue("group")
	g := c.groupByName[name]
	if g == nil {
		writeError(w, notFound("group", name))
		return
	}
	op := r.PathValue("op")
	if op != "start" && op != "stop" && op != "move" {
		writeError(w, unknownOp(r))
		return
	}
	target, e := readTarget(r, c, false)
	if e != nil {
		writeError(w, e)
		return
	}
	runOp(w, c, func(now time.Time) *apiError {
		if c.suspended {
			return rejected("cluster %q is suspended", c.cfg.Name)
		}
		switch op {
		case "start":
			return c.opStartGroup(g, target, now)
		case "stop":
			return c.opStopGroup(g, target)
		}
		return c.opMoveGroup(g, target, now)
	})
}

// opStartGroup starts g on target (-1: its highest-priority usable server). Starting a group that
// already runs or starts on that same server is accepted and changes nothing; anywhere else it is
// rejected, as is a target that is offline or outside the group's failover policy, and a group
// that is stopping, moving or failed to stop ("Offline Failure").
func (c *simCluster) opStartGroup(g *group, target int, now time.Time) *apiError {
	name := g.cfg.Name
	if g.orphan || g.status != StatusOffline {
		where := c.serverName(g.current)
		switch {
		case g.orphan:
			return rejected("group %q is online on server %q", name, where)
		case g.moving:
			return c.movingError(g)
		case g.status == StatusOfflinePending:
			return rejected("group %q is stopping on server %q", name, where)
		case g.status == StatusOfflineFailure:
			return rejected("group %q is in %s on server %q; stop it first", name, g.status, where)
		case target >= 0 && target != g.current && g.status == StatusOnlineFailure:
			return rejected("group %q is in %s on server %q; stop it first", name, g.status, where)
		case target >= 0 && target != g.current:
			return rejected("group %q is already online on server %q", name, where)
		case g.status == StatusOnlineFailure:
			target = g.current // retry on the same server
		default:
			return nil
		}
	}
	if target < 0 {
		if target = c.pickTarget(g, -1); target < 0 {
			return rejected("no server of group %q's failover policy is online", name)
		}
	}
	if !g.canRunOn(target) {
		return rejected("server %q is not in the failover policy of group %q", c.serverName(target), name)
	}
	if !c.usable(target) {
		return rejected("target server %q is offline", c.serverName(target))
	}
	c.startGroup(g, target, now)
	return nil
}

// opStopGroup stops g. Stopping a group that is offline or already stopping is accepted. A group
// that is moving (its stop is the first half of a move or failover) is refused: accepting would
// answer success while the group then comes Online on the move's target. A group in "Offline
// Failure" is stopped again.
func (c *simCluster) opStopGroup(g *group, target int) *apiError {
	on := g.runningOn()
	switch {
	case g.orphan:
		return rejected("server %q running group %q does not respond", c.serverName(g.current), g.cfg.Name)
	case g.moving:
		return c.movingError(g)
	case on < 0 || g.status == StatusOfflinePending:
		return nil
	case target >= 0 && target != on:
		return rejected("group %q is not online on server %q", g.cfg.Name, c.serverName(target))
	}
	c.stopGroup(g, nil)
	return nil
}

// movingError refuses an operation on a group that is moving or failing over.
func (c *simCluster) movingError(g *group) *apiError {
	from := c.serverName(g.current)
	if g.moveTo >= 0 {
		return rejected("group %q is moving from server %q to server %q; send the request again once the move has finished",
			g.cfg.Name, from, c.serverName(g.moveTo))
	}
	return rejected("group %q is failing over from server %q; send the request again once the failover has finished", g.cfg.Name, from)
}

// opMoveGroup moves an online group to target, or without a target to the next server of its
// failover policy.
func (c *simCluster) opMoveGroup(g *group, target int, now time.Time) *apiError {
	name := g.cfg.Name
	switch {
	case g.orphan:
		return rejected("server %q running group %q does not respond", c.serverName(g.current), name)
	case g.moving:
		return c.movingError(g)
	case g.status == StatusOffline:
		return rejected("group %q is not online", name)
	case g.status != StatusOnline:
		return rejected("group %q is %s on server %q", name, g.status, c.serverName(g.current))
	}
	if target < 0 {
		if target = c.pickTarget(g, g.current); target < 0 || target == g.current {
			return rejected("no other server can take group %q", name)
		}
	}
	switch {
	case target == g.current:
		return rejected("group %q is already online on server %q", name, c.serverName(target))
	case !g.canRunOn(target):
		return rejected("server %q is not in the failover policy of group %q", c.serverName(target), name)
	case !c.usable(target):
		return rejected("target server %q is offline", c.serverName(target))
	}
	c.moveGroup(g, target)
	return nil
}

// postGroupsBulk serves POST /api/v1/groups/start and /stop (op; target required): every group
// that can start on the target and runs nowhere starts there; every group running there stops.
func postGroupsBulk(op string) restHandler {
	return func(w http.ResponseWriter, r *http.Request, c *simCluster) {
		target, e := readTarget(r, c, true)
		if e != nil {
			writeError(w, e)
			return
		}
		runOp(w, c, func(now time.Time) *apiError {
			if c.suspended {
				return rejected("cluster %q is suspended", c.cfg.Name)
			}
			if op == "start" && !c.usable(target) {
				return rejected("target server %q is offline", c.serverName(target))
			}
			for _, g := range c.groups {
				switch {
				case op == "start" && g.canRunOn(target) && !g.orphan && g.status == StatusOffline:
					c.startGroup(g, target, now)
				case op == "stop" && g.runningOn() == target && g.status != StatusOfflinePending:
					c.stopGroup(g, nil)
				}
			}
			return nil
		})
	}
}

func postResource(w http.ResponseWriter, r *http.Request, c *simCluster) {
	name := r.PathValue("resource")
	rs := c.resByName[name]
	if rs == nil {
		writeError(w, notFound("resource", name))
		return
	}
	op := r.PathValue("op")
	if op != "start" && op != "stop" {
		writeError(w, unknownOp(r))
		return
	}
	target, e := readTarget(r, c, op == "start")
	if e != nil {
		writeError(w, e)
		return
	}
	runOp(w, c, func(now time.Time) *apiError {
		if c.suspended {
			return rejected("cluster %q is suspended", c.cfg.Name)
		}
		if op == "start" {
			return c.opStartResource(rs, target, now)
		}
		return c.opStopResource(rs)
	})
}

// opStartResource starts one resource on target. When its group runs nowhere the group starts
// there (the resources it depends on start too); when the group is online on target a resource
// stopped alone starts again.
func (c *simCluster) opStartResource(rs *resource, target int, now time.Time) *apiError {
	g := rs.g
	if g.status == StatusOffline && !g.orphan {
		return c.opStartGroup(g, target, now)
	}
	if g.orphan || g.current != target {
		return rejected("group %q of resource %q is online on server %q", g.cfg.Name, rs.name, c.serverName(g.current))
	}
	if g.status != StatusOnline {
		return rejected("group %q of resource %q is %s", g.cfg.Name, rs.name, g.status)
	}
	if rs.state == resFollow || rs.state == resOnPending {
		return nil
	}
	rs.state = resOnPending
	c.syncService(g)
	c.resourceAfter(rs, g.cfg.StartDuration, resFollow)
	return nil
}

func (c *simCluster) opStopResource(rs *resource) *apiError {
	g := rs.g
	switch {
	case g.orphan:
		return rejected("server %q running resource %q does not respond", c.serverName(g.current), rs.name)
	case g.status == StatusOffline || rs.state == resOff || rs.state == resOffPending:
		return nil
	case g.status != StatusOnline:
		return rejected("group %q of resource %q is %s", g.cfg.Name, rs.name, g.status)
	}
	rs.state = resOffPending
	c.syncService(g)
	c.resourceAfter(rs, g.cfg.StopDuration, resOff)
	return nil
}

// resourceAfter moves rs to state after d unless rs or its group changed meanwhile.
func (c *simCluster) resourceAfter(rs *resource, d time.Duration, state resState) {
	rs.seq++
	seq, gseq := rs.seq, rs.g.seq
	c.sim.sched.after(d, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if rs.seq == seq && rs.g.seq == gseq {
			rs.state = state
			c.syncService(rs.g)
		}
	})
}

func postMonitor(w http.ResponseWriter, r *http.Request, c *simCluster) {
	name := r.PathValue("monitor")
	m := c.monByName[name]
	if m == nil {
		writeError(w, notFound("monitor", name))
		return
	}
	op := r.PathValue("op")
	if op != "suspend" && op != "resume" {
		writeError(w, unknownOp(r))
		return
	}
	target, e := readTarget(r, c, true)
	if e != nil {
		writeError(w, e)
		return
	}
	runOp(w, c, func(now time.Time) *apiError {
		if !c.alive(target) {
			return rejected("target server %q is offline", c.serverName(target))
		}
		m.suspended[target] = op == "suspend"
		return nil
	})
}
