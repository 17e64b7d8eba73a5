package witness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// The persistence test runs the witness in a child process (this test binary re-executed with
// childEnv set), so it can be killed with SIGKILL and restarted on the same data dir.
const (
	childEnv         = "CSET_WITNESS_CHILD"
	childDirEnv      = "CSET_WITNESS_DIR"
	childAddrFileEnv = "CSET_WITNESS_ADDR_FILE"
	childHoldEnv     = "CSET_WITNESS_RESTART_HOLD"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(runChild())
	}
	os.Exit(m.Run())
}

// runChild serves a witness on 127.0.0.1:0 and writes its address to the address file.
func runChild() int {
	logger := hclog.New(&hclog.LoggerOptions{Name: "child", Output: os.Stderr, Level: hclog.Info})
	hold, err := time.ParseDuration(os.Getenv(childHoldEnv))
	if err != nil {
		logger.Error("bad restart hold", "error", err)
		return 2
	}
	s, err := NewServer(ServerConfig{DataDir: os.Getenv(childDirEnv), RestartHold: hold, Logger: logger})
	if err != nil {
		logger.Error("cannot start", "error", err)
		return 2
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		logger.Error("cannot listen", "error", err)
		return 2
	}
	addrFile := os.Getenv(childAddrFileEnv)
	if err := os.WriteFile(addrFile+".tmp", []byte(ln.Addr().String()), 0o600); err != nil {
		return 2
	}
	if err := os.Rename(addrFile+".tmp", addrFile); err != nil {
		return 2
	}
	err = http.Serve(ln, s.Handler()) // runs until the parent kills us
	logger.Error("serve ended", "error", err)
	return 1
}

type child struct {
	cmd *exec.Cmd
	c   *Client
}

// startChild starts a witness process on dir and waits until it listens.
func startChild(t *testing.T, dir string, hold time.Duration) *child {
	t.Helper()
	addrFile := filepath.Join(t.TempDir(), "addr")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", childDirEnv+"="+dir,
		childAddrFileEnv+"="+addrFile, childHoldEnv+"="+hold.String())
	cmd.Stderr = tWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	ch := &child{cmd: cmd}
	t.Cleanup(ch.kill)
	deadline := time.Now().Add(30 * time.Second)
	for {
		addr, err := os.ReadFile(addrFile)
		if err == nil {
			c, err := NewClient(ClientConfig{URL: "http://" + string(addr), Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			ch.c = c
			return ch
		}
		if time.Now().After(deadline) {
			t.Fatalf("child witness did not write its address within 30s")
		}
		time.Sleep(10 * time.Millisecond) // polling for the file, bounded by the deadline
	}
}

// kill sends SIGKILL and reaps the process; it is idempotent.
func (ch *child) kill() {
	if ch.cmd.ProcessState != nil {
		return
	}
	_ = ch.cmd.Process.Kill()
	_ = ch.cmd.Wait()
}

func TestServer_PersistsAcrossKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	ttl, hold := time.Second, 3*time.Second

	w := startChild(t, dir, -1)
	if _, err := w.c.Acquire(ctx, "prod", "a", 5, ttl); err != nil {
		t.Fatalf("A's first lease: %v", err)
	}
	if err := w.c.Heartbeat(ctx, "ecx1", "s1"); err != nil {
		t.Fatalf("Heartbeat: %v", err)
	}
	w.kill()

	// Restarted: B gets nothing, A's term and holdership survived, and so did the heartbeat.
	w = startChild(t, dir, hold)
	if err := refusedFor(w.c, "a", 4, ttl, ReasonStaleTerm); err != nil {
		t.Fatal(err)
	}
	if seen, err := w.c.Cluster(ctx, "ecx1"); err != nil || len(seen.Servers) != 1 || seen.Servers[0].Server != "s1" {
		t.Fatalf("heartbeat table after kill -9: %+v, %v", seen, err)
	}
	if _, err := w.c.Acquire(ctx, "prod", "a", 5, ttl); err != nil {
		t.Fatalf("A's renewal after the restart: %v", err)
	}
	// held by A's renewal or, on a slow machine where it already ran out, by the restart hold
	if err := refusedFor(w.c, "b", 6, ttl, ReasonHeld, ReasonRestartHold); err != nil {
		t.Fatal(err)
	}
	w.kill()

	// Restarted again right after A's renewal: B waits the whole hold, then gets the lease.
	restarted := time.Now()
	w = startChild(t, dir, hold)
	deadline := restarted.Add(hold + 20*time.Second)
	for {
		_, err := w.c.Acquire(ctx, "prod", "b", 6, ttl)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrLeaseRefused) || time.Now().After(deadline) {
			t.Fatalf("B's lease after the restart hold: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // retry interval of a waiting master
	}
	if waited := time.Since(restarted); waited < hold {
		t.Fatalf("B got the lease %s after the restart, within the hold of %s", waited, hold)
	}
	if err := refusedFor(w.c, "a", 5, ttl, ReasonStaleTerm); err != nil {
		t.Fatal(err)
	}
}

// refusedFor checks that holder is refused for one of reasons.
func refusedFor(c *Client, holder string, term uint64, ttl time.Duration, reasons ...string) error {
	res, err := c.Acquire(context.Background(), "prod", holder, term, ttl)
	var refused *RefusedError
	if !errors.As(err, &refused) || !slices.Contains(reasons, refused.Reason) {
		return fmt.Errorf("Acquire(%s, %d) = %+v, %v; want refused (%v)", holder, term, res, err, reasons)
	}
	return nil
}
