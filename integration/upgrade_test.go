package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/cset-project/cset/internal/proctest"
	"github.com/cset-project/cset/internal/testutil"
)

// previousRelease is the git ref of the release a rolling upgrade starts from
// (CSET_PREVIOUS_RELEASE overrides it).
func previousRelease() string {
	if r := os.Getenv("CSET_PREVIOUS_RELEASE"); r != "" {
		return r
	}
	return "v0.1.0"
}

// releaseCommits are the commits of the releases, for a clone that has the history of main
// but not its tags (a CI checkout): the test builds the commit the tag names.
var releaseCommits = map[string]string{
	"v0.1.0": "7670cd367af5c1ccbbb38a171fbb8414d37e939c",
}

// buildRelease builds csetd of a git ref from the repository this test runs in (git archive,
// so the repository is left as it is). It skips the test when the ref is missing (a clone
// without tags: git fetch --tags).
func buildRelease(t *testing.T, ref string) string {
	t.Helper()
	root, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not in a git checkout (%v): the previous release %s cannot be built", err, ref)
	}
	top := strings.TrimSpace(string(root))
	version := ref
	if err := exec.Command("git", "-C", top, "rev-parse", "-q", "--verify", ref+"^{commit}").Run(); err != nil {
		commit, known := releaseCommits[ref]
		if !known || exec.Command("git", "-C", top, "rev-parse", "-q", "--verify", commit+"^{commit}").Run() != nil {
			t.Skipf("the previous release %s is not in this clone (git fetch --tags, or set CSET_PREVIOUS_RELEASE)", ref)
		}
		t.Logf("the tag %s is not in this clone: building its commit %s", ref, commit)
		ref = commit
	}
	dir := t.TempDir()
	archive := exec.Command("git", "-C", top, "archive", "--format=tar", ref)
	var tarball bytes.Buffer
	archive.Stdout = &tarball
	if err := archive.Run(); err != nil {
		t.Fatalf("git archive %s: %v", ref, err)
	}
	untar := exec.Command("tar", "-x", "-C", dir)
	untar.Stdin = &tarball
	if out, err := untar.CombinedOutput(); err != nil {
		t.Fatalf("untar %s: %v\n%s", ref, err, out)
	}
	bin := filepath.Join(dir, "csetd-"+version)
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-ldflags", "-X main.version="+version, "-o", bin, "./cmd/csetd")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building csetd %s: %v\n%s", ref, err, out)
	}
	return bin
}

// newNodeBin is newNode running the csetd binary bin.
func newNodeBin(t *testing.T, id, bin string) *node {
	n := newNode(t, id)
	n.useBinary(bin)
	return n
}

// useBinary makes the node's next start run bin, with the same data directory, log and
// addresses: an upgrade in place.
func (n *node) useBinary(bin string) {
	n.t.Helper()
	dir := filepath.Dir(n.dataDir)
	n.proc = proctest.New(n.t, bin, proctest.Options{Name: n.id, LogPath: filepath.Join(dir, "csetd-"+filepath.Base(bin)+".log"),
		ReadyFile: filepath.Join(dir, "ready.json"), LogTail: 80})
}

// TestRollingUpgrade_FromThePreviousRelease runs a three-master set of the previous release,
// then upgrades one master at a time to this build (followers first, the leader last, as
// docs/deployment.md says): after each step a leader is elected, a write through the upgraded
// master commits, and every master holds every write, whatever mix of versions runs.
func TestRollingUpgrade_FromThePreviousRelease(t *testing.T) {
	t.Parallel()
	requireBinaries(t)
	prev := buildRelease(t, previousRelease())
	current := csetd.Path(t)
	nodes := []*node{newNodeBin(t, "m1", prev), newNodeBin(t, "m2", prev), newNodeBin(t, "m3", prev)}
	nodes[0].start("-bootstrap")
	waitLeader(t, nodes[0])
	for _, n := range nodes[1:] {
		n.start("-join", nodes[0].grpcAddr())
	}
	leader := waitLeader(t, nodes...)
	waitMasters(t, nodes, "m1", "m2", "m3")
	ctlOK(t, leader.grpcAddr(), "set", "init", "prod", "--zone", "cset.example.com")
	ctlOK(t, leader.grpcAddr(), "faultdomain", "create", "before")
	written := []string{"before"}

	var order []*node
	for _, n := range nodes {
		if n != leader {
			order = append(order, n)
		}
	}
	order = append(order, leader)
	for _, n := range order {
		n.stop()
		n.useBinary(current)
		n.start()
		waitLeader(t, nodes...)
		name := "after-" + n.id
		ctlOK(t, n.grpcAddr(), "faultdomain", "create", name)
		written = append(written, name)
		for _, m := range nodes {
			testutil.Eventually(t, leaderTimeout, func() error {
				r := ctl(t, m.grpcAddr(), "faultdomain", "list")
				for _, fd := range written {
					if !strings.Contains(r.stdout, fd) {
						return fmt.Errorf("%s lacks fault domain %s after %s was upgraded:\n%s%s", m.id, fd, n.id, r.stdout, r.stderr)
					}
				}
				return nil
			})
		}
	}
	waitMasters(t, nodes, "m1", "m2", "m3")
}
