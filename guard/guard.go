package guard

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// ECX group status strings the guard compares with (docs/ecx.md; exact spelling).
const (
	StatusOffline        = "Offline"
	StatusOfflinePending = "Offline Pending"
)

// Defaults applied by New when a Config field is zero.
const (
	DefaultTimeout     = 5 * time.Second
	DefaultStopTimeout = 5 * time.Second
)

// Group is one ECX failover group as the local ECX REST API reports it.
type Group struct {
	Name string
	// Status is ECX's status string ("Online", "Offline Pending", ...).
	Status string
	// Current is the server the group is active on; "" or "None" when it runs nowhere.
	Current string
}

// Local is the local ECX REST API of the guard's server (ecxclient in `csetd guard`, the
// simulator's model in ecxsim).
type Local interface {
	// Groups lists every group of the cluster with its status and current server.
	Groups(ctx context.Context) ([]Group, error)
	// StopGroup asks ECX to stop group; it returns when the request is accepted, not when the
	// group is Offline.
	StopGroup(ctx context.Context, group string) error
}

// Witness sends one heartbeat of server of cluster to the witness (POST /v1/heartbeat); a nil
// error means the witness acknowledged it.
type Witness interface {
	Heartbeat(ctx context.Context, cluster, server string) error
}

// Masters sends one guard heartbeat to the masters (the GuardHeartbeat RPC). A nil error means
// the leader acknowledged it; groups are then the ECX groups cset manages on cluster. known are
// the groups the guard holds when it sends: the leader starts a group on the cluster only once
// the guards it hears there confirmed it, so a guard never misses a group started on its server.
type Masters interface {
	Heartbeat(ctx context.Context, cluster, server string, known []string) (groups []string, err error)
}

// Clock is the guard's time source.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// Config configures a Guard. Cluster, Server and Timeout are required (Timeout has a default).
type Config struct {
	// Cluster and Server name the ECX cluster (the cset member) and the server the guard runs on,
	// exactly as ECX and the masters name them.
	Cluster string
	Server  string
	// Timeout is guard_timeout: with no heartbeat acknowledged for this long (from its send
	// time), the guard stops the cset groups on its server. Default DefaultTimeout.
	Timeout time.Duration
	// Interval is the heartbeat period (default Timeout/5). It must be shorter than Timeout.
	Interval time.Duration
	// CallTimeout bounds each heartbeat and each local ECX call (default Interval).
	CallTimeout time.Duration
	// StopTimeout is how long ECX is expected to take to stop a group (guard_stop_timeout); a
	// group still not Offline after it is reported loudly, as the masters' fence_after assumes it.
	StopTimeout time.Duration
	// StateFile keeps the managed groups and the last acknowledged send time across restarts
	// (written atomically, mode 0600). Empty keeps them in memory only.
	StateFile string
}

func (c Config) withDefaults() Config {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Interval == 0 {
		c.Interval = c.Timeout / 5
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = c.Interval
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = DefaultStopTimeout
	}
	return c
}

// Validate reports every problem of a configuration (after defaults).
func (c Config) Validate() error {
	var errs []error
	if c.Cluster == "" {
		errs = append(errs, errors.New("guard: the cluster name is empty"))
	}
	if c.Server == "" {
		errs = append(errs, errors.New("guard: the server name is empty"))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("guard: timeout %v must be positive", c.Timeout))
	}
	if c.Interval <= 0 || c.Interval >= c.Timeout {
		errs = append(errs, fmt.Errorf("guard: heartbeat interval %v must be positive and shorter than the guard timeout %v", c.Interval, c.Timeout))
	}
	if c.CallTimeout <= 0 || c.CallTimeout > c.Timeout {
		errs = append(errs, fmt.Errorf("guard: call timeout %v must be positive and at most the guard timeout %v", c.CallTimeout, c.Timeout))
	}
	if c.StopTimeout < 0 {
		errs = append(errs, fmt.Errorf("guard: stop timeout %v must not be negative", c.StopTimeout))
	}
	return errors.Join(errs...)
}

// Deps are the guard's collaborators. Local is required; Witness or Masters may be nil (not
// configured), but a guard with neither would stop its groups forever, so New refuses it.
type Deps struct {
	Local   Local
	Witness Witness
	Masters Masters
	// Clock defaults to the system clock.
	Clock  Clock
	Logger hclog.Logger
}

