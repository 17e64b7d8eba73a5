package witness

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cset-project/cset/internal/testutil"
	"github.com/hashicorp/go-hclog"
)

// tWriter is the stderr of the child witness in persist_test.go. It sends each write to t.Log
// like testutil.Writer but cannot stop at the end of the test: persist_test.go makes it as a
// value, tWriter{t}, and reaps the child before the test ends.
type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) { return testutil.LogWrite(w.t, p) }

func testLogger(t testing.TB, name string) hclog.Logger {
	t.Helper()
	return testutil.Logger(t, name)
}

// memTransport serves client requests with an in-process handler, so clients work inside a
// testing/synctest bubble (no sockets). It can be cut (Down) to simulate a partition and can
// delay requests by a virtual duration before they reach the handler.
type memTransport struct {
	mu    sync.Mutex
	h     http.Handler
	delay time.Duration
	down  atomic.Bool
}

var errUnreachable = errors.New("memtransport: witness unreachable")

func (m *memTransport) set(h http.Handler) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.h = h
}

func (m *memTransport) setDelay(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.delay = d
}

func (m *memTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	m.mu.Lock()
	h, delay := m.h, m.delay
	m.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	if m.down.Load() || h == nil {
		return nil, errUnreachable
	}
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	if r.Body == nil {
		r.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// newServer starts a Server in dir and closes it when the test ends.
func newServer(t testing.TB, cfg ServerConfig) *Server {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t, "witness")
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// memClient returns a client that talks to the handler behind tr.
func memClient(t testing.TB, tr *memTransport, token string) *Client {
	t.Helper()
	c, err := NewClient(ClientConfig{URL: "http://witness.test", Token: token, HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}

// bed is one witness server in a synctest bubble with a client that reaches it in memory.
type bed struct {
	t   *testing.T
	dir string
	cfg ServerConfig
	srv *Server
	tr  *memTransport
	c   *Client
}

func newBed(t *testing.T, cfg ServerConfig) *bed {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.RestartHold == 0 {
		cfg.RestartHold = -1 // most tests start from an empty witness; restart tests set it
	}
	b := &bed{t: t, dir: cfg.DataDir, cfg: cfg, tr: &memTransport{}}
	b.srv = newServer(t, cfg)
	b.tr.set(b.srv.Handler())
	b.c = memClient(t, b.tr, cfg.LeaseToken)
	return b
}

// restart closes the server and starts a new one on the same data dir, with hold as RestartHold.
func (b *bed) restart(hold time.Duration) {
	b.t.Helper()
	if err := b.srv.Close(); err != nil {
		b.t.Fatalf("Close: %v", err)
	}
	cfg := b.cfg
	cfg.RestartHold = hold
	b.srv = newServer(b.t, cfg)
	b.tr.set(b.srv.Handler())
}

func (b *bed) acquire(holder string, term uint64, ttl time.Duration) (LeaseResult, error) {
	b.t.Helper()
	return b.c.Acquire(context.Background(), "prod", holder, term, ttl)
}

// mustGrant fails the test unless holder gets the lease.
func (b *bed) mustGrant(holder string, term uint64, ttl time.Duration) LeaseResult {
	b.t.Helper()
	res, err := b.acquire(holder, term, ttl)
	if err != nil || !res.Granted {
		b.t.Fatalf("Acquire(%s, %d) at %s: got %+v, %v; want granted", holder, term, time.Now().UTC().Format("15:04:05.000"), res, err)
	}
	return res
}

// mustRefuse fails the test unless holder is refused with reason.
func (b *bed) mustRefuse(holder string, term uint64, ttl time.Duration, reason string) *RefusedError {
	b.t.Helper()
	res, err := b.acquire(holder, term, ttl)
	var refused *RefusedError
	if !errors.As(err, &refused) || res.Granted {
		b.t.Fatalf("Acquire(%s, %d) at %s: got %+v, %v; want refused (%s)", holder, term, time.Now().UTC().Format("15:04:05.000"), res, err, reason)
	}
	if refused.Reason != reason {
		b.t.Fatalf("Acquire(%s, %d): refused for %q, want %q (%v)", holder, term, refused.Reason, reason, err)
	}
	return refused
}

// post sends body to path on the server behind the bed's transport with the lease token, and
// returns the status and body: for requests the Client cannot make (out-of-range fields).
func (b *bed) post(path, body string) (int, http.Header, string) {
	b.t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://witness.test"+path, strings.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	if b.cfg.LeaseToken != "" {
		req.Header.Set("Authorization", "Bearer "+b.cfg.LeaseToken)
	}
	resp, err := b.tr.RoundTrip(req)
	if err != nil {
		b.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(out)
}
