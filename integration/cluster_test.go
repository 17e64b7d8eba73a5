package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// follower returns a running node that is not the leader.
func follower(nodes []*node, leader *node) *node {
	for _, n := range nodes {
		if n != leader && !n.exited() {
			return n
		}
	}
	return nil
}

// addMember adds a member with one server through csetctl on addr and checks the JSON answer.
func addMember(t *testing.T, addr, name string) {
	t.Helper()
	url := "http://10.0.0.1:29009"
	var got memberJSON
	ctlJSON(t, addr, &got, "member", "add", name, "--server", name+"-1="+url, "--capacity", "4")
	want := memberJSON{Name: name, Admin: "active", Capacity: 4, Servers: []serverJSON{{Name: name + "-1", URL: url}}}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(serverJSON{}, "Status")); diff != "" {
		t.Fatalf("member add %s -o json (-want +got):\n%s", name, diff)
	}
}

// waitMembers waits until the local state of every node lists exactly the given members.
func waitMembers(t *testing.T, nodes []*node, names ...string) {
	t.Helper()
	testutil.Eventually(t, leaderTimeout, func() error {
		for _, n := range nodes {
			var got []memberJSON
			if err := ctlJSONErr(t, n.grpcAddr(), &got, "member", "list"); err != nil {
				return err
			}
			var have []string
			for _, m := range got {
				have = append(have, m.Name)
			}
			slices.Sort(have)
			if !slices.Equal(have, names) {
				return fmt.Errorf("%s lists members %v, want %v", n.id, have, names)
			}
		}
		return nil
	})
}

// TestCluster_JoinAndWriteThroughFollower starts m1 with -bootstrap and m2 with -join, adds m3
// (started with neither) through `csetctl raft join`, then writes through a follower.
func TestCluster_JoinAndWriteThroughFollower(t *testing.T) {
	t.Parallel()
	requireBinaries(t)
	m1, m2, m3 := newNode(t, "m1"), newNode(t, "m2"), newNode(t, "m3")
	m1.start("-bootstrap")
	waitLeader(t, m1)
	m2.start("-join", m1.grpcAddr())
	m3.start()
	waitMasters(t, []*node{m1, m2}, "m1", "m2")

	// m3 knows no leader until it is added: it started without -bootstrap and -join.
	if h, err := m3.health(); err != nil || h.Leader != "" {
		t.Fatalf("m3 before the join: health %+v, %v; want no leader", h, err)
	}
	var joined struct {
		ID    string `json:"id"`
		Index uint64 `json:"index"`
	}
	ctlJSON(t, m2.grpcAddr(), &joined, "raft", "join", "m3", m3.raftAddr(), m3.grpcAddr(), "--http-addr", m3.httpAddr())
	if joined.ID != "m3" || joined.Index == 0 {
		t.Fatalf("raft join -o json = %+v, want id m3 and a raft index", joined)
	}
	nodes := []*node{m1, m2, m3}
	leader := waitLeader(t, nodes...)
	waitMasters(t, nodes, "m1", "m2", "m3")

	var peers []masterJSON
	ctlJSON(t, m3.grpcAddr(), &peers, "raft", "peers")
	if len(peers) != 3 {
		t.Fatalf("raft peers on m3 = %+v, want 3", peers)
	}

	f := follower(nodes, leader)
	var set struct {
		Name string `json:"name"`
		Zone string `json:"zone"`
	}
	ctlJSON(t, f.grpcAddr(), &set, "set", "init", "prod", "--zone", "cset.example.com")
	if set.Name != "prod" || set.Zone != "cset.example.com." {
		t.Fatalf("set init -o json = %+v, want prod and cset.example.com.", set)
	}
	addMember(t, f.grpcAddr(), "east")
	addMember(t, f.grpcAddr(), "west")
	var w workloadJSON
	ctlJSON(t, f.grpcAddr(), &w, "workload", "register", "web", "--group", "failover-web", "--candidates", "east,west",
		"--address", "east=10.0.1.10", "--address", "west=10.0.2.10", "--offline")
	wantW := workloadJSON{Name: "web", Group: "failover-web", Candidates: []string{"east", "west"},
		Addresses: map[string][]string{"east": {"10.0.1.10"}, "west": {"10.0.2.10"}}, FQDN: "web.cset.example.com.", Desired: "offline"}
	if diff := cmp.Diff(wantW, w); diff != "" {
		t.Fatalf("workload register -o json (-want +got):\n%s", diff)
	}

	// A consistent read through any master sees the writes at once; local reads converge.
	for _, n := range nodes {
		var st statusJSON
		ctlJSON(t, n.grpcAddr(), &st, "status", "--consistent")
		if st.Leader.ID != leader.id || st.Leader.GRPCAddr != leader.grpcAddr() || st.Members != 2 || st.Workloads != 1 || st.ClusterSet != "prod" {
			t.Fatalf("status --consistent on %s = %+v, want leader %s, 2 members, 1 workload, set prod", n.id, st, leader.id)
		}
	}
	waitMembers(t, nodes, "east", "west")
	testutil.Eventually(t, leaderTimeout, func() error {
		for _, n := range nodes {
			var got workloadJSON
			if err := ctlJSONErr(t, n.grpcAddr(), &got, "workload", "show", "web"); err != nil {
				return err
			}
			if diff := cmp.Diff(wantW, got); diff != "" {
				return fmt.Errorf("workload show web on %s (-want +got):\n%s", n.id, diff)
			}
		}
		return nil
	})
}