// Guard enforces the member rule for one ECX server. It is safe for concurrent use: Beat and
// Enforce may run at the same time (Run does so).
type Guard struct {
	cfg   Config
	deps  Deps
	clock Clock
	log   hclog.Logger

	mu sync.Mutex
	// lastAck is the send time of the last heartbeat acknowledged by the witness or the masters.
	lastAck        time.Time
	lastWitnessAck time.Time
	lastMastersAck time.Time
	managed        []string // sorted
	enforcing      bool
	stopAsked      map[string]time.Time // group -> when the guard first asked ECX to stop it
	overdue        map[string]bool      // groups reported as not stopped within StopTimeout
	persisted      persistedState
	lastErr        map[string]string // source -> last error logged, to log changes only
}

// New checks cfg and deps and loads the state file if there is one.
func New(cfg Config, deps Deps) (*Guard, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Local == nil {
		return nil, errors.New("guard: no local ECX API")
	}
	if deps.Witness == nil && deps.Masters == nil {
		return nil, errors.New("guard: neither a witness nor masters to heartbeat: the guard would stop its groups for good")
	}
	g := &Guard{cfg: cfg, deps: deps, clock: deps.Clock, log: deps.Logger,
		stopAsked: map[string]time.Time{}, overdue: map[string]bool{}, lastErr: map[string]string{}}
	if g.clock == nil {
		g.clock = realClock{}
	}
	if g.log == nil {
		g.log = hclog.NewNullLogger()
	}
	if cfg.StateFile != "" {
		st, err := loadState(cfg.StateFile)
		if err != nil {
			return nil, err
		}
		if st.Cluster != "" && (st.Cluster != cfg.Cluster || st.Server != cfg.Server) {
			return nil, fmt.Errorf("guard: state file %s belongs to %s/%s, not %s/%s: give each guard its own state file", cfg.StateFile, st.Cluster, st.Server, cfg.Cluster, cfg.Server)
		}
		g.persisted = st
		g.managed = slices.Clone(st.Groups)
		g.lastAck = st.LastAckSent
		if now := g.clock.Now(); g.lastAck.After(now) {
			// The clock went back while the guard was down: the recorded time cannot be trusted,
			// so the guard counts as expired until it is acknowledged again.
			g.log.Warn("the state file's last acknowledgement is in the future: the clock went back; the guard timeout counts as passed",
				"last_ack_sent", g.lastAck, "now", now)
			g.lastAck = now.Add(-cfg.Timeout)
		}
	}
	return g, nil
}

// Config returns the configuration in force (with defaults).
func (g *Guard) Config() Config { return g.cfg }

// Status is a snapshot of a guard's view.
type Status struct {
	// LastAck is the send time of the last acknowledged heartbeat (zero: none yet).
	LastAck        time.Time
	LastWitnessAck time.Time
	LastMastersAck time.Time
	// Managed are the cset groups the guard protects, sorted.
	Managed []string
	// Enforcing is true while the guard keeps the managed groups stopped.
	Enforcing bool
}

// Status returns the guard's current view.
func (g *Guard) Status() Status {
	g.mu.Lock()
	defer g.mu.Unlock()
	return Status{LastAck: g.lastAck, LastWitnessAck: g.lastWitnessAck, LastMastersAck: g.lastMastersAck,
		Managed: slices.Clone(g.managed), Enforcing: g.enforcing}
}

// Deadline is when the member rule fires without a further acknowledgement: the send time of
// the last acknowledged heartbeat plus the guard timeout. Zero when nothing was ever acknowledged.
func (g *Guard) Deadline() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.lastAck.IsZero() {
		return time.Time{}
	}
	return g.lastAck.Add(g.cfg.Timeout)
}

// Expired reports whether no heartbeat was acknowledged within the guard timeout at now.
func (g *Guard) Expired(now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.expiredLocked(now)
}

func (g *Guard) expiredLocked(now time.Time) bool {
	return g.lastAck.IsZero() || now.Sub(g.lastAck) >= g.cfg.Timeout
}

