package ecxsim

import (
	"fmt"
	"net/http"
	"slices"
	"time"
)

// The endpoints of NEC's newest REST tool that cset or an operator uses (docs/ecxsim.md): the
// dummy failures of servers and monitors, which drills use, and the mirror backup and restore
// actions with their status. scripts/run and metrics/* are not simulated: they answer like any
// unknown path (404).

// MirrorActionDuration is how long a mirror backup or restore action reports "running".
const MirrorActionDuration = 500 * time.Millisecond

// mirrorKinds are the {kind} values of mirrors/{kind}/...; the index keys simCluster.mirrors.
var mirrorKinds = [...]string{"backup", "restore"}

// mirrorJob is the last mirror action of one kind. Guarded by the cluster lock.
type mirrorJob struct {
	action  string // "preaction" or "postaction"; "" before the first one
	running bool
	seq     uint64
}

// status is the detail.status of mirrors/{kind}/status: "running", then "<kind> <action>
// completed"; "idle" before any action.
func (j *mirrorJob) status(kind string) string {
	switch {
	case j.running:
		return "running"
	case j.action == "":
		return "idle"
	}
	return kind + " " + j.action + " completed"
}

type mirrorStatusJSON struct {
	Status string `json:"status"`
}

// mirrorBody is the body of a mirror action. Every field is optional; the simulator checks the
// types and the timeout and otherwise ignores them (it has no mirror disks to act on).
type mirrorBody struct {
	NoShutdown   *bool `json:"no-shutdown"`
	NoReboot     *bool `json:"no-reboot"`
	OnlyShutdown *bool `json:"only-shutdown"`
	OnlyReboot   *bool `json:"only-reboot"`
	Online       *bool `json:"online"`
	SkipCopy     *bool `json:"skip-copy"` // restore only
	Timeout      *int  `json:"timeout"`   // seconds; ECX's default is 900
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, &apiError{http.StatusMethodNotAllowed, CodeInvalidRequest,
		fmt.Sprintf("method %s not allowed on %s", r.Method, r.URL.Path)})
}

// mirrorStatus serves GET /api/v1/mirrors/{kind}/status for the kind of index k.
func mirrorStatus(k int) restHandler {
	return func(w http.ResponseWriter, r *http.Request, c *simCluster) {
		c.mu.Lock()
		st := c.mirrors[k].status(mirrorKinds[k])
		c.mu.Unlock()
		writeOK(w, "detail", mirrorStatusJSON{Status: st})
	}
}

// mirrorAction serves POST /api/v1/mirrors/{kind}/{action} (kind backup or restore of index k,
// action preaction or postaction). An action is accepted at once and reports "running" for
// MirrorActionDuration; a second action of the same kind meanwhile is refused.
func mirrorAction(k int, op string) restHandler {
	kind := mirrorKinds[k]
	return func(w http.ResponseWriter, r *http.Request, c *simCluster) {
		var body mirrorBody
		if e := readBody(r, &body); e != nil {
			writeError(w, e)
			return
		}
		if body.Timeout != nil && *body.Timeout <= 0 {
			writeError(w, invalid("timeout must be a positive number of seconds, got %d", *body.Timeout))
			return
		}
		runOp(w, c, func(now time.Time) *apiError {
			j := &c.mirrors[k]
			if j.running {
				return rejected("%s %s is still running; wait until mirrors/%s/status is no longer %q", kind, j.action, kind, "running")
			}
			j.action, j.running = op, true
			j.seq++
			seq := j.seq
			c.sim.sched.after(MirrorActionDuration, func() {
				c.mu.Lock()
				defer c.mu.Unlock()
				if j.seq == seq {
					j.running = false
				}
			})
			return nil
		})
	}
}

// postServerDummy serves POST /api/v1/servers/{server}/dummy-failure/{start,stop}.
func postServerDummy(w http.ResponseWriter, r *http.Request, c *simCluster) {
	name := r.PathValue("server")
	srv := c.serverByName[name]
	if srv == nil {
		writeError(w, notFound("server", name))
		return
	}
	switch r.PathValue("op") {
	case "start":
		runOp(w, c, func(now time.Time) *apiError { return c.opServerDummyStart(srv.idx, now) })
	case "stop":
		runOp(w, c, func(now time.Time) *apiError { return c.opServerDummyStop(srv.idx, now) })
	default:
		writeError(w, unknownOp(r))
	}
}

