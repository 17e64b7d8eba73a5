package controller

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/ecxclient"
	"github.com/cset-project/cset/fsm"
	"github.com/cset-project/cset/probe"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"github.com/cset-project/cset/witness"
	"github.com/hashicorp/go-hclog"
)

// Config holds the controller's settings: the controller section of the master's
// configuration, whose defaults and validation live in package config only (docs/design.md,
// "The controller"). The controller reads PollInterval, UnreachableAfter, FenceAfter,
// GroupRecoveryGrace, StartTimeout, StopTimeout, ECXTimeout, MaxParallelOperations, PollWorkers,
// HookTimeout and HookRetries; the lease and guard timings are the server's.
type Config = config.ControllerConfig

// State is the read side of the replicated state the controller needs (fsm.FSM satisfies it).
type State interface {
	Data() *fsm.Data
	Member(name string) *fsmv1.Member
	Watch() <-chan struct{}
}

// Committer commits a log entry through Raft on the leader and returns the FSM's result
// (server.raftApply).
type Committer interface {
	Commit(ctx context.Context, e *fsmv1.LogEntry) (*fsm.Result, error)
}

// Fence says whether this master may make a mutating ECX call now (witness.Fence).
type Fence interface {
	Check(ctx context.Context) error
}

// Witness tells how long ago the witness heard each server of a cluster; nil without a witness.
type Witness interface {
	Cluster(ctx context.Context, cluster string) (witness.ClusterSeen, error)
}

// Guards tells how long ago the leader last acknowledged a heartbeat of any guard of a member
// (`csetd guard`, docs/guard.md), by the leader's clock. A new leader has heard nothing yet: it
// returns the time since its election with heard false. Nil when the masters take no guard
// heartbeats (tests): then only the witness rule applies.
type Guards interface {
	LastHeard(member string) (since time.Duration, heard bool)
	// Unconfirmed returns the servers of member whose guards were heard but have not confirmed
	// holding group: a group is never started where a guard does not know it.
	Unconfirmed(member, group string) []string
}

// ECX is what the controller calls on one member (ecxclient.Client satisfies it).
type ECX interface {
	ListServers(ctx context.Context) ([]ecxclient.Server, error)
	ListGroups(ctx context.Context) ([]ecxclient.Group, error)
	StopGroup(ctx context.Context, group, target string) error
	StartGroupAndWait(ctx context.Context, group, target string, timeout time.Duration) (ecxclient.Group, error)
	StopGroupAndWait(ctx context.Context, group string, timeout time.Duration) (ecxclient.Group, error)
}

// ClientFactory builds the ECX client of a member from its stored configuration.
type ClientFactory func(m *fsmv1.Member, timeout time.Duration) (ECX, error)

// Deps are the controller's collaborators. Witness and Guards may be nil.
type Deps struct {
	State     State
	Committer Committer
	Fence     Fence
	Witness   Witness
	Guards    Guards
	Clients   ClientFactory
	// Prober runs the workloads' reachability probes (default probe.New()).
	Prober Prober
	// Observer receives the controller's measurements (metrics); nil ignores them.
	Observer Observer
	Logger   hclog.Logger
	// Now is the clock (default time.Now); tests may replace it.
	Now func() time.Time
}

// Controller is the leader-only loop. Create one per leadership with New and call Run.
type Controller struct {
	cfg  Config
	deps Deps
	log  hclog.Logger

	clientsMu sync.Mutex
	clients   map[string]cachedClient

	// lastReached is when the leader last got an answer from each member.
	lastReached map[string]time.Time
	started     time.Time
	brakeOn     atomic.Bool // read by operation runners too

	opsMu   sync.Mutex
	running map[string]bool   // operation ids with a live runner
	paused  map[string]string // operation id -> why it last paused
	opSlots chan struct{}
	opWG    sync.WaitGroup

	blocked map[string]string // workload -> why it cannot be placed, reported once

	// autoMoves are the failbacks this leader started, by operation id, with their start time
	// (controller.max_auto_moves_per_hour).
	autoMoves map[string]time.Time

	stopping sync.Map // "member/group" -> true while a conflict stop is in flight

	// conflicts holds, per "member/group", the failed stops of a conflicting copy: the next stop
	// waits a backoff, and the conflict event is written once per episode, not every round.
	conflictMu sync.Mutex
	conflicts  map[string]conflictRetry
}

type cachedClient struct {
	key    string
	client ECX
}

