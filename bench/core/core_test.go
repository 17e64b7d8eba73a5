package core

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

var (
	window       = flag.Duration("core.window", 5*time.Second, "how long each throughput run writes")
	prefill      = flag.Int("core.prefill", 0, "fault domains written before each throughput run (state size)")
	failoverRuns = flag.Int("core.failover-runs", 7, "leader kills measured by BenchmarkFailover")
	profileDir   = flag.String("core.profile-dir", "", "write a CPU profile of the leader during each BenchmarkWrite window to this directory (csetd -pprof)")
)

// dial returns n independent gRPC connections to addr (one per simulated client).
func dial(b *testing.B, addr string, n int) []apiv1.ClusterSetServiceClient {
	b.Helper()
	out := make([]apiv1.ClusterSetServiceClient, n)
	for i := range out {
		cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cc.Close() })
		out[i] = apiv1.NewClusterSetServiceClient(cc)
	}
	return out
}

// writeOnce is the benchmarked write: a new fault domain, one Raft commit. Fault domains are
// used because nothing else reacts to them (members would be polled by the controller). Like
// csetctl, it retries an Unavailable answer (no leader, or leadership lost mid-commit) with the
// same request id, so the write is applied once; retries counts those retries.
func writeOnce(ctx context.Context, c apiv1.ClusterSetServiceClient, name string, retries *atomic.Int64) error {
	ctx = metadata.AppendToOutgoingContext(ctx, "cset-request-id", "bench-"+name)
	deadline := time.Now().Add(30 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := c.CreateFaultDomain(cctx, &apiv1.CreateFaultDomainRequest{Name: name})
		cancel()
		if err == nil || status.Code(err) != codes.Unavailable || time.Now().After(deadline) {
			return err
		}
		if retries != nil {
			retries.Add(1)
		}
	}
}

// windowResult is what one throughput window measured.
type windowResult struct {
	writes  int
	elapsed time.Duration
	lat     []time.Duration // every write's latency
	retries int64           // writes retried after Unavailable (leader change)
	err     error           // the first failed write, if any
}

