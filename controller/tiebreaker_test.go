package controller_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/internal/clustertest"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

// TestTiebreaker_TwoSitesSurviveTheLossOfEither is the two-site layout with a third-site
// tie-breaker (docs/design.md, "Two sites and a tie-breaker"): site a holds master m1 and member
// east, site b master m2 and member west, and the third site the tie-breaker m3 and the witness.
// Whichever site is lost, with its master leading and the workload running there, the
// surviving master and the tie-breaker keep a Raft majority, a full master leads, and the
// workload fails over to the surviving member. The harness checks the audit: never online on
// two members.
func TestTiebreaker_TwoSitesSurviveTheLossOfEither(t *testing.T) {
	t.Parallel()
	for _, site := range []struct{ master, member, other string }{{"m1", "east", "west"}, {"m2", "west", "east"}} {
		t.Run("lose "+site.master+"+"+site.member, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOpts{masters: 3, members: []string{"east", "west"}, groups: []string{"web"}, tune: func(cfg *config.Config) {
				if cfg.NodeID == "m3" {
					cfg.Role, cfg.Witness = config.RoleTiebreaker, ""
				}
			}})
			ctx := clustertest.Ctx(t)
			e.waitOnline("web", "", 20*time.Second)
			// The lost site holds the leader and the workload.
			testutil.Eventually(t, 20*time.Second, func() error {
				l := e.c.Leader()
				if l != nil && l.ID == site.master {
					return nil
				}
				if l != nil {
					_, _ = l.Client().RaftTransferLeader(ctx, &apiv1.RaftTransferLeaderRequest{Id: site.master})
				}
				return fmt.Errorf("leader %v, want %s", l, site.master)
			})
			if w := e.workload("web"); w.GetMember() != site.member {
				if _, err := e.client().MoveWorkload(ctx, &apiv1.MoveWorkloadRequest{Name: "web", ToMember: site.member}); err != nil {
					t.Fatal(err)
				}
			}
			e.waitOnline("web", site.member, 20*time.Second)

			var lost *clustertest.Node
			for _, n := range e.c.Nodes {
				if n.ID == site.master {
					lost = n
				}
			}
			e.c.Stop(lost)
			if err := e.sim.ClusterDown(site.member); err != nil {
				t.Fatal(err)
			}
			e.waitOnline("web", site.other, 40*time.Second)
			if l := e.c.Leader(); l == nil || l.ID == "m3" {
				t.Fatalf("leader %v after the failover: want the surviving full master", l)
			}
		})
	}
}
