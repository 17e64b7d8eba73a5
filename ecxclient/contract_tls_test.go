package ecxclient

import (
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/ecxsim"
)

// simTransport is one way the contract's client reaches ecxsim: the
// transport dimension of TestContract_Sim.
type simTransport struct {
	name string
	// tls: ecxsim serves HTTPS with a CA it generates, and the member
	// verifies the servers with that CA file, as cset does with --ca-file.
	tls bool
}

// simTransports are the transports the contract runs over.
var simTransports = []simTransport{{name: "http"}, {name: "https", tls: true}}

// forEachSimTransport runs run once per transport, as parallel subtests.
func forEachSimTransport(t *testing.T, run func(t *testing.T, tr simTransport)) {
	t.Parallel()
	for _, tr := range simTransports {
		t.Run(tr.name, func(t *testing.T) { run(t, tr) })
	}
}

// configure makes cfg serve tr: with tls, ecxsim writes its CA to a file
// in the test's temporary directory.
func (tr simTransport) configure(t *testing.T, cfg *ecxsim.Config) {
	t.Helper()
	if tr.tls {
		cfg.TLS = &ecxsim.TLSConfig{CAOut: filepath.Join(t.TempDir(), "ecx-ca.pem")}
	}
}

// member gives m the TLS settings of tr for a simulator configured by
// configure with cfg.
func (tr simTransport) member(cfg ecxsim.Config, m *MemberConfig) {
	if tr.tls {
		m.CAFile = cfg.TLS.CAOut
	}
}

// startTLSSim starts a one-cluster simulator ("c": s1, s2; group g1) that
// serves HTTPS and writes its CA to caOut; tlsOn false serves plain HTTP.
func startTLSSim(t *testing.T, caOut string, tlsOn bool) *ecxsim.Sim {
	t.Helper()
	cfg := ecxsim.Config{Clusters: []ecxsim.ClusterConfig{{
		Name: "c", User: "admin", Password: "pw",
		Servers:          []ecxsim.ServerConfig{{Name: "s1"}, {Name: "s2"}},
		Groups:           []ecxsim.GroupConfig{{Name: "g1", StartDuration: 20 * time.Millisecond, StopDuration: 20 * time.Millisecond}},
		HeartbeatTimeout: time.Second, HeartbeatInterval: 200 * time.Millisecond,
	}}}
	if tlsOn {
		cfg.TLS = &ecxsim.TLSConfig{CAOut: caOut}
	}
	sim, err := ecxsim.New(cfg, testLogger(t).Named("ecxsim"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	return sim
}

// ECX behind HTTPS with a self-signed certificate: a member verifies it with
// its CA file, or skips verification only when told to explicitly; without
// either the call fails and says what to configure.
func TestClient_SimHTTPS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	caFile, otherCA := filepath.Join(dir, "c-ca.pem"), filepath.Join(dir, "other-ca.pem")
	sim := startTLSSim(t, caFile, true)
	startTLSSim(t, otherCA, true) // only for its CA, which did not sign sim's certificates
	urls := []string{sim.ServerURL("c", "s1"), sim.ServerURL("c", "s2")}
	if !strings.HasPrefix(urls[0], "https://") {
		t.Fatalf("ServerURL = %q, want https", urls[0])
	}
	mk := func(mut func(*MemberConfig)) *Client {
		t.Helper()
		return newTestClient(t, urls, func(m *MemberConfig) { m.Password = "pw"; mut(m) })
	}

	// With the CA file, and with verification skipped on purpose: reads,
	// an operation and a wait all work.
	for name, mut := range map[string]func(*MemberConfig){
		"ca file":  func(m *MemberConfig) { m.CAFile = caFile },
		"insecure": func(m *MemberConfig) { m.InsecureSkipVerify = true },
	} {
		c := mk(mut)
		ctx := t.Context()
		if cl, err := c.GetCluster(ctx); err != nil || cl.Name != "c" {
			t.Fatalf("%s: GetCluster = %+v, %v", name, cl, err)
		}
		if _, err := c.StartGroupAndWait(ctx, "g1", "s2", 10*time.Second); err != nil {
			t.Fatalf("%s: start g1 on s2: %v", name, err)
		}
		if _, err := c.StopGroupAndWait(ctx, "g1", 10*time.Second); err != nil {
			t.Fatalf("%s: stop g1: %v", name, err)
		}
	}

	// Without a CA the self-signed certificate is refused, on every
	// server, with the advice; another cluster's CA does not verify it.
	for name, mut := range map[string]func(*MemberConfig){
		"system roots":         func(*MemberConfig) {},
		"another cluster's CA": func(m *MemberConfig) { m.CAFile = otherCA },
	} {
		_, err := mk(mut).GetCluster(t.Context())
		var unknown x509.UnknownAuthorityError
		var ue *UnreachableError
		if !errors.As(err, &ue) || len(ue.Attempts) != 2 || !errors.As(err, &unknown) {
			t.Errorf("%s: %v, want an UnreachableError of both servers wrapping x509.UnknownAuthorityError", name, err)
			continue
		}
		if !strings.Contains(err.Error(), "ca_file") || !strings.Contains(err.Error(), "insecure_skip_verify") {
			t.Errorf("%s: %q does not say how to trust the certificate", name, err)
		}
	}

	// A CA file together with skipped verification contradicts itself.
	_, err := New(MemberConfig{Name: "m", URLs: urls, User: "admin", CAFile: caFile, InsecureSkipVerify: true}, WithTransportPool(NewTransportPool()))
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "keep one") {
		t.Errorf("CAFile and InsecureSkipVerify: %v, want ErrInvalidArgument saying to keep one", err)
	}

	// The wrong scheme: https to a plain HTTP server, http to an HTTPS one.
	plain := startTLSSim(t, "", false)
	_, err = newTestClient(t, []string{"https" + strings.TrimPrefix(plain.ServerURL("c", "s1"), "http")}, func(m *MemberConfig) { m.Password = "pw" }).GetCluster(t.Context())
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "use an http:// URL") {
		t.Errorf("https to a plain HTTP server: %v, want the advice to use http://", err)
	}
	_, err = newTestClient(t, []string{"http" + strings.TrimPrefix(urls[0], "https")}, func(m *MemberConfig) { m.Password = "pw" }).GetCluster(t.Context())
	if err == nil {
		t.Error("http to an HTTPS server answered")
	}
}

