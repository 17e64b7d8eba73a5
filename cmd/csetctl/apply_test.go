package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

const applyYAML = `# the example of docs/cli.md
set: {name: prod, zone: cset.example.com., ttl: 30s, negative_ttl: 5s}
fault_domains: [{name: rack-a, members: [east]}, {name: rack-b, description: room 2, members: [west]}]
availability_sets: [{name: web-ha, soft: false}, {name: batch, soft: true}]
members:
  - name: east
    servers: [{name: east-1, url: "http://10.0.0.1:29009"}, {name: east-2, url: "http://10.0.0.2:29009"}]
    fault_domain: rack-a
    capacity: 10
    user: root
    password_file: east.pw
    labels: {site: osaka}
    heartbeat_timeout: 30s
  - name: west
    servers: [{name: west-1, url: "https://10.1.0.1:29009"}]
    fault_domain: rack-b
    ca_file: /etc/cset/ca.pem
workloads:
  - {name: web, group: failover-web, candidates: [east, west], addresses: {east: [10.0.1.10], west: [10.0.2.10]}, size: 1, availability_set: web-ha, auto_failover: true, hooks: [/etc/cset/hooks/copy.sh], hook_timeout: 5m}
  - name: db
    group: failover-db
    candidates: [west, east]
    addresses: {west: [10.0.2.20, "2001:db8::20"]}
    auto_failover: false
    desired: offline
    services: [{name: _pg._tcp, port: 5432, priority: 10, weight: 5}]
`

const applyJSONText = `{
  "set": {"name": "prod", "zone": "cset.example.com.", "ttl": "30s", "negative_ttl": "5s"},
  "fault_domains": [{"name": "rack-a", "members": ["east"]}, {"name": "rack-b", "description": "room 2", "members": ["west"]}],
  "availability_sets": [{"name": "web-ha", "soft": false}, {"name": "batch", "soft": true}],
  "members": [
    {"name": "east", "servers": [{"name": "east-1", "url": "http://10.0.0.1:29009"}, {"name": "east-2", "url": "http://10.0.0.2:29009"}],
     "fault_domain": "rack-a", "capacity": 10, "user": "root", "password_file": "east.pw", "labels": {"site": "osaka"}, "heartbeat_timeout": "30s"},
    {"name": "west", "servers": [{"name": "west-1", "url": "https://10.1.0.1:29009"}], "fault_domain": "rack-b", "ca_file": "/etc/cset/ca.pem"}
  ],
  "workloads": [
    {"name": "web", "group": "failover-web", "candidates": ["east", "west"], "addresses": {"east": ["10.0.1.10"], "west": ["10.0.2.10"]},
     "size": 1, "availability_set": "web-ha", "auto_failover": true, "hooks": ["/etc/cset/hooks/copy.sh"], "hook_timeout": "5m"},
    {"name": "db", "group": "failover-db", "candidates": ["west", "east"], "addresses": {"west": ["10.0.2.20", "2001:db8::20"]},
     "auto_failover": false, "desired": "offline", "services": [{"name": "_pg._tcp", "port": 5432, "priority": 10, "weight": 5}]}
  ]
}
`

func wantDeclaration() *apiv1.Declaration {
	return &apiv1.Declaration{
		Set: &apiv1.InitSetRequest{Name: "prod", Zone: "cset.example.com.", TtlSeconds: 30, NegativeTtlSeconds: 5},
		FaultDomains: []*apiv1.CreateFaultDomainRequest{
			{Name: "rack-a", Members: []string{"east"}},
			{Name: "rack-b", Description: "room 2", Members: []string{"west"}},
		},
		AvailabilitySets: []*apiv1.CreateAvailabilitySetRequest{{Name: "web-ha"}, {Name: "batch", Soft: true}},
		Members: []*apiv1.AddMemberRequest{
			{
				Name: "east", FaultDomain: "rack-a", Capacity: 10, User: "root", Password: "east-secret",
				Servers: []*apiv1.ServerSpec{{Name: "east-1", Url: "http://10.0.0.1:29009"}, {Name: "east-2", Url: "http://10.0.0.2:29009"}},
				Labels:  map[string]string{"site": "osaka"}, HeartbeatTimeoutMs: 30000, Update: true,
			},
			{
				Name: "west", FaultDomain: "rack-b", CaFile: "/etc/cset/ca.pem", Update: true,
				Servers: []*apiv1.ServerSpec{{Name: "west-1", Url: "https://10.1.0.1:29009"}},
			},
		},
		Workloads: []*apiv1.RegisterWorkloadRequest{
			{
				Name: "web", Group: "failover-web", Candidates: []string{"east", "west"}, Size: 1, AvailabilitySet: "web-ha",
				Addresses: map[string]*apiv1.AddressList{"east": {Addresses: []string{"10.0.1.10"}}, "west": {Addresses: []string{"10.0.2.10"}}},
				Hooks:     []string{"/etc/cset/hooks/copy.sh"}, HookTimeoutSeconds: 300, Desired: "online", Update: true,
			},
			{
				Name: "db", Group: "failover-db", Candidates: []string{"west", "east"}, Size: 1, NoAutoFailover: true,
				Addresses: map[string]*apiv1.AddressList{"west": {Addresses: []string{"10.0.2.20", "2001:db8::20"}}},
				Desired:   "offline", Update: true,
				Services: []*apiv1.Service{{Name: "_pg._tcp", Port: 5432, Priority: 10, Weight: 5}},
			},
		},
	}
}

