package server_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/internal/clustertest"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func seed(t *testing.T, c apiv1.ClusterSetServiceClient) {
	t.Helper()
	ctx := clustertest.Ctx(t)
	if _, err := c.InitSet(ctx, &apiv1.InitSetRequest{Name: "prod", Zone: "Cset.Example.COM"}); err != nil {
		t.Fatalf("init set: %v", err)
	}
	for _, m := range []string{"east", "west"} {
		_, err := c.AddMember(ctx, &apiv1.AddMemberRequest{Name: m, Servers: []*apiv1.ServerSpec{{Name: m + "-1", Url: "http://127.0.0.1:29009"}}, User: "root", Password: "s3cret-" + m})
		if err != nil {
			t.Fatalf("add member %s: %v", m, err)
		}
	}
	_, err := c.RegisterWorkload(ctx, &apiv1.RegisterWorkloadRequest{Name: "web", Group: "failover-web", Candidates: []string{"east", "west"},
		Addresses: map[string]*apiv1.AddressList{"east": {Addresses: []string{"10.0.1.10"}}, "west": {Addresses: []string{"10.0.2.10"}}}})
	if err != nil {
		t.Fatalf("register: %v", err)
	}
}

func TestServer_WritesThroughFollowerAreForwarded(t *testing.T) {
	t.Parallel()
	c := clustertest.New(t, 3, nil)
	f := c.Followers()[0]
	seed(t, f.Client())
	c.RequireConverged()
	for _, n := range c.Nodes {
		w, err := n.Client().GetWorkload(clustertest.Ctx(t), &apiv1.GetRequest{Name: "web"})
		if err != nil {
			t.Fatalf("%s: get: %v", n.ID, err)
		}
		if w.GetFqdn() != "web.cset.example.com." || w.GetDesired() != "online" || !w.GetAutoFailover() {
			t.Errorf("%s: workload %+v", n.ID, w)
		}
	}
	st, err := f.Client().Status(clustertest.Ctx(t), &apiv1.StatusRequest{Read: &apiv1.ReadOptions{Consistent: true}})
	if err != nil {
		t.Fatal(err)
	}
	if st.GetLeader().GetId() != c.Leader().ID || st.GetLeader().GetGrpcAddr() == "" || len(st.GetMasters()) != 3 || st.GetMembers() != 2 || st.GetWorkloads() != 1 {
		t.Errorf("status %+v", st)
	}
	for _, m := range st.GetMasters() {
		if m.GetGrpcAddr() == "" || m.GetRaftAddr() == "" || !m.GetVoter() {
			t.Errorf("master %+v lacks addresses or vote", m)
		}
	}
}

