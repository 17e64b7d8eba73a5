package ecxclient

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// This file holds the simulator-only checks of RunContract for the ECX
// behaviours that NEC's own clients exposed (issue 12): a stop during a
// move, the failure and unknown statuses, dummy failures and mirrors.

// stopDuringMove sends a stop while a move stops the group on its source.
// ECX may refuse it or stop the group; what it must never do is accept it
// and let the group come Online on the move's target.
func (k *contract) stopDuringMove(t *testing.T) {
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
	err := c.StopGroup(ctx, g2, "")
	switch {
	case err == nil:
		g, _ := k.watch(t, c, g2, func(g Group) bool { return g.Status == StatusOffline || g.OnlineOn(s2) })
		if g.Status != StatusOffline {
			t.Fatalf("a stop during a move was accepted, then the group came %s on %s", g.RawStatus, g.Current)
		}
	case errors.Is(err, ErrRejected):
		k.watch(t, c, g2, func(g Group) bool { return g.OnlineOn(s2) })
		if _, err := c.StopGroupAndWait(ctx, g2, k.env.OpTimeout); err != nil {
			t.Fatalf("stop after the move: %v", err)
		}
	default:
		t.Fatalf("stop during a move: %v, want success or ErrRejected", err)
	}
}

// failureStatuses covers Offline Failure (a group that fails to stop) and
// Unknown (a server whose state cannot be read).
func (k *contract) failureStatuses(t *testing.T) {
	c := k.newClient(t)
	ctx := k.ctx(t)
	sim := k.env.Sim
	g2, s1, s2 := sim.SecondGroup, k.env.Servers[0], k.env.Servers[1]
	if _, err := c.StartGroupAndWait(ctx, g2, s1, k.env.OpTimeout); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = sim.SetFailStop(g2, false)
		_ = sim.SetServerStatusUnknown(s1, false)
		_, _ = c.StopGroupAndWait(context.Background(), g2, k.env.OpTimeout)
	})

	if err := sim.SetServerStatusUnknown(s1, true); err != nil {
		t.Fatal(err)
	}
	if s, err := c.GetServer(ctx, s1); err != nil || s.Status != StatusUnknown || s.RawStatus != "Unknown" {
		t.Errorf("unreadable server: %+v, %v; want Unknown", s, err)
	}
	if g, err := c.GetGroup(ctx, g2); err != nil || g.Status != StatusUnknown || g.Current != s1 {
		t.Errorf("group on an unreadable server: %+v, %v; want Unknown on %s", g, err, s1)
	}
	list, err := c.ListServers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if !known(s.RawStatus) {
			t.Errorf("server %+v: status outside the vocabulary", s)
		}
	}
	if err := sim.SetServerStatusUnknown(s1, false); err != nil {
		t.Fatal(err)
	}
	k.serverStatusIs(t, c, s1, StatusOnline)

	if err := sim.SetFailStop(g2, true); err != nil {
		t.Fatal(err)
	}
	g, err := c.StopGroupAndWait(ctx, g2, k.env.OpTimeout)
	var fe *GroupFailedError
	if !errors.As(err, &fe) || g.Status != StatusOfflineFailure || g.Current != s1 {
		t.Fatalf("a stop that fails = %+v, %v; want *GroupFailedError in Offline Failure on %s", g, err, s1)
	}
	if err := c.StartGroup(ctx, g2, s2); !errors.Is(err, ErrRejected) {
		t.Errorf("start elsewhere after a failed stop: %v, want ErrRejected", err)
	}
	if err := sim.SetFailStop(g2, false); err != nil {
		t.Fatal(err)
	}
	if g, err := c.StopGroupAndWait(ctx, g2, k.env.OpTimeout); err != nil || g.Status != StatusOffline {
		t.Errorf("stop after the fault is cleared = %+v, %v", g, err)
	}
}

