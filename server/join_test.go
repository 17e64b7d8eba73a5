package server_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/internal/clustertest"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"github.com/cset-project/cset/server"
	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// raftServers lists the configuration of r as "id=suffrage" strings.
func raftServers(t *testing.T, r *raft.Raft) string {
	t.Helper()
	f := r.GetConfiguration()
	if err := f.Error(); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range f.Configuration().Servers {
		out = append(out, fmt.Sprintf("%s=%s", s.ID, s.Suffrage))
	}
	return strings.Join(out, ",")
}

// writeWithin makes one write that must succeed within d: the ring has its quorum.
func writeWithin(t *testing.T, cl apiv1.ClusterSetServiceClient, d time.Duration, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if _, err := cl.InitSet(ctx, &apiv1.InitSetRequest{Name: name, Zone: "cset.example.com"}); err != nil {
		t.Fatalf("a write after the refused join: %v (the ring lost its quorum)", err)
	}
}

// TestServer_RaftJoinOfAMasterNotRunningChangesNothing is the one-master set of issue 13: a
// 'raft join' of a master that is not running used to commit a second voter that never
// answers, and the set had no quorum any more. Now the leader finds that it does not answer
// and changes nothing; the set keeps writing.
func TestServer_RaftJoinOfAMasterNotRunningChangesNothing(t *testing.T) {
	t.Parallel()
	c := clustertest.New(t, 1, nil)
	leader := c.Nodes[0]
	cl := leader.Client()
	_, err := cl.RaftJoin(clustertest.Ctx(t), &apiv1.RaftJoinRequest{Id: "m2", RaftAddr: "m2", GrpcAddr: "127.0.0.1:7100"})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "master m2 does not answer on its Raft address m2") ||
		!strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("join of a master that is not running: %v, want FailedPrecondition saying it does not answer", err)
	}
	if got := raftServers(t, leader.Server.Raft()); got != "m1=Voter" {
		t.Errorf("configuration after the refused join: %s, want m1=Voter", got)
	}
	writeWithin(t, cl, 5*time.Second, "prod")
	if m := leader.Server.FSM().Master("m2"); m != nil {
		t.Errorf("m2 registered in the state: %v", m)
	}
}

// TestServer_RaftJoinOverTCPOfAMasterNotRunning is the same over the production transport: the
// port of the absent master refuses the connection.
func TestServer_RaftJoinOverTCPOfAMasterNotRunning(t *testing.T) {
	t.Parallel()
	cfg := clustertest.Config("m1")
	cfg.DataDir, cfg.Bootstrap, cfg.RaftAddr = t.TempDir(), true, "127.0.0.1:0"
	srv := startDiskMaster(t, cfg, nil, nil)
	cl := dialMaster(t, srv)
	testutil.Eventually(t, 10*time.Second, func() error {
		if !srv.IsLeader() {
			return fmt.Errorf("m1 is not leader yet")
		}
		return nil
	})
	for _, tc := range []struct {
		req  *apiv1.RaftJoinRequest
		code codes.Code
		msg  string
	}{
		{&apiv1.RaftJoinRequest{Id: "m2", RaftAddr: "0.0.0.0:7101", GrpcAddr: "10.0.0.2:7100"}, codes.InvalidArgument, `raft address "0.0.0.0:7101" listens on every address`},
		{&apiv1.RaftJoinRequest{Id: "m2", RaftAddr: "10.0.0.2", GrpcAddr: "10.0.0.2:7100"}, codes.InvalidArgument, `raft address "10.0.0.2": want HOST:PORT`},
		{&apiv1.RaftJoinRequest{Id: "m2", RaftAddr: "10.0.0.2:0", GrpcAddr: "10.0.0.2:7100"}, codes.InvalidArgument, "the port must be a number from 1 to 65535"},
		{&apiv1.RaftJoinRequest{Id: "m2", RaftAddr: "10.0.0.2:99999", GrpcAddr: "10.0.0.2:7100"}, codes.InvalidArgument, "the port must be a number from 1 to 65535"},
		{&apiv1.RaftJoinRequest{Id: "m2", RaftAddr: "10.0.0.2:7101", GrpcAddr: "[::]:7100"}, codes.InvalidArgument, `gRPC address "[::]:7100" listens on every address`},
		{&apiv1.RaftJoinRequest{Id: "m2", RaftAddr: "10.0.0.2:7101", GrpcAddr: "10.0.0.2:7100", DnsAddr: "10.0.0.2"}, codes.InvalidArgument, `DNS address "10.0.0.2": want HOST:PORT`},
		{&apiv1.RaftJoinRequest{Id: "m 2", RaftAddr: "10.0.0.2:7101", GrpcAddr: "10.0.0.2:7100"}, codes.InvalidArgument, `master id "m 2" has the character ' '`},
		{&apiv1.RaftJoinRequest{Id: "m1", RaftAddr: "10.0.0.9:7101", GrpcAddr: "10.0.0.2:7100"}, codes.FailedPrecondition, "master m1 is the leader"},
		{&apiv1.RaftJoinRequest{Id: "m2", RaftAddr: testutil.FreeAddr(t), GrpcAddr: "10.0.0.2:7100"}, codes.FailedPrecondition, "connection refused"},
	} {
		_, err := cl.RaftJoin(clustertest.Ctx(t), tc.req)
		if status.Code(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("join %v: %v, want %s with %q", tc.req, err, tc.code, tc.msg)
		}
	}
	if got := raftServers(t, srv.Raft()); got != "m1=Voter" {
		t.Errorf("configuration after refused joins: %s, want m1=Voter", got)
	}
	writeWithin(t, cl, 5*time.Second, "prod")
}

