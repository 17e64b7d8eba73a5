package ecxsim

import (
	"fmt"
	"time"
)

// The fault-injection calls. Each takes effect at once; what it triggers (failover, self-fencing)
// follows on the scheduler. They return ErrNotFound (wrapped) for unknown names and ErrNotStarted
// before Start or after Close.

// withCluster runs fn under the named cluster's lock.
func (s *Sim) withCluster(name string, fn func(c *simCluster, now time.Time) error) error {
	if err := s.running(); err != nil {
		return err
	}
	c, err := s.cluster(name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return fn(c, time.Now())
}

// withServer runs fn under the lock of the named server's cluster.
func (s *Sim) withServer(cluster, server string, fn func(c *simCluster, i int, now time.Time) error) error {
	return s.withCluster(cluster, func(c *simCluster, now time.Time) error {
		srv := c.serverByName[server]
		if srv == nil {
			return fmt.Errorf("server %q of cluster %q: %w", server, cluster, ErrNotFound)
		}
		return fn(c, srv.idx, now)
	})
}

// ServerDown makes a server fail at once (power loss): its REST listener closes (connection
// refused), its groups stop existing, and its peers fail them over after the heartbeat timeout.
func (s *Sim) ServerDown(cluster, server string) error {
	return s.withServer(cluster, server, func(c *simCluster, i int, now time.Time) error {
		c.crash(i, now, "control: down")
		c.reconcile(now)
		return nil
	})
}

// ServerUp powers a server on again (ECX service included) on the same address. Groups do not move
// back to it (ECX's manual failback). If no other server of its cluster is alive this is a cluster
// start: auto-start groups start.
func (s *Sim) ServerUp(cluster, server string) error {
	return s.withServer(cluster, server, func(c *simCluster, i int, now time.Time) error {
		return c.bringUp([]int{i}, true, now)
	})
}

// ClusterDown makes every server of a cluster fail at once.
func (s *Sim) ClusterDown(cluster string) error {
	return s.withCluster(cluster, func(c *simCluster, now time.Time) error {
		for i := range c.servers {
			c.crash(i, now, "control: cluster down")
		}
		c.reconcile(now)
		return nil
	})
}

// ClusterUp powers every server of a cluster on; auto-start groups start.
func (s *Sim) ClusterUp(cluster string) error {
	return s.withCluster(cluster, func(c *simCluster, now time.Time) error {
		all := make([]int, len(c.servers))
		for i := range all {
			all[i] = i
		}
		return c.bringUp(all, true, now)
	})
}

// Isolate makes the cluster's REST endpoints silent, like a partition between the cluster and its
// clients: requests are accepted but never answered until Heal. The servers keep running their
// groups and heartbeating the witness; their guards cannot reach the masters.
func (s *Sim) Isolate(cluster string) error { return s.isolate(cluster, false) }

// IsolateOneWay is Isolate in one direction: the masters cannot reach the cluster's REST
// endpoints, but the servers' guards still reach the masters. Heal ends it.
func (s *Sim) IsolateOneWay(cluster string) error { return s.isolate(cluster, true) }

func (s *Sim) isolate(cluster string, oneWay bool) error {
	return s.withCluster(cluster, func(c *simCluster, now time.Time) error {
		if !c.isolated {
			c.isolated = true
			c.healCh = make(chan struct{})
		}
		c.oneWay = oneWay
		return nil
	})
}

// CutGuards cuts the cluster's guards off the masters only: the masters still reach the REST API
// and the witness still hears the servers. HealGuards ends it.
func (s *Sim) CutGuards(cluster string) error { return s.setGuardsCut(cluster, true) }

// HealGuards ends CutGuards.
func (s *Sim) HealGuards(cluster string) error { return s.setGuardsCut(cluster, false) }

func (s *Sim) setGuardsCut(cluster string, cut bool) error {
	return s.withCluster(cluster, func(c *simCluster, now time.Time) error {
		c.guardsCut = cut
		return nil
	})
}

// Heal ends Isolate; requests held meanwhile are delivered, but for those whose client reset
// its connection (heldRequest).
func (s *Sim) Heal(cluster string) error {
	return s.withCluster(cluster, func(c *simCluster, now time.Time) error {
		if c.isolated {
			c.isolated, c.oneWay = false, false
			close(c.healCh)
		}
		return nil
	})
}

// SetLatency delays every REST response of the cluster by d (0 removes the delay).
func (s *Sim) SetLatency(cluster string, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("latency must not be negative, got %s", d)
	}
	return s.withCluster(cluster, func(c *simCluster, now time.Time) error {
		c.latency = d
		return nil
	})
}