// runWindow makes every client write in a loop for d and collects the latencies.
func runWindow(clients []apiv1.ClusterSetServiceClient, prefix string, d time.Duration) windowResult {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		res      windowResult
		firstErr atomic.Pointer[error]
		retries  atomic.Int64
	)
	start := time.Now()
	deadline := start.Add(d)
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			for seq := 0; time.Now().Before(deadline) && firstErr.Load() == nil; seq++ {
				t0 := time.Now()
				if err := writeOnce(context.Background(), c, fmt.Sprintf("%s-%d-%d", prefix, i, seq), &retries); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					break
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			res.lat = append(res.lat, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.writes = len(res.lat)
	res.retries = retries.Load()
	if p := firstErr.Load(); p != nil {
		res.err = *p
	}
	return res
}

// runCount writes n fault domains spread over the clients.
func runCount(clients []apiv1.ClusterSetServiceClient, prefix string, n int) windowResult {
	var (
		wg   sync.WaitGroup
		next atomic.Int64
		mu   sync.Mutex
		res  windowResult
	)
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := next.Add(1); seq <= int64(n); seq = next.Add(1) {
				if err := writeOnce(context.Background(), c, fmt.Sprintf("%s-%d", prefix, seq), nil); err != nil {
					mu.Lock()
					res.err = fmt.Errorf("client %d: %w", i, err)
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return res
}

// initSet initialises the cluster set, as every real deployment does first.
func initSet(b *testing.B, c apiv1.ClusterSetServiceClient) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.InitSet(ctx, &apiv1.InitSetRequest{Name: "bench", Zone: "bench.example.com."}); err != nil {
		b.Fatalf("init set: %v", err)
	}
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// term returns the Raft term the given master reports.
func term(b *testing.B, c apiv1.ClusterSetServiceClient) uint64 {
	b.Helper()
	st, err := c.Status(context.Background(), &apiv1.StatusRequest{})
	if err != nil {
		b.Fatal(err)
	}
	return st.GetTerm()
}

// applyStats reads the sum and count of cset_raft_apply_seconds (time from raft.Apply to the
// FSM's answer) from a master's /metrics.
func applyStats(b *testing.B, m *master) (sum, count float64) {
	b.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + m.addrs.HTTP + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		switch name {
		case "cset_raft_apply_seconds_sum":
			sum, _ = strconv.ParseFloat(val, 64)
		case "cset_raft_apply_seconds_count":
			count, _ = strconv.ParseFloat(val, 64)
		}
	}
	if err := sc.Err(); err != nil {
		b.Fatal(err)
	}
	return sum, count
}

// BenchmarkWrite measures API writes per second on a fresh three-master cluster, with 1 and 64
// concurrent clients (one gRPC connection each), sent to the leader or to a follower (which
// forwards every write to the leader). Each b.N iteration writes for -core.window.
func BenchmarkWrite(b *testing.B) {
	for _, target := range []string{"leader", "follower"} {
		for _, n := range []int{1, 64} {
			b.Run(fmt.Sprintf("target=%s/clients=%d", target, n), func(b *testing.B) {
				c := newCluster(b, nil)
				leader := c.waitLeader(c.masters)
				to := leader
				if target == "follower" {
					to = c.follower(leader)
				}
				clients := dial(b, to.addrs.GRPC, n)
				initSet(b, clients[0])
				if *prefill > 0 {
					fill := dial(b, leader.addrs.GRPC, 64)
					if r := runCount(fill, "fill", *prefill); r.err != nil {
						b.Fatalf("prefill: %v", r.err)
					}
				}
				if r := runWindow(clients, "warm", 200*time.Millisecond); r.err != nil {
					b.Fatalf("warm-up write: %v", r.err)
				}
				term0 := term(b, clients[0])
				applySum0, applyN0 := applyStats(b, leader)
				b.ResetTimer()
				var all windowResult
				var prof sync.WaitGroup
				if *profileDir != "" {
					name := filepath.Join(*profileDir, strings.NewReplacer("/", "-", "=", "").Replace(b.Name())+".pprof")
					prof.Go(func() { leaderProfile(b, leader, *window-time.Second, name) })
				}
				for i := range b.N {
					r := runWindow(clients, fmt.Sprintf("w%d", i), *window)
					if r.err != nil {
						b.Fatalf("write failed after %d writes: %v", r.writes, r.err)
					}
					all.writes += r.writes
					all.elapsed += r.elapsed
					all.lat = append(all.lat, r.lat...)
					all.retries += r.retries
				}
				b.StopTimer()
				prof.Wait()
				applySum, applyN := applyStats(b, leader)
				slices.Sort(all.lat)
				b.ReportMetric(0, "ns/op")
				b.ReportMetric(float64(all.writes)/all.elapsed.Seconds(), "writes/s")
				b.ReportMetric(ms(percentile(all.lat, 0.50)), "p50-ms")
				b.ReportMetric(ms(percentile(all.lat, 0.99)), "p99-ms")
				b.ReportMetric(float64(term(b, clients[0])-term0), "elections")
				b.ReportMetric(float64(all.retries), "retries")
				if applyN > applyN0 {
					b.ReportMetric(1000*(applySum-applySum0)/(applyN-applyN0), "apply-ms")
				}
			})
		}
	}
}

// leaderProfile saves a CPU profile of m taken over d (rounded down to whole seconds, at least
// one) to path.
func leaderProfile(b *testing.B, m *master, d time.Duration, path string) {
	secs := max(int(d/time.Second), 1)
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", m.addrs.HTTP, secs))
	if err != nil {
		b.Errorf("profile of %s: %v", m.id, err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Errorf("profile of %s: %s", m.id, resp.Status)
		return
	}
	raw, err := io.ReadAll(resp.Body)
	if err == nil {
		err = os.WriteFile(path, raw, 0o644)
	}
	if err != nil {
		b.Errorf("profile of %s: %v", m.id, err)
	}
}

// BenchmarkFailover kills the leader with SIGKILL -core.failover-runs times and measures the time
// from the kill to the first write a survivor accepts (the survivor forwards it to the new
// leader once one is elected). After each run the killed master restarts on its data dir and
// the next run waits until all three agree on a leader and have applied the same index.
func BenchmarkFailover(b *testing.B) {
	c := newCluster(b, tunedRaft)
	clients := map[*master]apiv1.ClusterSetServiceClient{}
	for _, m := range c.masters {
		clients[m] = dial(b, m.addrs.GRPC, 1)[0]
	}
	initSet(b, clients[c.masters[0]])
	var times []time.Duration
	b.ResetTimer()
	for run := range *failoverRuns * b.N {
		b.StopTimer()
		leader := c.waitLeader(c.masters)
		survivor := c.follower(leader)
		if err := writeOnce(context.Background(), clients[survivor], fmt.Sprintf("before-%d", run), nil); err != nil {
			b.Fatalf("write before the kill: %v", err)
		}
		c.waitApplied(clients)
		b.StartTimer()
		t0 := time.Now()
		leader.kill()
		for attempt := 0; ; attempt++ {
			err := writeOnce(context.Background(), clients[survivor], fmt.Sprintf("after-%d-%d", run, attempt), nil)
			if err == nil {
				break
			}
			if time.Since(t0) > 30*time.Second {
				b.Fatalf("run %d: no write accepted 30s after the leader kill: %v", run, err)
			}
		}
		d := time.Since(t0)
		b.StopTimer()
		times = append(times, d)
		b.Logf("run %d: killed %s, write accepted through %s after %v", run, leader.id, survivor.id, d.Round(time.Millisecond))
		leader.start()
	}
	slices.Sort(times)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ms(times[len(times)/2]), "median-ms")
	b.ReportMetric(ms(times[len(times)-1]), "worst-ms")
	b.ReportMetric(ms(times[0]), "best-ms")
	b.ReportMetric(float64(len(times)), "runs")
}

// waitApplied waits until every master has applied the same index, so a kill never hits a
// cluster that is still catching up a restarted master.
func (c *cluster) waitApplied(clients map[*master]apiv1.ClusterSetServiceClient) {
	c.b.Helper()
	testutil.Eventually(c.b, 30*time.Second, func() error {
		var want uint64
		for _, m := range c.masters {
			st, err := clients[m].Status(context.Background(), &apiv1.StatusRequest{})
			if err != nil {
				return err
			}
			if want == 0 {
				want = st.GetAppliedIndex()
			}
			if st.GetAppliedIndex() != want || st.GetLeader().GetId() == "" {
				return fmt.Errorf("%s applied %d (leader %q), others %d", m.id, st.GetAppliedIndex(), st.GetLeader().GetId(), want)
			}
		}
		return nil
	})
}
