package ecxclient

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/cset-project/cset/internal/testutil"
	"github.com/hashicorp/go-hclog"
)

// testLogger sends client logs to t.Log.
func testLogger(t testing.TB) hclog.Logger {
	t.Helper()
	return testutil.LoggerAt(t, t.Name(), hclog.Info)
}

// seenRequest is what a fake server recorded about one request.
type seenRequest struct {
	Method, Path, Query, ContentType, Auth string
	Body                                   string
	HasBody                                bool
}

// fakeServer is an httptest server on 127.0.0.1 answering with a handler
// and recording every request.
type fakeServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []seenRequest
}

func newFake(t testing.TB, h http.HandlerFunc) *fakeServer {
	t.Helper()
	f := &fakeServer{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, seenRequest{
			Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery,
			ContentType: r.Header.Get("Content-Type"), Auth: r.Header.Get("Authorization"),
			Body: string(b), HasBody: len(b) > 0 || r.ContentLength > 0 || len(r.TransferEncoding) > 0,
		})
		f.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(b))
		h(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeServer) requests() []seenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seenRequest(nil), f.reqs...)
}

// reply writes status and body.
func reply(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// constHandler always answers status and body.
func constHandler(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { reply(w, status, body) }
}

// envelopeOK is an accepted operation.
const envelopeOK = `{"result":{"code":0,"message":""}}`

// okWith returns a success envelope with extra payload fields.
func okWith(payload map[string]any) string {
	m := map[string]any{"result": map[string]any{"code": 0, "message": ""}}
	for k, v := range payload {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// deadURL returns an http URL on 127.0.0.1 where nothing listens (a port
// that was just free).
func deadURL(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// silentURL returns a URL whose server accepts connections and reads the
// request but never answers until the test ends.
func silentURL(t testing.TB) (string, *fakeServer) {
	t.Helper()
	done := make(chan struct{})
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-done:
		}
	})
	t.Cleanup(func() { close(done) })
	return f.URL, f
}

// newTestClient builds a client for urls with test credentials and its own
// transport pool (so tests do not share connections).
func newTestClient(t testing.TB, urls []string, mut ...func(*MemberConfig)) *Client {
	t.Helper()
	cfg := MemberConfig{Name: "m1", URLs: urls, User: "admin", Password: "secret", Timeout: 2 * time.Second}
	for _, m := range mut {
		m(&cfg)
	}
	c, err := New(cfg, WithLogger(testLogger(t)), WithTransportPool(NewTransportPool()))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}
