package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCLI_TokenCommands(t *testing.T) {
	t.Parallel()
	f, addr := newSeeded(t)
	r := cli(t, addr, exitOK, "token", "create", "alice", "--role", "operate")
	if r.stdout != "cset_secret-of-alice\n" {
		t.Errorf("create printed %q on stdout, want only the secret", r.stdout)
	}
	if !strings.Contains(r.stderr, "cannot be shown again") {
		t.Errorf("create stderr %q", r.stderr)
	}
	got := wantKeys(t, "token create", decodeOne(t, cli(t, addr, exitOK, "token", "create", "ci", "--role", "read", "-o", "json").stdout),
		"name", "role", "secret", "created", "created_by")
	if got["secret"] != "cset_secret-of-ci" || got["role"] != "read" {
		t.Errorf("create json %v", got)
	}
	list := cli(t, addr, exitOK, "token", "list", "-o", "json").stdout
	if strings.Contains(list, "secret") {
		t.Errorf("token list shows a secret: %s", list)
	}
	arr, ok := decodeOne(t, list).([]any)
	if !ok || len(arr) != 2 {
		t.Fatalf("token list json %s", list)
	}
	wantKeys(t, "token list", arr[0], "name", "role", "created", "created_by")
	if out := cli(t, addr, exitOK, "token", "list").stdout; !strings.Contains(out, "alice  operate") {
		t.Errorf("token list table:\n%s", out)
	}
	cli(t, addr, exitOK, "token", "revoke", "alice")
	if _, ok := f.tokens["alice"]; ok {
		t.Error("alice not revoked")
	}
	cli(t, addr, exitError, "token", "revoke", "alice")
	for _, args := range [][]string{
		{"token", "create", "bob"},
		{"token", "create", "bob", "--role", "root"},
		{"token", "create", "Bob!", "--role", "read"},
		{"token", "revoke"},
	} {
		cli(t, addr, exitUsage, args...)
	}
}

// TestCLI_TokenIsSentOnEveryCall: reads, writes and streams carry the token, taken from
// --token, else --token-file, else CSET_TOKEN.
func TestCLI_TokenIsSentOnEveryCall(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(file, []byte("  cset_from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{envToken: "cset_from-env"}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"flag", env, []string{"--token", "cset_from-flag"}, "Bearer cset_from-flag"},
		{"file", env, []string{"--token-file", file}, "Bearer cset_from-file"},
		{"env", env, nil, "Bearer cset_from-env"},
		{"none", nil, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, addr := newSeeded(t)
			f.snapshot = []byte("CSETSNAP")
			for _, cmd := range [][]string{{"status"}, {"member", "drain", "east"}, {"events"}, {"snapshot", "save", filepath.Join(t.TempDir(), "s")}} {
				if r := runCLI(t, addr, invocation{env: tc.env}, append(tc.args, cmd...)...); r.code != exitOK {
					t.Fatalf("%v: exit %d: %s", cmd, r.code, r.stderr)
				}
			}
			for _, c := range f.getCalls() {
				if c.auth != tc.want {
					t.Errorf("%s sent authorization %q, want %q", c.method, c.auth, tc.want)
				}
			}
		})
	}
	_, addr := newSeeded(t)
	r := runCLI(t, addr, invocation{}, "--token", "a", "--token-file", file, "status")
	if r.code != exitUsage || !strings.Contains(r.stderr, "exclude each other") {
		t.Errorf("--token with --token-file: exit %d %q", r.code, r.stderr)
	}
	if r := runCLI(t, addr, invocation{}, "--token-file", filepath.Join(t.TempDir(), "missing"), "status"); r.code != exitError {
		t.Errorf("missing --token-file: exit %d %q", r.code, r.stderr)
	}
}

func TestCLI_SnapshotSaveRedact(t *testing.T) {
	t.Parallel()
	f, addr := newSeeded(t)
	f.snapshot = []byte("CSETSNAP")
	dir := t.TempDir()
	cli(t, addr, exitOK, "snapshot", "save", filepath.Join(dir, "full"))
	if f.lastSave.GetRedact() {
		t.Error("snapshot save asked for a redacted snapshot")
	}
	cli(t, addr, exitOK, "snapshot", "save", "--redact", filepath.Join(dir, "red"))
	if !f.lastSave.GetRedact() {
		t.Error("snapshot save --redact did not ask for a redacted snapshot")
	}
	fi, err := os.Stat(filepath.Join(dir, "red"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("redacted snapshot file: %v %v, want mode 0600", fi, err)
	}
}