// applyDir writes the password file and returns the directory.
func applyDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "east.pw"), []byte("east-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestApply_Formats(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, file, content string
		stdin               bool
	}{
		{"yaml", "cset.yaml", applyYAML, false},
		{"yml", "cset.yml", applyYAML, false},
		{"json", "cset.json", applyJSONText, false},
		{"json by content", "cset.decl", applyJSONText, false},
		{"yaml by content", "cset.decl", applyYAML, false},
		{"yaml on stdin", "-", applyYAML, true},
		{"json on stdin", "-", applyJSONText, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := applyDir(t)
			f := newFakeServer()
			addr := f.start(t)
			inv := invocation{}
			path := tt.file
			if tt.stdin {
				inv.stdin = strings.NewReader(strings.ReplaceAll(tt.content, "east.pw", filepath.Join(dir, "east.pw")))
			} else {
				path = filepath.Join(dir, tt.file)
				if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			r := runCLI(t, addr, inv, "apply", "-f", path)
			if r.code != exitOK {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if d := cmp.Diff(wantDeclaration(), f.lastApply, protocmp.Transform()); d != "" {
				t.Errorf("declaration (-want +got):\n%s", d)
			}
			want := "+ set prod\n+ fault domain rack-a\n+ fault domain rack-b\n+ availability set web-ha\n+ availability set batch\n" +
				"+ member east\n+ member west\n+ workload web\n+ workload db\n" +
				"applied " + path + " at index 50: 9 created, 0 updated, 0 deleted, 0 unchanged\n"
			if r.stdout != want {
				t.Errorf("stdout %q, want %q", r.stdout, want)
			}
			if strings.Contains(r.stdout+r.stderr, "east-secret") {
				t.Error("apply printed the password")
			}
			if c := f.getCalls(); len(c) != 1 || !hexID.MatchString(c[0].requestID) {
				t.Errorf("calls %v, want one Apply with a request id", c)
			}
		})
	}
}

