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
)

// hookParentEnv makes the test binary play a master that starts a hook and then waits to be
// killed (TestHookCommand_DiesWithItsMaster).
const hookParentEnv = "CSET_TEST_HOOK_PARENT"

func TestHookCommand_DiesWithItsMaster(t *testing.T) {
	if hook := os.Getenv(hookParentEnv); hook != "" {
		cmd := hookCommand(context.Background(), hook)
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
	var procs []int
	deadline := time.Now().Add(20 * time.Second)
	for len(procs) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the hook never started")
		}
		if b, err := os.ReadFile(pids); err == nil {
			for _, f := range strings.Fields(string(b)) {
				pid, _ := strconv.Atoi(f)
				procs = append(procs, pid)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, pid := range procs {
		t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	}
	// kill -9 of the master: the hook and its child must go with it.
	if err := master.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = master.Wait()
	deadline = time.Now().Add(10 * time.Second)
	for _, pid := range procs {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d of the hook outlived its master (hook pid, child pid: %v)", pid, procs)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
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
	c := New(Config{}, Deps{Fence: f})
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
