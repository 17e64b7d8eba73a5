package controllerbench

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/ecxsim"
	"github.com/cset-project/cset/fsm"
	"github.com/cset-project/cset/internal/proctest"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"github.com/miekg/dns"
)

// BenchmarkMassFailover (issue 19, goal 2): a member running 1,000 workloads dies; every one of
// them must be Online on one of the two surviving members, and answered there by the master's
// DNS, within fence_after + one start time + 2 s.
//
// The ECX world (ecxsim, three clusters of two servers, a counting HTTP proxy in front of every
// server, and the DNS checker) runs in a child process, a re-run of this test binary
// (TestMassFailoverWorld), so that the CPU this process uses is the leader's (plus the witness):
// the simulator serving thousands of requests would otherwise be counted as the leader's.
//
// The child measures everything from the outside, on one clock: the kill; when each group's
// start was accepted by ECX (its proxy saw the POST answered 200), so the group is Online
// exactly one start duration later (ecxsim schedules it so); when the master's DNS first
// answers each workload's name with its address on the member it was started on (the child
// asks for a workload from the instant it is Online until the answer is right); and every
// REST request, by member and kind.

var (
	massWorkloads = flag.Int("ctl.mass-workloads", 1000, "workloads on the member that BenchmarkMassFailover kills")
	massParallel  = flag.Int("ctl.mass-max-parallel", 0, "controller.max_parallel_operations of BenchmarkMassFailover (0: the configuration's default)")
	massProfile   = flag.String("ctl.mass-cpuprofile", "", "write a CPU profile of the leader process from the kill until every workload is in DNS to this file")
)

// massWorldEnv carries the child's configuration (JSON); TestMassFailoverWorld skips without it.
const massWorldEnv = "CSET_BENCH_MASS_WORLD"

// The mass failover world uses the failover world's timings (foPoll, foFenceAfter, foStart...).
var massMembers = []string{"east", "west", "north"}

const (
	massECXTimeout = time.Second
	// massUnreachableAfter bounds a poll of a member to 300 ms (half of it): a survivor
	// answering a thousand starts on a loaded two-core machine took longer than the failover
	// world's 150 ms now and then, and looked partitioned (its starts paused, the brake held
	// the failovers) although it answered. Detection is fence_after's business, unchanged.
	massUnreachableAfter = 600 * time.Millisecond
	massVictim           = "east"
	massZone             = "cset.test."
	massGoal             = 2 * time.Second // beyond fence_after + one start
)

// massCapacity is each member's capacity for n workloads of size 1: the victim holds them all,
// each survivor 60 % of them, so the failover must use both.
func massCapacity(member string, n int) int64 {
	if member == massVictim {
		return int64(n)
	}
	return int64(n * 6 / 10)
}

func massWorkload(i int) string { return fmt.Sprintf("w%04d", i) }

// massAddress is workload i's address on the member with index mi in massMembers.
func massAddress(mi, i int) string { return fmt.Sprintf("10.%d.%d.%d", mi+1, i/256, i%256) }

type massWorldConfig struct {
	WitnessURL string `json:"witness_url"`
	Groups     int    `json:"groups"`
	ReadyFile  string `json:"ready_file"`
	CPUProfile string `json:"cpu_profile,omitempty"` // of the failover, from the kill to the last DNS answer
}

type massWorldReady struct {
	Servers map[string]map[string]string `json:"servers"` // member -> server -> proxy URL
	Control string                       `json:"control"`
}

type massKillRequest struct {
	Victim  string `json:"victim"`
	DNSAddr string `json:"dns_addr"`
	Zone    string `json:"zone"`
}

// massResult is what the child measured; times are Unix nanoseconds.
type massResult struct {
	Done      bool   `json:"done"`
	Error     string `json:"error,omitempty"`
	Confirmed int    `json:"confirmed"` // workloads answered right by DNS so far

	Kill       int64 `json:"kill"`
	FirstStart int64 `json:"first_start"` // first start accepted after the kill
	LastStart  int64 `json:"last_start"`  // last one
	Online     int64 `json:"online"`      // LastStart + start duration: every group Online elsewhere
	DNS        int64 `json:"dns"`         // the last workload answered right by DNS

	Starts          int    `json:"starts"` // start POSTs accepted after the kill
	OnlineElsewhere int    `json:"online_elsewhere"`
	Audit           string `json:"audit"`
	DNSQueries      int    `json:"dns_queries"`

	// Requests counts the REST requests from the kill to DNS by member and kind; Peak is each
	// member's busiest 100 ms, in requests per second.
	Requests map[string]map[string]int64 `json:"requests"`
	Peak     map[string]float64          `json:"peak"`
}

