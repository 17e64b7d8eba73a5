package ecxclient

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/internal/testutil"
)

// This file holds the operation half of RunContract.

// eventually polls cond every 20 ms until it holds or timeout passes; cond says why it does
// not hold yet, which the failure reports.
func eventually(t *testing.T, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	testutil.Poll{Timeout: timeout, Interval: 20 * time.Millisecond}.Eventually(t, "", func() error {
		if ok, why := cond(); !ok {
			return errors.New(why)
		}
		return nil
	})
}

// step is one observed (status, current) pair.
type step struct {
	Status  Status
	Current string
}

func (s step) String() string { return fmt.Sprintf("%s@%s", s.Status, s.Current) }

// watch polls group until done, returning the distinct states observed.
func (k *contract) watch(t *testing.T, c *Client, group string, done func(Group) bool) (Group, []step) {
	t.Helper()
	var seen []step
	g, err := c.WaitGroupStatus(k.ctx(t), group, func(g Group) (bool, error) {
		s := step{g.Status, g.Current}
		if len(seen) == 0 || seen[len(seen)-1] != s {
			seen = append(seen, s)
		}
		return done(g), nil
	}, WaitOptions{Timeout: k.env.OpTimeout, InitialBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("waiting for group %q: %v (observed %v)", group, err, seen)
	}
	return g, seen
}

// checkPath asserts that the observed statuses follow path in order
// (states may be skipped between polls) and end on its last element. When
// the simulator makes pending states visible, they must have been seen.
func (k *contract) checkPath(t *testing.T, seen []step, path ...Status) {
	t.Helper()
	i := 0
	for _, s := range seen {
		j := slices.Index(path[i:], s.Status)
		if j < 0 {
			t.Errorf("observed %v, which leaves the path %v", seen, path)
			return
		}
		i += j
	}
	if i != len(path)-1 {
		t.Errorf("observed %v, which does not end on %v", seen, path[len(path)-1])
	}
	if k.env.Sim != nil && k.env.Sim.PendingVisible {
		for _, p := range path {
			if p.IsPending() && !slices.ContainsFunc(seen, func(s step) bool { return s.Status == p }) {
				t.Errorf("observed %v: %v was never seen", seen, p)
			}
		}
	}
}

// restoreGroup puts group back into state g at the end of the test.
func (k *contract) restoreGroup(t *testing.T, c *Client, group string, g Group) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*k.env.OpTimeout)
		defer cancel()
		var err error
		if g.OnlineOn("") {
			_, err = c.StartGroupAndWait(ctx, group, g.Current, k.env.OpTimeout)
		} else {
			_, err = c.StopGroupAndWait(ctx, group, k.env.OpTimeout)
		}
		if err != nil {
			t.Errorf("restoring group %q to %s on %q: %v", group, g.RawStatus, g.Current, err)
		}
	})
}