// A CA file replaced on the masters (a renewed ECX certificate, a restarted
// simulator with a new CA) is trusted from the next connection on, by the
// clients that already exist: the controller keeps its clients while a
// member's configuration is unchanged.
func TestClient_CAFileReloaded(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	caA, caB := filepath.Join(dir, "a.pem"), filepath.Join(dir, "b.pem")
	startTLSSim(t, caA, true)
	simB := startTLSSim(t, caB, true)
	member := filepath.Join(dir, "member-ca.pem")
	copyFile(t, caA, member)
	c := newTestClient(t, []string{simB.ServerURL("c", "s1")}, func(m *MemberConfig) { m.Password = "pw"; m.CAFile = member })
	var unknown x509.UnknownAuthorityError
	if _, err := c.GetCluster(t.Context()); !errors.As(err, &unknown) {
		t.Fatalf("with the other simulator's CA: %v, want an unknown authority", err)
	}
	copyFile(t, caB, member)
	if _, err := c.GetCluster(t.Context()); err != nil {
		t.Fatalf("after the CA file was replaced: %v", err)
	}

	// A CA file that breaks fails the connection with its path, and a
	// repaired one works again.
	if err := os.WriteFile(member, []byte("truncated"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.hc.Transport.(interface{ CloseIdleConnections() }).CloseIdleConnections()
	if _, err := c.GetCluster(t.Context()); err == nil || !strings.Contains(err.Error(), member) || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("with a broken CA file: %v, want an error naming the file", err)
	}
	copyFile(t, caB, member)
	if _, err := c.GetCluster(t.Context()); err != nil {
		t.Errorf("after the CA file was repaired: %v", err)
	}
}

// copyFile replaces dst with the content of src through a rename, as an
// operator's tooling (or ecxsim) does.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}
