package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Directives cobra prints as the last line of a completion: ":4" offers no file names, ":6"
// adds no space after the choice either.
const (
	noFiles        = ":4"
	noFilesNoSpace = ":6"
)

// completeLines runs csetctl's completion request for line (the last word is the one being
// completed) and returns the lines of stdout.
func completeLines(t *testing.T, addr string, inv invocation, line ...string) []string {
	t.Helper()
	r := runCLI(t, addr, inv, append([]string{"__completeNoDesc"}, line...)...)
	if r.code != exitOK {
		t.Fatalf("complete %q: exit %d, stderr %q", line, r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "error") {
		t.Errorf("complete %q: stderr %q, want no error", line, r.stderr)
	}
	return strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
}

func TestComplete_NamesFromTheMasters(t *testing.T) {
	t.Parallel()
	f, addr := newSeeded(t)
	cli(t, addr, exitOK, "token", "create", "ci", "--role", "read")
	for _, tt := range []struct {
		line []string
		want []string
	}{
		{[]string{"member", "show", ""}, []string{"east", "west", noFiles}},
		{[]string{"member", "drain", "w"}, []string{"west", noFiles}},
		{[]string{"member", "check", "e"}, []string{"east", noFiles}},
		{[]string{"member", "remove", ""}, []string{"east", "west", noFiles}},
		{[]string{"member", "declare-down", "x"}, []string{noFiles}},
		{[]string{"member", "show", "east", ""}, []string{noFiles}},
		{[]string{"workload", "stop", ""}, []string{"web", noFiles}},
		{[]string{"workload", "place", "w"}, []string{"web", noFiles}},
		{[]string{"workload", "move", ""}, []string{"web", noFiles}},
		{[]string{"operation", "retry", ""}, []string{"op-1", noFiles}},
		{[]string{"faultdomain", "delete", ""}, []string{"rack-east", noFiles}},
		{[]string{"availset", "delete", ""}, []string{"web-ha", noFiles}},
		{[]string{"token", "revoke", ""}, []string{"ci", noFiles}},
		{[]string{"node", "list", "--member", ""}, []string{"east", "west", noFiles}},
		{[]string{"events", "--workload", ""}, []string{"web", noFiles}},
		{[]string{"events", "--member=we"}, []string{"west", noFiles}}, // the shell puts back "--member="
		{[]string{"member", "add", "north", "--fault-domain", ""}, []string{"rack-east", noFiles}},
		{[]string{"workload", "register", "db", "--availability-set", ""}, []string{"web-ha", noFiles}},
		{[]string{"workload", "move", "web", "--to", ""}, []string{"east", "west", "east/east-1", "east/east-2", "west/west-1", "west/west-2", noFiles}},
		{[]string{"workload", "move", "web", "--to", "east/"}, []string{"east/east-1", "east/east-2", noFiles}},
		// A comma-separated list offers the names not given yet, after those given.
		{[]string{"workload", "register", "db", "--candidates", ""}, []string{"east", "west", noFilesNoSpace}},
		{[]string{"workload", "register", "db", "--candidates", "west,"}, []string{"west,east", noFilesNoSpace}},
		{[]string{"faultdomain", "create", "rack-b", "--members", "east,w"}, []string{"east,west", noFilesNoSpace}},
	} {
		got := completeLines(t, addr, invocation{}, tt.line...)
		if d := cmp.Diff(tt.want, got); d != "" {
			t.Errorf("complete %q (-want +got):\n%s", tt.line, d)
		}
	}
	// Completion only reads: no request id, no actor, nothing written.
	for _, c := range f.getCalls() {
		if c.method != "CreateToken" && (c.requestID != "" || !strings.HasPrefix(c.method, "List")) {
			t.Errorf("completion called %s with request id %q", c.method, c.requestID)
		}
	}
}

func TestComplete_Descriptions(t *testing.T) {
	t.Parallel()
	f, addr := newSeeded(t)
	f.mu.Lock()
	f.members["west"].Health = "down\x1b[2J" // what a member reports reaches the terminal escaped
	f.mu.Unlock()
	r := cli(t, addr, exitOK, "__complete", "member", "show", "")
	if want := "east\tactive, up\nwest\tactive, down\\x1b[2J\n:4\n"; r.stdout != want {
		t.Errorf("stdout %q, want %q", r.stdout, want)
	}
	r = cli(t, addr, exitOK, "__complete", "workload", "show", "")
	if want := "web\tonline, east/east-1\n:4\n"; r.stdout != want {
		t.Errorf("stdout %q, want %q", r.stdout, want)
	}
}

// TestComplete_UnsafeNamesLeftOut: a name the shell could not take back as typed is not offered.
func TestComplete_UnsafeNamesLeftOut(t *testing.T) {
	t.Parallel()
	f, addr := newSeeded(t)
	f.mu.Lock()
	for _, n := range []string{"we st", "we\tst", "we\x1bst"} {
		f.workloads[n] = clone(f.workloads["web"])
		f.workloads[n].Name = n
	}
	f.mu.Unlock()
	if got, want := completeLines(t, addr, invocation{}, "workload", "show", "we"), []string{"web", noFiles}; !cmp.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestComplete_FailsQuietly: whatever goes wrong, a completion offers nothing, prints no error
// and exits 0, so the user's line is left alone.
func TestComplete_FailsQuietly(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := lis.Addr().String()
	lis.Close()
	f, addr := newSeeded(t)
	f.failWith("ListWorkloads", status.Error(codes.PermissionDenied, "role read cannot list workloads"))
	for _, tt := range []struct {
		name string
		addr string
		env  map[string]string
		line []string
	}{
		{"no master", dead, nil, []string{"member", "show", ""}},
		{"refused", addr, nil, []string{"workload", "show", ""}},
		{"bad request id", addr, map[string]string{envRequestID: "bad id!"}, []string{"member", "show", ""}},
		{"bad output", addr, nil, []string{"-o", "yaml", "member", "show", ""}},
		{"missing token file", addr, nil, []string{"--token-file", filepath.Join(t.TempDir(), "nope"), "member", "show", ""}},
		{"flag", dead, nil, []string{"workload", "move", "web", "--to", ""}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := completeLines(t, tt.addr, invocation{env: tt.env}, tt.line...)
			if want := []string{noFiles}; !cmp.Equal(got, want) {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

// TestComplete_ShortDeadline: a master that does not answer holds a completion for its own short
// deadline, not for --timeout.
func TestComplete_ShortDeadline(t *testing.T) {
	t.Parallel()
	f, addr := newSeeded(t)
	f.mu.Lock()
	f.hang["ListMembers"] = true
	f.mu.Unlock()
	var stdout, stderr bytes.Buffer
	a := newApp(strings.NewReader(""), &stdout, &stderr, func(string) string { return "" })
	a.completeTimeout = 100 * time.Millisecond
	start := time.Now()
	code := a.run(t.Context(), []string{"--addr", addr, "--timeout", "1m", "__completeNoDesc", "member", "show", ""})
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("completion took %s with a 100ms deadline", took)
	}
	if code != exitOK || stdout.String() != noFiles+"\n" {
		t.Errorf("exit %d, stdout %q", code, stdout.String())
	}
	if calls := f.getCalls(); len(calls) == 0 || calls[0].method != "ListMembers" {
		t.Errorf("calls %v, want ListMembers", calls)
	}
	// A shorter --timeout bounds it too.
	start = time.Now()
	got := completeLines(t, addr, invocation{}, "--timeout", "100ms", "member", "show", "")
	if took := time.Since(start); took > 5*time.Second || !cmp.Equal(got, []string{noFiles}) {
		t.Errorf("took %s, got %q", took, got)
	}
}

// TestComplete_GlobalsOfTheLine: the completion uses the global flags of the line being
// completed, as the command would: here the token of --token-file wins over CSET_TOKEN, as it
// does when the command runs.
func TestComplete_GlobalsOfTheLine(t *testing.T) {
	t.Parallel()
	f, addr := newSeeded(t)
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{envToken: "from-env"}
	got := completeLines(t, addr, invocation{env: env}, "--token-file", file, "member", "show", "")
	if want := []string{"east", "west", noFiles}; !cmp.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if calls := f.getCalls(); len(calls) != 1 || calls[0].auth != "Bearer from-file" {
		t.Errorf("calls %+v, want one with the token of --token-file", calls)
	}
}

// TestComplete_Command: `csetctl completion SHELL` prints cobra's script for each shell.
func TestComplete_Command(t *testing.T) {
	t.Parallel()
	addr := newFakeServer().start(t)
	for _, sh := range []string{"bash", "zsh", "fish", "powershell"} {
		r := cli(t, addr, exitOK, "completion", sh)
		if !strings.Contains(r.stdout, "__complete") {
			t.Errorf("completion %s: the script does not call __complete:\n%.300s", sh, r.stdout)
		}
	}
}
