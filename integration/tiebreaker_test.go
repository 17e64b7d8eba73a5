package integration

import (
	"context"
	"fmt"
	"testing"

	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

// TestCluster_TiebreakerKeepsTwoSitesWritable runs the two-site layout as real processes: full
// masters a1 and b1, one per site, and the tie-breaker t1 at a third site. Each master site is
// killed in turn (kill -9): the other full master leads (never the tie-breaker for long), writes
// through the tie-breaker still commit, and the killed master comes back as a voter.
func TestCluster_TiebreakerKeepsTwoSitesWritable(t *testing.T) {
	t.Parallel()
	requireBinaries(t)
	a, b, tb := newNode(t, "a1"), newNode(t, "b1"), newNode(t, "t1")
	a.start("-bootstrap")
	waitLeader(t, a)
	b.start("-join", a.grpcAddr())
	tb.start("-role", "tiebreaker", "-join", a.grpcAddr())
	all := []*node{a, b, tb}
	waitLeader(t, all...)
	waitMasters(t, all, "a1", "b1", "t1")
	st, err := tb.client().Status(context.Background(), &apiv1.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range st.GetMasters() {
		if m.GetTiebreaker() != (m.GetId() == "t1") {
			t.Fatalf("masters %v: want t1 alone listed as the tie-breaker", st.GetMasters())
		}
	}
	ctlOK(t, tb.grpcAddr(), "set", "init", "prod", "--zone", "cset.example.com")

	for i, pair := range [][2]*node{{a, b}, {b, a}} {
		lost, survivor := pair[0], pair[1]
		lost.kill()
		testutil.Eventually(t, leaderTimeout, func() error {
			l := waitLeader(t, survivor, tb)
			if l != survivor {
				return fmt.Errorf("leader %s, want the surviving full master %s", l.id, survivor.id)
			}
			return nil
		})
		// A write through the tie-breaker is forwarded to the leader and commits.
		ctlOK(t, tb.grpcAddr(), "faultdomain", "create", fmt.Sprintf("rack-%d", i))
		lost.start()
		waitLeader(t, all...)
		waitMasters(t, all, "a1", "b1", "t1")
	}
}
