package server_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/internal/clustertest"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"github.com/cset-project/cset/server"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// TestServer_RecoverFromPeersJSON bricks a one-master set the way issue 13 did (a second voter
// that never answers, added below the API, which refuses it now), then recovers it as
// docs/operations.md says: stop the master, write peers.json, start it. A file that would not
// work is refused with a message and changes nothing.
func TestServer_RecoverFromPeersJSON(t *testing.T) {
	t.Parallel()
	cfg := clustertest.Config("m1")
	cfg.DataDir, cfg.Bootstrap = t.TempDir(), true
	_, trans := raft.NewInmemTransport("m1")
	srv := startDiskMaster(t, cfg, trans, nil)
	waitLeader := func(srv *server.Server) {
		t.Helper()
		testutil.Eventually(t, 15*time.Second, func() error {
			if !srv.IsLeader() {
				return errors.New("m1 does not lead")
			}
			return nil
		})
	}
	waitLeader(srv)
	cl := dialMaster(t, srv)
	if _, err := cl.InitSet(clustertest.Ctx(t), &apiv1.InitSetRequest{Name: "prod", Zone: "cset.example.com"}); err != nil {
		t.Fatal(err)
	}

	// The brick: m2 is a voter, and it never answers.
	add := srv.Raft().AddVoter("m2", "m2", 0, 0)
	testutil.Eventually(t, 15*time.Second, func() error {
		if srv.IsLeader() {
			return errors.New("m1 still leads")
		}
		return nil
	})
	_ = add.Error()
	srv.Close()

	peers := filepath.Join(cfg.DataDir, server.PeersFile)
	cfg.Bootstrap = false
	for _, tc := range []struct{ file, want string }{
		{`[{"id": "m1", "address": "m1"`, "recovery file " + peers},
		{`[{"id": "m2", "address": "m2", "non_voter": false}]`, "it does not list this master (m1)"},
		{`[{"id": "m1", "address": "10.0.0.1:7101", "non_voter": false}]`, "it gives this master (m1) the address 10.0.0.1:7101, but it listens at m1"},
		{`[{"id": "m1", "address": "m1", "non_voter": true}]`, "it lists no voter"},
		{`[{"id": "m1", "address": "m1"}, {"id": "m1", "address": "m3"}]`, "listed twice"},
		{`[{"id": "m1", "address": "m1", "nonvoter": true}]`, `unknown field "nonvoter"`},
		{`[{"id": "m1"}]`, "an entry has no id or no address"},
	} {
		if err := os.WriteFile(peers, []byte(tc.file), 0o600); err != nil {
			t.Fatal(err)
		}
		_, trans := raft.NewInmemTransport("m1")
		s, err := server.New(cfg, hclog.NewNullLogger(), server.Deps{Transport: trans})
		if err == nil {
			s.Close()
			t.Fatalf("start with peers.json %s: no error", tc.file)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("start with peers.json %s: %v, want an error about %q", tc.file, err, tc.want)
		}
		if _, err := os.Stat(peers); err != nil {
			t.Errorf("a refused recovery file is gone: %v", err)
		}
	}

	if err := os.WriteFile(peers, []byte(`[{"id": "m1", "address": "m1", "non_voter": false}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	_, trans = raft.NewInmemTransport("m1")
	srv = startDiskMaster(t, cfg, trans, &logs)
	waitLeader(srv)
	if got := raftServers(t, srv.Raft()); got != "m1=Voter" {
		t.Errorf("configuration after the recovery: %s, want m1=Voter", got)
	}
	if _, err := os.Stat(peers); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("peers.json is still there after the recovery: %v", err)
	}
	if !strings.Contains(logs.String(), "recovered the raft ring from the recovery file") {
		t.Errorf("no warning about the recovery in the log:\n%s", logs.String())
	}
	if cs := srv.FSM().ClusterSet(); cs.GetName() != "prod" {
		t.Errorf("cluster set after the recovery: %v, want prod (the state is kept)", cs)
	}
	cl = dialMaster(t, srv)
	if _, err := cl.InitSet(clustertest.Ctx(t), &apiv1.InitSetRequest{Name: "prod2", Zone: "cset.example.com"}); err != nil {
		t.Errorf("a write after the recovery: %v", err)
	}
	if open := openToOthers(t, cfg.DataDir); len(open) > 0 {
		t.Errorf("open to group or others after the recovery: %v", open)
	}
	srv.Close()
}
