package ecxclient

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
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
	caSum    [sha256.Size]byte // zero: system roots
	insecure bool
}

// NewTransportPool returns an empty pool.
func NewTransportPool() *TransportPool {
	return &TransportPool{transports: make(map[tlsKey]*http.Transport)}
}

// defaultPool is used by Clients created without WithTransport or
// WithTransportPool.
var defaultPool = NewTransportPool()

// DefaultTransportPool returns the package's shared pool.
func DefaultTransportPool() *TransportPool { return defaultPool }

// transportFor returns the shared transport for cfg's TLS settings. The CA
// file is read now; a changed file yields a new transport.
func (p *TransportPool) transportFor(cfg MemberConfig) (*http.Transport, error) {
	var key tlsKey
	var roots *x509.CertPool
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file of member %q: %w", cfg.Name, err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: CA file %q of member %q holds no PEM certificate", ErrInvalidArgument, cfg.CAFile, cfg.Name)
		}
		key.caSum = sha256.Sum256(pem)
	}
	key.insecure = cfg.InsecureSkipVerify
	p.mu.Lock()
	defer p.mu.Unlock()
	if t, ok := p.transports[key]; ok {
		return t, nil
	}
	t := newTransport(&tls.Config{
		RootCAs:            roots,
		InsecureSkipVerify: cfg.InsecureSkipVerify, //nolint:gosec // explicit per-member opt-in
		MinVersion:         tls.VersionTLS12,
	})
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
func newTransport(tc *tls.Config) *http.Transport {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext:           d.DialContext,
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   5 * time.Second,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: 0, // bounded by the per-call deadline instead
		ForceAttemptHTTP2:     false,
	}
}
