package controller_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/internal/clustertest"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

// TestController_ExampleCopyHook moves a workload with examples/hooks/copy-from-backup.sh as its
// handover hook, configured the way examples/hooks/README.md says: a wrapper that sets the
// directories and execs the example.
func TestController_ExampleCopyHook(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skipf("the example hooks are POSIX sh scripts and sh is not on PATH: %v", err)
	}
	example, err := filepath.Abs("../examples/hooks/copy-from-backup.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	backup := filepath.Join(dir, "backup", "web")
	if err := os.MkdirAll(filepath.Join(backup, "db"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(backup, "db", "table.dat"), []byte("rows from the backup\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	hook := writeHook(t, dir, "web-handover.sh", fmt.Sprintf("CSET_HOOK_BACKUP_DIR='%s/backup/%%w' CSET_HOOK_DATA_DIR='%s/mnt/%%t/%%w' exec '%s'", dir, dir, example))

	e := newEnv(t, envOpts{members: []string{"east", "west"}, groups: []string{"web"}, hooks: map[string][]string{"web": {hook}}})
	e.waitOnline("web", "east", 15*time.Second)
	if _, err := os.Stat(filepath.Join(dir, "mnt")); err == nil {
		t.Fatalf("the hook ran for the first start, which has no source to hand over from")
	}
	op, err := e.client().MoveWorkload(clustertest.Ctx(t), &apiv1.MoveWorkloadRequest{Name: "web", ToMember: "west"})
	if err != nil {
		t.Fatal(err)
	}
	e.waitOnline("web", "west", 15*time.Second)

	got, err := e.client().GetOperation(clustertest.Ctx(t), &apiv1.GetRequest{Name: op.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetPhase() != "done" || len(got.GetHooks()) != 1 {
		t.Fatalf("operation %+v", got)
	}
	h := got.GetHooks()[0]
	if h.GetHook() != hook || h.GetExitCode() != 0 || h.GetError() != "" || !strings.Contains(h.GetOutputTail(), "copy complete") {
		t.Errorf("hook result %+v", h)
	}
	data := filepath.Join(dir, "mnt", "west", "web")
	if b, err := os.ReadFile(filepath.Join(data, "db", "table.dat")); err != nil || string(b) != "rows from the backup\n" {
		t.Errorf("restored data: %q, %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(data, ".cset-handover")); err != nil || !strings.HasPrefix(string(b), op.GetId()+"\n") {
		t.Errorf("marker %q (%v), want operation %s", b, err, op.GetId())
	}
	if len(e.events("hook "+hook+" exited 0")) == 0 {
		t.Errorf("no event records the hook's exit code")
	}
}
