package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const planFile = "testdata/apply.yaml"

// TestApply_DryRunPrintsThePlan: --dry-run --prune sends both flags and prints one line per
// object, the changed fields of an update, and a summary that says nothing was committed.
func TestApply_DryRunPrintsThePlan(t *testing.T) {
	t.Parallel()
	f, addr := newSeeded(t)
	r := cli(t, addr, exitOK, "apply", "-f", planFile, "--dry-run", "--prune")
	want := `+ set prod
+ fault domain rack-east
+ fault domain rack-west
+ availability set web-ha
= member east
~ member west (capacity)
+ member south
+ workload db
- workload web
dry run of testdata/apply.yaml against index 49: 6 to create, 1 to update, 1 to delete, 1 unchanged; nothing was committed
`
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
	req := f.lastApplyReq
	if !req.GetDryRun() || !req.GetPrune() || req.GetForce() {
		t.Errorf("request dry_run %v prune %v force %v, want true true false", req.GetDryRun(), req.GetPrune(), req.GetForce())
	}
	if f.members["south"] != nil {
		t.Error("the dry run added a member")
	}
}

// TestApply_PlanJSON: -o json prints the documented shape, every key present, [] for no fields.
func TestApply_PlanJSON(t *testing.T) {
	t.Parallel()
	_, addr := newSeeded(t)
	r := cli(t, addr, exitOK, "apply", "-f", planFile, "--dry-run", "-o", "json")
	doc := wantKeys(t, "apply", decodeOne(t, r.stdout), "index", "state_index", "dry_run", "committed", "members", "fault_domains",
		"availability_sets", "workloads", "changes", "summary")
	if doc["index"] != 0.0 || doc["dry_run"] != true || doc["committed"] != false || doc["state_index"] != 49.0 {
		t.Errorf("apply json %v", doc)
	}
	changes := doc["changes"].([]any)
	first := wantKeys(t, "change", changes[0], "kind", "name", "action", "fields", "note")
	if first["kind"] != "set" || first["action"] != "create" || len(first["fields"].([]any)) != 0 {
		t.Errorf("first change %v", first)
	}
	sum := wantKeys(t, "summary", doc["summary"], "create", "update", "delete", "unchanged")
	if sum["create"] != 6.0 || sum["update"] != 1.0 || sum["delete"] != 0.0 || sum["unchanged"] != 1.0 {
		t.Errorf("summary %v", sum)
	}
}

// TestApply_NothingToChange: an apply whose every object is unchanged exits 0 and says that
// nothing was committed.
func TestApply_NothingToChange(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := writeFile(t, dir, "same.yaml", "members:\n  - {name: east, servers: [{name: east-1, url: \"http://east-1:29009\"}], capacity: 10}\n")
	_, addr := newSeeded(t)
	r := cli(t, addr, exitOK, "apply", "-f", path)
	if want := "= member east\n" + path + " matches the state at index 49: 1 unchanged; nothing was committed\n"; r.stdout != want {
		t.Errorf("stdout %q, want %q", r.stdout, want)
	}
}

// TestApply_PruneFlags: --force needs --prune (a usage error, nothing sent); a prune the masters
// refuse exits 1 with their message.
func TestApply_PruneFlags(t *testing.T) {
	t.Parallel()
	f, addr := newSeeded(t)
	r := cli(t, addr, exitUsage, "apply", "-f", planFile, "--force")
	if !strings.Contains(r.stderr, "--force applies to what --prune deletes: give --prune too") || len(f.getCalls()) != 0 {
		t.Errorf("stderr %q, calls %v", r.stderr, f.getCalls())
	}
	msg := `--prune would unregister workload "web", which the file does not declare, but it is placed on east (ECX status Online): ` +
		`unregistering it leaves its group running there without cset and takes its DNS name away. Keep it in the file, stop it first ('csetctl workload stop web'), or apply with --force`
	f.failWith("Apply", status.Error(codes.FailedPrecondition, msg))
	r = cli(t, addr, exitError, "apply", "-f", planFile, "--prune")
	if r.stderr != "error: "+msg+" (FailedPrecondition)\n" || r.stdout != "" {
		t.Errorf("stdout %q stderr %q", r.stdout, r.stderr)
	}
	cli(t, addr, exitOK, "apply", "-f", planFile, "--prune", "--force")
	if req := f.lastApplyReq; !req.GetPrune() || !req.GetForce() || req.GetDryRun() {
		t.Errorf("request dry_run %v prune %v force %v, want false true true", req.GetDryRun(), req.GetPrune(), req.GetForce())
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
