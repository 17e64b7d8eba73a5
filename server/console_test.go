package server_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/internal/testutil"
	"github.com/cset-project/cset/pki"
	"github.com/cset-project/cset/server"
)

// TestConsole_TLSAndVerifiedClients: with TLS that requires client certificates and -auth, the
// console (served over HTTPS) still reaches its master's API over the in-memory connection, with
// the browser's token; without a token it answers 401 itself: the master's certificate, which
// opens that connection, never stands in for a token.
func TestConsole_TLSAndVerifiedClients(t *testing.T) {
	dir := pkiDir(t, "m1")
	srv, _, dataDir := tlsMaster(t, "m1", dir, "", func(c *config.Config) {
		c.Auth, c.TLS.VerifyClients, c.HTTPAddr = true, true, "127.0.0.1:0"
	})
	var token string
	testutil.Eventually(t, 30*time.Second, func() error {
		b, err := os.ReadFile(filepath.Join(dataDir, server.BootstrapTokenFile))
		token = strings.TrimSpace(string(b))
		return err
	})
	pool, err := pki.LoadCAPool(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
	get := func(method, path, token string) (int, string) {
		t.Helper()
		var body io.Reader
		if method == "POST" {
			body = strings.NewReader(`{"admin":"draining"}`)
		}
		req, _ := http.NewRequest(method, "https://"+srv.Addrs().HTTP+path, body)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Cset-Console", "1")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("GET", "/ui/api/overview", token); code != 200 || !strings.Contains(body, `"served_by":"m1"`) {
		t.Errorf("overview with the bootstrap token over TLS: %d %s", code, body)
	}
	if code, body := get("GET", "/ui/api/overview", ""); code != 401 {
		t.Errorf("overview without a token: %d %s, want 401", code, body)
	}
	if code, body := get("POST", "/ui/api/members/nope/admin", ""); code != 401 {
		t.Errorf("an action without a token: %d %s, want 401", code, body)
	}
	if code, body := get("POST", "/ui/api/members/nope/admin", token); code != 404 {
		t.Errorf("an action with the admin token: %d %s, want 404 (no such member)", code, body)
	}
}
