package controller_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/cset-project/cset/ecxsim"
	"github.com/cset-project/cset/internal/clustertest"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

// witnessGate is the front door of one of several witnesses: it can refuse everything (the
// witness is down) or drop the heartbeats of some clusters only (the witness is cut from those
// members' servers but still reaches the masters).
type witnessGate struct {
	h        http.Handler
	mu       sync.Mutex
	down     bool
	dropFrom map[string]bool
}

func (g *witnessGate) setDown(down bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.down = down
}

func (g *witnessGate) dropHeartbeats(cluster string, drop bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.dropFrom[cluster] = drop
}

func (g *witnessGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	down := g.down
	g.mu.Unlock()
	if down {
		http.Error(w, "witness down", http.StatusServiceUnavailable)
		return
	}
	if r.Method == http.MethodPost && r.URL.Path == "/v1/heartbeat" {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var hb struct{ Cluster string }
		_ = json.Unmarshal(body, &hb)
		g.mu.Lock()
		drop := g.dropFrom[hb.Cluster]
		g.mu.Unlock()
		if drop {
			http.Error(w, "cut from this cluster", http.StatusServiceUnavailable)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	g.h.ServeHTTP(w, r)
}

// TestWitnesses_MinorityCannotDeclareDownMajorityCan: three witnesses. The member running web is
// cut from the masters (REST and guard heartbeats) and one witness stops hearing it: a minority
// of witnesses has not heard it, so the member is partitioned, not down, and its guards (two of
// three witnesses acknowledge them) keep web running. Then a second witness stops hearing it: its
// guards, acknowledged by a minority only, stop web, the masters declare the member down on the
// majority's word, and web comes up on the other member, never on both.
func TestWitnesses_MinorityCannotDeclareDownMajorityCan(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{members: []string{"east", "west"}, groups: []string{"web"}, guards: true, witnesses: 3})
	w := e.waitOnline("web", "", 20*time.Second)
	from, to := w.GetMember(), other(w.GetMember())
	waitGuardsKnow(e, from, "web")

	if err := e.sim.Isolate(from); err != nil {
		t.Fatal(err)
	}
	e.gates[0].dropHeartbeats(from, true)
	e.waitHealth(from, "partitioned", 10*time.Second)
	holdFor(e, 2*fenceAfter, func() error {
		if got := e.simRunning("web"); len(got) != 1 || got[0] != from {
			return fmt.Errorf("with one of three witnesses silent web runs on %v, want only %s", got, from)
		}
		if h := e.workload("web"); h.GetMember() != from {
			return fmt.Errorf("web moved to %q on the word of one witness", h.GetMember())
		}
		m, err := e.client().GetMember(clustertest.Ctx(e.t), &apiv1.GetRequest{Name: from})
		if err != nil {
			return err
		}
		if h := m.GetMember().GetHealth(); h == "down" {
			return fmt.Errorf("%s declared down on the word of one witness: %s", from, m.GetMember().GetHealthReason())
		}
		return nil
	})
	if st, err := e.sim.GuardStatus(from, w.GetServer()); err != nil || st.Enforcing {
		t.Fatalf("guard of %s with two of three witnesses: %+v %v, want not enforcing", w.GetServer(), st, err)
	}

	e.gates[1].dropHeartbeats(from, true)
	e.waitOnline("web", to, 30*time.Second)
	e.waitHealth(from, "down", 10*time.Second)
	if err := ecxsim.CheckNoDoubleOnline(e.sim.Audit()); err != nil {
		t.Fatalf("web ran on both members: %v", err)
	}
	if st, err := e.sim.GuardStatus(from, w.GetServer()); err != nil || !st.Enforcing {
		t.Fatalf("guard of %s with one of three witnesses: %+v %v, want enforcing", w.GetServer(), st, err)
	}
}

// TestWitnesses_OneDownLeaseHoldsAndDeadMemberFailsOver: with one of three witnesses down the
// leader still holds its lease (two grant it) and a member that dies is still failed over: the
// two remaining witnesses are a majority that has heard none of its servers.
func TestWitnesses_OneDownLeaseHoldsAndDeadMemberFailsOver(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{members: []string{"east", "west"}, groups: []string{"web"}, guards: true, witnesses: 3})
	w := e.waitOnline("web", "", 20*time.Second)
	from, to := w.GetMember(), other(w.GetMember())
	e.gates[2].setDown(true)
	// The lease renewals reach two witnesses: a majority still grants the lease, well past a TTL.
	testutil.Eventually(t, 10*time.Second, func() error {
		st, err := e.client().Status(clustertest.Ctx(t), &apiv1.StatusRequest{})
		if err != nil {
			return err
		}
		if wi := st.GetWitness(); wi.GetGranting() != 2 || wi.GetMajority() != 2 || len(wi.GetWitnesses()) != 3 || wi.GetWitnesses()[2].GetLastError() == "" {
			return fmt.Errorf("witness status %v, want 2 of 3 granting and the third's error", wi)
		}
		return nil
	})
	holdFor(e, 2*time.Second, func() error { // one lease TTL
		if _, err := e.c.WaitForLeader().Server.FenceCheck(clustertest.Ctx(t)); err != nil {
			return fmt.Errorf("fence with two of three witnesses: %w", err)
		}
		return nil
	})
	if err := e.sim.ClusterDown(from); err != nil {
		t.Fatal(err)
	}
	e.waitOnline("web", to, 30*time.Second)
	e.waitHealth(from, "down", 10*time.Second)
}
