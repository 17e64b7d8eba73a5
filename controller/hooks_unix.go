//go:build unix

package controller

import (
	"os/exec"
	"syscall"
)

// ownProcessGroup runs the hook in a process group of its own and makes cancellation (timeout,
// leadership loss) kill the whole group, so a child the hook left behind cannot outlive it.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
