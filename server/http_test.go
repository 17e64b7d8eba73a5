package server_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/internal/clustertest"
	"github.com/cset-project/cset/internal/testutil"
	"github.com/cset-project/cset/pki"
	"github.com/cset-project/cset/server"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// httpsClient trusts the CA of dir and, with clientCert, presents its admin client certificate.
func httpsClient(t *testing.T, dir string, clientCert bool) *http.Client {
	t.Helper()
	pool, err := pki.LoadCAPool(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{RootCAs: pool, ServerName: "localhost"}
	if clientCert {
		c, err := tls.LoadX509KeyPair(filepath.Join(dir, "client-admin.pem"), filepath.Join(dir, "client-admin-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	tr := &http.Transport{TLSClientConfig: cfg}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// get sends GET url with an optional bearer token and returns the status and body.
func get(t *testing.T, c *http.Client, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestHTTP_SecuredMaster (issue 13 item 10): a master with TLS and -auth serves /metrics and
// /v1/health over HTTPS only; with -metrics-auth token-or-cert, /metrics answers a read token or
// a client certificate of the CA, and refuses no credential, an unknown token and a guard token;
// /v1/health stays open; and the standard gRPC health check answers SERVING without a token, for
// the whole server and for the API's service name.
func TestHTTP_SecuredMaster(t *testing.T) {
	t.Parallel()
	dir := pkiDir(t, "m1")
	m1, _, dataDir := tlsMaster(t, "m1", dir, "", func(c *config.Config) {
		c.Auth, c.HTTPAddr, c.HTTP.MetricsAuth = true, "127.0.0.1:0", config.MetricsAuthTokenOrCert
	})
	var admin string
	testutil.Eventually(t, 15*time.Second, func() error {
		b, err := os.ReadFile(filepath.Join(dataDir, server.BootstrapTokenFile))
		admin = strings.TrimSpace(string(b))
		return err
	})
	api := tlsClient(t, m1.Addrs().GRPC, dir, false, admin)
	reader := createToken(t, api, admin, "prometheus", "read")
	guard := createToken(t, api, admin, "guards", "guard")
	base := "https://" + m1.Addrs().HTTP

	plain := &http.Client{Timeout: 10 * time.Second}
	if resp, err := plain.Get("http://" + m1.Addrs().HTTP + "/v1/health"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP /v1/health answered 200 on a TLS master")
		}
	}
	anon, withCert := httpsClient(t, dir, false), httpsClient(t, dir, true)
	if code, body := get(t, anon, base+"/v1/health", ""); code != http.StatusOK || !strings.Contains(body, `"node_id":"m1"`) {
		t.Errorf("/v1/health over HTTPS without credentials: %d %s", code, body)
	}
	for _, tc := range []struct {
		name   string
		client *http.Client
		token  string
		code   int
		has    string
	}{
		{"no credential", anon, "", 401, "needs a cset API token"},
		{"unknown token", anon, "cset_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 401, "not recognised"},
		{"not a cset token", anon, "hunter2", 401, "malformed token"},
		{"guard token", anon, guard, 403, "role guard"},
		{"read token", anon, reader, 200, "cset_raft_term"},
		{"client certificate", withCert, "", 200, "cset_http_connections_max 256"},
	} {
		if code, body := get(t, tc.client, base+"/metrics", tc.token); code != tc.code || !strings.Contains(body, tc.has) {
			t.Errorf("/metrics with %s: %d %.200q; want %d containing %q", tc.name, code, body, tc.code, tc.has)
		}
	}

	pool, err := pki.LoadCAPool(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(m1.Addrs().GRPC, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "localhost"})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, svc := range []string{"", "cset.api.v1.ClusterSetService"} {
		r, err := healthpb.NewHealthClient(conn).Check(clustertest.Ctx(t), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("grpc.health.v1 Check(%q) without a token: %v %v, want SERVING", svc, r, err)
		}
	}
}

// TestHTTP_ConnectionLimits (issue 13 item 3): the master's HTTP port closes a keep-alive
// connection left idle for http.idle_timeout, keeps at most http.max_conns connections by
// closing idle ones as new ones arrive (its other timeouts are a minute here, so only the limit
// frees a slot), and still answers /v1/health meanwhile. Before, 300 idle connections were held
// 40 s and more.
func TestHTTP_ConnectionLimits(t *testing.T) {
	t.Parallel()
	cl := clustertest.New(t, 1, func(c *config.Config) {
		c.HTTPAddr = "127.0.0.1:0"
		c.HTTP = config.HTTPConfig{MetricsAuth: config.MetricsAuthNone, MaxConns: 8,
			ReadTimeout: time.Minute, WriteTimeout: time.Minute, IdleTimeout: 300 * time.Millisecond}
	})
	addr := cl.Nodes[0].Server.Addrs().HTTP

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "GET /v1/health HTTP/1.1\r\nHost: m\r\n\r\n")
	if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
		t.Fatalf("GET /v1/health: %v", err)
	} else {
		resp.Body.Close()
	}
	closed := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, c); close(closed) }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("an idle keep-alive connection is still open 30s after its answer (idle_timeout 300ms)")
	}

	const idle = 100
	var gone atomic.Int64
	for range idle {
		ic, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ic.Close() })
		go func() {
			if _, err := ic.Read(make([]byte, 1)); err != nil {
				gone.Add(1)
			}
		}()
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		if n := gone.Load(); n < idle-8 {
			return fmt.Errorf("the master closed %d of %d idle connections, want at least %d", n, idle, idle-8)
		}
		return nil
	})
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + addr + "/v1/health")
	if err != nil {
		t.Fatalf("/v1/health with the port full of idle connections: %v", err)
	}
	resp.Body.Close()
}