// SetErrorRate makes a fraction r (0 to 1) of the cluster's REST requests fail with the envelope
// code CodeInternal: HTTP 500, or HTTP 200 when the cluster's error style is ErrorStyleEnvelope.
func (s *Sim) SetErrorRate(cluster string, r float64) error {
	if !(r >= 0 && r <= 1) {
		return fmt.Errorf("error rate must be between 0 and 1, got %v", r)
	}
	return s.withCluster(cluster, func(c *simCluster, now time.Time) error {
		c.errorRate = r
		return nil
	})
}

// SetErrorStyle sets how the cluster answers failures: ErrorStyleHTTP ("" too) or
// ErrorStyleEnvelope (see ErrorStyleEnvelope). It applies to the requests answered from now on.
func (s *Sim) SetErrorStyle(cluster, style string) error {
	if !ValidErrorStyle(style) {
		return fmt.Errorf("error style %q is unknown: use %q or %q", style, ErrorStyleHTTP, ErrorStyleEnvelope)
	}
	return s.withCluster(cluster, func(c *simCluster, now time.Time) error {
		c.cfg.ErrorStyle = style
		return nil
	})
}

// SetFailStart makes every later start of a group end in "Online Failure" (on) or "Online" (off).
func (s *Sim) SetFailStart(cluster, group string, on bool) error {
	return s.withCluster(cluster, func(c *simCluster, now time.Time) error {
		g := c.groupByName[group]
		if g == nil {
			return fmt.Errorf("group %q of cluster %q: %w", group, cluster, ErrNotFound)
		}
		g.failStart = on
		return nil
	})
}

// SetFailStop makes every later stop of a group end in "Offline Failure" (on) or "Offline" (off).
// A group in "Offline Failure" stays on its server and counts as running there; a move or
// failover whose stop failed does not start it elsewhere. Another stop is tried afresh.
func (s *Sim) SetFailStop(cluster, group string, on bool) error {
	return s.withCluster(cluster, func(c *simCluster, now time.Time) error {
		g := c.groupByName[group]
		if g == nil {
			return fmt.Errorf("group %q of cluster %q: %w", group, cluster, ErrNotFound)
		}
		g.failStop = on
		return nil
	})
}

// SetServerStatusUnknown makes the cluster unable (on) or able again (off) to read the state of a
// server: the REST API reports the server, the groups it runs (their current stays the server)
// and their resources "Unknown", and the server's monitor entries "Unknown", until the server is
// declared down. What really runs and fails over does not change.
func (s *Sim) SetServerStatusUnknown(cluster, server string, on bool) error {
	return s.withServer(cluster, server, func(c *simCluster, i int, now time.Time) error {
		c.servers[i].unknown = on
		return nil
	})
}

// CutWitness cuts every server of the cluster off the witness: heartbeats stop.
func (s *Sim) CutWitness(cluster string) error { return s.setWitnessCut(cluster, "", true) }

// HealWitness ends CutWitness and any per-server witness cut in the cluster.
func (s *Sim) HealWitness(cluster string) error { return s.setWitnessCut(cluster, "", false) }

// CutServerWitness cuts one server off the witness.
func (s *Sim) CutServerWitness(cluster, server string) error {
	return s.setWitnessCut(cluster, server, true)
}

// HealServerWitness ends CutServerWitness.
func (s *Sim) HealServerWitness(cluster, server string) error {
	return s.setWitnessCut(cluster, server, false)
}

// CutInterconnect cuts the network between the servers of the cluster: no server hears a peer
// directly. Servers that both reach the witness still hear each other through it.
func (s *Sim) CutInterconnect(cluster string) error { return s.setPeerCut(cluster, "", true) }

// HealInterconnect ends CutInterconnect and any per-server interconnect cut in the cluster.
func (s *Sim) HealInterconnect(cluster string) error { return s.setPeerCut(cluster, "", false) }

// CutServerInterconnect cuts one server off its peers.
func (s *Sim) CutServerInterconnect(cluster, server string) error {
	return s.setPeerCut(cluster, server, true)
}

// HealServerInterconnect ends CutServerInterconnect.
func (s *Sim) HealServerInterconnect(cluster, server string) error {
	return s.setPeerCut(cluster, server, false)
}

func (s *Sim) setWitnessCut(cluster, server string, cut bool) error {
	return s.forServers(cluster, server, func(c *simCluster, srv *simServer) { srv.witnessCut = cut })
}

func (s *Sim) setPeerCut(cluster, server string, cut bool) error {
	return s.forServers(cluster, server, func(c *simCluster, srv *simServer) { srv.peerCut = cut })
}

// forServers applies fn to the named server, or to every server of the cluster when server is "",
// then re-evaluates the failure detector.
func (s *Sim) forServers(cluster, server string, fn func(*simCluster, *simServer)) error {
	return s.withCluster(cluster, func(c *simCluster, now time.Time) error {
		if server == "" {
			for _, srv := range c.servers {
				fn(c, srv)
			}
		} else {
			srv := c.serverByName[server]
			if srv == nil {
				return fmt.Errorf("server %q of cluster %q: %w", server, cluster, ErrNotFound)
			}
			fn(c, srv)
		}
		c.reconcile(now)
		return nil
	})
}

