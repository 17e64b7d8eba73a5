package witness

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// startHTTP serves a new witness on 127.0.0.1:0 and returns its URL.
func startHTTP(t *testing.T, cfg ServerConfig) (*Server, string) {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.RestartHold == 0 {
		cfg.RestartHold = -1
	}
	s := newServer(t, cfg)
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	return s, hs.URL
}

func send(t *testing.T, method, url, token, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// jsonError returns the "error" field of a JSON error answer, failing if there is none.
func jsonError(t *testing.T, body string) string {
	t.Helper()
	var a errorAnswer
	if err := json.Unmarshal([]byte(body), &a); err != nil || a.Error == "" {
		t.Fatalf("answer %q is not a JSON error", body)
	}
	return a.Error
}

func TestServer_Auth(t *testing.T) {
	t.Parallel()
	_, url := startHTTP(t, ServerConfig{LeaseToken: "lease-s3cret", HeartbeatToken: "hb-s3cret"})
	hb := `{"cluster":"c1","server":"s1"}`
	for _, token := range []string{"", "wrong", "hb-s3cre", "lease-s3cre"} {
		code, hdr, body := send(t, "POST", url+"/v1/heartbeat", token, hb)
		if code != http.StatusUnauthorized || hdr.Get("WWW-Authenticate") == "" {
			t.Errorf("token %q: %d %q, want 401 with WWW-Authenticate", token, code, body)
		}
		jsonError(t, body)
	}
	if code, _, body := send(t, "POST", url+"/v1/heartbeat", "hb-s3cret", hb); code != http.StatusNoContent {
		t.Fatalf("heartbeat token: %d %s", code, body)
	}
	for auth, want := range map[string]int{"bearer hb-s3cret": 204, "Basic hb-s3cret": 401, "Bearerhb-s3cret": 401} {
		req, err := http.NewRequestWithContext(t.Context(), "POST", url+"/v1/heartbeat", strings.NewReader(hb))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Authorization %q: %d, want %d", auth, resp.StatusCode, want)
		}
	}
	// GET / and HEAD / need no token (ECX's HTTP NP resolution cannot send one).
	if code, _, body := send(t, "GET", url+"/", "", ""); code != http.StatusOK || !strings.Contains(body, "witness") {
		t.Errorf("GET /: %d %q", code, body)
	}
	if code, _, body := send(t, "HEAD", url+"/", "", ""); code != http.StatusOK || body != "" {
		t.Errorf("HEAD /: %d %q", code, body)
	}
	c, err := NewClient(ClientConfig{URL: url, Token: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Heartbeat(t.Context(), "c1", "s1"); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("client with a wrong token: %v, want ErrUnauthorized", err)
	}
	if err := c.Ping(t.Context()); err != nil {
		t.Errorf("Ping with a wrong token: %v", err)
	}
}

// TestServer_TokenScopes: the heartbeat token every ECX server holds can send heartbeats and
// read the last-seen table, never take, release or reset a lease; the masters' lease token can
// do the lease calls and read, not heartbeat. Before the split one token did everything, so any
// ECX server could take the lease with a term no master reaches and lock the set out.
func TestServer_TokenScopes(t *testing.T) {
	t.Parallel()
	_, url := startHTTP(t, ServerConfig{LeaseToken: "lease-tok", HeartbeatToken: "hb-tok"})
	lease := `{"set":"prod","holder":"m1","term":3,"ttl_ms":2000}`
	for _, tc := range []struct {
		method, path, token, body string
		code                      int
		has                       string
	}{
		{"POST", "/v1/lease", "hb-tok", lease, 403, "lease token"},
		{"DELETE", "/v1/lease", "hb-tok", `{"set":"prod","holder":"m1","term":3}`, 403, "lease token"},
		{"POST", "/v1/lease/reset", "hb-tok", `{"set":"prod"}`, 403, "lease token"},
		{"POST", "/v1/heartbeat", "lease-tok", `{"cluster":"c1","server":"s1"}`, 403, "heartbeat token"},
		{"POST", "/v1/heartbeat", "hb-tok", `{"cluster":"c1","server":"s1"}`, 204, ""},
		{"GET", "/v1/clusters/c1", "hb-tok", "", 200, ""},
		{"GET", "/v1/clusters/c1", "lease-tok", "", 200, ""},
		{"POST", "/v1/lease", "lease-tok", lease, 200, ""},
		{"DELETE", "/v1/lease", "lease-tok", `{"set":"prod","holder":"m1","term":3}`, 204, ""},
	} {
		code, _, body := send(t, tc.method, url+tc.path, tc.token, tc.body)
		if code != tc.code {
			t.Errorf("%s %s with %s: %d %q, want %d", tc.method, tc.path, tc.token, code, body, tc.code)
			continue
		}
		if tc.has != "" && !strings.Contains(jsonError(t, body), tc.has) {
			t.Errorf("%s %s with %s: %q does not name the %s", tc.method, tc.path, tc.token, body, tc.has)
		}
	}
	member, err := NewClient(ClientConfig{URL: url, Token: "hb-tok"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := member.Acquire(t.Context(), "prod", "evil", MaxTerm, 2*time.Second); !errors.Is(err, ErrForbidden) {
		t.Errorf("lease with the heartbeat token: %v, want ErrForbidden", err)
	}
	if _, err := member.ResetLease(t.Context(), "prod"); !errors.Is(err, ErrForbidden) {
		t.Errorf("reset with the heartbeat token: %v, want ErrForbidden", err)
	}
}

func TestNewServer_TokenConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		lease, hb, want string
	}{
		{"l", "", "both the lease token and the heartbeat token"},
		{"", "h", "both the lease token and the heartbeat token"},
		{"same", "same", "must differ"},
	} {
		_, err := NewServer(ServerConfig{DataDir: t.TempDir(), LeaseToken: tc.lease, HeartbeatToken: tc.hb})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("lease %q heartbeat %q: %v, want an error containing %q", tc.lease, tc.hb, err, tc.want)
		}
	}
}