func dialMaster(t *testing.T, srv *server.Server) apiv1.ClusterSetServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(srv.Addrs().GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return apiv1.NewClusterSetServiceClient(conn)
}

// TestServer_RaftJoinChecksWhoAnswers refuses a join whose Raft address is another master's.
func TestServer_RaftJoinChecksWhoAnswers(t *testing.T) {
	t.Parallel()
	c := clustertest.New(t, 2, nil)
	leader := c.WaitForLeader()
	other := c.Followers()[0]
	_, err := leader.Client().RaftJoin(clustertest.Ctx(t), &apiv1.RaftJoinRequest{Id: "m9", RaftAddr: other.ID, GrpcAddr: "127.0.0.1:7100"})
	want := fmt.Sprintf("the Raft address %s answers as master %s, not m9", other.ID, other.ID)
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), want) {
		t.Fatalf("join with another master's address: %v, want FailedPrecondition %q", err, want)
	}
	if got := raftServers(t, leader.Server.Raft()); got != "m1=Voter,m2=Voter" {
		t.Errorf("configuration after the refused join: %s, want m1=Voter,m2=Voter", got)
	}
}

// TestServer_RaftJoinPromotesANonvoter: a master joined as a non-voter stays one when it
// registers again, and a join as a voter promotes it once it answers.
func TestServer_RaftJoinPromotesANonvoter(t *testing.T) {
	t.Parallel()
	c := clustertest.New(t, 2, nil)
	leader := c.WaitForLeader()
	f := c.Followers()[0]
	ctx := clustertest.Ctx(t)
	if err := leader.Server.Raft().DemoteVoter(raft.ServerID(f.ID), 0, 0).Error(); err != nil {
		t.Fatal(err)
	}
	a := f.Server.Addrs()
	req := &apiv1.RaftJoinRequest{Id: a.NodeID, RaftAddr: a.Raft, GrpcAddr: a.GRPC, Nonvoter: true}
	if _, err := leader.Client().RaftJoin(ctx, req); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%s=Voter,%s=Nonvoter", leader.ID, f.ID)
	if got := raftServers(t, leader.Server.Raft()); got != want {
		t.Errorf("after a join as a non-voter: %s, want %s", got, want)
	}
	req.Nonvoter = false
	if _, err := f.Client().RaftJoin(ctx, req); err != nil { // through the follower: forwarded
		t.Fatal(err)
	}
	want = fmt.Sprintf("%s=Voter,%s=Voter", leader.ID, f.ID)
	if got := raftServers(t, leader.Server.Raft()); got != want {
		t.Errorf("after a join as a voter: %s, want %s", got, want)
	}
}

