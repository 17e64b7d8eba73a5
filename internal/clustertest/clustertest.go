// Package clustertest starts several full cset masters in one process: real fsm and server, Raft
// over an in-memory transport that can be partitioned, and gRPC on 127.0.0.1 so forwarding
// really goes over gRPC. Import it only from _test.go files.
package clustertest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"github.com/cset-project/cset/server"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Node is one master of the harness.
type Node struct {
	ID        string
	Server    *server.Server
	cfg       config.Config
	logs      *raft.InmemStore
	snaps     *raft.InmemSnapshotStore
	transport *raft.InmemTransport
	conn      *grpc.ClientConn
	running   bool
}

// Client returns a gRPC client of this node's API.
func (n *Node) Client() apiv1.ClusterSetServiceClient {
	return apiv1.NewClusterSetServiceClient(n.conn)
}

// Cluster is a set of masters. Create it with New.
type Cluster struct {
	t     testing.TB
	mu    sync.Mutex
	Nodes []*Node
	cut   map[string]bool
	// logOut, when set, receives every node's log lines besides t.Log.
	logOut io.Writer
}

// Config returns a fast configuration for a test master; override fields with cb.
func Config(id string) config.Config {
	c := config.Default()
	c.NodeID = id
	c.GRPCAddr = "127.0.0.1:0"
	c.RaftAddr = "inmem"
	c.HTTPAddr = ""
	c.DNSAddr = ""
	// Fast but not flaky on a loaded 2-core machine running -race.
	c.Raft.HeartbeatTimeout = 400 * time.Millisecond
	c.Raft.ElectionTimeout = 400 * time.Millisecond
	c.Raft.LeaderLeaseTimeout = 200 * time.Millisecond
	c.Raft.CommitTimeout = 5 * time.Millisecond
	c.RPCHoldTimeout = 5 * time.Second
	return c
}

// New starts n masters: the first bootstraps, the others join it through the API.
func New(t testing.TB, n int, cb func(*config.Config)) *Cluster {
	t.Helper()
	return newCluster(t, n, cb, nil)
}

// NewWithLog is New with every node's log lines also written to out (for tests that scan the
// logs); out must be safe for concurrent use.
func NewWithLog(t testing.TB, n int, cb func(*config.Config), out io.Writer) *Cluster {
	t.Helper()
	return newCluster(t, n, cb, out)
}

func newCluster(t testing.TB, n int, cb func(*config.Config), out io.Writer) *Cluster {
	t.Helper()
	c := &Cluster{t: t, cut: map[string]bool{}, logOut: out}
	for i := range n {
		id := fmt.Sprintf("m%d", i+1)
		cfg := Config(id)
		cfg.DataDir = t.TempDir()
		if cb != nil {
			cb(&cfg)
		}
		cfg.Bootstrap = i == 0
		if i > 0 {
			cfg.Join = c.Nodes[0].Server.Addrs().GRPC
			if cfg.Auth && cfg.TokenFile == "" && !cfg.TLS.Enabled() {
				cfg.TokenFile = c.BootstrapTokenFile()
			}
		}
		_, tr := raft.NewInmemTransport(raft.ServerAddress(id))
		node := &Node{ID: id, cfg: cfg, logs: raft.NewInmemStore(), snaps: raft.NewInmemSnapshotStore(), transport: tr}
		c.Nodes = append(c.Nodes, node)
		c.connectAll()
		c.start(node)
		if i == 0 {
			c.WaitForLeader()
		}
	}
	t.Cleanup(c.Close)
	c.WaitForVoters(n)
	return c
}

func (c *Cluster) start(n *Node) {
	c.t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.t.Fatalf("listen: %v", err)
	}
	logger := testutil.Logger(c.t, n.ID)
	if c.logOut != nil {
		logger = hclog.New(&hclog.LoggerOptions{Name: n.ID, Level: hclog.Trace, Output: c.logOut})
	}
	srv, err := server.New(n.cfg, logger, server.Deps{
		Transport: n.transport, LogStore: n.logs, StableStore: n.logs, Snapshots: n.snaps, GRPCListener: lis,
	})
	if err != nil {
		c.t.Fatalf("start %s: %v", n.ID, err)
	}
	if err := srv.Start(); err != nil {
		c.t.Fatalf("start %s: %v", n.ID, err)
	}
	conn, err := grpc.NewClient(srv.Addrs().GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		c.t.Fatalf("dial %s: %v", n.ID, err)
	}
	n.Server, n.conn, n.running = srv, conn, true
}

// BootstrapTokenFile waits until the first master has written its bootstrap admin token
// (masters with Auth) and every running master has applied it, and returns the file's path.
func (c *Cluster) BootstrapTokenFile() string {
	c.t.Helper()
	path := filepath.Join(c.Nodes[0].cfg.DataDir, server.BootstrapTokenFile)
	testutil.Eventually(c.t, 10*time.Second, func() error {
		for _, n := range c.Nodes {
			if n.running && !n.Server.FSM().HasTokens() {
				return fmt.Errorf("no token in the state of %s yet", n.ID)
			}
		}
		_, err := os.Stat(path)
		return err
	})
	return path
}

