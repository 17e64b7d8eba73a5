package integration

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// TestCluster_WritesThroughFollowerDuringLeaderKill writes through a follower with many clients
// while the leader is killed. Every failure a client sees must be Unavailable (the documented
// "retry with the same request id" answer), every retry with the same request id must end in
// success, and every acknowledged write must be in the state exactly once.
func TestCluster_WritesThroughFollowerDuringLeaderKill(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t)
	leader := waitLeader(t, nodes...)
	f := follower(nodes, leader)
	api := f.client()
	ctlOK(t, f.grpcAddr(), "set", "init", "prod", "--zone", "cset.example.com")

	const clients = 16
	var (
		acked    atomic.Int64
		killed   atomic.Bool
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []string
	)
	stop := make(chan struct{})
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("fd-%d-%d", c, seq)
				ctx := metadata.AppendToOutgoingContext(context.Background(), "cset-request-id", "it-"+name)
				failed := false
				err := testutil.WaitFor(30*time.Second, func() error {
					cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					defer cancel()
					_, err := api.CreateFaultDomain(cctx, &apiv1.CreateFaultDomainRequest{Name: name})
					if status.Code(err) == codes.Unavailable {
						return err // retry with the same request id
					}
					if err != nil {
						mu.Lock()
						failures = append(failures, fmt.Sprintf("%s (leader killed: %v): %v", name, killed.Load(), err))
						mu.Unlock()
						failed = true
					}
					return nil
				})
				if err != nil {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%s: still Unavailable after 30s: %v", name, err))
					mu.Unlock()
					return
				}
				if !failed {
					acked.Add(1)
				}
			}
		}()
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if acked.Load() < 50 {
			return fmt.Errorf("%d writes acknowledged before the kill", acked.Load())
		}
		return nil
	})
	killed.Store(true)
	leader.kill()
	before := acked.Load()
	testutil.Eventually(t, leaderTimeout, func() error {
		if acked.Load() < before+50 {
			return fmt.Errorf("%d writes acknowledged after the kill", acked.Load()-before)
		}
		return nil
	})
	close(stop)
	wg.Wait()
	for _, f := range failures {
		t.Errorf("write failed with a non-retryable error: %s", f)
	}
	if t.Failed() {
		return
	}
	list, err := api.ListFaultDomains(context.Background(), &apiv1.ListRequest{Read: &apiv1.ReadOptions{Consistent: true}})
	if err != nil {
		t.Fatal(err)
	}
	if got := int64(len(list.GetFaultDomains())); got != acked.Load() {
		t.Fatalf("%d fault domains in the state, %d writes acknowledged", got, acked.Load())
	}
}
