package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cset-project/cset/ecxsim"
	"github.com/cset-project/cset/internal/proctest"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Timings of the test masters: fast enough that a leader change takes about a second, slow
// enough that a loaded 2-core machine does not see spurious elections.
var raftFlags = []string{
	"-raft-heartbeat-timeout", "500ms",
	"-raft-election-timeout", "500ms",
	"-raft-leader-lease-timeout", "250ms",
}

const (
	startTimeout  = 20 * time.Second // a process writes its ready file
	leaderTimeout = 20 * time.Second // a leader is elected and known everywhere
	ctlTimeout    = 30 * time.Second // one csetctl invocation
	stopTimeout   = 15 * time.Second // a SIGTERM'd master exits
)

// The binaries under test, built by TestMain unless -short.
var (
	csetd   = proctest.NewBinary("./cmd/csetd")
	csetctl = proctest.NewBinary("./cmd/csetctl")
	ecxsimB = proctest.NewBinary("./cmd/ecxsim")
)

func TestMain(m *testing.M) {
	os.Exit(proctest.Main(m, csetd, csetctl, ecxsimB))
}

func requireBinaries(t *testing.T) {
	t.Helper()
	if testing.Short() || !csetd.Built() {
		t.Skip("integration tests start real processes; skipped under -short")
	}
}

// addrs is the ready file of a master.
type addrs struct {
	NodeID string `json:"node_id"`
	GRPC   string `json:"grpc_addr"`
	Raft   string `json:"raft_addr"`
	HTTP   string `json:"http_addr"`
	DNS    string `json:"dns_addr"`
}

// node is one csetd agent process. Its data dir and (after the first start) its addresses are
// kept across restarts: Raft peers know each other by address.
type node struct {
	t       *testing.T
	id      string
	dataDir string
	proc    *proctest.Process

	mu    sync.Mutex
	addrs addrs
	api   apiv1.ClusterSetServiceClient
}

// newNode prepares a master; nothing runs until start. The end of the test kills it and, if
// the test failed, prints the tail of its log.
func newNode(t *testing.T, id string) *node {
	t.Helper()
	dir := t.TempDir()
	n := &node{t: t, id: id, dataDir: filepath.Join(dir, "data")}
	n.proc = proctest.New(t, csetd.Path(t), proctest.Options{Name: id, LogPath: filepath.Join(dir, "csetd.log"),
		ReadyFile: filepath.Join(dir, "ready.json"), LogTail: 80})
	return n
}

// start runs csetd agent with extra flags (e.g. -bootstrap, -join ADDR) and waits for its ready
// file. The first start picks its ports with testutil.FreeAddrs (below the ephemeral range, so
// no other connection takes them while the node is down); later starts reuse them.
func (n *node) start(extra ...string) {
	n.t.Helper()
	n.mu.Lock()
	for _, s := range []*string{&n.addrs.GRPC, &n.addrs.Raft, &n.addrs.HTTP, &n.addrs.DNS} {
		if *s == "" {
			*s = testutil.FreeAddr(n.t)
		}
	}
	a := n.addrs
	n.mu.Unlock()
	args := []string{"agent", "-node-id", n.id, "-data-dir", n.dataDir, "-ready-file", n.proc.ReadyFile(), "-log-level", "debug",
		"-grpc-addr", a.GRPC, "-raft-addr", a.Raft, "-http-addr", a.HTTP, "-dns-addr", a.DNS}
	args = append(append(args, raftFlags...), extra...)
	if err := n.proc.Start(args...); err != nil {
		n.t.Fatal(err)
	}
	err := n.proc.WaitReady(startTimeout, func(b []byte) error {
		var a addrs
		if err := json.Unmarshal(b, &a); err != nil {
			return fmt.Errorf("%s: ready file: %w", n.id, err)
		}
		if a.NodeID != n.id || a.GRPC == "" || a.Raft == "" || a.HTTP == "" {
			return fmt.Errorf("%s: incomplete ready file %s", n.id, b)
		}
		n.mu.Lock()
		n.addrs = a
		n.mu.Unlock()
		return nil
	})
	if err != nil {
		n.t.Fatal(err)
	}
}

// exited reports whether the current process has exited.
func (n *node) exited() bool { return n.proc.Exited() }

func (n *node) grpcAddr() string { n.mu.Lock(); defer n.mu.Unlock(); return n.addrs.GRPC }
func (n *node) raftAddr() string { n.mu.Lock(); defer n.mu.Unlock(); return n.addrs.Raft }
func (n *node) httpAddr() string { n.mu.Lock(); defer n.mu.Unlock(); return n.addrs.HTTP }
func (n *node) dnsAddr() string  { n.mu.Lock(); defer n.mu.Unlock(); return n.addrs.DNS }

// kill sends SIGKILL and waits for the process to be gone. It is a no-op when nothing runs.
func (n *node) kill() { n.proc.Kill() }

// stop sends SIGTERM and waits for a clean exit (status 0); it fails the test otherwise.
func (n *node) stop() {
	n.t.Helper()
	if err := n.proc.Terminate(stopTimeout); err != nil {
		n.t.Fatal(err)
	}
}