// StateSnapshot is the whole simulator state (GET /sim/v1/state).
type StateSnapshot struct {
	ControlURL string         `json:"control_url"`
	Clusters   []ClusterState `json:"clusters"`
}

// ClusterState is one cluster in a StateSnapshot.
type ClusterState struct {
	Name      string `json:"name"`
	Status    string `json:"status"`
	Suspended bool   `json:"suspended"`
	Isolated  bool   `json:"isolated"`
	// HeldRequests are REST requests isolation holds now; LateRequests were delivered at a heal
	// (their client may have given up on them long before), DroppedRequests never were (their
	// client reset the connection).
	HeldRequests    int64         `json:"held_requests"`
	LateRequests    int64         `json:"late_requests"`
	DroppedRequests int64         `json:"dropped_requests"`
	LatencyMS       int64         `json:"latency_ms"`
	ErrorRate       float64       `json:"error_rate"`
	ErrorStyle      string        `json:"error_style,omitempty"` // "" is ErrorStyleHTTP
	TimeoutRatio    int           `json:"toratio"`
	Servers         []ServerState `json:"servers"`
	Groups          []GroupState  `json:"groups"`
}

// ServerState is one server in a StateSnapshot. Status is what the REST API reports (a dead server
// stays "Online" until its peers declare it down); PoweredOn and ServiceRunning are the truth.
type ServerState struct {
	Name            string     `json:"name"`
	URL             string     `json:"url"`
	Status          string     `json:"status"`
	PoweredOn       bool       `json:"powered_on"`
	ServiceRunning  bool       `json:"service_running"`
	WitnessCut      bool       `json:"witness_cut"`
	InterconnectCut bool       `json:"interconnect_cut"`
	LastHeartbeat   *time.Time `json:"last_heartbeat"`
	StatusUnknown   bool       `json:"status_unknown"` // SetServerStatusUnknown
	DummyFailure    bool       `json:"dummy_failure"`  // servers/{s}/dummy-failure/start
}

// GroupState is one group in a StateSnapshot. Status and Current are what the REST API reports;
// RunningOn is the server that really runs it ("" when none): they differ while the failure of the
// group's server is not yet detected.
type GroupState struct {
	Name      string   `json:"name"`
	Status    string   `json:"status"`
	Current   string   `json:"current"`
	RunningOn string   `json:"running_on"`
	Servers   []string `json:"servers"`
	AutoStart bool     `json:"auto_start"`
	FailStart bool     `json:"fail_start"`
	FailStop  bool     `json:"fail_stop"`
	// Service is the group's service (GroupConfig.Serve), absent without serve addresses.
	Service *ServiceState `json:"service,omitempty"`
}

// State returns a snapshot of every cluster, server and group.
func (s *Sim) State() StateSnapshot {
	out := StateSnapshot{ControlURL: s.ControlURL(), Clusters: make([]ClusterState, 0, len(s.clusters))}
	for _, c := range s.clusters {
		c.mu.Lock()
		cs := ClusterState{
			Name:         c.cfg.Name,
			Status:       c.clusterStatus(),
			Suspended:    c.suspended,
			Isolated:     c.isolated,
			HeldRequests: c.held, LateRequests: c.late, DroppedRequests: c.dropped,
			LatencyMS:    c.latency.Milliseconds(),
			ErrorRate:    c.errorRate,
			ErrorStyle:   c.cfg.ErrorStyle,
			TimeoutRatio: c.toratio,
		}
		for i, srv := range c.servers {
			ss := ServerState{
				Name: srv.name, URL: srv.url(), Status: c.serverStatus(i),
				PoweredOn: srv.power, ServiceRunning: srv.service,
				WitnessCut: srv.witnessCut, InterconnectCut: srv.peerCut,
				StatusUnknown: srv.unknown, DummyFailure: srv.dummyFailed,
			}
			if !srv.lastHeartbeat.IsZero() {
				t := srv.lastHeartbeat
				ss.LastHeartbeat = &t
			}
			cs.Servers = append(cs.Servers, ss)
		}
		for _, g := range c.groups {
			status, current := c.groupStatus(g)
			gs := GroupState{
				Name: g.cfg.Name, Status: status, Current: current,
				Servers: append([]string(nil), g.cfg.Servers...), AutoStart: g.cfg.AutoStart, FailStart: g.failStart, FailStop: g.failStop,
				Service: g.svc.state(),
			}
			if on := g.runningOn(); on >= 0 {
				gs.RunningOn = c.servers[on].name
			}
			cs.Groups = append(cs.Groups, gs)
		}
		c.mu.Unlock()
		out.Clusters = append(out.Clusters, cs)
	}
	return out
}
