package server_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/internal/clustertest"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"github.com/cset-project/cset/server"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// BenchmarkServer_Write measures API writes per second on an in-process three-master cluster
// (in-memory Raft transport and stores, real gRPC on loopback) with 64 concurrent clients. It
// isolates the server's own cost from disk and process boundaries; bench/core measures the
// real thing.
func BenchmarkServer_Write(b *testing.B) {
	c := clustertest.New(b, 3, func(cfg *config.Config) { cfg.LogLevel = "error" })
	writeLoad(b, c.WaitForLeader().Client(), 64)
}

// writeLoad runs b.N CreateFaultDomain writes from clients concurrent goroutines.
func writeLoad(b *testing.B, leader apiv1.ClusterSetServiceClient, clients int) {
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

// BenchmarkServer_WriteDurable is BenchmarkServer_Write with the production stores and transport:
// raft-boltdb (fsync on every append), TCP Raft between the three masters, all in one process.
func BenchmarkServer_WriteDurable(b *testing.B) {
	var servers []*server.Server
	for i := range 3 {
		cfg := clustertest.Config(fmt.Sprintf("d%d", i+1))
		cfg.RaftAddr = "127.0.0.1:0"
		cfg.LogLevel = "error"
		cfg.Bootstrap = i == 0
		if i > 0 {
			cfg.Join = servers[0].Addrs().GRPC
		}
		srv, err := server.New(cfg, hclog.NewNullLogger(), server.Deps{})
		if err != nil {
			b.Fatal(err)
		}
		if err := srv.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { srv.Close() })
		servers = append(servers, srv)
		if i == 0 {
			testutil.Eventually(b, 10*time.Second, func() error {
				if !srv.IsLeader() {
					return fmt.Errorf("no leader")
				}
				return nil
			})
		}
	}
	testutil.Eventually(b, 20*time.Second, func() error {
		f := servers[0].Raft().GetConfiguration()
		if err := f.Error(); err != nil {
			return err
		}
		if n := len(f.Configuration().Servers); n != 3 {
			return fmt.Errorf("%d voters", n)
		}
		return nil
	})
	cc, err := grpc.NewClient(servers[0].Addrs().GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Close()
	writeLoad(b, apiv1.NewClusterSetServiceClient(cc), 64)
	reportBatches(b, servers[0])
}

// reportBatches reports the mean number of API writes per Raft entry on the leader.
func reportBatches(b *testing.B, s *server.Server) {
	mfs, err := s.Registry().Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "cset_raft_batch_entries" {
			h := mf.GetMetric()[0].GetHistogram()
			if h.GetSampleCount() > 0 {
				b.ReportMetric(h.GetSampleSum()/float64(h.GetSampleCount()), "writes/batch")
			}
		}
	}
}