func TestServer_PasswordsAreWriteOnly(t *testing.T) {
	t.Parallel()
	c := clustertest.New(t, 1, nil)
	cl := c.Nodes[0].Client()
	seed(t, cl)
	resp, err := cl.ListMembers(clustertest.Ctx(t), &apiv1.ListRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range resp.GetMembers() {
		if !m.GetPasswordSet() {
			t.Errorf("member %s: password_set false", m.GetName())
		}
		if strings.Contains(m.String(), "s3cret") {
			t.Errorf("member %s leaks its password: %s", m.GetName(), m.String())
		}
	}
	// An update without a password keeps the stored one.
	_, err = cl.AddMember(clustertest.Ctx(t), &apiv1.AddMemberRequest{Name: "east", Update: true, Servers: []*apiv1.ServerSpec{{Name: "east-1", Url: "http://127.0.0.1:29009"}}})
	if err != nil {
		t.Fatal(err)
	}
	if m := c.Nodes[0].Server.FSM().Data().Members["east"]; m.GetPassword() != "s3cret-east" {
		t.Errorf("password after update = %q", m.GetPassword())
	}
}

func TestServer_ErrorCodes(t *testing.T) {
	t.Parallel()
	c := clustertest.New(t, 1, nil)
	cl := c.Nodes[0].Client()
	seed(t, cl)
	ctx := clustertest.Ctx(t)
	cases := []struct {
		name string
		call func() error
		code codes.Code
		msg  string
	}{
		{"bad member name", func() error {
			_, err := cl.AddMember(ctx, &apiv1.AddMemberRequest{Name: "East_1", Servers: []*apiv1.ServerSpec{{Name: "a", Url: "http://h:1"}}})
			return err
		}, codes.InvalidArgument, "DNS label"},
		{"bad url", func() error {
			_, err := cl.AddMember(ctx, &apiv1.AddMemberRequest{Name: "north", Servers: []*apiv1.ServerSpec{{Name: "a", Url: "ftp://h"}}})
			return err
		}, codes.InvalidArgument, "http://"},
		{"bad address", func() error {
			_, err := cl.RegisterWorkload(ctx, &apiv1.RegisterWorkloadRequest{Name: "db", Group: "g", Candidates: []string{"east"}, Addresses: map[string]*apiv1.AddressList{"east": {Addresses: []string{"10.0.0.300"}}}})
			return err
		}, codes.InvalidArgument, "not an IP address"},
		{"unknown candidate", func() error {
			_, err := cl.RegisterWorkload(ctx, &apiv1.RegisterWorkloadRequest{Name: "db", Group: "g", Candidates: []string{"south"}})
			return err
		}, codes.NotFound, "csetctl member add south"},
		{"duplicate member", func() error {
			_, err := cl.AddMember(ctx, &apiv1.AddMemberRequest{Name: "east", Servers: []*apiv1.ServerSpec{{Name: "a", Url: "http://h:1"}}})
			return err
		}, codes.AlreadyExists, "--update"},
		{"member that is a workload's only candidate", func() error {
			_, err := cl.RegisterWorkload(ctx, &apiv1.RegisterWorkloadRequest{Name: "solo", Group: "g-solo", Candidates: []string{"west"}})
			if err != nil {
				return err
			}
			_, err = cl.RemoveMember(ctx, &apiv1.RemoveMemberRequest{Name: "west", Force: true})
			return err
		}, codes.FailedPrecondition, "only candidate of workloads solo"},
		{"unknown workload", func() error {
			_, err := cl.GetWorkload(ctx, &apiv1.GetRequest{Name: "nope"})
			return err
		}, codes.NotFound, "workload list"},
		{"move to non-candidate", func() error {
			_, err := cl.AddMember(ctx, &apiv1.AddMemberRequest{Name: "north", Servers: []*apiv1.ServerSpec{{Name: "n1", Url: "http://h:1"}}})
			if err != nil {
				return err
			}
			_, err = cl.MoveWorkload(ctx, &apiv1.MoveWorkloadRequest{Name: "web", ToMember: "north"})
			return err
		}, codes.FailedPrecondition, "not a candidate"},
		{"declare a never-seen member down is allowed but an up one is not", func() error {
			_, err := cl.DeclareMemberDown(ctx, &apiv1.GetRequest{Name: "missing"})
			return err
		}, codes.NotFound, "does not exist"},
	}
	for _, tc := range cases {
		err := tc.call()
		if status.Code(err) != tc.code || !strings.Contains(status.Convert(err).Message(), tc.msg) {
			t.Errorf("%s: got %v, want %v containing %q", tc.name, err, tc.code, tc.msg)
		}
	}
	// Removing a member nothing runs on drops it from candidates at once; the state stays consistent.
	if _, err := cl.RemoveMember(ctx, &apiv1.RemoveMemberRequest{Name: "east"}); err != nil {
		t.Fatal(err)
	}
	w, err := cl.GetWorkload(ctx, &apiv1.GetRequest{Name: "web"})
	if err != nil || len(w.GetCandidates()) != 1 || w.GetCandidates()[0] != "west" {
		t.Errorf("after forced removal: %v %v", w.GetCandidates(), err)
	}
}

func TestServer_RequestIDAppliesOnce(t *testing.T) {
	t.Parallel()
	c := clustertest.New(t, 3, nil)
	seed(t, c.Nodes[0].Client())
	ctx := metadata.AppendToOutgoingContext(clustertest.Ctx(t), "cset-request-id", "req-42")
	req := &apiv1.AddMemberRequest{Name: "north", Servers: []*apiv1.ServerSpec{{Name: "n1", Url: "http://h:1"}}}
	if _, err := c.Followers()[0].Client().AddMember(ctx, req); err != nil {
		t.Fatal(err)
	}
	// The retry (same id, via another master) succeeds and does not fail with AlreadyExists.
	if _, err := c.Followers()[1].Client().AddMember(ctx, req); err != nil {
		t.Fatalf("retry with the same request id: %v", err)
	}
	// Without the id it is a new request and fails.
	if _, err := c.Nodes[0].Client().AddMember(clustertest.Ctx(t), req); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("new request: %v", err)
	}
	evs, err := c.Nodes[0].Client().ListEvents(clustertest.Ctx(t), &apiv1.ListEventsRequest{Member: "north"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs.GetEvents()) != 1 {
		t.Errorf("member north was added %d times: %v", len(evs.GetEvents()), evs.GetEvents())
	}
}

func TestServer_LeaderLossThenNewLeaderAcceptsWrites(t *testing.T) {
	t.Parallel()
	c := clustertest.New(t, 3, nil)
	seed(t, c.Followers()[0].Client())
	old := c.WaitForLeader()
	c.Stop(old)
	newLeader := c.WaitForLeader()
	if newLeader == old {
		t.Fatal("stopped leader still leads")
	}
	var survivor *clustertest.Node
	for _, n := range c.Nodes {
		if n != old && n != newLeader {
			survivor = n
		}
	}
	if _, err := survivor.Client().AddMember(clustertest.Ctx(t), &apiv1.AddMemberRequest{Name: "north", Servers: []*apiv1.ServerSpec{{Name: "n1", Url: "http://h:1"}}}); err != nil {
		t.Fatalf("write after leader loss: %v", err)
	}
	c.Restart(old)
	c.RequireConverged()
	m, err := old.Client().GetMember(clustertest.Ctx(t), &apiv1.GetRequest{Name: "north"})
	if err != nil || m.GetMember().GetName() != "north" {
		t.Fatalf("restarted master lacks the write: %v", err)
	}
}

func TestServer_NoQuorumIsUnavailableWithHint(t *testing.T) {
	t.Parallel()
	c := clustertest.New(t, 3, func(cfg *config.Config) { cfg.RPCHoldTimeout = 500 * time.Millisecond })
	leader := c.WaitForLeader()
	var others []string
	for _, n := range c.Nodes {
		if n != leader {
			others = append(others, n.ID)
		}
	}
	c.Partition(others...)
	testutil.Eventually(t, 10*time.Second, func() error {
		_, err := leader.Client().InitSet(clustertest.Ctx(t), &apiv1.InitSetRequest{Name: "x", Zone: "x.test."})
		if status.Code(err) != codes.Unavailable {
			return errors.New("write still accepted or other error: " + status.Convert(err).Message())
		}
		if !strings.Contains(status.Convert(err).Message(), "majority") && !strings.Contains(status.Convert(err).Message(), "retry") {
			return errors.New("no hint in: " + status.Convert(err).Message())
		}
		return nil
	})
	c.Heal()
	c.WaitForLeader()
	if _, err := c.Nodes[0].Client().InitSet(clustertest.Ctx(t), &apiv1.InitSetRequest{Name: "x", Zone: "x.test."}); err != nil {
		t.Fatalf("after heal: %v", err)
	}
}

func TestServer_SnapshotSaveRestore(t *testing.T) {
	t.Parallel()
	c := clustertest.New(t, 3, nil)
	cl := c.Followers()[0].Client()
	seed(t, cl)
	c.RequireConverged()
	stream, err := cl.SnapshotSave(clustertest.Ctx(t), &apiv1.SnapshotSaveRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var snap bytes.Buffer
	for {
		ch, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		snap.Write(ch.GetData())
	}
	if _, err := cl.UnregisterWorkload(clustertest.Ctx(t), &apiv1.GetRequest{Name: "web"}); err != nil {
		t.Fatal(err)
	}
	up, err := c.Followers()[1].Client().SnapshotRestore(clustertest.Ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Send(&apiv1.SnapshotChunk{Data: snap.Bytes()}); err != nil {
		t.Fatal(err)
	}
	resp, err := up.CloseAndRecv()
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if resp.GetWorkloads() != 1 || resp.GetMembers() != 2 {
		t.Errorf("restore response %+v", resp)
	}
	c.RequireConverged()
	for _, n := range c.Nodes {
		if _, err := n.Client().GetWorkload(clustertest.Ctx(t), &apiv1.GetRequest{Name: "web"}); err != nil {
			t.Errorf("%s after restore: %v", n.ID, err)
		}
	}
	// Garbage is refused with InvalidArgument and changes nothing.
	up, _ = cl.SnapshotRestore(clustertest.Ctx(t))
	_ = up.Send(&apiv1.SnapshotChunk{Data: []byte("not a snapshot")})
	if _, err := up.CloseAndRecv(); status.Code(err) != codes.InvalidArgument {
		t.Errorf("garbage restore: %v", err)
	}
}

func TestServer_WatchEventsFollows(t *testing.T) {
	t.Parallel()
	c := clustertest.New(t, 1, nil)
	cl := c.Nodes[0].Client()
	ctx, cancel := context.WithCancel(clustertest.Ctx(t))
	defer cancel()
	stream, err := cl.WatchEvents(ctx, &apiv1.ListEventsRequest{Member: "east"})
	if err != nil {
		t.Fatal(err)
	}
	seed(t, cl)
	ev, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if ev.GetMember() != "east" || !strings.Contains(ev.GetMessage(), "east added") {
		t.Errorf("event %+v", ev)
	}
}

// A retried move (same request id, e.g. after a lost answer) returns the operation the first
// attempt created instead of failing.
func TestServer_MoveRetryReturnsTheSameOperation(t *testing.T) {
	t.Parallel()
	w := newAdmissionWorld(t)
	ctx := metadata.AppendToOutgoingContext(clustertest.Ctx(t), "cset-request-id", "move-1")
	first, err := w.cl.MoveWorkload(ctx, &apiv1.MoveWorkloadRequest{Name: "cache", ToMember: "west", Force: true})
	if err != nil {
		t.Fatal(err)
	}
	// By the time the retry comes the move is done, so a new move would be refused ("already
	// runs on west"): the retry still gets the first attempt's operation.
	w.waitOnline(t, "cache", "west")
	again, err := w.cl.MoveWorkload(ctx, &apiv1.MoveWorkloadRequest{Name: "cache", ToMember: "west", Force: true})
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if again.GetId() != first.GetId() {
		t.Errorf("retry returned operation %s, first %s", again.GetId(), first.GetId())
	}
}
