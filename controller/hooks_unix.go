//go:build unix && !linux

package controller

import (
	"context"
	"os/exec"
	"syscall"
)

// hookCommand runs the hook in a process group of its own and makes cancellation (timeout,
// leadership or fence loss) kill the whole group, so a child the hook left behind cannot outlive
// it. Without Linux's parent-death signal a hook outlives a master killed with SIGKILL, and
// without the Linux supervisor's watchdog (hooks_linux.go) one frozen with its master outlives
// the master's lease: the deadline file is not used here.
func hookCommand(ctx context.Context, hook, _ string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, hook)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	return cmd
}
