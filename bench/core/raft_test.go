package core

import (
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cset-project/cset/internal/testutil"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// countFSM is the cheapest possible state machine: it counts entries.
type countFSM struct{ n atomic.Uint64 }

func (f *countFSM) Apply(*raft.Log) any { f.n.Add(1); return nil }

func (f *countFSM) Snapshot() (raft.FSMSnapshot, error) { return countSnap{}, nil }

func (f *countFSM) Restore(rc io.ReadCloser) error { return rc.Close() }

type countSnap struct{}

func (countSnap) Persist(sink raft.SnapshotSink) error { return sink.Close() }
func (countSnap) Release()                             {}

// raftVariant is one setting of the knobs that bound raft throughput.
type raftVariant struct {
	name         string
	writers      int
	maxAppend    int  // raft.Config.MaxAppendEntries; 0 = the default 64
	batchApplyCh bool // raft.Config.BatchApplyCh
	noSync       bool // raft-boltdb without fsync: NOT durable, shown only as a bound
}

// raftVariants are csetd's settings with 1 and 64 writers, then one knob changed at a time.
var raftVariants = []raftVariant{
	{name: "default/writers=1", writers: 1},
	{name: "default/writers=64", writers: 64},
	{name: "default/writers=256", writers: 256},
	{name: "maxappend=512/writers=64", writers: 64, maxAppend: 512},
	{name: "maxappend=512+batchapplych/writers=256", writers: 256, maxAppend: 512, batchApplyCh: true},
	{name: "nosync/writers=64", writers: 64, noSync: true},
}

// startRaftRing starts three in-process hashicorp/raft nodes with the same stores, transport
// and timings as csetd (raft-boltdb/v2 with a 512-entry log cache, TCP transport on loopback,
// csetd's default timings) and a trivial FSM, and returns the leader.
func startRaftRing(b *testing.B, v raftVariant) *raft.Raft {
	b.Helper()
	var (
		nodes   []*raft.Raft
		servers []raft.Server
	)
	for i := range 3 {
		dir := b.TempDir()
		bolt, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db"), NoSync: v.noSync})
		if err != nil {
			b.Fatal(err)
		}
		logs, err := raft.NewLogCache(512, bolt)
		if err != nil {
			b.Fatal(err)
		}
		snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, hclog.NewNullLogger())
		if err != nil {
			b.Fatal(err)
		}
		trans, err := raft.NewTCPTransportWithLogger("127.0.0.1:0", nil, 3, 10*time.Second, hclog.NewNullLogger())
		if err != nil {
			b.Fatal(err)
		}
		cfg := raft.DefaultConfig()
		cfg.LocalID = raft.ServerID(fmt.Sprintf("r%d", i))
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = time.Second, time.Second, 500*time.Millisecond
		cfg.CommitTimeout = 50 * time.Millisecond
		cfg.Logger = hclog.NewNullLogger()
		if v.maxAppend > 0 {
			cfg.MaxAppendEntries = v.maxAppend
		}
		cfg.BatchApplyCh = v.batchApplyCh
		r, err := raft.NewRaft(cfg, &countFSM{}, logs, bolt, snaps, trans)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			_ = r.Shutdown().Error()
			trans.Close()
			bolt.Close()
		})
		nodes = append(nodes, r)
		servers = append(servers, raft.Server{ID: cfg.LocalID, Address: trans.LocalAddr(), Suffrage: raft.Voter})
	}
	if err := nodes[0].BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
		b.Fatal(err)
	}
	var leader *raft.Raft
	testutil.Eventually(b, 30*time.Second, func() error {
		for _, r := range nodes {
			if r.State() == raft.Leader {
				leader = r
				return nil
			}
		}
		return fmt.Errorf("no leader yet")
	})
	return leader
}

// BenchmarkRaftCeiling measures what hashicorp/raft itself commits per second on this machine
// with csetd's stores, transport and timings but a trivial FSM and no gRPC: the upper bound of
// BenchmarkWrite, and how the raft knobs move it (raftVariants). Each of n goroutines calls Apply with a 200-byte entry (about the size of a
// small cset command) in a loop for -core.window.
func BenchmarkRaftCeiling(b *testing.B) {
	for _, v := range raftVariants {
		n := v.writers
		b.Run(v.name, func(b *testing.B) {
			leader := startRaftRing(b, v)
			entry := make([]byte, 200)
			b.ResetTimer()
			var total atomic.Int64
			var elapsed time.Duration
			for range b.N {
				start := time.Now()
				deadline := start.Add(*window)
				var wg sync.WaitGroup
				var failed atomic.Pointer[error]
				for range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for time.Now().Before(deadline) {
							if err := leader.Apply(entry, 10*time.Second).Error(); err != nil {
								failed.CompareAndSwap(nil, &err)
								return
							}
							total.Add(1)
						}
					}()
				}
				wg.Wait()
				elapsed += time.Since(start)
				if p := failed.Load(); p != nil {
					b.Fatalf("apply: %v", *p)
				}
			}
			b.StopTimer()
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(float64(total.Load())/elapsed.Seconds(), "writes/s")
		})
	}
}
