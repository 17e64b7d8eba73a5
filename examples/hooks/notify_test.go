package hooks_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// request is what the endpoint received.
type request struct {
	Method, Path, Auth, ContentType, IdempotencyKey string
	Body                                            map[string]string
}

// endpoint is a fake storage array API on 127.0.0.1 that answers with the given statuses in
// turn (the last one repeats) and records every request.
type endpoint struct {
	srv      *httptest.Server
	mu       sync.Mutex
	reqs     []request
	statuses []int
	delay    time.Duration
}

func newEndpoint(t *testing.T, statuses ...int) *endpoint {
	t.Helper()
	e := &endpoint{statuses: statuses}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var body map[string]string
		if err := json.Unmarshal(b, &body); err != nil {
			http.Error(w, "body is not a JSON object of strings: "+err.Error(), http.StatusBadRequest)
			return
		}
		e.mu.Lock()
		e.reqs = append(e.reqs, request{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), r.Header.Get("Idempotency-Key"), body})
		status := e.statuses[min(len(e.reqs), len(e.statuses))-1]
		delay := e.delay
		e.mu.Unlock()
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		w.WriteHeader(status)
		io.WriteString(w, "replication of web: "+http.StatusText(status)+"\n")
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *endpoint) requests() []request {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]request(nil), e.reqs...)
}

// notifyHook returns the script and an environment pointing at ep with a token file.
func notifyHook(t *testing.T, ep *endpoint) (string, map[string]string) {
	t.Helper()
	hook := script(t, "http-notify.sh")
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skipf("http-notify.sh needs curl, which is not on PATH: %v", err)
	}
	token := filepath.Join(t.TempDir(), "token")
	writeFile(t, token, "s3cr3t-T0ken\n", 0o600)
	env := hookEnv("op-7")
	env["CSET_HOOK_URL"] = ep.srv.URL + "/api/replication/reverse"
	env["CSET_HOOK_TOKEN_FILE"] = token
	env["CSET_HOOK_TIMEOUT"] = "10"
	env["CSET_HOOK_RETRIES"] = "0"
	return hook, env
}

func wantRequest() request {
	return request{
		Method: "POST", Path: "/api/replication/reverse", Auth: "Bearer s3cr3t-T0ken", ContentType: "application/json", IdempotencyKey: "op-7",
		Body: map[string]string{
			"workload": "web", "group": "failover-web", "operation": "op-7", "reason": "planned",
			"from_member": "east", "from_server": "east-1", "to_member": "west", "to_server": "west-2",
		},
	}
}

