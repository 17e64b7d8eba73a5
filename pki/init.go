package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
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
	"time"
)

// InitOptions says which certificates Init creates.
type InitOptions struct {
	Dir     string
	Masters []string // master ids: certificate NAME.pem with key NAME-key.pem
	// Hosts are extra subject alternative names: "HOST" for every master, "ID=HOST" for one.
	// Every master certificate also names its id, localhost, 127.0.0.1 and ::1.
	Hosts   []string
	Clients []string      // API clients: client-NAME.pem with key client-NAME-key.pem
	Valid   time.Duration // of the leaf certificates; 0 = two years (the CA gets ten)
	Now     time.Time     // zero = time.Now()
}

// Init creates or extends a deployment's certificates in o.Dir: the CA (ca.pem, ca-key.pem)
// unless it exists, in which case it signs the new certificates; then one certificate per
// master and per client. It never overwrites a file and returns the files it wrote. Keys are
// written 0600.
func Init(o InitOptions) ([]string, error) {
	if o.Dir == "" || len(o.Masters)+len(o.Clients) == 0 {
		return nil, errors.New("pki: give a directory and at least one master or client")
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Valid == 0 {
		o.Valid = 2 * 365 * 24 * time.Hour
	}
	extra, err := hostsByMaster(o.Hosts, o.Masters)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	var written []string
	ca, caKey, created, err := loadOrCreateCA(o.Dir, o.Now)
	if err != nil {
		return nil, err
	}
	written = append(written, created...)
	for _, m := range o.Masters {
		tmpl := leafTemplate(m, MasterOU, o.Now, o.Valid)
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		addSANs(tmpl, append([]string{m, "localhost", "127.0.0.1", "::1"}, extra[m]...))
		files, err := issue(o.Dir, m, tmpl, ca, caKey)
		written = append(written, files...)
		if err != nil {
			return written, err
		}
	}
	for _, c := range o.Clients {
		tmpl := leafTemplate(c, ClientOU, o.Now, o.Valid)
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		files, err := issue(o.Dir, "client-"+c, tmpl, ca, caKey)
		written = append(written, files...)
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

func hostsByMaster(hosts, masters []string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, h := range hosts {
		if id, host, ok := strings.Cut(h, "="); ok {
			if !contains(masters, id) {
				return nil, fmt.Errorf("pki: host %q names master %q, which is not among -masters", h, id)
			}
			out[id] = append(out[id], host)
			continue
		}
		for _, m := range masters {
			out[m] = append(out[m], h)
		}
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func addSANs(c *x509.Certificate, names []string) {
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			c.IPAddresses = append(c.IPAddresses, ip)
		} else if n != "" {
			c.DNSNames = append(c.DNSNames, n)
		}
	}
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

func leafTemplate(cn, ou string, now time.Time, valid time.Duration) *x509.Certificate {
	return &x509.Certificate{
		Subject:   pkix.Name{CommonName: cn, OrganizationalUnit: []string{ou}, Organization: []string{"cset"}},
		NotBefore: now.Add(-5 * time.Minute), NotAfter: now.Add(valid),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
}

func loadOrCreateCA(dir string, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, []string, error) {
	certPath, keyPath := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	if _, err := os.Stat(certPath); err == nil {
		ca, key, err := loadCA(certPath, keyPath)
		return ca, key, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("pki: CA key: %w", err)
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn, Subject: pkix.Name{CommonName: "cset CA", Organization: []string{"cset"}},
		NotBefore: now.Add(-5 * time.Minute), NotAfter: now.Add(10 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("pki: CA certificate: %w", err)
	}
	if err := writeKeyPair(certPath, keyPath, der, key); err != nil {
		return nil, nil, nil, err
	}
	ca, err := x509.ParseCertificate(der)
	return ca, key, []string{certPath, keyPath}, err
}

func loadCA(certPath, keyPath string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	cb, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: %w", err)
	}
	kb, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: %s exists but its key cannot be read: %w", certPath, err)
	}
	cblock, _ := pem.Decode(cb)
	kblock, _ := pem.Decode(kb)
	if cblock == nil || kblock == nil {
		return nil, nil, fmt.Errorf("pki: %s or %s is not PEM", certPath, keyPath)
	}
	ca, err := x509.ParseCertificate(cblock.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: %s: %w", certPath, err)
	}
	key, err := x509.ParseECPrivateKey(kblock.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: %s: %w", keyPath, err)
	}
	return ca, key, nil
}

func issue(dir, base string, tmpl, ca *x509.Certificate, caKey *ecdsa.PrivateKey) ([]string, error) {
	certPath, keyPath := filepath.Join(dir, base+".pem"), filepath.Join(dir, base+"-key.pem")
	for _, p := range []string{certPath, keyPath} {
		if _, err := os.Stat(p); err == nil {
			return nil, fmt.Errorf("pki: %s exists: remove it to issue a new certificate", p)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: key for %s: %w", base, err)
	}
	if tmpl.SerialNumber, err = serial(); err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("pki: certificate for %s: %w", base, err)
	}
	if err := writeKeyPair(certPath, keyPath, der, key); err != nil {
		return nil, err
	}
	return []string{certPath, keyPath}, nil
}

func writeKeyPair(certPath, keyPath string, der []byte, key *ecdsa.PrivateKey) error {
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	if err := writeNew(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return err
	}
	return writeNew(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// writeNew creates path with mode, failing if it exists.
func writeNew(path string, b []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	return f.Close()
}
