package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/ecxsim"
	"github.com/cset-project/cset/internal/clustertest"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

// CheckMember of the seeded fake: every existing member passes, with one check of each result
// but fail (docs/cli.md's JSON example runs against it).
func (f *fakeServer) CheckMember(_ context.Context, r *apiv1.CheckMemberRequest) (*apiv1.CheckMemberResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.members[r.GetName()]
	if m == nil {
		return nil, notFound("member", r.GetName())
	}
	return &apiv1.CheckMemberResponse{Member: m.GetName(), Passed: true, CheckedBy: "m1", Checks: []*apiv1.MemberCheck{
		{Check: "api", Result: "ok", Server: m.GetServers()[0].GetName(), Message: "answers at " + m.GetServers()[0].GetUrl() + " with the member's credentials"},
		{Check: "guard", Result: "warn", Server: m.GetServers()[0].GetName(), Message: "no heartbeat from a guard of server " + m.GetServers()[0].GetName()},
		{Check: "manual-start", Result: "manual", Workload: "web", Group: "failover-web", Message: "make sure group failover-web is set to manual start"},
	}}, nil
}

// checkFake answers CheckMember with report and adds warnings to AddMember's answer.
type checkFake struct {
	*fakeServer
	report   *apiv1.CheckMemberResponse
	warnings []*apiv1.MemberCheck
}

func (c *checkFake) CheckMember(context.Context, *apiv1.CheckMemberRequest) (*apiv1.CheckMemberResponse, error) {
	return c.report, nil
}

func (c *checkFake) AddMember(ctx context.Context, r *apiv1.AddMemberRequest) (*apiv1.MemberResponse, error) {
	resp, err := c.fakeServer.AddMember(ctx, r)
	if err != nil {
		return nil, err
	}
	resp.Warnings = c.warnings
	return resp, nil
}

func (c *checkFake) start(t *testing.T) string {
	t.Helper()
	srv := grpc.NewServer(grpc.UnaryInterceptor(c.unary))
	apiv1.RegisterClusterSetServiceServer(srv, c)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

var failingReport = &apiv1.CheckMemberResponse{Member: "east", CheckedBy: "m2", Checks: []*apiv1.MemberCheck{
	{Check: "api", Result: "fail", Server: "east-1", Message: "server east-1 refused the member's credentials"},
	{Check: "api", Result: "ok", Server: "east-2", Message: "answers at http://east-2:29009"},
	{Check: "guard", Result: "warn", Server: "east-2", Message: "no heartbeat from a guard of server east-2"},
	{Check: "group", Result: "fail", Workload: "web", Group: "g-web", Message: "group g-web of workload web does not exist"},
	{Check: "manual-start", Result: "manual", Workload: "web", Group: "g-web", Message: "make sure group g-web is set to manual start"},
}}

func TestCLI_MemberCheck(t *testing.T) {
	t.Parallel()
	f := &checkFake{fakeServer: newFakeServer(), report: failingReport}
	addr := f.start(t)

	r := cli(t, addr, exitError, "member", "check", "east")
	for _, want := range []string{
		"RESULT  CHECK         SUBJECT                     MESSAGE",
		"FAIL    api           server east-1               server east-1 refused the member's credentials",
		"warn    guard         server east-2",
		"FAIL    group         workload web (group g-web)  group g-web of workload web does not exist",
		"manual  manual-start  workload web (group g-web)",
		"member east FAILED (checked by m2): 2 failed, 1 warning, 1 to confirm by hand",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, r.stdout)
		}
	}
	if want := "error: member east failed 2 checks: fix what the fail lines say and run 'csetctl member check east' again\n"; r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}

	r = cli(t, addr, exitError, "member", "check", "east", "-o", "json")
	doc := wantKeys(t, "member check", decodeOne(t, r.stdout), "member", "passed", "checked_by", "checks")
	if doc["passed"] != false || doc["member"] != "east" || doc["checked_by"] != "m2" {
		t.Errorf("document %v", doc)
	}
	checks := doc["checks"].([]any)
	if len(checks) != 5 {
		t.Fatalf("%d checks, want 5", len(checks))
	}
	c := wantKeys(t, "check", checks[3], "check", "result", "server", "workload", "group", "message")
	if c["check"] != "group" || c["result"] != "fail" || c["workload"] != "web" || c["group"] != "g-web" || c["server"] != "" {
		t.Errorf("check %v", c)
	}

	f.report = &apiv1.CheckMemberResponse{Member: "east", Passed: true, CheckedBy: "m1", Checks: failingReport.Checks[1:3]}
	r = cli(t, addr, exitOK, "member", "check", "east")
	if !strings.Contains(r.stdout, "member east passed (checked by m1): 0 failed, 1 warning, 0 to confirm by hand") || r.stderr != "" {
		t.Errorf("a member with warnings only:\n%s\nstderr: %s", r.stdout, r.stderr)
	}
	cli(t, addr, exitUsage, "member", "check", "East_1")
	cli(t, addr, exitUsage, "member", "check")
}

