package ecxsim_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/ecxsim"
)

// tlsClient returns an HTTP client that trusts only the CA in caPEM.
func tlsClient(t testing.TB, caPEM []byte) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("CA %q holds no PEM certificate", caPEM)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Timeout: 5 * time.Second, Transport: tr}
}

// getCluster reads /api/v1/cluster at base with c and returns the cluster name.
func getCluster(c *http.Client, base string) (string, error) {
	req, err := http.NewRequest(http.MethodGet, base+"/api/v1/cluster", nil)
	if err != nil {
		return "", err
	}
	req.SetBasicAuth(user, password)
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var env envelope
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK || env.Cluster == nil {
		return "", errors.New("not a cluster answer: HTTP " + resp.Status)
	}
	return env.Cluster.Name, nil
}

// A tls section makes every server serve HTTPS with its own certificate, signed by a CA the
// simulator generates and writes to ca_out before the servers listen; the CA stays valid across a
// server's restart, and clients without it are refused.
func TestTLS_ServesHTTPSWithGeneratedCA(t *testing.T) {
	t.Parallel()
	caOut := filepath.Join(t.TempDir(), "ecx-ca.pem")
	if err := os.WriteFile(caOut, []byte("stale content of an earlier run"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := oneCluster()
	cfg.TLS = &ecxsim.TLSConfig{CAOut: caOut, Hosts: []string{"ecx.example.test", "192.0.2.7"}}
	sim := startSim(t, cfg)

	caPEM, err := os.ReadFile(caOut)
	if err != nil {
		t.Fatal(err)
	}
	if fromAPI, err := sim.CACertPEM("c"); err != nil || !bytes.Equal(fromAPI, caPEM) {
		t.Fatalf("CACertPEM = %q, %v; the file holds %q", fromAPI, err, caPEM)
	}
	if fi, err := os.Stat(caOut); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("CA file mode: %v, %v; want 0644 (a CA certificate is public)", fi, err)
	}
	url := sim.ServerURL("c", "s1")
	if !strings.HasPrefix(url, "https://127.0.0.1:") {
		t.Fatalf("ServerURL = %q, want https://127.0.0.1:port", url)
	}
	verified := tlsClient(t, caPEM)
	if name, err := getCluster(verified, url); err != nil || name != "c" {
		t.Fatalf("GET /api/v1/cluster with the CA: %q, %v", name, err)
	}

	// The certificate: one per server, for the server's address and names, HTTP/1.1 only.
	conn, err := tls.Dial("tcp", strings.TrimPrefix(url, "https://"), &tls.Config{RootCAs: verified.Transport.(*http.Transport).TLSClientConfig.RootCAs, ServerName: "ecx.example.test", NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatalf("TLS with the extra host name: %v", err)
	}
	st := conn.ConnectionState()
	_ = conn.Close()
	leaf := st.PeerCertificates[0]
	if st.NegotiatedProtocol != "http/1.1" || st.Version < tls.VersionTLS12 {
		t.Errorf("negotiated %q over TLS %x, want http/1.1 (ECX's API is a Node.js https server) and TLS 1.2+", st.NegotiatedProtocol, st.Version)
	}
	var ips []string
	for _, ip := range leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	for _, want := range []string{"127.0.0.1", "::1", "192.0.2.7"} {
		if !slices.Contains(ips, want) {
			t.Errorf("certificate IPs %v lack %s", ips, want)
		}
	}
	for _, want := range []string{"localhost", "s1", "ecx.example.test"} {
		if !slices.Contains(leaf.DNSNames, want) {
			t.Errorf("certificate names %v lack %s", leaf.DNSNames, want)
		}
	}
	if leaf.Subject.CommonName != "s1" || leaf.IsCA {
		t.Errorf("leaf certificate %q (CA %v), want a server certificate of s1", leaf.Subject.CommonName, leaf.IsCA)
	}

	// Without the CA: refused like a self-signed ECX certificate; plain HTTP gets no answer
	// from the API.
	if _, err := getCluster(&http.Client{Timeout: 5 * time.Second}, url); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("system roots: %v, want a certificate error", err)
	}
	if _, err := getCluster(client, "http://"+strings.TrimPrefix(url, "https://")); err == nil {
		t.Error("plain HTTP to the HTTPS port answered like the API")
	}

	// A server that goes down and up keeps its URL and its certificate.
	if err := sim.ServerDown("c", "s1"); err != nil {
		t.Fatal(err)
	}
	if err := sim.ServerUp("c", "s1"); err != nil {
		t.Fatal(err)
	}
	verified.Transport.(*http.Transport).CloseIdleConnections()
	eventually(t, "s1 answers over HTTPS again", func() error {
		_, err := getCluster(verified, sim.ServerURL("c", "s1"))
		return err
	})
	if state := sim.State(); !strings.HasPrefix(state.Clusters[0].Servers[1].URL, "https://") || !strings.HasPrefix(state.ControlURL, "http://") {
		t.Errorf("state URLs: server %q, control %q; want https servers and the control API on http", state.Clusters[0].Servers[1].URL, state.ControlURL)
	}
}

// A cluster's own tls section gives it a CA of its own; the top-level section serves every other
// cluster with one shared CA; a cluster without either serves plain HTTP.
func TestTLS_PerClusterAndGlobalCAs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mk := func(name string) ecxsim.ClusterConfig {
		cl := oneCluster().Clusters[0]
		cl.Name = name
		return cl
	}
	own, shared1, shared2 := mk("own"), mk("shared1"), mk("shared2")
	own.TLS = &ecxsim.TLSConfig{CAOut: filepath.Join(dir, "own.pem")}
	cfg := ecxsim.Config{TLS: &ecxsim.TLSConfig{CAOut: filepath.Join(dir, "all.pem")}, Clusters: []ecxsim.ClusterConfig{own, shared1, shared2}}
	sim := startSim(t, cfg)
	ownCA, err := os.ReadFile(filepath.Join(dir, "own.pem"))
	if err != nil {
		t.Fatal(err)
	}
	allCA, err := os.ReadFile(filepath.Join(dir, "all.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(ownCA, allCA) {
		t.Fatal("the cluster with its own tls section shares the global CA")
	}
	ownClient, allClient := tlsClient(t, ownCA), tlsClient(t, allCA)
	for _, tc := range []struct {
		cluster string
		good    *http.Client
		bad     *http.Client
	}{{"own", ownClient, allClient}, {"shared1", allClient, ownClient}, {"shared2", allClient, ownClient}} {
		url := sim.ServerURL(tc.cluster, "s2")
		if name, err := getCluster(tc.good, url); err != nil || name != tc.cluster {
			t.Errorf("%s with its CA: %q, %v", tc.cluster, name, err)
		}
		var unknown x509.UnknownAuthorityError
		if _, err := getCluster(tc.bad, url); !errors.As(err, &unknown) {
			t.Errorf("%s with another cluster's CA: %v, want an unknown authority", tc.cluster, err)
		}
	}

	plain := startSim(t, oneCluster())
	if _, err := plain.CACertPEM("c"); !errors.Is(err, ecxsim.ErrPlainHTTP) {
		t.Errorf("CACertPEM of a plain HTTP cluster: %v, want ErrPlainHTTP", err)
	}
	if _, err := plain.CACertPEM("nope"); !errors.Is(err, ecxsim.ErrNotFound) {
		t.Errorf("CACertPEM of an unknown cluster: %v, want ErrNotFound", err)
	}
	if url := plain.ServerURL("c", "s1"); !strings.HasPrefix(url, "http://") {
		t.Errorf("plain ServerURL = %q", url)
	}
}

func TestTLS_Validation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := oneCluster()
	second := oneCluster().Clusters[0]
	second.Name = "d"
	cfg.Clusters = append(cfg.Clusters, second)
	cfg.TLS = &ecxsim.TLSConfig{CAOut: filepath.Join(dir, "ca.pem"), Hosts: []string{"https://ecx:29009", "ok.example", "10.0.0.1"}}
	cfg.Clusters[0].TLS = &ecxsim.TLSConfig{CAOut: filepath.Join(dir, ".", "ca.pem")}
	cfg.Clusters[1].TLS = &ecxsim.TLSConfig{CAOut: dir + "/"}
	_, err := ecxsim.New(cfg, nil)
	if err == nil {
		t.Fatal("New accepted the configuration")
	}
	for _, want := range []string{
		`config: tls: host "https://ecx:29009" is neither an IP address nor a DNS name`,
		`cluster "c": tls: ca_out "` + filepath.Join(dir, ".", "ca.pem") + `" is also the CA file of config`,
		`cluster "d": tls: ca_out "` + dir + `/" names a directory`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "ok.example") || strings.Contains(err.Error(), "10.0.0.1") {
		t.Errorf("valid hosts reported: %v", err)
	}

	// A CA file that cannot be written fails Start with the path, and nothing stays open.
	cfg = oneCluster()
	cfg.Clusters[0].Servers[0].Listen = freeAddr(t)
	cfg.TLS = &ecxsim.TLSConfig{CAOut: filepath.Join(dir, "missing-dir", "ca.pem")}
	sim, err := ecxsim.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = sim.Start()
	if err == nil || !strings.Contains(err.Error(), "missing-dir") {
		t.Fatalf("Start with an unwritable ca_out: %v", err)
	}
	if ln, err := net.Listen("tcp", cfg.Clusters[0].Servers[0].Listen); err != nil {
		t.Errorf("the failed Start left the server's address bound: %v", err)
	} else {
		_ = ln.Close()
	}
}

