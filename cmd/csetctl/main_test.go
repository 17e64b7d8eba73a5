package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// result is what one csetctl invocation produced.
type result struct {
	stdout, stderr string
	code           int
}

// invocation configures runCLI beyond the arguments.
type invocation struct {
	env   map[string]string
	stdin io.Reader
	ctx   context.Context
	out   io.Writer // stdout, when the test must watch it while running
}

// runCLI runs the real command tree in-process against addr.
func runCLI(t testing.TB, addr string, inv invocation, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	out := io.Writer(&stdout)
	if inv.out != nil {
		out = inv.out
	}
	stdin := inv.stdin
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	ctx := inv.ctx
	if ctx == nil {
		ctx = t.Context()
	}
	a := newApp(stdin, out, &stderr, func(k string) string { return inv.env[k] })
	a.pollInterval = 5 * time.Millisecond
	a.retryBackoff = 5 * time.Millisecond
	code := a.run(ctx, append([]string{"--addr", addr}, args...))
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// cli runs args with no environment and wants exit code want.
func cli(t testing.TB, addr string, want int, args ...string) result {
	t.Helper()
	r := runCLI(t, addr, invocation{}, args...)
	if r.code != want {
		t.Fatalf("csetctl %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
	}
	return r
}

// decodeOne decodes s as exactly one JSON document.
func decodeOne(t testing.TB, s string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, s)
	}
	if err := dec.Decode(new(any)); err != io.EOF {
		t.Fatalf("stdout holds more than one JSON document:\n%s", s)
	}
	return v
}

// wantKeys compares the keys of a JSON object with want.
func wantKeys(t testing.TB, what string, v any, want ...string) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s: not a JSON object: %#v", what, v)
	}
	got := make([]string, 0, len(m))
	for k := range m {
		got = append(got, k)
	}
	sort.Strings(got)
	sort.Strings(want)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("%s keys (-want +got):\n%s", what, d)
	}
	return m
}

func newSeeded(t testing.TB) (*fakeServer, string) {
	t.Helper()
	f := newFakeServer()
	f.seed()
	return f, f.start(t)
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// eventually polls cond every 2ms until it holds or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testutil.Poll{Timeout: timeout, Interval: 2 * time.Millisecond}.True(t, what, cond)
}

func TestRun_ProcessEntryPoint(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"version"}, strings.NewReader(""), &out, &errb); code != exitOK {
		t.Fatalf("version: exit %d, stderr %s", code, errb.String())
	}
	if !strings.HasPrefix(out.String(), "csetctl ") {
		t.Errorf("version output %q", out.String())
	}
	out.Reset()
	if code := run(t.Context(), []string{"-o", "json", "version"}, strings.NewReader(""), &out, &errb); code != exitOK {
		t.Fatalf("version -o json: exit %d", code)
	}
	wantKeys(t, "version", decodeOne(t, out.String()), "version", "commit", "go")
}

func TestCLI_HelpAndGroups(t *testing.T) {
	t.Parallel()
	addr := newFakeServer().start(t)
	r := cli(t, addr, exitOK, "--help")
	if !strings.Contains(r.stdout, "Available Commands") || r.stderr != "" {
		t.Errorf("--help: stdout %q stderr %q", r.stdout, r.stderr)
	}
	r = cli(t, addr, exitOK, "member")
	for _, sub := range []string{"add", "list", "show", "remove", "drain", "undrain", "disable", "declare-down"} {
		if !strings.Contains(r.stdout, "  "+sub+" ") {
			t.Errorf("member help lacks %q:\n%s", sub, r.stdout)
		}
	}
	r = cli(t, addr, exitUsage, "member", "shwo")
	if !strings.Contains(r.stderr, `unknown command "shwo" for "csetctl member"; did you mean "show"?`) {
		t.Errorf("stderr %q", r.stderr)
	}
}

