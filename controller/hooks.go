package controller

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
)

// hookOutputTail is how much of a hook's output is kept in the operation and the event log.
const hookOutputTail = 2048

// runHook runs one handover hook with the CSET_* environment of DESIGN.md section 5 and the
// workload's timeout, and returns its exit code and the tail of its output.
func (c *Controller) runHook(ctx context.Context, w *fsmv1.Workload, op *fsmv1.Operation, hook string) *fsmv1.HookResult {
	timeout := c.cfg.DefaultHookTimeout
	if w.HookTimeoutSeconds > 0 {
		timeout = time.Duration(w.HookTimeoutSeconds) * time.Second
	}
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := hookCommand(hctx, hook)
	cmd.Env = append(os.Environ(),
		"CSET_WORKLOAD="+w.Name, "CSET_GROUP="+w.Group, "CSET_OPERATION="+op.Id, "CSET_REASON="+op.Reason,
		"CSET_FROM_MEMBER="+op.SourceMember, "CSET_FROM_SERVER="+op.SourceServer,
		"CSET_TO_MEMBER="+op.TargetMember, "CSET_TO_SERVER="+op.TargetServer,
	)
	var out tailBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	res := &fsmv1.HookResult{Hook: hook, DurationMs: time.Since(start).Milliseconds(), OutputTail: out.String()}
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
