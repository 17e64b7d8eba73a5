package core

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

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

// csetd is built once, on first use, into tmpDir.
var (
	buildOnce sync.Once
	buildErr  error
	tmpDir    string
	csetdBin  string
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if tmpDir != "" {
		os.RemoveAll(tmpDir)
	}
	os.Exit(code)
}

// csetdPath builds csetd (once per test binary) and returns its path.
func csetdPath(b *testing.B) string {
	b.Helper()
	buildOnce.Do(func() {
		tmpDir, buildErr = os.MkdirTemp("", "cset-bench-")
		if buildErr != nil {
			return
		}
		csetdBin = filepath.Join(tmpDir, "csetd")
		gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(gobin); err != nil {
			gobin = "go"
		}
		cmd := exec.Command(gobin, "build", "-o", csetdBin, "./cmd/csetd")
		cmd.Dir = "../.." // the module root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/csetd: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return csetdBin
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
	ready   string
	logPath string
	addrs   addrs
	// raftFlags are the timing flags of every start.
	raftFlags []string
	cmd       *exec.Cmd
	done      chan struct{}
}

func newMaster(b *testing.B, id string, raftFlags []string) *master {
	b.Helper()
	dir := b.TempDir()
	m := &master{b: b, id: id, raftFlags: raftFlags, dataDir: filepath.Join(dir, "data"), ready: filepath.Join(dir, "ready.json"), logPath: filepath.Join(dir, "csetd.log")}
	b.Cleanup(func() {
		m.kill()
		if b.Failed() || *keepLogs {
			b.Logf("---- tail of %s log ----\n%s", m.id, tail(m.logPath, 60))
		}
	})
	return m
}

// start runs the master and waits for its ready file. Ports are 0 on the first start and the
// bound ones afterwards, because Raft peers know each other by address.
func (m *master) start(extra ...string) {
	m.b.Helper()
	pick := func(s string) string {
		if s == "" {
			return "127.0.0.1:0"
		}
		return s
	}
	_ = os.Remove(m.ready)
	args := []string{"agent", "-node-id", m.id, "-data-dir", m.dataDir, "-ready-file", m.ready, "-log-level", *logLevel,
		"-grpc-addr", pick(m.addrs.GRPC), "-raft-addr", pick(m.addrs.Raft), "-http-addr", pick(m.addrs.HTTP), "-dns-addr", "127.0.0.1:0"}
	args = append(append(args, m.raftFlags...), extra...)
	logf, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		m.b.Fatal(err)
	}
	cmd := exec.Command(csetdPath(m.b), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		m.b.Fatalf("start %s: %v", m.id, err)
	}
	done := make(chan struct{})
	m.cmd, m.done = cmd, done
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	testutil.Eventually(m.b, 20*time.Second, func() error {
		select {
		case <-done:
			return fmt.Errorf("%s exited before it was ready:\n%s", m.id, tail(m.logPath, 30))
		default:
		}
		raw, err := os.ReadFile(m.ready)
		if err != nil {
			return err
		}
		var a addrs
		if err := json.Unmarshal(raw, &a); err != nil || a.GRPC == "" {
			return fmt.Errorf("%s: ready file %q: %v", m.id, raw, err)
		}
		m.addrs = a
		return nil
	})
}

// kill sends SIGKILL and waits until the process is gone.
func (m *master) kill() {
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Kill()
	<-m.done
}

func (m *master) running() bool {
	if m.cmd == nil {
		return false
	}
	select {
	case <-m.done:
		return false
	default:
		return true
	}
}

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

func tail(path string, lines int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	all := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