// The example configuration of docs/ecxsim.md serves HTTPS and writes its CA.
func TestTLS_ConfigFile(t *testing.T) {
	t.Parallel()
	cfg, err := ecxsim.LoadConfig("testdata/https.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLS == nil || cfg.TLS.CAOut != "ecxsim-ca.pem" || cfg.Clusters[1].TLS == nil || cfg.Clusters[1].TLS.CAOut != "ecxsim-ca-west.pem" {
		t.Fatalf("https.yaml: tls %+v, west %+v", cfg.TLS, cfg.Clusters[1].TLS)
	}
	// Run it with the CA files in a temporary directory and every port free.
	dir := t.TempDir()
	cfg.TLS.CAOut = filepath.Join(dir, "ca.pem")
	cfg.Clusters[1].TLS.CAOut = filepath.Join(dir, "ca-west.pem")
	cfg.ControlAddr = "127.0.0.1:0"
	for i := range cfg.Clusters {
		for j := range cfg.Clusters[i].Servers {
			cfg.Clusters[i].Servers[j].Listen = "127.0.0.1:0"
		}
	}
	sim := startSim(t, cfg)
	for cluster, file := range map[string]string{"east": "ca.pem", "west": "ca-west.pem"} {
		ca, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		c := tlsClient(t, ca)
		req, _ := http.NewRequest(http.MethodGet, sim.ServerURL(cluster, cluster+"1")+"/api/v1/cluster", nil)
		req.SetBasicAuth("admin", "secret")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", cluster, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: HTTP %d", cluster, resp.StatusCode)
		}
	}
}

// freeAddr returns a 127.0.0.1 address that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// BenchmarkTLS_Start measures New+Start+Close of 100 clusters x 2 servers over plain HTTP and over
// HTTPS (one generated CA, 200 server certificates): the cost TLS adds to a simulator's start.
func BenchmarkTLS_Start(b *testing.B) {
	for _, tlsOn := range []bool{false, true} {
		name := "http"
		if tlsOn {
			name = "https"
		}
		b.Run(name, func(b *testing.B) {
			cfg := ecxsim.Config{ControlAddr: "127.0.0.1:0"}
			for i := range 100 {
				cl := oneCluster().Clusters[0]
				cl.Name = "c" + strconv.Itoa(i)
				cfg.Clusters = append(cfg.Clusters, cl)
			}
			if tlsOn {
				cfg.TLS = &ecxsim.TLSConfig{CAOut: filepath.Join(b.TempDir(), "ca.pem")}
			}
			for b.Loop() {
				sim, err := ecxsim.New(cfg, nil)
				if err != nil {
					b.Fatal(err)
				}
				if err := sim.Start(); err != nil {
					b.Fatal(err)
				}
				if err := sim.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