func TestApply_JSONOutput(t *testing.T) {
	t.Parallel()
	dir := applyDir(t)
	path := filepath.Join(dir, "cset.yaml")
	if err := os.WriteFile(path, []byte(applyYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := newFakeServer().start(t)
	r := cli(t, addr, exitOK, "apply", "-f", path, "-o", "json")
	doc := wantKeys(t, "apply", decodeOne(t, r.stdout), "index", "state_index", "dry_run", "committed", "members", "fault_domains", "availability_sets", "workloads", "changes", "summary")
	if doc["index"] != 50.0 || doc["workloads"] != 2.0 || doc["committed"] != true {
		t.Errorf("apply json %v", doc)
	}
}

func TestApply_Errors(t *testing.T) {
	t.Parallel()
	member := "members: [{name: east, servers: [{name: e-1, url: \"http://10.0.0.1:29009\"}]%s}]\n"
	tests := []struct {
		name, file, content string
		env                 map[string]string
		code                int
		want                string
	}{
		{"unknown yaml key", "a.yaml", strings.Replace(applyYAML, "capacity: 10", "capacity: 10\n    passwrd: hunter2", 1), nil, exitUsage,
			`line 10: unknown key "passwrd" in a member`},
		{"unknown top key", "a.yaml", "workload: []\n", nil, exitUsage, `unknown key "workload" in the top level`},
		{"password in file", "a.yaml", "members: [{name: east, password: x}]\n", nil, exitUsage, `unknown key "password" in a member`},
		{"unknown json key", "a.json", strings.Replace(applyJSONText, `"capacity": 10`, `"capacity": 10, "passwrd": "x"`, 1), nil, exitUsage,
			`line 7: unknown key "passwrd"`},
		{"json type", "a.json", "{\"members\": [{\"name\": \"east\",\n \"capacity\": \"ten\"}]}", nil, exitUsage,
			"line 2: members.capacity: want int64, got a JSON string"},
		{"json duration", "a.json", "{\"set\": {\"name\": \"prod\", \"zone\": \"x.\", \"ttl\": 30}}", nil, exitUsage,
			`want a duration string such as "30s", got 30`},
		{"json syntax", "a.json", "{\"set\": {\n\"name\": }}", nil, exitUsage, "line 2: invalid character"},
		{"bad duration", "a.yaml", "set: {name: prod, zone: x., ttl: 30}\n", nil, exitUsage, `line 1: "30" is not a duration`},
		{"empty", "a.yaml", "\n# nothing\n", nil, exitUsage, "the file is empty"},
		{"nothing declared", "a.yaml", "members: []\n", nil, exitUsage, "declares nothing"},
		{"two documents", "a.yaml", "members: []\n---\nworkloads: []\n", nil, exitUsage, "more than one YAML document"},
		{"bad url", "a.yaml", "members: [{name: east, servers: [{name: e-1, url: \"10.0.0.1\"}]}]\n", nil, exitUsage,
			`member east: server e-1: URL "10.0.0.1": want http://HOST:PORT`},
		{"user without password", "a.yaml", strings.Replace(member, "%s", ", user: root", 1), nil, exitUsage,
			"member east: user root needs a password: add password_file: PATH or set CSET_ECX_PASSWORD"},
		{"missing password file", "a.yaml", strings.Replace(member, "%s", ", user: root, password_file: nope.pw", 1), nil, exitError,
			"member east: reading password file"},
		{"bad ip", "a.yaml", "workloads: [{name: web, group: g, candidates: [east], addresses: {east: [10.0.0.300]}}]\n", nil, exitUsage,
			`workload web: addresses east: "10.0.0.300" is not an IP address`},
		{"no group", "a.yaml", "workloads: [{name: web, candidates: [east]}]\n", nil, exitUsage,
			"workload web: group is required"},
		{"desired", "a.yaml", "workloads: [{name: web, group: g, candidates: [east], desired: up}]\n", nil, exitUsage,
			`workload web: desired "up": use online or offline`},
		{"zone", "a.yaml", "set: {name: prod, zone: \"a b\"}\n", nil, exitUsage, `set: zone "a b": want a DNS domain name`},
		{"failback", "a.yaml", "workloads: [{name: web, group: g, candidates: [east], failback: sometimes}]\n", nil, exitUsage,
			`workload web: failback "sometimes": use never or auto`},
		{"failback_after without auto", "a.yaml", "workloads: [{name: web, group: g, candidates: [east], failback_after: 1m}]\n", nil, exitUsage,
			"workload web: failback_after applies with failback auto only"},
		{"depends_on twice", "a.yaml", "workloads: [{name: web, group: g, candidates: [east], depends_on: [db, db]}]\n", nil, exitUsage,
			`workload web: depends_on: workload "db" is listed twice`},
		{"probe without target", "a.yaml", "workloads: [{name: web, group: g, candidates: [east], probe: {timeout: 1s}}]\n", nil, exitUsage,
			"workload web: probe: target is required"},
		{"probe dns", "a.yaml", "workloads: [{name: web, group: g, candidates: [east], probe: {target: \"tcp:80\", dns: hide}}]\n", nil, exitUsage,
			`workload web: probe: dns "hide": use keep or withhold`},
		{"probe unknown key", "a.yaml", "workloads: [{name: web, group: g, candidates: [east], probe: {target: \"tcp:80\", every: 1s}}]\n", nil, exitUsage,
			`unknown key "every" in a probe`},
		{"missing file", "", "", nil, exitError, "reading declaration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "missing.yaml")
			if tt.file != "" {
				path = filepath.Join(dir, tt.file)
				if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			f := newFakeServer()
			addr := f.start(t)
			r := runCLI(t, addr, invocation{env: tt.env}, "apply", "-f", path)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d: %s", r.code, tt.code, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr %q, want it to contain %q", r.stderr, tt.want)
			}
			if strings.Contains(r.stderr, "hunter2") {
				t.Error("stderr shows a value from the file's password key")
			}
			if c := f.getCalls(); len(c) != 0 {
				t.Errorf("a bad declaration reached the server: %v", c)
			}
		})
	}
}

