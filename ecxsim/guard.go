package ecxsim

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/cset-project/cset/guard"
)

// Every simulated server runs the member guard of package guard, the code of `csetd guard`: it is
// the one heartbeat path of the simulator. Its witness heartbeats are the ones ECX's own partition
// resolution relies on (they refresh witnessOK); with ClusterConfig.Guard it also heartbeats the
// masters and stops the cset groups of its server through the simulator's model, which is the
// local ECX API of a simulated server. Cuts apply as on a real network: Isolate cuts the guards of
// the cluster off the masters, CutWitness off the witness, and a server that is off runs no guard.

// Errors the simulated links answer with while cut.
var (
	errWitnessCut = errors.New("the server is cut off the witness")
	errIsolated   = errors.New("the cluster is isolated from the masters")
	errPoweredOff = errors.New("the server is powered off")
)

// simGuard is the guard of one simulated server.
type simGuard struct {
	c       *simCluster
	s       *simServer
	g       *guard.Guard
	masters *guard.MastersClient // nil without ClusterConfig.Guard: the guard then never enforces
	// enforcing is true while an enforcement pass runs, so ticks do not pile them up.
	enforcing atomic.Bool
}

// newGuards builds the guard of every server of every cluster that has a witness or a Guard
// configuration. Called by Start before the first heartbeat tick.
func (s *Sim) newGuards() error {
	s.guards = map[*simServer]*simGuard{}
	for _, c := range s.clusters {
		if !c.cfg.hasWitness() && c.cfg.Guard == nil {
			continue
		}
		for _, srv := range c.servers {
			sg, err := s.newGuard(c, srv)
			if err != nil {
				return fmt.Errorf("cluster %q server %q: guard: %w", c.cfg.Name, srv.name, err)
			}
			s.guards[srv] = sg
		}
	}
	return nil
}

func (s *Sim) newGuard(c *simCluster, srv *simServer) (*simGuard, error) {
	sg := &simGuard{c: c, s: srv}
	cfg := guard.Config{
		Cluster: c.cfg.Name, Server: srv.name, Interval: c.cfg.HeartbeatInterval,
		// Without masters the guard only carries the witness heartbeats and never enforces; its
		// timeout must merely be valid.
		Timeout: max(c.cfg.HeartbeatTimeout, 2*c.cfg.HeartbeatInterval),
	}
	deps := guard.Deps{Local: simLocal{c: c, s: srv}, Logger: s.log.Named("guard").With("cluster", c.cfg.Name, "server", srv.name)}
	if c.cfg.hasWitness() {
		deps.Witness = simWitness{h: s.hb, c: c, s: srv}
	}
	if gc := c.cfg.Guard; gc != nil {
		m, err := guard.NewMastersClient(guard.MastersConfig{Addrs: gc.Masters, Token: gc.Token})
		if err != nil {
			return nil, err
		}
		sg.masters = m
		deps.Masters = simMasters{c: c, s: srv, m: m}
		cfg.Timeout, cfg.StopTimeout = gc.Timeout, gc.StopTimeout
	}
	cfg.CallTimeout = min(hbTimeout, cfg.Timeout)
	g, err := guard.New(cfg, deps)
	if err != nil {
		if sg.masters != nil {
			sg.masters.Close()
		}
		return nil, err
	}
	sg.g = g
	return sg, nil
}

// closeGuards releases the guards' connections to the masters; after the heartbeater stopped.
func (s *Sim) closeGuards() {
	for _, sg := range s.guards {
		if sg.masters != nil {
			sg.masters.Close()
		}
	}
}

// guardTick runs one guard round of c, called under the cluster lock every heartbeat interval:
// every live server's guard heartbeats (on the heartbeater's workers), and a guard whose timeout
// has passed enforces the member rule.
func (s *Sim) guardTick(c *simCluster, now time.Time) {
	for i, srv := range c.servers {
		sg := s.guards[srv]
		if sg == nil || !c.alive(i) {
			continue
		}
		s.hb.send(hbJob{c: c, s: srv, seq: srv.seq})
		if sg.masters != nil && sg.g.Expired(now) && sg.enforcing.CompareAndSwap(false, true) {
			s.hb.wg.Add(1)
			go func() {
				defer s.hb.wg.Done()
				defer sg.enforcing.Store(false)
				if _, err := sg.g.Enforce(s.hb.ctx); err != nil && s.hb.ctx.Err() == nil {
					s.log.Warn("guard could not enforce the member rule", "cluster", c.cfg.Name, "server", srv.name, "error", err)
				}
			}()
		}
	}
}

