package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cset-project/cset/fsm"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
)

// hookRetryBase is the wait before a failover's first rerun of a failed handover hook; each
// further failure doubles it, up to hookRetryMax.
const (
	hookRetryBase = time.Second
	hookRetryMax  = time.Minute
)

// phaseHandover runs the workload's hooks that have not succeeded yet, each under the fence
// (killed with its whole process group when the fence or the leadership is lost), and records
// each result. What a failure does depends on who asked for the operation:
//   - a move with a healthy source (planned, drain, rebalance): the workload is restarted on its
//     source and the operation fails (restoreOnSource);
//   - a failover (or any other automatic operation): the hooks run again after a growing
//     backoff, and after controller.hook_retries failures the operation is blocked until an
//     operator runs 'csetctl operation retry' or 'cancel'. The workload is held meanwhile:
//     nothing else is started for it.
func (c *Controller) phaseHandover(ctx context.Context, d *fsm.Data, w *fsmv1.Workload, op *fsmv1.Operation) error {
	if op.SourceMember == "" && op.Reason == fsm.ReasonStart {
		return c.advance(ctx, &fsmv1.AdvanceOperationCommand{Id: op.Id, Phase: fsm.PhaseStarting})
	}
	for _, h := range w.Hooks {
		if hookSucceeded(op, h) {
			continue
		}
		if failures := hookFailures(op); failures > 0 {
			next := time.Unix(0, op.UpdatedUnixNano).Add(hookBackoff(failures))
			if wait := next.Sub(c.deps.Now()); wait > 0 {
				return fmt.Errorf("%w: handover hooks failed %d time(s); running them again at %s", errRetry, failures, next.Format("15:04:05"))
			}
		}
		hctx, cancel, err := c.underFence(ctx)
		if err != nil {
			return fmt.Errorf("%w: not running hook %s: %v", errRetry, h, err)
		}
		res := c.runHook(hctx, w, op, h)
		lost := errors.Is(context.Cause(hctx), errFenceLost)
		cancel()
		if !lost && res.ExitCode != 0 && c.deps.Fence.Check(ctx) != nil {
			// The hook's supervisor kills it when the lease ends (a master frozen past its
			// lease cannot cancel it itself): not the hook's failure either.
			lost = true
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if lost {
			// Killed because this master may no longer act: not the hook's failure. Whoever
			// holds the fence next runs it again.
			return fmt.Errorf("%w: hook %s was killed: %v", errRetry, h, context.Cause(hctx))
		}
		if err := c.advance(ctx, &fsmv1.AdvanceOperationCommand{Id: op.Id, Hook: res}); err != nil {
			return err
		}
		if res.ExitCode != 0 || res.Error != "" {
			why := fmt.Sprintf("handover hook %s failed (exit %d%s): %s", h, res.ExitCode, errText(res.Error), lastLine(res.OutputTail))
			return c.hookFailed(ctx, d, op, why)
		}
	}
	return c.advance(ctx, &fsmv1.AdvanceOperationCommand{Id: op.Id, Phase: fsm.PhaseStarting})
}

// hookFailed decides what a failed hook does to its operation (see phaseHandover).
func (c *Controller) hookFailed(ctx context.Context, d *fsm.Data, op *fsmv1.Operation, why string) error {
	switch op.Reason {
	case fsm.ReasonPlanned, fsm.ReasonDrain, fsm.ReasonRebalance, fsm.ReasonFailback:
		return c.restoreOnSource(ctx, d, op, why)
	}
	failures := hookFailures(op) + 1 // the one just recorded is not in op yet
	if failures <= c.cfg.HookRetries {
		return fmt.Errorf("%w: %s; attempt %d of %d, next in %v", errRetry, why, failures, c.cfg.HookRetries+1, hookBackoff(failures))
	}
	msg := fmt.Sprintf("%s; blocked after %d attempts: fix the hook or its data, then run 'csetctl operation retry %s' (or 'csetctl operation cancel %s')", why, failures, op.Id, op.Id)
	c.event(ctx, &fsmv1.Event{Kind: "operation", Severity: "error", Workload: op.Workload, Member: op.TargetMember, OperationId: op.Id, Message: msg})
	return c.advance(ctx, &fsmv1.AdvanceOperationCommand{Id: op.Id, Phase: fsm.PhaseBlocked, Error: msg})
}

// hookFailures counts the failed hook runs of op since its hook base (an operator's retry).
func hookFailures(op *fsmv1.Operation) int {
	n := 0
	for i, r := range op.Hooks {
		if i >= int(op.HookBase) && (r.ExitCode != 0 || r.Error != "") {
			n++
		}
	}
	return n
}

// hookBackoff is the wait after the n-th consecutive hook failure.
func hookBackoff(n int) time.Duration {
	return min(hookRetryBase<<min(n-1, 10), hookRetryMax)
}

func errText(s string) string {
	if s == "" {
		return ""
	}
	return ", " + s
}

func hookSucceeded(op *fsmv1.Operation, hook string) bool {
	for _, r := range op.Hooks {
		if r.Hook == hook && r.ExitCode == 0 && r.Error == "" {
			return true
		}
	}
	return false
}
