package ecxsim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// TLSConfig makes the REST API of servers HTTPS, as an ECX cluster whose API tab says "https"
// (same port, self-signed certificates). The simulator generates a CA when it is created and
// gives every server its own certificate, signed by that CA, for the address it listens on.
type TLSConfig struct {
	// CAOut, when set, is the file the CA certificate (PEM) is written to by Start, before any
	// listener opens: clients verify the servers with it (ecxclient's CAFile, csetctl member add
	// --ca-file). Every Start generates a new CA and replaces the file (atomically, mode 0644).
	// Empty means the CA is only available from Sim.CACertPEM (or clients skip verification).
	CAOut string `yaml:"ca_out"`
	// Hosts are extra DNS names or IP addresses put in every server certificate, for clients
	// that reach the simulator by another name than its listen address. Every certificate
	// already names the server's bound IP address, its server name, "localhost", 127.0.0.1 and
	// ::1.
	Hosts []string `yaml:"hosts"`
}

// clone returns a copy of t that shares nothing with it (nil for nil).
func (t *TLSConfig) clone() *TLSConfig {
	if t == nil {
		return nil
	}
	c := *t
	c.Hosts = append([]string(nil), t.Hosts...)
	return &c
}

// ErrPlainHTTP is returned by CACertPEM for a cluster that serves plain HTTP.
var ErrPlainHTTP = errors.New("serves plain http: its configuration has no tls section")

// Validity of the generated certificates. A simulator runs for hours, not years; the margin
// before now absorbs clock differences between the simulator and its clients.
const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 2 * 365 * 24 * time.Hour
	clockMargin  = time.Hour
)

// simCA is a generated certificate authority and the server certificates it issued.
type simCA struct {
	cfg  TLSConfig
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte

	mu    sync.Mutex
	certs map[*simServer]*tls.Certificate // issued at a server's first bind, kept for its rebinds
}

// simTLS holds the CAs of a Sim; it is nil when no cluster serves HTTPS. Read-only after New
// (except the certificates each CA issues, which it guards itself).
type simTLS struct {
	byCluster map[*simCluster]*simCA
	all       []*simCA // distinct CAs, in configuration order (the global one first)
}

// newSimTLS generates the CA of cfg.TLS (shared by the clusters without their own) and one CA per
// cluster with its own tls section. It returns nil when nothing serves HTTPS.
func newSimTLS(cfg Config, clusters []*simCluster) (*simTLS, error) {
	t := &simTLS{byCluster: map[*simCluster]*simCA{}}
	var global *simCA
	if cfg.TLS != nil {
		ca, err := newCA("ecxsim CA", *cfg.TLS)
		if err != nil {
			return nil, err
		}
		global = ca
		t.all = append(t.all, ca)
	}
	for _, c := range clusters {
		ca := global
		if c.cfg.TLS != nil {
			var err error
			if ca, err = newCA("ecxsim CA of cluster "+c.cfg.Name, *c.cfg.TLS); err != nil {
				return nil, err
			}
			t.all = append(t.all, ca)
		}
		if ca != nil {
			t.byCluster[c] = ca
		}
	}
	if len(t.all) == 0 {
		return nil, nil
	}
	return t, nil
}

// caOf returns the CA of cluster c, or nil when c serves plain HTTP.
func (t *simTLS) caOf(c *simCluster) *simCA {
	if t == nil {
		return nil
	}
	return t.byCluster[c]
}

func newCA(commonName string, cfg TLSConfig) (*simCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tls: generate CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serialNumber(),
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"ecxsim"}},
		NotBefore:             now.Add(-clockMargin),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("tls: create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("tls: parse CA certificate: %w", err)
	}
	cfg.Hosts = append([]string(nil), cfg.Hosts...)
	return &simCA{
		cfg: cfg, cert: cert, key: key,
		pem:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		certs: map[*simServer]*tls.Certificate{},
	}, nil
}

func serialNumber() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		// crypto/rand does not fail on the supported platforms (it panics itself if it would).
		panic(fmt.Sprintf("ecxsim: random serial number: %v", err))
	}
	return n
}

// serverCert returns the certificate of srv, issuing it at the first call for the address srv is
// bound to (later binds reuse that address, so the certificate stays valid for it).
func (ca *simCA) serverCert(srv *simServer, bound net.Addr) (*tls.Certificate, error) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if c, ok := ca.certs[srv]; ok {
		return c, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tls: generate key of server %q: %w", srv.name, err)
	}
	dns, ips := certNames(srv, bound, ca.cfg.Hosts)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serialNumber(),
		Subject:      pkix.Name{CommonName: srv.name, Organization: []string{"ecxsim cluster " + srv.c.cfg.Name}},
		NotBefore:    now.Add(-clockMargin),
		NotAfter:     now.Add(leafValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     dns,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("tls: certificate of server %q: %w", srv.name, err)
	}
	c := &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	ca.certs[srv] = c
	return c, nil
}

