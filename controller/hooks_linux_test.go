package controller

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cset-project/cset/internal/testutil"
)

// hookParentEnv makes the test binary play a master that starts a hook and then waits to be
// killed (TestHookCommand_DiesWithItsMaster).
const hookParentEnv = "CSET_TEST_HOOK_PARENT"

// hookDeadlineEnv passes the deadline file to that master (TestHookCommand_DiesAtTheLeaseEndWhileItsMasterIsFrozen).
const hookDeadlineEnv = "CSET_TEST_HOOK_DEADLINE"

func TestHookCommand_DiesWithItsMaster(t *testing.T) {
	if hook := os.Getenv(hookParentEnv); hook != "" {
		cmd := hookCommand(context.Background(), hook, os.Getenv(hookDeadlineEnv))
		if err := cmd.Start(); err != nil {
			fmt.Println("start:", err)
			os.Exit(2)
		}
		select {} // until killed
	}
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	// The hook starts a child of its own (as a copy or replication script would) and waits.
	hook := filepath.Join(dir, "hook.sh")
	script := fmt.Sprintf("#!/bin/sh\nsleep 60 &\necho $$ $! > %s.tmp && mv %s.tmp %s\nwait\n", pids, pids, pids)
	if err := os.WriteFile(hook, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	master := exec.Command(os.Args[0], "-test.run=^TestHookCommand_DiesWithItsMaster$")
	master.Env = append(os.Environ(), hookParentEnv+"="+hook)
	if err := master.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = master.Process.Kill(); _ = master.Wait() })
	procs := waitPids(t, pids)
	for _, pid := range procs {
		t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	}
	// kill -9 of the master: the hook and its child must go with it.
	if err := master.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = master.Wait()
	waitGone(t, procs, 10*time.Second, "its master")
}

// alive reports whether pid runs (a zombie, dead but not yet reaped by init, counts as gone).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// flakyFence passes its first n checks, then fails.
type flakyFence struct{ left atomic.Int32 }

func (f *flakyFence) Check(context.Context) error {
	if f.left.Add(-1) < 0 {
		return errors.New("fence: witness lease for term 3 ended")
	}
	return nil
}

func TestUnderFence_CancelsWhenTheFenceIsLost(t *testing.T) {
	f := &flakyFence{}
	f.left.Store(3)
	c := New(defaultConfig(), Deps{Fence: f})
	ctx, cancel, err := c.underFence(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the context outlived the fence")
	}
	if cause := context.Cause(ctx); !errors.Is(cause, errFenceLost) || !strings.Contains(cause.Error(), "lease for term 3 ended") {
		t.Errorf("cause %v, want errFenceLost with the fence's reason", cause)
	}
	f.left.Store(0)
	if _, _, err := c.underFence(t.Context()); err == nil {
		t.Error("underFence without the fence returned no error")
	}
}

// TestHookCommand_DiesAtTheLeaseEndWhileItsMasterIsFrozen freezes the master that runs a hook
// (SIGSTOP, as a stalled VM or a chaos fault does): it can neither renew its lease nor cancel
// the hook, and a new leader reruns the hook once the lease ended. The hook's supervisor must
// kill the hook and its children when the time in the deadline file passes.
func TestHookCommand_DiesAtTheLeaseEndWhileItsMasterIsFrozen(t *testing.T) {
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	hook := filepath.Join(dir, "hook.sh")
	script := fmt.Sprintf("#!/bin/sh\nsleep 60 &\necho $$ $! > %s.tmp && mv %s.tmp %s\nwait\n", pids, pids, pids)
	if err := os.WriteFile(hook, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	deadline := filepath.Join(dir, "deadline")
	// Far ahead while the hook starts: the test moves it once the master is frozen.
	if err := os.WriteFile(deadline, []byte(strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10)), 0o600); err != nil {
		t.Fatal(err)
	}
	master := exec.Command(os.Args[0], "-test.run=^TestHookCommand_DiesWithItsMaster$")
	master.Env = append(os.Environ(), hookParentEnv+"="+hook, hookDeadlineEnv+"="+deadline)
	if err := master.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = master.Process.Signal(syscall.SIGCONT)
		_ = master.Process.Kill()
		_ = master.Wait()
	})
	procs := waitPids(t, pids)
	for _, pid := range procs {
		t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	}
	if err := master.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// The lease "ends" one second from now; until then the hook must keep running.
	end := time.Now().Add(time.Second)
	if err := os.WriteFile(deadline, []byte(strconv.FormatInt(end.UnixMilli(), 10)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, pid := range procs {
		if !alive(pid) && time.Now().Before(end) {
			t.Fatalf("process %d of the hook died before its deadline", pid)
		}
	}
	waitGone(t, procs, 15*time.Second, "its deadline while its master was frozen")
}

// waitGone waits up to limit for every process of the hook to be gone; what names what they
// must not outlive, for the message.
func waitGone(t *testing.T, procs []int, limit time.Duration, what string) {
	t.Helper()
	testutil.Poll{Timeout: limit, Interval: 10 * time.Millisecond}.Eventually(t, "the hook's processes gone", func() error {
		for _, pid := range procs {
			if alive(pid) {
				return fmt.Errorf("process %d of the hook outlived %s (hook pid, child pid: %v)", pid, what, procs)
			}
		}
		return nil
	})
}

// TestHookCommand_DeadlineAheadKeepsTheExitCode runs a hook that ends before its deadline: the
// supervisor returns at once with the hook's exit code, its watchdog holding nothing open.
func TestHookCommand_DeadlineAheadKeepsTheExitCode(t *testing.T) {
	dir := t.TempDir()
	hook := filepath.Join(dir, "hook.sh")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\necho replicated\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	deadline := filepath.Join(dir, "deadline")
	if err := os.WriteFile(deadline, []byte(strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := hookCommand(context.Background(), hook, deadline)
	out, err := cmd.Output()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("got %v, want exit status 3", err)
	}
	if string(out) != "replicated\n" {
		t.Fatalf("output %q", out)
	}
}

// waitPids waits for the hook to write its pid and its child's.
func waitPids(t *testing.T, pids string) []int {
	t.Helper()
	var b []byte
	testutil.Poll{Timeout: 20 * time.Second, Interval: 10 * time.Millisecond}.Eventually(t, "the hook's pids", func() error {
		var err error
		if b, err = os.ReadFile(pids); err != nil {
			return fmt.Errorf("the hook never started: %w", err)
		}
		return nil
	})
	var procs []int
	for _, f := range strings.Fields(string(b)) {
		pid, _ := strconv.Atoi(f)
		procs = append(procs, pid)
	}
	return procs
}