func TestServer_BadRequests(t *testing.T) {
	t.Parallel()
	_, url := startHTTP(t, ServerConfig{MaxBodyBytes: 512, MaxTTL: 5 * time.Minute})
	cases := []struct {
		name, method, path, body string
		code                     int
	}{
		{"empty body", "POST", "/v1/lease", "", 400},
		{"not JSON", "POST", "/v1/lease", "set=prod", 400},
		{"array", "POST", "/v1/lease", "[]", 400},
		{"unknown field", "POST", "/v1/lease", `{"set":"p","holder":"a","term":1,"ttl_ms":10000,"x":1}`, 400},
		{"missing set", "POST", "/v1/lease", `{"holder":"a","term":1,"ttl_ms":10000}`, 400},
		{"missing holder", "POST", "/v1/lease", `{"set":"p","term":1,"ttl_ms":10000}`, 400},
		{"term 0", "POST", "/v1/lease", `{"set":"p","holder":"a","term":0,"ttl_ms":10000}`, 400},
		{"negative term", "POST", "/v1/lease", `{"set":"p","holder":"a","term":-1,"ttl_ms":10000}`, 400},
		{"string term", "POST", "/v1/lease", `{"set":"p","holder":"a","term":"1","ttl_ms":10000}`, 400},
		{"ttl too short", "POST", "/v1/lease", `{"set":"p","holder":"a","term":1,"ttl_ms":999}`, 400},
		{"ttl too long", "POST", "/v1/lease", `{"set":"p","holder":"a","term":1,"ttl_ms":300001}`, 400},
		{"trailing data", "POST", "/v1/lease", `{"set":"p","holder":"a","term":1,"ttl_ms":10000} {}`, 400},
		{"control character", "POST", "/v1/lease", `{"set":"p\u0000","holder":"a","term":1,"ttl_ms":10000}`, 400},
		{"slash in name", "POST", "/v1/heartbeat", `{"cluster":"a/b","server":"s"}`, 400},
		{"release with ttl", "DELETE", "/v1/lease", `{"set":"p","holder":"a","term":1,"ttl_ms":10000}`, 400},
		{"release term 0", "DELETE", "/v1/lease", `{"set":"p","holder":"a","term":0}`, 400},
		{"heartbeat missing server", "POST", "/v1/heartbeat", `{"cluster":"c"}`, 400},
		{"too large", "POST", "/v1/heartbeat", `{"cluster":"` + strings.Repeat("c", 600) + `","server":"s"}`, 413},
		{"wrong method", "GET", "/v1/lease", "", 405},
		{"wrong method heartbeat", "PUT", "/v1/heartbeat", "{}", 405},
		{"wrong method clusters", "POST", "/v1/clusters/c", "{}", 405},
		{"unknown endpoint", "GET", "/v1/nothing", "", 404},
		{"cluster never seen", "GET", "/v1/clusters/ghost", "", 404},
		{"cluster name dot-dot", "GET", "/v1/clusters/%2E%2E", "", 400},
	}
	for _, tc := range cases {
		code, hdr, body := send(t, tc.method, url+tc.path, "", tc.body)
		if code != tc.code {
			t.Errorf("%s: got %d %q, want %d", tc.name, code, body, tc.code)
			continue
		}
		if ct := hdr.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", tc.name, ct)
		}
		msg := jsonError(t, body)
		if tc.code == 405 && hdr.Get("Allow") == "" {
			t.Errorf("%s: 405 without Allow (%s)", tc.name, msg)
		}
	}
}

