package controllerbench

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/fsm"
	"github.com/cset-project/cset/internal/proctest"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"google.golang.org/protobuf/proto"
	"gopkg.in/yaml.v3"
)

var (
	scaleMembers = flag.Int("ctl.scale-members", 1000, "simulated members polled by BenchmarkScale (2 servers each); 5000 is issue 19's goal (needs -timeout 90m)")
	scaleGroups  = flag.Int("ctl.scale-groups", 10, "groups per simulated member in BenchmarkScale, each with its workload")
	scaleWindow  = flag.Duration("ctl.scale-window", 30*time.Second, "quiet window over which BenchmarkScale measures CPU and Raft entries")
	scaleProfile = flag.String("ctl.scale-cpuprofile", "", "write a CPU profile of the quiet window only (not the setup) to this file")
	setupProfile = flag.String("ctl.scale-setup-cpuprofile", "", "write a CPU profile of the setup (registration and adoption) to this file")
)

const (
	scalePoll      = time.Second
	goalCores      = 1.0
	goalEntriesMin = 0.0
)

// goalMemoryMiB is the leader's memory goal for n members: 500 MB up to 1,000 members (issue 6),
// 1 GiB up to 5,000 (issue 19, "Scale x5").
func goalMemoryMiB(n int) float64 {
	if n <= 1000 {
		return 500e6 / (1 << 20)
	}
	return 1024
}

// ecxsimBin is built on first use, once per test binary.
var ecxsimBin = proctest.NewBinary("./cmd/ecxsim")

func TestMain(m *testing.M) {
	os.Exit(proctest.Main(m))
}

// simProcess is an ecxsim child process.
type simProcess struct {
	proc    *proctest.Process
	servers map[string]map[string]string // cluster -> server -> URL
}

// startSimProcess builds cmd/ecxsim and runs it with n clusters of 2 servers and -ctl.scale-groups groups, every
// group auto-started (so the leader adopts it) and no witness heartbeats: the simulator's own
// CPU stays out of the measured process. Its log goes to stderr, at -ctl.log-level; the end of
// the benchmark stops it with SIGTERM (SIGKILL after 10s).
func startSimProcess(b *testing.B, n int) *simProcess {
	b.Helper()
	dir := b.TempDir()
	bin := ecxsimBin.Path(b)
	type server struct {
		Name   string `yaml:"name"`
		Listen string `yaml:"listen"`
	}
	type group struct {
		Name      string `yaml:"name"`
		AutoStart bool   `yaml:"auto_start"`
	}
	type cluster struct {
		Name     string   `yaml:"name"`
		User     string   `yaml:"user"`
		Password string   `yaml:"password"`
		Servers  []server `yaml:"servers"`
		Groups   []group  `yaml:"groups"`
	}
	var cfg struct {
		Clusters    []cluster `yaml:"clusters"`
		ControlAddr string    `yaml:"control_addr"`
	}
	cfg.ControlAddr = "127.0.0.1:0"
	for i := range n {
		c := cluster{Name: memberName(i), User: "admin", Password: "pw"}
		for s := 1; s <= 2; s++ {
			c.Servers = append(c.Servers, server{Name: fmt.Sprintf("%s-%d", c.Name, s), Listen: "127.0.0.1:0"})
		}
		for g := range *scaleGroups {
			c.Groups = append(c.Groups, group{Name: workloadName(i, g), AutoStart: true})
		}
		cfg.Clusters = append(cfg.Clusters, c)
	}
	data, err := yaml.Marshal(cfg)
	if err != nil {
		b.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "ecxsim.yaml")
	if err := os.WriteFile(cfgPath, data, 0o644); err != nil {
		b.Fatal(err)
	}
	p := proctest.New(b, bin, proctest.Options{Stderr: os.Stderr, StopTimeout: 10 * time.Second})
	if err := p.Start("-config", cfgPath, "-ready-file", p.ReadyFile(), "-log-level", *logLevel); err != nil {
		b.Fatal(err)
	}
	sp := &simProcess{proc: p}
	var rf struct {
		Servers map[string]map[string]string `json:"servers"`
	}
	if err := p.WaitReady(60*time.Second+time.Duration(n)*20*time.Millisecond, proctest.JSON(&rf)); err != nil {
		b.Fatal(err)
	}
	sp.servers = rf.Servers
	return sp
}

