package core

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cset-project/cset/internal/proctest"
	"github.com/cset-project/cset/internal/testutil"
)

var (
	logLevel = flag.String("core.log-level", "warn", "csetd -log-level of the benchmark masters")
	keepLogs = flag.Bool("core.keep-logs", false, "print the tail of every master's log after each benchmark")
)

// tunedRaft are the Raft timings of BenchmarkFailover, documented in docs/benchmarks.md.
// BenchmarkWrite runs with csetd's defaults (1s, 1s, 500ms): on a saturated 2-core host a 150ms
// leader lease makes the leader step down under write load, which would measure elections
// rather than throughput.
var tunedRaft = []string{
	"-raft-heartbeat-timeout", "300ms",
	"-raft-election-timeout", "300ms",
	"-raft-leader-lease-timeout", "150ms",
}

// csetd is built on first use, once per test binary.
var csetd = proctest.NewBinary("./cmd/csetd")

func TestMain(m *testing.M) {
	if os.Getenv(raftNodeEnv) != "" {
		os.Exit(raftNodeMain()) // a node of BenchmarkRaftProcesses
	}
	os.Exit(proctest.Main(m))
}

// addrs is a master's ready file.
type addrs struct {
	NodeID string `json:"node_id"`
	GRPC   string `json:"grpc_addr"`
	Raft   string `json:"raft_addr"`
	HTTP   string `json:"http_addr"`
}

// master is one csetd agent process; its data dir and addresses survive restarts.
type master struct {
	b       *testing.B
	id      string
	dataDir string
	addrs   addrs
	// raftFlags are the timing flags of every start.
	raftFlags []string
	proc      *proctest.Process
}

// newMaster prepares a master; the end of the benchmark kills it and prints the tail of its
// log if the benchmark failed or -core.keep-logs is set.
func newMaster(b *testing.B, id string, raftFlags []string) *master {
	b.Helper()
	dir := b.TempDir()
	m := &master{b: b, id: id, raftFlags: raftFlags, dataDir: filepath.Join(dir, "data")}
	m.proc = proctest.New(b, csetd.Path(b), proctest.Options{Name: id, LogPath: filepath.Join(dir, "csetd.log"),
		ReadyFile: filepath.Join(dir, "ready.json"), TailLines: 30, LogTail: 60, LogTailAlways: *keepLogs})
	return m
}

// start runs the master and waits for its ready file. Ports are 0 on the first start and the
// bound ones afterwards, because Raft peers know each other by address.
func (m *master) start(extra ...string) {
	m.b.Helper()
	pick := func(s string) string {
		if s == "" {
			// Below the ephemeral range, so the port is still free when a killed master restarts.
			return testutil.FreeAddr(m.b)
		}
		return s
	}
	args := []string{"agent", "-node-id", m.id, "-data-dir", m.dataDir, "-ready-file", m.proc.ReadyFile(), "-log-level", *logLevel,
		"-grpc-addr", pick(m.addrs.GRPC), "-raft-addr", pick(m.addrs.Raft), "-http-addr", pick(m.addrs.HTTP), "-dns-addr", "127.0.0.1:0", "-pprof"}
	args = append(append(args, m.raftFlags...), extra...)
	if err := m.proc.Start(args...); err != nil {
		m.b.Fatal(err)
	}
	err := m.proc.WaitReady(20*time.Second, func(raw []byte) error {
		var a addrs
		if err := json.Unmarshal(raw, &a); err != nil || a.GRPC == "" {
			return fmt.Errorf("%s: ready file %q: %v", m.id, raw, err)
		}
		m.addrs = a
		return nil
	})
	if err != nil {
		m.b.Fatal(err)
	}
}

// kill sends SIGKILL and waits until the process is gone.
func (m *master) kill() { m.proc.Kill() }

func (m *master) running() bool { return m.proc.Running() }

// health reads GET /v1/health: the leader this master knows and its Raft state.
func (m *master) health() (leader, state string, err error) {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + m.addrs.HTTP + "/v1/health")
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	var h struct {
		Leader    string `json:"leader"`
		RaftState string `json:"raft_state"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return "", "", err
	}
	return h.Leader, h.RaftState, nil
}

// cluster is three masters: m1 bootstraps, m2 and m3 join it. raftFlags (nil for csetd's
// defaults) are given to every master.
type cluster struct {
	b       *testing.B
	masters []*master
}

func newCluster(b *testing.B, raftFlags []string) *cluster {
	b.Helper()
	c := &cluster{b: b}
	for i := 1; i <= 3; i++ {
		c.masters = append(c.masters, newMaster(b, fmt.Sprintf("m%d", i), raftFlags))
	}
	c.masters[0].start("-bootstrap")
	c.waitLeader(c.masters[:1])
	for _, m := range c.masters[1:] {
		m.start("-join", c.masters[0].addrs.GRPC)
	}
	c.waitLeader(c.masters)
	return c
}

// waitLeader waits until every given master names the same leader, which is one of them and
// knows it is, and returns it.
func (c *cluster) waitLeader(ms []*master) *master {
	c.b.Helper()
	var leader *master
	testutil.Eventually(c.b, 30*time.Second, func() error {
		var err error
		leader, err = agreedLeader(ms)
		return err
	})
	return leader
}

func agreedLeader(ms []*master) (*master, error) {
	var id string
	var leader *master
	for _, m := range ms {
		l, state, err := m.health()
		if err != nil {
			return nil, err
		}
		if l == "" || (id != "" && l != id) {
			return nil, fmt.Errorf("%s names leader %q, others %q", m.id, l, id)
		}
		id = l
		if m.id == l {
			if state != "Leader" {
				return nil, fmt.Errorf("%s is named leader but is %s", m.id, state)
			}
			leader = m
		}
	}
	if leader == nil {
		return nil, fmt.Errorf("leader %q is none of the masters asked", id)
	}
	return leader, nil
}

// follower returns a running master other than the leader.
func (c *cluster) follower(leader *master) *master {
	for _, m := range c.masters {
		if m != leader && m.running() {
			return m
		}
	}
	c.b.Fatal("no running follower")
	return nil
}
