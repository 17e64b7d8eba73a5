package controller

import (
	"context"
	"os/exec"
	"syscall"
)

// hookSupervisor is the shell that runs a hook ($0): it leads the hook's process group, and when
// it gets SIGTERM it kills the whole group (itself included). With a deadline file ($1), a
// watchdog of its own kills the group once the time in it (Unix milliseconds) has passed: the
// master writes the end of its witness lease there at every renewal, so a hook dies with the
// lease even when the master that ran it cannot act (frozen by SIGSTOP, a stalled VM, swapped
// out) and a new leader, which takes the lease only after it ended, reruns it. Otherwise the
// supervisor exits with the hook's status.
const hookSupervisor = `trap 'kill -KILL 0' TERM
"$0" & h=$!
if [ -n "$1" ]; then
	( while kill -0 "$h" 2>/dev/null; do
		d=$(cat "$1" 2>/dev/null)
		if [ "$(date +%s%3N)" -ge "${d:-0}" ]; then kill -KILL 0; fi
		sleep 0.1
	done ) </dev/null >/dev/null 2>&1 &
fi
wait "$h"`

// hookCommand runs the hook under hookSupervisor in a process group of its own. Cancellation
// (timeout, leadership or fence loss) kills the whole group; so does the death of this master,
// even by SIGKILL: the supervisor's parent-death signal is SIGTERM; and so does the time in
// deadlineFile ("" for none) passing. Neither the hook nor anything it started outlives the
// master that ran it, or its lease, so a new leader's rerun never overlaps it.
func hookCommand(ctx context.Context, hook, deadlineFile string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", hookSupervisor, hook, deadlineFile)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	return cmd
}
