package main

import (
	"strings"
	"testing"
)

// rebalance --dry-run shows the scheduler's moves with their reasons and starts nothing;
// rebalance starts them and names each operation.
func TestRebalance_DryRunAndStart(t *testing.T) {
	t.Parallel()
	f, addr := newSeeded(t)
	r := cli(t, addr, exitOK, "rebalance", "--dry-run")
	for _, want := range []string{
		"WORKLOAD  FROM  TO    OPERATION  WHY",
		"web       east  west  (dry run)  east is above its fair share (load 2, fair 1); west is below it",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("rebalance --dry-run output lacks %q:\n%s", want, r.stdout)
		}
	}
	r = cli(t, addr, exitOK, "rebalance", "--dry-run", "-o", "json")
	doc := wantKeys(t, "rebalance", decodeOne(t, r.stdout), "dry_run", "moves")
	if doc["dry_run"] != true {
		t.Errorf("dry_run %v", doc["dry_run"])
	}
	mv := wantKeys(t, "move", doc["moves"].([]any)[0], "workload", "from_member", "to_member", "reason", "operation_id")
	if mv["operation_id"] != "" || mv["workload"] != "web" || mv["to_member"] != "west" {
		t.Errorf("dry-run move %v", mv)
	}

	r = cli(t, addr, exitOK, "rebalance", "--max-moves", "4")
	if !strings.Contains(r.stdout, "web       east  west  op-rebalance-1  east is above its fair share") {
		t.Errorf("rebalance output:\n%s", r.stdout)
	}
	r = cli(t, addr, exitOK, "rebalance", "-o", "json")
	doc = wantKeys(t, "rebalance", decodeOne(t, r.stdout), "dry_run", "moves")
	if mv := doc["moves"].([]any)[0].(map[string]any); doc["dry_run"] != false || mv["operation_id"] != "op-rebalance-1" {
		t.Errorf("rebalance JSON %v", doc)
	}
	n := 0
	for _, c := range f.getCalls() {
		if c.method == "Rebalance" {
			n++
		}
	}
	if n != 4 {
		t.Errorf("%d Rebalance calls, want 4", n)
	}
	for _, tc := range []struct{ args, want string }{
		{"rebalance --max-moves x", "invalid argument"},
		{"rebalance web", `unexpected argument "web"`},
	} {
		if r := cli(t, addr, exitUsage, strings.Fields(tc.args)...); !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: stderr %q, want %q", tc.args, r.stderr, tc.want)
		}
	}
}
