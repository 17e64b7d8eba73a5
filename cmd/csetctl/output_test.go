package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestJSON_StatusContract(t *testing.T) {
	t.Parallel()
	_, addr := newSeeded(t)
	r := cli(t, addr, exitOK, "status", "-o", "json")
	if !strings.HasPrefix(r.stdout, "{\n  \"") {
		t.Errorf("not 2-space indented:\n%s", r.stdout)
	}
	doc := wantKeys(t, "status", decodeOne(t, r.stdout),
		"leader", "masters", "members", "workloads", "commit_index",
		"cluster_set", "zone", "served_by", "term", "witness", "applied_index", "last_contact_ms", "brake", "leader_view_from")
	wantKeys(t, "status.leader", doc["leader"], "id", "grpc_addr")
	masters, ok := doc["masters"].([]any)
	if !ok || len(masters) != 2 {
		t.Fatalf("masters %#v", doc["masters"])
	}
	for _, m := range masters {
		wantKeys(t, "status.masters[]", m, "id", "raft_addr", "grpc_addr", "role", "voter", "tiebreaker")
	}
	wantKeys(t, "status.witness", doc["witness"], "configured", "url", "reachable", "holder", "term", "remaining_ms", "last_error", "majority", "granting", "witnesses")
	got := map[string]any{"members": doc["members"], "workloads": doc["workloads"], "commit_index": doc["commit_index"], "leader": doc["leader"]}
	want := map[string]any{"members": 2.0, "workloads": 1.0, "commit_index": 42.0, "leader": map[string]any{"id": "m1", "grpc_addr": "127.0.0.1:7100"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("status values (-want +got):\n%s", d)
	}
}

func TestJSON_WorkloadShowContract(t *testing.T) {
	t.Parallel()
	_, addr := newSeeded(t)
	r := cli(t, addr, exitOK, "workload", "show", "web", "-o", "json")
	doc := wantKeys(t, "workload", decodeOne(t, r.stdout),
		"name", "group", "candidates", "member", "server", "status", "addresses", "fqdn", "availability_set", "desired",
		"size", "auto_failover", "hooks", "hook_timeout_seconds", "operation_id", "since", "services",
		"active_operation_id", "active_operation_phase", "probe", "probe_result", "depends_on", "failback", "failback_after_seconds")
	want := map[string]any{
		"name": "web", "group": "failover-web", "candidates": []any{"east", "west"}, "member": "east", "server": "east-1",
		"status": "Online", "addresses": map[string]any{"east": []any{"10.0.1.10"}, "west": []any{"10.0.2.10"}},
		"fqdn": "web.cset.example.com.", "availability_set": "web-ha", "desired": "online", "size": 1.0,
		"auto_failover": true, "hooks": []any{"/etc/cset/hooks/copy.sh"}, "hook_timeout_seconds": 300.0,
		"operation_id": "op-1", "since": "2023-11-14T22:13:20Z",
		"services":            []any{map[string]any{"name": "_http._tcp", "port": 80.0, "priority": 0.0, "weight": 0.0}},
		"active_operation_id": "", "active_operation_phase": "",
		"probe": map[string]any{"target": "http://:80/health", "expect_status": "200-399", "timeout_ms": 2000.0, "interval_ms": 5000.0,
			"grace_ms": 30000.0, "healthy_after": 1.0, "unhealthy_after": 3.0, "dns": "withhold", "failover": false},
		"probe_result": map[string]any{"reachability": "reachable", "error": "", "since": "2023-11-14T22:13:20Z"},
		"depends_on":   []any{"db"}, "failback": "auto", "failback_after_seconds": 600.0,
	}
	if d := cmp.Diff(want, doc); d != "" {
		t.Errorf("workload show (-want +got):\n%s", d)
	}
}

func TestJSON_MemberShowContract(t *testing.T) {
	t.Parallel()
	_, addr := newSeeded(t)
	r := cli(t, addr, exitOK, "member", "show", "east", "-o", "json")
	doc := wantKeys(t, "member", decodeOne(t, r.stdout),
		"name", "admin", "health", "fault_domain", "capacity", "servers",
		"labels", "user", "password_set", "load", "workloads", "health_reason", "ca_file", "insecure_skip_verify", "removal")
	servers := doc["servers"].([]any)
	for _, s := range servers {
		wantKeys(t, "member.servers[]", s, "name", "url", "status")
	}
	want := map[string]any{
		"name": "east", "admin": "active", "health": "up", "health_reason": "", "fault_domain": "rack-east",
		"capacity": 10.0, "load": 1.0, "labels": map[string]any{"site": "osaka"}, "user": "root", "password_set": true,
		"ca_file": "", "insecure_skip_verify": false, "workloads": []any{"web"}, "removal": "",
		"servers": []any{
			map[string]any{"name": "east-1", "url": "http://east-1:29009", "status": "Online"},
			map[string]any{"name": "east-2", "url": "http://east-2:29009", "status": "Online"},
		},
	}
	if d := cmp.Diff(want, doc); d != "" {
		t.Errorf("member show (-want +got):\n%s", d)
	}
	if strings.Contains(r.stdout, "pw-east") {
		t.Error("member show prints the password")
	}
}

func TestJSON_EmptyListsAreArrays(t *testing.T) {
	t.Parallel()
	addr := newFakeServer().start(t)
	for _, args := range [][]string{
		{"member", "list"}, {"workload", "list"}, {"node", "list"}, {"faultdomain", "list"},
		{"availset", "list"}, {"operation", "list"}, {"events"},
	} {
		r := cli(t, addr, exitOK, append(args, "-o", "json")...)
		if r.stdout != "[]\n" {
			t.Errorf("%v -o json = %q, want []", args, r.stdout)
		}
	}
	// A bare workload and member have [] and {} where they hold nothing.
	cli(t, addr, exitOK, "workload", "register", "bare", "--group", "g", "--candidates", "east")
	cli(t, addr, exitOK, "member", "add", "bare", "--server", "b-1=http://10.0.0.1:29009")
	for _, args := range [][]string{{"workload", "show", "bare"}, {"member", "show", "bare"}, {"member", "list"}, {"workload", "list"}} {
		r := cli(t, addr, exitOK, append(args, "-o", "json")...)
		if strings.Contains(r.stdout, "null") {
			t.Errorf("%v -o json holds null:\n%s", args, r.stdout)
		}
	}
}

// TestCLI_EveryCommand runs every command once in each output mode: each
// must succeed, and with -o json print exactly one document without null.
func TestCLI_EveryCommand(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"table", "json"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			f, addr := newSeeded(t)
			f.snapshot = []byte("snapshot bytes")
			dir := t.TempDir()
			decl := filepath.Join(dir, "decl.yaml")
			if err := os.WriteFile(decl, []byte("availability_sets: [{name: db-ha}]\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			snap := filepath.Join(dir, "snap.bin")
			commands := [][]string{
				{"status"}, {"raft", "peers"}, {"raft", "join", "m3", "127.0.0.3:7101", "127.0.0.3:7100", "--http-addr", "127.0.0.3:7180"},
				{"raft", "remove", "m3"}, {"raft", "transfer-leader"}, {"raft", "transfer-leader", "m2"},
				{"set", "init", "prod", "--zone", "cset.example.com", "--ttl", "1m"},
				{"member", "add", "north", "--server", "north-1=https://10.0.0.9:29009", "--label", "a=b", "--capacity", "3", "--heartbeat-timeout", "30s"},
				{"member", "list"}, {"member", "show", "east"}, {"member", "drain", "east"}, {"member", "undrain", "east"},
				{"member", "disable", "north"}, {"member", "declare-down", "north"}, {"member", "remove", "north"},
				{"node", "list"}, {"node", "list", "--member", "west"},
				{"workload", "register", "api", "--group", "failover-api", "--candidates", "east,west", "--address", "east=10.0.1.20,2001:db8::20",
					"--address", "west=10.0.2.20", "--availability-set", "web-ha", "--hook", "/bin/true", "--hook-timeout", "2m", "--service", "_http._tcp:8080", "--offline"},
				{"workload", "list"}, {"workload", "show", "web"}, {"workload", "start", "web"}, {"workload", "stop", "web"},
				{"workload", "place", "web"}, {"workload", "move", "web", "--to", "west/west-1"},
				{"operation", "list"}, {"operation", "show", "op-web"},
				{"faultdomain", "create", "rack-c", "--members", "east,west", "--description", "room 2"}, {"faultdomain", "list"}, {"faultdomain", "delete", "rack-c"},
				{"availset", "create", "db-ha", "--soft"}, {"availset", "list"}, {"availset", "delete", "db-ha"},
				{"apply", "-f", decl}, {"events"}, {"events", "--workload", "web", "--limit", "1"},
				{"snapshot", "save", snap}, {"snapshot", "restore", snap},
				{"workload", "unregister", "web"}, {"version"},
			}
			for _, args := range commands {
				r := cli(t, addr, exitOK, append([]string{"-o", mode}, args...)...)
				if r.stdout == "" {
					t.Errorf("%v printed nothing", args)
				}
				if mode == "json" {
					decodeOne(t, r.stdout)
					if strings.Contains(r.stdout, "null") {
						t.Errorf("%v -o json holds null:\n%s", args, r.stdout)
					}
				}
			}
		})
	}
}