func TestCLI_UsageErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := "--server=e-1=http://10.0.0.1:29009"
	reg := []string{"workload", "register", "web", "--group", "g", "--candidates", "east"}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"unknown command", nil, []string{"bogus"}, `unknown command "bogus" for "csetctl"`},
		{"unknown flag", nil, []string{"status", "--bogus"}, "unknown flag: --bogus"},
		{"output", nil, []string{"-o", "yaml", "status"}, `--output "yaml": use table or json`},
		{"addr", nil, []string{"--addr", "nohostport", "status"}, "want HOST:PORT"},
		{"missing arg", nil, []string{"member", "show"}, "missing NAME"},
		{"extra arg", nil, []string{"member", "show", "a", "b"}, `unexpected argument "b"`},
		{"no server", nil, []string{"member", "add", "east"}, "at least one --server NAME=URL is required"},
		{"server form", nil, []string{"member", "add", "east", "--server", "east-1"}, "want NAME=URL"},
		{"server url", nil, []string{"member", "add", "east", "--server", "e-1=ftp://h"}, "want http://HOST:PORT"},
		{"server twice", nil, []string{"member", "add", "east", srv, srv}, "--server e-1 is given twice"},
		{"member name", nil, []string{"member", "add", "East", srv}, `member name "East" is not a DNS label`},
		{"label", nil, []string{"member", "add", "east", srv, "--label", "site"}, "want KEY=VALUE"},
		{"capacity", nil, []string{"member", "add", "east", srv, "--capacity", "-1"}, "must not be negative"},
		{"password without user", nil, []string{"member", "add", "east", srv, "--password-file", pw}, "--password-file needs --user"},
		{"user without password", nil, []string{"member", "add", "east", srv, "--user", "root"}, "needs a password: pass --password-file FILE"},
		{"no group", nil, []string{"workload", "register", "web", "--candidates", "east"}, "--group is required"},
		{"no candidates", nil, []string{"workload", "register", "web", "--group", "g"}, "--candidates is required"},
		{"candidate twice", nil, []string{"workload", "register", "web", "--group", "g", "--candidates", "east,east"}, `"east" is listed twice`},
		{"bad ip", nil, append(reg, "--address", "east=10.0.0.300"), `"10.0.0.300" is not an IP address`},
		{"address form", nil, append(reg, "--address", "east10.0.0.1"), "want MEMBER=IP[,IP]"},
		{"address member", nil, append(reg, "--address", "west=10.0.0.1"), "west is not in --candidates east"},
		{"hook path", nil, append(reg, "--hook", "copy.sh"), "give the absolute path"},
		{"hook timeout", nil, append(reg, "--hook-timeout", "1500ms"), "want a positive whole number of seconds"},
		{"duration syntax", nil, append(reg, "--hook-timeout", "soon"), `invalid argument "soon" for "--hook-timeout"`},
		{"service", nil, append(reg, "--service", "http"), "want NAME:PORT"},
		{"service name", nil, append(reg, "--service", "http:80"), "NAME is the SRV prefix"},
		{"size", nil, append(reg, "--size", "-1"), "--size -1: must not be negative"},
		{"move to", nil, []string{"workload", "move", "web"}, "--to is required"},
		{"move to form", nil, []string{"workload", "move", "web", "--to", "west/"}, "want MEMBER or MEMBER/SERVER"},
		{"zone required", nil, []string{"set", "init", "prod"}, "--zone is required"},
		{"zone form", nil, []string{"set", "init", "prod", "--zone", "bad zone"}, "want a DNS domain name"},
		{"ttl", nil, []string{"set", "init", "prod", "--zone", "x.", "--ttl", "1500ms"}, "--ttl 1.5s"},
		{"join addr", nil, []string{"raft", "join", "m3", "nope", "127.0.0.1:7100"}, `RAFT_ADDR "nope": want HOST:PORT`},
		{"events limit", nil, []string{"events", "--limit", "0"}, "--limit 0: want 1 to 10000"},
		{"apply file", nil, []string{"apply"}, "-f FILE is required"},
		{"request id", map[string]string{envRequestID: "bad id!"}, []string{"member", "drain", "east"}, "CSET_REQUEST_ID \"bad id!\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeServer()
			addr := f.start(t)
			r := runCLI(t, addr, invocation{env: tt.env}, tt.args...)
			if r.code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr %q", r.code, exitUsage, r.stderr)
			}
			if !strings.HasPrefix(r.stderr, "error: ") || !strings.Contains(r.stderr, tt.want) || !strings.Contains(r.stderr, "--help' for usage.") {
				t.Errorf("stderr %q, want it to contain %q", r.stderr, tt.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
			if calls := f.getCalls(); len(calls) != 0 {
				t.Errorf("the server got %v; a usage error must not reach it", calls)
			}
		})
	}
}

