package fsm_test

import (
	"bytes"
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/cset-project/cset/fsm"
	"github.com/cset-project/cset/fsm/fsmtest"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
)

func tokenHash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

func testToken(name, role string) *fsmv1.Token {
	return &fsmv1.Token{Name: name, Role: role, Hash: tokenHash("secret-" + name), CreatedBy: "bootstrap"}
}

// tokenCase is one row of the token tables: tokens are not part of fsm.Data, so the rows
// compare the token list separately.
type tokenCase struct {
	name    string
	setup   []proto.Message
	cmd     proto.Message
	wantErr error
	errHas  string
	want    []string // name:role of every token after the entry, sorted by name
	events  []ev
}

func runTokenCases(t *testing.T, cases []tokenCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := seeded(t)
			fsmtest.Apply(t, f, tc.setup...)
			before, lastSeq := f.Data(), f.LastEventSeq()
			idx := f.AppliedIndex() + 1
			res := applyCmd(t, f, idx, tc.cmd)
			checkErr(t, res.Err, tc.wantErr, tc.errHas)
			var got []string
			for _, tok := range f.Tokens() {
				got = append(got, tok.Name+":"+tok.Role)
				if len(tok.Hash) != sha256.Size {
					t.Errorf("token %s has a %d-byte hash", tok.Name, len(tok.Hash))
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("tokens after apply (-want +got):\n%s", diff)
			}
			before.AppliedIndex = idx
			if diff := cmp.Diff(before, f.Data(), protocmp.Transform()); diff != "" {
				t.Errorf("a token command changed the rest of the state (-before +after):\n%s", diff)
			}
			if diff := cmp.Diff(tc.events, evs(f.Events(lastSeq, 0, "", ""))); diff != "" {
				t.Errorf("events written (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFSM_ApplyCreateToken(t *testing.T) {
	t.Parallel()
	runTokenCases(t, []tokenCase{
		{
			name: "bootstrap into an empty table",
			cmd:  &fsmv1.CreateTokenCommand{Token: testToken("bootstrap", fsm.RoleAdmin), OnlyIfNone: true},
			want: []string{"bootstrap:admin"}, events: []ev{{Kind: "admin", Severity: "info", Msg: "token bootstrap created with role admin"}},
		},
		{
			name:  "bootstrap once only",
			setup: []proto.Message{&fsmv1.CreateTokenCommand{Token: testToken("alice", fsm.RoleRead)}},
			cmd:   &fsmv1.CreateTokenCommand{Token: testToken("bootstrap", fsm.RoleAdmin), OnlyIfNone: true},
			want:  []string{"alice:read"}, wantErr: fsm.ErrFailedPrecondition, errHas: "tokens exist already",
		},
		{
			name:  "second token",
			setup: []proto.Message{&fsmv1.CreateTokenCommand{Token: testToken("bootstrap", fsm.RoleAdmin)}},
			cmd:   &fsmv1.CreateTokenCommand{Token: testToken("ops", fsm.RoleOperate)},
			want:  []string{"bootstrap:admin", "ops:operate"}, events: []ev{{Kind: "admin", Severity: "info", Msg: "token ops created with role operate"}},
		},
		{
			name:  "duplicate name",
			setup: []proto.Message{&fsmv1.CreateTokenCommand{Token: testToken("ops", fsm.RoleOperate)}},
			cmd:   &fsmv1.CreateTokenCommand{Token: testToken("ops", fsm.RoleRead)},
			want:  []string{"ops:operate"}, wantErr: fsm.ErrAlreadyExists, errHas: `token "ops" already exists`,
		},
		{name: "unknown role", cmd: &fsmv1.CreateTokenCommand{Token: testToken("x", "root")}, wantErr: fsm.ErrInvalidArgument, errHas: `role "root" is unknown`},
		{name: "bad name", cmd: &fsmv1.CreateTokenCommand{Token: testToken("Not A Name", fsm.RoleRead)}, wantErr: fsm.ErrInvalidArgument},
		{name: "no hash", cmd: &fsmv1.CreateTokenCommand{Token: &fsmv1.Token{Name: "x", Role: fsm.RoleRead}}, wantErr: fsm.ErrInvalidArgument, errHas: "hash must be 32 bytes"},
	})
}

func TestFSM_ApplyRevokeToken(t *testing.T) {
	t.Parallel()
	two := []proto.Message{
		&fsmv1.CreateTokenCommand{Token: testToken("bootstrap", fsm.RoleAdmin)},
		&fsmv1.CreateTokenCommand{Token: testToken("ops", fsm.RoleOperate)},
	}
	runTokenCases(t, []tokenCase{
		{
			name: "revoke", setup: two, cmd: &fsmv1.RevokeTokenCommand{Name: "ops"},
			want: []string{"bootstrap:admin"}, events: []ev{{Kind: "admin", Severity: "warn", Msg: "token ops (role operate) revoked"}},
		},
		{
			name: "the last admin token stays", setup: two, cmd: &fsmv1.RevokeTokenCommand{Name: "bootstrap"},
			want: []string{"bootstrap:admin", "ops:operate"}, wantErr: fsm.ErrFailedPrecondition, errHas: "last admin token",
		},
		{
			name: "an admin token goes when another admin remains",
			setup: append(append([]proto.Message{}, two...),
				&fsmv1.CreateTokenCommand{Token: testToken("root2", fsm.RoleAdmin)}),
			cmd:  &fsmv1.RevokeTokenCommand{Name: "bootstrap"},
			want: []string{"ops:operate", "root2:admin"}, events: []ev{{Kind: "admin", Severity: "warn", Msg: "token bootstrap (role admin) revoked"}},
		},
		{name: "unknown", setup: two, cmd: &fsmv1.RevokeTokenCommand{Name: "nobody"}, want: []string{"bootstrap:admin", "ops:operate"}, wantErr: fsm.ErrNotFound},
	})
}

// TestFSM_TokensSurviveSnapshotHashed checks that tokens go through a raft snapshot with their
// hashes (never a secret), that TokenByHash finds them after a restore, that a redacted snapshot
// holds neither tokens nor passwords, and that a restore through the log keeps the running
// ring's tokens.
func TestFSM_TokensSurviveSnapshotHashed(t *testing.T) {
	t.Parallel()
	f := seeded(t)
	fsmtest.Apply(t, f,
		&fsmv1.CreateTokenCommand{Token: testToken("bootstrap", fsm.RoleAdmin)},
		&fsmv1.CreateTokenCommand{Token: testToken("ops", fsm.RoleOperate)})
	b := snapshotBytes(t, f)
	if bytes.Contains(b, []byte("secret-ops")) || !bytes.Contains(b, tokenHash("secret-ops")) {
		t.Error("the snapshot holds a token secret, or not its hash")
	}
	g := fsm.New(nil)
	restore(t, g, b)
	diffProto(t, "tokens after restore", f.Tokens(), g.Tokens())
	if name, role, ok := g.TokenByHash(tokenHash("secret-ops")); !ok || name != "ops" || role != fsm.RoleOperate {
		t.Errorf("TokenByHash after restore = %q %q %v", name, role, ok)
	}
	if _, _, ok := g.TokenByHash(tokenHash("secret-nobody")); ok {
		t.Error("TokenByHash found an unknown secret")
	}

	var red bytes.Buffer
	if err := f.WriteRedactedSnapshot(&red); err != nil {
		t.Fatal(err)
	}
	for _, secret := range [][]byte{tokenHash("secret-ops"), tokenHash("secret-bootstrap"), []byte("secret-east"), []byte("secret-west")} {
		if bytes.Contains(red.Bytes(), secret) {
			t.Errorf("the redacted snapshot holds %q", secret)
		}
	}
	if !bytes.Contains(red.Bytes(), []byte("east-1.example.com")) {
		t.Error("the redacted snapshot lost the members")
	}

	// A restore through the log keeps this ring's tokens and known passwords.
	h := seeded(t)
	fsmtest.Apply(t, h, &fsmv1.CreateTokenCommand{Token: testToken("current", fsm.RoleAdmin)})
	res := applyCmd(t, h, h.AppliedIndex()+1, &fsmv1.RestoreStateCommand{Snapshot: red.Bytes()})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if got := h.Tokens(); len(got) != 1 || got[0].Name != "current" {
		t.Errorf("tokens after restoring a redacted snapshot: %v", got)
	}
	if pw := h.Data().Members["east"].GetPassword(); pw != "secret-east" {
		t.Errorf("east's password after restoring a redacted snapshot = %q, want the ring's", pw)
	}
	if strings.Contains(f.Events(0, 0, "", "")[len(f.Events(0, 0, "", ""))-1].GetMessage(), "secret") {
		t.Error("an event mentions a secret")
	}
}