// GuardStatus returns the view of the guard of a server: when the witness and the masters last
// acknowledged it, the groups it protects and whether it keeps them stopped now. ErrNotFound for
// an unknown server or one that runs no guard (no witness and no guard configuration).
func (s *Sim) GuardStatus(cluster, server string) (guard.Status, error) {
	c, err := s.cluster(cluster)
	if err != nil {
		return guard.Status{}, err
	}
	srv := c.serverByName[server]
	if srv == nil || s.guards[srv] == nil {
		return guard.Status{}, fmt.Errorf("guard of server %q of cluster %q: %w", server, cluster, ErrNotFound)
	}
	return s.guards[srv].g.Status(), nil
}

// simLocal is the local ECX API of a simulated server, as its guard sees it.
type simLocal struct {
	c *simCluster
	s *simServer
}

func (l simLocal) Groups(context.Context) ([]guard.Group, error) {
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	if !l.c.alive(l.s.idx) {
		return nil, errPoweredOff
	}
	out := make([]guard.Group, 0, len(l.c.groups))
	for _, g := range l.c.groups {
		status, current := l.c.groupStatus(g)
		out = append(out, guard.Group{Name: g.cfg.Name, Status: status, Current: current})
	}
	return out, nil
}

// StopGroup stops a group running on this server, as POST /api/v1/groups/{g}/stop with the
// server as target does.
func (l simLocal) StopGroup(_ context.Context, name string) error {
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	g := l.c.groupByName[name]
	switch {
	case !l.c.alive(l.s.idx):
		return errPoweredOff
	case g == nil:
		return fmt.Errorf("group %q: %w", name, ErrNotFound)
	case l.c.suspended:
		return fmt.Errorf("cluster %q is suspended", l.c.cfg.Name)
	case g.orphan:
		return fmt.Errorf("server %q running group %q does not respond", l.c.serverName(g.current), name)
	case g.runningOn() != l.s.idx:
		return fmt.Errorf("group %q is not online on server %q", name, l.s.name)
	case g.status == StatusOfflinePending:
		return nil
	}
	l.c.stopGroup(g, nil)
	return nil
}

// simWitness sends a guard's witness heartbeats; a success also tells the simulated ECX server
// that the witness is reachable (its partition resolution).
type simWitness struct {
	h *heartbeater
	c *simCluster
	s *simServer
}

func (w simWitness) Heartbeat(ctx context.Context, cluster, server string) error {
	w.c.mu.Lock()
	seq, cut, power := w.s.seq, w.s.witnessCut, w.s.power
	w.c.mu.Unlock()
	switch {
	case !power:
		return errPoweredOff
	case cut:
		return errWitnessCut
	}
	if err := w.h.post(ctx, w.c, cluster, server); err != nil {
		return err
	}
	now := time.Now()
	w.c.mu.Lock()
	if w.s.seq == seq && w.s.power && !w.s.witnessCut {
		w.s.witnessOK = now
		w.s.lastHeartbeat = now
	}
	w.c.mu.Unlock()
	return nil
}

// simMasters sends a guard's heartbeats to the masters unless the cluster is isolated from them.
type simMasters struct {
	c *simCluster
	s *simServer
	m *guard.MastersClient
}

func (m simMasters) Heartbeat(ctx context.Context, cluster, server string, known []string) ([]string, error) {
	m.c.mu.Lock()
	isolated, power := m.c.isolated && !m.c.oneWay || m.c.guardsCut, m.s.power
	m.c.mu.Unlock()
	switch {
	case !power:
		return nil, errPoweredOff
	case isolated:
		return nil, errIsolated
	}
	return m.m.Heartbeat(ctx, cluster, server, known)
}
