package server_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/internal/clustertest"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"github.com/hashicorp/go-hclog"
)

// BenchmarkServer_Write measures API writes per second on an in-process three-master cluster
// (in-memory Raft transport and stores, real gRPC on loopback) with 64 concurrent clients. It
// isolates the server's own cost from disk and process boundaries; bench/core measures the
// real thing.
func BenchmarkServer_Write(b *testing.B) {
	hclog.DefaultOutput = nil
	c := clustertest.New(b, 3, func(cfg *config.Config) { cfg.LogLevel = "error" })
	leader := c.WaitForLeader().Client()
	const clients = 64
	var n atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := n.Add(1)
				if k > int64(b.N) {
					return
				}
				_, err := leader.CreateFaultDomain(clustertest.Ctx(b), &apiv1.CreateFaultDomainRequest{Name: fmt.Sprintf("fd-%d-%d", i, k)})
				if err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}
