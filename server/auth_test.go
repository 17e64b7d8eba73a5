package server_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/fsm"
	"github.com/cset-project/cset/internal/clustertest"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func withAuth(c *config.Config) { c.Auth = true }

// as returns a call context carrying token (none when empty).
func as(t *testing.T, token string) context.Context {
	ctx := clustertest.Ctx(t)
	if token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// wantCode fails unless err has code and a message containing has.
func wantCode(t *testing.T, what string, err error, code codes.Code, has string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code || !strings.Contains(st.Message(), has) {
		t.Errorf("%s: got %v %q, want %v containing %q", what, st.Code(), st.Message(), code, has)
	}
}

func createToken(t *testing.T, c apiv1.ClusterSetServiceClient, admin, name, role string) string {
	t.Helper()
	r, err := c.CreateToken(as(t, admin), &apiv1.CreateTokenRequest{Name: name, Role: role})
	if err != nil {
		t.Fatalf("create token %s: %v", name, err)
	}
	if r.GetName() != name || r.GetRole() != role || !strings.HasPrefix(r.GetSecret(), "cset_") || r.GetCreatedUnixNano() == 0 {
		t.Fatalf("create token answered %v", r)
	}
	return r.GetSecret()
}

// waitEvent waits until an event matching fn is in the log of c.
func waitEvent(t *testing.T, c apiv1.ClusterSetServiceClient, token, what string, fn func(*apiv1.Event) bool) *apiv1.Event {
	t.Helper()
	var found *apiv1.Event
	testutil.Eventually(t, 10*time.Second, func() error {
		r, err := c.ListEvents(as(t, token), &apiv1.ListEventsRequest{Limit: 10000})
		if err != nil {
			return err
		}
		for _, e := range r.GetEvents() {
			if fn(e) {
				found = e
				return nil
			}
		}
		return fmt.Errorf("no event: %s", what)
	})
	return found
}

// TestAuth_Roles drives a three-master ring with -auth through a follower (so every call is
// authenticated there and again on the leader): missing, malformed, revoked and too small tokens
// are refused with the documented codes and messages, and both the denied and the mutating
// calls reach the event log under the token's name, whatever cset-actor says.
func TestAuth_Roles(t *testing.T) {
	t.Parallel()
	c := clustertest.New(t, 3, withAuth) // the joins use the bootstrap token as -token-file
	admin := c.BootstrapToken()
	f := c.Followers()[0].Client()

	_, err := f.Status(clustertest.Ctx(t), &apiv1.StatusRequest{})
	wantCode(t, "no token", err, codes.Unauthenticated, "no token: pass --token or set CSET_TOKEN")
	_, err = f.Status(as(t, "not-a-token"), &apiv1.StatusRequest{})
	wantCode(t, "malformed token", err, codes.Unauthenticated, "malformed token")
	_, err = f.Status(as(t, "cset_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), &apiv1.StatusRequest{})
	wantCode(t, "unknown token", err, codes.Unauthenticated, "token not recognised")

	reader := createToken(t, f, admin, "reader", "read")
	ops := createToken(t, f, admin, "ops", "operate")
	seed(t, tokenClient(t, c.Followers()[0], admin))

	if _, err := f.ListWorkloads(as(t, reader), &apiv1.ListRequest{}); err != nil {
		t.Errorf("reader lists workloads: %v", err)
	}
	_, err = f.MoveWorkload(as(t, reader), &apiv1.MoveWorkloadRequest{Name: "web", ToMember: "west"})
	wantCode(t, "reader moves", err, codes.PermissionDenied, "token reader has role read; this call needs operate")
	_, err = f.ListTokens(as(t, reader), &apiv1.ListRequest{})
	wantCode(t, "reader lists tokens", err, codes.PermissionDenied, "token reader has role read; this call needs admin")

	ctx := metadata.AppendToOutgoingContext(as(t, ops), "cset-actor", "mallory")
	if _, err := f.SetMemberAdmin(ctx, &apiv1.SetMemberAdminRequest{Name: "east", Admin: "draining"}); err != nil {
		t.Fatalf("ops drains: %v", err)
	}
	_, err = f.AddMember(as(t, ops), &apiv1.AddMemberRequest{Name: "north"})
	wantCode(t, "ops adds a member", err, codes.PermissionDenied, "token ops has role operate; this call needs admin")

	waitEvent(t, f, admin, "denied move by reader", func(e *apiv1.Event) bool {
		return e.GetKind() == fsm.KindDenied && e.GetActor() == "reader" && strings.Contains(e.GetMessage(), "denied MoveWorkload")
	})
	waitEvent(t, f, admin, "audited drain by ops", func(e *apiv1.Event) bool {
		return e.GetKind() == "audit" && e.GetActor() == "ops" && e.GetMessage() == "SetMemberAdmin east by ops: OK"
	})
	drain := waitEvent(t, f, admin, "drain event", func(e *apiv1.Event) bool {
		return e.GetKind() == "admin" && strings.Contains(e.GetMessage(), "active -> draining")
	})
	if drain.GetActor() != "ops" {
		t.Errorf("the drain event names actor %q, want the token name ops (cset-actor is not trusted)", drain.GetActor())
	}
	waitEvent(t, f, admin, "anonymous denial", func(e *apiv1.Event) bool {
		return e.GetActor() == "(anonymous)" && strings.Contains(e.GetMessage(), "denied Status")
	})

	list, err := f.ListTokens(as(t, admin), &apiv1.ListRequest{})
	if err != nil || len(list.GetTokens()) != 3 {
		t.Fatalf("list tokens: %v %v", list, err)
	}
	if _, err := f.RevokeToken(as(t, admin), &apiv1.RevokeTokenRequest{Name: "ops"}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		_, err := f.Status(as(t, ops), &apiv1.StatusRequest{})
		if status.Code(err) != codes.Unauthenticated {
			return fmt.Errorf("revoked token: %v", err)
		}
		return nil
	})
	_, err = f.RevokeToken(as(t, admin), &apiv1.RevokeTokenRequest{Name: "bootstrap"})
	wantCode(t, "revoke the last admin", err, codes.FailedPrecondition, "last admin token")
}

// TestAuth_RetriedCreateTokenDoesNotInventASecret: a retry of an applied CreateToken cannot
// show the first secret (only its hash was stored) and must not show a new one that is invalid.
func TestAuth_RetriedCreateTokenDoesNotInventASecret(t *testing.T) {
	t.Parallel()
	c := clustertest.New(t, 1, withAuth)
	admin := c.BootstrapToken()
	cl := c.Nodes[0].Client()
	ctx := metadata.AppendToOutgoingContext(as(t, admin), "cset-request-id", "retry-1")
	if _, err := cl.CreateToken(ctx, &apiv1.CreateTokenRequest{Name: "ci", Role: "read"}); err != nil {
		t.Fatal(err)
	}
	_, err := cl.CreateToken(ctx, &apiv1.CreateTokenRequest{Name: "ci", Role: "read"})
	wantCode(t, "retried create", err, codes.FailedPrecondition, "revoke it and create it anew")
}

// bearer is per-call credentials with a token, over plaintext or TLS.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}
func (bearer) RequireTransportSecurity() bool { return false }

// tokenClient dials n's API in plaintext with token on every call.
func tokenClient(t *testing.T, n *clustertest.Node, token string) apiv1.ClusterSetServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(n.Server.Addrs().GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(bearer(token)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return apiv1.NewClusterSetServiceClient(conn)
}

// TestAuth_Streams: the streaming calls are checked too, and a snapshot restore uploaded to a
// follower reaches the leader with the caller's token.
func TestAuth_Streams(t *testing.T) {
	t.Parallel()
	c := clustertest.New(t, 3, withAuth)
	admin := c.BootstrapToken()
	fnode := c.Followers()[0]
	f := fnode.Client()
	reader := createToken(t, f, admin, "reader", "read")
	seed(t, tokenClient(t, fnode, admin))

	w, err := f.WatchEvents(clustertest.Ctx(t), &apiv1.ListEventsRequest{})
	if err == nil {
		_, err = w.Recv()
	}
	wantCode(t, "watch without a token", err, codes.Unauthenticated, "no token")
	w, err = f.WatchEvents(as(t, reader), &apiv1.ListEventsRequest{Limit: 1})
	if err == nil {
		_, err = w.Recv()
	}
	if err != nil {
		t.Errorf("reader watches events: %v", err)
	}
	save, err := f.SnapshotSave(as(t, reader), &apiv1.SnapshotSaveRequest{})
	if err == nil {
		_, err = save.Recv()
	}
	wantCode(t, "reader saves a snapshot", err, codes.PermissionDenied, "this call needs admin")

	save, err = f.SnapshotSave(as(t, admin), &apiv1.SnapshotSaveRequest{Redact: true})
	if err != nil {
		t.Fatal(err)
	}
	var snap []byte
	for {
		chunk, err := save.Recv()
		if err != nil {
			break
		}
		snap = append(snap, chunk.GetData()...)
	}
	if len(snap) == 0 || strings.Contains(string(snap), "s3cret") {
		t.Fatalf("redacted snapshot of %d bytes, with a password: %v", len(snap), strings.Contains(string(snap), "s3cret"))
	}
	up, err := f.SnapshotRestore(as(t, admin))
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Send(&apiv1.SnapshotChunk{Data: snap}); err != nil {
		t.Fatal(err)
	}
	if _, err := up.CloseAndRecv(); err != nil {
		t.Fatalf("restore through a follower: %v", err)
	}
	// The ring keeps its tokens and the members their passwords.
	if _, err := f.Status(as(t, reader), &apiv1.StatusRequest{}); err != nil {
		t.Errorf("the reader token after the restore: %v", err)
	}
	if pw := c.Leader().Server.FSM().Data().Members["east"].GetPassword(); pw != "s3cret-east" {
		t.Errorf("east's password after restoring a redacted snapshot: %q", pw)
	}
	waitEvent(t, f, admin, "audited restore", func(e *apiv1.Event) bool {
		return e.GetKind() == "audit" && e.GetMessage() == "SnapshotRestore by bootstrap: OK"
	})
}

// TestAuth_BootstrapTokenOnce: the bootstrap token file is 0600 and survives a restart of the
// master: a new leadership after the restart neither creates a second token nor rewrites the
// file.
func TestAuth_BootstrapTokenOnce(t *testing.T) {
	t.Parallel()
	c := clustertest.New(t, 1, withAuth)
	path := c.BootstrapTokenFile()
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("bootstrap token file %v %v, want mode 0600", fi, err)
	}
	before := c.BootstrapToken()
	n := c.Nodes[0]
	c.Stop(n)
	c.Restart(n)
	c.WaitForLeader()
	// A write after the restart is applied after the bootstrap task's barrier and check.
	if _, err := tokenClient(t, n, before).InitSet(clustertest.Ctx(t), &apiv1.InitSetRequest{Name: "prod", Zone: "cset.example.com"}); err != nil {
		t.Fatalf("the bootstrap token after a restart: %v", err)
	}
	if got := c.BootstrapToken(); got != before {
		t.Error("the bootstrap token file was rewritten after the restart")
	}
	if toks := n.Server.FSM().Tokens(); len(toks) != 1 {
		t.Errorf("tokens after the restart: %v", toks)
	}
}
