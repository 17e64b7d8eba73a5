package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cset-project/cset/ecxclient"
	"github.com/cset-project/cset/fsm"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"github.com/cset-project/cset/witness"
)

// observation is what one poll of one member found.
type observation struct {
	member  string
	reached bool
	err     error
	servers []*fsmv1.MemberServer
	groups  []*fsmv1.ObservedGroup
	health  string
	reason  string
}

// observe polls every member concurrently through a bounded pool and computes its health.
func (c *Controller) observe(ctx context.Context, d *fsm.Data) map[string]*observation {
	members := d.SortedMembers()
	out := make(map[string]*observation, len(members))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, c.cfg.PollWorkers)
	for _, m := range members {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			start := time.Now()
			o := c.poll(ctx, m)
			c.deps.Observer.Poll(m.Name, time.Since(start), o.err)
			mu.Lock()
			out[m.Name] = o
			mu.Unlock()
		}()
	}
	wg.Wait()
	now := c.deps.Now()
	for _, m := range members {
		c.health(ctx, m, out[m.Name], now)
	}
	return out
}

// poll reads the servers and groups of one member, from any of its servers.
func (c *Controller) poll(ctx context.Context, m *fsmv1.Member) *observation {
	o := &observation{member: m.Name}
	cl, err := c.client(m)
	if err != nil {
		o.err = err
		return o
	}
	ctx, cancel := context.WithTimeout(ctx, c.pollDeadline(len(m.Servers)))
	defer cancel()
	servers, err := cl.ListServers(ctx)
	if err != nil {
		o.err = err
		return o
	}
	listGroups := cl.ListGroups
	if sl, ok := cl.(groupStateLister); ok {
		listGroups = sl.ListGroupStates
	}
	groups, err := listGroups(ctx)
	if err != nil {
		o.err = err
		return o
	}
	o.reached = true
	o.servers = make([]*fsmv1.MemberServer, len(servers))
	for i, s := range servers {
		o.servers[i] = &fsmv1.MemberServer{Name: s.Name, Status: s.RawStatus}
	}
	// One allocation for the member's groups: they are compared with the state and dropped,
	// unless they changed.
	gs := make([]fsmv1.ObservedGroup, len(groups))
	o.groups = make([]*fsmv1.ObservedGroup, len(groups))
	for i, g := range groups {
		gs[i].Name, gs[i].Status, gs[i].Current = g.Name, g.RawStatus, g.Current
		o.groups[i] = &gs[i]
	}
	slices.SortFunc(o.groups, func(a, b *fsmv1.ObservedGroup) int { return strings.Compare(a.Name, b.Name) })
	return o
}

// groupStateLister is implemented by *ecxclient.Client: the poll reads the groups without their
// resources (ListGroupStates), which the controller does not use. An ECX without it (a test's)
// is polled with ListGroups.
type groupStateLister interface {
	ListGroupStates(ctx context.Context) ([]ecxclient.Group, error)
}

// pollDeadline bounds one poll of a member: every server may take its ECX timeout, but never
// more than half of unreachable_after, so that a member whose REST API hangs (accepts and never
// answers) is unreachable on time instead of after its servers' timeouts add up, and one hanging
// member does not stretch the round for the others.
func (c *Controller) pollDeadline(servers int) time.Duration {
	return min(c.cfg.ECXTimeout*time.Duration(max(1, servers)), c.cfg.UnreachableAfter/2)
}