func TestCLI_ServerErrors(t *testing.T) {
	t.Parallel()
	f, addr := newSeeded(t)
	r := cli(t, addr, exitError, "member", "show", "nope")
	if want := "error: member \"nope\" not found (NotFound)\n"; r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
	f.mu.Lock()
	f.members["east"].Health = "unreachable"
	f.mu.Unlock()
	r = cli(t, addr, exitError, "member", "remove", "east", "--force")
	if !strings.Contains(r.stderr, "confirm it with 'csetctl member declare-down east' (FailedPrecondition)") {
		t.Errorf("stderr %q", r.stderr)
	}

	f.failWith("ListMembers", status.Error(codes.DeadlineExceeded, "took too long"))
	r = cli(t, addr, exitError, "member", "list")
	if !strings.Contains(r.stderr, "(DeadlineExceeded)") || !strings.Contains(r.stderr, "hint: no answer within --timeout 10s") {
		t.Errorf("stderr %q", r.stderr)
	}
}

func TestCLI_Timeout(t *testing.T) {
	t.Parallel()
	f, addr := newSeeded(t)
	f.mu.Lock()
	f.hang["GetMember"], f.hang["SetMemberAdmin"] = true, true
	f.mu.Unlock()

	start := time.Now()
	r := cli(t, addr, exitError, "--timeout", "100ms", "member", "show", "east")
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("a 100ms --timeout took %s", took)
	}
	if !strings.Contains(r.stderr, "(DeadlineExceeded)") || !strings.Contains(r.stderr, "hint: no answer within --timeout 100ms") {
		t.Errorf("stderr %q", r.stderr)
	}
	if strings.Contains(r.stderr, envRequestID) {
		t.Errorf("a read is not a write of unknown outcome: %q", r.stderr)
	}

	r = cli(t, addr, exitError, "--timeout", "100ms", "member", "drain", "east")
	calls := f.getCalls()
	id := calls[len(calls)-1].requestID
	if !strings.Contains(r.stderr, "may or may not have been applied") || !strings.Contains(r.stderr, envRequestID+"="+id) {
		t.Errorf("stderr %q, want the retry hint with request id %s", r.stderr, id)
	}
}

func TestCLI_NoServer(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	for _, args := range [][]string{{"status"}, {"member", "drain", "east"}} {
		r := cli(t, addr, exitError, args...)
		if !strings.Contains(r.stderr, "(Unavailable)") || !strings.Contains(r.stderr, "hint: no csetd master answers at "+addr) {
			t.Errorf("%v: stderr %q", args, r.stderr)
		}
		if strings.Contains(r.stderr, envRequestID) {
			t.Errorf("%v: a write that reached no server is not of unknown outcome: %q", args, r.stderr)
		}
	}
}

var hexID = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestCLI_RequestIDOnWritesOnly(t *testing.T) {
	t.Parallel()
	f, addr := newSeeded(t)
	cli(t, addr, exitOK, "member", "drain", "east")
	cli(t, addr, exitOK, "member", "undrain", "east")
	cli(t, addr, exitOK, "member", "list")
	cli(t, addr, exitOK, "status")
	calls := f.getCalls()
	if len(calls) != 4 {
		t.Fatalf("calls %v", calls)
	}
	for _, c := range calls[:2] {
		if !hexID.MatchString(c.requestID) {
			t.Errorf("%s: request id %q, want 32 hex digits", c.method, c.requestID)
		}
	}
	if calls[0].requestID == calls[1].requestID {
		t.Errorf("two invocations share request id %q", calls[0].requestID)
	}
	for _, c := range calls[2:] {
		if c.requestID != "" {
			t.Errorf("read %s carries request id %q", c.method, c.requestID)
		}
	}
}

