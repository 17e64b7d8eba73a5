package main

import (
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/cset-project/cset/pki"
)

// TestCLI_TLS runs csetctl against a TLS-only server that requires client certificates, as a
// master with -tls-verify-clients is.
func TestCLI_TLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := pki.Init(pki.InitOptions{Dir: dir, Masters: []string{"m1"}, Clients: []string{"admin"}}); err != nil {
		t.Fatal(err)
	}
	p := func(name string) string { return filepath.Join(dir, name) }
	cfg, err := pki.APIServerConfig(p("m1.pem"), p("m1-key.pem"), p("ca.pem"), true)
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeServer()
	f.seed()
	addr := strings.Replace(f.start(t, grpc.Creds(credentials.NewTLS(cfg))), "127.0.0.1", "localhost", 1)

	if r := runCLI(t, addr, invocation{}, "status"); r.code != exitError || !strings.Contains(r.stderr, "pass --tls-ca") {
		t.Errorf("plaintext: exit %d %s", r.code, r.stderr)
	}
	if r := runCLI(t, addr, invocation{}, "--tls-ca", p("ca.pem"), "status"); r.code != exitError || !strings.Contains(r.stderr, "hint: the master requires a client certificate") {
		t.Errorf("no client certificate: exit %d %s", r.code, r.stderr)
	}
	cli(t, addr, exitOK, "--tls-ca", p("ca.pem"), "--tls-cert", p("client-admin.pem"), "--tls-key", p("client-admin-key.pem"), "status")
	env := map[string]string{envTLSCA: p("ca.pem"), envTLSCert: p("client-admin.pem"), envTLSKey: p("client-admin-key.pem")}
	if r := runCLI(t, addr, invocation{env: env}, "member", "list"); r.code != exitOK {
		t.Errorf("CSET_TLS_*: exit %d %s", r.code, r.stderr)
	}
	if r := runCLI(t, addr, invocation{}, "--tls-cert", p("client-admin.pem"), "status"); r.code != exitUsage {
		t.Errorf("--tls-cert without --tls-key: exit %d", r.code)
	}
}
