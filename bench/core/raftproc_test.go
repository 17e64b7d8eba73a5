package core

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/internal/testutil"
	"github.com/hashicorp/raft"
)

// raftNodeEnv, set in the environment of this test binary, makes it a bare raft node of
// BenchmarkRaftProcesses instead of running tests: its value is the node's id, and
// raftNodeDirEnv names its data directory.
const (
	raftNodeEnv    = "CSET_BENCH_RAFT_NODE"
	raftNodeDirEnv = "CSET_BENCH_RAFT_DIR"
)

// raftNodeMain runs one node of BenchmarkRaftProcesses (newRaftNode with csetd's settings) and
// answers its parent line by line on stdin and stdout:
//
//	(at start)                        -> addr ADDR
//	bootstrap ID=ADDR,ID=ADDR,...     -> ok | error MESSAGE
//	state                             -> Leader | Follower | Candidate | ...
//	write N DURATION                  -> result JSON(applyResult) | error MESSAGE
//
// It exits when its stdin closes.
func raftNodeMain() int {
	r, addr, closeNode, err := newRaftNode(os.Getenv(raftNodeDirEnv), os.Getenv(raftNodeEnv), raftVariant{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "raft node:", err)
		return 1
	}
	defer closeNode()
	out := bufio.NewWriter(os.Stdout)
	reply := func(format string, a ...any) {
		fmt.Fprintf(out, format+"\n", a...)
		out.Flush()
	}
	reply("addr %s", addr)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch {
		case f[0] == "bootstrap" && len(f) == 2:
			var cfg raft.Configuration
			for _, s := range strings.Split(f[1], ",") {
				id, a, _ := strings.Cut(s, "=")
				cfg.Servers = append(cfg.Servers, raft.Server{ID: raft.ServerID(id), Address: raft.ServerAddress(a), Suffrage: raft.Voter})
			}
			if err := r.BootstrapCluster(cfg).Error(); err != nil {
				reply("error %v", err)
				continue
			}
			reply("ok")
		case f[0] == "state":
			reply("%s", r.State())
		case f[0] == "write" && len(f) == 3:
			n, err1 := strconv.Atoi(f[1])
			d, err2 := time.ParseDuration(f[2])
			if err := errors.Join(err1, err2); err != nil {
				reply("error %v", err)
				continue
			}
			res, err := applyFor(r, n, d)
			if err != nil {
				reply("error after %d writes: %v", res.writes, err)
				continue
			}
			raw, _ := json.Marshal(wireResult{Writes: res.writes, Elapsed: res.elapsed, Lat: res.lat})
			reply("result %s", raw)
		default:
			reply("error unknown command %q", sc.Text())
		}
	}
	return 0
}

// wireResult is applyResult on the pipe between a node and the benchmark.
type wireResult struct {
	Writes  int64           `json:"writes"`
	Elapsed time.Duration   `json:"elapsed"`
	Lat     []time.Duration `json:"lat"`
}

// raftProc is one node process seen from the benchmark.
type raftProc struct {
	id   string
	addr string
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
}

// startRaftProc starts this test binary as node id (raftNodeMain) and reads its address.
func startRaftProc(b *testing.B, id string) *raftProc {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), raftNodeEnv+"="+id, raftNodeDirEnv+"="+b.TempDir())
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	p := &raftProc{id: id, cmd: cmd, in: in, out: bufio.NewScanner(stdout)}
	p.out.Buffer(make([]byte, 0, 1<<20), 256<<20)
	b.Cleanup(p.stop)
	line, err := p.read()
	if err != nil {
		b.Fatalf("raft node %s: %v", id, err)
	}
	addr, ok := strings.CutPrefix(line, "addr ")
	if !ok {
		b.Fatalf("raft node %s: first line %q, want its address", id, line)
	}
	p.addr = addr
	return p
}

func (p *raftProc) read() (string, error) {
	if !p.out.Scan() {
		if err := p.out.Err(); err != nil {
			return "", err
		}
		return "", fmt.Errorf("node %s exited", p.id)
	}
	return p.out.Text(), nil
}

// call sends one command and returns the answer, or the answer's error.
func (p *raftProc) call(cmd string) (string, error) {
	if _, err := fmt.Fprintln(p.in, cmd); err != nil {
		return "", fmt.Errorf("node %s: %w", p.id, err)
	}
	line, err := p.read()
	if err != nil {
		return "", err
	}
	if msg, ok := strings.CutPrefix(line, "error "); ok {
		return "", fmt.Errorf("node %s: %s", p.id, msg)
	}
	return line, nil
}

// stop closes the node's stdin (it shuts raft down and exits) and kills it if it does not.
func (p *raftProc) stop() {
	_ = p.in.Close()
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// BenchmarkRaftProcesses is BenchmarkRaftCeiling's ring with each node in its own process, as
// csetd's masters are: the same stores, transport, timings and trivial FSM, the writers inside
// the leader's process (no RPC). It separates what three processes cost a commit (they wake
// each other through the kernel, where one process's goroutines hand off inside one runtime)
// from what csetd adds on top (BenchmarkWrite).
func BenchmarkRaftProcesses(b *testing.B) {
	for _, n := range []int{1, 64} {
		b.Run(fmt.Sprintf("writers=%d", n), func(b *testing.B) {
			var nodes []*raftProc
			var servers []string
			for i := range 3 {
				p := startRaftProc(b, fmt.Sprintf("p%d", i))
				nodes = append(nodes, p)
				servers = append(servers, p.id+"="+p.addr)
			}
			if _, err := nodes[0].call("bootstrap " + strings.Join(servers, ",")); err != nil {
				b.Fatal(err)
			}
			var leader *raftProc
			testutil.Eventually(b, 30*time.Second, func() error {
				for _, p := range nodes {
					st, err := p.call("state")
					if err != nil {
						return err
					}
					if st == raft.Leader.String() {
						leader = p
						return nil
					}
				}
				return fmt.Errorf("no leader yet")
			})
			if _, err := leader.call("write 1 200ms"); err != nil { // warm-up
				b.Fatal(err)
			}
			b.ResetTimer()
			var all applyResult
			for range b.N {
				line, err := leader.call(fmt.Sprintf("write %d %s", n, *window))
				if err != nil {
					b.Fatal(err)
				}
				raw, ok := strings.CutPrefix(line, "result ")
				if !ok {
					b.Fatalf("node %s answered %q", leader.id, line)
				}
				var w wireResult
				if err := json.Unmarshal([]byte(raw), &w); err != nil {
					b.Fatalf("node %s: %v", leader.id, err)
				}
				all.add(applyResult{writes: w.Writes, elapsed: w.Elapsed, lat: w.Lat})
			}
			b.StopTimer()
			all.report(b)
		})
	}
}