func (k *contract) target(t *testing.T, c *Client, g Group) string {
	if k.env.Target != "" {
		return k.env.Target
	}
	if g.Current != "" {
		return g.Current
	}
	servers, err := c.ListServers(k.ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range servers {
		if s.Status == StatusOnline {
			return s.Name
		}
	}
	t.Fatal("no Online server to start the group on")
	return ""
}

// groupStartStop is the only mutating test run against a real cluster.
func (k *contract) groupStartStop(t *testing.T) {
	c := k.newClient(t)
	ctx := k.ctx(t)
	group := k.env.Group
	g0, err := c.GetGroup(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	k.restoreGroup(t, c, group, g0)
	target := k.target(t, c, g0)
	if g0.Status != StatusOffline {
		if g, err := c.StopGroupAndWait(ctx, group, k.env.OpTimeout); err != nil || g.Status != StatusOffline || g.Current != "" {
			t.Fatalf("StopGroupAndWait = %+v, %v", g, err)
		}
	}
	if err := c.StartGroup(ctx, group, target); err != nil {
		t.Fatalf("StartGroup: %v", err)
	}
	_, seen := k.watch(t, c, group, func(g Group) bool { return g.OnlineOn(target) })
	k.checkPath(t, seen, StatusOffline, StatusOnlinePending, StatusOnline)
	refs, err := c.GetGroupResources(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range refs {
		r, err := c.GetResource(ctx, ref.Name)
		if err != nil || r.Status != StatusOnline || r.Current != target {
			t.Errorf("resource %q of an Online group: %+v, %v", ref.Name, r, err)
		}
	}
	if g, err := c.StartGroupAndWait(ctx, group, target, k.env.OpTimeout); err != nil || !g.OnlineOn(target) {
		t.Errorf("StartGroupAndWait on an Online group = %+v, %v", g, err)
	}
	if err := c.StopGroup(ctx, group, ""); err != nil {
		t.Fatalf("StopGroup: %v", err)
	}
	g, seen := k.watch(t, c, group, func(g Group) bool { return g.Status == StatusOffline })
	k.checkPath(t, seen, StatusOnline, StatusOfflinePending, StatusOffline)
	if g.Current != "" {
		t.Errorf("Offline group has current %q", g.Current)
	}
	if g, err := c.StartGroupAndWait(ctx, group, target, k.env.OpTimeout); err != nil || !g.OnlineOn(target) {
		t.Fatalf("StartGroupAndWait = %+v, %v", g, err)
	}
	if g, err := c.StopGroupAndWait(ctx, group, k.env.OpTimeout); err != nil || g.Status != StatusOffline {
		t.Fatalf("StopGroupAndWait = %+v, %v", g, err)
	}
}

func (k *contract) deadline(t *testing.T) {
	sim := k.env.Sim
	if err := sim.SetLatency(time.Second); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.SetLatency(0) })
	c := k.variant(t, func(cfg *MemberConfig) { cfg.Timeout = 150 * time.Millisecond })
	start := time.Now()
	_, err := c.GetCluster(k.ctx(t))
	var ue *UnreachableError
	if !errors.As(err, &ue) || len(ue.Attempts) != len(k.env.Config.URLs) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("latency past the deadline: %v, want *UnreachableError with a timeout per server", err)
	}
	if d := time.Since(start); d > time.Duration(len(k.env.Config.URLs))*150*time.Millisecond+5*time.Second {
		t.Errorf("call took %s", d)
	}
	// The caller's shorter deadline wins and is not "unreachable".
	ctx, cancel := context.WithTimeout(k.ctx(t), 100*time.Millisecond)
	defer cancel()
	if _, err := k.newClient(t).ListGroups(ctx); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrUnreachable) {
		t.Errorf("caller deadline: %v", err)
	}
	if err := sim.SetLatency(0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetCluster(k.ctx(t)); err != nil {
		t.Errorf("after the latency is gone: %v", err)
	}
}

// isolated makes every server silent (a partition between cset and the
// member): reads try every server, an operation is not repeated elsewhere.
func (k *contract) isolated(t *testing.T) {
	sim := k.env.Sim
	if err := sim.Isolate(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Heal() })
	c := k.variant(t, func(cfg *MemberConfig) { cfg.Timeout = 150 * time.Millisecond })
	_, err := c.ListGroups(k.ctx(t))
	var ue *UnreachableError
	if !errors.As(err, &ue) || ue.MaybeApplied || len(ue.Attempts) != len(k.env.Servers) {
		t.Fatalf("read from an isolated cluster: %v, want *UnreachableError over every server", err)
	}
	err = c.StopGroup(k.ctx(t), k.env.Group, "")
	if !errors.As(err, &ue) || !ue.MaybeApplied || len(ue.Attempts) != 1 {
		t.Fatalf("operation on an isolated cluster: %v, want *UnreachableError with MaybeApplied after one server", err)
	}
	if !strings.Contains(err.Error(), "may have been applied") {
		t.Errorf("message %q does not warn about a possible duplicate", err)
	}
	if err := sim.Heal(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListGroups(k.ctx(t)); err != nil {
		t.Errorf("after healing: %v", err)
	}
}

// serverErrors makes the cluster answer HTTP 500 (with the envelope; HTTP
// 200 with a non-zero code when it reports errors inside the envelope) to
// some requests: such an answer is a rejection, not a reason to try another
// server, but a wait rides it out.
func (k *contract) serverErrors(t *testing.T) {
	sim := k.env.Sim
	c := k.newClient(t)
	ctx := k.ctx(t)
	if err := sim.SetErrorRate(1); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = sim.SetErrorRate(0)
		_, _ = c.StopGroupAndWait(context.Background(), k.env.Group, k.env.OpTimeout)
	})
	wantStatus := 500
	if sim.EnvelopeErrors {
		wantStatus = 200
	}
	_, err := c.GetCluster(ctx)
	var re *RejectedError
	if !errors.As(err, &re) || re.HTTPStatus != wantStatus || re.Code == 0 || c.LastURL() != c.URLs()[0] {
		t.Fatalf("HTTP %d with an envelope: %v (LastURL %s), want *RejectedError from the first server", wantStatus, err, c.LastURL())
	}
	err = c.StopGroup(ctx, k.env.Group, "")
	if !errors.As(err, &re) || re.HTTPStatus != wantStatus || re.Code == 0 {
		t.Fatalf("operation answered HTTP %d with an envelope: %v, want *RejectedError", wantStatus, err)
	}
	if err := sim.SetErrorRate(0); err != nil {
		t.Fatal(err)
	}
	if err := c.StartGroup(ctx, k.env.Group, k.env.Servers[0]); err != nil {
		t.Fatal(err)
	}
	if err := sim.SetErrorRate(0.5); err != nil {
		t.Fatal(err)
	}
	k.watch(t, c, k.env.Group, func(g Group) bool { return g.OnlineOn(k.env.Servers[0]) })
	if err := sim.SetErrorRate(0); err != nil {
		t.Fatal(err)
	}
}

