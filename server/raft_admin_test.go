package server_test

import (
	"errors"
	"testing"
	"time"

	"github.com/cset-project/cset/internal/clustertest"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"google.golang.org/grpc/codes"
)

// TestRaftAdmin_SingleMaster: on a ring of one master, removing it and handing leadership away
// are refused with FailedPrecondition and a message that says why and what to do (not an
// Internal error with raft's words, nor an Unavailable that reads as an unknown outcome), and
// the master stays registered and in the ring.
func TestRaftAdmin_SingleMaster(t *testing.T) {
	t.Parallel()
	c := clustertest.New(t, 1, nil)
	n := c.Leader()
	cl := n.Client()
	ctx := clustertest.Ctx(t)
	testutil.Eventually(t, 10*time.Second, func() error {
		if n.Server.FSM().Master("m1") == nil {
			return errors.New("m1 has not registered itself yet")
		}
		return nil
	})

	_, err := cl.RaftRemove(ctx, &apiv1.RaftRemoveRequest{Id: "m1"})
	wantCode(t, "remove the last voter", err, codes.FailedPrecondition, `master "m1" is the last voter of the raft ring: without it no master can commit anything; join another master first`)
	if n.Server.FSM().Master("m1") == nil {
		t.Error("the refused removal unregistered the master")
	}
	peers, err := cl.RaftPeers(ctx, &apiv1.RaftPeersRequest{})
	if err != nil || len(peers.GetPeers()) != 1 || peers.GetPeers()[0].GetRole() != "leader" {
		t.Errorf("peers after the refused removal: %v %v", peers, err)
	}

	_, err = cl.RaftTransferLeader(ctx, &apiv1.RaftTransferLeaderRequest{})
	wantCode(t, "transfer on one master", err, codes.FailedPrecondition, "master m1 is the only voter of the raft ring: there is no other master to hand leadership to")
	_, err = cl.RaftTransferLeader(ctx, &apiv1.RaftTransferLeaderRequest{Id: "m1"})
	wantCode(t, "transfer to itself", err, codes.FailedPrecondition, `master "m1" is already the leader`)
	_, err = cl.RaftTransferLeader(ctx, &apiv1.RaftTransferLeaderRequest{Id: "m9"})
	wantCode(t, "transfer to a stranger", err, codes.NotFound, `master "m9" is not in the raft ring`)
}