// health decides a member's health from the poll, the time since it last answered and the
// witness (docs/design.md, "The controller" and "Split-brain protection").
func (c *Controller) health(ctx context.Context, m *fsmv1.Member, o *observation, now time.Time) {
	if o.reached {
		c.lastReached[m.Name] = now
		o.health, o.reason = fsm.HealthUp, "all servers online"
		var offline []string
		for _, s := range o.servers {
			if s.Status != fsm.StatusOnline {
				offline = append(offline, s.Name)
			}
		}
		if len(offline) > 0 {
			o.health, o.reason = fsm.HealthDegraded, fmt.Sprintf("servers not online: %v", offline)
		}
		return
	}
	last, ok := c.lastReached[m.Name]
	if !ok {
		last = c.started // a new leader gives every member a full window before judging it
	}
	// So does a member added (or re-added) since: its health is unknown from when it was added.
	if added := time.Unix(0, m.HealthSinceUnixNano); m.Health == fsm.HealthUnknown && added.After(last) {
		last = added
	}
	silent := now.Sub(last)
	if silent < c.cfg.UnreachableAfter {
		o.health, o.reason = "", "" // keep the recorded health for now
		return
	}
	reason := fmt.Sprintf("no server answered for %v: %v", silent.Round(time.Millisecond), o.err)
	if m.Health == fsm.HealthDown {
		o.health, o.reason = fsm.HealthDown, m.HealthReason // stays down until it answers again
		return
	}
	if c.deps.Witness == nil {
		o.health, o.reason = fsm.HealthUnreachable, reason+" (no witness: confirm with 'csetctl member declare-down' to fail over)"
		return
	}
	// The master rule (docs/design.md, "Split-brain protection"): down only when neither the witness nor this leader
	// has heard any of the member's guards for fence_after either. A guard heard here means the
	// member reaches the masters although they cannot reach it (a one-way cut): its guards then
	// keep its groups running, so failing it over would run them twice.
	guardSince, guardHeard := time.Duration(1<<62), false
	if c.deps.Guards != nil {
		guardSince, guardHeard = c.deps.Guards.LastHeard(m.Name)
	}
	guardNote := ""
	switch {
	case guardHeard && guardSince < c.cfg.UnreachableAfter:
		o.health, o.reason = fsm.HealthPartitioned, reason+fmt.Sprintf("; the masters heard its guards %v ago: cut one way from the masters, not failed over", guardSince.Round(time.Millisecond))
		return
	case guardHeard:
		guardNote = fmt.Sprintf("; the masters last heard its guards %v ago", guardSince.Round(time.Millisecond))
	}
	wctx, cancel := context.WithTimeout(ctx, c.cfg.ECXTimeout)
	defer cancel()
	seen, err := c.deps.Witness.Cluster(wctx, m.Name)
	switch {
	case errors.Is(err, witness.ErrNeverSeen):
		o.health, o.reason = fsm.HealthUnreachable, reason+guardNote+"; the witness has never heard this cluster, so it cannot be declared down automatically"
	case err != nil:
		o.health, o.reason = fsm.HealthUnreachable, reason+guardNote+fmt.Sprintf("; witness unreachable (%v)", err)
	case seen.LastHeard() < c.cfg.FenceAfter || silent < c.cfg.FenceAfter || guardSince < c.cfg.FenceAfter:
		if seen.LastHeard() < c.cfg.UnreachableAfter {
			o.health, o.reason = fsm.HealthPartitioned, reason+guardNote+fmt.Sprintf("; %s heard it %v ago: partitioned from the masters, not failed over", witnessWho(seen), seen.LastHeard().Round(time.Millisecond))
		} else {
			o.health, o.reason = fsm.HealthUnreachable, reason+guardNote+fmt.Sprintf("; %s last heard it %v ago (down after %v without the witness or the masters hearing it)", witnessWho(seen), seen.LastHeard().Round(time.Millisecond), c.cfg.FenceAfter)
		}
	default:
		o.health, o.reason = fsm.HealthDown, fmt.Sprintf("unreachable for %v and %s has heard none of its servers for %v", silent.Round(time.Millisecond), witnessWho(seen), seen.LastHeard().Round(time.Millisecond))
		if c.deps.Guards != nil {
			o.reason += fmt.Sprintf(", the masters none of its guards for %v", guardSince.Round(time.Millisecond))
		}
	}
}

// witnessWho names who vouches for seen in a health reason: the witness, or a majority of
// several (docs/design.md, "Several witnesses").
func witnessWho(seen witness.ClusterSeen) string {
	if n := len(seen.Witnesses); n > 1 {
		return fmt.Sprintf("a majority of the %d witnesses", n)
	}
	return "the witness"
}

// changes returns the observation batch that records what differs from the state, or nil.
func (c *Controller) changes(_ context.Context, d *fsm.Data, obs map[string]*observation) *fsmv1.ObservationBatchCommand {
	batch := &fsmv1.ObservationBatchCommand{}
	members := d.SortedMembers()
	// A workload registered before every member's last recorded poll needs none: on a quiet
	// leader that is every workload, and the map stays empty.
	minObserved := uint64(1<<64 - 1)
	for _, m := range members {
		minObserved = min(minObserved, m.ObservedIndex)
	}
	needFresh := map[string]uint64{} // member -> the highest registered_index of a workload naming it
	for _, w := range d.Workloads {
		if w.RegisteredIndex <= minObserved {
			continue
		}
		for _, mn := range w.Candidates {
			needFresh[mn] = max(needFresh[mn], w.RegisteredIndex)
		}
	}
	for _, m := range members {
		o := obs[m.Name]
		if o == nil {
			continue
		}
		mo := &fsmv1.MemberObservation{Member: m.Name}
		changed := false
		if o.health != "" && o.health != m.Health { // reasons carry durations: only a new health is news
			mo.Health, mo.HealthReason = o.health, o.reason
			changed = true
			if o.health == fsm.HealthDown {
				// Down means fenced (witness and guard rules): what it last reported running is
				// stale, so its workloads read Offline there and DNS stops answering its address.
				mo.Groups, mo.GroupsSet = nil, true
			}
		}
		if o.reached {
			// The poll started after d: it shows what ran after d's index. Recorded when a
			// workload naming the member was registered since its last recorded poll.
			mo.AsOfIndex = d.AppliedIndex
			if m.ObservedIndex < d.AppliedIndex && needFresh[m.Name] > m.ObservedIndex {
				changed = true
			}
			for _, s := range o.servers {
				for _, ms := range m.Servers {
					if ms.Name == s.Name && ms.Status != s.Status {
						mo.Servers = append(mo.Servers, s)
						changed = true
					}
				}
			}
			if !sameGroups(m.Groups, o.groups) {
				mo.Groups, mo.GroupsSet, changed = o.groups, true, true
			}
		}
		if changed {
			batch.Members = append(batch.Members, mo)
		}
	}
	if len(batch.Members) == 0 {
		return nil
	}
	return batch
}

func sameGroups(a, b []*fsmv1.ObservedGroup) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Status != b[i].Status || a[i].Current != b[i].Current {
			return false
		}
	}
	return true
}
