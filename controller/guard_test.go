package controller_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cset-project/cset/ecxsim"
	"github.com/cset-project/cset/internal/clustertest"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

// The member guard and the master rule (docs/design.md, "Split-brain
// protection"), end to end: masters, witness and simulated members whose servers run the guard.

func other(member string) string {
	if member == "east" {
		return "west"
	}
	return "east"
}

// waitGuardsKnow waits until every guard of member protects group.
func waitGuardsKnow(e *env, member, group string) {
	e.t.Helper()
	testutil.Eventually(e.t, 10*time.Second, func() error {
		for _, s := range []string{member + "-1", member + "-2"} {
			st, err := e.sim.GuardStatus(member, s)
			if err != nil {
				return err
			}
			if !slices.Contains(st.Managed, group) {
				return fmt.Errorf("the guard of %s protects %v, not yet %s", s, st.Managed, group)
			}
		}
		return nil
	})
}

// holdFor checks cond every poll interval for d; it fails at the first violation.
func holdFor(e *env, d time.Duration, cond func() error) {
	e.t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(pollInterval) {
		if err := cond(); err != nil {
			e.t.Fatal(err)
		}
	}
}

// TestGuard_SiteIsolationStopsTheWorkloadBeforeFailover is issue 11, case 1: the member running a
// workload loses the masters and the witness but its servers still see each other, so ECX fences
// nothing. Its guards stop the workload before the masters declare it down; the workload then
// comes up on the other member and was never online on both.
func TestGuard_SiteIsolationStopsTheWorkloadBeforeFailover(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{members: []string{"east", "west"}, groups: []string{"web"}, guards: true})
	w := e.waitOnline("web", "", 20*time.Second)
	from, to := w.GetMember(), other(w.GetMember())
	waitGuardsKnow(e, from, "web")

	cut := time.Now()
	if err := e.sim.Isolate(from); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.CutWitness(from); err != nil {
		t.Fatal(err)
	}
	e.waitOnline("web", to, 30*time.Second)
	if err := ecxsim.CheckNoDoubleOnline(e.sim.Audit()); err != nil {
		t.Fatalf("web ran on both members: %v", err)
	}
	// The guard stopped it (nobody else could reach it), within its timeout of the cut.
	var stoppedAt time.Time
	for _, r := range e.sim.Audit() {
		if r.Cluster == from && r.Group == "web" && r.OnlineUntil != nil {
			stoppedAt = *r.OnlineUntil
		}
	}
	// Nobody but its guards could stop it: the masters cannot reach it. (The bound is loose: a
	// loaded machine delays the guard's round, never the rule.)
	if stoppedAt.IsZero() || stoppedAt.Sub(cut) > 2*fenceAfter {
		t.Fatalf("web on %s stopped at %v, %v after the cut: want the guard to stop it within about %v", from, stoppedAt, stoppedAt.Sub(cut), guardTimeout+guardStopTimeout)
	}
	st, err := e.sim.GuardStatus(from, w.GetServer())
	if err != nil || !st.Enforcing {
		t.Fatalf("guard of %s: %+v %v, want enforcing", w.GetServer(), st, err)
	}
	e.waitHealth(from, "down", 10*time.Second)

	// The site comes back: its guards stand down, web stays where it is.
	if err := e.sim.Heal(from); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.HealWitness(from); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if st, _ := e.sim.GuardStatus(from, w.GetServer()); st.Enforcing {
			return errors.New("the guard still enforces after the site healed")
		}
		return nil
	})
	e.waitOnline("web", to, 10*time.Second)
}

// TestGuard_WitnessOutageAloneStopsNothing: with the witness gone for several fence_after
// periods, the guards are still acknowledged by the masters, so nothing stops and no member is
// declared down.
func TestGuard_WitnessOutageAloneStopsNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{members: []string{"east", "west"}, groups: []string{"web"}, guards: true})
	w := e.waitOnline("web", "", 20*time.Second)
	waitGuardsKnow(e, w.GetMember(), "web")
	e.witnessSrv.CloseClientConnections()
	e.witnessSrv.Close()
	holdFor(e, 3*fenceAfter, func() error {
		if got := e.simRunning("web"); len(got) != 1 || got[0] != w.GetMember() {
			return fmt.Errorf("without the witness web runs on %v, want only %s", got, w.GetMember())
		}
		for _, m := range []string{"east", "west"} {
			st, err := e.sim.GuardStatus(m, m+"-1")
			if err != nil {
				return err
			}
			if st.Enforcing {
				return fmt.Errorf("the guard of %s-1 enforces although the masters acknowledge it", m)
			}
		}
		return nil
	})
	for _, m := range []string{"east", "west"} {
		e.waitHealth(m, "up", time.Second)
	}
}