// Beat sends one heartbeat to the witness and one to the masters, concurrently, each bounded by
// the call timeout, and records the acknowledged ones. It returns the errors of both (nil when
// both configured ones acknowledged).
func (g *Guard) Beat(ctx context.Context) error {
	sent := g.clock.Now()
	ctx, cancel := context.WithTimeout(ctx, g.cfg.CallTimeout)
	defer cancel()
	var wg sync.WaitGroup
	var werr, merr error
	if g.deps.Witness != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			werr = g.deps.Witness.Heartbeat(ctx, g.cfg.Cluster, g.cfg.Server)
		}()
	}
	if g.deps.Masters != nil {
		g.mu.Lock()
		known := slices.Clone(g.managed)
		g.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			var groups []string
			groups, merr = g.deps.Masters.Heartbeat(ctx, g.cfg.Cluster, g.cfg.Server, known)
			if merr == nil {
				g.ackMasters(sent, groups)
			}
		}()
	}
	wg.Wait()
	if g.deps.Witness != nil && werr == nil {
		g.ackWitness(sent)
	}
	g.noteError("witness", werr)
	g.noteError("masters", merr)
	var errs []error
	if werr != nil {
		errs = append(errs, fmt.Errorf("witness: %w", werr))
	}
	if merr != nil {
		errs = append(errs, fmt.Errorf("masters: %w", merr))
	}
	return errors.Join(errs...)
}

// noteError logs a heartbeat failure when it starts or changes, and a recovery once.
func (g *Guard) noteError(source string, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	prev, had := g.lastErr[source]
	switch {
	case err == nil && had:
		delete(g.lastErr, source)
		g.log.Info("heartbeats acknowledged again", "to", source)
	case err != nil && (!had || prev != err.Error()):
		g.lastErr[source] = err.Error()
		g.log.Warn("heartbeat not acknowledged", "to", source, "error", err)
	}
}

func (g *Guard) ackWitness(sent time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if sent.After(g.lastWitnessAck) {
		g.lastWitnessAck = sent
	}
	g.ackLocked(sent)
}

func (g *Guard) ackMasters(sent time.Time, groups []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	// A group that leaves the masters' list (its workload unregistered) stays managed: ECX may
	// still run it, and a workload registered again for it while this member is cut off would
	// otherwise be started elsewhere next to an unguarded copy (chaos finding G1). Stopping a
	// group cset no longer manages when the site is cut off costs availability, never safety.
	groups = append(slices.Clone(groups), g.managed...)
	slices.Sort(groups)
	groups = slices.Compact(groups)
	if !sent.Before(g.lastMastersAck) {
		g.lastMastersAck = sent
		if !slices.Equal(groups, g.managed) {
			g.log.Info("managed groups updated", "groups", groups)
			g.managed = groups
		}
	}
	g.ackLocked(sent)
}

// ackLocked moves the last acknowledged send time forward and persists the state when needed.
func (g *Guard) ackLocked(sent time.Time) {
	if sent.After(g.lastAck) {
		g.lastAck = sent
	}
	g.endEnforcementLocked(g.clock.Now())
	g.persistLocked()
}

// endEnforcementLocked ends an enforcement once an acknowledgement makes the rule hold again.
func (g *Guard) endEnforcementLocked(now time.Time) {
	if !g.enforcing || g.expiredLocked(now) {
		return
	}
	g.log.Info("heartbeats acknowledged again: no longer keeping cset groups stopped", "last_ack_sent", g.lastAck)
	g.enforcing = false
	clear(g.stopAsked)
	clear(g.overdue)
}

// persistLocked writes the state file when the managed groups changed or the persisted send time
// lags by a quarter of the timeout. A lagging time is safe: after a restart the guard only fires
// earlier.
func (g *Guard) persistLocked() {
	if g.cfg.StateFile == "" {
		return
	}
	p := g.persisted
	if slices.Equal(p.Groups, g.managed) && g.lastAck.Sub(p.LastAckSent) < g.cfg.Timeout/4 {
		return
	}
	next := persistedState{Cluster: g.cfg.Cluster, Server: g.cfg.Server, Groups: slices.Clone(g.managed), LastAckSent: g.lastAck}
	if err := saveState(g.cfg.StateFile, next); err != nil {
		g.log.Error("writing the guard state file failed", "file", g.cfg.StateFile, "error", err)
		return
	}
	g.persisted = next
}

// Flush writes the state file now (no-op without one); `csetd guard -once` calls it before it
// exits, so the next run counts from the latest acknowledged heartbeat.
func (g *Guard) Flush() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cfg.StateFile == "" || (g.lastAck.Equal(g.persisted.LastAckSent) && slices.Equal(g.managed, g.persisted.Groups)) {
		return nil
	}
	next := persistedState{Cluster: g.cfg.Cluster, Server: g.cfg.Server, Groups: slices.Clone(g.managed), LastAckSent: g.lastAck}
	if err := saveState(g.cfg.StateFile, next); err != nil {
		return fmt.Errorf("guard: write the state file: %w", err)
	}
	g.persisted = next
	return nil
}

