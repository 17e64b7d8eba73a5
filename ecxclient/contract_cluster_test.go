package ecxclient

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// This file holds the simulator-only operations of RunContract on
// resources, monitors, servers and the whole cluster.

func (k *contract) resourceOps(t *testing.T) {
	c := k.newClient(t)
	ctx := k.ctx(t)
	s1 := k.env.Servers[0]
	if _, err := c.StartGroupAndWait(ctx, k.env.Group, s1, k.env.OpTimeout); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.StopGroupAndWait(context.Background(), k.env.Group, k.env.OpTimeout) })
	refs, err := c.GetGroupResources(ctx, k.env.Group)
	if err != nil || len(refs) == 0 {
		t.Fatalf("GetGroupResources = %v, %v", refs, err)
	}
	name := refs[0].Name
	if err := c.StopResource(ctx, name); err != nil {
		t.Fatal(err)
	}
	eventually(t, k.env.OpTimeout, func() (bool, string) {
		r, err := c.GetResource(ctx, name)
		return err == nil && r.Status == StatusOffline && r.Current == "", fmt.Sprintf("%+v, %v", r, err)
	})
	if err := c.StartResource(ctx, name, noSuch); err == nil {
		t.Error("StartResource on an unknown server was accepted")
	}
	if err := c.StartResource(ctx, name, s1); err != nil {
		t.Fatal(err)
	}
	eventually(t, k.env.OpTimeout, func() (bool, string) {
		r, err := c.GetResource(ctx, name)
		return err == nil && r.Status == StatusOnline && r.Current == s1, fmt.Sprintf("%+v, %v", r, err)
	})
	if err := c.StopResource(ctx, noSuch); !errors.Is(err, ErrNotFound) {
		t.Errorf("StopResource(unknown) = %v", err)
	}
}

// clusterMonitor returns a monitor that runs on every server (no group).
func (k *contract) clusterMonitor(t *testing.T, c *Client) string {
	t.Helper()
	list, err := c.ListMonitors(k.ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range list {
		if m.Status == StatusNormal && len(m.Servers) == len(k.env.Servers) {
			all := true
			for _, s := range m.Servers {
				all = all && s.Status == StatusNormal
			}
			if all {
				return m.Name
			}
		}
	}
	t.Fatalf("no monitor is Normal on every server: %+v", list)
	return ""
}

func monitorOn(m Monitor, server string) Status {
	for _, s := range m.Servers {
		if s.Name == server {
			return s.Status
		}
	}
	return StatusUnknown
}

func (k *contract) monitorOps(t *testing.T) {
	c := k.newClient(t)
	ctx := k.ctx(t)
	name, s1 := k.clusterMonitor(t, c), k.env.Servers[0]
	if err := c.SuspendMonitor(ctx, name, s1); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.ResumeMonitor(context.Background(), name, s1) })
	eventually(t, k.env.OpTimeout, func() (bool, string) {
		m, err := c.GetMonitor(ctx, name)
		return err == nil && monitorOn(m, s1) == StatusSuspend && m.Status == StatusCaution, fmt.Sprintf("%+v, %v", m, err)
	})
	if err := c.ResumeMonitor(ctx, name, s1); err != nil {
		t.Fatal(err)
	}
	eventually(t, k.env.OpTimeout, func() (bool, string) {
		m, err := c.GetMonitor(ctx, name)
		return err == nil && monitorOn(m, s1) == StatusNormal && m.Status == StatusNormal, fmt.Sprintf("%+v, %v", m, err)
	})
	if err := c.SuspendMonitor(ctx, noSuch, s1); !errors.Is(err, ErrNotFound) {
		t.Errorf("SuspendMonitor(unknown) = %v", err)
	}
}

func (k *contract) toRatio(t *testing.T) {
	c := k.newClient(t)
	ctx := k.ctx(t)
	t.Cleanup(func() { _ = c.ResetToRatio(context.Background()) })
	for _, tc := range []struct {
		ratio int
		dur   string
	}{{5, "1h"}, {1, ""}, {10000, "30d"}, {3, "90m"}} {
		if err := c.SetToRatio(ctx, tc.ratio, tc.dur); err != nil {
			t.Fatalf("SetToRatio(%d, %q): %v", tc.ratio, tc.dur, err)
		}
		if r, err := c.GetToRatio(ctx); err != nil || r != tc.ratio {
			t.Errorf("after SetToRatio(%d): GetToRatio = %d, %v", tc.ratio, r, err)
		}
	}
	if err := c.ResetToRatio(ctx); err != nil {
		t.Fatal(err)
	}
	if r, err := c.GetToRatio(ctx); err != nil || r != 1 {
		t.Errorf("after ResetToRatio: %d, %v", r, err)
	}
}