func TestTable_Output(t *testing.T) {
	t.Parallel()
	_, addr := newSeeded(t)
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"status"}, []string{
			"cluster set:  prod (zone cset.example.com.)", "leader:       m1 127.0.0.1:7100", "members:      2",
			"witness:      http://127.0.0.1:7190 reachable, lease held by m1 (term 3, 8s left)",
			"MASTER  ROLE      VOTER  RAFT ADDR       GRPC ADDR", "m2      follower  yes    127.0.0.2:7101  127.0.0.2:7100",
		}},
		{[]string{"member", "list"}, []string{
			"NAME  ADMIN   HEALTH  FAULT DOMAIN  LOAD/CAPACITY  SERVERS  WORKLOADS",
			"east  active  up      rack-east     1/10           2        1",
		}},
		{[]string{"member", "show", "east"}, []string{"user:          root (password set)", "east-2  Online  http://east-2:29009"}},
		{[]string{"workload", "show", "web"}, []string{"placement:        east/east-1 Online since 2023-11-14T22:13:20Z", "west    10.0.2.10"}},
		{[]string{"workload", "list"}, []string{"web   failover-web  online   east    east-1  Online  10.0.1.10  op-1"}},
		{[]string{"workload", "place", "web"}, []string{"1     west    west-1  0.90   ok", "-     east    east-1  -      rejected: member is draining"}},
		{[]string{"node", "list"}, []string{"west    west-2  Online  -              http://west-2:29009"}},
	}
	for _, tt := range tests {
		r := cli(t, addr, exitOK, tt.args...)
		for _, w := range tt.want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("%v: output lacks %q:\n%s", tt.args, w, r.stdout)
			}
		}
		if strings.Contains(r.stdout, "pw-") {
			t.Errorf("%v prints a password", tt.args)
		}
	}
}