func TestServer_HeartbeatsAndClusters(t *testing.T) {
	t.Parallel()
	_, url := startHTTP(t, ServerConfig{})
	c, err := NewClient(ClientConfig{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, s := range []string{"s2", "s1"} {
		if err := c.Heartbeat(ctx, "ecx 1", s); err != nil {
			t.Fatalf("Heartbeat: %v", err)
		}
	}
	seen, err := c.Cluster(ctx, "ecx 1")
	if err != nil {
		t.Fatalf("Cluster: %v", err)
	}
	if seen.Cluster != "ecx 1" || len(seen.Servers) != 2 || seen.Servers[0].Server != "s1" || seen.Servers[1].Server != "s2" {
		t.Fatalf("Cluster = %+v, want s1 and s2 of ecx 1", seen)
	}
	if seen.LastHeard() > time.Minute || seen.LastHeard() < 0 {
		t.Fatalf("LastHeard = %s", seen.LastHeard())
	}
	if _, err := c.Cluster(ctx, "ghost"); !errors.Is(err, ErrNeverSeen) {
		t.Fatalf("Cluster(ghost) = %v, want ErrNeverSeen", err)
	}
}

func TestServer_Metrics(t *testing.T) {
	t.Parallel()
	_, url := startHTTP(t, ServerConfig{LeaseToken: "t", HeartbeatToken: "h"})
	c, err := NewClient(ClientConfig{URL: url, Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	member, err := NewClient(ClientConfig{URL: url, Token: "h"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := c.Acquire(ctx, "prod", "a", 4, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Acquire(ctx, "prod", "b", 5, 10*time.Second); !errors.Is(err, ErrLeaseRefused) {
		t.Fatalf("second holder: %v", err)
	}
	if err := c.Release(ctx, "prod", "a", 4); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Acquire(ctx, "prod", "b", 5, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := member.Heartbeat(ctx, "ecx1", "s1"); err != nil {
			t.Fatal(err)
		}
	}
	code, _, body := send(t, "GET", url+"/metrics", "", "")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", code)
	}
	for _, want := range []string{
		`cset_witness_lease_grants_total{set="prod"} 2`,
		`cset_witness_lease_refusals_total{reason="held",set="prod"} 1`,
		`cset_witness_lease_releases_total{set="prod"} 1`,
		`cset_witness_heartbeats_total{cluster="ecx1"} 3`,
		`cset_witness_lease_term{holder="b",set="prod"} 5`,
		`cset_witness_servers_tracked 1`,
		`cset_witness_persist_errors_total 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestServer_Limits(t *testing.T) {
	t.Parallel()
	_, url := startHTTP(t, ServerConfig{MaxSets: 1, MaxServers: 2})
	c, err := NewClient(ClientConfig{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := c.Acquire(ctx, "one", "a", 1, time.Second); err != nil {
		t.Fatal(err)
	}
	var se *StatusError
	if _, err := c.Acquire(ctx, "two", "a", 1, time.Second); !errors.As(err, &se) || se.Code != http.StatusTooManyRequests {
		t.Fatalf("second set: %v, want 429", err)
	}
	for i, s := range []string{"s1", "s2", "s1"} {
		if err := c.Heartbeat(ctx, "c", s); err != nil {
			t.Fatalf("heartbeat %d: %v", i, err)
		}
	}
	if err := c.Heartbeat(ctx, "d", "s3"); !errors.As(err, &se) || se.Code != http.StatusTooManyRequests {
		t.Fatalf("third server: %v, want 429", err)
	}
}

// A grant that cannot be persisted is refused with 503 and leaves no trace.
func TestServer_PersistFailureRefusesGrant(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, url := startHTTP(t, ServerConfig{DataDir: dir})
	c, err := NewClient(ClientConfig{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	blocker := filepath.Join(dir, stateFileName+".tmp")
	if err := os.Mkdir(blocker, 0o700); err != nil { // the temp file cannot be created
		t.Fatal(err)
	}
	var se *StatusError
	if _, err := c.Acquire(ctx, "prod", "a", 3, 5*time.Second); !errors.As(err, &se) || se.Code != http.StatusServiceUnavailable {
		t.Fatalf("Acquire with a broken disk: %v, want 503", err)
	}
	if err := c.Heartbeat(ctx, "ecx1", "s1"); !errors.As(err, &se) || se.Code != http.StatusServiceUnavailable {
		t.Fatalf("first heartbeat with a broken disk: %v, want 503", err)
	}
	if _, err := c.Cluster(ctx, "ecx1"); !errors.Is(err, ErrNeverSeen) {
		t.Fatalf("unpersisted heartbeat recorded: %v", err)
	}
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	// The refused grant left nothing behind: term 2 from another holder is still acceptable.
	if _, err := c.Acquire(ctx, "prod", "b", 2, 5*time.Second); err != nil {
		t.Fatalf("Acquire after repair: %v", err)
	}
	code, _, body := send(t, "GET", url+"/metrics", "", "")
	if code != 200 || !strings.Contains(body, "cset_witness_persist_errors_total 2") {
		t.Fatalf("persist errors not counted: %d", code)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := send(t, "POST", url+"/v1/heartbeat", "", `{"cluster":"c","server":"s"}`); code != http.StatusServiceUnavailable {
		t.Fatalf("heartbeat after Close: %d, want 503", code)
	}
}

func TestServer_StateFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, url := startHTTP(t, ServerConfig{DataDir: dir})
	c, err := NewClient(ClientConfig{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Acquire(t.Context(), "prod", "a", 7, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, stateFileName))
	if err != nil {
		t.Fatalf("state file not written before the grant was answered: %v", err)
	}
	var f stateFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	want := map[string]persistedSet{"prod": {HighestTerm: 7, Holder: "a", TTLMs: 20000, Active: true}}
	if diff := cmp.Diff(want, f.Sets); diff != "" {
		t.Fatalf("persisted sets (-want +got):\n%s", diff)
	}
	// A second server cannot open the same data dir.
	if _, err := NewServer(ServerConfig{DataDir: dir}); err == nil {
		t.Fatalf("a second server opened a locked data dir")
	}
}

func TestNewServer_BadState(t *testing.T) {
	t.Parallel()
	for name, content := range map[string]string{
		"corrupt":     "{not json",
		"new version": `{"version":2,"sets":{},"clusters":{}}`,
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, stateFileName), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if s, err := NewServer(ServerConfig{DataDir: dir}); err == nil {
			_ = s.Close()
			t.Errorf("%s state file accepted", name)
		}
	}
	if _, err := NewServer(ServerConfig{}); err == nil {
		t.Errorf("NewServer without DataDir succeeded")
	}
	if _, err := NewServer(ServerConfig{DataDir: t.TempDir(), MaxTTL: time.Millisecond}); err == nil {
		t.Errorf("NewServer with MaxTTL below MinTTL succeeded")
	}
}

func TestServer_ReleaseIsIdempotent(t *testing.T) {
	t.Parallel()
	_, url := startHTTP(t, ServerConfig{})
	c, err := NewClient(ClientConfig{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Release(ctx, "never", "a", 1); err != nil {
		t.Fatalf("release of an unknown set: %v", err)
	}
	if _, err := c.Acquire(ctx, "prod", "a", 2, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.Release(ctx, "prod", "b", 2); err != nil { // not b's: a no-op
		t.Fatal(err)
	}
	if _, err := c.Acquire(ctx, "prod", "b", 3, 5*time.Second); !errors.Is(err, ErrLeaseRefused) {
		t.Fatalf("a foreign release freed the lease: %v", err)
	}
	for range 2 {
		if err := c.Release(ctx, "prod", "a", 2); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Acquire(ctx, "prod", "b", 3, 5*time.Second); err != nil {
		t.Fatalf("after release: %v", err)
	}
}