// certNames returns the subject alternative names of srv's certificate: the bound IP (every
// interface address when bound to the unspecified address), the loopback addresses, "localhost",
// the server name and the configured listen host when they are host names, and the extra hosts.
func certNames(srv *simServer, bound net.Addr, extra []string) ([]string, []net.IP) {
	var (
		dns []string
		ips []net.IP
	)
	addIP := func(ip net.IP) {
		for _, have := range ips {
			if have.Equal(ip) {
				return
			}
		}
		ips = append(ips, ip)
	}
	addName := func(name string) {
		if ip := net.ParseIP(name); ip != nil {
			addIP(ip)
			return
		}
		if isHostName(name) && !containsFold(dns, name) {
			dns = append(dns, name)
		}
	}
	if tcp, ok := bound.(*net.TCPAddr); ok {
		if tcp.IP.IsUnspecified() {
			if addrs, err := net.InterfaceAddrs(); err == nil {
				for _, a := range addrs {
					if n, ok := a.(*net.IPNet); ok {
						addIP(n.IP)
					}
				}
			}
		} else {
			addIP(tcp.IP)
		}
	}
	addIP(net.IPv4(127, 0, 0, 1))
	addIP(net.IPv6loopback)
	addName("localhost")
	addName(srv.name)
	if host, _, err := net.SplitHostPort(srv.c.cfg.Servers[srv.idx].Listen); err == nil && host != "" {
		addName(host)
	}
	for _, h := range extra {
		addName(h)
	}
	return dns, ips
}

// isHostName reports whether s is a DNS host name: dot-separated labels of letters, digits and
// hyphens, none empty or longer than 63, not starting or ending with a hyphen.
func isHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '-' {
				return false
			}
		}
	}
	return true
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// tlsListener wraps ln, bound for srv, in TLS with srv's certificate. Like ECX's API service (a
// Node.js https server), it speaks HTTP/1.1 only, with TLS 1.2 or newer.
func (ca *simCA) tlsListener(srv *simServer, ln net.Listener) (net.Listener, error) {
	cert, err := ca.serverCert(srv, ln.Addr())
	if err != nil {
		return nil, err
	}
	return tls.NewListener(ln, &tls.Config{
		Certificates: []tls.Certificate{*cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
	}), nil
}

// writeCAFiles writes every CA that has a CAOut to its file.
func (t *simTLS) writeCAFiles() error {
	if t == nil {
		return nil
	}
	for _, ca := range t.all {
		if ca.cfg.CAOut == "" {
			continue
		}
		if err := writeFileAtomic(ca.cfg.CAOut, ca.pem, 0o644); err != nil {
			return fmt.Errorf("tls: write CA file: %w", err)
		}
	}
	return nil
}

// writeFileAtomic writes data to path through a temporary file in the same directory and a
// rename, so a reader sees the old or the new content, never a part.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, path)
	}
	if err != nil {
		_ = os.Remove(name)
	}
	return err
}

// CACertPEM returns the PEM certificate of the CA that signs the REST certificates of the named
// cluster's servers. It fails with an error wrapping ErrNotFound for an unknown cluster and
// ErrPlainHTTP for a cluster that serves plain HTTP. It works before Start.
func (s *Sim) CACertPEM(cluster string) ([]byte, error) {
	c, err := s.cluster(cluster)
	if err != nil {
		return nil, err
	}
	ca := s.tls.caOf(c)
	if ca == nil {
		return nil, fmt.Errorf("cluster %q %w", cluster, ErrPlainHTTP)
	}
	return append([]byte(nil), ca.pem...), nil
}

// validateTLS checks a tls section; where prefixes the messages. caOuts maps every CA file
// already claimed to its owner, so that two CAs never overwrite each other's file.
func validateTLS(where string, t *TLSConfig, caOuts map[string]string) []error {
	if t == nil {
		return nil
	}
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(where+": tls: "+format, args...)) }
	if t.CAOut != "" {
		key := filepath.Clean(t.CAOut)
		if abs, err := filepath.Abs(key); err == nil {
			key = abs
		}
		if other, dup := caOuts[key]; dup {
			add("ca_out %q is also the CA file of %s: give every tls section its own file, or put one tls section at the top level for all clusters", t.CAOut, other)
		}
		caOuts[key] = where
		if strings.HasSuffix(t.CAOut, "/") || strings.HasSuffix(t.CAOut, string(filepath.Separator)) {
			add("ca_out %q names a directory: give the path of the PEM file to write, such as %sca.pem", t.CAOut, t.CAOut)
		}
	}
	for _, h := range t.Hosts {
		if net.ParseIP(h) == nil && !isHostName(h) {
			add("host %q is neither an IP address nor a DNS name (no scheme, port or path)", h)
		}
	}
	return errs
}
