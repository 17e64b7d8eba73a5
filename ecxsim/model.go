package ecxsim

import (
	"net/http"
	"sync"
	"time"
)

// Status strings, spelled exactly as ECX does (docs/ecx.md).
const (
	StatusOnline         = "Online"
	StatusOffline        = "Offline"
	StatusOnlinePending  = "Online Pending"
	StatusOfflinePending = "Offline Pending"
	StatusOnlineFailure  = "Online Failure"
	StatusOfflineFailure = "Offline Failure"
	StatusNormal         = "Normal"
	StatusCaution        = "Caution"
	StatusSuspend        = "Suspend"
	StatusError          = "Error"
	StatusUnknown        = "Unknown"
	StatusUnused         = "Unused"
)

// NoServer is the "current" of a group or resource that runs nowhere (docs/ecx.md).
const NoServer = "None"

// simCluster is the state of one simulated ECX cluster. Every field below mu is guarded by mu; the
// configuration and the name maps are immutable after New.
type simCluster struct {
	sim          *Sim
	cfg          ClusterConfig
	servers      []*simServer
	serverByName map[string]*simServer
	groups       []*group
	groupByName  map[string]*group
	resByName    map[string]*resource
	resources    []*resource
	monitors     []*monitor
	monByName    map[string]*monitor

	mu sync.Mutex
	// member[i][j]: server i believes server j is up. lostSince[i][j]: since when i has not heard j
	// while still believing it up (zero when it hears j).
	member    [][]bool
	lostSince [][]time.Time
	// checkAt is the instant of the pending failure-detection check, zero when none is pending.
	checkAt time.Time

	isolated bool
	oneWay   bool // with isolated: the servers' guards still reach the masters (IsolateOneWay)
	// guardsCut: the servers' guards cannot reach the masters, everything else flows (CutGuards).
	guardsCut bool
	healCh    chan struct{} // closed by Heal; REST requests held by isolation wait on it
	// held counts the REST requests isolation holds now; late those delivered at a heal, dropped
	// those whose client reset its connection meanwhile (heldRequest).
	held, late, dropped int64
	latency             time.Duration
	errorRate           float64
	suspended           bool
	toratio             int
	ratioSeq            uint64
	opSeq               uint64 // cluster-wide orderly operations (stop, reboot, shutdown)
	// mirrors are the backup and restore actions of the mirrors/* endpoints (mirrors.go).
	mirrors [2]mirrorJob
}

// simServer is one simulated ECX server: a machine (power) running the ECX service (service) and the
// REST API on its own listener while powered on.
type simServer struct {
	c    *simCluster
	idx  int
	name string

	// Guarded by c.mu.
	addr       string // bound REST address, fixed after the first bind
	httpSrv    *http.Server
	power      bool
	service    bool
	stopping   bool   // an orderly stop of the service is in progress
	seq        uint64 // bumped on every power or service change; stale events compare it
	peerCut    bool   // the server's interconnect is cut: it hears no peer directly
	witnessCut bool
	// witnessOK is the last instant the witness was known reachable (last successful heartbeat,
	// or power-on as a grace start); lastHeartbeat is the last successful heartbeat only.
	witnessOK     time.Time
	lastHeartbeat time.Time
	// unknown: the cluster cannot read the server's state (SetServerStatusUnknown); it and the
	// groups it runs are reported "Unknown". dummyFailed: servers/{s}/dummy-failure/start took
	// its service down until dummy-failure/stop.
	unknown     bool
	dummyFailed bool
}