// The kinds of REST request the proxies count.
const (
	kindList   = "GET /groups"
	kindGroup  = "GET /groups/{g}"
	kindStart  = "POST start"
	kindStop   = "POST stop"
	kindRead   = "GET other"
	kindOther  = "POST other"
	peakBucket = 100 * time.Millisecond
)

var massKinds = []string{kindList, kindGroup, kindStart, kindStop, kindRead, kindOther}

func classify(r *http.Request) string {
	p := strings.TrimPrefix(r.URL.Path, "/api/v1")
	switch {
	case r.Method == http.MethodGet && p == "/groups":
		return kindList
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/groups/") && strings.Count(p, "/") == 2:
		return kindGroup
	case r.Method == http.MethodGet:
		return kindRead
	case strings.HasPrefix(p, "/groups/") && strings.HasSuffix(p, "/start"):
		return kindStart
	case strings.HasPrefix(p, "/groups/") && strings.HasSuffix(p, "/stop"):
		return kindStop
	}
	return kindOther
}

// massWorld is the child's state.
type massWorld struct {
	sim     *ecxsim.Sim
	n       int
	profile string // write a CPU profile of the failover here
	counts  map[string]map[string]*atomic.Int64
	members map[string]int // member -> index in massMembers

	mu       sync.Mutex
	kill     time.Time
	victim   string
	accepted map[string]acceptedStart // group -> its last start accepted after the kill
	buckets  map[string][]int64       // member -> requests per peakBucket since the kill
	base     map[string]map[string]int64
	result   massResult
}

type acceptedStart struct {
	member string
	at     time.Time
}

