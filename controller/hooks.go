package controller

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
)

// hookOutputTail is how much of a hook's output is kept in the operation and the event log.
const hookOutputTail = 2048

// runHook runs one handover hook with the CSET_* environment of docs/design.md, "The controller" and the
// workload's timeout, and returns its exit code and the tail of its output.
func (c *Controller) runHook(ctx context.Context, w *fsmv1.Workload, op *fsmv1.Operation, hook string) *fsmv1.HookResult {
	timeout := c.cfg.HookTimeout
	if w.HookTimeoutSeconds > 0 {
		timeout = time.Duration(w.HookTimeoutSeconds) * time.Second
	}
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	deadlineFile, stopDeadline, err := c.leaseDeadlineFile(hctx)
	if err != nil {
		return &fsmv1.HookResult{Hook: hook, ExitCode: -1, Error: "hook not run: " + err.Error()}
	}
	defer stopDeadline()
	cmd := hookCommand(hctx, hook, deadlineFile)
	cmd.Env = append(os.Environ(),
		"CSET_WORKLOAD="+w.Name, "CSET_GROUP="+w.Group, "CSET_OPERATION="+op.Id, "CSET_REASON="+op.Reason,
		"CSET_FROM_MEMBER="+op.SourceMember, "CSET_FROM_SERVER="+op.SourceServer,
		"CSET_TO_MEMBER="+op.TargetMember, "CSET_TO_SERVER="+op.TargetServer,
	)
	var out tailBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err = cmd.Run()
	res := &fsmv1.HookResult{Hook: hook, DurationMs: time.Since(start).Milliseconds(), OutputTail: out.String()}
	defer func() { c.deps.Observer.Hook(time.Since(start), res.ExitCode != 0 || res.Error != "") }()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.Is(hctx.Err(), context.DeadlineExceeded):
		res.ExitCode, res.Error = -1, "timed out after "+timeout.String()
	case errors.As(err, &exit):
		res.ExitCode = int32(exit.ExitCode())
	default:
		res.ExitCode, res.Error = -1, err.Error()
	}
	c.log.Info("handover hook finished", "workload", w.Name, "operation", op.Id, "hook", hook, "exit", res.ExitCode, "duration_ms", res.DurationMs)
	return res
}

// tailBuffer keeps the last hookOutputTail bytes written to it; safe for concurrent writes.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if over := t.buf.Len() - hookOutputTail; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.ToValidUTF8(t.buf.String(), "?")
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\r\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// leaseEnder is what a Fence that holds a witness lease tells (witness.Fence.LeaseEnd).
type leaseEnder interface {
	LeaseEnd() (time.Time, bool)
}

// leaseDeadlineFile writes the end of this master's witness lease to a file the hook's
// supervisor watches (hooks_linux.go), and rewrites it as the lease is renewed until stop is
// called. The supervisor kills the hook when the time in the file has passed, so a hook never
// outlives the lease of the master that runs it, even when that master is frozen and cannot
// cancel it. Without a lease (no witness) it returns "" and a no-op stop.
func (c *Controller) leaseDeadlineFile(ctx context.Context) (string, func(), error) {
	le, ok := c.deps.Fence.(leaseEnder)
	if !ok {
		return "", func() {}, nil
	}
	end, ok := le.LeaseEnd()
	if !ok {
		return "", func() {}, nil
	}
	f, err := os.CreateTemp("", "cset-hook-deadline-")
	if err != nil {
		return "", nil, fmt.Errorf("deadline file for the hook's supervisor: %w", err)
	}
	path := f.Name()
	_ = f.Close()
	write := func(end time.Time) {
		// Write and rename, so the supervisor never reads a half-written number.
		tmp := path + ".tmp"
		if os.WriteFile(tmp, []byte(strconv.FormatInt(end.UnixMilli(), 10)), 0o600) == nil {
			_ = os.Rename(tmp, path)
		}
	}
	write(end)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(leaseDeadlineRefresh)
		defer t.Stop()
		last := end
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				// A lost lease keeps the last end: the supervisor kills the hook then.
				if end, ok := le.LeaseEnd(); ok && end.After(last) {
					write(end)
					last = end
				}
			}
		}
	}()
	return path, func() {
		close(done)
		<-finished
		_ = os.Remove(path)
		_ = os.Remove(path + ".tmp")
	}, nil
}

// leaseDeadlineRefresh is how often the deadline file follows the lease's renewals.
const leaseDeadlineRefresh = 200 * time.Millisecond