// TestGuard_MasterOutageAloneStopsNothing: with every master stopped, the guards are still
// acknowledged by the witness: the workload keeps running.
func TestGuard_MasterOutageAloneStopsNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{members: []string{"east", "west"}, groups: []string{"web"}, guards: true})
	w := e.waitOnline("web", "", 20*time.Second)
	waitGuardsKnow(e, w.GetMember(), "web")
	for _, n := range e.c.Nodes {
		e.c.Stop(n)
	}
	holdFor(e, 3*guardTimeout+time.Second, func() error {
		if got := e.simRunning("web"); len(got) != 1 || got[0] != w.GetMember() {
			return fmt.Errorf("without the masters web runs on %v, want only %s", got, w.GetMember())
		}
		if st, _ := e.sim.GuardStatus(w.GetMember(), w.GetServer()); st.Enforcing {
			return errors.New("the guard enforces although the witness acknowledges it")
		}
		return nil
	})
}

// TestGuard_OneWayCutIsNotFailedOver: the masters cannot reach the member's REST API and the
// member is cut off the witness, but its guards still reach the masters. The masters hear it, so
// they never declare it down, and its guards, acknowledged, stop nothing.
func TestGuard_OneWayCutIsNotFailedOver(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{members: []string{"east", "west"}, groups: []string{"web"}, guards: true})
	w := e.waitOnline("web", "", 20*time.Second)
	from := w.GetMember()
	waitGuardsKnow(e, from, "web")
	if err := e.sim.IsolateOneWay(from); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.CutWitness(from); err != nil {
		t.Fatal(err)
	}
	e.waitHealth(from, "partitioned", 10*time.Second)
	holdFor(e, 2*fenceAfter, func() error {
		if got := e.simRunning("web"); len(got) != 1 || got[0] != from {
			return fmt.Errorf("after a one-way cut web runs on %v, want only %s", got, from)
		}
		m, err := e.client().GetMember(t.Context(), &apiv1.GetRequest{Name: from})
		if err == nil && m.GetMember().GetHealth() == "down" {
			return fmt.Errorf("%s declared down although its guards reach the masters", from)
		}
		return nil
	})
	e.waitHealth(from, "partitioned", time.Second)
}

// A group is never started on a member whose guards do not know it yet: a workload registered
// while the guards of its preferred member cannot reach the masters waits until they confirm it,
// so that a site isolation right after the start cannot leave an unguarded copy running (the gap
// docs/design.md named: "a group the guard does not know yet").
func TestGuard_NoStartBeforeTheGuardsKnowTheGroup(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{members: []string{"east", "west"}, groups: []string{"web"}, spareGroups: []string{"late"}, guards: true})
	e.waitOnline("web", "", 20*time.Second)
	waitGuardsKnow(e, "east", "web")
	if err := e.sim.CutGuards("east"); err != nil {
		t.Fatal(err)
	}
	ctx := clustertest.Ctx(t)
	if _, err := e.client().RegisterWorkload(ctx, &apiv1.RegisterWorkloadRequest{Name: "late", Group: "late", Candidates: []string{"east", "west"},
		Addresses: map[string]*apiv1.AddressList{"east": {Addresses: []string{"10.1.0.99"}}, "west": {Addresses: []string{"10.2.0.99"}}}}); err != nil {
		t.Fatal(err)
	}
	// East's guards cannot learn "late": nothing starts it there meanwhile.
	holdFor(e, 2*time.Second, func() error {
		if got := e.simRunning("late"); len(got) != 0 {
			return fmt.Errorf("late started on %v while east's guards do not know it", got)
		}
		return nil
	})
	// Then the site is cut off completely: whatever runs there must be stopped by the guards, and
	// the workload fails over without ever running twice (the harness checks the audit).
	if err := e.sim.Isolate("east"); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.CutWitness("east"); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.HealGuards("east"); err != nil {
		t.Fatal(err)
	}
	e.waitOnline("late", "west", 30*time.Second)
	if err := ecxsim.CheckNoDoubleOnline(e.sim.Audit()); err != nil {
		t.Fatalf("late ran on both members: %v", err)
	}
}
