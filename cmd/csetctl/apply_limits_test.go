package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestApply_RefusesAmbiguousAndUnsafeDeclarations: a key given twice in one JSON object, an
// object declared twice, a member in two fault domains, credentials in a server URL, an
// address DNS must not hand out, a TTL beyond a day and capacities or sizes beyond the
// masters' limits are refused before anything is sent, with the line or the name, and a
// password in a URL is never printed.
func TestApply_RefusesAmbiguousAndUnsafeDeclarations(t *testing.T) {
	t.Parallel()
	srv := `servers: [{name: e-1, url: "http://10.0.0.1:29009"}]`
	wl := func(addr string) string {
		return "workloads: [{name: web, group: g, candidates: [east], addresses: {east: [\"" + addr + "\"]}}]\n"
	}
	tests := []struct {
		name, file, content, want string
	}{
		{"json duplicate key", "a.json", "{\"set\": {\"name\": \"prod\",\n \"zone\": \"a.example.\",\n \"name\": \"staging\"}}",
			`line 3: key "name" is given twice in one object: give it once`},
		{"json duplicate section", "a.json", "{\"workloads\": [],\n\"members\": [],\n\"workloads\": []}", `line 3: key "workloads" is given twice`},
		{"yaml duplicate key", "a.yaml", "set:\n  name: prod\n  zone: a.example.\n  name: staging\n", `line 4: mapping key "name" already defined at line 2`},
		{"workload twice", "a.yaml", "workloads:\n  - {name: web, group: g, candidates: [east]}\n  - {name: api, group: h, candidates: [east]}\n  - {name: web, group: g2, candidates: [east]}\n",
			`workloads: "web" is declared twice (entries 1 and 3): declare each once`},
		{"member twice", "a.yaml", "members: [{name: east, " + srv + "}, {name: east, " + srv + "}]\n", `members: "east" is declared twice (entries 1 and 2)`},
		{"server twice", "a.yaml", "members: [{name: east, servers: [{name: e-1, url: \"http://10.0.0.1:29009\"}, {name: e-1, url: \"http://10.0.0.2:29009\"}]}]\n",
			`member east: servers: "e-1" is declared twice`},
		{"fault domain twice", "a.json", `{"fault_domains": [{"name": "rack-a"}, {"name": "rack-a", "members": ["east"]}]}`, `fault_domains: "rack-a" is declared twice`},
		{"availability set twice", "a.yaml", "availability_sets: [{name: ha}, {name: ha, soft: true}]\n", `availability_sets: "ha" is declared twice`},
		{"member in two fault domains", "a.yaml", "fault_domains: [{name: rack-a, members: [east]}, {name: rack-b, members: [east]}]\n",
			`member "east" is in "rack-a" and "rack-b": a member is in one fault domain`},
		{"credentials in a URL", "a.yaml", "members: [{name: east, servers: [{name: e-1, url: \"http://admin:pw-SECRET@10.0.0.1:29009\"}]}]\n",
			`URL "http://10.0.0.1:29009" has a user name or password in it (USER:PASSWORD@): give the user with --user and the password with --password-file (in an apply file: user and password_file)`},
		{"credentials in a bad URL", "a.yaml", "members: [{name: east, servers: [{name: e-1, url: \"http://admin:pw-SECRET@10.0.0.1:port\"}]}]\n",
			`URL "http://10.0.0.1:port": want http://HOST:PORT`},
		{"unspecified address", "a.yaml", wl("0.0.0.0"), `"0.0.0.0" is the unspecified address`},
		{"IPv6 unspecified", "a.yaml", wl("::"), `"::" is the unspecified address`},
		{"broadcast", "a.yaml", wl("255.255.255.255"), "is the broadcast address"},
		{"multicast", "a.yaml", wl("224.0.0.251"), "is a multicast address"},
		{"zone", "a.yaml", wl("fe80::1%eth0"), "has a zone"},
		{"link-local", "a.yaml", wl("fe80::1"), "is link-local"},
		{"ttl", "a.yaml", "set: {name: prod, zone: a.example., ttl: 1193046h}\n", "set: ttl 1193046h0m0s: at most 24h0m0s (one day)"},
		{"negative ttl", "a.yaml", "set: {name: prod, zone: a.example., negative_ttl: 25h}\n", "negative_ttl 25h0m0s: at most 24h0m0s"},
		{"capacity", "a.yaml", "members: [{name: east, capacity: 9223372036854775807, " + srv + "}]\n", "capacity 9223372036854775807: want 0 (unlimited) to 1000000000"},
		{"size", "a.yaml", "workloads: [{name: web, group: g, candidates: [east], size: 9223372036854775807}]\n", "size 9223372036854775807: at most 1000000000"},
		{"long name", "a.yaml", "members: [{name: " + strings.Repeat("e", 5000) + ", " + srv + "}]\n", `"eeee`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), tt.file)
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			f := newFakeServer()
			r := runCLI(t, f.start(t), invocation{}, "apply", "-f", path)
			if r.code != exitUsage {
				t.Fatalf("exit %d, want %d: %s", r.code, exitUsage, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr %q, want it to contain %q", r.stderr, tt.want)
			}
			if strings.Contains(r.stderr, "pw-SECRET") || len(r.stderr) > 1024 {
				t.Errorf("stderr echoes a value (%d bytes): %.300q", len(r.stderr), r.stderr)
			}
			if c := f.getCalls(); len(c) != 0 {
				t.Errorf("the declaration reached the server: %v", c)
			}
		})
	}
}

// TestMemberAdd_RefusesCredentialsInURLs: member add --server refuses a URL with a user name
// or password and points at --user and --password-file, without printing the password.
func TestMemberAdd_RefusesCredentialsInURLs(t *testing.T) {
	t.Parallel()
	f := newFakeServer()
	r := runCLI(t, f.start(t), invocation{}, "member", "add", "east", "--server", "e-1=https://root:pw-SECRET@10.0.0.1:29009")
	if r.code != exitUsage || !strings.Contains(r.stderr, "--server e-1: URL \"https://10.0.0.1:29009\" has a user name or password in it") ||
		!strings.Contains(r.stderr, "--password-file") || strings.Contains(r.stderr, "pw-SECRET") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
	if c := f.getCalls(); len(c) != 0 {
		t.Errorf("the member reached the server: %v", c)
	}
}
