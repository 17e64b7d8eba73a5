package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
)

// timings are the settings of every process of the suite, chosen so that a failover takes a
// few seconds and a loaded 2-core machine does not see spurious elections. They keep the
// design's inequalities: poll_interval <= unreachable_after < fence_after, the members' ECX
// heartbeat timeout below fence_after, the Raft leader lease below the heartbeat timeout, the
// witness lease renewed (every lease_ttl/3) well within ecx slow-link delays. The recovery and
// liveness bounds are derived from them.
var timings = struct {
	raftHeartbeat, raftElection, raftLease                           time.Duration
	poll, unreachable, fence, grace, start, stop, lease, ecx         time.Duration
	rpcHold                                                          time.Duration
	ecxHeartbeatTimeout, ecxHeartbeatInterval, groupStart, groupStop time.Duration
	ttl, negativeTTL                                                 time.Duration
	hook, hookSlow, hookTimeout                                      time.Duration
	guardTimeout, guardStop, guardDrift                              time.Duration
	settle                                                           time.Duration
	failbackAfter, failbackQuiet                                     time.Duration
}{
	raftHeartbeat: 500 * time.Millisecond, raftElection: 500 * time.Millisecond, raftLease: 250 * time.Millisecond,
	poll: 300 * time.Millisecond, unreachable: 1200 * time.Millisecond, fence: 3 * time.Second,
	grace: 2500 * time.Millisecond, start: 4 * time.Second, stop: 2 * time.Second, lease: 2500 * time.Millisecond, ecx: 1200 * time.Millisecond,
	rpcHold:             3 * time.Second,
	ecxHeartbeatTimeout: 1200 * time.Millisecond, ecxHeartbeatInterval: 250 * time.Millisecond,
	groupStart: 200 * time.Millisecond, groupStop: 100 * time.Millisecond,
	ttl: time.Second, negativeTTL: time.Second,
	// hook is what a handover hook of the fixed workloads normally takes (a shell start);
	// hookSlow what it takes during the leader-kill-in-hook fault; hookTimeout their timeout.
	hook: 100 * time.Millisecond, hookSlow: 4 * time.Second, hookTimeout: 8 * time.Second,
	// The member guards (docs/design.md, "Split-brain protection"): fence_after must exceed their sum, the drift
	// margin must cover the Raft leader lease, the timeout must exceed the heartbeat interval.
	guardTimeout: 1200 * time.Millisecond, guardStop: 500 * time.Millisecond, guardDrift: 500 * time.Millisecond,
	// settle is the quiet pause between two rounds of faults.
	settle: 200 * time.Millisecond,
	// The fixed workloads fail back (-failback) once their first candidate has been up this
	// long, with no member's health changed within failbackQuiet.
	failbackAfter: 2 * time.Second, failbackQuiet: time.Second,
}

// recoveryBound is how long after a member's death (once nothing else is broken) its
// workloads may take to be online elsewhere: the witness fence, a lease that a restarted
// witness or a new leader must wait for, detection, two polls, the start itself, and 3 s for
// an election and a loaded machine.
func recoveryBound() time.Duration {
	return timings.fence + timings.lease + timings.unreachable + 2*timings.poll + timings.groupStart + 3*time.Second
}

// livenessBound is how long after the last fault that could hold a workload back it may take
// to be Online and in DNS (docs/design.md, "Operations, failures and liveness"): the recovery bound (fence_after,
// the lease, detection, two polls, the start, an election), plus a handover hook that may run
// slow, plus one DNS TTL for the answers of a master that was behind.
func livenessBound() time.Duration {
	return recoveryBound() + timings.hookSlow + timings.ttl
}

const (
	zone       = "chaos.test."
	nMasters   = 3
	nMembers   = 3
	nWorkloads = 12 // w01..w12: the client load's workloads
	// nFixed workloads f01..f03 are never touched by the client load. They have a handover hook
	// (hook.sh in the run directory), so every operation on them runs it, and their ECX groups
	// are the ones the duplicate registrations name. f03 is not a candidate of e3.
	nFixed = 3
	nAll   = nWorkloads + nFixed
)

func masterName(i int) string { return fmt.Sprintf("m%d", i+1) }
func memberName(i int) string { return fmt.Sprintf("e%d", i+1) }

