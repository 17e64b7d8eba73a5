// Package probe checks that clients can reach a workload where it runs: a TCP connect or an
// HTTP(S) request to each of its addresses on the member where it is placed (docs/probe.md).
//
// The masters run the probes, so a probe tells whether the masters' network reaches the
// address; place the masters where the clients are. A probe checks reachability, not the
// service's identity: https probes do not verify the certificate.
package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Kinds of probe.
const (
	KindNone  = "none"
	KindTCP   = "tcp"
	KindHTTP  = "http"
	KindHTTPS = "https"
)

// Defaults of a probe's timing, applied where a field is zero.
const (
	DefaultTimeout        = 2 * time.Second
	DefaultInterval       = 5 * time.Second
	DefaultHealthyAfter   = 1
	DefaultUnhealthyAfter = 3
	DefaultGrace          = 30 * time.Second
	DefaultStatusMin      = 200
	DefaultStatusMax      = 399
	// MaxTimeout bounds a probe's timeout, MaxInterval its interval, MaxGrace its grace and
	// MaxCount healthy_after and unhealthy_after.
	MaxTimeout  = time.Minute
	MaxInterval = time.Hour
	MaxGrace    = time.Hour
	MaxCount    = 100
)

// Target is what one probe checks on each address: a TCP connect to Port, or an HTTP(S) GET
// of Path on Port whose status must be in [StatusMin, StatusMax].
type Target struct {
	Kind      string
	Port      uint32
	Path      string
	StatusMin uint32
	StatusMax uint32
}

// ParseTarget parses "none", "tcp:PORT", "http://:PORT/PATH" or "https://:PORT/PATH". The host
// is left out on purpose: the masters probe each of the workload's addresses on the member
// where it runs. An http(s) target without a port uses 80 or 443, without a path "/".
func ParseTarget(s string) (Target, error) {
	const forms = `use "none", "tcp:PORT", "http://:PORT/PATH" or "https://:PORT/PATH"`
	switch {
	case s == KindNone:
		return Target{Kind: KindNone}, nil
	case strings.HasPrefix(s, "tcp:"):
		port, err := parsePort(strings.TrimPrefix(s, "tcp:"))
		if err != nil {
			return Target{}, fmt.Errorf("probe %q: %v: %s", s, err, forms)
		}
		return Target{Kind: KindTCP, Port: port}, nil
	case strings.HasPrefix(s, "http://"), strings.HasPrefix(s, "https://"):
		kind, rest, _ := strings.Cut(s, "://")
		hostport, path, hasPath := strings.Cut(rest, "/")
		path = "/" + path
		if !hasPath {
			path = "/"
		}
		if !strings.HasPrefix(hostport, ":") && hostport != "" {
			return Target{}, fmt.Errorf("probe %q names host %q: leave the host out (%s); the masters probe each address of the workload on the member where it runs", s, hostport, forms)
		}
		port := uint32(80)
		if kind == KindHTTPS {
			port = 443
		}
		if hostport != "" {
			p, err := parsePort(strings.TrimPrefix(hostport, ":"))
			if err != nil {
				return Target{}, fmt.Errorf("probe %q: %v: %s", s, err, forms)
			}
			port = p
		}
		if strings.ContainsAny(path, " \t\r\n#") {
			return Target{}, fmt.Errorf("probe %q: the path may not contain spaces, control characters or '#'", s)
		}
		return Target{Kind: kind, Port: port, Path: path, StatusMin: DefaultStatusMin, StatusMax: DefaultStatusMax}, nil
	}
	return Target{}, fmt.Errorf("probe %q is not understood: %s", s, forms)
}

func parsePort(s string) (uint32, error) {
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil || p == 0 {
		return 0, fmt.Errorf("port %q is not a number in 1-65535", s)
	}
	return uint32(p), nil
}

// ParseStatus parses an expected HTTP status range: "200", "200-399".
func ParseStatus(s string) (lo, hi uint32, err error) {
	a, b, isRange := strings.Cut(s, "-")
	if !isRange {
		b = a
	}
	l, err1 := strconv.ParseUint(strings.TrimSpace(a), 10, 16)
	h, err2 := strconv.ParseUint(strings.TrimSpace(b), 10, 16)
	if err1 != nil || err2 != nil || l < 100 || h > 599 || l > h {
		return 0, 0, fmt.Errorf("expected status %q is not a status or a range of statuses within 100-599 such as 200-399", s)
	}
	return uint32(l), uint32(h), nil
}

// String is the target in the form ParseTarget reads.
func (t Target) String() string {
	switch t.Kind {
	case KindTCP:
		return fmt.Sprintf("tcp:%d", t.Port)
	case KindHTTP, KindHTTPS:
		return fmt.Sprintf("%s://:%d%s", t.Kind, t.Port, t.Path)
	}
	return KindNone
}

// StatusRange is the expected status range as ParseStatus reads it.
func (t Target) StatusRange() string {
	if t.StatusMin == t.StatusMax {
		return strconv.Itoa(int(t.StatusMin))
	}
	return fmt.Sprintf("%d-%d", t.StatusMin, t.StatusMax)
}

// Prober runs probes. Its zero value is not usable: create it with New. It is safe for
// concurrent use and keeps no connection open between probes: each probe opens a new
// connection, as a new client would.
type Prober struct {
	dialer net.Dialer
	client *http.Client
}

// New returns a Prober.
func New() *Prober {
	p := &Prober{}
	tr := &http.Transport{
		DialContext:            p.dialer.DialContext,
		DisableKeepAlives:      true,
		TLSClientConfig:        &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // a probe checks reachability, not identity (package doc)
		TLSHandshakeTimeout:    MaxTimeout,
		MaxResponseHeaderBytes: 64 << 10,
		DisableCompression:     true,
		Proxy:                  nil, // probes go straight to the workload, never through a proxy
	}
	p.client = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return p
}

// Check probes addr (an IP address) with t within timeout. It returns nil when the address
// answers as t expects, else an error that says what failed ("connect 10.0.0.1:80: connection
// refused", "GET http://10.0.0.1:8080/health: status 503, expected 200-399").
func (p *Prober) Check(ctx context.Context, t Target, addr string, timeout time.Duration) error {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return fmt.Errorf("address %q is not an IP address", addr)
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hostport := netip.AddrPortFrom(ip, uint16(t.Port)).String()
	switch t.Kind {
	case KindTCP:
		c, err := p.dialer.DialContext(ctx, "tcp", hostport)
		if err != nil {
			return fmt.Errorf("connect %s: %w", hostport, cause(ctx, err))
		}
		// Close with a reset, as load balancers' TCP checks do: a probe every second to
		// thousands of addresses would otherwise leave as many sockets in TIME_WAIT.
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		return c.Close()
	case KindHTTP, KindHTTPS:
		url := t.Kind + "://" + hostport + t.Path
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("GET %s: %w", url, err)
		}
		req.Header.Set("User-Agent", "cset-probe/1")
		resp, err := p.client.Do(req)
		if err != nil {
			return fmt.Errorf("GET %s: %w", url, cause(ctx, unwrapURL(err)))
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		_ = resp.Body.Close()
		if uint32(resp.StatusCode) < t.StatusMin || uint32(resp.StatusCode) > t.StatusMax {
			return fmt.Errorf("GET %s: status %d, expected %s", url, resp.StatusCode, t.StatusRange())
		}
		return nil
	}
	return fmt.Errorf("probe kind %q cannot be run", t.Kind)
}

// cause turns a context deadline into "no answer within the timeout".
func cause(ctx context.Context, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return errors.New("no answer within the probe timeout")
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}

func unwrapURL(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}