// TestServer_JoinKeepsSuffrageAcrossRestarts restarts masters on new addresses: one started
// with -join but made a non-voter becomes a voter again on its new Raft address (-join means a
// voter), and a non-voter added by an operator re-registers its new gRPC address and stays a
// non-voter. (A master without -join keeps its Raft address: on a new one the leader could not
// reach it to tell it who leads.)
func TestServer_JoinKeepsSuffrageAcrossRestarts(t *testing.T) {
	t.Parallel()
	m3Raft := testutil.FreeAddr(t)
	start := func(id, dir, join string) *server.Server {
		cfg := clustertest.Config(id)
		cfg.DataDir, cfg.RaftAddr, cfg.Bootstrap, cfg.Join = dir, "127.0.0.1:0", id == "m1", join
		if id == "m3" {
			cfg.RaftAddr = m3Raft
		}
		return startDiskMaster(t, cfg, nil, nil)
	}
	waitConfig := func(r *raft.Raft, want func() string) {
		t.Helper()
		testutil.Eventually(t, 20*time.Second, func() error {
			f := r.GetConfiguration()
			if err := f.Error(); err != nil {
				return err
			}
			var got []string
			for _, s := range f.Configuration().Servers {
				got = append(got, fmt.Sprintf("%s@%s=%s", s.ID, s.Address, s.Suffrage))
			}
			sort.Strings(got) // a master that changed its address is added again, last
			if g, w := strings.Join(got, ","), want(); g != w {
				return fmt.Errorf("configuration %s, want %s", g, w)
			}
			return nil
		})
	}
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	m1 := start("m1", dirs[0], "")
	testutil.Eventually(t, 10*time.Second, func() error {
		if !m1.IsLeader() {
			return fmt.Errorf("m1 is not leader yet")
		}
		return nil
	})
	m2 := start("m2", dirs[1], m1.Addrs().GRPC)
	m3 := start("m3", dirs[2], "")
	a3 := m3.Addrs()
	if _, err := dialMaster(t, m1).RaftJoin(clustertest.Ctx(t), &apiv1.RaftJoinRequest{Id: "m3", RaftAddr: a3.Raft, GrpcAddr: a3.GRPC, Nonvoter: true}); err != nil {
		t.Fatal(err)
	}
	config := func(m2, m3 *server.Server) func() string {
		return func() string {
			return fmt.Sprintf("m1@%s=Voter,m2@%s=Voter,m3@%s=Nonvoter", m1.Addrs().Raft, m2.Addrs().Raft, m3.Addrs().Raft)
		}
	}
	waitConfig(m1.Raft(), config(m2, m3))

	if err := m1.Raft().DemoteVoter("m2", 0, 0).Error(); err != nil {
		t.Fatal(err)
	}
	demoted := func() string {
		return fmt.Sprintf("m1@%s=Voter,m2@%s=Nonvoter,m3@%s=Nonvoter", m1.Addrs().Raft, m2.Addrs().Raft, m3.Addrs().Raft)
	}
	waitConfig(m2.Raft(), demoted) // m2 knows it is a non-voter now
	m2.Close()
	m3.Close()
	old2 := m2.Addrs().Raft
	m2 = start("m2", dirs[1], m1.Addrs().GRPC)
	m3 = start("m3", dirs[2], "")
	if m2.Addrs().Raft == old2 || m3.Addrs().GRPC == a3.GRPC {
		t.Fatalf("m2 kept its Raft address %s or m3 its gRPC address %s", old2, a3.GRPC)
	}
	waitConfig(m1.Raft(), config(m2, m3))
	testutil.Eventually(t, 10*time.Second, func() error {
		if got := m1.FSM().Master("m3").GetGrpcAddr(); got != m3.Addrs().GRPC {
			return fmt.Errorf("m3 registered with gRPC address %s, want %s", got, m3.Addrs().GRPC)
		}
		return nil
	})
	waitConfig(m1.Raft(), config(m2, m3)) // and it is still a non-voter
}