// workloadName names workload i of all nAll: w01..w12, then f01..f03.
func workloadName(i int) string {
	if i >= nWorkloads {
		return fmt.Sprintf("f%02d", i-nWorkloads+1)
	}
	return fmt.Sprintf("w%02d", i+1)
}

func fixedNames() []string {
	var out []string
	for i := nWorkloads; i < nAll; i++ {
		out = append(out, workloadName(i))
	}
	return out
}

func isFixed(name string) bool { return strings.HasPrefix(name, "f") }

// workloadAddr is the address of workload i on member k.
func workloadAddr(k, i int) string { return fmt.Sprintf("10.%d.0.%d", k+1, i+1) }

// env is the whole system under test: processes, proxies and the network model.
type env struct {
	t       *testing.T
	dir     string
	net     *netem
	pids    *pidTable
	masters []*master
	wits    []*witnessProc // -witnesses of them
	sim     *simProc
	proxies []*proxy
	// witnessProxy[initiator][j] is the proxy through which initiator reaches witness j.
	witnessProxy map[string][]*proxy
	// guardProxy[master] is the proxy through which the member guards reach a master's gRPC API.
	guardProxy map[string]*proxy
	// restProxy[server] is the proxy in front of an ECX server, restUp[server] its address.
	restProxy map[string]*proxy
	restUp    map[string]string
	// memberReqs are the members as declared, so a removed member is added back the same.
	memberReqs map[string]*apiv1.AddMemberRequest
	// hooks is the handover hook of the fixed workloads and its control files.
	hooks hookFiles
	// secret makes the ECX passwords of this run unique, so a request that reaches another
	// run's simulator through a reused port is refused.
	secret string
	tl     *timeline

	crashMu sync.Mutex
	crashes []string // processes that exited on their own, with the tail of their log
}

// crashed returns the hook that records an unexpected exit of process name.
func (e *env) crashed(name string) func(*os.ProcessState, string) {
	return func(st *os.ProcessState, logTail string) {
		e.tl.logf("!!! %s exited on its own: %v (log tail in the report)", name, st)
		e.crashMu.Lock()
		defer e.crashMu.Unlock()
		e.crashes = append(e.crashes, fmt.Sprintf("%s exited on its own at %s: %v; last lines of %s.log:\n%s", name, time.Now().Format("15:04:05.000"), st, name, logTail))
	}
}

func (e *env) crashReports() []string {
	e.crashMu.Lock()
	defer e.crashMu.Unlock()
	return slices.Clone(e.crashes)
}

// revive restarts the masters and the witness that crashed (those no fault holds down), so
// the run goes on with every process; the crash itself is already recorded.
func (e *env) revive(held func(string) bool) {
	for _, m := range e.masters {
		if !m.running() && !held("proc:"+m.id) {
			e.tl.logf("    restarting %s after its crash", m.id)
			if err := e.startMaster(m); err != nil {
				e.tl.logf("    ! restart %s: %v", m.id, err)
			}
		}
	}
	for j, w := range e.wits {
		if !w.running() && !held("proc:"+witnessName(j)) {
			e.tl.logf("    restarting %s after its crash", w.name)
			if err := e.startWitness(j); err != nil {
				e.tl.logf("    ! restart %s: %v", w.name, err)
			}
		}
	}
}

type master struct {
	proc
	id                     string
	dataDir, cfgPath       string
	raftListen, grpcListen string
	raftP, peerP, clientP  *proxy
	guardP                 *proxy // the member guards' heartbeats (initiator "g")
	http, dns              string // guarded by proc.mu: use httpAddr and dnsAddr
	api                    apiv1.ClusterSetServiceClient
	started                bool
	// tiebreaker: m3 with -tiebreaker, a voter without controller or DNS.
	tiebreaker bool
}

type witnessProc struct {
	proc
	dataDir string
	addr    string
}

type simProc struct {
	proc
	cfgPath, audit string
	control        string
	servers        map[string]map[string]string // member -> server -> URL (direct)
}

func (e *env) newProxy(name, acceptor, initiator, upstream string) *proxy {
	e.t.Helper()
	var identify func(net.Addr) (string, string)
	if initiator == "" {
		identify = e.pids.identify
	}
	p, err := newProxy(e.net, name, acceptor, initiator, identify, upstream)
	if err != nil {
		e.t.Fatal(err)
	}
	e.proxies = append(e.proxies, p)
	return p
}

