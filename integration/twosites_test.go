package integration

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/ecxsim"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

// How long a lost site's workload may take to fail over: a leader change (when the lost
// master led), the witness lease of the dead leader running out (lease_ttl), the member
// declared down (fence_after) and the start on the other site, on a loaded 2-core machine.
const siteFailoverTimeout = 60 * time.Second

// A site of the two-site layout: its full master and the ECX member it runs, with the
// address the workload has there.
type site struct {
	master  *node
	member  string
	address string
}

// TestCluster_TwoSitesFailOverEachLostSite runs the two-site layout of docs/operations.md ("Two
// sites and a tie-breaker") as real processes: full masters a1 (site A) and b1 (site B), the
// tie-breaker t1 and a `csetd witness` (site C), and one ecxsim of two members, site-a and
// site-b, whose servers heartbeat the witness and run the member guard, with the workload web
// that can run on either. Each site in turn is lost while web runs there: its master is
// killed (SIGKILL) and its member dies (ecxsim's control call down). The surviving full master
// leads, declares the lost member down and fails web over to its own site: `workload show`
// places web there and its DNS answers web's address there. The site is then restored (the
// member comes back empty, the master restarts on its data directory and rejoins as a voter)
// before the other site is lost. Throughout, ecxsim's audit never shows web online on both
// members at once.
func TestCluster_TwoSitesFailOverEachLostSite(t *testing.T) {
	t.Parallel()
	requireBinaries(t)
	_, witnessURL := startWitnessProc(t, "witness")
	a, b, tb := newNode(t, "a1"), newNode(t, "b1"), newNode(t, "t1")
	// The guards heartbeat the full masters: their gRPC ports are fixed before anything starts.
	a.addrs.GRPC, b.addrs.GRPC = testutil.FreeAddr(t), testutil.FreeAddr(t)
	cfgPath := filepath.Join(t.TempDir(), "csetd.yaml")
	if err := os.WriteFile(cfgPath, []byte(witnessMasterConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	A := &site{master: a, member: "site-a", address: "10.1.0.10"}
	B := &site{master: b, member: "site-b", address: "10.2.0.10"}

	var cfg strings.Builder
	cfg.WriteString("clusters:\n")
	for _, s := range []*site{A, B} {
		m := s.member
		fmt.Fprintf(&cfg, "  - name: %s\n    user: admin\n    password: pw-%s\n    heartbeat_timeout: 1200ms\n    heartbeat_interval: 250ms\n", m, m)
		fmt.Fprintf(&cfg, "    witness_url: %s\n", witnessURL)
		fmt.Fprintf(&cfg, "    guard: {masters: [%s, %s], timeout: 1200ms, stop_timeout: 500ms}\n", a.addrs.GRPC, b.addrs.GRPC)
		fmt.Fprintf(&cfg, "    servers:\n      - {name: %s-1, listen: \"127.0.0.1:0\"}\n      - {name: %s-2, listen: \"127.0.0.1:0\"}\n", m, m)
		cfg.WriteString("    groups:\n      - {name: web, auto_start: false, start_duration: 200ms, stop_duration: 100ms}\n")
	}
	sim := startSim(t, cfg.String())
	checkAudit := func() {
		t.Helper()
		if err := ecxsim.CheckNoDoubleOnline(sim.audit(t)); err != nil {
			t.Errorf("ecxsim audit: %v", err)
		}
	}
	t.Cleanup(func() {
		if !sim.p.Exited() {
			checkAudit()
		}
	})

	full := []string{"-config", cfgPath, "-witness", witnessURL}
	a.start(append([]string{"-bootstrap"}, full...)...)
	waitLeader(t, a)
	b.start(append([]string{"-join", a.grpcAddr()}, full...)...)
	tb.start("-role", "tiebreaker", "-join", a.grpcAddr())
	all := []*node{a, b, tb}
	waitLeader(t, all...)
	waitMasters(t, all, "a1", "b1", "t1")

	ctx := context.Background()
	api := tb.client() // the tie-breaker forwards writes to the leader
	if _, err := api.InitSet(ctx, &apiv1.InitSetRequest{Name: "prod", Zone: "cset.example.com."}); err != nil {
		t.Fatal(err)
	}
	reg := &apiv1.RegisterWorkloadRequest{Name: "web", Group: "web", Candidates: []string{A.member, B.member}, Addresses: map[string]*apiv1.AddressList{}}
	for _, s := range []*site{A, B} {
		req := &apiv1.AddMemberRequest{Name: s.member, User: "admin", Password: "pw-" + s.member}
		for _, srv := range []string{s.member + "-1", s.member + "-2"} {
			req.Servers = append(req.Servers, &apiv1.ServerSpec{Name: srv, Url: sim.servers[s.member][srv]})
		}
		if _, err := api.AddMember(ctx, req); err != nil {
			t.Fatal(err)
		}
		reg.Addresses[s.member] = &apiv1.AddressList{Addresses: []string{s.address}}
	}
	if _, err := api.RegisterWorkload(ctx, reg); err != nil {
		t.Fatal(err)
	}
	// web starts on its first candidate, site A's member.
	waitWebOn(t, sim, a, A, 30*time.Second)

	for _, round := range [][2]*site{{A, B}, {B, A}} {
		lost, survivor := round[0], round[1]
		// web runs on the site about to be lost (site B's after the first round's failover).
		waitWebOn(t, sim, survivor.master, lost, 30*time.Second)
		lost.master.kill()
		sim.call(t, http.MethodPost, "/sim/v1/clusters/"+lost.member+"/down")
		killed := time.Now()

		testutil.Eventually(t, leaderTimeout, func() error {
			if l := waitLeader(t, survivor.master, tb); l != survivor.master {
				return fmt.Errorf("leader %s, want the surviving full master %s", l.id, survivor.master.id)
			}
			return nil
		})
		waitWebOn(t, sim, survivor.master, survivor, siteFailoverTimeout)
		t.Logf("site %s lost: web Online on %s and in DNS after %v", lost.member, survivor.member, time.Since(killed).Round(100*time.Millisecond))
		if h, why := memberHealth(t, survivor.master, lost.member); h != "down" {
			t.Errorf("%s is %s (%s) after web failed over from it, want down", lost.member, h, why)
		}
		show := ctlOK(t, survivor.master.grpcAddr(), "workload", "show", "web").stdout
		if !strings.Contains(show, "placement:        "+survivor.member+"/"+survivor.member+"-") || !strings.Contains(show, " Online since ") {
			t.Errorf("workload show web on %s does not place web Online on %s:\n%s", survivor.master.id, survivor.member, show)
		}
		checkAudit()

		// Site restored: the member comes back empty (manual start) and the master rejoins.
		sim.call(t, http.MethodPost, "/sim/v1/clusters/"+lost.member+"/up")
		lost.master.start(full...)
		waitLeader(t, all...)
		waitMasters(t, all, "a1", "b1", "t1")
		testutil.Eventually(t, 30*time.Second, func() error {
			if h, why := memberHealth(t, survivor.master, lost.member); h != "up" {
				return fmt.Errorf("%s is %s (%s), want up", lost.member, h, why)
			}
			return nil
		})
		// web stays where it failed over to (failback never), on every master's DNS.
		waitWebOn(t, sim, lost.master, survivor, 30*time.Second)
		checkAudit()
	}
}

// waitWebOn waits until n places web Online on s's member, the simulator runs it there and
// nowhere else (its one open audit interval), and n's DNS answers web's address there.
func waitWebOn(t *testing.T, sim *simProc, n *node, s *site, timeout time.Duration) {
	t.Helper()
	testutil.Eventually(t, timeout, func() error {
		var open []string
		for _, r := range sim.audit(t) {
			if r.Group == "web" && r.OnlineUntil == nil {
				open = append(open, r.Cluster+"/"+r.Server)
			}
		}
		if len(open) != 1 || !strings.HasPrefix(open[0], s.member+"/") {
			return fmt.Errorf("ecxsim runs web on %v, want on %s alone", open, s.member)
		}
		var w struct {
			Member string `json:"member"`
			Status string `json:"status"`
		}
		if err := ctlJSONErr(t, n.grpcAddr(), &w, "workload", "show", "web"); err != nil {
			return err
		}
		if w.Member != s.member || w.Status != "Online" {
			return fmt.Errorf("%s places web %q on %q, want Online on %s", n.id, w.Status, w.Member, s.member)
		}
		got, err := lookupA(n.dnsAddr(), "web.cset.example.com.")
		if err != nil {
			return fmt.Errorf("%s DNS: %w", n.id, err)
		}
		if strings.Join(got, ",") != s.address {
			return fmt.Errorf("%s DNS answers web with %q, want %s (%s)", n.id, got, s.address, s.member)
		}
		return nil
	})
}

// memberHealth returns a member's health and its reason as n sees it.
func memberHealth(t *testing.T, n *node, member string) (string, string) {
	t.Helper()
	r, err := n.client().GetMember(context.Background(), &apiv1.GetRequest{Name: member})
	if err != nil {
		return "", err.Error()
	}
	return r.GetMember().GetHealth(), r.GetMember().GetHealthReason()
}