func TestCLI_RetryUnavailableKeepsRequestID(t *testing.T) {
	t.Parallel()
	f, addr := newSeeded(t)
	noLeader := status.Error(codes.Unavailable, "no leader; retry later")
	f.failWith("SetMemberAdmin", noLeader, noLeader)
	cli(t, addr, exitOK, "member", "drain", "east")
	calls := f.getCalls()
	if len(calls) != 3 {
		t.Fatalf("calls %v, want 3 attempts", calls)
	}
	for _, c := range calls {
		if c.requestID != calls[0].requestID || !hexID.MatchString(c.requestID) {
			t.Errorf("attempt ids %v, want one id repeated", calls)
		}
	}

	// Exhausted retries report the id to reuse.
	f2, addr2 := newSeeded(t)
	f2.failWith("SetMemberAdmin", noLeader, noLeader, noLeader, noLeader, noLeader)
	r := cli(t, addr2, exitError, "member", "drain", "east")
	calls = f2.getCalls()
	if len(calls) != 4 {
		t.Fatalf("calls %v, want 4 attempts", calls)
	}
	if !strings.Contains(r.stderr, "error: no leader; retry later (Unavailable)") ||
		!strings.Contains(r.stderr, envRequestID+"="+calls[0].requestID) {
		t.Errorf("stderr %q", r.stderr)
	}

	// Other errors are not retried.
	f3, addr3 := newSeeded(t)
	f3.failWith("SetMemberAdmin", status.Error(codes.FailedPrecondition, "no"))
	cli(t, addr3, exitError, "member", "drain", "east")
	if n := len(f3.getCalls()); n != 1 {
		t.Errorf("FailedPrecondition tried %d times, want 1", n)
	}
}

func TestCLI_ActorOnWrites(t *testing.T) {
	t.Parallel()
	f, addr := newSeeded(t)
	host, _ := os.Hostname()
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"USER": "alice"}, "csetctl:alice@" + host},
		{map[string]string{"LOGNAME": "bob"}, "csetctl:bob@" + host},
		{nil, "csetctl"},
		{map[string]string{"USER": strings.Repeat("x", 80)}, ("csetctl:" + strings.Repeat("x", 80))[:maxActor]},
	} {
		if r := runCLI(t, addr, invocation{env: tt.env}, "member", "drain", "east"); r.code != exitOK {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		calls := f.getCalls()
		if got := calls[len(calls)-1].actor; got != tt.want {
			t.Errorf("env %v: actor %q, want %q", tt.env, got, tt.want)
		}
	}
	cli(t, addr, exitOK, "member", "list")
	calls := f.getCalls()
	if got := calls[len(calls)-1].actor; got != "" {
		t.Errorf("a read carries actor %q", got)
	}
}

func TestCLI_RequestIDFromEnv(t *testing.T) {
	t.Parallel()
	f, addr := newSeeded(t)
	r := runCLI(t, addr, invocation{env: map[string]string{envRequestID: "retry-42"}}, "workload", "stop", "web")
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if c := f.getCalls(); len(c) != 1 || c[0].requestID != "retry-42" {
		t.Errorf("calls %v", c)
	}
}

func TestCLI_ConsistentReads(t *testing.T) {
	t.Parallel()
	f, addr := newSeeded(t)
	cli(t, addr, exitOK, "member", "show", "east")
	if f.lastRead.GetConsistent() {
		t.Error("read consistent without --consistent")
	}
	cli(t, addr, exitOK, "--consistent", "member", "show", "east")
	if !f.lastRead.GetConsistent() {
		t.Error("--consistent did not set ReadOptions.consistent")
	}
	cli(t, addr, exitOK, "status", "--consistent")
	if !f.lastRead.GetConsistent() {
		t.Error("status --consistent did not set ReadOptions.consistent")
	}
}