// startEnv starts everything and declares the cluster set; the workloads are online when it
// returns.
func startEnv(t *testing.T, dir string, tl *timeline) *env {
	t.Helper()
	e := &env{t: t, dir: dir, net: newNetem(), pids: newPIDTable(), witnessProxy: map[string][]*proxy{}, guardProxy: map[string]*proxy{}, tl: tl,
		restProxy: map[string]*proxy{}, restUp: map[string]string{}, secret: fmt.Sprintf("%x", rand.Uint64()),
		memberReqs: map[string]*apiv1.AddMemberRequest{}, hooks: newHookFiles(dir)}
	if err := e.hooks.install(); err != nil {
		t.Fatal(err)
	}
	e.net.onUnknown = func(p, remote string) {
		tl.logf("    proxy %s: initiator of %s unknown (its rules do not apply)", p, remote)
	}
	t.Cleanup(e.stop)
	// The witnesses first: every other process is told its proxies' addresses.
	for j := range nWitnesses() {
		wn := witnessName(j)
		name := "witness"
		if nWitnesses() > 1 {
			name = "witness-" + wn
		}
		e.wits = append(e.wits, &witnessProc{proc: proc{name: name, logPath: filepath.Join(dir, name+".log"), ready: filepath.Join(dir, name, "ready.json"), onCrash: e.crashed(name)}, dataDir: filepath.Join(dir, name, "data")})
		mkdir(t, filepath.Join(dir, name))
		for i := range nMasters {
			e.witnessProxy[masterName(i)] = append(e.witnessProxy[masterName(i)], e.newProxy(name+"<-"+masterName(i), wn, masterName(i), "127.0.0.1:1"))
		}
		for k := range nMembers {
			e.witnessProxy[memberName(k)] = append(e.witnessProxy[memberName(k)], e.newProxy(name+"<-"+memberName(k), wn, memberName(k), "127.0.0.1:1"))
		}
		if err := e.startWitness(j); err != nil {
			t.Fatal(err)
		}
	}
	for i := range nMasters {
		e.guardProxy[masterName(i)] = e.newProxy("guard->"+masterName(i), masterName(i), "g", "127.0.0.1:1")
	}
	e.startSim()
	for i := range nMasters {
		id := masterName(i)
		mdir := filepath.Join(dir, id)
		mkdir(t, mdir)
		m := &master{proc: proc{name: id, logPath: filepath.Join(dir, id+".log"), ready: filepath.Join(mdir, "ready.json")},
			id: id, dataDir: filepath.Join(mdir, "data"), cfgPath: filepath.Join(mdir, "csetd.yaml"), tiebreaker: *flagTiebreaker && i == nMasters-1}
		m.onStart = func(pid int) { e.pids.set(pid, id) }
		m.onCrash = e.crashed(id)
		m.raftP = e.newProxy("raft:"+id, id, "", "127.0.0.1:1")
		m.peerP = e.newProxy("grpc-peer:"+id, id, "", "127.0.0.1:1")
		m.clientP = e.newProxy("grpc-client:"+id, id, "c", "127.0.0.1:1")
		m.guardP = e.guardProxy[id]
		writeMasterConfig(t, m.cfgPath)
		cc, err := grpc.NewClient(m.clientP.addr(), grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 500 * time.Millisecond}, MinConnectTimeout: 2 * time.Second}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cc.Close() })
		m.api = apiv1.NewClusterSetServiceClient(cc)
		e.masters = append(e.masters, m)
	}
	if err := e.startMaster(e.masters[0], "-bootstrap"); err != nil {
		t.Fatal(err)
	}
	for _, m := range e.masters[1:] {
		if err := e.startMaster(m, "-join", e.masters[0].peerP.addr()); err != nil {
			t.Fatal(err)
		}
	}
	e.declare()
	return e
}

func mkdir(t *testing.T, d string) {
	t.Helper()
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
}

