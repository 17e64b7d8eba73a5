package guard_test

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/guard"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// fakeMaster answers GuardHeartbeat like a leader (ack) or a follower cut off the leader.
type fakeMaster struct {
	apiv1.UnimplementedClusterSetServiceServer
	ack  bool
	auth chan string
}

func (f *fakeMaster) GuardHeartbeat(ctx context.Context, r *apiv1.GuardHeartbeatRequest) (*apiv1.GuardHeartbeatResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	select {
	case f.auth <- strings.Join(md.Get("authorization"), ","):
	default:
	}
	if !f.ack {
		return nil, status.Error(codes.Unavailable, "no leader")
	}
	return &apiv1.GuardHeartbeatResponse{Acknowledged: true, Groups: []string{"db", "web"}, Leader: "m1"}, nil
}

func serve(t *testing.T, f *fakeMaster) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	apiv1.RegisterClusterSetServiceServer(s, f)
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return lis.Addr().String()
}

// TestMastersClient_TriesEachMaster: a master that refuses and a dead address are skipped; the
// token is sent; an answer from nobody is an error.
func TestMastersClient_TriesEachMaster(t *testing.T) {
	t.Parallel()
	follower := serve(t, &fakeMaster{ack: false})
	leader := &fakeMaster{ack: true, auth: make(chan string, 1)}
	leaderAddr := serve(t, leader)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()

	m, err := guard.NewMastersClient(guard.MastersConfig{Addrs: []string{deadAddr, follower, leaderAddr}, Token: "cset_x"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	groups, err := m.Heartbeat(ctx, "west", "west-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(groups, []string{"db", "web"}) {
		t.Fatalf("groups %v", groups)
	}
	if got := <-leader.auth; got != "Bearer cset_x" {
		t.Fatalf("authorization %q", got)
	}

	none, err := guard.NewMastersClient(guard.MastersConfig{Addrs: []string{deadAddr, follower}})
	if err != nil {
		t.Fatal(err)
	}
	defer none.Close()
	if _, err := none.Heartbeat(ctx, "west", "west-1", nil); err == nil || !strings.Contains(err.Error(), "no leader") {
		t.Fatalf("heartbeat with no leader: %v", err)
	}
	if _, err := guard.NewMastersClient(guard.MastersConfig{Addrs: []string{"nohostport"}}); err == nil {
		t.Fatal("a bad address was accepted")
	}
}
