package controller_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// restRequest is one request a restProxy saw.
type restRequest struct {
	Method, Path, Body string
}

// restProxy stands between the masters and one simulated ECX server (on 127.0.0.1): it records
// every request, and while lyingStops is on it answers every group stop itself with ECX's success
// envelope and forwards nothing, like an ECX that accepts a stop and does not carry it out.
type restProxy struct {
	srv *httptest.Server

	mu         sync.Mutex
	reqs       []restRequest
	lyingStops bool
}

func newRESTProxy(t *testing.T, upstream string) *restProxy {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	p := &restProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		p.mu.Lock()
		p.reqs = append(p.reqs, restRequest{Method: r.Method, Path: r.URL.Path, Body: string(body)})
		lie := p.lyingStops && r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/api/v1/groups/") && strings.HasSuffix(r.URL.Path, "/stop")
		p.mu.Unlock()
		if lie {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"result":{"code":0,"message":""}}`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// URL is the proxy's base URL, registered as the server's URL in the masters.
func (p *restProxy) URL() string { return p.srv.URL }

func (p *restProxy) requests() []restRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]restRequest(nil), p.reqs...)
}

func (p *restProxy) setLyingStops(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lyingStops = on
}

// restRequests returns every request the masters sent to member's servers.
func (e *env) restRequests(member string) []restRequest {
	var out []restRequest
	for _, p := range e.proxies[member] {
		out = append(out, p.requests()...)
	}
	return out
}

// setLyingStops makes every server of member accept group stops and do nothing (on).
func (e *env) setLyingStops(member string, on bool) {
	for _, p := range e.proxies[member] {
		p.setLyingStops(on)
	}
}