// client returns a gRPC client of the node's API. The connection is made once (the address is
// kept across restarts), reconnects on its own, and is closed at the end of the test.
func (n *node) client() apiv1.ClusterSetServiceClient {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.api != nil {
		return n.api
	}
	cc, err := grpc.NewClient(n.addrs.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		n.t.Fatalf("%s: dial: %v", n.id, err)
	}
	n.t.Cleanup(func() { cc.Close() })
	n.api = apiv1.NewClusterSetServiceClient(cc)
	return n.api
}

// health is the body of GET /v1/health.
type health struct {
	Status       string `json:"status"`
	NodeID       string `json:"node_id"`
	RaftState    string `json:"raft_state"`
	Leader       string `json:"leader"`
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"`
}

// health reads /v1/health; a 503 without a leader is not an error.
func (n *node) health() (health, error) {
	var h health
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + n.httpAddr() + "/v1/health")
	if err != nil {
		return h, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable {
		return h, fmt.Errorf("%s /v1/health: %s", n.id, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return h, fmt.Errorf("%s /v1/health: %w", n.id, err)
	}
	return h, nil
}

// waitLeader waits until every given node reports the same leader over /v1/health, the leader
// is one of them, and it reports itself as the leader. It returns the leader.
func waitLeader(t *testing.T, nodes ...*node) *node {
	t.Helper()
	var leader *node
	testutil.Eventually(t, leaderTimeout, func() error {
		leader = nil
		var id string
		for _, n := range nodes {
			h, err := n.health()
			if err != nil {
				return err
			}
			if h.Leader == "" {
				return fmt.Errorf("%s knows no leader (state %s)", n.id, h.RaftState)
			}
			if id != "" && h.Leader != id {
				return fmt.Errorf("leaders disagree: %s and %s", id, h.Leader)
			}
			id = h.Leader
			if n.id == id {
				if h.RaftState != "Leader" {
					return fmt.Errorf("%s is named leader but is %s", n.id, h.RaftState)
				}
				leader = n
			}
		}
		if leader == nil {
			return fmt.Errorf("leader %q is none of the given nodes", id)
		}
		return nil
	})
	return leader
}

// ctlResult is one csetctl run.
type ctlResult struct {
	args           []string
	code           int
	stdout, stderr string
}

func (r ctlResult) String() string {
	return fmt.Sprintf("csetctl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// ctl runs csetctl --addr addr args... and returns its result whatever the exit code.
func ctl(t testing.TB, addr string, args ...string) ctlResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ctlTimeout)
	defer cancel()
	full := append([]string{"--addr", addr}, args...)
	cmd := exec.CommandContext(ctx, csetctl.Path(t), full...)
	cmd.Env = append(os.Environ(), "CSET_ADDR=", "CSET_REQUEST_ID=", "CSET_ECX_PASSWORD=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := ctlResult{args: full, stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	default:
		t.Fatalf("csetctl %v: %v", full, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("csetctl %v: no answer within %v", full, ctlTimeout)
	}
	return r
}

// ctlOK runs csetctl and fails the test unless it exits 0.
func ctlOK(t testing.TB, addr string, args ...string) ctlResult {
	t.Helper()
	r := ctl(t, addr, args...)
	if r.code != 0 {
		t.Fatalf("want exit 0: %v", r)
	}
	return r
}

// ctlJSON runs csetctl -o json, requires exit 0 and decodes stdout into v.
func ctlJSON(t testing.TB, addr string, v any, args ...string) {
	t.Helper()
	r := ctlOK(t, addr, append([]string{"-o", "json"}, args...)...)
	if err := decodeJSON(r.stdout, v); err != nil {
		t.Fatalf("%v\ndecode: %v", r, err)
	}
}

// ctlJSONErr is ctlJSON for conditions: it returns an error instead of failing.
func ctlJSONErr(t testing.TB, addr string, v any, args ...string) error {
	t.Helper()
	r := ctl(t, addr, append([]string{"-o", "json"}, args...)...)
	if r.code != 0 {
		return errors.New(r.String())
	}
	if err := decodeJSON(r.stdout, v); err != nil {
		return fmt.Errorf("%v\ndecode: %w", r, err)
	}
	return nil
}

// decodeJSON decodes exactly one JSON document with no unknown fields left unchecked.
func decodeJSON(s string, v any) error {
	dec := json.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("more than one JSON document")
	}
	return nil
}

// The JSON documents of csetctl -o json that the tests read (docs/cli.md). Only the keys a
// test checks are declared; decoding ignores the others.
type (
	leaderJSON struct {
		ID       string `json:"id"`
		GRPCAddr string `json:"grpc_addr"`
	}
	masterJSON struct {
		ID       string `json:"id"`
		RaftAddr string `json:"raft_addr"`
		GRPCAddr string `json:"grpc_addr"`
		Role     string `json:"role"`
		Voter    bool   `json:"voter"`
	}
	statusJSON struct {
		ClusterSet  string       `json:"cluster_set"`
		Zone        string       `json:"zone"`
		ServedBy    string       `json:"served_by"`
		Leader      leaderJSON   `json:"leader"`
		Masters     []masterJSON `json:"masters"`
		Members     int          `json:"members"`
		Workloads   int          `json:"workloads"`
		CommitIndex uint64       `json:"commit_index"`
	}
	serverJSON struct {
		Name   string `json:"name"`
		URL    string `json:"url"`
		Status string `json:"status"`
	}
	memberJSON struct {
		Name        string       `json:"name"`
		Admin       string       `json:"admin"`
		FaultDomain string       `json:"fault_domain"`
		Capacity    int64        `json:"capacity"`
		Servers     []serverJSON `json:"servers"`
	}
	workloadJSON struct {
		Name       string              `json:"name"`
		Group      string              `json:"group"`
		Candidates []string            `json:"candidates"`
		Addresses  map[string][]string `json:"addresses"`
		FQDN       string              `json:"fqdn"`
		Desired    string              `json:"desired"`
	}
)

// startCluster starts three masters: m1 with -bootstrap, m2 and m3 with -join m1, and waits
// until a leader is elected and the status of every master lists three voters.
func startCluster(t *testing.T) []*node {
	t.Helper()
	requireBinaries(t)
	nodes := []*node{newNode(t, "m1"), newNode(t, "m2"), newNode(t, "m3")}
	nodes[0].start("-bootstrap")
	waitLeader(t, nodes[0])
	nodes[1].start("-join", nodes[0].grpcAddr())
	nodes[2].start("-join", nodes[0].grpcAddr())
	waitLeader(t, nodes...)
	waitMasters(t, nodes, "m1", "m2", "m3")
	return nodes
}

// waitMasters waits until the local status of every node lists exactly the given voters, each
// with its current Raft and gRPC address.
func waitMasters(t *testing.T, nodes []*node, ids ...string) {
	t.Helper()
	want := map[string]*node{}
	for _, n := range nodes {
		want[n.id] = n
	}
	testutil.Eventually(t, leaderTimeout, func() error {
		for _, n := range nodes {
			st, err := n.client().Status(context.Background(), &apiv1.StatusRequest{})
			if err != nil {
				return fmt.Errorf("%s status: %w", n.id, err)
			}
			var got []string
			for _, m := range st.GetMasters() {
				got = append(got, m.GetId())
				if !m.GetVoter() {
					return fmt.Errorf("%s: master %s is not a voter", n.id, m.GetId())
				}
				if w := want[m.GetId()]; w != nil && (m.GetRaftAddr() != w.raftAddr() || m.GetGrpcAddr() != w.grpcAddr()) {
					return fmt.Errorf("%s: master %s has addresses %s/%s, want %s/%s", n.id, m.GetId(), m.GetRaftAddr(), m.GetGrpcAddr(), w.raftAddr(), w.grpcAddr())
				}
			}
			if strings.Join(got, ",") != strings.Join(ids, ",") {
				return fmt.Errorf("%s lists masters %v, want %v", n.id, got, ids)
			}
		}
		return nil
	})
}

// startSim starts an ecxsim process with the configuration cfg (YAML), its control API on a
// port of its own, and returns it once its ready file names the control URL and the servers.
// The end of the test kills it and, if the test failed, prints the tail of its log.
func startSim(t *testing.T, cfg string) *simProc {
	t.Helper()
	if !ecxsimB.Built() {
		t.Skip("ecxsim not built")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "ecxsim.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	sim := &simProc{p: proctest.New(t, ecxsimB.Path(t), proctest.Options{Name: "ecxsim", LogPath: filepath.Join(dir, "ecxsim.log"),
		ReadyFile: filepath.Join(dir, "ecxsim-ready.json"), LogTail: 40})}
	if err := sim.p.Start("-config", path, "-control", "127.0.0.1:0", "-ready-file", sim.p.ReadyFile(), "-log-level", "debug"); err != nil {
		t.Fatal(err)
	}
	err := sim.p.WaitReady(startTimeout, func(raw []byte) error {
		var r struct {
			Control string                       `json:"control_url"`
			Servers map[string]map[string]string `json:"servers"`
		}
		if err := json.Unmarshal(raw, &r); err != nil || r.Control == "" {
			return fmt.Errorf("ecxsim ready file %q: %v", raw, err)
		}
		sim.control, sim.servers = r.Control, r.Servers
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sim
}

// post is call with a JSON body, for the control calls that take one (service, latency, ...).
func (s *simProc) post(t *testing.T, path string, body any) []byte {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(s.control+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("ecxsim POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("ecxsim POST %s %s: %s %s", path, b, resp.Status, out)
	}
	return out
}

// audit returns the simulator's audit: every interval in which a group was online on a server
// (docs/ecxsim.md, "Audit log and checker").
func (s *simProc) audit(t *testing.T) []ecxsim.AuditRecord {
	t.Helper()
	var out struct {
		Records []ecxsim.AuditRecord `json:"records"`
	}
	if err := json.Unmarshal(s.call(t, http.MethodGet, "/sim/v1/audit"), &out); err != nil {
		t.Fatalf("ecxsim audit: %v", err)
	}
	return out.Records
}
