package main

import (
	"strings"
	"testing"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

// workload list shows a workload whose clients cannot reach it where ECX runs it as
// "Online, unreachable" (docs/probe.md), and only its STATUS column changes: a reachable
// workload, one not probed yet and one without a probe show ECX's status alone, and -o json
// keeps status as ECX reports it, with the result in probe_result.
func TestWorkloadList_StatusShowsReachability(t *testing.T) {
	t.Parallel()
	f, addr := newSeeded(t)
	f.mu.Lock()
	db := clone(f.workloads["web"])
	db.Name, db.Group, db.Member, db.Server, db.OperationId = "db", "failover-db", "west", "west-1", "op-2"
	db.Addresses = map[string]*apiv1.AddressList{"east": {Addresses: []string{"10.0.1.11"}}, "west": {Addresses: []string{"10.0.2.11"}}}
	db.ProbeResult = &apiv1.ProbeResult{Reachability: "unreachable", Error: "dial tcp 10.0.2.11:80: connect: connection refused",
		SinceUnixNano: 1_700_000_100_000_000_000}
	f.workloads["db"] = db
	fresh := clone(db)
	fresh.Name, fresh.Group, fresh.OperationId = "cache", "failover-cache", "op-3"
	fresh.ProbeResult = &apiv1.ProbeResult{}
	f.workloads["cache"] = fresh
	bare := clone(db)
	bare.Name, bare.Group, bare.OperationId = "api", "failover-api", "op-4"
	bare.Probe, bare.ProbeResult = nil, nil
	f.workloads["api"] = bare
	f.mu.Unlock()

	r := cli(t, addr, exitOK, "workload", "list")
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	want := []string{
		"NAME   GROUP           DESIRED  MEMBER  SERVER  STATUS               ADDRESS    OPERATION",
		"api    failover-api    online   west    west-1  Online               10.0.2.11  op-4",
		"cache  failover-cache  online   west    west-1  Online               10.0.2.11  op-3",
		"db     failover-db     online   west    west-1  Online, unreachable  10.0.2.11  op-2",
		"web    failover-web    online   east    east-1  Online               10.0.1.10  op-1",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("workload list:\n%s\nwant:\n%s", r.stdout, strings.Join(want, "\n"))
	}

	r = cli(t, addr, exitOK, "workload", "list", "-o", "json")
	for _, w := range decodeOne(t, r.stdout).([]any) {
		w := w.(map[string]any)
		if w["status"] != "Online" {
			t.Errorf("-o json: %s has status %q, want ECX's Online", w["name"], w["status"])
		}
		if w["name"] == "db" {
			pr, _ := w["probe_result"].(map[string]any)
			if pr["reachability"] != "unreachable" || !strings.Contains(pr["error"].(string), "connection refused") {
				t.Errorf("-o json: db's probe_result %v, want unreachable with the probe's error", w["probe_result"])
			}
		}
	}
}
