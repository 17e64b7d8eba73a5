package controller_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cset-project/cset/ecxsim"
	"github.com/cset-project/cset/internal/clustertest"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"github.com/miekg/dns"
)

// httpProbe is the probe of the probe tests: short timings so that a failing probe decides
// within a few seconds.
func httpProbe(dnsMode string, failover bool) *apiv1.ProbeSpec {
	return &apiv1.ProbeSpec{Target: fmt.Sprintf("http://:%d/", servePort), TimeoutMs: 300, IntervalMs: 300, GraceMs: 1500,
		HealthyAfter: 1, UnhealthyAfter: 2, Dns: dnsMode, Failover: failover}
}

// lookup returns the A records the first master's DNS server answers for name in the zone.
func (e *env) lookup(name string) ([]string, error) {
	m := new(dns.Msg)
	m.SetQuestion(name+".cset.test.", dns.TypeA)
	r, _, err := (&dns.Client{Timeout: time.Second}).Exchange(m, e.c.Nodes[0].Server.Addrs().DNS)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out, nil
}

// dnsWatch records every distinct A answer for name until stopped.
type dnsWatch struct {
	mu   sync.Mutex
	seen map[string]bool
	stop func()
}

func (e *env) watchDNS(name string) *dnsWatch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &dnsWatch{seen: map[string]bool{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if addrs, err := e.lookup(name); err == nil {
				w.mu.Lock()
				w.seen[strings.Join(addrs, ",")] = true
				w.mu.Unlock()
			}
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	w.stop = func() { cancel(); <-done }
	return w
}

func (w *dnsWatch) answers() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for a := range w.seen {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

func (e *env) waitDNS(name string, want string, timeout time.Duration) {
	e.t.Helper()
	testutil.Eventually(e.t, timeout, func() error {
		got, err := e.lookup(name)
		if err != nil {
			return err
		}
		if strings.Join(got, ",") != want {
			return fmt.Errorf("%s answers %q, want %q", name, got, want)
		}
		return nil
	})
}

func (e *env) setService(member, group, mode string) {
	e.t.Helper()
	if err := e.sim.SetServiceMode(member, group, mode); err != nil {
		e.t.Fatal(err)
	}
}

// A planned move to a member where ECX reports the group Online but clients cannot connect
// never switches DNS there: the probe fails for the grace, the group is stopped there and
// started again on its source, and the operation fails with the probe's error. Once the
// service answers, the same move succeeds and DNS follows.
func TestProbe_DNSNeverPointsAtAnUnreachableTarget(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{members: []string{"east", "west"}, groups: []string{"web"}, probe: httpProbe("keep", false), dns: true})
	e.waitOnline("web", "east", 15*time.Second)
	east, west := e.address(0, 0), e.address(1, 0)
	e.waitDNS("web", east, 10*time.Second)
	testutil.Eventually(t, 10*time.Second, func() error {
		if r := e.workload("web").GetProbeResult().GetReachability(); r != "reachable" {
			return fmt.Errorf("probe result %q, want reachable", r)
		}
		return nil
	})

	e.setService("west", "web", ecxsim.ServiceRefuse)
	watch := e.watchDNS("web")
	op, err := e.client().MoveWorkload(clustertest.Ctx(t), &apiv1.MoveWorkloadRequest{Name: "web", ToMember: "west"})
	if err != nil {
		t.Fatal(err)
	}
	var final *apiv1.Operation
	testutil.Eventually(t, 20*time.Second, func() error {
		final, err = e.client().GetOperation(clustertest.Ctx(t), &apiv1.GetRequest{Name: op.GetId()})
		if err != nil {
			return err
		}
		if final.GetPhase() != "failed" {
			return fmt.Errorf("operation %s is %s, want failed", op.GetId(), final.GetPhase())
		}
		return nil
	})
	e.waitOnline("web", "east", 15*time.Second)
	e.waitDNS("web", east, 10*time.Second)
	watch.stop()
	if got := watch.answers(); slices.Contains(got, west) {
		t.Errorf("DNS answered the unreachable target %s during the move (answers seen: %q)", west, got)
	}
	if !strings.Contains(final.GetError(), "clients cannot reach it") || !strings.Contains(final.GetError(), "connection refused") {
		t.Errorf("operation error %q, want the probe's error", final.GetError())
	}
	if evs := e.events("clients cannot reach it"); len(evs) == 0 {
		t.Error("no event tells that the probe failed")
	}

	e.setService("west", "web", ecxsim.ServiceOK)
	op, err = e.client().MoveWorkload(clustertest.Ctx(t), &apiv1.MoveWorkloadRequest{Name: "web", ToMember: "west"})
	if err != nil {
		t.Fatal(err)
	}
	w := e.waitOnline("web", "west", 15*time.Second)
	if w.GetOperationId() != op.GetId() || w.GetProbeResult().GetReachability() != "reachable" {
		t.Errorf("after the second move: operation %s (want %s), probe result %v", w.GetOperationId(), op.GetId(), w.GetProbeResult())
	}
	e.waitDNS("web", west, 10*time.Second)
}

// While the workload runs, the leader keeps probing: with dns: withhold, a workload whose
// service stops answering is shown unreachable and DNS stops answering its address, and both
// come back when the service answers again. ECX reports Online throughout, so nothing moves.
func TestProbe_UnreachableWhileOnlineWithholdsDNS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{members: []string{"east", "west"}, groups: []string{"web"}, probe: httpProbe("withhold", false), dns: true})
	e.waitOnline("web", "east", 15*time.Second)
	east := e.address(0, 0)
	e.waitDNS("web", east, 10*time.Second)

	e.setService("east", "web", ecxsim.ServiceError)
	testutil.Eventually(t, 10*time.Second, func() error {
		r := e.workload("web").GetProbeResult()
		if r.GetReachability() != "unreachable" || !strings.Contains(r.GetError(), "status 503") {
			return fmt.Errorf("probe result %v, want unreachable with status 503", r)
		}
		return nil
	})
	e.waitDNS("web", "", 10*time.Second)
	if w := e.workload("web"); w.GetMember() != "east" || w.GetStatus() != "Online" {
		t.Errorf("web is %s on %s, want still Online on east (probe failover is off)", w.GetStatus(), w.GetMember())
	}
	if len(e.events("clients cannot reach it")) == 0 {
		t.Error("no event tells that web became unreachable")
	}

	e.setService("east", "web", ecxsim.ServiceOK)
	e.waitDNS("web", east, 10*time.Second)
	if r := e.workload("web").GetProbeResult(); r.GetReachability() != "reachable" || r.GetError() != "" {
		t.Errorf("probe result %v, want reachable without an error", r)
	}
}

// With probe failover, a workload its clients cannot reach where it runs is moved to another
// candidate, and DNS follows it there.
func TestProbe_FailoverMovesAnUnreachableWorkload(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{members: []string{"east", "west"}, groups: []string{"web"}, probe: httpProbe("keep", true), dns: true})
	e.waitOnline("web", "east", 15*time.Second)
	e.setService("east", "web", ecxsim.ServiceTimeout)
	w := e.waitOnline("web", "west", 20*time.Second)
	e.waitDNS("web", e.address(1, 0), 10*time.Second)
	op, err := e.client().GetOperation(clustertest.Ctx(t), &apiv1.GetRequest{Name: w.GetOperationId()})
	if err != nil {
		t.Fatal(err)
	}
	if op.GetReason() != "unreachable" || op.GetSourceMember() != "east" {
		t.Errorf("the move was %s from %q, want unreachable from east", op.GetReason(), op.GetSourceMember())
	}
	if evs := e.events("no answer within the probe timeout"); len(evs) == 0 {
		t.Error("no event names the probe's timeout")
	}
}
