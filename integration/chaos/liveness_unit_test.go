package chaos

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// samplesOf builds one sample per second from at(0) for workload 0 (w01): live[k] says whether it
// is live at second k, on[k] where it runs.
func samplesOf(live []bool, on []string) []sample {
	var out []sample
	for k := range live {
		s := sample{at: at(k), leaders: []string{"m1"}, on: make([]string, nAll), live: make([]bool, nAll)}
		for i := range nAll {
			s.live[i], s.on[i] = true, "e2"
		}
		s.live[0], s.on[0] = live[k], on[k]
		out = append(out, s)
	}
	return out
}

func TestCheckLiveness(t *testing.T) {
	t.Parallel()
	b := int(livenessBound() / time.Second)
	n := 60 + 2*b
	live, on := make([]bool, n), make([]string, n)
	for k := range n {
		live[k], on[k] = true, "e1"
	}
	// Outage 1 (seconds 10..20): e1 dies at 10 and is healed at 15; back on e2 at 20, within
	// the bound of the outage's start: e2 and e3 were eligible throughout.
	for k := 10; k < 20; k++ {
		live[k], on[k] = false, ""
	}
	for k := 20; k < n; k++ {
		on[k] = "e2"
	}
	// Outage 2 (seconds 30..30+b+3): longer than the bound.
	for k := 30; k < 30+b+3; k++ {
		live[k] = false
	}
	bound := livenessBound()
	check := func(faults ...*faultRec) ([]string, livenessStats) {
		return checkLiveness(samplesOf(live, on), faults, nil, nil, bound)
	}
	death := &faultRec{step: 1, kind: "member-kill", target: "e1", members: []string{"e1"}, injected: at(10), healed: at(15)}
	harmless := &faultRec{step: 3, kind: "client-cut", harmless: true, injected: at(29), healed: at(60)}
	v, st := check(death, harmless)
	if len(v) != 1 || !strings.Contains(v[0], "w01") || !strings.Contains(v[0], "nothing held it back") {
		t.Fatalf("violations = %q, want one for the second outage of w01", v)
	}
	if st.outages != 2 || st.disturbed != 1 || len(st.recoveries) != 1 || st.recoveries[0] != 10*time.Second {
		t.Fatalf("stats %+v, want 2 outages, 1 disturbed, recovery 10s (failover from the outage's start)", st)
	}
	hold := func(f *faultRec) *faultRec { f.injected, f.healed = at(31), at(30+b); return f }
	for _, tc := range []struct {
		name   string
		faults []*faultRec
		want   int
	}{
		{"a global fault holds it back", []*faultRec{hold(&faultRec{step: 4, kind: "witness-kill", global: true})}, 0},
		{"a follower's fault does not", []*faultRec{hold(&faultRec{step: 5, kind: "master-kill", masters: []string{"m2"}})}, 1},
		{"the leader's fault does", []*faultRec{hold(&faultRec{step: 6, kind: "master-kill", masters: []string{"m1"}})}, 0},
		{"one member hit leaves eligible candidates", []*faultRec{hold(&faultRec{step: 7, kind: "member-kill", members: []string{"e2"}})}, 1},
		{"two of three members hit: the brake", []*faultRec{hold(&faultRec{step: 8, kind: "member-kill", members: []string{"e2"}}),
			hold(&faultRec{step: 9, kind: "member-isolate", members: []string{"e3"}})}, 0},
		{"a fault that names the workload", []*faultRec{hold(&faultRec{step: 10, kind: "hook-fail", workloads: []string{"w01"}})}, 0},
	} {
		if v, _ := check(append(tc.faults, death)...); len(v) != tc.want {
			t.Errorf("%s: violations %q, want %d", tc.name, v, tc.want)
		}
	}
	// An operation in flight that waits on a member that is hit holds the workload back.
	ops := map[string][]*opSpan{"w01": {{id: "op-1", from: at(30), members: []string{"e2", "e3"}}}}
	if v, _ := checkLiveness(samplesOf(live, on), []*faultRec{death, hold(&faultRec{step: 12, kind: "member-isolate", members: []string{"e3"}})}, nil, ops, bound); len(v) != 0 {
		t.Fatalf("violations with an operation waiting on an isolated member: %q", v)
	}
	ops["w01"][0].to = at(31) // finished before the isolation: nothing waits on it
	if v, _ := checkLiveness(samplesOf(live, on), []*faultRec{death, hold(&faultRec{step: 13, kind: "member-isolate", members: []string{"e3"}})}, nil, ops, bound); len(v) != 1 {
		t.Fatalf("violations with a finished operation: %q, want one", v)
	}
	// A hold that ends too early: the bound counts from its end.
	early := &faultRec{step: 11, kind: "witness-kill", global: true, injected: at(31), healed: at(32)}
	if v, _ := check(death, early); len(v) != 1 || !strings.Contains(v[0], "step 11") {
		t.Fatalf("violations with a short hold: %q, want one naming step 11", v)
	}
	// Unregistered during the outage and never registered again: not required.
	regs := map[string][]regEvent{"w01": {{at(0), true}, {at(31), false}}}
	live[n-1] = false
	if v, _ := checkLiveness(samplesOf(live, on), nil, regs, nil, bound); len(v) != 0 {
		t.Fatalf("violations for an unregistered workload: %q", v)
	}
}

func TestHookOverlaps(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	log := filepath.Join(dir, "hooks.log")
	lines := []string{
		"start op-1 f01 100 1000000000.0",
		"tick op-1 f01 100 1000000000.5",
		"tick op-1 f01 100 1000000003.0", // the old run still goes on after the leader died
		"start op-1 f01 200 1000000002.0",
		"end op-1 f01 200 1000000004.0 ok",
		"start op-2 f02 300 1000000005.0",
		"end op-2 f02 300 1000000005.1 fail",
		"start op-2 f02 301 1000000006.0",
		"end op-2 f02 301 1000000006.1 ok",
	}
	if err := os.WriteFile(log, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	runs, err := readHookRuns(log)
	if err != nil || len(runs) != 4 {
		t.Fatalf("runs = %v, %v; want 4", runs, err)
	}
	if runs[0].result != "" || runs[1].result != "ok" || runs[2].result != "fail" {
		t.Fatalf("results %q %q %q", runs[0].result, runs[1].result, runs[2].result)
	}
	v := hookOverlaps(runs)
	if len(v) != 1 || !strings.Contains(v[0], "op-1") {
		t.Fatalf("overlaps = %q, want one for op-1", v)
	}
}

func TestCheckNoMember(t *testing.T) {
	t.Parallel()
	in := &opRecord{id: 1, kind: opUpdate, key: "w01", call: at(10), ret: at(11), outcome: outNoMember}
	out := &opRecord{id: 2, kind: opMove, key: "w02", call: at(30), ret: at(31), outcome: outNoMember}
	v := checkNoMember([]*opRecord{in, out, {id: 3, kind: opGet, outcome: outOK}}, []window{{from: at(9), to: at(20)}})
	if len(v) != 1 || !strings.Contains(v[0], "#2") {
		t.Fatalf("violations = %q, want one for #2", v)
	}
}