// TestCluster_LeaderKilled kills the leader with SIGKILL: the two others elect a new leader that
// accepts writes, and the killed master catches up when it comes back on its data dir.
func TestCluster_LeaderKilled(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t)
	old := waitLeader(t, nodes...)
	addMember(t, old.grpcAddr(), "before")
	old.kill()

	var survivors []*node
	for _, n := range nodes {
		if n != old {
			survivors = append(survivors, n)
		}
	}
	leader := waitLeader(t, survivors...)
	if leader == old {
		t.Fatalf("killed %s is still the leader", old.id)
	}
	// Through csetctl against a follower-or-leader survivor: the write is accepted.
	addMember(t, survivors[0].grpcAddr(), "after")
	waitMembers(t, survivors, "after", "before")
	var st statusJSON
	ctlJSON(t, survivors[1].grpcAddr(), &st, "status", "--consistent")
	if st.Leader.ID != leader.id || st.Members != 2 {
		t.Fatalf("status after failover = %+v, want leader %s and 2 members", st, leader.id)
	}

	old.start()
	waitLeader(t, nodes...)
	waitMembers(t, nodes, "after", "before")
}

// TestCluster_FullRestart stops all three masters with SIGTERM and starts them again on the same
// data dirs without -bootstrap or -join: the state is intact and writes work again.
func TestCluster_FullRestart(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t)
	leader := waitLeader(t, nodes...)
	f := follower(nodes, leader)
	ctlOK(t, f.grpcAddr(), "set", "init", "prod", "--zone", "cset.example.com")
	addMember(t, f.grpcAddr(), "east")
	addMember(t, leader.grpcAddr(), "west")
	ctlOK(t, f.grpcAddr(), "faultdomain", "create", "rack-a", "--members", "east")
	ctlOK(t, f.grpcAddr(), "workload", "register", "web", "--group", "failover-web", "--candidates", "west,east",
		"--address", "east=10.0.1.10", "--address", "west=10.0.2.10", "--offline")
	ctlOK(t, f.grpcAddr(), "member", "remove", "east", "--force")
	addMember(t, f.grpcAddr(), "north")
	before := stateOf(t, leader)
	waitConverged(t, nodes, before)

	for _, n := range nodes {
		n.stop()
	}
	for _, n := range nodes {
		n.start()
	}
	leader = waitLeader(t, nodes...)
	waitMasters(t, nodes, "m1", "m2", "m3")
	waitConverged(t, nodes, before)
	addMember(t, follower(nodes, leader).grpcAddr(), "south")
	waitMembers(t, nodes, "north", "south", "west")
}

// state is what the restart and snapshot tests compare: the set, members and workloads as a
// master's local state reports them.
type state struct {
	Set       string
	Members   []memberJSON
	Workloads []workloadJSON
}

// stateOfErr reads a node's local state through csetctl.
func stateOfErr(t *testing.T, n *node) (state, error) {
	t.Helper()
	var s state
	var st statusJSON
	if err := ctlJSONErr(t, n.grpcAddr(), &st, "status"); err != nil {
		return s, err
	}
	s.Set = st.ClusterSet + "/" + st.Zone
	if err := ctlJSONErr(t, n.grpcAddr(), &s.Members, "member", "list"); err != nil {
		return s, err
	}
	if err := ctlJSONErr(t, n.grpcAddr(), &s.Workloads, "workload", "list"); err != nil {
		return s, err
	}
	return s, nil
}