func (k *contract) dummyFailures(t *testing.T) {
	c := k.newClient(t)
	ctx := k.ctx(t)
	s := k.lastServer()
	mon := k.clusterMonitor(t, c)
	t.Cleanup(func() {
		_ = c.StopServerDummyFailure(context.Background(), s)
		_ = c.StopMonitorDummyFailure(context.Background(), mon, "")
	})
	if err := c.StartServerDummyFailure(ctx, s); err != nil {
		t.Fatal(err)
	}
	k.serverStatusIs(t, c, s, StatusOffline)
	if err := c.StopServerDummyFailure(ctx, s); err != nil {
		t.Fatal(err)
	}
	k.serverStatusIs(t, c, s, StatusOnline)
	if err := c.StartServerDummyFailure(ctx, noSuch); !errors.Is(err, ErrNotFound) {
		t.Errorf("dummy failure of an unknown server: %v", err)
	}

	if err := c.StartMonitorDummyFailure(ctx, mon, ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, k.env.OpTimeout, func() (bool, string) {
		m, err := c.GetMonitor(ctx, mon)
		return err == nil && m.Status == StatusError && monitorOn(m, s) == StatusError, fmt.Sprintf("%+v, %v", m, err)
	})
	if err := c.StopMonitorDummyFailure(ctx, mon, ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, k.env.OpTimeout, func() (bool, string) {
		m, err := c.GetMonitor(ctx, mon)
		return err == nil && m.Status == StatusNormal, fmt.Sprintf("%+v, %v", m, err)
	})
	if err := c.StartMonitorDummyFailure(ctx, mon, noSuch); !errors.Is(err, ErrRejected) {
		t.Errorf("monitor dummy failure on an unknown server: %v, want ErrRejected", err)
	}
}

func (k *contract) mirrors(t *testing.T) {
	c := k.newClient(t)
	ctx := k.ctx(t)
	for _, kind := range []MirrorKind{MirrorBackup, MirrorRestore} {
		if st, err := c.GetMirrorStatus(ctx, kind); err != nil || st.Running {
			t.Fatalf("%s status before any action: %+v, %v", kind, st, err)
		}
	}
	if err := c.RunMirrorAction(ctx, MirrorBackup, MirrorPreAction, MirrorOptions{NoShutdown: true, Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	var last MirrorStatus
	eventually(t, k.env.OpTimeout, func() (bool, string) {
		st, err := c.GetMirrorStatus(ctx, MirrorBackup)
		last = st
		return err == nil && !st.Running, fmt.Sprintf("%+v, %v", st, err)
	})
	if last.Status == "" {
		t.Errorf("a finished backup action reports no status")
	}
	if err := c.RunMirrorAction(ctx, MirrorRestore, MirrorPostAction, MirrorOptions{SkipCopy: true}); err != nil {
		t.Fatal(err)
	}
	eventually(t, k.env.OpTimeout, func() (bool, string) {
		st, err := c.GetMirrorStatus(ctx, MirrorRestore)
		return err == nil && !st.Running, fmt.Sprintf("%+v, %v", st, err)
	})
}

// groupResourcesAtOnce checks GET /groups?select=resources against the
// per-group answers.
func (k *contract) groupResourcesAtOnce(t *testing.T, c *Client) {
	ctx := k.ctx(t)
	all, err := c.ListGroupResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names, err := c.ListGroupNames(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for g := range all {
		keys = append(keys, g)
	}
	slices.Sort(keys)
	slices.Sort(names)
	if !cmp.Equal(keys, names) {
		t.Errorf("ListGroupResources has groups %v, ListGroupNames %v", keys, names)
	}
	for _, g := range names {
		one, err := c.GetGroupResources(ctx, g)
		if err != nil || !cmp.Equal(one, all[g]) {
			t.Errorf("group %q: GetGroupResources = %v, %v; ListGroupResources %v", g, one, err, all[g])
		}
	}
}
