package controller

import (
	"context"
	"os/exec"
	"syscall"
)

// hookSupervisor is the shell that runs a hook: it leads the hook's process group, and when it
// gets SIGTERM it kills the whole group (itself included). Otherwise it exits with the hook's
// status.
const hookSupervisor = `trap 'kill -KILL 0' TERM; "$0" & wait $!`

// hookCommand runs the hook under hookSupervisor in a process group of its own. Cancellation
// (timeout, leadership or fence loss) kills the whole group; so does the death of this master,
// even by SIGKILL: the supervisor's parent-death signal is SIGTERM. Neither the hook nor anything
// it started outlives the master that ran it, so a new leader's rerun never overlaps it.
func hookCommand(ctx context.Context, hook string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", hookSupervisor, hook)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	return cmd
}