func memberName(i int) string      { return fmt.Sprintf("m%04d", i) }
func workloadName(i, g int) string { return fmt.Sprintf("m%04d-g%d", i, g) }

// register declares the set, the members (100 per Apply) and one workload per group (1,000 per
// Apply): each workload has its own member as its only candidate, since its group exists there.
func register(b *testing.B, m *master, sp *simProcess, n int) {
	b.Helper()
	if _, err := m.client.Apply(ctx(b, time.Minute), &apiv1.ApplyRequest{Declaration: &apiv1.Declaration{
		Set: &apiv1.InitSetRequest{Name: "scale", Zone: "cset.test."}}}); err != nil {
		b.Fatal(err)
	}
	var decl apiv1.Declaration
	var slowest time.Duration
	calls := 0
	defer func() {
		b.Logf("registration: %d Apply calls, the slowest %v", calls, slowest.Round(time.Millisecond))
	}()
	flush := func() {
		if len(decl.Members)+len(decl.Workloads) == 0 {
			return
		}
		t0 := time.Now()
		if _, err := m.client.Apply(ctx(b, 10*time.Minute), &apiv1.ApplyRequest{Declaration: &decl}); err != nil {
			b.Fatalf("applying %d members and %d workloads: %v (after %v)", len(decl.Members), len(decl.Workloads), err, time.Since(t0).Round(time.Millisecond))
		}
		calls++
		slowest = max(slowest, time.Since(t0))
		decl = apiv1.Declaration{}
	}
	for i := range n {
		name := memberName(i)
		req := &apiv1.AddMemberRequest{Name: name, User: "admin", Password: "pw"}
		for s := 1; s <= 2; s++ {
			srv := fmt.Sprintf("%s-%d", name, s)
			req.Servers = append(req.Servers, &apiv1.ServerSpec{Name: srv, Url: sp.servers[name][srv]})
		}
		decl.Members = append(decl.Members, req)
		if len(decl.Members) == 100 {
			flush()
		}
	}
	flush()
	groups := *scaleGroups
	for i := range n {
		for g := range groups {
			k := i*groups + g
			decl.Workloads = append(decl.Workloads, &apiv1.RegisterWorkloadRequest{
				Name: workloadName(i, g), Group: workloadName(i, g), Candidates: []string{memberName(i)},
				Addresses: map[string]*apiv1.AddressList{memberName(i): {Addresses: []string{fmt.Sprintf("10.%d.%d.%d", k>>16, (k>>8)&255, k&255)}}},
			})
			if len(decl.Workloads) == 1000 {
				flush()
			}
		}
	}
	flush()
}

// converged reports whether every member is up and every workload placed Online.
func converged(d *fsm.Data, n int) error {
	groups := *scaleGroups
	if len(d.Members) != n || len(d.Workloads) != n*groups {
		return fmt.Errorf("%d members and %d workloads registered", len(d.Members), len(d.Workloads))
	}
	up, placed := 0, 0
	for _, m := range d.Members {
		if m.Health == fsm.HealthUp && len(m.Groups) == groups {
			up++
		}
	}
	for _, w := range d.Workloads {
		if w.GetPlacement().GetStatus() == "Online" {
			placed++
		}
	}
	if up != n || placed != n*groups {
		return fmt.Errorf("%d of %d members up, %d of %d workloads placed Online", up, n, placed, n*groups)
	}
	return nil
}

// usage is this process's CPU time so far.
func usage(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is the CPU time of another process, from /proc (0 where there is none).
func procCPU(pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command (which may hold spaces) start after the last ')'.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// rssMB returns VmRSS and VmHWM (peak) of this process in MiB, or 0 without /proc.
func rssMB() (rss, peak float64) {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			peak = kb / 1024
		}
	}
	return rss, peak
}

