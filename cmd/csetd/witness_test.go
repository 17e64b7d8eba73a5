package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cset-project/cset/internal/testutil"
	"github.com/cset-project/cset/witness"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a running command.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// writeFile writes content to name in dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startWitness runs `csetd witness` in-process on 127.0.0.1:0 with extra flags and returns its
// base URL; it stops when the test ends.
func startWitness(t *testing.T, extra ...string) string {
	t.Helper()
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready.json")
	args := append([]string{"witness", "-listen", "127.0.0.1:0", "-data-dir", filepath.Join(dir, "data"), "-ready-file", ready}, extra...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	logs := &syncBuffer{}
	go func() { done <- run(ctx, args, logs, logs) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("csetd witness exited %d:\n%s", code, logs.String())
		}
	})
	var a struct {
		Addr string `json:"addr"`
	}
	testutil.Eventually(t, 15*time.Second, func() error {
		b, err := os.ReadFile(ready)
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &a)
	})
	return "http://" + a.Addr
}

// TestWitness_TokensAndResetLease runs `csetd witness` with a lease and a heartbeat token: the
// heartbeat token of the ECX servers cannot take the lease; a lease taken with a term no master
// reaches locks the masters out (stale_term) until `csetd witness reset-lease`, which is refused
// while the lease is live and works once it expired.
func TestWitness_TokensAndResetLease(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	leaseFile := writeFile(t, dir, "lease.token", "lease-secret\n")
	hbFile := writeFile(t, dir, "hb.token", "hb-secret\n")
	url := startWitness(t, "-lease-token-file", leaseFile, "-heartbeat-token-file", hbFile)
	ctx := t.Context()
	member, err := witness.NewClient(witness.ClientConfig{URL: url, Token: "hb-secret"})
	if err != nil {
		t.Fatal(err)
	}
	master, err := witness.NewClient(witness.ClientConfig{URL: url, Token: "lease-secret"})
	if err != nil {
		t.Fatal(err)
	}
	if err := member.Heartbeat(ctx, "east", "east-1"); err != nil {
		t.Fatalf("heartbeat with the heartbeat token: %v", err)
	}
	if _, err := member.Acquire(ctx, "prod", "evil", witness.MaxTerm, 2*time.Second); !errors.Is(err, witness.ErrForbidden) {
		t.Fatalf("lease with the heartbeat token: %v, want ErrForbidden", err)
	}
	// A lease token holder goes first with a term no master reaches.
	if _, err := master.Acquire(ctx, "prod", "evil", witness.MaxTerm, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	var refused *witness.RefusedError
	if _, err := master.Acquire(ctx, "prod", "m1", 4, 2*time.Second); !errors.As(err, &refused) || refused.Reason != witness.ReasonStaleTerm {
		t.Fatalf("the real master: %v, want stale_term", err)
	}

	reset := func() (int, string) {
		var out, errOut bytes.Buffer
		code := run(ctx, []string{"witness", "reset-lease", "-witness", url, "-token-file", leaseFile, "-set", "prod"}, &out, &errOut)
		return code, out.String() + errOut.String()
	}
	if code, out := reset(); code != 1 || !strings.Contains(out, "is live") || !strings.Contains(out, "evil") {
		t.Fatalf("reset of a live lease: exit %d %q; want 1 naming the holder", code, out)
	}
	testutil.Eventually(t, 15*time.Second, func() error {
		code, out := reset()
		if code != 0 || !strings.Contains(out, "reset") {
			return fmt.Errorf("exit %d: %s", code, out)
		}
		return nil
	})
	if _, err := master.Acquire(ctx, "prod", "m1", 4, 2*time.Second); err != nil {
		t.Fatalf("the real master after the reset: %v", err)
	}

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-token-file", hbFile, "-set", "prod"}, 1, "needs the lease token"},
		{[]string{"-token-file", leaseFile, "-set", "ghost"}, 1, "no lease state"},
		{[]string{"-token-file", leaseFile}, 2, "-set is required"},
	} {
		var out, errOut bytes.Buffer
		args := append([]string{"witness", "reset-lease", "-witness", url}, tc.args...)
		if code := run(ctx, args, &out, &errOut); code != tc.code || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: exit %d %q; want %d and %q", tc.args, code, errOut.String(), tc.code, tc.want)
		}
	}
}

func TestWitnessFlags_Errors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	same1 := writeFile(t, dir, "a.token", "same")
	same2 := writeFile(t, dir, "b.token", "same\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"witness"}, "-data-dir is required"},
		{[]string{"witness", "-data-dir", dir, "-token-file", same1}, "-token-file was split in two"},
		{[]string{"witness", "-data-dir", dir, "-lease-token-file", same1}, "go together"},
		{[]string{"witness", "-data-dir", dir, "-lease-token-file", same1, "-heartbeat-token-file", same2}, "the same token"},
		{[]string{"witness", "-data-dir", dir, "-max-conns", "0"}, "-max-conns must be at least 1"},
		{[]string{"witness", "-data-dir", dir, "-max-term-jump", "0"}, "-max-term-jump must be at least 1"},
		{[]string{"witness", "reset-lease"}, "-witness is required"},
	} {
		var out, errOut bytes.Buffer
		if code := run(t.Context(), tc.args, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, errOut.String(), tc.want)
		}
	}
}
