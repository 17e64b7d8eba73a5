package pki_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cset-project/cset/pki"
)

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestInit_CreatesACAAndCertificates(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "pki")
	files, err := pki.Init(pki.InitOptions{Dir: dir, Masters: []string{"m1", "m2"}, Hosts: []string{"10.0.0.9", "m2=m2.example.com"}, Clients: []string{"admin"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 8 {
		t.Errorf("wrote %v", files)
	}
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, "-key.pem") && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	pool, err := pki.LoadCAPool(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	m2 := readCert(t, filepath.Join(dir, "m2.pem"))
	if _, err := m2.Verify(x509.VerifyOptions{Roots: pool, DNSName: "m2.example.com", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("m2 as a client for m2.example.com: %v", err)
	}
	for _, host := range []string{"localhost", "127.0.0.1", "10.0.0.9", "m2"} {
		if err := m2.VerifyHostname(host); err != nil {
			t.Errorf("m2 does not name %s: %v", host, err)
		}
	}
	if m1 := readCert(t, filepath.Join(dir, "m1.pem")); m1.VerifyHostname("m2.example.com") == nil {
		t.Error("m1's certificate names m2's host")
	}
	if !slices.Contains(m2.Subject.OrganizationalUnit, pki.MasterOU) || m2.Subject.CommonName != "m2" {
		t.Errorf("m2 subject %v", m2.Subject)
	}
	admin := readCert(t, filepath.Join(dir, "client-admin.pem"))
	if slices.Contains(admin.Subject.OrganizationalUnit, pki.MasterOU) || slices.Contains(admin.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
		t.Errorf("the client certificate can act as a master: %v %v", admin.Subject, admin.ExtKeyUsage)
	}
	if _, err := tls.LoadX509KeyPair(filepath.Join(dir, "m1.pem"), filepath.Join(dir, "m1-key.pem")); err != nil {
		t.Error(err)
	}

	// A second run reuses the CA and never overwrites.
	if _, err := pki.Init(pki.InitOptions{Dir: dir, Masters: []string{"m1"}}); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("re-issuing m1: %v", err)
	}
	if _, err := pki.Init(pki.InitOptions{Dir: dir, Masters: []string{"m3"}}); err != nil {
		t.Fatal(err)
	}
	m3 := readCert(t, filepath.Join(dir, "m3.pem"))
	if _, err := m3.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("m3 is not signed by the existing CA: %v", err)
	}
	if _, err := pki.Init(pki.InitOptions{Dir: dir, Masters: []string{"m4"}, Hosts: []string{"m9=x"}}); err == nil {
		t.Error("a host for an unknown master was accepted")
	}
}

func TestMasterOf(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := pki.Init(pki.InitOptions{Dir: dir, Masters: []string{"m1"}, Clients: []string{"admin"}}); err != nil {
		t.Fatal(err)
	}
	m1, admin := readCert(t, filepath.Join(dir, "m1.pem")), readCert(t, filepath.Join(dir, "client-admin.pem"))
	if id, ok := pki.MasterOf(tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{m1}}}); !ok || id != "m1" {
		t.Errorf("MasterOf(m1) = %q %v", id, ok)
	}
	if _, ok := pki.MasterOf(tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{admin}}}); ok {
		t.Error("a client certificate is a master")
	}
	if _, ok := pki.MasterOf(tls.ConnectionState{PeerCertificates: []*x509.Certificate{m1}}); ok {
		t.Error("an unverified certificate is a master")
	}
}