// applies returns how many entries this master has applied through raftApply and their total
// latency, from its cset_raft_apply_seconds histogram.
func applies(b *testing.B, m *master) (uint64, time.Duration) {
	mfs, err := m.srv.Registry().Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "cset_raft_apply_seconds" && len(mf.GetMetric()) > 0 {
			h := mf.GetMetric()[0].GetHistogram()
			return h.GetSampleCount(), time.Duration(h.GetSampleSum() * float64(time.Second))
		}
	}
	return 0, 0
}

func heapMB() float64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return float64(s[0].Value.Uint64()) / (1 << 20)
}

// checkScaleLimits makes sure that this machine can hold n simulated members: the simulator
// (another process) listens on 2 ports per member and accepts the leader's connection to one of
// them, the leader holds a connection per member; the listeners' ports come from the ephemeral
// range. It raises this process's soft limit on open files to the hard limit (the simulator, a Go
// program, does so itself) and fails with what to change when that is not enough.
func checkScaleLimits(b *testing.B, n int) {
	b.Helper()
	need := uint64(3*n + 512) // the simulator's, the larger need
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatalf("reading the open-files limit: %v", err)
	}
	if lim.Max < need {
		b.Fatalf("%d simulated members need %d open files in the ecxsim process (2 listeners and a connection per member) "+
			"but the hard limit is %d: raise it (ulimit -Hn, LimitNOFILE= of a systemd unit, /etc/security/limits.conf) or lower -ctl.scale-members",
			n, need, lim.Max)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			b.Fatalf("raising the open-files limit to %d: %v", lim.Max, err)
		}
	}
	if raw, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var lo, hi int
		if _, err := fmt.Sscan(string(raw), &lo, &hi); err == nil && hi-lo+1 < 2*n+2000 {
			b.Fatalf("%d simulated members listen on %d ports taken from the ephemeral range %d-%d, which is too small: widen it (sysctl net.ipv4.ip_local_port_range) or lower -ctl.scale-members",
				n, 2*n, lo, hi)
		}
	}
}

// loadavg returns the 1, 5 and 15 minute load averages, as uptime prints them ("" without /proc).
func loadavg() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// whatChanged names the members and workloads that differ between two states, for a quiet window
// that was not quiet.
func whatChanged(a, b *fsm.Data) string {
	var out []string
	for name, m := range b.Members {
		if o := a.Members[name]; o == nil || !proto.Equal(o, m) {
			was := "new"
			if o != nil {
				was = fmt.Sprintf("was health %s, observed at %d, servers %v, groups %v", o.Health, o.ObservedIndex, o.Servers, o.Groups)
			}
			out = append(out, fmt.Sprintf("member %s (health %s: %s; observed at %d, servers %v, groups %v; %s)", name, m.Health, m.HealthReason, m.ObservedIndex, m.Servers, m.Groups, was))
		}
	}
	for name, w := range b.Workloads {
		if o := a.Workloads[name]; o == nil || !proto.Equal(o, w) {
			out = append(out, fmt.Sprintf("workload %s (placement %v)", name, w.GetPlacement()))
		}
	}
	if len(out) > 10 {
		out = append(out[:10], fmt.Sprintf("and %d more", len(out)-10))
	}
	if len(out) == 0 {
		return "no member or workload changed"
	}
	return strings.Join(out, "; ")
}

