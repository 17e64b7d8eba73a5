package ecxsim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// A service answers HTTPS as well as HTTP on each of its addresses, so that an https probe
// works too: a connection whose first byte opens a TLS handshake record is served over TLS with a
// self-signed certificate for every serve address of the simulator (probes do not verify it).

// tlsRecordHandshake is the first byte of a TLS ClientHello.
const tlsRecordHandshake = 0x16

// serviceTLS returns the TLS configuration of the services, generating its certificate at the
// first call.
func (s *Sim) serviceTLS() (*tls.Config, error) {
	s.serveTLSOnce.Do(func() {
		cert, err := serviceCert(s.cfg)
		if err != nil {
			s.serveTLSErr = err
			return
		}
		s.serveTLS = &tls.Config{
			Certificates: []tls.Certificate{*cert},
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"http/1.1"},
		}
	})
	return s.serveTLS, s.serveTLSErr
}

// serviceCert creates a self-signed certificate for the IPs of every serve address of cfg,
// 127.0.0.1, ::1 and localhost.
func serviceCert(cfg Config) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("service tls: generate key: %w", err)
	}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	seen := map[netip.Addr]bool{netip.MustParseAddr("127.0.0.1"): true, netip.IPv6Loopback(): true}
	for _, cl := range cfg.Clusters {
		for _, g := range cl.Groups {
			for _, a := range g.Serve {
				host, _, err := net.SplitHostPort(a)
				if err != nil {
					continue
				}
				ip, err := netip.ParseAddr(host)
				if err != nil || seen[ip.WithZone("")] {
					continue
				}
				seen[ip.WithZone("")] = true
				ips = append(ips, ip.WithZone("").AsSlice())
			}
		}
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serialNumber(),
		Subject:      pkix.Name{CommonName: "ecxsim service", Organization: []string{"ecxsim"}},
		NotBefore:    now.Add(-clockMargin),
		NotAfter:     now.Add(caValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("service tls: create certificate: %w", err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// sniffListener hands out connections that decide at their first byte between TLS and plain
// HTTP.
type sniffListener struct {
	net.Listener
	cfg *tls.Config
}

func (l sniffListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &sniffConn{Conn: c, cfg: l.cfg}, nil
}

// sniffConn reads its first byte from the raw connection, then reads and writes through TLS when
// it opens a handshake record and directly otherwise. Deadlines apply to the raw connection
// (which is what tls.Conn does as well).
type sniffConn struct {
	net.Conn
	cfg *tls.Config

	mu    sync.Mutex
	inner net.Conn // nil until the first byte is read
}

func (c *sniffConn) conn() net.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inner
}

func (c *sniffConn) Read(p []byte) (int, error) {
	inner := c.conn()
	if inner == nil {
		var b [1]byte
		n, err := c.Conn.Read(b[:])
		if n == 0 {
			return 0, err
		}
		var pc net.Conn = &prefixConn{Conn: c.Conn, prefix: b[:]}
		if b[0] == tlsRecordHandshake {
			pc = tls.Server(pc, c.cfg)
		}
		c.mu.Lock()
		c.inner = pc
		c.mu.Unlock()
		inner = pc
	}
	return inner.Read(p)
}

func (c *sniffConn) Write(p []byte) (int, error) {
	if inner := c.conn(); inner != nil {
		return inner.Write(p)
	}
	return c.Conn.Write(p)
}

// Close closes the raw connection without a TLS close_notify: HTTP/1.1 frames its responses
// itself, and a close must not wait on a peer that does not read.
func (c *sniffConn) Close() error { return c.Conn.Close() }

// prefixConn returns prefix before what the connection reads.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