func writeMasterConfig(t *testing.T, path string) {
	t.Helper()
	c := timings
	y := fmt.Sprintf(`controller:
  poll_interval: %v
  unreachable_after: %v
  fence_after: %v
  group_recovery_grace: %v
  start_timeout: %v
  stop_timeout: %v
  lease_ttl: %v
  ecx_timeout: %v
  guard_timeout: %v
  guard_stop_timeout: %v
  guard_drift_margin: %v
  max_auto_moves_per_hour: 1000
  auto_move_quiet: %v
rpc_hold_timeout: %v
`, c.poll, c.unreachable, c.fence, c.grace, c.start, c.stop, c.lease, c.ecx, c.guardTimeout, c.guardStop, c.guardDrift, c.failbackQuiet, c.rpcHold)
	if err := os.WriteFile(path, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
}

// startMaster starts (or restarts) a master. Raft and gRPC listen on ports picked here; the
// proxies in front of them are what the ring and the clients know, so a new port after a
// restart changes nothing for them.
func (e *env) startMaster(m *master, first ...string) error {
	var err error
	for range 3 {
		if m.raftListen == "" {
			a := testutil.FreeAddrs(e.t, 2)
			m.raftListen, m.grpcListen = a[0], a[1]
		}
		m.raftP.setUpstream(m.raftListen)
		m.peerP.setUpstream(m.grpcListen)
		m.clientP.setUpstream(m.grpcListen)
		m.guardP.setUpstream(m.grpcListen)
		args := []string{"agent", "-config", m.cfgPath, "-node-id", m.id, "-data-dir", m.dataDir, "-ready-file", m.ready, "-log-level", "debug",
			"-grpc-addr", m.grpcListen, "-raft-addr", m.raftListen, "-http-addr", "127.0.0.1:0", "-dns-addr", "127.0.0.1:0",
			"-advertise-raft", m.raftP.addr(), "-advertise-grpc", m.peerP.addr(),
			"-raft-heartbeat-timeout", timings.raftHeartbeat.String(), "-raft-election-timeout", timings.raftElection.String(),
			"-raft-leader-lease-timeout", timings.raftLease.String(), "-poll-interval", timings.poll.String()}
		if m.tiebreaker {
			args = append(args, "-role", "tiebreaker", "-dns-addr", "") // no witness lease, no DNS
		} else {
			args = append(args, "-witness", e.witnessURLs(m.id))
		}
		if !m.started {
			args = append(args, first...)
		}
		var a struct {
			HTTP string `json:"http_addr"`
			DNS  string `json:"dns_addr"`
		}
		err = m.run(bins.csetd, args, &a)
		if err == nil {
			m.started = true
			m.mu.Lock()
			m.http, m.dns = a.HTTP, a.DNS // read by the monitor, which runs while a master restarts
			m.mu.Unlock()
			e.pids.set(m.pid(), m.id)
			return nil
		}
		m.kill()
		if !strings.Contains(tail(m.logPath, 30), "address already in use") {
			return err
		}
		m.raftListen, m.grpcListen = "", "" // a port was taken while the master was down
	}
	return err
}

func (e *env) startWitness(j int) error {
	var a struct {
		Addr string `json:"addr"`
	}
	w := e.wits[j]
	args := []string{"witness", "-listen", "127.0.0.1:0", "-data-dir", w.dataDir, "-ready-file", w.ready,
		"-log-level", "debug", "-restart-hold", timings.lease.String()}
	if err := w.run(bins.csetd, args, &a); err != nil {
		return err
	}
	w.addr = a.Addr
	for _, ps := range e.witnessProxy {
		ps[j].setUpstream(a.Addr)
	}
	return nil
}

var flagWitness = flag.Int("witnesses", 1, "number of witness processes (odd): with 3 or 5 the masters and the guards need a majority of them, and the faults also kill one witness, cut one from the masters or cut one from one member's heartbeats")

// nWitnesses is the number of witness processes (-witnesses).
func nWitnesses() int { return *flagWitness }

// witnessName is the network endpoint of witness j: "w" when there is one, else "w1".."wN".
func witnessName(j int) string {
	if nWitnesses() == 1 {
		return "w"
	}
	return fmt.Sprintf("w%d", j+1)
}

func witnessNames() []string {
	var out []string
	for j := range nWitnesses() {
		out = append(out, witnessName(j))
	}
	return out
}

// witnessURLs is the -witness list of initiator: its proxies to every witness.
func (e *env) witnessURLs(initiator string) string {
	var urls []string
	for _, p := range e.witnessProxy[initiator] {
		urls = append(urls, "http://"+p.addr())
	}
	return strings.Join(urls, ",")
}

// startSim writes the ecxsim configuration (three members of two servers, every workload a
// manual-start group in every member) and starts it; each REST endpoint gets a proxy.
func (e *env) startSim() {
	t := e.t
	sdir := filepath.Join(e.dir, "ecxsim")
	mkdir(t, sdir)
	e.sim = &simProc{proc: proc{name: "ecxsim", logPath: filepath.Join(e.dir, "ecxsim.log"), ready: filepath.Join(sdir, "ready.json"), onCrash: e.crashed("ecxsim")},
		cfgPath: filepath.Join(sdir, "ecxsim.yaml"), audit: filepath.Join(e.dir, "audit.jsonl")}
	var b strings.Builder
	b.WriteString("clusters:\n")
	for k := range nMembers {
		mb := memberName(k)
		fmt.Fprintf(&b, "  - name: %s\n    user: admin\n    password: %s\n    heartbeat_timeout: %v\n    heartbeat_interval: %v\n    witness_urls: [%s]\n    reboot_duration: 1s\n",
			mb, e.password(mb), timings.ecxHeartbeatTimeout, timings.ecxHeartbeatInterval, strings.ReplaceAll(e.witnessURLs(mb), ",", ", "))
		if *flagGuard {
			var masters []string
			for i := range nMasters {
				masters = append(masters, e.guardProxy[masterName(i)].addr())
			}
			fmt.Fprintf(&b, "    guard: {masters: [%s], timeout: %v, stop_timeout: %v}\n", strings.Join(masters, ", "), timings.guardTimeout, timings.guardStop)
		}
		b.WriteString("    servers:\n")
		for s := range 2 {
			fmt.Fprintf(&b, "      - {name: %s-s%d, listen: \"127.0.0.1:0\"}\n", mb, s+1)
		}
		b.WriteString("    groups:\n")
		for i := range nAll {
			fmt.Fprintf(&b, "      - {name: %s, auto_start: false, start_duration: %v, stop_duration: %v}\n", workloadName(i), timings.groupStart, timings.groupStop)
		}
	}
	if err := os.WriteFile(e.sim.cfgPath, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var ready struct {
		Control string                       `json:"control_url"`
		Servers map[string]map[string]string `json:"servers"`
	}
	args := []string{"-config", e.sim.cfgPath, "-control", "127.0.0.1:0", "-ready-file", e.sim.ready, "-audit", e.sim.audit, "-log-level", "debug"}
	if err := e.sim.run(bins.ecxsim, args, &ready); err != nil {
		t.Fatal(err)
	}
	e.sim.control, e.sim.servers = ready.Control, ready.Servers
}

// declare applies the cluster set: members registered with their proxies' URLs, every
// workload a candidate of every member (preference rotated so they spread), version 1.
func (e *env) declare() {
	t := e.t
	decl := &apiv1.Declaration{Set: &apiv1.InitSetRequest{Name: "chaos", Zone: zone, TtlSeconds: uint32(timings.ttl / time.Second), NegativeTtlSeconds: uint32(timings.negativeTTL / time.Second)}}
	for k := range nMembers {
		mb := memberName(k)
		mr := &apiv1.AddMemberRequest{Name: mb, User: "admin", Password: e.password(mb), Capacity: 100, HeartbeatTimeoutMs: uint32(timings.ecxHeartbeatTimeout / time.Millisecond)}
		for s := range 2 {
			srv := fmt.Sprintf("%s-s%d", mb, s+1)
			u, err := url.Parse(e.sim.servers[mb][srv])
			if err != nil || u.Host == "" {
				t.Fatalf("ecxsim ready file: no URL for %s/%s: %v", mb, srv, e.sim.servers)
			}
			p := e.newProxy("rest:"+srv, mb, "", u.Host)
			e.restProxy[srv], e.restUp[srv] = p, u.Host
			mr.Servers = append(mr.Servers, &apiv1.ServerSpec{Name: srv, Url: "http://" + p.addr()})
		}
		decl.Members = append(decl.Members, mr)
		e.memberReqs[mb] = mr
	}
	for i := range nWorkloads {
		decl.Workloads = append(decl.Workloads, registerRequest(i, 1, false))
	}
	for i := nWorkloads; i < nAll; i++ {
		decl.Workloads = append(decl.Workloads, e.fixedRequest(i))
	}
	err := testutil.WaitFor(60*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := e.masters[0].api.Apply(ctx, &apiv1.ApplyRequest{Declaration: decl})
		return err
	})
	if err != nil {
		t.Fatalf("declare the cluster set: %v", err)
	}
}

func (e *env) password(member string) string { return "pw-" + member + "-" + e.secret }

// serverUp points the proxies of an ECX server at it (up) or refuses their connections.
func (e *env) serverUp(srv string, up bool) {
	if up {
		e.restProxy[srv].setUpstream(e.restUp[srv])
	} else {
		e.restProxy[srv].setUpstream("")
	}
}

// registerRequest is the registration of workload i with a version (kept in
// hook_timeout_seconds, which nothing else uses here).
func registerRequest(i, version int, update bool) *apiv1.RegisterWorkloadRequest {
	r := &apiv1.RegisterWorkloadRequest{Name: workloadName(i), Group: workloadName(i), Size: 1, HookTimeoutSeconds: uint32(version), Update: update,
		Addresses: map[string]*apiv1.AddressList{}}
	for j := range nMembers {
		k := (i + j) % nMembers
		r.Candidates = append(r.Candidates, memberName(k))
		r.Addresses[memberName(k)] = &apiv1.AddressList{Addresses: []string{workloadAddr(k, i)}}
	}
	return r
}

// candidatesOf returns the candidate members of workload i as declared.
func candidatesOf(i int) []string {
	var out []string
	for k := range nMembers {
		if i == nAll-1 && k == nMembers-1 {
			continue // f03 is not a candidate of e3
		}
		out = append(out, memberName(k))
	}
	return out
}

// fixedRequest is the registration of fixed workload i (nWorkloads <= i < nAll): its hook, a
// real hook timeout, every member a candidate except e3 for the last one.
func (e *env) fixedRequest(i int) *apiv1.RegisterWorkloadRequest {
	r := &apiv1.RegisterWorkloadRequest{Name: workloadName(i), Group: workloadName(i), Size: 1, Update: true,
		Hooks: []string{e.hooks.script}, HookTimeoutSeconds: uint32(timings.hookTimeout / time.Second), Addresses: map[string]*apiv1.AddressList{}}
	if *flagFailback {
		r.Failback, r.FailbackAfterSeconds = "auto", uint32(timings.failbackAfter/time.Second)
	}
	for j := range nMembers {
		k := (i + j) % nMembers
		if i == nAll-1 && k == nMembers-1 {
			continue
		}
		r.Candidates = append(r.Candidates, memberName(k))
		r.Addresses[memberName(k)] = &apiv1.AddressList{Addresses: []string{workloadAddr(k, i)}}
	}
	return r
}

// stop ends every process and proxy.
func (e *env) stop() {
	for _, m := range e.masters {
		m.kill()
	}
	for _, w := range e.wits {
		w.kill()
	}
	if e.sim != nil {
		e.sim.terminate()
	}
	for _, p := range e.proxies {
		p.close()
	}
}

// simCall calls the ecxsim control API; out may be nil.
func (e *env) simCall(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.sim.control+path, rd)
	if err != nil {
		return err
	}
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("ecxsim %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ecxsim %s %s: %s %s", method, path, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("ecxsim %s %s: %w", method, path, err)
		}
	}
	return nil
}

