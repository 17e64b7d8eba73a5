package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun_TLSInit(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "tls")
	var out, errOut bytes.Buffer
	code := run(t.Context(), []string{"tls", "init", "-dir", dir, "-masters", "m1,m2,m3", "-hosts", "10.0.0.1,m2=m2.example.com", "-clients", "admin"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, f := range []string{"ca.pem", "ca-key.pem", "m1.pem", "m1-key.pem", "m3-key.pem", "client-admin.pem", "client-admin-key.pem"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, "-key.pem") && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v", f, fi.Mode().Perm())
		}
	}
	if !strings.Contains(out.String(), "-tls-ca "+dir+"/ca.pem") {
		t.Errorf("no next step in %q", out.String())
	}
	// Never overwrites: a second run fails with exit 1.
	if code := run(t.Context(), []string{"tls", "init", "-dir", dir, "-masters", "m1"}, &out, &errOut); code != 1 {
		t.Errorf("second run exit %d", code)
	}
	for _, args := range [][]string{{"tls"}, {"tls", "init"}, {"tls", "init", "-dir", dir}, {"tls", "init", "-bogus"}} {
		if code := run(t.Context(), args, &out, &errOut); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