// TestMassFailoverWorld is the child process of BenchmarkMassFailover; it skips unless
// massWorldEnv is set.
func TestMassFailoverWorld(t *testing.T) {
	raw := os.Getenv(massWorldEnv)
	if raw == "" {
		t.Skip("the ECX world of BenchmarkMassFailover; runs only as its child process")
	}
	var cfg massWorldConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		t.Fatal(err)
	}
	w := &massWorld{n: cfg.Groups, profile: cfg.CPUProfile, counts: map[string]map[string]*atomic.Int64{}, members: map[string]int{}, accepted: map[string]acceptedStart{}, buckets: map[string][]int64{}}
	simCfg := ecxsim.Config{ControlAddr: "127.0.0.1:0"}
	for mi, m := range massMembers {
		w.members[m] = mi
		w.counts[m] = map[string]*atomic.Int64{}
		for _, k := range massKinds {
			w.counts[m][k] = new(atomic.Int64)
		}
		cl := ecxsim.ClusterConfig{
			Name: m, User: "admin", Password: "pw-" + m, WitnessURL: cfg.WitnessURL,
			HeartbeatTimeout: foHeartbeatTimeout, HeartbeatInterval: foHeartbeatEvery,
			Servers: []ecxsim.ServerConfig{{Name: m + "-1", Listen: "127.0.0.1:0"}, {Name: m + "-2", Listen: "127.0.0.1:0"}},
		}
		for i := range cfg.Groups {
			// Only the victim starts its groups by itself: the masters adopt them there.
			cl.Groups = append(cl.Groups, ecxsim.GroupConfig{Name: massWorkload(i), StartDuration: foStart, StopDuration: foStop, AutoStart: m == massVictim})
		}
		simCfg.Clusters = append(simCfg.Clusters, cl)
	}
	sim, err := ecxsim.New(simCfg, logger("ecxsim"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	w.sim = sim

	ready := massWorldReady{Servers: map[string]map[string]string{}}
	transport := &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: 30 * time.Second}
	for _, m := range massMembers {
		ready.Servers[m] = map[string]string{}
		for _, s := range []string{m + "-1", m + "-2"} {
			ready.Servers[m][s] = w.serveProxy(t, m, sim.ServerURL(m, s), transport)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /kill", w.handleKill)
	mux.HandleFunc("GET /result", func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		defer w.mu.Unlock()
		_ = json.NewEncoder(rw).Encode(w.result)
	})
	mux.HandleFunc("GET /counts", func(rw http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(rw).Encode(w.snapshot())
	})
	ready.Control = serve(t, mux)
	data, _ := json.Marshal(ready)
	tmp := cfg.ReadyFile + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, cfg.ReadyFile); err != nil {
		t.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(t.Context(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	<-ctx.Done()
}

// serve serves h on 127.0.0.1 until the test ends and returns its URL.
func serve(t *testing.T, h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// statusWriter remembers the status of an answer.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// serveProxy serves a counting reverse proxy to one server of member and returns its URL. A
// server that is down is answered 502 without an envelope, which ecxclient takes for a server
// that did not answer (it tries the next one, then reports the member unreachable).
func (w *massWorld) serveProxy(t *testing.T, member, target string, transport http.RoundTripper) string {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := &httputil.ReverseProxy{
		Rewrite:      func(r *httputil.ProxyRequest) { r.SetURL(u) },
		Transport:    transport,
		ErrorHandler: func(rw http.ResponseWriter, _ *http.Request, _ error) { rw.WriteHeader(http.StatusBadGateway) },
	}
	return serve(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		kind := classify(r)
		w.counts[member][kind].Add(1)
		w.bucket(member)
		sw := &statusWriter{ResponseWriter: rw, status: http.StatusOK}
		rp.ServeHTTP(sw, r)
		if kind == kindStart && sw.status == http.StatusOK {
			w.started(member, strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/api/v1/groups/"), "/start"))
		}
	}))
}

func (w *massWorld) bucket(member string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.kill.IsZero() || w.result.Done {
		return
	}
	i := int(time.Since(w.kill) / peakBucket)
	b := w.buckets[member]
	for len(b) <= i {
		b = append(b, 0)
	}
	b[i]++
	w.buckets[member] = b
}

func (w *massWorld) started(member, group string) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.kill.IsZero() && member != w.victim {
		w.accepted[group] = acceptedStart{member: member, at: now}
	}
}

func (w *massWorld) snapshot() map[string]map[string]int64 {
	out := map[string]map[string]int64{}
	for m, kinds := range w.counts {
		out[m] = map[string]int64{}
		for k, c := range kinds {
			out[m][k] = c.Load()
		}
	}
	return out
}

func (w *massWorld) handleKill(rw http.ResponseWriter, r *http.Request) {
	var req massKillRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	w.mu.Lock()
	if !w.kill.IsZero() {
		w.mu.Unlock()
		http.Error(rw, "killed already", http.StatusConflict)
		return
	}
	w.base = w.snapshot()
	w.victim, w.kill = req.Victim, time.Now()
	w.result.Kill = w.kill.UnixNano()
	w.mu.Unlock()
	if w.profile != "" {
		if pf, err := os.Create(w.profile); err == nil && pprof.StartCPUProfile(pf) == nil {
			defer func() { go func() { w.waitDone(); pprof.StopCPUProfile(); pf.Close() }() }()
		}
	}
	if err := w.sim.ClusterDown(req.Victim); err != nil {
		http.Error(rw, err.Error(), http.StatusInternalServerError)
		return
	}
	go w.checkDNS(req)
	_ = json.NewEncoder(rw).Encode(w.result)
}

// waitDone waits until the result is complete (or failed).
func (w *massWorld) waitDone() {
	_ = testutil.Poll{Timeout: 10 * time.Minute, Interval: 10 * time.Millisecond}.Wait(func() error {
		w.mu.Lock()
		defer w.mu.Unlock()
		if !w.result.Done && w.result.Error == "" {
			return fmt.Errorf("not done")
		}
		return nil
	})
}

// checkDNS asks the master's DNS for every workload whose group is Online elsewhere (its start
// was accepted one start duration ago) until it answers the address there, and completes the
// result when every workload is answered right.
func (w *massWorld) checkDNS(req massKillRequest) {
	fail := func(err error) {
		w.mu.Lock()
		w.result.Error = err.Error()
		w.mu.Unlock()
	}
	conn, err := dns.Dial("udp", req.DNSAddr)
	if err != nil {
		fail(err)
		return
	}
	defer conn.Close()
	client := &dns.Client{Timeout: time.Second}
	confirmed := map[string]time.Time{}
	queries := 0
	for len(confirmed) < w.n {
		w.mu.Lock()
		var due []string
		accepted := map[string]acceptedStart{}
		for g, a := range w.accepted {
			if _, ok := confirmed[g]; !ok && time.Since(a.at) >= foStart {
				due = append(due, g)
				accepted[g] = a
			}
		}
		w.mu.Unlock()
		sort.Strings(due)
		for _, g := range due {
			a := accepted[g]
			i, _ := strconv.Atoi(strings.TrimPrefix(g, "w"))
			want := massAddress(w.members[a.member], i)
			m := new(dns.Msg)
			m.SetQuestion(g+"."+req.Zone, dns.TypeA)
			queries++
			in, _, err := client.ExchangeWithConn(m, conn)
			if err != nil {
				continue // asked again in the next sweep
			}
			for _, rr := range in.Answer {
				if aRR, ok := rr.(*dns.A); ok && aRR.A.String() == want {
					confirmed[g] = time.Now()
				}
			}
		}
		w.mu.Lock()
		w.result.Confirmed, w.result.DNSQueries = len(confirmed), queries
		w.mu.Unlock()
		if len(due) == 0 || len(confirmed) < w.n {
			time.Sleep(2 * time.Millisecond) // the checker's sampling period, not a wait for a condition
		}
	}
	var last time.Time
	for _, t := range confirmed {
		if t.After(last) {
			last = t
		}
	}
	res := w.finish(last)
	w.mu.Lock()
	w.result = res
	w.mu.Unlock()
}

// finish completes the result once every workload is in DNS.
func (w *massWorld) finish(dnsAt time.Time) massResult {
	now := w.snapshot()
	st := w.sim.State()
	w.mu.Lock()
	defer w.mu.Unlock()
	res := w.result
	res.Done, res.DNS, res.Starts = true, dnsAt.UnixNano(), len(w.accepted)
	var first, last time.Time
	for _, a := range w.accepted {
		if first.IsZero() || a.at.Before(first) {
			first = a.at
		}
		if a.at.After(last) {
			last = a.at
		}
	}
	res.FirstStart, res.LastStart, res.Online = first.UnixNano(), last.UnixNano(), last.Add(foStart).UnixNano()
	res.Requests = map[string]map[string]int64{}
	for m, kinds := range now {
		res.Requests[m] = map[string]int64{}
		for k, c := range kinds {
			if d := c - w.base[m][k]; d > 0 {
				res.Requests[m][k] = d
			}
		}
	}
	res.Peak = map[string]float64{}
	for m, b := range w.buckets {
		if len(b) > 0 {
			res.Peak[m] = float64(slices.Max(b)) / peakBucket.Seconds()
		}
	}
	for _, c := range st.Clusters {
		if c.Name == w.victim {
			continue
		}
		for _, g := range c.Groups {
			if g.Status == "Online" {
				res.OnlineElsewhere++
			}
		}
	}
	res.Audit = "no double online"
	if err := ecxsim.CheckNoDoubleOnline(w.sim.Audit()); err != nil {
		res.Audit = err.Error()
	}
	return res
}

// startMassWorld runs TestMassFailoverWorld in a child process and returns its ready file.
func startMassWorld(b *testing.B, witnessURL string, n int) (massWorldReady, *proctest.Process) {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	readyFile := filepath.Join(b.TempDir(), "ready.json")
	prof := ""
	if *massProfile != "" {
		prof = *massProfile + ".world"
	}
	cfg, _ := json.Marshal(massWorldConfig{WitnessURL: witnessURL, Groups: n, ReadyFile: readyFile, CPUProfile: prof})
	p := proctest.New(b, exe, proctest.Options{
		Name: "ecx-world", Env: []string{massWorldEnv + "=" + string(cfg)}, ReadyFile: readyFile,
		Stderr: os.Stderr, Stdout: os.Stderr, DieWithParent: true, StopTimeout: 10 * time.Second,
	})
	if err := p.Start("-test.run=^TestMassFailoverWorld$", "-test.count=1", "-test.timeout=0", "-ctl.log-level="+*logLevel); err != nil {
		b.Fatal(err)
	}
	var ready massWorldReady
	if err := p.WaitReady(time.Minute, proctest.JSON(&ready)); err != nil {
		b.Fatal(err)
	}
	return ready, p
}

func massGet(b *testing.B, u string, v any) error {
	b.Helper()
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// massDeclare registers the members and n workloads, each with every member as a candidate.
func massDeclare(b *testing.B, m *master, ready massWorldReady, n int) {
	b.Helper()
	decl := &apiv1.Declaration{Set: &apiv1.InitSetRequest{Name: "mass", Zone: massZone}}
	for _, mn := range massMembers {
		req := &apiv1.AddMemberRequest{Name: mn, User: "admin", Password: "pw-" + mn, Capacity: massCapacity(mn, n)}
		for _, s := range []string{mn + "-1", mn + "-2"} {
			req.Servers = append(req.Servers, &apiv1.ServerSpec{Name: s, Url: ready.Servers[mn][s]})
		}
		decl.Members = append(decl.Members, req)
	}
	for i := range n {
		w := &apiv1.RegisterWorkloadRequest{Name: massWorkload(i), Group: massWorkload(i), Candidates: massMembers, Size: 1, Addresses: map[string]*apiv1.AddressList{}}
		for mi, mn := range massMembers {
			w.Addresses[mn] = &apiv1.AddressList{Addresses: []string{massAddress(mi, i)}}
		}
		decl.Workloads = append(decl.Workloads, w)
	}
	if _, err := m.client.Apply(ctx(b, 2*time.Minute), &apiv1.ApplyRequest{Declaration: decl}); err != nil {
		b.Fatal(err)
	}
}

// massSteady waits until every member is up, no operation runs and every workload is placed
// Online on the victim.
func massSteady(b *testing.B, m *master, n int) {
	b.Helper()
	testutil.Poll{Timeout: 3 * time.Minute, Interval: 200 * time.Millisecond}.Eventually(b, "every workload Online on the victim", func() error {
		d := m.srv.FSM().Data()
		for _, mb := range d.Members {
			if mb.Health != fsm.HealthUp {
				return fmt.Errorf("member %s is %s", mb.Name, mb.Health)
			}
		}
		for _, op := range d.Operations {
			if !fsm.Terminal(op.Phase) {
				return fmt.Errorf("operation %s of %s is %s", op.Id, op.Workload, op.Phase)
			}
		}
		placed := 0
		for _, w := range d.Workloads {
			if p := w.GetPlacement(); p.GetMember() == massVictim && p.GetStatus() == "Online" {
				placed++
			}
		}
		if placed != n {
			return fmt.Errorf("%d of %d workloads placed Online on %s", placed, n, massVictim)
		}
		return nil
	})
}

func BenchmarkMassFailover(b *testing.B) {
	n := *massWorkloads
	witnessURL := startWitness(b)
	world, proc := startMassWorld(b, witnessURL, n)
	m := startMasterConfig(b, witnessURL, func(c *config.Config) {
		c.DNSAddr, c.DNS.RateLimit = "127.0.0.1:0", 0 // the checker asks the same names again and again
		ctl := &c.Controller
		ctl.PollInterval, ctl.UnreachableAfter, ctl.FenceAfter = foPoll, massUnreachableAfter, foFenceAfter
		// A REST call may take up to a second: the simulator answering a thousand starts
		// shares two cores with the leader (foECXTimeout, 250 ms, made the survivors look
		// partitioned for a few rounds on a loaded machine).
		ctl.ECXTimeout, ctl.StartTimeout, ctl.StopTimeout = massECXTimeout, 30*time.Second, 30*time.Second
		ctl.LeaseTTL = 3 * time.Second
		ctl.GuardTimeout, ctl.GuardStopTimeout, ctl.GuardDriftMargin = 250*time.Millisecond, 150*time.Millisecond, 500*time.Millisecond
		if *massParallel > 0 {
			ctl.MaxParallelOperations = *massParallel
		}
	})
	massDeclare(b, m, world, n)
	massSteady(b, m, n)
	f := m.srv.FSM()

	// The steady REST load (the controller's polls), over a window of 2 s.
	var c0, c1 map[string]map[string]int64
	if err := massGet(b, world.Control+"/counts", &c0); err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	testutil.Poll{Timeout: 5 * time.Second, Interval: 100 * time.Millisecond}.Eventually(b, "the end of the baseline window", func() error {
		if time.Since(t0) < 2*time.Second {
			return fmt.Errorf("baseline window open")
		}
		return nil
	})
	if err := massGet(b, world.Control+"/counts", &c1); err != nil {
		b.Fatal(err)
	}
	baseWindow := time.Since(t0)

	if *massProfile != "" {
		pf, err := os.Create(*massProfile)
		if err != nil {
			b.Fatal(err)
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	h0 := histograms(b, m)
	idx0, cpu0, simCPU0 := f.AppliedIndex(), massUsage(b), massProcCPU(proc.Pid())
	body, _ := json.Marshal(massKillRequest{Victim: massVictim, DNSAddr: m.srv.Addrs().DNS, Zone: massZone})
	resp, err := http.Post(world.Control+"/kill", "application/json", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	var res massResult
	testutil.Poll{Timeout: 5 * time.Minute, Interval: 50 * time.Millisecond}.Eventually(b, "every workload in DNS", func() error {
		if err := massGet(b, world.Control+"/result", &res); err != nil {
			return err
		}
		if res.Error != "" {
			b.Fatalf("the world's DNS checker: %s", res.Error)
		}
		if !res.Done {
			return fmt.Errorf("%d of %d workloads in DNS", res.Confirmed, n)
		}
		return nil
	})
	cpu1, idx1, simCPU1 := massUsage(b), f.AppliedIndex(), massProcCPU(proc.Pid())
	h1 := histograms(b, m)
	b.StopTimer()
	if *massProfile != "" {
		pprof.StopCPUProfile()
	}
	d := f.Data()
	if res.OnlineElsewhere != n || res.Audit != "no double online" {
		b.Fatalf("%d of %d groups Online on the survivors; audit: %s", res.OnlineElsewhere, n, res.Audit)
	}
	reportMass(b, n, res, d, c0, c1, baseWindow, cpu1-cpu0, simCPU1-simCPU0, idx1-idx0)
	fmt.Print(histogramDeltas(h0, h1))
}

// histSample is the count and sum of one histogram series.
type histSample struct {
	count uint64
	sum   float64
}

// histograms returns the master's histograms that explain where a failover's time goes (one
// pass through each operation phase; Raft applies), by series.
func histograms(b *testing.B, m *master) map[string]histSample {
	mfs, err := m.srv.Registry().Gather()
	if err != nil {
		b.Fatal(err)
	}
	out := map[string]histSample{}
	for _, mf := range mfs {
		if name := mf.GetName(); name != "cset_operation_phase_seconds" && name != "cset_raft_apply_seconds" {
			continue
		}
		for _, met := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range met.GetLabel() {
				key += " " + l.GetName() + "=" + l.GetValue()
			}
			out[key] = histSample{met.GetHistogram().GetSampleCount(), met.GetHistogram().GetSampleSum()}
		}
	}
	return out
}

func histogramDeltas(h0, h1 map[string]histSample) string {
	var sb strings.Builder
	keys := slices.Sorted(maps.Keys(h1))
	for _, k := range keys {
		n := h1[k].count - h0[k].count
		if n == 0 {
			continue
		}
		fmt.Fprintf(&sb, "  %-50s %6d, mean %s\n", k, n, ms(time.Duration((h1[k].sum-h0[k].sum)/float64(n)*float64(time.Second))))
	}
	return sb.String()
}

// massProcCPU is the CPU time of another process so far, from /proc (0 where there is none).
func massProcCPU(pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command (which may hold spaces) start after its last ')'.
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// massUsage is this process's CPU time so far.
func massUsage(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportMass(b *testing.B, n int, res massResult, d *fsm.Data, c0, c1 map[string]map[string]int64, baseWindow, cpu, simCPU time.Duration, entries uint64) {
	at := func(ns int64) time.Duration { return time.Duration(ns - res.Kill) }
	total, online := at(res.DNS), at(res.Online)
	over := total - foFenceAfter - foStart
	down := time.Duration(0)
	if v := d.Members[massVictim]; v != nil && v.Health == fsm.HealthDown {
		down = at(v.HealthSinceUnixNano)
	}
	var created, finished []time.Duration
	perTarget := map[string]int{}
	for _, op := range d.Operations {
		if op.SourceMember != massVictim || op.Reason != fsm.ReasonFailover || op.CreatedUnixNano < res.Kill {
			continue
		}
		created = append(created, at(op.CreatedUnixNano))
		finished = append(finished, at(op.UpdatedUnixNano))
		perTarget[op.TargetMember]++
	}
	slices.Sort(created)
	slices.Sort(finished)
	span := func(ds []time.Duration) string {
		if len(ds) == 0 {
			return "none"
		}
		return fmt.Sprintf("%s .. %s (median %s)", ms(ds[0]), ms(ds[len(ds)-1]), ms(ds[len(ds)/2]))
	}
	verdict := "goal met"
	if over > massGoal {
		verdict = "GOAL MISSED"
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "BenchmarkMassFailover: %d workloads on %s, killed; fence_after %v, poll %v, unreachable_after %v, ecx_timeout %v, simulated start %v, max_parallel_operations %s\n",
		n, massVictim, foFenceAfter, foPoll, massUnreachableAfter, massECXTimeout, foStart, parallelSetting())
	fmt.Fprintf(&sb, "  declared down          %s after the kill\n", ms(down))
	fmt.Fprintf(&sb, "  operations created     %s\n", span(created))
	fmt.Fprintf(&sb, "  starts accepted        %s .. %s (%d starts)\n", ms(at(res.FirstStart)), ms(at(res.LastStart)), res.Starts)
	fmt.Fprintf(&sb, "  all Online elsewhere   %s\n", ms(online))
	fmt.Fprintf(&sb, "  operations finished    %s\n", span(finished))
	fmt.Fprintf(&sb, "  all answered by DNS    %s (%d queries)\n", ms(total), res.DNSQueries)
	fmt.Fprintf(&sb, "  beyond fence_after + start: %s (%s: <= %v); targets %v\n", ms(over), verdict, massGoal, perTarget)
	window := total.Seconds()
	fmt.Fprintf(&sb, "  REST requests, kill to DNS (%.2fs), per member: ", window)
	var restTotal int64
	for _, mn := range massMembers {
		var sum int64
		var parts []string
		for _, k := range massKinds {
			if c := res.Requests[mn][k]; c > 0 {
				sum += c
				parts = append(parts, fmt.Sprintf("%s %d", k, c))
			}
		}
		restTotal += sum
		fmt.Fprintf(&sb, "\n    %-6s %6d = %7.1f/s (peak %6.0f/s in 100 ms) [%s]", mn, sum, float64(sum)/window, res.Peak[mn], strings.Join(parts, ", "))
	}
	var baseTotal int64
	for _, mn := range massMembers {
		for _, k := range massKinds {
			baseTotal += c1[mn][k] - c0[mn][k]
		}
	}
	fmt.Fprintf(&sb, "\n  REST requests/s: %.1f during the failover, %.1f steady (polls alone, over %s)\n", float64(restTotal)/window, float64(baseTotal)/baseWindow.Seconds(), ms(baseWindow))
	fmt.Fprintf(&sb, "  leader process CPU %.2f s = %.2f cores over the failover (the ECX world's process: %.2f s); %d Raft entries applied\n", cpu.Seconds(), cpu.Seconds()/window, simCPU.Seconds(), entries)
	fmt.Print(sb.String())
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(total.Microseconds())/1000, "total-ms")
	b.ReportMetric(float64(over.Microseconds())/1000, "overhead-ms")
	b.ReportMetric(float64(online.Microseconds())/1000, "all-online-ms")
	b.ReportMetric(float64(restTotal)/window, "rest-req/s")
	b.ReportMetric(cpu.Seconds()/window, "leader-cores")
}

func parallelSetting() string {
	if *massParallel > 0 {
		return strconv.Itoa(*massParallel)
	}
	return fmt.Sprintf("%d (default)", config.Default().Controller.MaxParallelOperations)
}
