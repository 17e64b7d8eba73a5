package server_test

import (
	"sync"
	"testing"

	"github.com/cset-project/cset/internal/clustertest"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// An update that was applied answers with the workload it wrote, even when an unregister
// commits right after it (chaos finding W1: the answer was read back from the state, so a
// successful update could answer NotFound, which no order of the two calls explains).
func TestServer_UpdateAnswersWhatItCommitted(t *testing.T) {
	t.Parallel()
	c := clustertest.New(t, 1, nil)
	cl := c.WaitForLeader().Client()
	seed(t, cl)
	ctx := clustertest.Ctx(t)
	req := func(size int64) *apiv1.RegisterWorkloadRequest {
		return &apiv1.RegisterWorkloadRequest{Name: "race", Group: "g-race", Candidates: []string{"east", "west"}, Size: size, Update: true}
	}
	for i := range 200 {
		if _, err := cl.RegisterWorkload(ctx, req(1)); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var upd *apiv1.Workload
		var updErr error
		wg.Add(2)
		go func() { defer wg.Done(); upd, updErr = cl.RegisterWorkload(ctx, req(int64(i+2))) }()
		go func() { defer wg.Done(); _, _ = cl.UnregisterWorkload(ctx, &apiv1.GetRequest{Name: "race"}) }()
		wg.Wait()
		switch {
		case status.Code(updErr) == codes.NotFound:
			t.Fatalf("round %d: an update (which creates when the workload is gone) answered %v", i, updErr)
		case updErr != nil:
			t.Fatalf("round %d: update: %v", i, updErr)
		case upd.GetSize() != int64(i+2):
			t.Fatalf("round %d: the update answered size %d, want the %d it wrote", i, upd.GetSize(), i+2)
		}
		_, _ = cl.UnregisterWorkload(ctx, &apiv1.GetRequest{Name: "race"})
	}
}