func stateOf(t *testing.T, n *node) state {
	t.Helper()
	s, err := stateOfErr(t, n)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// waitConverged waits until every node's local state equals want.
func waitConverged(t *testing.T, nodes []*node, want state) {
	t.Helper()
	testutil.Eventually(t, leaderTimeout, func() error {
		for _, n := range nodes {
			got, err := stateOfErr(t, n)
			if err != nil {
				return err
			}
			if diff := cmp.Diff(want, got); diff != "" {
				return fmt.Errorf("state of %s (-want +got):\n%s", n.id, diff)
			}
		}
		return nil
	})
}

// TestCluster_SnapshotSaveRestore saves a snapshot, changes the state, and restores the snapshot
// through a follower: every master returns to the saved state.
func TestCluster_SnapshotSaveRestore(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t)
	leader := waitLeader(t, nodes...)
	f := follower(nodes, leader)
	ctlOK(t, f.grpcAddr(), "set", "init", "prod", "--zone", "cset.example.com")
	addMember(t, f.grpcAddr(), "east")
	addMember(t, f.grpcAddr(), "west")
	ctlOK(t, f.grpcAddr(), "workload", "register", "web", "--group", "failover-web", "--candidates", "east,west",
		"--address", "east=10.0.1.10", "--address", "west=10.0.2.10", "--offline")
	saved := stateOf(t, leader)
	waitConverged(t, nodes, saved)

	file := filepath.Join(t.TempDir(), "cset.snap")
	var save struct {
		File  string `json:"file"`
		Bytes int64  `json:"bytes"`
	}
	ctlJSON(t, f.grpcAddr(), &save, "snapshot", "save", file)
	if save.File != file || save.Bytes <= 0 {
		t.Fatalf("snapshot save -o json = %+v, want file %s and a size", save, file)
	}

	ctlOK(t, leader.grpcAddr(), "workload", "unregister", "web")
	ctlOK(t, f.grpcAddr(), "member", "remove", "east")
	addMember(t, f.grpcAddr(), "later")
	ctlOK(t, f.grpcAddr(), "set", "init", "other", "--zone", "other.example.com")
	waitMembers(t, nodes, "later", "west")

	var restored struct {
		File      string `json:"file"`
		Bytes     int64  `json:"bytes"`
		Index     uint64 `json:"index"`
		Members   int    `json:"members"`
		Workloads int    `json:"workloads"`
	}
	other := follower(nodes, leader)
	// The set was renamed since the snapshot: the snapshot is of another identity now, so the
	// restore needs --force, and without it nothing changes.
	if r := ctl(t, other.grpcAddr(), "snapshot", "restore", file); r.code != 1 || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("restore of the snapshot of 'prod' into 'other': %v, want exit 1 pointing at --force", r)
	}
	ctlJSON(t, other.grpcAddr(), &restored, "snapshot", "restore", file, "--force")
	if restored.Bytes != save.Bytes || restored.Index == 0 || restored.Members != 2 || restored.Workloads != 1 {
		t.Fatalf("snapshot restore -o json = %+v, want %d bytes, an index, 2 members, 1 workload", restored, save.Bytes)
	}
	waitConverged(t, nodes, saved)

	// The restored state is a normal state: writes continue on top of it.
	addMember(t, f.grpcAddr(), "after")
	waitMembers(t, nodes, "after", "east", "west")
}

// TestCSetctl_Errors checks exit codes and messages: a dead address, input csetctl rejects
// itself, and errors only the server can report.
func TestCSetctl_Errors(t *testing.T) {
	t.Parallel()
	requireBinaries(t)
	n := newNode(t, "solo")
	n.start("-bootstrap")
	waitLeader(t, n)
	addMember(t, n.grpcAddr(), "east")

	dead := testutil.FreeAddr(t)
	for _, tc := range []struct {
		name     string
		addr     string
		args     []string
		code     int
		contains []string
	}{
		{"dead address", dead, []string{"--timeout", "2s", "status"}, 1, []string{dead}},
		{"dead address write", dead, []string{"--timeout", "2s", "member", "add", "x", "--server", "x-1=http://10.0.0.1:29009"}, 1, []string{dead}},
		{"bad name", n.grpcAddr(), []string{"member", "add", "BAD_NAME", "--server", "x=http://10.0.0.1:29009"}, 2, []string{"BAD_NAME", "DNS label"}},
		{"bad url", n.grpcAddr(), []string{"member", "add", "ok", "--server", "x=ftp://10.0.0.1"}, 2, []string{"ftp://10.0.0.1", "http://"}},
		{"unknown member", n.grpcAddr(), []string{"member", "show", "nosuch"}, 1, []string{"nosuch", "does not exist"}},
		{"duplicate member", n.grpcAddr(), []string{"member", "add", "east", "--server", "east-1=http://10.0.0.1:29009"}, 1, []string{"east"}},
		{"unknown candidate", n.grpcAddr(), []string{"workload", "register", "web", "--group", "g", "--candidates", "nosuch", "--address", "nosuch=10.0.0.5"}, 1, []string{"nosuch"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ctl(t, tc.addr, tc.args...)
			if r.code != tc.code {
				t.Fatalf("want exit %d: %v", tc.code, r)
			}
			if r.stdout != "" {
				t.Errorf("want nothing on stdout: %v", r)
			}
			for _, s := range tc.contains {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr does not mention %q: %v", s, r)
				}
			}
		})
	}
	// Nothing of the failed writes reached the state.
	st, err := n.client().Status(context.Background(), &apiv1.StatusRequest{Read: &apiv1.ReadOptions{Consistent: true}})
	if err != nil || st.GetMembers() != 1 || st.GetWorkloads() != 0 {
		t.Fatalf("status after failed writes = %v, %v; want 1 member and no workload", st, err)
	}
}
