package core

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
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

// newRaftNode starts one hashicorp/raft node with the same stores, transport and timings as
// csetd (raft-boltdb/v2 with a 512-entry log cache, TCP transport on loopback, csetd's default
// timings) and a trivial FSM. close shuts it down and releases its stores.
func newRaftNode(dir, id string, v raftVariant) (r *raft.Raft, addr raft.ServerAddress, close func(), err error) {
	bolt, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db"), NoSync: v.noSync})
	if err != nil {
		return nil, "", nil, err
	}
	logs, err := raft.NewLogCache(512, bolt)
	if err != nil {
		bolt.Close()
		return nil, "", nil, err
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, hclog.NewNullLogger())
	if err != nil {
		bolt.Close()
		return nil, "", nil, err
	}
	trans, err := raft.NewTCPTransportWithLogger("127.0.0.1:0", nil, 3, 10*time.Second, hclog.NewNullLogger())
	if err != nil {
		bolt.Close()
		return nil, "", nil, err
	}
	cfg := raft.DefaultConfig()
	cfg.LocalID = raft.ServerID(id)
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = time.Second, time.Second, 500*time.Millisecond
	cfg.CommitTimeout = 50 * time.Millisecond
	cfg.Logger = hclog.NewNullLogger()
	if v.maxAppend > 0 {
		cfg.MaxAppendEntries = v.maxAppend
	}
	cfg.BatchApplyCh = v.batchApplyCh
	r, err = raft.NewRaft(cfg, &countFSM{}, logs, bolt, snaps, trans)
	if err != nil {
		trans.Close()
		bolt.Close()
		return nil, "", nil, err
	}
	return r, trans.LocalAddr(), func() {
		_ = r.Shutdown().Error()
		trans.Close()
		bolt.Close()
	}, nil
}

// startRaftRing starts three in-process raft nodes (newRaftNode) and returns the leader.
func startRaftRing(b *testing.B, v raftVariant) *raft.Raft {
	b.Helper()
	var (
		nodes   []*raft.Raft
		servers []raft.Server
	)
	for i := range 3 {
		id := fmt.Sprintf("r%d", i)
		r, addr, closeNode, err := newRaftNode(b.TempDir(), id, v)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(closeNode)
		nodes = append(nodes, r)
		servers = append(servers, raft.Server{ID: raft.ServerID(id), Address: addr, Suffrage: raft.Voter})
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

// applyResult is what applyFor measured.
type applyResult struct {
	writes  int64
	elapsed time.Duration
	lat     []time.Duration // one per committed entry, sorted
}

// applyFor has n goroutines call Apply on leader with a 200-byte entry (about the size of a
// small cset command) in a loop for d, and returns how many entries were committed and the
// latency of each.
func applyFor(leader *raft.Raft, n int, d time.Duration) (applyResult, error) {
	entry := make([]byte, 200)
	start := time.Now()
	deadline := start.Add(d)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		lat    []time.Duration
		failed atomic.Pointer[error]
	)
	for range n {
		wg.Go(func() {
			var mine []time.Duration
			defer func() {
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			}()
			for time.Now().Before(deadline) {
				t0 := time.Now()
				if err := leader.Apply(entry, 10*time.Second).Error(); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
				mine = append(mine, time.Since(t0))
			}
		})
	}
	wg.Wait()
	slices.Sort(lat)
	res := applyResult{writes: int64(len(lat)), elapsed: time.Since(start), lat: lat}
	if p := failed.Load(); p != nil {
		return res, *p
	}
	return res, nil
}

// add appends r to a result of several windows.
func (a *applyResult) add(r applyResult) {
	a.writes += r.writes
	a.elapsed += r.elapsed
	a.lat = append(a.lat, r.lat...)
	slices.Sort(a.lat)
}

// report reports writes/s and the p50 and p99 commit latencies of a.
func (a *applyResult) report(b *testing.B) {
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(a.writes)/a.elapsed.Seconds(), "writes/s")
	b.ReportMetric(ms(percentile(a.lat, 0.50)), "p50-ms")
	b.ReportMetric(ms(percentile(a.lat, 0.99)), "p99-ms")
}

// BenchmarkRaftCeiling measures what hashicorp/raft itself commits per second on this machine
// with csetd's stores, transport and timings but a trivial FSM and no gRPC: the upper bound of
// BenchmarkWrite, and how the raft knobs move it (raftVariants). Each of n goroutines calls
// Apply in a loop for -core.window (applyFor). The three nodes share one process; see
// BenchmarkRaftProcesses for the same ring as three processes.
func BenchmarkRaftCeiling(b *testing.B) {
	for _, v := range raftVariants {
		b.Run(v.name, func(b *testing.B) {
			leader := startRaftRing(b, v)
			b.ResetTimer()
			var all applyResult
			for range b.N {
				r, err := applyFor(leader, v.writers, *window)
				if err != nil {
					b.Fatalf("apply: %v", err)
				}
				all.add(r)
			}
			b.StopTimer()
			all.report(b)
		})
	}
}