func TestCLI_MemberAddPrintsWarnings(t *testing.T) {
	t.Parallel()
	f := &checkFake{fakeServer: newFakeServer(), warnings: []*apiv1.MemberCheck{failingReport.Checks[0], failingReport.Checks[2]}}
	addr := f.start(t)
	for _, format := range []string{"table", "json"} {
		r := cli(t, addr, exitOK, "member", "add", "east", "--server", "east-1=http://east-1:29009", "--update", "-o", format)
		want := "warning: [fail] api, server east-1: server east-1 refused the member's credentials\n" +
			"warning: [warn] guard, server east-2: no heartbeat from a guard of server east-2\n" +
			"hint: member east is registered all the same; fix the above, then run 'csetctl member check east' (it also lists what to confirm by hand)\n"
		if r.stderr != want {
			t.Errorf("-o %s: stderr\n%s\nwant\n%s", format, r.stderr, want)
		}
		if format == "json" {
			wantKeys(t, "member add", decodeOne(t, r.stdout), "name", "admin", "health", "health_reason", "fault_domain", "capacity", "load",
				"servers", "labels", "user", "password_set", "ca_file", "insecure_skip_verify", "workloads", "removal")
		} else if r.stdout != "member east updated (1 servers)\n" {
			t.Errorf("stdout %q", r.stdout)
		}
	}
	f.warnings = nil
	if r := cli(t, addr, exitOK, "member", "add", "west", "--server", "west-1=http://west-1:29009"); r.stderr != "" {
		t.Errorf("a member without warnings: stderr %q", r.stderr)
	}
}

// TestCLI_MemberCheckAgainstECX runs csetctl against a real master and a simulated ECX cluster:
// a wrong password is reported when the member is added and fails `member check`; once
// corrected, the check passes.
func TestCLI_MemberCheckAgainstECX(t *testing.T) {
	t.Parallel()
	sim, err := ecxsim.New(ecxsim.Config{ControlAddr: "127.0.0.1:0", Clusters: []ecxsim.ClusterConfig{{
		Name: "east", User: "admin", Password: "secret", HeartbeatTimeout: 400 * time.Millisecond, HeartbeatInterval: 100 * time.Millisecond,
		Servers: []ecxsim.ServerConfig{{Name: "east-1", Listen: "127.0.0.1:0"}, {Name: "east-2", Listen: "127.0.0.1:0"}},
		Groups:  []ecxsim.GroupConfig{{Name: "g-web"}},
	}}}, testutil.Logger(t, "ecxsim"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	c := clustertest.New(t, 1, func(cfg *config.Config) { cfg.Controller.ECXTimeout = 2 * time.Second })
	addr := c.Nodes[0].Server.Addrs().GRPC
	dir := t.TempDir()
	pw := func(name, secret string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cli(t, addr, exitOK, "set", "init", "prod", "--zone", "prod.test.")
	add := []string{"member", "add", "east", "--server", "east-1=" + sim.ServerURL("east", "east-1"),
		"--server", "east-2=" + sim.ServerURL("east", "east-2"), "--user", "admin"}

	r := cli(t, addr, exitOK, append(add, "--password-file", pw("wrong", "not-it"))...)
	if !strings.Contains(r.stderr, "warning: [fail] api, server east-1: server east-1 refused the member's credentials") {
		t.Errorf("member add with a wrong password: stderr\n%s", r.stderr)
	}
	cli(t, addr, exitOK, "workload", "register", "web", "--group", "g-web", "--candidates", "east", "--address", "east=10.0.0.10", "--offline")
	r = cli(t, addr, exitError, "member", "check", "east", "-o", "json")
	doc := decodeOne(t, r.stdout).(map[string]any)
	var failed []string
	for _, c := range doc["checks"].([]any) {
		if c := c.(map[string]any); c["result"] == "fail" {
			failed = append(failed, fmt.Sprint(c["check"], "/", c["server"]))
		}
	}
	if doc["passed"] != false || strings.Join(failed, " ") != "api/east-1 api/east-2" {
		t.Errorf("check with a wrong password: passed %v, failed %q", doc["passed"], failed)
	}
	if !strings.Contains(r.stderr, "error: member east failed 2 checks") {
		t.Errorf("stderr %q", r.stderr)
	}

	r = cli(t, addr, exitOK, append(add, "--password-file", pw("right", "secret"), "--update")...)
	if strings.Contains(r.stderr, "[fail]") {
		t.Errorf("member add with the right password still fails a check:\n%s", r.stderr)
	}
	r = cli(t, addr, exitOK, "member", "check", "east")
	for _, want := range []string{"ok      api ", "ok      group ", "group g-web of workload web exists", "manual  manual-start", "member east passed (checked by m1)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("check after the fix lacks %q:\n%s", want, r.stdout)
		}
	}
}
