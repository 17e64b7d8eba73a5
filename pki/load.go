package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
)

// Organizational units that mark what a certificate is for.
const (
	MasterOU = "cset-master"
	ClientOU = "cset-client"
)

// LoadCAPool reads a PEM bundle of CA certificates.
func LoadCAPool(caFile string) (*x509.CertPool, error) {
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
	}
	return pool, nil
}

func loadPair(certFile, keyFile string) (tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return c, fmt.Errorf("load certificate %s with key %s: %w", certFile, keyFile, err)
	}
	return c, nil
}

// APIServerConfig is the TLS configuration of a master's gRPC API. Client certificates signed
// by the CA are verified when given and required when requireClients is set.
func APIServerConfig(certFile, keyFile, caFile string, requireClients bool) (*tls.Config, error) {
	cert, err := loadPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	pool, err := LoadCAPool(caFile)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven}
	if requireClients {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// PeerServerConfig is the TLS configuration of a master's Raft listener: mutual TLS, and the
// peer must present a master certificate of the CA.
func PeerServerConfig(certFile, keyFile, caFile string) (*tls.Config, error) {
	cert, err := loadPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	pool, err := LoadCAPool(caFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if _, ok := MasterOf(cs); !ok {
				return errors.New("the peer's certificate is not a cset master certificate")
			}
			return nil
		},
	}, nil
}

// PeerClientConfig is the TLS configuration a master dials other masters with (Raft, forwarded
// calls, -join): it presents its own certificate and accepts any master certificate of the CA,
// whatever address it was dialled at.
func PeerClientConfig(certFile, keyFile, caFile string) (*tls.Config, error) {
	cert, err := loadPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	pool, err := LoadCAPool(caFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert},
		// The chain and the unit are checked in VerifyConnection instead of the host name.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyMaster(cs.PeerCertificates, pool, x509.ExtKeyUsageServerAuth)
		},
	}, nil
}

func verifyMaster(chain []*x509.Certificate, pool *x509.CertPool, usage x509.ExtKeyUsage) error {
	if len(chain) == 0 {
		return errors.New("the peer sent no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		return fmt.Errorf("the peer's certificate is not signed by this deployment's CA: %w", err)
	}
	if !slices.Contains(chain[0].Subject.OrganizationalUnit, MasterOU) {
		return errors.New("the peer's certificate is not a cset master certificate")
	}
	return nil
}

// MasterOf returns the master id (common name) of a verified peer certificate with unit
// MasterOU; ok is false for anything else, including unverified certificates.
func MasterOf(cs tls.ConnectionState) (id string, ok bool) {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return "", false
	}
	leaf := cs.VerifiedChains[0][0]
	if !slices.Contains(leaf.Subject.OrganizationalUnit, MasterOU) {
		return "", false
	}
	return leaf.Subject.CommonName, true
}

// ClientConfig is the TLS configuration of an https client that trusts caFile (a witness).
func ClientConfig(caFile string) (*tls.Config, error) {
	pool, err := LoadCAPool(caFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}, nil
}