func TestApply_PasswordFromEnv(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "m.yaml")
	if err := os.WriteFile(path, []byte("members: [{name: east, user: root, servers: [{name: e-1, url: \"http://10.0.0.1:29009\"}]}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newFakeServer()
	addr := f.start(t)
	r := runCLI(t, addr, invocation{env: map[string]string{envPassword: "from-env"}}, "apply", "-f", path)
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if got := f.lastApply.GetMembers()[0].GetPassword(); got != "from-env" {
		t.Errorf("password %q", got)
	}
}

func TestRegister_ProbeFlags(t *testing.T) {
	t.Parallel()
	f := newFakeServer()
	addr := f.start(t)
	cli(t, addr, exitOK, "workload", "register", "web", "--group", "g", "--candidates", "east", "--address", "east=10.0.0.1",
		"--probe", "http://:8080/health", "--probe-expect-status", "200-299", "--probe-timeout", "1500ms", "--probe-interval", "3s",
		"--probe-grace", "1m", "--probe-healthy-after", "2", "--probe-unhealthy-after", "4", "--probe-dns", "withhold", "--probe-failover")
	want := &apiv1.ProbeSpec{Target: "http://:8080/health", ExpectStatus: "200-299", TimeoutMs: 1500, IntervalMs: 3000, GraceMs: 60000,
		HealthyAfter: 2, UnhealthyAfter: 4, Dns: "withhold", Failover: true}
	f.mu.Lock()
	got := f.lastReg.GetProbe()
	f.mu.Unlock()
	if !proto.Equal(got, want) {
		t.Errorf("probe sent %v, want %v", got, want)
	}
	cli(t, addr, exitOK, "workload", "register", "api", "--group", "a", "--candidates", "east")
	f.mu.Lock()
	got = f.lastReg.GetProbe()
	f.mu.Unlock()
	if got != nil {
		t.Errorf("without --probe the request carries probe %v, want none (the masters' default)", got)
	}
	for _, tc := range []struct{ args, want string }{
		{"--probe-timeout 1s", "--probe-* options need --probe"},
		{"--probe tcp:80 --probe-dns hide", `--probe-dns "hide": use keep or withhold`},
		{"--probe tcp:80 --probe-grace 2h", "--probe-grace 2h0m0s: give whole milliseconds up to 1h"},
	} {
		r := cli(t, addr, exitUsage, append([]string{"workload", "register", "db", "--group", "d", "--candidates", "east"}, strings.Fields(tc.args)...)...)
		if !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: stderr %q, want %q", tc.args, r.stderr, tc.want)
		}
	}
}

func TestDrill_PrintsThePlan(t *testing.T) {
	t.Parallel()
	f := newFakeServer()
	addr := f.start(t)
	r := cli(t, addr, exitOK, "drill", "--member", "east")
	for _, want := range []string{"drill: losing east", "1     web       east  west  2.5s", "no place: west: hard spread", "expected: 17.5s (detection 15s"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("drill output lacks %q:\n%s", want, r.stdout)
		}
	}
	r = cli(t, addr, exitOK, "drill", "--member", "east", "-o", "json")
	if !strings.Contains(r.stdout, `"to_member": ""`) || !strings.Contains(r.stdout, `"expected_ms": 17500`) {
		t.Errorf("drill JSON:\n%s", r.stdout)
	}
	for _, tc := range []struct{ args, want string }{
		{"drill", "drill needs --member or --fault-domain"},
		{"drill --member east --wait", "--wait applies with --execute only"},
		{"drill --member East", "--member: member"},
	} {
		if r := cli(t, addr, exitUsage, strings.Fields(tc.args)...); !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: stderr %q, want %q", tc.args, r.stderr, tc.want)
		}
	}
}

// The packages' man pages and completions come from the command tree: a page per visible
// command, each with its name, synopsis and options, and the three shells' completions.
func TestGenDocs_ManPagesAndCompletions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var out, errb strings.Builder
	if code := run(t.Context(), []string{"gen-docs", "--man", filepath.Join(dir, "man"), "--completions", filepath.Join(dir, "comp")}, strings.NewReader(""), &out, &errb); code != exitOK {
		t.Fatalf("gen-docs: exit %d: %s", code, errb.String())
	}
	page, err := os.ReadFile(filepath.Join(dir, "man", "csetctl-workload-move.1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{".TH CSETCTL-WORKLOAD-MOVE 1", ".SH SYNOPSIS", "csetctl workload move NAME", `\-\-wait`, ".SH GLOBAL OPTIONS", "csetctl-workload(1)"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("the move page lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "man", "csetctl-gen-docs.1")); err == nil {
		t.Error("the hidden gen-docs command got a man page")
	}
	for _, f := range []string{"csetctl.bash", "_csetctl", "csetctl.fish"} {
		if b, err := os.ReadFile(filepath.Join(dir, "comp", f)); err != nil || !strings.Contains(string(b), "csetctl") {
			t.Errorf("completion %s: %v", f, err)
		}
	}
}
