package ecxclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// TransportPool hands out keep-alive HTTP transports shared by many Clients:
// one *http.Transport per TLS profile (system roots, a given CA file, or
// verification skipped), so that members with the same profile share
// connections and members with a private CA never weaken anyone else's TLS.
// It is safe for concurrent use.
type TransportPool struct {
	mu         sync.Mutex
	transports map[tlsKey]*http.Transport
}

type tlsKey struct {
	caFile   string // absolute path of the CA file; "": system roots
	insecure bool
}

// NewTransportPool returns an empty pool.
func NewTransportPool() *TransportPool {
	return &TransportPool{transports: make(map[tlsKey]*http.Transport)}
}

// defaultPool is used by Clients created without WithTransport or
// WithTransportPool.
var defaultPool = NewTransportPool()

// transportFor returns the shared transport for cfg's TLS settings. The CA
// file is read now, so that a missing or empty file fails New; the
// transport reads it again whenever it changes (see caRoots).
func (p *TransportPool) transportFor(cfg MemberConfig) (*http.Transport, error) {
	if cfg.CAFile != "" && cfg.InsecureSkipVerify {
		return nil, fmt.Errorf("%w: ecx member %q: CAFile %q and InsecureSkipVerify are both set: a CA file verifies the servers' certificates, InsecureSkipVerify switches verification off; keep one (prefer the CA file)",
			ErrInvalidArgument, cfg.Name, cfg.CAFile)
	}
	var key tlsKey
	var roots *caRoots
	if cfg.CAFile != "" {
		path, err := filepath.Abs(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: CA file %q of member %q: %w", ErrInvalidArgument, cfg.CAFile, cfg.Name, err)
		}
		roots = &caRoots{path: path}
		if _, err := roots.pool(); err != nil {
			return nil, fmt.Errorf("ecx member %q: %w", cfg.Name, err)
		}
		key.caFile = path
	}
	key.insecure = cfg.InsecureSkipVerify
	p.mu.Lock()
	defer p.mu.Unlock()
	if t, ok := p.transports[key]; ok {
		return t, nil
	}
	var t *http.Transport
	if roots != nil {
		t = newTransport(nil)
		t.DialTLSContext = roots.dialer(t.DialContext)
	} else {
		t = newTransport(&tls.Config{
			InsecureSkipVerify: cfg.InsecureSkipVerify, //nolint:gosec // explicit per-member opt-in
			MinVersion:         tls.VersionTLS12,
		})
	}
	p.transports[key] = t
	return t, nil
}

// CloseIdleConnections closes idle connections of every transport in p.
func (p *TransportPool) CloseIdleConnections() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range p.transports {
		t.CloseIdleConnections()
	}
}

// newTransport builds a keep-alive transport tuned for polling many members:
// few connections per host, reused; no proxy from the environment (members
// are addressed directly, an accidental HTTP_PROXY would hide their state).
//
// The idle connections are bounded per host (MaxIdleConnsPerHost), not in
// total: a leader polls every member every second through one transport,
// and a total bound below the number of servers polled (it was 1,024) closes
// the least recently used idle connection whenever another is put back, so
// that from that many members on, most polls dialed a new connection (and
// its two goroutines) and reset it after one answer. A member's poll keeps
// one connection to the server that answers; operations and waits may open
// a few more, of which up to 4 stay idle for IdleConnTimeout.
func newTransport(tc *tls.Config) *http.Transport {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext:           resetOnClose(d.DialContext),
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   5 * time.Second,
		MaxIdleConns:          0, // no total bound: see above
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: 0, // bounded by the per-call deadline instead
		ForceAttemptHTTP2:     false,
	}
}