func (k *contract) allGroups(t *testing.T) {
	c := k.newClient(t)
	ctx := k.ctx(t)
	s1 := k.env.Servers[0]
	groups := []string{k.env.Group, k.env.Sim.SecondGroup}
	t.Cleanup(func() {
		for _, g := range groups {
			_, _ = c.StopGroupAndWait(context.Background(), g, k.env.OpTimeout)
		}
	})
	if err := c.StartAllGroups(ctx, s1); err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		k.watch(t, c, g, func(g Group) bool { return g.OnlineOn(s1) })
	}
	if err := c.StopAllGroups(ctx, s1); err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		k.watch(t, c, g, func(g Group) bool { return g.Status == StatusOffline })
	}
	if err := c.StartAllGroups(ctx, noSuch); err == nil {
		t.Error("StartAllGroups on an unknown server was accepted")
	}
}

func (k *contract) serverStatusIs(t *testing.T, c *Client, server string, want Status) {
	t.Helper()
	eventually(t, k.env.OpTimeout, func() (bool, string) {
		s, err := c.GetServer(k.ctx(t), server)
		return err == nil && s.Status == want, fmt.Sprintf("server %s: %+v, %v", server, s, err)
	})
}

func (k *contract) lastServer() string { return k.env.Servers[len(k.env.Servers)-1] }

func (k *contract) serverStopStart(t *testing.T) {
	c := k.newClient(t)
	ctx := k.ctx(t)
	s := k.lastServer()
	if err := c.StopServer(ctx, s); err != nil {
		t.Fatal(err)
	}
	k.serverStatusIs(t, c, s, StatusOffline)
	if err := c.StartServer(ctx, s); err != nil {
		t.Fatal(err)
	}
	k.serverStatusIs(t, c, s, StatusOnline)
}

// serverDownFailover kills the server the client talks to and the group
// runs on: the client moves to the next URL and remembers it, and ECX fails
// the group over inside the cluster.
func (k *contract) serverDownFailover(t *testing.T) {
	c := k.newClient(t)
	ctx := k.ctx(t)
	s1, s2 := k.env.Servers[0], k.env.Servers[1]
	if _, err := c.StartGroupAndWait(ctx, k.env.Group, s1, k.env.OpTimeout); err != nil {
		t.Fatal(err)
	}
	if c.LastURL() != c.URLs()[0] {
		t.Fatalf("LastURL %q before the failure", c.LastURL())
	}
	if err := k.env.Sim.ServerDown(s1); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = k.env.Sim.ServerUp(s1)
		_, _ = c.StopGroupAndWait(context.Background(), k.env.Group, k.env.OpTimeout)
	})
	if _, err := c.GetCluster(ctx); err != nil {
		t.Fatalf("with the first server dead: %v", err)
	}
	if c.LastURL() != c.URLs()[1] {
		t.Errorf("LastURL = %q, want %q", c.LastURL(), c.URLs()[1])
	}
	g, _ := k.watch(t, c, k.env.Group, func(g Group) bool { return g.OnlineOn(s2) })
	if !g.OnlineOn(s2) {
		t.Errorf("after failover: %+v", g)
	}
	k.serverStatusIs(t, c, s1, StatusOffline)
	if err := k.env.Sim.ServerUp(s1); err != nil {
		t.Fatal(err)
	}
	k.serverStatusIs(t, c, s1, StatusOnline)
	if g, err := c.GetGroup(ctx, k.env.Group); err != nil || !g.OnlineOn(s2) {
		t.Errorf("the group failed back: %+v, %v", g, err)
	}
}

func (k *contract) serverRebootShutdown(t *testing.T) {
	c := k.newClient(t)
	ctx := k.ctx(t)
	s := k.lastServer()
	t.Cleanup(func() { _ = k.env.Sim.ServerUp(s) })
	if err := c.RebootServer(ctx, s); err != nil {
		t.Fatal(err)
	}
	k.serverStatusIs(t, c, s, StatusOffline)
	k.serverStatusIs(t, c, s, StatusOnline)
	if err := c.ShutdownServer(ctx, s); err != nil {
		t.Fatal(err)
	}
	k.serverStatusIs(t, c, s, StatusOffline)
	if err := c.StartServer(ctx, s); !errors.Is(err, ErrRejected) {
		t.Errorf("StartServer on a powered-off server: %v, want ErrRejected", err)
	}
	if err := k.env.Sim.ServerUp(s); err != nil {
		t.Fatal(err)
	}
	k.serverStatusIs(t, c, s, StatusOnline)
}

