package controller

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/fsm"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
)

var (
	probeBenchWorkloads = flag.Int("probe.workloads", 10000, "workloads BenchmarkProber probes")
	probeBenchWindow    = flag.Duration("probe.window", 10*time.Second, "how long BenchmarkProber measures")
)

// probeTargetEnv makes the test binary a probe target (TestProbeTargetProcess): a process of its
// own, so that BenchmarkProber measures the leader's side of the probes only.
const probeTargetEnv = "CSET_PROBE_TARGET_PORTS"

// TestProbeTargetProcess is not a test: run by BenchmarkProber with probeTargetEnv set, it
// listens on that many ports of 127.0.0.1, accepts and closes every connection, prints its ports
// and exits when its stdin closes.
func TestProbeTargetProcess(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv(probeTargetEnv))
	if n == 0 {
		t.Skip("a helper process of BenchmarkProber")
	}
	var ports []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, p, _ := net.SplitHostPort(l.Addr().String())
		ports = append(ports, p)
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	}
	fmt.Println("PORTS " + strings.Join(ports, ","))
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// staticState is a state that never changes (its watch never fires), as a quiet leader's.
type staticState struct {
	d     *fsm.Data
	watch chan struct{}
}

func (s staticState) Data() *fsm.Data                  { return s.d }
func (s staticState) Member(name string) *fsmv1.Member { return s.d.Members[name] }
func (s staticState) Watch() <-chan struct{}           { return nil }

type countingCommitter struct{ n atomic.Int64 }

func (c *countingCommitter) Commit(context.Context, *fsmv1.LogEntry) (*fsm.Result, error) {
	c.n.Add(1)
	return &fsm.Result{}, nil
}

// probeCounter counts the probes of BenchmarkProber.
type probeCounter struct {
	NopObserver
	probes, failures *atomic.Int64
}

func (p *probeCounter) Probe(_, _ string, _ time.Duration, err error) {
	p.probes.Add(1)
	if err != nil {
		p.failures.Add(1)
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkProber measures the continuous prober of a leader with -probe.workloads workloads
// (default 10,000) placed Online, each with a TCP probe every second, against listeners in a
// child process: the probes per second it keeps up and the CPU it spends (this process only:
// the prober and the Go runtime, not the targets). Run it with
//
//	go test -run '^$' -bench BenchmarkProber -benchtime 1x ./controller/
func BenchmarkProber(b *testing.B) {
	const listeners = 16
	cmd := exec.Command(os.Args[0], "-test.run=^TestProbeTargetProcess$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", probeTargetEnv, listeners))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	var ports []uint32
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "PORTS "); ok {
			for _, p := range strings.Split(rest, ",") {
				n, _ := strconv.Atoi(p)
				ports = append(ports, uint32(n))
			}
			break
		}
	}
	if len(ports) != listeners {
		b.Fatalf("the probe target process gave %d ports", len(ports))
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()

	d := &fsm.Data{Members: map[string]*fsmv1.Member{"east": {Name: "east", Health: fsm.HealthUp}}, Workloads: map[string]*fsmv1.Workload{}, Operations: map[string]*fsmv1.Operation{}}
	for i := range *probeBenchWorkloads {
		name := fmt.Sprintf("w%05d", i)
		d.Workloads[name] = &fsmv1.Workload{
			Name: name, Desired: fsm.DesiredOnline,
			Addresses: map[string]*fsmv1.AddressList{"east": {Addresses: []string{"127.0.0.1"}}},
			Probe:     &fsmv1.Probe{Kind: fsm.ProbeTCP, Port: ports[i%listeners], TimeoutMs: 1000, IntervalMs: 1000, HealthyAfter: 1, UnhealthyAfter: 3, Dns: fsm.ProbeDNSKeep},
			Placement: &fsmv1.Placement{Member: "east", Server: "east-1", Status: fsm.StatusOnline, Reachability: fsm.ReachabilityReachable},
		}
	}
	cfg := config.Default().Controller
	var probes, failures atomic.Int64
	com := &countingCommitter{}
	c := New(cfg, Deps{State: staticState{d, make(chan struct{})}, Committer: com, Fence: nil, Observer: &probeCounter{probes: &probes, failures: &failures}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.runProbes(ctx) }()
	b.ResetTimer()
	for range b.N {
		time.Sleep(2 * time.Second) // warm-up: the first round probes everything at once
		p0, f0, cpu0, t0 := probes.Load(), failures.Load(), cpuTime(), time.Now()
		time.Sleep(*probeBenchWindow)
		p1, f1, cpu1, wall := probes.Load(), failures.Load(), cpuTime(), time.Since(t0)
		rate := float64(p1-p0) / wall.Seconds()
		cores := (cpu1 - cpu0).Seconds() / wall.Seconds()
		fmt.Printf("BenchmarkProber: %d workloads, tcp probe every 1s, %d probe workers: %.0f probes/s, %d failed, %.3f cores (%.1f µs CPU per probe), %d commits\n",
			*probeBenchWorkloads, cfg.ProbeWorkers, rate, f1-f0, cores, (cpu1-cpu0).Seconds()*1e6/float64(p1-p0), com.n.Load())
		b.ReportMetric(rate, "probes/s")
		b.ReportMetric(cores, "cores")
		b.ReportMetric(float64(f1-f0), "failed")
	}
	b.StopTimer()
	cancel()
	<-done
}