// group is one failover group. current is the index of its server, -1 for none. An orphan group ran
// on a server that died: it runs nowhere, but the cluster keeps reporting its last status and
// server until the failure is detected (heartbeat timeout) and the group fails over.
type group struct {
	cfg       GroupConfig
	priority  []int
	resources []*resource

	// Guarded by c.mu.
	status    string
	current   int
	orphan    bool
	failStart bool
	failStop  bool   // stops end in "Offline Failure" (SetFailStop)
	seq       uint64 // bumped by every transition; scheduled completions compare it
	auditIdx  int    // index of the open audit record, -1 when none
	// moving: the pending stop is the first half of a move or failover (the group starts on
	// moveTo, or on the next server of its policy when moveTo is -1, once it is Offline).
	moving bool
	moveTo int
	// svc is the group's service (GroupConfig.Serve), nil without serve addresses.
	svc *service
}

// runningOn returns the server that really runs (or starts, stops, or failed to start) the group,
// or -1.
func (g *group) runningOn() int {
	if g.orphan || g.status == StatusOffline {
		return -1
	}
	return g.current
}

// canRunOn reports whether server i is in the group's failover policy.
func (g *group) canRunOn(i int) bool {
	for _, p := range g.priority {
		if p == i {
			return true
		}
	}
	return false
}

type resState int

const (
	resFollow     resState = iota // the resource has the status of its group
	resOffPending                 // stopped alone: stopping
	resOff                        // stopped alone while its group stays online
	resOnPending                  // started alone again: starting
)

// resource is one group resource (fip, exec, md...; see names.go). Its status follows its group
// unless it was stopped or started alone with resources/{r}/stop|start.
type resource struct {
	name  string
	typ   string
	g     *group
	state resState // guarded by c.mu
	seq   uint64   // guarded by c.mu
}

// monitor is one monitor resource. A monitor with a group (timing active) is active only on the
// server where the group is online (like fipw); one without a group (timing always) runs on every
// server (like userw, mdw).
type monitor struct {
	name      string
	typ       string
	g         *group
	suspended []bool // per server, guarded by c.mu
	dummy     []bool // per server: a dummy failure is on (dummy-failure/start), guarded by c.mu
}

func newCluster(sim *Sim, cfg ClusterConfig) *simCluster {
	c := &simCluster{
		sim:          sim,
		cfg:          cfg,
		serverByName: map[string]*simServer{},
		groupByName:  map[string]*group{},
		resByName:    map[string]*resource{},
		monByName:    map[string]*monitor{},
		toratio:      1,
	}
	n := len(cfg.Servers)
	c.member = make([][]bool, n)
	c.lostSince = make([][]time.Time, n)
	for i, sc := range cfg.Servers {
		s := &simServer{c: c, idx: i, name: sc.Name}
		c.servers = append(c.servers, s)
		c.serverByName[sc.Name] = s
		c.member[i] = make([]bool, n)
		c.lostSince[i] = make([]time.Time, n)
	}
	for _, mc := range clusterMonitors {
		c.addMonitor(&monitor{name: mc.Name, typ: mc.Type})
	}
	for _, gc := range cfg.Groups {
		g := &group{cfg: gc, status: StatusOffline, current: -1, failStart: gc.FailStart, auditIdx: -1}
		if len(gc.Serve) > 0 {
			g.svc = newService(c, g)
		}
		for _, name := range gc.Servers {
			g.priority = append(g.priority, c.serverByName[name].idx)
		}
		c.addGroupObjects(g)
		c.groups = append(c.groups, g)
		c.groupByName[gc.Name] = g
	}
	return c
}

func (c *simCluster) addMonitor(m *monitor) {
	m.suspended = make([]bool, len(c.servers))
	m.dummy = make([]bool, len(c.servers))
	c.monitors = append(c.monitors, m)
	c.monByName[m.name] = m
}

// alive reports whether server i runs the ECX service.
func (c *simCluster) alive(i int) bool { return c.servers[i].power && c.servers[i].service }

// usable reports whether server i can take a group now.
func (c *simCluster) usable(i int) bool { return c.alive(i) && !c.servers[i].stopping }

func (c *simCluster) aliveCount() int {
	n := 0
	for i := range c.servers {
		if c.alive(i) {
			n++
		}
	}
	return n
}

