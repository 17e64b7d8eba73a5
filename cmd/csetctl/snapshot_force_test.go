package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

// forceServer answers SnapshotRestore as a master does for a snapshot of another cluster set:
// refused unless the call carries --force.
type forceServer struct {
	*fakeServer
	mu     sync.Mutex
	forced []bool
}

func (f *forceServer) SnapshotRestore(s grpc.ClientStreamingServer[apiv1.SnapshotChunk, apiv1.SnapshotRestoreResponse]) error {
	md, _ := metadata.FromIncomingContext(s.Context())
	forced := len(md.Get(restoreForceKey)) == 1 && md.Get(restoreForceKey)[0] == "1"
	f.mu.Lock()
	f.forced = append(f.forced, forced)
	f.mu.Unlock()
	if !forced {
		return status.Error(codes.FailedPrecondition, "the snapshot is of cluster set 'prod' (zone a.example.), this is cluster set 'staging' (zone b.example.): pass --force to restore it anyway")
	}
	return f.fakeServer.SnapshotRestore(s)
}

func TestCLI_SnapshotRestoreForce(t *testing.T) {
	t.Parallel()
	f := &forceServer{fakeServer: newFakeServer()}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	apiv1.RegisterClusterSetServiceServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	addr := lis.Addr().String()

	path := filepath.Join(t.TempDir(), "prod.snap")
	if err := os.WriteFile(path, []byte("CSETSNAP snapshot of prod"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := cli(t, addr, exitError, "snapshot", "restore", path)
	if !strings.Contains(r.stderr, "pass --force") || !strings.Contains(r.stderr, "FailedPrecondition") {
		t.Errorf("refused restore: stderr %q", r.stderr)
	}
	r = cli(t, addr, exitOK, "snapshot", "restore", path, "--force")
	if !strings.HasPrefix(r.stdout, "restored "+path) {
		t.Errorf("forced restore: stdout %q", r.stdout)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.forced) != 2 || f.forced[0] || !f.forced[1] {
		t.Errorf("force sent per call: %v, want [false true]", f.forced)
	}
}
