package probe_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/probe"
)

func TestParseTarget(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in     string
		want   probe.Target
		errHas string
	}{
		{in: "none", want: probe.Target{Kind: "none"}},
		{in: "tcp:5432", want: probe.Target{Kind: "tcp", Port: 5432}},
		{in: "http://:8080/health", want: probe.Target{Kind: "http", Port: 8080, Path: "/health", StatusMin: 200, StatusMax: 399}},
		{in: "https://:8443", want: probe.Target{Kind: "https", Port: 8443, Path: "/", StatusMin: 200, StatusMax: 399}},
		{in: "http:///ready?x=1", want: probe.Target{Kind: "http", Port: 80, Path: "/ready?x=1", StatusMin: 200, StatusMax: 399}},
		{in: "https://", want: probe.Target{Kind: "https", Port: 443, Path: "/", StatusMin: 200, StatusMax: 399}},
		{in: "tcp:0", errHas: "not a number in 1-65535"},
		{in: "tcp:http", errHas: "not a number in 1-65535"},
		{in: "http://web:80/", errHas: "leave the host out"},
		{in: "http://:80/a b", errHas: "may not contain spaces"},
		{in: "icmp", errHas: "is not understood"},
		{in: "", errHas: "is not understood"},
	} {
		got, err := probe.ParseTarget(tc.in)
		switch {
		case tc.errHas != "":
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("ParseTarget(%q) = %v, %v; want an error containing %q", tc.in, got, err, tc.errHas)
			}
		case err != nil:
			t.Errorf("ParseTarget(%q): %v", tc.in, err)
		case got != tc.want:
			t.Errorf("ParseTarget(%q) = %+v, want %+v", tc.in, got, tc.want)
		default:
			if again, err := probe.ParseTarget(got.String()); err != nil || again != got {
				t.Errorf("ParseTarget(%q).String() = %q does not parse back: %+v, %v", tc.in, got.String(), again, err)
			}
		}
	}
}

func TestParseStatus(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][2]uint32{"200": {200, 200}, "200-299": {200, 299}, " 100 - 599 ": {100, 599}} {
		lo, hi, err := probe.ParseStatus(in)
		if err != nil || lo != want[0] || hi != want[1] {
			t.Errorf("ParseStatus(%q) = %d, %d, %v; want %v", in, lo, hi, err, want)
		}
	}
	for _, in := range []string{"", "ok", "99", "600", "300-200", "200-"} {
		if _, _, err := probe.ParseStatus(in); err == nil || !strings.Contains(err.Error(), "within 100-599") {
			t.Errorf("ParseStatus(%q) = %v, want an error", in, err)
		}
	}
}

// listen returns a listener on 127.0.0.1 and its port.
func listen(t *testing.T) (net.Listener, uint32) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	_, p, _ := net.SplitHostPort(l.Addr().String())
	port, _ := strconv.Atoi(p)
	return l, uint32(port)
}

// freePort returns a port nothing listens on (it was free a moment ago).
func freePort(t *testing.T) uint32 {
	t.Helper()
	l, port := listen(t)
	l.Close()
	return port
}

func TestCheck_TCP(t *testing.T) {
	t.Parallel()
	p := probe.New()
	ctx := context.Background()
	l, port := listen(t)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if err := p.Check(ctx, probe.Target{Kind: "tcp", Port: port}, "127.0.0.1", time.Second); err != nil {
		t.Errorf("a listening port: %v", err)
	}
	down := freePort(t)
	err := p.Check(ctx, probe.Target{Kind: "tcp", Port: down}, "127.0.0.1", time.Second)
	if err == nil || !strings.Contains(err.Error(), "connect 127.0.0.1:"+strconv.Itoa(int(down))) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("a closed port: %v, want connection refused", err)
	}
	if err := p.Check(ctx, probe.Target{Kind: "tcp", Port: port}, "web.example", time.Second); err == nil || !strings.Contains(err.Error(), "not an IP address") {
		t.Errorf("a host name: %v", err)
	}
}

func TestCheck_HTTP(t *testing.T) {
	t.Parallel()
	p := probe.New()
	ctx := context.Background()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.WriteHeader(http.StatusNoContent)
		case "/redirect":
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		case "/slow":
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	_, ps, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	port, _ := strconv.Atoi(ps)
	target := func(path string, lo, hi uint32) probe.Target {
		return probe.Target{Kind: "http", Port: uint32(port), Path: path, StatusMin: lo, StatusMax: hi}
	}
	if err := p.Check(ctx, target("/ok", 200, 299), "127.0.0.1", time.Second); err != nil {
		t.Errorf("204 within 200-299: %v", err)
	}
	if err := p.Check(ctx, target("/redirect", 200, 399), "127.0.0.1", time.Second); err != nil {
		t.Errorf("a redirect is an answer, not followed: %v", err)
	}
	if err := p.Check(ctx, target("/down", 200, 399), "127.0.0.1", time.Second); err == nil || !strings.Contains(err.Error(), "status 503, expected 200-399") {
		t.Errorf("503: %v", err)
	}
	start := time.Now()
	err := p.Check(ctx, target("/slow", 200, 399), "127.0.0.1", 200*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "no answer within the probe timeout") {
		t.Errorf("a server that does not answer: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the timeout of 200ms took %v", took)
	}
}

func TestCheck_HTTPSDoesNotVerifyTheCertificate(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(srv.Close)
	_, ps, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "https://"))
	port, _ := strconv.Atoi(ps)
	if err := probe.New().Check(context.Background(), probe.Target{Kind: "https", Port: uint32(port), Path: "/", StatusMin: 200, StatusMax: 399}, "127.0.0.1", time.Second); err != nil {
		t.Errorf("https with a self-signed certificate: %v", err)
	}
}

// BenchmarkCheck_TCP measures one TCP probe of a local listener: the cost the leader pays per
// probe (bench/probe runs 10,000 workloads at 1s for the CPU per second).
func BenchmarkCheck_TCP(b *testing.B) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, ps, _ := net.SplitHostPort(l.Addr().String())
	port, _ := strconv.Atoi(ps)
	p, t := probe.New(), probe.Target{Kind: "tcp", Port: uint32(port)}
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Check(context.Background(), t, "127.0.0.1", time.Second); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheck_HTTP(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	_, ps, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	port, _ := strconv.Atoi(ps)
	p, t := probe.New(), probe.Target{Kind: "http", Port: uint32(port), Path: "/", StatusMin: 200, StatusMax: 399}
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Check(context.Background(), t, "127.0.0.1", time.Second); err != nil {
			b.Fatal(err)
		}
	}
}
