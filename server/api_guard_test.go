package server_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/internal/clustertest"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// declareGuardWorld initialises a set with members east and west (two servers each) and the
// workloads web (candidates east, west) and db (east only).
func declareGuardWorld(t *testing.T, cl apiv1.ClusterSetServiceClient, ctx context.Context) {
	t.Helper()
	decl := &apiv1.Declaration{Set: &apiv1.InitSetRequest{Name: "s", Zone: "cset.test."}}
	for _, m := range []string{"east", "west"} {
		decl.Members = append(decl.Members, &apiv1.AddMemberRequest{Name: m, User: "admin", Password: "pw",
			Servers: []*apiv1.ServerSpec{{Name: m + "-1", Url: "http://127.0.0.1:1"}, {Name: m + "-2", Url: "http://127.0.0.1:2"}}})
	}
	decl.Workloads = []*apiv1.RegisterWorkloadRequest{
		{Name: "web", Group: "web-grp", Candidates: []string{"east", "west"}, Addresses: map[string]*apiv1.AddressList{"east": {Addresses: []string{"10.0.0.1"}}, "west": {Addresses: []string{"10.0.0.2"}}}},
		{Name: "db", Group: "db-grp", Candidates: []string{"east"}, Addresses: map[string]*apiv1.AddressList{"east": {Addresses: []string{"10.0.0.3"}}}},
	}
	if _, err := cl.Apply(ctx, &apiv1.ApplyRequest{Declaration: decl}); err != nil {
		t.Fatal(err)
	}
}

// TestGuardHeartbeat_OnlyTheLeaderAcknowledges: a follower forwards a guard heartbeat to the
// leader, which answers with the member's managed groups; unknown clusters and servers are
// refused; a master cut off from the others never acknowledges.
func TestGuardHeartbeat_OnlyTheLeaderAcknowledges(t *testing.T) {
	t.Parallel()
	c := clustertest.New(t, 3, nil)
	leader := c.WaitForLeader()
	ctx := clustertest.Ctx(t)
	declareGuardWorld(t, leader.Client(), ctx)
	f := c.Followers()[0]
	var resp *apiv1.GuardHeartbeatResponse
	testutil.Eventually(t, 10*time.Second, func() error {
		var err error
		resp, err = f.Client().GuardHeartbeat(ctx, &apiv1.GuardHeartbeatRequest{Cluster: "east", Server: "east-1"})
		return err
	})
	if !resp.GetAcknowledged() || !slices.Equal(resp.GetGroups(), []string{"db-grp", "web-grp"}) || resp.GetLeader() != leader.ID {
		t.Fatalf("east-1 through a follower: %v, want acknowledged by %s with [db-grp web-grp]", resp, leader.ID)
	}
	resp, err := leader.Client().GuardHeartbeat(ctx, &apiv1.GuardHeartbeatRequest{Cluster: "west", Server: "west-2"})
	if err != nil || !slices.Equal(resp.GetGroups(), []string{"web-grp"}) {
		t.Fatalf("west-2: %v %v, want [web-grp]", resp, err)
	}
	for _, tc := range []struct {
		req  *apiv1.GuardHeartbeatRequest
		code codes.Code
		has  string
	}{
		{&apiv1.GuardHeartbeatRequest{Cluster: "north", Server: "north-1"}, codes.NotFound, "not a member"},
		{&apiv1.GuardHeartbeatRequest{Cluster: "east", Server: "west-1"}, codes.NotFound, "has no server"},
		{&apiv1.GuardHeartbeatRequest{Cluster: "east"}, codes.InvalidArgument, "required"},
	} {
		_, err := f.Client().GuardHeartbeat(ctx, tc.req)
		if st := status.Convert(err); st.Code() != tc.code || !strings.Contains(st.Message(), tc.has) {
			t.Errorf("%v: %v, want %v containing %q", tc.req, err, tc.code, tc.has)
		}
	}

	// The leader is cut off the other masters: once it has stepped down it knows no leader, so it
	// acknowledges nothing (the others elect a new leader, which counts from its election).
	c.Partition(leader.ID)
	testutil.Eventually(t, 10*time.Second, func() error {
		if leader.Server.IsLeader() {
			return errors.New("the cut-off leader has not stepped down yet")
		}
		return nil
	})
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if resp, err := leader.Client().GuardHeartbeat(short, &apiv1.GuardHeartbeatRequest{Cluster: "east", Server: "east-1"}); err == nil {
		t.Fatalf("a master cut off from the others acknowledged: %v", resp)
	}
}

// TestGuardHeartbeat_GuardRole: with -auth, GuardHeartbeat needs a guard (or admin) token, and a
// guard token can call nothing else.
func TestGuardHeartbeat_GuardRole(t *testing.T) {
	t.Parallel()
	c := clustertest.New(t, 1, withAuth)
	leader := c.WaitForLeader()
	admin := c.BootstrapToken()
	cl := leader.Client()
	declareGuardWorld(t, cl, as(t, admin))
	guardTok := createToken(t, cl, admin, "guards", "guard")
	reader := createToken(t, cl, admin, "reader", "read")
	req := &apiv1.GuardHeartbeatRequest{Cluster: "east", Server: "east-1"}
	testutil.Eventually(t, 10*time.Second, func() error {
		_, err := cl.GuardHeartbeat(as(t, guardTok), req)
		return err
	})
	if _, err := cl.GuardHeartbeat(as(t, admin), req); err != nil {
		t.Errorf("admin: %v", err)
	}
	_, err := cl.GuardHeartbeat(as(t, reader), req)
	wantCode(t, "read token on GuardHeartbeat", err, codes.PermissionDenied, "needs a token with role guard")
	_, err = cl.ListMembers(as(t, guardTok), &apiv1.ListRequest{})
	wantCode(t, "guard token on ListMembers", err, codes.PermissionDenied, "may call only GuardHeartbeat")
}
