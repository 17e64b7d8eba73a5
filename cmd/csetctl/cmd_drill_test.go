package main

import (
	"strings"
	"testing"
)

// An executed drill followed with --wait reports, per workload, where it went, by which
// operation, the phases it went through with the time of each, the total time and the DNS
// switch time (the masters' drill report), and ends with the commands that fail back.
func TestDrill_ExecuteWaitReportsPhasesAndFailback(t *testing.T) {
	t.Parallel()
	f, addr := newSeeded(t)
	f.mu.Lock()
	f.workloads["web"].Failback = "never" // moved back by hand
	f.mu.Unlock()
	r := cli(t, addr, exitOK, "drill", "--member", "east", "--execute", "--wait")
	for _, want := range []string{
		"drill: evacuating east",
		"WENT TO  OPERATION     RESULT  TOOK  DNS SWITCH",
		"west     op-drill-web  done    2.6s  2.6s",
		"  web (op-drill-web): pending 100ms, fencing 300ms, handover 5ms, starting 2.195s, done at 22:15:02.600Z",
		"DNS SWITCH: from its creation to the commit that placed the workload Online on the new member",
		"every workload went where the drill predicted",
		"to fail back:\n  csetctl member undrain east\n  csetctl workload move web --to east\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("drill --execute --wait output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "by itself") {
		t.Errorf("web has failback: never, yet the output says it returns by itself:\n%s", r.stdout)
	}
	// The report asked for the operation that moved web, and only that one.
	var drills int
	for _, c := range f.getCalls() {
		if c.method == "Drill" {
			drills++
		}
	}
	if drills != 2 {
		t.Errorf("%d Drill calls, want 2 (the execution, then its report)", drills)
	}

	// JSON, on a set where web fails back by itself.
	f2, addr2 := newSeeded(t)
	_ = f2
	r = cli(t, addr2, exitOK, "drill", "--member", "east", "--execute", "--wait", "-o", "json")
	doc := decodeOne(t, r.stdout).(map[string]any)
	wantKeys(t, "drill", doc, "members", "steps", "detection_ms", "expected_ms", "estimate_basis", "planned", "executed", "matched", "failback_commands", "failback_auto")
	if doc["matched"] != true || doc["executed"] != true || doc["planned"] != true {
		t.Errorf("drill JSON: matched %v executed %v planned %v", doc["matched"], doc["executed"], doc["planned"])
	}
	if got := doc["failback_commands"].([]any); len(got) != 1 || got[0] != "csetctl member undrain east" {
		t.Errorf("failback_commands %v, want only the undrain (web has failback: auto to east)", got)
	}
	if got := doc["failback_auto"].([]any); len(got) != 1 || got[0] != "web" {
		t.Errorf("failback_auto %v, want [web]", got)
	}
	steps := doc["steps"].([]any)
	web := wantKeys(t, "drill step", steps[0], "workload", "from_member", "to_member", "to_server", "wave", "reason", "expected_start_ms",
		"actual_member", "actual_server", "operation_id", "result", "error", "phases", "took_ms", "dns_switch", "dns_switch_ms")
	if web["actual_member"] != "west" || web["operation_id"] != "op-drill-web" || web["result"] != "done" || web["took_ms"] != 2600.0 ||
		web["dns_switch_ms"] != 2600.0 || web["dns_switch"] != "2023-11-14T22:15:02.6Z" {
		t.Errorf("web's report: %v", web)
	}
	phases := web["phases"].([]any)
	var names []string
	for _, p := range phases {
		pm := wantKeys(t, "phase", p, "phase", "at", "ms")
		names = append(names, pm["phase"].(string))
	}
	if strings.Join(names, ",") != "pending,fencing,handover,starting,done" {
		t.Errorf("phases %v", names)
	}
	if first := phases[0].(map[string]any); first["at"] != "2023-11-14T22:15:00Z" || first["ms"] != 100.0 {
		t.Errorf("pending phase %v", first)
	}
	// db found no place: no report, no failback command.
	if db := steps[1].(map[string]any); db["operation_id"] != "" || len(db["phases"].([]any)) != 0 {
		t.Errorf("db's step %v", db)
	}
}

// --planned predicts the evacuation that --execute runs, without running it.
func TestDrill_PlannedPredictsTheEvacuation(t *testing.T) {
	t.Parallel()
	f, addr := newSeeded(t)
	r := cli(t, addr, exitOK, "drill", "--member", "east", "--planned")
	for _, want := range []string{"drill: evacuating (planned, not executed) east", "expected: 2.5s (the waves one after another)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("drill --planned output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "to fail back") {
		t.Errorf("a prediction offers to fail back:\n%s", r.stdout)
	}
	f.mu.Lock()
	admin, member := f.members["east"].GetAdmin(), f.workloads["web"].GetMember()
	f.mu.Unlock()
	if admin == "draining" || member != "east" {
		t.Errorf("--planned changed the set: east %s, web on %s", admin, member)
	}
	for _, tc := range []struct{ args, want string }{
		{"drill --member east --planned --execute", "--planned predicts what --execute would do"},
		{"drill --fault-domain Site_A", "--fault-domain: fault domain"},
	} {
		if r := cli(t, addr, exitUsage, strings.Fields(tc.args)...); !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: stderr %q, want %q", tc.args, r.stderr, tc.want)
		}
	}
}

// An executed drill without --wait offers the failback commands of its prediction.
func TestDrill_ExecuteOffersFailback(t *testing.T) {
	t.Parallel()
	_, addr := newSeeded(t)
	r := cli(t, addr, exitOK, "drill", "--member", "east", "--execute")
	for _, want := range []string{"the members are draining; to fail back:\n  csetctl member undrain east\n", "web returns by itself once its member is undrained"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("drill --execute output lacks %q:\n%s", want, r.stdout)
		}
	}
}
