package server_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/internal/clustertest"
	"github.com/cset-project/cset/internal/testutil"
	"github.com/cset-project/cset/pki"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"github.com/cset-project/cset/server"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// lineLog keeps every log line of a master, for tests that must see an attempt fail.
type lineLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *lineLog) waitFor(t *testing.T, what string, has ...string) {
	t.Helper()
	testutil.Eventually(t, 15*time.Second, func() error {
		s := l.String()
		for _, h := range has {
			if strings.Contains(s, h) {
				return nil
			}
		}
		return fmt.Errorf("no log line about %s", what)
	})
}

// pkiDir creates a CA with the given masters and the client "admin".
func pkiDir(t *testing.T, masters ...string) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := pki.Init(pki.InitOptions{Dir: dir, Masters: masters, Clients: []string{"admin"}}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// tlsMaster starts a master with a real TCP Raft transport and the certificates of id in dir.
func tlsMaster(t *testing.T, id, dir, join string, cb func(*config.Config)) (*server.Server, *lineLog, string) {
	t.Helper()
	cfg := clustertest.Config(id)
	cfg.DataDir, cfg.RaftAddr = t.TempDir(), "127.0.0.1:0"
	cfg.Bootstrap, cfg.Join = join == "", join
	cfg.TLS = config.TLSConfig{Cert: filepath.Join(dir, id+".pem"), Key: filepath.Join(dir, id+"-key.pem"), CA: filepath.Join(dir, "ca.pem")}
	if cb != nil {
		cb(&cfg)
	}
	log := &lineLog{}
	logger := hclog.New(&hclog.LoggerOptions{Name: id, Level: hclog.Debug, Output: log})
	srv, err := server.New(cfg, logger, server.Deps{})
	if err != nil {
		t.Fatalf("new %s: %v", id, err)
	}
	if err := srv.Start(); err != nil {
		srv.Close()
		t.Fatalf("start %s: %v", id, err)
	}
	t.Cleanup(func() {
		srv.Close()
		if t.Failed() {
			t.Logf("log of %s:\n%s", id, log.String())
		}
	})
	return srv, log, cfg.DataDir
}

// tlsClient dials addr with the CA of dir and, when clientCert, its admin client certificate.
func tlsClient(t *testing.T, addr, dir string, clientCert bool, token string) apiv1.ClusterSetServiceClient {
	t.Helper()
	pool, err := pki.LoadCAPool(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{RootCAs: pool, ServerName: "localhost"}
	if clientCert {
		c, err := tls.LoadX509KeyPair(filepath.Join(dir, "client-admin.pem"), filepath.Join(dir, "client-admin-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(cfg))}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(token)))
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return apiv1.NewClusterSetServiceClient(conn)
}

func voters(t *testing.T, r *raft.Raft) []string {
	t.Helper()
	f := r.GetConfiguration()
	if err := f.Error(); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range f.Configuration().Servers {
		ids = append(ids, string(s.ID))
	}
	return ids
}

// TestTLS_ForeignMasterCannotJoinOrVote runs two masters with mutual TLS and -auth: the second
// joins with its master certificate alone (no token), and writes through it are forwarded over
// TLS. A third master whose certificate comes from another CA cannot join through the API, and
// even when an admin adds it to the Raft configuration it receives no entry: the leader's Raft
// connections to it fail the handshake, and its own cannot reach the leader.
func TestTLS_ForeignMasterCannotJoinOrVote(t *testing.T) {
	t.Parallel()
	good := pkiDir(t, "m1", "m2", "m3")
	foreign := pkiDir(t, "m3")
	m1, m1log, m1dir := tlsMaster(t, "m1", good, "", withAuth)
	m2, _, _ := tlsMaster(t, "m2", good, m1.Addrs().GRPC, withAuth)
	testutil.Eventually(t, 15*time.Second, func() error {
		if v := voters(t, m1.Raft()); len(v) != 2 {
			return fmt.Errorf("voters %v", v)
		}
		return nil
	})
	var admin string
	testutil.Eventually(t, 10*time.Second, func() error {
		b, err := os.ReadFile(filepath.Join(m1dir, server.BootstrapTokenFile))
		admin = strings.TrimSpace(string(b))
		return err
	})
	testutil.Eventually(t, 10*time.Second, func() error {
		if !m2.FSM().HasTokens() {
			return errors.New("m2 has not applied the bootstrap token yet")
		}
		return nil
	})
	via2 := tlsClient(t, m2.Addrs().GRPC, good, true, admin)
	if _, err := via2.InitSet(clustertest.Ctx(t), &apiv1.InitSetRequest{Name: "prod", Zone: "cset.example.com"}); err != nil {
		t.Fatalf("write through the follower over TLS: %v", err)
	}

	m3, m3log, _ := tlsMaster(t, "m3", foreign, m1.Addrs().GRPC, withAuth)
	m3log.waitFor(t, "a refused join", "join failed")
	if v := voters(t, m1.Raft()); len(v) != 2 {
		t.Fatalf("the foreign master joined: voters %v", v)
	}

	// An admin adds it by hand. As a voter it is refused: the leader checks that a new voter
	// answers on its Raft address, and the TLS handshake fails.
	via1 := tlsClient(t, m1.Addrs().GRPC, good, true, admin)
	_, err := via1.RaftJoin(clustertest.Ctx(t), &apiv1.RaftJoinRequest{Id: "m3", RaftAddr: m3.Addrs().Raft, GrpcAddr: m3.Addrs().GRPC})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "not signed by this deployment's CA") {
		t.Fatalf("raft join of the foreign master as a voter: %v, want FailedPrecondition about its certificate", err)
	}
	// As a non-voter, which is added unchecked, it still gets nothing: Raft itself refuses it.
	if _, err := via1.RaftJoin(clustertest.Ctx(t), &apiv1.RaftJoinRequest{Id: "m3", RaftAddr: m3.Addrs().Raft, GrpcAddr: m3.Addrs().GRPC, Nonvoter: true}); err != nil {
		t.Fatalf("raft join by an admin: %v", err)
	}
	if _, err := via1.InitSet(clustertest.Ctx(t), &apiv1.InitSetRequest{Name: "prod2", Zone: "cset.example.com"}); err != nil {
		t.Fatalf("a write with the foreign voter in the configuration: %v", err)
	}
	m1log.waitFor(t, "the leader failing to reach m3", "failed to appendEntries to", "failed to heartbeat to", "failed to contact")
	if got, want := m3.FSM().AppliedIndex(), m1.FSM().AppliedIndex(); got != 0 || want == 0 {
		t.Errorf("the foreign master applied %d entries (the ring is at %d)", got, want)
	}
	if m3.IsLeader() {
		t.Error("the foreign master leads")
	}

	// A plain TLS dial of the Raft port with the foreign certificate fails the handshake.
	cc, err := pki.PeerClientConfig(filepath.Join(foreign, "m3.pem"), filepath.Join(foreign, "m3-key.pem"), filepath.Join(foreign, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if conn, err := tls.Dial("tcp", m1.Addrs().Raft, cc); err == nil {
		_, werr := conn.Write([]byte{0})
		_, rerr := conn.Read(make([]byte, 1))
		conn.Close()
		if werr == nil && rerr == nil {
			t.Error("the Raft port of m1 talked to a foreign certificate")
		}
	}
}

// TestTLS_APIRefusesPlaintextAndUnknownClients: a TLS-only master with -tls-verify-clients
// answers only TLS clients that trust its CA and present a client certificate of that CA.
func TestTLS_APIRefusesPlaintextAndUnknownClients(t *testing.T) {
	t.Parallel()
	good := pkiDir(t, "m1")
	foreign := pkiDir(t, "m1")
	m1, _, _ := tlsMaster(t, "m1", good, "", func(c *config.Config) { c.TLS.VerifyClients = true })
	addr := m1.Addrs().GRPC

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = apiv1.NewClusterSetServiceClient(conn).Status(clustertest.Ctx(t), &apiv1.StatusRequest{})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("plaintext call: %v, want Unavailable", err)
	}
	for _, tc := range []struct {
		name       string
		dir        string
		clientCert bool
	}{
		{"no client certificate", good, false},
		{"client of another CA", foreign, true},
	} {
		if _, err := tlsClient(t, addr, tc.dir, tc.clientCert, "").Status(clustertest.Ctx(t), &apiv1.StatusRequest{}); err == nil {
			t.Errorf("%s: the call succeeded", tc.name)
		}
	}
	if _, err := tlsClient(t, addr, good, true, "").Status(clustertest.Ctx(t), &apiv1.StatusRequest{}); err != nil {
		t.Errorf("client with a certificate of the CA: %v", err)
	}
}
