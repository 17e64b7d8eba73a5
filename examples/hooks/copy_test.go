package hooks_test

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const marker = ".cset-handover"

// copyWorld is a backup of web with a few kinds of entries and an empty place to restore it.
type copyWorld struct {
	dir    string
	backup string // the backup of web
	data   string // where west mounts web's data
	env    map[string]string
}

func newCopyWorld(t *testing.T, tool, op string) copyWorld {
	t.Helper()
	dir := t.TempDir()
	w := copyWorld{dir: dir, backup: filepath.Join(dir, "backup", "web"), data: filepath.Join(dir, "mnt", "west", "web")}
	writeFile(t, filepath.Join(w.backup, "db", "table.dat"), "rows\n", 0o640)
	writeFile(t, filepath.Join(w.backup, "secret.key"), "k", 0o600)
	writeFile(t, filepath.Join(w.backup, "run.sh"), "#!/bin/sh\n", 0o755)
	if err := os.Symlink("db/table.dat", filepath.Join(w.backup, "current")); err != nil {
		t.Fatal(err)
	}
	w.env = hookEnv(op)
	w.env["CSET_HOOK_BACKUP_DIR"] = filepath.Join(dir, "backup", "%w")
	w.env["CSET_HOOK_DATA_DIR"] = filepath.Join(dir, "mnt", "%t", "%w")
	w.env["CSET_HOOK_COPY_TOOL"] = tool
	return w
}