// Enforce applies the member rule once: if no heartbeat was acknowledged within the guard timeout,
// it asks ECX to stop every managed group running on this server that is not already stopping, and
// returns their names. Otherwise it does nothing (and ends an enforcement that was on).
func (g *Guard) Enforce(ctx context.Context) ([]string, error) {
	now := g.clock.Now()
	g.mu.Lock()
	if !g.expiredLocked(now) {
		g.endEnforcementLocked(now)
		g.mu.Unlock()
		return nil, nil
	}
	managed := slices.Clone(g.managed)
	if !g.enforcing && len(managed) > 0 {
		g.enforcing = true
		g.log.Error("no heartbeat acknowledged by the witness nor the masters within the guard timeout: stopping the cset groups on this server",
			"guard_timeout", g.cfg.Timeout, "last_ack_sent", g.lastAck, "groups", managed)
	}
	g.mu.Unlock()
	if len(managed) == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, g.cfg.CallTimeout)
	defer cancel()
	groups, err := g.deps.Local.Groups(ctx)
	if err != nil {
		return nil, fmt.Errorf("guard: list the local groups: %w", err)
	}
	var stopped []string
	var errs []error
	for _, grp := range groups {
		if _, ok := slices.BinarySearch(managed, grp.Name); !ok {
			continue
		}
		if grp.Current != g.cfg.Server || grp.Status == StatusOffline {
			g.mu.Lock()
			delete(g.stopAsked, grp.Name) // stopped (or elsewhere): a later stop starts a new count
			delete(g.overdue, grp.Name)
			g.mu.Unlock()
			continue
		}
		if grp.Status == StatusOfflinePending {
			g.checkOverdue(grp.Name, now)
			continue
		}
		if err := g.deps.Local.StopGroup(ctx, grp.Name); err != nil {
			errs = append(errs, fmt.Errorf("guard: stop group %s: %w", grp.Name, err))
			continue
		}
		g.log.Warn("stopped a cset group: no heartbeat acknowledged", "group", grp.Name, "status", grp.Status)
		stopped = append(stopped, grp.Name)
		g.checkOverdue(grp.Name, now)
	}
	return stopped, errors.Join(errs...)
}

// checkOverdue reports, once, a group that ECX has not stopped within StopTimeout of the first
// stop request: the masters' fence_after assumes it has.
func (g *Guard) checkOverdue(group string, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	asked, ok := g.stopAsked[group]
	if !ok {
		g.stopAsked[group] = now
		return
	}
	if now.Sub(asked) > g.cfg.StopTimeout && !g.overdue[group] {
		g.overdue[group] = true
		g.log.Error("a cset group is still not Offline after the guard stop timeout: the masters may start it elsewhere; raise controller.guard_stop_timeout and fence_after",
			"group", group, "guard_stop_timeout", g.cfg.StopTimeout, "asked_at", asked)
	}
}

// Run heartbeats every Interval and enforces the member rule at every heartbeat and at the
// deadline, until ctx ends. A heartbeat that hangs never delays enforcement.
func (g *Guard) Run(ctx context.Context) error {
	g.log.Info("guard started", "cluster", g.cfg.Cluster, "server", g.cfg.Server, "guard_timeout", g.cfg.Timeout,
		"interval", g.cfg.Interval, "witness", g.deps.Witness != nil, "masters", g.deps.Masters != nil)
	// The first heartbeat comes before the first enforcement, so that a guard restarted after a
	// long stop does not stop groups the masters still hear about.
	_ = g.Beat(ctx)
	beats := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(g.cfg.Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			_ = g.Beat(ctx)
			select {
			case beats <- struct{}{}:
			default:
			}
		}
	}()
	defer wg.Wait()
	for {
		if _, err := g.Enforce(ctx); err != nil && ctx.Err() == nil {
			g.log.Error("enforcing the member rule failed; retrying", "error", err)
		}
		wait := g.cfg.Interval
		if d := g.Deadline(); !d.IsZero() {
			if until := time.Until(d); until > 0 && until < wait {
				wait = until
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-beats:
		case <-t.C:
		}
		t.Stop()
	}
}