// timeout is the heartbeat timeout stretched by the timeout ratio.
func (c *simCluster) timeout() time.Duration {
	return c.cfg.HeartbeatTimeout * time.Duration(c.toratio)
}

// witnessOK reports whether server i can reach the witness now: a witness is configured, the link
// is not cut and a heartbeat succeeded within the heartbeat timeout.
func (c *simCluster) witnessOK(i int, now time.Time) bool {
	s := c.servers[i]
	return c.cfg.hasWitness() && s.power && !s.witnessCut && now.Sub(s.witnessOK) < c.timeout()
}

// serverStatus is the status of server i as the cluster reports it: a dead server stays "Online"
// until a live peer has declared it down, and a server whose state the cluster cannot read
// (SetServerStatusUnknown) is "Unknown" until it is declared down.
func (c *simCluster) serverStatus(i int) string {
	if !c.alive(i) && !c.believedUp(i) {
		return StatusOffline
	}
	if c.servers[i].unknown {
		return StatusUnknown
	}
	return StatusOnline
}

// believedUp reports whether a live peer still believes server i up.
func (c *simCluster) believedUp(i int) bool {
	for j := range c.servers {
		if j != i && c.alive(j) && c.member[j][i] {
			return true
		}
	}
	return false
}

func (c *simCluster) clusterStatus() string {
	if c.aliveCount() > 0 {
		return StatusOnline
	}
	return StatusOffline
}

func (c *simCluster) serverName(i int) string {
	if i < 0 {
		return NoServer
	}
	return c.servers[i].name
}

// groupStatus returns the reported status and current server of g. A group on a server whose
// state cannot be read is "Unknown" there.
func (c *simCluster) groupStatus(g *group) (status, current string) {
	if g.status == StatusOffline {
		return StatusOffline, NoServer
	}
	if c.servers[g.current].unknown && c.serverStatus(g.current) == StatusUnknown {
		return StatusUnknown, c.serverName(g.current)
	}
	return g.status, c.serverName(g.current)
}

func (c *simCluster) resourceStatus(r *resource) (status, current string) {
	status, current = c.groupStatus(r.g)
	if status != StatusOnline {
		return status, current
	}
	switch r.state {
	case resOffPending:
		return StatusOfflinePending, current
	case resOff:
		return StatusOffline, NoServer
	case resOnPending:
		return StatusOnlinePending, current
	}
	return status, current
}

// monitorStatus returns the overall and per-server status of m. Per server: "Unused" outside
// the failover policy of the monitor's group, "Offline" where the server is down (at once, the
// truth: unlike servers and groups it does not wait for the heartbeat timeout) or the monitor is
// not active (a group monitor where its group is not Online), "Unknown" on a server whose state
// cannot be read, "Suspend" while suspended, "Error" under a dummy failure, else "Normal". The
// overall status is the one kind the active servers share, "Caution" when they differ, and
// "Offline" when it is active nowhere.
func (c *simCluster) monitorStatus(m *monitor) (string, []string) {
	per := make([]string, len(c.servers))
	kinds := map[string]bool{}
	for i := range c.servers {
		switch {
		case m.g != nil && !m.g.canRunOn(i):
			per[i] = StatusUnused
			continue
		case !c.alive(i):
			per[i] = StatusOffline
			continue
		case c.servers[i].unknown && c.serverStatus(i) == StatusUnknown:
			per[i] = StatusUnknown
		case m.g != nil && (m.g.runningOn() != i || m.g.status != StatusOnline):
			per[i] = StatusOffline
			continue
		case c.suspended || m.suspended[i]:
			per[i] = StatusSuspend
		case m.dummy[i]:
			per[i] = StatusError
		default:
			per[i] = StatusNormal
		}
		kinds[per[i]] = true
	}
	switch len(kinds) {
	case 0:
		return StatusOffline, per
	case 1:
		for k := range kinds {
			return k, per
		}
	}
	return StatusCaution, per
}