func (w copyWorld) markerOp(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(w.data, marker))
	if err != nil {
		t.Fatalf("marker: %v", err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return first
}

// tools are the copy tools to test: cp always, rsync where installed (auto picks it then).
func tools(t *testing.T) []string {
	out := []string{"cp", "auto"}
	if _, err := exec.LookPath("rsync"); err == nil {
		out = append(out, "rsync")
	} else {
		t.Logf("rsync is not installed: testing the cp path only (auto falls back to cp)")
	}
	return out
}

func TestCopyFromBackup_CopiesExactlyAndIsIdempotent(t *testing.T) {
	t.Parallel()
	hook := script(t, "copy-from-backup.sh")
	for _, tool := range tools(t) {
		t.Run(tool, func(t *testing.T) {
			t.Parallel()
			w := newCopyWorld(t, tool, "op-1")
			// What the previous placement left on west: replaced, not merged.
			writeFile(t, filepath.Join(w.data, "stale.log"), "old", 0o644)
			writeFile(t, filepath.Join(w.data, "db", "table.dat"), "old rows\n", 0o644)

			r := runHook(t, hook, w.env)
			if r.exit != 0 || !strings.Contains(r.output, "copy complete") {
				t.Fatalf("first run: exit %d\n%s", r.exit, r.output)
			}
			if diff := cmp.Diff(tree(t, w.backup), tree(t, w.data, marker)); diff != "" {
				t.Errorf("restored data differs from the backup (-backup +restored):\n%s", diff)
			}
			if got := w.markerOp(t); got != "op-1" {
				t.Errorf("marker names operation %q, want op-1", got)
			}

			// The workload writes after the handover; a re-run of the same operation (a new
			// leader resuming it) must not copy again.
			writeFile(t, filepath.Join(w.data, "written-after-start"), "new", 0o644)
			before := tree(t, w.data)
			r = runHook(t, hook, w.env)
			if r.exit != 0 || !strings.Contains(r.output, "nothing to do") {
				t.Fatalf("re-run: exit %d\n%s", r.exit, r.output)
			}
			if diff := cmp.Diff(before, tree(t, w.data)); diff != "" {
				t.Errorf("re-run of the same operation changed the data:\n%s", diff)
			}

			// The next operation restores the backup again.
			w.env["CSET_OPERATION"] = "op-2"
			if r = runHook(t, hook, w.env); r.exit != 0 {
				t.Fatalf("run for op-2: exit %d\n%s", r.exit, r.output)
			}
			if diff := cmp.Diff(tree(t, w.backup), tree(t, w.data, marker)); diff != "" {
				t.Errorf("op-2 did not restore the backup exactly:\n%s", diff)
			}
			if got := w.markerOp(t); got != "op-2" {
				t.Errorf("marker names operation %q, want op-2", got)
			}
		})
	}
}

func TestCopyFromBackup_FinishesAnInterruptedCopy(t *testing.T) {
	t.Parallel()
	hook := script(t, "copy-from-backup.sh")
	for _, tool := range tools(t) {
		t.Run(tool, func(t *testing.T) {
			t.Parallel()
			w := newCopyWorld(t, tool, "op-1")
			// A run of op-1 was killed half-way: part of the data, no marker.
			writeFile(t, filepath.Join(w.data, "secret.key"), "k", 0o600)
			writeFile(t, filepath.Join(w.data, "db", "table.dat"), "ro", 0o640)
			if r := runHook(t, hook, w.env); r.exit != 0 {
				t.Fatalf("exit %d\n%s", r.exit, r.output)
			}
			if diff := cmp.Diff(tree(t, w.backup), tree(t, w.data, marker)); diff != "" {
				t.Errorf("restored data differs from the backup:\n%s", diff)
			}
		})
	}
}

func TestCopyFromBackup_Templates(t *testing.T) {
	t.Parallel()
	hook := script(t, "copy-from-backup.sh")
	w := newCopyWorld(t, "cp", "op-1")
	w.env["CSET_HOOK_BACKUP_DIR"] = filepath.Join(w.dir, "backup", "%w") + "/"
	w.env["CSET_HOOK_DATA_DIR"] = filepath.Join(w.dir, "mnt", "%t-%s", "%g_%f", "100%%")
	if r := runHook(t, hook, w.env); r.exit != 0 {
		t.Fatalf("exit %d\n%s", r.exit, r.output)
	}
	want := filepath.Join(w.dir, "mnt", "west-west-2", "failover-web_east", "100%")
	if diff := cmp.Diff(tree(t, w.backup), tree(t, want, marker)); diff != "" {
		t.Errorf("data not restored to %s:\n%s", want, diff)
	}
}

func TestCopyFromBackup_Failures(t *testing.T) {
	t.Parallel()
	hook := script(t, "copy-from-backup.sh")
	cases := []struct {
		name string
		edit func(w copyWorld, env map[string]string)
		want string // in the output
	}{
		{"no backup", func(w copyWorld, _ map[string]string) { os.RemoveAll(w.backup) }, "does not exist"},
		{"not run by cset", func(_ copyWorld, env map[string]string) { delete(env, "CSET_OPERATION") }, "CSET_OPERATION is not set"},
		{"no target member", func(_ copyWorld, env map[string]string) { env["CSET_TO_MEMBER"] = "" }, "CSET_TO_MEMBER is not set"},
		{"no backup setting", func(_ copyWorld, env map[string]string) { delete(env, "CSET_HOOK_BACKUP_DIR") }, "CSET_HOOK_BACKUP_DIR is not set"},
		{"no data setting", func(_ copyWorld, env map[string]string) { delete(env, "CSET_HOOK_DATA_DIR") }, "CSET_HOOK_DATA_DIR is not set"},
		{"relative path", func(_ copyWorld, env map[string]string) { env["CSET_HOOK_DATA_DIR"] = "mnt/%w" }, "must be an absolute path"},
		{"unknown sequence", func(_ copyWorld, env map[string]string) { env["CSET_HOOK_DATA_DIR"] += "/%x" }, "unknown %-sequence"},
		{"data is root", func(_ copyWorld, env map[string]string) { env["CSET_HOOK_DATA_DIR"] = "/" }, "must not be /"},
		{"data inside backup", func(w copyWorld, env map[string]string) { env["CSET_HOOK_DATA_DIR"] = w.backup + "/restore" }, "inside the backup"},
		{"backup inside data", func(w copyWorld, env map[string]string) { env["CSET_HOOK_DATA_DIR"] = filepath.Dir(w.backup) }, "inside the data directory"},
		{"path escape", func(_ copyWorld, env map[string]string) { env["CSET_WORKLOAD"] = ".." }, "cannot be used in a path"},
		{"slash in a name", func(_ copyWorld, env map[string]string) {
			env["CSET_TO_SERVER"] = "a/b"
			env["CSET_HOOK_DATA_DIR"] += "/%s"
		}, "cannot be used in a path"},
		{"bad tool", func(_ copyWorld, env map[string]string) { env["CSET_HOOK_COPY_TOOL"] = "scp" }, "must be auto, rsync or cp"},
	}
	if _, err := exec.LookPath("mountpoint"); err == nil {
		cases = append(cases, struct {
			name string
			edit func(w copyWorld, env map[string]string)
			want string
		}{"not a mount", func(_ copyWorld, env map[string]string) { env["CSET_HOOK_REQUIRE_MOUNT"] = "1" }, "is not a mount point"})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newCopyWorld(t, "auto", "op-1")
			env := maps.Clone(w.env)
			tc.edit(w, env)
			r := runHook(t, hook, env)
			if r.exit == 0 {
				t.Fatalf("exit 0, want a failure\n%s", r.output)
			}
			if !strings.Contains(r.output, tc.want) || !strings.HasPrefix(r.output, "copy-from-backup: ") {
				t.Errorf("output %q does not say %q", r.output, tc.want)
			}
			if _, err := os.Stat(filepath.Join(w.data, marker)); err == nil {
				t.Errorf("a failed run left a marker")
			}
		})
	}
}
