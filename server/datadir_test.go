package server_test

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/internal/clustertest"
	"github.com/cset-project/cset/internal/testutil"
	"github.com/cset-project/cset/server"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// lockedBuffer is a bytes.Buffer safe for concurrent writers (log output).
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startDiskMaster starts a master with its Raft log and snapshots on disk in cfg.DataDir (the
// production stores), Raft over trans, and gRPC on 127.0.0.1. Its log goes to out, or to t.Log
// when out is nil. The caller closes it (Close is idempotent; Cleanup closes it too).
func startDiskMaster(t *testing.T, cfg config.Config, trans raft.Transport, out io.Writer) *server.Server {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logger := testutil.Logger(t, cfg.NodeID)
	if out != nil {
		logger = hclog.New(&hclog.LoggerOptions{Name: cfg.NodeID, Level: hclog.Debug, Output: out})
	}
	srv, err := server.New(cfg, logger, server.Deps{Transport: trans, GRPCListener: lis})
	if err != nil {
		lis.Close()
		t.Fatalf("new %s: %v", cfg.NodeID, err)
	}
	t.Cleanup(func() { srv.Close() })
	if err := srv.Start(); err != nil {
		t.Fatalf("start %s: %v", cfg.NodeID, err)
	}
	return srv
}

// openToOthers lists what under root grants any permission to group or others.
func openToOthers(t *testing.T, root string) []string {
	t.Helper()
	var open []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := os.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			open = append(open, fmt.Sprintf("%s %04o", strings.TrimPrefix(path, root), fi.Mode().Perm()))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return open
}

func waitSnapshot(t *testing.T, srv *server.Server) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() error { return srv.Raft().Snapshot().Error() })
}

// TestServer_DataDirIsPrivate starts a master in a data directory made 0755 beforehand (as
// systemd's StateDirectory= does) holding files of mode 0644: at start the directory and what
// it holds become 0700/0600 and a warning names the old mode; every Raft snapshot is 0700/0600,
// also after the snapshots directory was opened again while the master runs.
func TestServer_DataDirIsPrivate(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "cset")
	for _, d := range []string{dir, filepath.Join(dir, "old")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o755); err != nil { // whatever the umask
			t.Fatal(err)
		}
	}
	for _, f := range []string{"left-over.bin", "old/state.bin"} {
		p := filepath.Join(dir, f)
		if err := os.WriteFile(p, []byte("password"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := clustertest.Config("m1")
	cfg.DataDir, cfg.Bootstrap = dir, true
	var logs lockedBuffer
	_, trans := raft.NewInmemTransport("m1")
	srv := startDiskMaster(t, cfg, trans, &logs)
	testutil.Eventually(t, 10*time.Second, func() error {
		if !srv.IsLeader() {
			return fmt.Errorf("m1 is not leader yet")
		}
		return nil
	})
	waitSnapshot(t, srv)
	if open := openToOthers(t, dir); len(open) > 0 {
		t.Errorf("open to group or others after the first snapshot: %v", open)
	}
	if !strings.Contains(logs.String(), "the data directory was open to other users: made it 0700") || !strings.Contains(logs.String(), "was=0755") {
		t.Errorf("no warning about the 0755 data directory in the log:\n%s", logs.String())
	}

	// The snapshots directory opened again: new snapshots are private all the same.
	if err := os.Chmod(filepath.Join(dir, "snapshots"), 0o755); err != nil {
		t.Fatal(err)
	}
	srv.Raft().Barrier(5 * time.Second) // something new to snapshot
	waitSnapshot(t, srv)
	open := openToOthers(t, dir)
	if len(open) != 1 || open[0] != "/snapshots 0755" {
		t.Errorf("after a snapshot with the snapshots directory 0755: %v, want only /snapshots 0755", open)
	}
	snaps, err := filepath.Glob(filepath.Join(dir, "snapshots", "*", "state.bin"))
	if err != nil || len(snaps) == 0 {
		t.Fatalf("no snapshot on disk: %v", err)
	}

	// A restart closes it again, and does not warn about a directory that is private.
	srv.Close()
	var logs2 lockedBuffer
	cfg.Bootstrap = false
	_, trans = raft.NewInmemTransport("m1")
	srv = startDiskMaster(t, cfg, trans, &logs2)
	if open := openToOthers(t, dir); len(open) > 0 {
		t.Errorf("open to group or others after a restart: %v", open)
	}
	if strings.Contains(logs2.String(), "the data directory") {
		t.Errorf("a warning about a private data directory:\n%s", logs2.String())
	}
	srv.Close()
}