// simState is the part of GET /sim/v1/state the suite reads.
type simState struct {
	Clusters []struct {
		Name       string  `json:"name"`
		Isolated   bool    `json:"isolated"`
		ErrorRate  float64 `json:"error_rate"`
		ErrorStyle string  `json:"error_style"`
		Servers    []struct {
			Name      string `json:"name"`
			PoweredOn bool   `json:"powered_on"`
		} `json:"servers"`
		Groups []struct {
			Name      string `json:"name"`
			Status    string `json:"status"`
			RunningOn string `json:"running_on"`
		} `json:"groups"`
	} `json:"clusters"`
}

// health is the body of a master's GET /v1/health.
type health struct {
	RaftState    string `json:"raft_state"`
	Leader       string `json:"leader"`
	AppliedIndex uint64 `json:"applied_index"`
	CommitIndex  uint64 `json:"commit_index"`
}

// httpAddr and dnsAddr are the addresses the running process listens on; a restart changes them.
func (m *master) httpAddr() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.http
}

func (m *master) dnsAddr() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.dns
}

func (m *master) health() (health, error) {
	var h health
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + m.httpAddr() + "/v1/health")
	if err != nil {
		return h, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&h)
	return h, err
}

// leader returns the running master that reports itself leader, or nil.
func (e *env) leader() *master {
	for _, m := range e.masters {
		if !m.running() || m.isPaused() {
			continue
		}
		if h, err := m.health(); err == nil && h.RaftState == "Leader" {
			return m
		}
	}
	return nil
}
