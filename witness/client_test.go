package witness

import (
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestClient_TLS(t *testing.T) {
	t.Parallel()
	srv := newServer(t, ServerConfig{DataDir: t.TempDir(), LeaseToken: "tok", HeartbeatToken: "hb", RestartHold: -1})
	hs := httptest.NewTLSServer(srv.Handler())
	t.Cleanup(hs.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hs.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	c, err := NewClient(ClientConfig{URL: hs.URL, Token: "tok", CAFile: caFile})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping over TLS with the CA: %v", err)
	}
	if _, err := c.Acquire(ctx, "prod", "a", 1, 2*time.Second); err != nil {
		t.Fatalf("Acquire over TLS: %v", err)
	}

	untrusted, err := NewClient(ClientConfig{URL: hs.URL, Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	if err := untrusted.Ping(ctx); err == nil {
		t.Fatalf("Ping without the CA succeeded")
	}
	insecure, err := NewClient(ClientConfig{URL: hs.URL, InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := insecure.Ping(ctx); err != nil {
		t.Fatalf("Ping with InsecureSkipVerify: %v", err)
	}
}

func TestNewClient_Validation(t *testing.T) {
	t.Parallel()
	empty := filepath.Join(t.TempDir(), "empty.pem")
	if err := os.WriteFile(empty, []byte("no certificates here"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]ClientConfig{
		"no URL":              {},
		"no scheme":           {URL: "witness:7190"},
		"ftp":                 {URL: "ftp://witness"},
		"query":               {URL: "http://witness/?a=b"},
		"user":                {URL: "http://u:p@witness"},
		"negative timeout":    {URL: "http://witness", Timeout: -time.Second},
		"HTTPClient and CA":   {URL: "http://witness", HTTPClient: &http.Client{}, CAFile: empty},
		"missing CA file":     {URL: "https://witness", CAFile: filepath.Join(t.TempDir(), "none.pem")},
		"CA file without PEM": {URL: "https://witness", CAFile: empty},
	} {
		if _, err := NewClient(cfg); err == nil {
			t.Errorf("%s: NewClient succeeded", name)
		}
	}
}

// The witness may sit behind a reverse proxy under a path prefix.
func TestClient_PathPrefixAndEscaping(t *testing.T) {
	t.Parallel()
	srv := newServer(t, ServerConfig{DataDir: t.TempDir(), RestartHold: -1})
	mux := http.NewServeMux()
	mux.Handle("/witness/", http.StripPrefix("/witness", srv.Handler()))
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	c, err := NewClient(ClientConfig{URL: hs.URL + "/witness/"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	name := "ECX cluster #1 ü?"
	if err := c.Heartbeat(ctx, name, "srv 1"); err != nil {
		t.Fatalf("Heartbeat: %v", err)
	}
	seen, err := c.Cluster(ctx, name)
	if err != nil || seen.Cluster != name || len(seen.Servers) != 1 {
		t.Fatalf("Cluster(%q) = %+v, %v", name, seen, err)
	}
}

func TestClient_Errors(t *testing.T) {
	t.Parallel()
	srv := newServer(t, ServerConfig{DataDir: t.TempDir(), RestartHold: -1})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	c, err := NewClient(ClientConfig{URL: hs.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := c.Acquire(ctx, "prod", "a", 9, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	res, err := c.Acquire(ctx, "prod", "b", 10, 3*time.Second)
	var refused *RefusedError
	if !errors.As(err, &refused) || !errors.Is(err, ErrLeaseRefused) {
		t.Fatalf("refusal: %v", err)
	}
	if res.Granted || res.Holder != "a" || res.Term != 9 || res.Reason != ReasonHeld || res.Remaining <= 0 || res.Remaining > 3*time.Second || !res.HeldUntil.IsZero() {
		t.Fatalf("refusal result = %+v", res)
	}
	if refused.Holder != "a" || refused.Term != 9 || !strings.Contains(err.Error(), "held") {
		t.Fatalf("RefusedError = %+v (%v)", refused, err)
	}
	var se *StatusError
	if _, err := c.Acquire(ctx, "prod", "a", 9, time.Hour); !errors.As(err, &se) || se.Code != 400 || !strings.Contains(se.Message, "ttl_ms") {
		t.Fatalf("bad TTL: %v", err)
	}
	if err := c.Heartbeat(ctx, "", "s"); !errors.As(err, &se) || se.Code != 400 {
		t.Fatalf("empty cluster: %v", err)
	}
	hs.Close()
	if err := c.Ping(ctx); err == nil {
		t.Fatalf("Ping of a stopped server succeeded")
	}
	if _, err := c.Acquire(ctx, "prod", "a", 9, 3*time.Second); err == nil || errors.As(err, &se) {
		t.Fatalf("Acquire of a stopped server: %v, want a transport error", err)
	}
}

func TestClient_Timeout(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(block); hs.Close() })
	c, err := NewClient(ClientConfig{URL: hs.URL, Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := c.Heartbeat(t.Context(), "c", "s"); err == nil {
		t.Fatalf("Heartbeat against a hung server succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Timeout not applied: the call took %s", d)
	}
}