// New returns a controller. It does no I/O. cfg must be valid (config.Config.Validate).
func New(cfg Config, deps Deps) *Controller {
	if deps.Logger == nil {
		deps.Logger = hclog.NewNullLogger()
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Clients == nil {
		deps.Clients = DefaultClients
	}
	if deps.Prober == nil {
		deps.Prober = probe.New()
	}
	if deps.Observer == nil {
		deps.Observer = NopObserver{}
	}
	return &Controller{
		cfg: cfg, deps: deps, log: deps.Logger,
		clients: map[string]cachedClient{}, lastReached: map[string]time.Time{},
		running: map[string]bool{}, paused: map[string]string{}, blocked: map[string]string{}, autoMoves: map[string]time.Time{}, conflicts: map[string]conflictRetry{}, opSlots: make(chan struct{}, cfg.MaxParallelOperations),
	}
}

// BrakeOn reports whether the failover brake holds automatic failovers now.
func (c *Controller) BrakeOn() bool { return c.brakeOn.Load() }

// DefaultClients builds ecxclient clients over the package's shared keep-alive transports.
func DefaultClients(m *fsmv1.Member, timeout time.Duration) (ECX, error) {
	urls := make([]string, 0, len(m.Servers))
	for _, s := range m.Servers {
		urls = append(urls, s.Url)
	}
	// Waits poll every 100 ms at most, so an Online is seen within 100 ms of ECX reporting it.
	return ecxclient.New(ecxclient.MemberConfig{
		Name: m.Name, URLs: urls, User: m.User, Password: m.Password, CAFile: m.CaFile,
		InsecureSkipVerify: m.InsecureSkipVerify, Timeout: timeout,
	}, ecxclient.WithWaitBackoff(20*time.Millisecond, 100*time.Millisecond))
}

// Run polls, decides and acts every PollInterval until ctx is cancelled (leadership lost);
// then it cancels in-flight ECX calls and waits for the operation runners to return.
func (c *Controller) Run(ctx context.Context) {
	c.started = c.deps.Now()
	c.log.Info("controller started", "poll_interval", c.cfg.PollInterval, "witness", c.deps.Witness != nil)
	probesDone := make(chan struct{})
	go func() {
		defer close(probesDone)
		c.runProbes(ctx)
	}()
	defer func() {
		c.opWG.Wait()
		<-probesDone
		c.log.Info("controller stopped")
	}()
	t := time.NewTicker(c.cfg.PollInterval)
	defer t.Stop()
	for {
		c.round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// round is one observe-decide-act pass.
func (c *Controller) round(ctx context.Context) {
	d := c.deps.State.Data()
	obs := c.observe(ctx, d)
	if ctx.Err() != nil {
		return
	}
	if batch := c.changes(ctx, d, obs); batch != nil {
		if _, err := c.deps.Committer.Commit(ctx, &fsmv1.LogEntry{Actor: "controller", Command: &fsmv1.LogEntry_ObservationBatch{ObservationBatch: batch}}); err != nil {
			c.log.Warn("committing observations failed", "error", err)
			return
		}
		d = c.deps.State.Data()
	}
	d = c.decide(ctx, d, obs)
	c.resumeOperations(ctx, d) // with the operations decide just started: they run this round
}

// event commits events of the controller; failures are logged only.
func (c *Controller) event(ctx context.Context, evs ...*fsmv1.Event) {
	if len(evs) == 0 {
		return
	}
	_, err := c.deps.Committer.Commit(ctx, &fsmv1.LogEntry{Actor: "controller", Command: &fsmv1.LogEntry_AppendEvents{AppendEvents: &fsmv1.AppendEventsCommand{Events: evs}}})
	if err != nil {
		c.log.Warn("committing events failed", "error", err)
	}
}

func newOperationID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "op-" + hex.EncodeToString(b[:])
}

// client returns the cached ECX client of m, rebuilt when its configuration changed.
func (c *Controller) client(m *fsmv1.Member) (ECX, error) {
	key := memberKey(m)
	c.clientsMu.Lock()
	defer c.clientsMu.Unlock()
	if cc, ok := c.clients[m.Name]; ok && cc.key == key {
		return cc.client, nil
	}
	cl, err := c.deps.Clients(m, c.cfg.ECXTimeout)
	if err != nil {
		return nil, err
	}
	c.clients[m.Name] = cachedClient{key: key, client: cl}
	return cl, nil
}

func memberKey(m *fsmv1.Member) string {
	k := m.User + "\x00" + m.Password + "\x00" + m.CaFile
	if m.InsecureSkipVerify {
		k += "\x00insecure"
	}
	for _, s := range m.Servers {
		k += "\x00" + s.Name + "=" + s.Url
	}
	return k
}