func (k *contract) rejected(t *testing.T) {
	c := k.newClient(t)
	ctx := k.ctx(t)
	g2, s1, s2 := k.env.Sim.SecondGroup, k.env.Servers[0], k.env.Servers[1]
	if _, err := c.StartGroupAndWait(ctx, g2, s1, k.env.OpTimeout); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.StopGroupAndWait(context.Background(), g2, k.env.OpTimeout) })
	err := c.StartGroup(ctx, g2, s2)
	var re *RejectedError
	if !errors.As(err, &re) || re.Code == 0 || re.Message == "" || !strings.Contains(re.Message, s1) {
		t.Fatalf("start while online on %s: %v, want *RejectedError naming %s", s1, err, s1)
	}
	if _, err := c.StartGroupAndWait(ctx, g2, s2, k.env.OpTimeout); !errors.Is(err, ErrRejected) {
		t.Errorf("StartGroupAndWait elsewhere: %v, want ErrRejected", err)
	}
	if len(k.env.Servers) > 2 {
		if err := c.MoveGroup(ctx, g2, k.env.Servers[2]); !errors.Is(err, ErrRejected) {
			t.Errorf("move outside the failover policy: %v, want ErrRejected", err)
		}
	}
	if g, err := c.GetGroup(ctx, g2); err != nil || !g.OnlineOn(s1) {
		t.Errorf("after rejected operations: %+v, %v", g, err)
	}
}

func (k *contract) move(t *testing.T) {
	c := k.newClient(t)
	ctx := k.ctx(t)
	g2, s1, s2 := k.env.Sim.SecondGroup, k.env.Servers[0], k.env.Servers[1]
	if _, err := c.StartGroupAndWait(ctx, g2, s1, k.env.OpTimeout); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.StopGroupAndWait(context.Background(), g2, k.env.OpTimeout) })
	if err := c.MoveGroup(ctx, g2, s2); err != nil {
		t.Fatal(err)
	}
	_, seen := k.watch(t, c, g2, func(g Group) bool { return g.OnlineOn(s2) })
	k.checkPath(t, seen, StatusOnline, StatusOfflinePending, StatusOffline, StatusOnlinePending, StatusOnline)
	if seen[0].Current != s1 {
		t.Errorf("move observed %v, should start on %s", seen, s1)
	}
	g, err := c.MoveGroupAndWait(ctx, g2, "", k.env.OpTimeout)
	if err != nil || !g.OnlineOn(s1) {
		t.Errorf("MoveGroupAndWait by policy = %+v, %v; want Online on %s", g, err, s1)
	}
	if g, err := c.MoveGroupAndWait(ctx, g2, s1, k.env.OpTimeout); err != nil || !g.OnlineOn(s1) {
		t.Errorf("MoveGroupAndWait to where it runs = %+v, %v", g, err)
	}
}

func (k *contract) startFailure(t *testing.T) {
	c := k.newClient(t)
	ctx := k.ctx(t)
	g2, s1 := k.env.Sim.SecondGroup, k.env.Servers[0]
	if err := k.env.Sim.SetFailStart(g2, true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.env.Sim.SetFailStart(g2, false) })
	g, err := c.StartGroupAndWait(ctx, g2, s1, k.env.OpTimeout)
	var fe *GroupFailedError
	if !errors.As(err, &fe) || g.Status != StatusOnlineFailure || g.Current != s1 {
		t.Fatalf("failing start = %+v, %v; want *GroupFailedError in Online Failure on %s", g, err, s1)
	}
	if !strings.Contains(err.Error(), "Online Failure") {
		t.Errorf("message %q does not show the status", err)
	}
	if err := c.StopGroup(ctx, g2, ""); err != nil {
		t.Fatal(err)
	}
	_, seen := k.watch(t, c, g2, func(g Group) bool { return g.Status == StatusOffline })
	k.checkPath(t, seen, StatusOnlineFailure, StatusOfflinePending, StatusOffline)
	if err := k.env.Sim.SetFailStart(g2, false); err != nil {
		t.Fatal(err)
	}
	if g, err := c.StartGroupAndWait(ctx, g2, s1, k.env.OpTimeout); err != nil || !g.OnlineOn(s1) {
		t.Errorf("start after the fault is cleared = %+v, %v", g, err)
	}
	if _, err := c.StopGroupAndWait(ctx, g2, k.env.OpTimeout); err != nil {
		t.Error(err)
	}
}