func TestHTTPNotify_SendsTheHandoverAndIsIdempotent(t *testing.T) {
	t.Parallel()
	ep := newEndpoint(t, http.StatusOK, http.StatusNoContent)
	hook, env := notifyHook(t, ep)
	for i := range 2 { // a re-run sends the same request with the same idempotency key
		r := runHook(t, hook, env)
		if r.exit != 0 || !strings.Contains(r.output, "HTTP 20") {
			t.Fatalf("run %d: exit %d\n%s", i+1, r.exit, r.output)
		}
	}
	want := []request{wantRequest(), wantRequest()}
	if diff := cmp.Diff(want, ep.requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestHTTPNotify_WithoutTokenAndWithPUT(t *testing.T) {
	t.Parallel()
	ep := newEndpoint(t, http.StatusAccepted)
	hook, env := notifyHook(t, ep)
	delete(env, "CSET_HOOK_TOKEN_FILE")
	env["CSET_HOOK_METHOD"] = "PUT"
	delete(env, "CSET_FROM_SERVER") // a failover from a member that is down may not know it
	if r := runHook(t, hook, env); r.exit != 0 {
		t.Fatalf("exit %d\n%s", r.exit, r.output)
	}
	want := wantRequest()
	want.Method, want.Auth, want.Body["from_server"] = "PUT", "", ""
	if diff := cmp.Diff([]request{want}, ep.requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestHTTPNotify_RetriesTransientErrors(t *testing.T) {
	t.Parallel()
	ep := newEndpoint(t, http.StatusServiceUnavailable, http.StatusOK)
	hook, env := notifyHook(t, ep)
	env["CSET_HOOK_RETRIES"] = "2"
	if r := runHook(t, hook, env); r.exit != 0 {
		t.Fatalf("exit %d\n%s", r.exit, r.output)
	}
	if n := len(ep.requests()); n != 2 {
		t.Errorf("%d requests, want 2 (one 503, then the retry)", n)
	}
}

func TestHTTPNotify_FailsOnNon2xx(t *testing.T) {
	t.Parallel()
	ep := newEndpoint(t, http.StatusConflict)
	hook, env := notifyHook(t, ep)
	r := runHook(t, hook, env)
	if r.exit == 0 {
		t.Fatalf("exit 0 on HTTP 409\n%s", r.output)
	}
	for _, want := range []string{"http-notify: ", "answered HTTP 409", "replication of web: Conflict", "op-7"} {
		if !strings.Contains(r.output, want) {
			t.Errorf("output %q does not say %q", r.output, want)
		}
	}
}

func TestHTTPNotify_TimesOut(t *testing.T) {
	t.Parallel()
	ep := newEndpoint(t, http.StatusOK)
	ep.delay = 20 * time.Second
	hook, env := notifyHook(t, ep)
	env["CSET_HOOK_TIMEOUT"] = "1"
	start := time.Now()
	r := runHook(t, hook, env)
	if r.exit == 0 {
		t.Fatalf("exit 0 although the endpoint never answered\n%s", r.output)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v with CSET_HOOK_TIMEOUT=1", d)
	}
	if !strings.Contains(r.output, "curl exit 28") {
		t.Errorf("output %q does not report the timeout (curl exit 28)", r.output)
	}
}

func TestHTTPNotify_RefusesABadEnvironment(t *testing.T) {
	t.Parallel()
	ep := newEndpoint(t, http.StatusOK)
	empty := filepath.Join(t.TempDir(), "empty")
	writeFile(t, empty, "\n", 0o600)
	cases := []struct {
		name string
		edit func(env map[string]string)
		want string
	}{
		{"no url", func(env map[string]string) { delete(env, "CSET_HOOK_URL") }, "CSET_HOOK_URL is not set"},
		{"not http", func(env map[string]string) { env["CSET_HOOK_URL"] = "ftp://127.0.0.1/x" }, "must start with http:// or https://"},
		{"space in url", func(env map[string]string) { env["CSET_HOOK_URL"] += "?a=b c" }, "must not contain"},
		{"not run by cset", func(env map[string]string) { delete(env, "CSET_WORKLOAD") }, "CSET_WORKLOAD is not set"},
		{"missing token file", func(env map[string]string) { env["CSET_HOOK_TOKEN_FILE"] += ".missing" }, "cannot be read"},
		{"empty token file", func(env map[string]string) { env["CSET_HOOK_TOKEN_FILE"] = empty }, "is empty"},
		{"bad timeout", func(env map[string]string) { env["CSET_HOOK_TIMEOUT"] = "5s" }, "CSET_HOOK_TIMEOUT must be"},
		{"zero timeout", func(env map[string]string) { env["CSET_HOOK_TIMEOUT"] = "0" }, "at least 1 second"},
		{"bad method", func(env map[string]string) { env["CSET_HOOK_METHOD"] = "DELETE" }, "must be POST or PUT"},
		{"control character", func(env map[string]string) { env["CSET_REASON"] = "planned\nX-Evil: 1" }, "CSET_REASON holds a control character"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			hook, env := notifyHook(t, ep)
			tc.edit(env)
			r := runHook(t, hook, env)
			if r.exit == 0 || !strings.Contains(r.output, tc.want) {
				t.Errorf("exit %d, output %q; want a failure saying %q", r.exit, r.output, tc.want)
			}
		})
	}
	if n := len(ep.requests()); n != 0 {
		t.Errorf("%d requests sent with a bad environment", n)
	}
}

// The bearer token must not show on curl's command line, where ps would show it.
func TestHTTPNotify_KeepsTheTokenOffTheCommandLine(t *testing.T) {
	t.Parallel()
	ep := newEndpoint(t, http.StatusOK)
	hook, env := notifyHook(t, ep)
	// A curl first on PATH that records its arguments, then runs the real one.
	real, err := exec.LookPath("curl")
	if err != nil {
		t.Skip(err)
	}
	bin := t.TempDir()
	args := filepath.Join(bin, "args")
	writeFile(t, filepath.Join(bin, "curl"), "#!/bin/sh\nprintf '%s\\n' \"$@\" >"+args+"\nexec "+real+" \"$@\"\n", 0o755)
	cmd := exec.Command(hook)
	cmd.Env = []string{"PATH=" + bin + ":" + os.Getenv("PATH"), "TMPDIR=" + t.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	b, err := os.ReadFile(args)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "s3cr3t") {
		t.Errorf("the token is on curl's command line:\n%s", b)
	}
	if got := ep.requests(); len(got) != 1 || got[0].Auth != "Bearer s3cr3t-T0ken" {
		t.Errorf("requests %+v", got)
	}
}
