package server_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/internal/clustertest"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

// TestTiebreaker_HandsLeadershipToAFullMaster: a tie-breaker (m3) registers as one, and when it
// is made the leader it hands leadership to a full master at once, without ever starting the
// controller (it must never act for the set: no ECX calls, no witness lease, no guard
// acknowledgement).
func TestTiebreaker_HandsLeadershipToAFullMaster(t *testing.T) {
	t.Parallel()
	logs := &syncLog{}
	c := clustertest.NewWithLog(t, 3, func(cfg *config.Config) {
		if cfg.NodeID == "m3" {
			cfg.Role = config.RoleTiebreaker
		}
	}, logs)
	leader := c.WaitForLeader()
	ctx := clustertest.Ctx(t)
	testutil.Eventually(t, 10*time.Second, func() error {
		r, err := leader.Client().RaftPeers(ctx, &apiv1.RaftPeersRequest{})
		if err != nil {
			return err
		}
		for _, p := range r.GetPeers() {
			if p.GetTiebreaker() != (p.GetId() == "m3") || p.GetGrpcAddr() == "" {
				return fmt.Errorf("peers %v: want m3 alone registered as the tie-breaker", r.GetPeers())
			}
		}
		return nil
	})

	// Make the tie-breaker the leader; it must give leadership away again.
	testutil.Eventually(t, 20*time.Second, func() error {
		l := c.Leader()
		if l == nil {
			return fmt.Errorf("no leader")
		}
		if _, err := l.Client().RaftTransferLeader(ctx, &apiv1.RaftTransferLeaderRequest{Id: "m3"}); err != nil {
			return err
		}
		if !strings.Contains(logs.String(), "this tie-breaker leads") {
			return fmt.Errorf("m3 has not led yet")
		}
		return nil
	})
	testutil.Eventually(t, 20*time.Second, func() error {
		l := c.Leader()
		if l == nil || l.ID == "m3" {
			return fmt.Errorf("leader %v: want a full master", l)
		}
		if !strings.Contains(logs.String(), "leadership handed to a full master") {
			return fmt.Errorf("m3 has not handed leadership over yet")
		}
		return nil
	})
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "m3.controller") || strings.Contains(line, "m3.lease") {
			t.Fatalf("the tie-breaker acted for the set: %s", line)
		}
	}
}