func BenchmarkScale(b *testing.B) {
	n, groups := *scaleMembers, *scaleGroups
	checkScaleLimits(b, n)
	b.Logf("load average at the start: %s", loadavg())
	t0 := time.Now()
	sp := startSimProcess(b, n)
	simReady := time.Since(t0)
	m := startMaster(b, startWitness(b), func(c *config.ControllerConfig) { c.PollInterval = scalePoll })
	if *setupProfile != "" {
		pf, err := os.Create(*setupProfile)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			b.Fatal(err)
		}
		defer pf.Close()
	}
	t1 := time.Now()
	register(b, m, sp, n)
	registered := time.Since(t1)
	f := m.srv.FSM()
	progress := time.Now()
	// Adoption commits one entry per workload, one after another: about 3 ms each on an idle
	// machine, many times that on a loaded one.
	testutil.Eventually(b, 20*time.Minute+time.Duration(n*groups)*20*time.Millisecond, func() error {
		err := converged(f.Data(), n)
		if err != nil && time.Since(progress) > 30*time.Second {
			progress = time.Now()
			// Not b.Logf: a benchmark keeps only 10 lines of its log, for the results.
			fmt.Fprintf(os.Stderr, "BenchmarkScale: after %v: %v (load average %s)\n", time.Since(t1).Round(time.Second), err, loadavg())
		}
		return err
	})
	adopted := time.Since(t1)
	if *setupProfile != "" {
		pprof.StopCPUProfile()
	}
	setupApplies, setupApplyTime := applies(b, m)
	// Quiet: the applied index has not moved for five polls.
	last, since := f.AppliedIndex(), time.Now()
	testutil.Eventually(b, 5*time.Minute, func() error {
		if idx := f.AppliedIndex(); idx != last {
			last, since = idx, time.Now()
		}
		if time.Since(since) < 5*scalePoll {
			return fmt.Errorf("index %d still moving", last)
		}
		return nil
	})
	b.Logf("%d members, %d workloads: simulator built and ready in %v, registered in %v, all adopted and up after %v; applied index %d; "+
		"%d entries applied by the leader with a mean latency of %v",
		n, n*groups, simReady.Round(time.Millisecond), registered.Round(time.Millisecond), adopted.Round(time.Millisecond), last,
		setupApplies, (setupApplyTime / time.Duration(max(1, setupApplies))).Round(10*time.Microsecond))

	if *scaleProfile != "" {
		pf, err := os.Create(*scaleProfile)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			b.Fatal(err)
		}
		defer pf.Close()
	}
	b.ResetTimer()
	load0 := loadavg()
	d0 := f.Data()
	idx0, cpu0, simCPU0, start := f.AppliedIndex(), usage(b), procCPU(sp.proc.Pid()), time.Now()
	var rssMax, heapMax float64
	for time.Since(start) < *scaleWindow {
		time.Sleep(time.Second) // sampling memory once a second is the measurement, not a wait for a condition
		rss, _ := rssMB()
		rssMax, heapMax = max(rssMax, rss), max(heapMax, heapMB())
	}
	wall, idx1, cpu1, simCPU1 := time.Since(start), f.AppliedIndex(), usage(b), procCPU(sp.proc.Pid())
	b.StopTimer()
	if idx1 != idx0 {
		b.Logf("entries in the quiet window: %s", whatChanged(d0, f.Data()))
	}
	if *scaleProfile != "" {
		pprof.StopCPUProfile()
	}
	cores := (cpu1 - cpu0).Seconds() / wall.Seconds()
	entriesMin := float64(idx1-idx0) / wall.Minutes()
	_, peak := rssMB()
	goalMem := goalMemoryMiB(n)
	verdict := func(ok bool) string {
		if ok {
			return "goal met"
		}
		return "GOAL MISSED"
	}
	b.Logf("quiet window %v (load average %s at its start, %s at its end): leader process CPU %.3f cores (%s, goal <= %.0f); "+
		"RSS max %.0f MiB, peak over the whole run %.0f MiB, heap objects max %.0f MiB (%s, goal <= %.0f MiB); "+
		"Raft entries %d = %.1f/min (%s, goal %.0f); simulator process CPU %.3f cores",
		wall.Round(time.Millisecond), load0, loadavg(), cores, verdict(cores <= goalCores), goalCores,
		rssMax, peak, heapMax, verdict(rssMax <= goalMem), goalMem,
		idx1-idx0, entriesMin, verdict(entriesMin <= goalEntriesMin), goalEntriesMin, (simCPU1-simCPU0).Seconds()/wall.Seconds())
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(cores, "cpu-cores")
	b.ReportMetric(rssMax, "rss-MiB")
	b.ReportMetric(heapMax, "heap-MiB")
	b.ReportMetric(entriesMin, "raft-entries/min")
	b.ReportMetric(adopted.Seconds(), "setup-s")
}