func (k *contract) clusterSuspendResume(t *testing.T) {
	c := k.newClient(t)
	ctx := k.ctx(t)
	mon := k.clusterMonitor(t, c)
	if err := c.SuspendCluster(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.ResumeCluster(context.Background()) })
	eventually(t, k.env.OpTimeout, func() (bool, string) {
		m, err := c.GetMonitor(ctx, mon)
		return err == nil && m.Status == StatusSuspend, fmt.Sprintf("%+v, %v", m, err)
	})
	if err := c.StartGroup(ctx, k.env.Group, k.env.Servers[0]); !errors.Is(err, ErrRejected) {
		t.Errorf("StartGroup in a suspended cluster: %v, want ErrRejected", err)
	}
	if err := c.ResumeCluster(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, k.env.OpTimeout, func() (bool, string) {
		m, err := c.GetMonitor(ctx, mon)
		return err == nil && m.Status == StatusNormal, fmt.Sprintf("%+v, %v", m, err)
	})
}

func (k *contract) clusterIs(t *testing.T, c *Client, want Status) {
	t.Helper()
	eventually(t, k.env.OpTimeout, func() (bool, string) {
		cl, err := c.GetCluster(k.ctx(t))
		return err == nil && cl.Status == want, fmt.Sprintf("%+v, %v", cl, err)
	})
}

func (k *contract) autoGroupOnline(t *testing.T, c *Client) {
	t.Helper()
	if k.env.Sim.AutoGroup == "" {
		return
	}
	k.watch(t, c, k.env.Sim.AutoGroup, func(g Group) bool { return g.OnlineOn("") })
}

func (k *contract) clusterStopStart(t *testing.T) {
	c := k.newClient(t)
	ctx := k.ctx(t)
	if err := c.StopCluster(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.StartCluster(context.Background()) })
	k.clusterIs(t, c, StatusOffline)
	for _, s := range k.env.Servers {
		k.serverStatusIs(t, c, s, StatusOffline)
	}
	if k.env.Sim.AutoGroup != "" {
		k.watch(t, c, k.env.Sim.AutoGroup, func(g Group) bool { return g.Status == StatusOffline })
	}
	if err := c.StartCluster(ctx); err != nil {
		t.Fatal(err)
	}
	k.clusterIs(t, c, StatusOnline)
	for _, s := range k.env.Servers {
		k.serverStatusIs(t, c, s, StatusOnline)
	}
	k.autoGroupOnline(t, c)
}

func (k *contract) clusterRebootShutdown(t *testing.T) {
	c := k.newClient(t)
	ctx := k.ctx(t)
	t.Cleanup(func() { _ = k.env.Sim.ClusterUp() })
	if err := c.RebootCluster(ctx); err != nil {
		t.Fatal(err)
	}
	// The servers go away (their REST endpoints with them) and come back.
	eventually(t, k.env.OpTimeout, func() (bool, string) {
		_, err := c.GetCluster(ctx)
		cl, _ := c.GetCluster(ctx)
		return errors.Is(err, ErrUnreachable) || cl.Status == StatusOffline, fmt.Sprintf("%+v, %v", cl, err)
	})
	k.clusterIs(t, c, StatusOnline)
	k.autoGroupOnline(t, c)
	if err := c.ShutdownCluster(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, k.env.OpTimeout, func() (bool, string) {
		_, err := c.GetCluster(ctx)
		return errors.Is(err, ErrUnreachable), fmt.Sprintf("after shutdown: %v", err)
	})
	_, err := c.ListGroups(ctx)
	var ue *UnreachableError
	if !errors.As(err, &ue) || len(ue.Attempts) != len(k.env.Servers) {
		t.Errorf("shut-down cluster: %v, want *UnreachableError with every server", err)
	}
	if err := k.env.Sim.ClusterUp(); err != nil {
		t.Fatal(err)
	}
	k.clusterIs(t, c, StatusOnline)
	k.autoGroupOnline(t, c)
}
