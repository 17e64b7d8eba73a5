package controller_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/internal/clustertest"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"github.com/miekg/dns"
)

// A workload without auto-failover whose member dies stays where it is, but it is not Online
// there any more and DNS stops answering its address as soon as the member is down (issue 11,
// case 7: DNS kept answering the dead member's address and 'workload show' said Online).
func TestController_DownMemberLeavesDNS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{members: []string{"east", "west"}, groups: []string{"web"},
		tune: func(cfg *config.Config) { cfg.DNSAddr = "127.0.0.1:0" }})
	ctx := clustertest.Ctx(t)
	w := e.waitOnline("web", "east", 15*time.Second)
	if _, err := e.client().RegisterWorkload(ctx, &apiv1.RegisterWorkloadRequest{Name: "web", Group: "web", Candidates: w.GetCandidates(),
		Addresses: w.GetAddresses(), NoAutoFailover: true, HookTimeoutSeconds: 10, Update: true}); err != nil {
		t.Fatal(err)
	}
	dnsAddr := e.c.Nodes[0].Server.Addrs().DNS
	answer := func() ([]dns.RR, error) {
		m := new(dns.Msg)
		m.SetQuestion("web.cset.test.", dns.TypeA)
		r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, dnsAddr)
		if err != nil {
			return nil, err
		}
		return r.Answer, nil
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		rr, err := answer()
		if err != nil || len(rr) != 1 {
			return fmt.Errorf("web answers %v (%v), want east's address", rr, err)
		}
		return nil
	})
	if err := e.sim.ClusterDown("east"); err != nil {
		t.Fatal(err)
	}
	e.waitHealth("east", "down", 20*time.Second)
	testutil.Eventually(t, 5*time.Second, func() error {
		if rr, err := answer(); err != nil || len(rr) != 0 {
			return fmt.Errorf("east is down but web answers %v (%v)", rr, err)
		}
		if got := e.workload("web"); got.GetStatus() == "Online" {
			return fmt.Errorf("web reads Online on %s, which is down", got.GetMember())
		}
		return nil
	})
	// Without auto-failover it stays placed on east (nothing starts it elsewhere) ...
	if got := e.workload("web"); got.GetMember() != "east" {
		t.Errorf("web moved to %s without auto-failover", got.GetMember())
	}
	// ... and comes back into DNS once east is up again and the group is started there.
	if err := e.sim.ClusterUp("east"); err != nil {
		t.Fatal(err)
	}
	e.waitHealth("east", "up", 20*time.Second)
}