// BootstrapToken returns the secret of the bootstrap admin token (see BootstrapTokenFile).
func (c *Cluster) BootstrapToken() string {
	c.t.Helper()
	b, err := os.ReadFile(c.BootstrapTokenFile())
	if err != nil {
		c.t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// connectAll wires every pair of in-memory transports that is not cut.
func (c *Cluster) connectAll() {
	for _, a := range c.Nodes {
		for _, b := range c.Nodes {
			if a != b && !c.cut[a.ID] && !c.cut[b.ID] {
				a.transport.Connect(b.transport.LocalAddr(), b.transport)
			}
		}
	}
}

// Leader returns the node that is leader now, or nil.
func (c *Cluster) Leader() *Node {
	for _, n := range c.Nodes {
		if n.running && n.Server.IsLeader() {
			return n
		}
	}
	return nil
}

// WaitForLeader waits until exactly one running, connected node leads and returns it.
func (c *Cluster) WaitForLeader() *Node {
	c.t.Helper()
	var leader *Node
	testutil.Eventually(c.t, 10*time.Second, func() error {
		leader = nil
		for _, n := range c.Nodes {
			if n.running && !c.cut[n.ID] && n.Server.IsLeader() {
				if leader != nil {
					return fmt.Errorf("two leaders: %s and %s", leader.ID, n.ID)
				}
				leader = n
			}
		}
		if leader == nil {
			return fmt.Errorf("no leader")
		}
		return nil
	})
	return leader
}

// WaitForVoters waits until the leader's configuration has n voters.
func (c *Cluster) WaitForVoters(n int) {
	c.t.Helper()
	testutil.Eventually(c.t, 15*time.Second, func() error {
		l := c.Leader()
		if l == nil {
			return fmt.Errorf("no leader")
		}
		f := l.Server.Raft().GetConfiguration()
		if err := f.Error(); err != nil {
			return err
		}
		got := 0 // a joining master is a non-voter until it has caught up
		for _, srv := range f.Configuration().Servers {
			if srv.Suffrage == raft.Voter {
				got++
			}
		}
		if got != n {
			return fmt.Errorf("%d voters, want %d", got, n)
		}
		return nil
	})
}

// Followers returns the running nodes that are not the leader.
func (c *Cluster) Followers() []*Node {
	var out []*Node
	for _, n := range c.Nodes {
		if n.running && !n.Server.IsLeader() {
			out = append(out, n)
		}
	}
	return out
}

// Partition cuts the named nodes off from all others (both directions).
func (c *Cluster) Partition(ids ...string) {
	for _, id := range ids {
		c.cut[id] = true
	}
	for _, a := range c.Nodes {
		if c.cut[a.ID] {
			a.transport.DisconnectAll()
			for _, b := range c.Nodes {
				if b != a {
					b.transport.Disconnect(a.transport.LocalAddr())
				}
			}
		}
	}
}

// Heal reconnects every node.
func (c *Cluster) Heal() {
	c.cut = map[string]bool{}
	c.connectAll()
}

// Stop closes a node, keeping its stores for Restart.
func (c *Cluster) Stop(n *Node) {
	c.t.Helper()
	if !n.running {
		return
	}
	n.conn.Close()
	if err := n.Server.Close(); err != nil {
		c.t.Logf("stop %s: %v", n.ID, err)
	}
	n.running = false
	for _, b := range c.Nodes {
		if b != n {
			b.transport.Disconnect(n.transport.LocalAddr())
		}
	}
}

// Restart starts a stopped node again on its old stores (not bootstrapping or joining again).
func (c *Cluster) Restart(n *Node) {
	c.t.Helper()
	n.cfg.Bootstrap, n.cfg.Join = false, ""
	_, n.transport = raft.NewInmemTransport(raft.ServerAddress(n.ID))
	c.connectAll()
	c.start(n)
}

// WaitForIndex waits until every running node has applied index.
func (c *Cluster) WaitForIndex(index uint64) {
	c.t.Helper()
	testutil.Eventually(c.t, 10*time.Second, func() error {
		for _, n := range c.Nodes {
			if n.running && n.Server.FSM().AppliedIndex() < index {
				return fmt.Errorf("%s applied %d < %d", n.ID, n.Server.FSM().AppliedIndex(), index)
			}
		}
		return nil
	})
}

// RequireConverged waits until every running node's state snapshot is byte-identical.
func (c *Cluster) RequireConverged() {
	c.t.Helper()
	testutil.Eventually(c.t, 10*time.Second, func() error {
		var first []byte
		var firstID string
		for _, n := range c.Nodes {
			if !n.running {
				continue
			}
			var buf bytes.Buffer
			if err := n.Server.FSM().WriteSnapshot(&buf); err != nil {
				return err
			}
			if first == nil {
				first, firstID = buf.Bytes(), n.ID
			} else if !bytes.Equal(first, buf.Bytes()) {
				return fmt.Errorf("state of %s differs from %s", n.ID, firstID)
			}
		}
		return nil
	})
}

// Close stops every node.
func (c *Cluster) Close() {
	for _, n := range c.Nodes {
		if n.running {
			c.Stop(n)
		}
	}
}

// Ctx returns a context with a deadline for one call.
func Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}