// resetOnClose makes every connection dialed by dial end with a reset (SO_LINGER 0) instead of
// a FIN. A call given up on (its deadline passed, its operation cancelled because the member was
// declared down, the master exiting) closes its connection; had the request not reached the
// member, a FIN would leave it in the kernel's send queue, retransmitted until the link comes
// back and then carried out: a start delivered after the masters started the group on another
// member. A reset discards it. The transports of a TransportPool dial through it; a transport
// given with WithTransport is the caller's to configure.
func resetOnClose(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if tc, ok := c.(*net.TCPConn); ok {
			if err := tc.SetLinger(0); err != nil {
				_ = c.Close()
				return nil, fmt.Errorf("connection to %s: set SO_LINGER 0 (reset on close): %w", addr, err)
			}
		}
		return c, nil
	}
}

// tlsHandshakeTimeout bounds a TLS handshake of a CA-file transport, as
// TLSHandshakeTimeout does for the others (it does not apply to
// DialTLSContext).
const tlsHandshakeTimeout = 5 * time.Second

// caRoots is a CA file that verifies servers' certificates. Its pool is
// read again whenever the file changes (size, modification time or
// inode), so that a CA replaced on the masters, a renewed self-signed
// certificate or a restarted simulator with a new CA is trusted from the
// next connection on, without rebuilding the clients that use it.
type caRoots struct {
	path string

	mu   sync.Mutex
	stat os.FileInfo // of the file last loaded; nil before the first load
	pem  []byte
	cp   *x509.CertPool
}

// pool returns the certificate pool of the file as it is now. It fails
// with an error that names the file when it cannot be read or holds no
// PEM certificate (wrapping ErrInvalidArgument then).
func (r *caRoots) pool() (*x509.CertPool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fi, err := os.Stat(r.path)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	if r.stat != nil && os.SameFile(fi, r.stat) && fi.Size() == r.stat.Size() && fi.ModTime().Equal(r.stat.ModTime()) {
		return r.cp, nil
	}
	data, err := os.ReadFile(r.path)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	if r.cp != nil && bytes.Equal(data, r.pem) {
		r.stat = fi
		return r.cp, nil
	}
	cp := x509.NewCertPool()
	if !cp.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%w: CA file %q holds no PEM certificate", ErrInvalidArgument, r.path)
	}
	r.stat, r.pem, r.cp = fi, data, cp
	return cp, nil
}

// dialer returns a DialTLSContext that connects with dial and verifies the
// server against the file's current pool, for the host of the URL (Go's
// standard verification, with the pool chosen per connection).
func (r *caRoots) dialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		cp, err := r.pool()
		if err != nil {
			return nil, err
		}
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		raw, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		conn := tls.Client(raw, &tls.Config{RootCAs: cp, ServerName: host, MinVersion: tls.VersionTLS12})
		hctx, cancel := context.WithTimeout(ctx, tlsHandshakeTimeout)
		defer cancel()
		if err := conn.HandshakeContext(hctx); err != nil {
			_ = raw.Close()
			return nil, err
		}
		return conn, nil
	}
}

// tlsAdvice returns what an operator should check after the TLS failure
// err (with a leading "; "), or "" when err is no TLS failure.
func tlsAdvice(err error) string {
	var (
		unknown  x509.UnknownAuthorityError
		host     x509.HostnameError
		invalid  x509.CertificateInvalidError
		noTLS    tls.RecordHeaderError
		verifyCA *tls.CertificateVerificationError
	)
	switch {
	case errors.As(err, &unknown):
		return "; the server's certificate is not signed by a CA this member trusts: give the member the CA that signed it (ca_file, csetctl member add --ca-file; ECX uses self-signed certificates) or, as an explicit choice, switch verification off for this member (insecure_skip_verify)"
	case errors.As(err, &host):
		return "; the server's certificate does not name the host of this URL: use a URL with a host name or address the certificate lists"
	case errors.As(err, &invalid):
		return "; the server's certificate cannot be used (expired, not yet valid or not for servers): renew it, or check the clocks"
	case errors.As(err, &verifyCA):
		return "; the server's certificate could not be verified: check the member's CA file (ca_file)"
	case errors.As(err, &noTLS), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return "; the server does not speak TLS on this port: use an http:// URL, or enable https in the cluster's API settings"
	}
	return ""
}