// opServerDummyStart simulates the failure of server i: its ECX service fails at once (the
// machine stays on and its REST API answers), its peers learn it at once, and its groups fail
// over to the next live server of their policy (or go Offline when there is none). It reports
// "Offline" and takes no group until the dummy failure is stopped.
func (c *simCluster) opServerDummyStart(i int, now time.Time) *apiError {
	s := c.servers[i]
	switch {
	case !s.power:
		return rejected("server %q is powered off", s.name)
	case s.dummyFailed:
		return nil
	case s.stopping:
		return rejected("server %q is stopping", s.name)
	case !s.service:
		return rejected("the ECX service of server %q is not running", s.name)
	}
	c.sim.log.Info("server dummy failure", "cluster", c.cfg.Name, "server", s.name)
	s.dummyFailed = true
	c.failService(i, now)
	c.leave(i)
	c.reconcile(now)
	if c.aliveCount() == 0 {
		// No peer to fail over to: the groups simply stopped with the service.
		for _, g := range c.groups {
			if g.orphan {
				c.setOffline(g, now)
			}
		}
	}
	return nil
}

// opServerDummyStop ends the dummy failure of server i: its service starts again (its groups do
// not come back: manual failback). A server without a dummy failure is left alone.
func (c *simCluster) opServerDummyStop(i int, now time.Time) *apiError {
	s := c.servers[i]
	if !s.dummyFailed {
		return nil
	}
	s.dummyFailed = false
	if s.power && !s.service {
		_ = c.bringUp([]int{i}, false, now) // no listener to open: cannot fail
	}
	return nil
}

// postMonitorDummy serves POST /api/v1/monitors/{monitor}/dummy-failure/{start,stop} with
// {"target": server}; an empty or absent target means every server.
func postMonitorDummy(w http.ResponseWriter, r *http.Request, c *simCluster) {
	name := r.PathValue("monitor")
	m := c.monByName[name]
	if m == nil {
		writeError(w, notFound("monitor", name))
		return
	}
	op := r.PathValue("op")
	if op != "start" && op != "stop" {
		writeError(w, unknownOp(r))
		return
	}
	target, e := readTarget(r, c, false)
	if e != nil {
		writeError(w, e)
		return
	}
	runOp(w, c, func(now time.Time) *apiError {
		var idx []int
		switch {
		case target >= 0 && op == "start" && !c.alive(target):
			return rejected("target server %q is offline", c.serverName(target))
		case target >= 0:
			idx = []int{target}
		default:
			for i := range c.servers {
				if op == "stop" || c.alive(i) {
					idx = append(idx, i)
				}
			}
		}
		if op == "stop" {
			for _, i := range idx {
				m.dummy[i] = false
			}
			return nil
		}
		c.dummyFailMonitor(m, idx)
		return nil
	})
}

// dummyFailMonitor puts monitor m in dummy failure on the servers idx: it reports "Error" where it
// is active. A group monitor that fails where its group is Online (and is not suspended) runs its
// recovery action once: the group fails over to the next live server of its policy, like a move.
// Monitors without a group only report the error; the simulator runs no recovery action for them.
func (c *simCluster) dummyFailMonitor(m *monitor, idx []int) {
	for _, i := range idx {
		m.dummy[i] = true
	}
	g := m.g
	if g == nil || g.orphan || g.moving || g.status != StatusOnline {
		return
	}
	on := g.current
	if !slices.Contains(idx, on) || c.suspended || m.suspended[on] {
		return
	}
	t := c.pickTarget(g, on)
	if t < 0 || t == on {
		c.sim.log.Info("monitor error: no other server can take the group", "cluster", c.cfg.Name, "monitor", m.name, "group", g.cfg.Name)
		return
	}
	c.sim.log.Info("monitor error: group failover", "cluster", c.cfg.Name, "monitor", m.name, "group", g.cfg.Name,
		"from", c.serverName(on), "to", c.serverName(t))
	c.moveGroup(g, t)
}
