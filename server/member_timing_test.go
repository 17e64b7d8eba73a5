package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/internal/clustertest"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A member whose ECX heartbeat timeout is not below fence_after is refused, by member add and by
// apply, as docs/cli.md promises (issue 11, case 9: nothing checked it).
func TestServer_MemberHeartbeatTimeoutMustBeBelowFenceAfter(t *testing.T) {
	t.Parallel()
	c := clustertest.New(t, 1, func(cfg *config.Config) { cfg.Controller.FenceAfter = 15 * time.Second })
	cl := c.WaitForLeader().Client()
	ctx := clustertest.Ctx(t)
	if _, err := cl.InitSet(ctx, &apiv1.InitSetRequest{Name: "prod", Zone: "cset.example.com."}); err != nil {
		t.Fatal(err)
	}
	member := func(name string, hb time.Duration) *apiv1.AddMemberRequest {
		return &apiv1.AddMemberRequest{Name: name, User: "root", Password: "pw", HeartbeatTimeoutMs: uint32(hb / time.Millisecond),
			Servers: []*apiv1.ServerSpec{{Name: name + "-1", Url: "http://127.0.0.1:29009"}}}
	}
	for _, hb := range []time.Duration{15 * time.Second, 30 * time.Second} {
		_, err := cl.AddMember(ctx, member("east", hb))
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "fence_after 15s") || !strings.Contains(err.Error(), "heartbeat_timeout "+hb.String()) {
			t.Errorf("add with heartbeat timeout %v: %v, want InvalidArgument naming both timeouts", hb, err)
		}
		_, err = cl.Apply(ctx, &apiv1.ApplyRequest{Declaration: &apiv1.Declaration{Members: []*apiv1.AddMemberRequest{member("west", hb)}}})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "fence_after") {
			t.Errorf("apply with heartbeat timeout %v: %v, want InvalidArgument", hb, err)
		}
	}
	ms, err := cl.ListMembers(ctx, &apiv1.ListRequest{})
	if err != nil || len(ms.GetMembers()) != 0 {
		t.Fatalf("refused members were stored: %v %v", ms, err)
	}
	for _, hb := range []time.Duration{0, 14 * time.Second} {
		if _, err := cl.AddMember(ctx, member("east", hb)); err != nil {
			t.Errorf("add with heartbeat timeout %v: %v", hb, err)
		}
		if _, err := cl.RemoveMember(ctx, &apiv1.RemoveMemberRequest{Name: "east"}); err != nil {
			t.Fatal(err)
		}
	}
}