func TestCLI_Password(t *testing.T) {
	t.Parallel()
	const secret = "s3cret-Pa55"
	dir := t.TempDir()
	private := filepath.Join(dir, "private.pw")
	shared := filepath.Join(dir, "shared.pw")
	if err := os.WriteFile(private, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(shared, []byte(secret), 0o644); err != nil {
		t.Fatal(err)
	}
	add := []string{"member", "add", "north", "--server", "north-1=http://10.0.0.9:29009", "--user", "root", "--update"}
	tests := []struct {
		name     string
		env      map[string]string
		extra    []string
		wantWarn bool
	}{
		{"file", nil, []string{"--password-file", private}, false},
		{"file json", nil, []string{"--password-file", private, "-o", "json"}, false},
		{"world readable file", nil, []string{"--password-file", shared}, true},
		{"env", map[string]string{envPassword: secret}, nil, false},
		{"file wins over env", map[string]string{envPassword: "other"}, []string{"--password-file", private}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeServer()
			addr := f.start(t)
			r := runCLI(t, addr, invocation{env: tt.env}, append(add, tt.extra...)...)
			if r.code != exitOK {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if got := f.lastAdd.GetPassword(); got != secret {
				t.Errorf("server got password %q, want %q", got, secret)
			}
			if strings.Contains(r.stdout+r.stderr, secret) {
				t.Errorf("password printed:\nstdout %s\nstderr %s", r.stdout, r.stderr)
			}
			if gotWarn := strings.Contains(r.stderr, "readable by others"); gotWarn != tt.wantWarn {
				t.Errorf("warning %v, want %v: %q", gotWarn, tt.wantWarn, r.stderr)
			}
			// The member as shown later never carries it either.
			show := cli(t, addr, exitOK, "member", "show", "north", "-o", "json")
			if strings.Contains(show.stdout, secret) || !strings.Contains(show.stdout, `"password_set": true`) {
				t.Errorf("member show: %s", show.stdout)
			}
		})
	}

	t.Run("missing file", func(t *testing.T) {
		t.Parallel()
		addr := newFakeServer().start(t)
		r := cli(t, addr, exitError, append(add, "--password-file", filepath.Join(dir, "nope"))...)
		if !strings.Contains(r.stderr, "reading password file") {
			t.Errorf("stderr %q", r.stderr)
		}
	})
	t.Run("empty file", func(t *testing.T) {
		t.Parallel()
		empty := filepath.Join(t.TempDir(), "empty")
		if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		addr := newFakeServer().start(t)
		r := cli(t, addr, exitError, append(add, "--password-file", empty)...)
		if !strings.Contains(r.stderr, "is empty") {
			t.Errorf("stderr %q", r.stderr)
		}
	})
}

// TestCLI_OutcomeByStatusNotText: whether a write may have been applied is decided by the
// status, its details and whether a master answered, never by the message text. A master's
// Unavailable that happens to read like a dial error is still a master's answer (outcome
// unknown); one with the NOT_APPLIED detail changed nothing, so no hint to retry it with its id.
func TestCLI_OutcomeByStatusNotText(t *testing.T) {
	t.Parallel()
	looksLikeDial := status.Error(codes.Unavailable, "connection error: leader m2 went away")
	f, addr := newSeeded(t)
	f.failWith("SetMemberAdmin", looksLikeDial, looksLikeDial, looksLikeDial, looksLikeDial)
	r := cli(t, addr, exitError, "member", "drain", "east")
	if !strings.Contains(r.stderr, "may or may not have been applied") || strings.Contains(r.stderr, "no csetd master answers") {
		t.Errorf("a master's Unavailable: stderr %q, want the unknown-outcome hint and no dial hint", r.stderr)
	}

	notApplied := apiv1.NotApplied("master m1 is not the leader")
	f2, addr2 := newSeeded(t)
	f2.failWith("SetMemberAdmin", notApplied, notApplied, notApplied, notApplied)
	r = cli(t, addr2, exitError, "member", "drain", "east")
	if n := len(f2.getCalls()); n != 4 {
		t.Errorf("NOT_APPLIED tried %d times, want 4", n)
	}
	if strings.Contains(r.stderr, "may or may not have been applied") {
		t.Errorf("a write the master did not apply: stderr %q, want no unknown-outcome hint", r.stderr)
	}
}
