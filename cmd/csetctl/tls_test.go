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

	// The exact dial error depends on timing (an alert or a reset), so only the exit code is
	// checked here; TestTLSHint covers the hints.
	if r := runCLI(t, addr, invocation{}, "status"); r.code != exitError {
		t.Errorf("plaintext: exit %d %s", r.code, r.stderr)
	}
	if r := runCLI(t, addr, invocation{}, "--tls-ca", p("ca.pem"), "status"); r.code != exitError {
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

func TestTLSHint(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		msg      string
		usingTLS bool
		want     string
	}{
		{`connection error: desc = "error reading server preface: EOF"`, false, "pass --tls-ca"},
		{`connection error: desc = "error reading server preface: EOF"`, true, ""},
		{`connection error: desc = "error reading server preface: remote error: tls: certificate required"`, true, "--tls-cert and --tls-key"},
		{`connection error: desc = "transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority"`, true, "check that --tls-ca"},
		{`connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:1: connect: connection refused"`, false, ""},
	} {
		got := tlsHint(tc.msg, tc.usingTLS)
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("tlsHint(%q, %v) = %q, want %q", tc.msg, tc.usingTLS, got, tc.want)
		}
	}
}
