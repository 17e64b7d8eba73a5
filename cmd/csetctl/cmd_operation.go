package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

// Terminal phases of an operation.
const (
	phaseDone   = "done"
	phaseFailed = "failed"
)

func (a *app) workloadMoveCommand() *cobra.Command {
	var to string
	var wait, force bool
	var waitTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "move NAME --to MEMBER[/SERVER]",
		Short: "Move a workload to another member (planned move)",
		Long: `move starts a planned move of workload NAME to MEMBER (on SERVER, or on the
server the scheduler picks). The operation runs the phases fencing, handover,
starting and done (or failed). Without --wait, csetctl prints the operation and
returns; follow it with 'csetctl operation show ID'. With --wait it prints each
phase as it changes and exits 0 when the operation is done, 1 when it failed
or --wait-timeout passed. With -o json the phases go to stderr and the final
operation to stdout.

The target must pass the rules automatic placement obeys: it must be a
candidate, healthy, active, have an online server, keep its hard availability
set spread and not run the same ECX group for another workload; it must have
the capacity, and it must not put the workload in a fault domain that already
hosts another workload of its soft availability set. A refusal gives the
scheduler's reason. --force overrides capacity and soft spread only, and is
recorded in the event log; nothing overrides the other rules.`,
		Example: `  csetctl workload move web --to west --wait
  csetctl workload move db --to east/east-2
  csetctl workload move db --to east --force   # over east's capacity`,
		Args:              argNames("NAME"),
		ValidArgsFunction: a.completeArgs(a.workloadNames()),
		RunE: func(cmd *cobra.Command, args []string) error {
			member, server, _ := strings.Cut(to, "/")
			if to == "" {
				return usagef("--to is required: the target MEMBER or MEMBER/SERVER, e.g. --to west")
			}
			if err := checkName("--to: member", member); err != nil {
				return &usageError{msg: err.Error()}
			}
			if strings.HasSuffix(to, "/") || strings.Contains(server, "/") {
				return usagef("--to %q: want MEMBER or MEMBER/SERVER, e.g. --to west/west-1", to)
			}
			if waitTimeout <= 0 {
				return usagef("--wait-timeout %s: must be positive", waitTimeout)
			}
			op, err := call(cmd.Context(), a, service.MoveWorkload, &apiv1.MoveWorkloadRequest{Name: args[0], ToMember: member, ToServer: server, Force: force})
			if err != nil {
				return err
			}
			if !wait {
				return a.emitf(toOperationJSON(op), "operation %s started: %s\nfollow it with: csetctl operation show %s\n",
					op.GetId(), describeOperation(op), op.GetId())
			}
			return a.waitOperation(cmd.Context(), op, waitTimeout)
		},
	}
	f := cmd.Flags()
	f.StringVar(&to, "to", "", "target MEMBER or MEMBER/SERVER (required)")
	f.BoolVar(&wait, "wait", false, "print each phase until the operation is done or failed")
	f.BoolVar(&force, "force", false, "override the target's capacity and soft spread (never health, admin state, candidates, hard spread or group ownership)")
	f.DurationVar(&waitTimeout, "wait-timeout", 10*time.Minute, "with --wait, give up after this long (the operation goes on)")
	a.completeFlag(cmd, "to", a.targetNames())
	return cmd
}

func describeOperation(op *apiv1.Operation) string {
	from := op.GetSourceMember()
	if op.GetSourceServer() != "" {
		from += "/" + op.GetSourceServer()
	}
	if from == "" {
		from = "(nowhere)"
	}
	to := op.GetTargetMember()
	if op.GetTargetServer() != "" {
		to += "/" + op.GetTargetServer()
	}
	return fmt.Sprintf("%s %s from %s to %s, phase %s", reasonText(op), op.GetWorkload(), from, to, op.GetPhase())
}

// waitOperation polls GetOperation every pollInterval, printing each new
// phase and hook result, until the operation ends or timeout passes.
func (a *app) waitOperation(ctx context.Context, op *apiv1.Operation, timeout time.Duration) error {
	progress := a.stdout
	if a.jsonOutput() {
		progress = a.stderr
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	fmt.Fprintf(progress, "operation %s: %s\n", op.GetId(), describeOperation(op))
	phase, hooks := "", 0
	for {
		hooks = max(hooks, printHooks(progress, op, hooks, false))
		if op.GetPhase() != phase {
			phase = op.GetPhase()
			printPhase(progress, op)
		}
		if phase == phaseDone || phase == phaseFailed {
			break
		}
		giveUp := func(err error) error {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("gave up waiting after --wait-timeout %s: operation %s is in phase %s and goes on; follow it with 'csetctl operation show %s'", timeout, op.GetId(), phase, op.GetId())
			}
			return err
		}
		t := time.NewTimer(a.pollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return giveUp(ctx.Err())
		case <-t.C:
		}
		var next *apiv1.Operation
		var bound bool // the call's deadline is the one of --wait-timeout, not --timeout
		err := a.do(ctx, func(rctx context.Context, c service) error {
			rdl, _ := rctx.Deadline()
			wdl, _ := ctx.Deadline()
			bound = rdl.Equal(wdl)
			var err error
			next, err = c.GetOperation(rctx, &apiv1.GetRequest{Name: op.GetId(), Read: a.readOpts()})
			return err
		})
		if err != nil {
			if status.Code(err) == codes.DeadlineExceeded && bound {
				// The server, which got the deadline with the call, may give up a moment
				// before the local timer of --wait-timeout fires.
				<-ctx.Done()
			}
			return giveUp(err)
		}
		op = next
	}
	// People have read the phases as they came; a program gets the final operation.
	if err := a.emit(toOperationJSON(op), func() error { return nil }); err != nil {
		return err
	}
	if phase == phaseFailed {
		return fmt.Errorf("operation %s failed (%d start attempts): %s", op.GetId(), op.GetAttempts(), op.GetError())
	}
	return nil
}

func printPhase(w io.Writer, op *apiv1.Operation) {
	at := shortTime(op.GetUpdatedUnixNano())
	if at == "" {
		at = time.Now().UTC().Format("2006-01-02T15:04:05Z")
	}
	line := fmt.Sprintf("%s  %s", at, op.GetPhase())
	switch op.GetPhase() {
	case phaseDone:
		line += fmt.Sprintf(": %s runs on %s/%s", op.GetWorkload(), op.GetTargetMember(), op.GetTargetServer())
	case phaseFailed:
		line += ": " + op.GetError()
	default:
		if op.GetTargetServer() != "" {
			line += fmt.Sprintf(" (target %s/%s, attempt %d)", op.GetTargetMember(), op.GetTargetServer(), op.GetAttempts())
		}
	}
	fmt.Fprintln(w, line)
}

// printHooks prints the hook results after the first seen ones and returns
// how many there are now. The output tail is printed for failed hooks, or
// for all with tails.
func printHooks(w io.Writer, op *apiv1.Operation, seen int, tails bool) int {
	hs := op.GetHooks()
	for _, h := range hs[min(seen, len(hs)):] {
		res := fmt.Sprintf("exit %d", h.GetExitCode())
		if h.GetError() != "" {
			res += ", " + h.GetError()
		}
		fmt.Fprintf(w, "    hook %s: %s in %s\n", h.GetHook(), res, time.Duration(h.GetDurationMs())*time.Millisecond)
		if h.GetOutputTail() != "" && (tails || h.GetExitCode() != 0 || h.GetError() != "") {
			for _, l := range strings.Split(strings.TrimRight(h.GetOutputTail(), "\n"), "\n") {
				fmt.Fprintf(w, "      | %s\n", l)
			}
		}
	}
	return len(hs)
}

func (a *app) operationCommand() *cobra.Command {
	return groupCommand("operation", "Moves and failovers, with their phases",
		listCommand(a, "List the operations", service.ListOperations, (*apiv1.ListOperationsResponse).GetOperations, toOperationJSON,
			[]string{"ID", "WORKLOAD", "REASON", "FROM", "TO", "PHASE", "ATTEMPTS", "UPDATED", "ERROR"},
			func(op *apiv1.Operation) []string {
				return []string{op.GetId(), op.GetWorkload(), op.GetReason(), joinPath(op.GetSourceMember(), op.GetSourceServer()),
					joinPath(op.GetTargetMember(), op.GetTargetServer()), op.GetPhase(), fmt.Sprint(op.GetAttempts()),
					shortTime(op.GetUpdatedUnixNano()), op.GetError()}
			}),
		a.operationIDCommand("show", "Show one operation with its hook results", "", true, service.GetOperation),
		a.operationIDCommand("retry", "Run a blocked operation's handover hooks again",
			`retry resumes an operation that is blocked because its handover hooks kept failing
(controller.hook_retries). Fix what the hook needs first (its output is in
'csetctl operation show ID'); the hooks then run again with a fresh count of retries.
Only a blocked operation can be retried.`, false, service.RetryOperation),
		a.operationIDCommand("cancel", "End a blocked or pending operation as failed",
			`cancel ends a blocked or pending operation as failed. The workload stays where the
state says it is (a blocked failover leaves it stopped: start it elsewhere with
'csetctl workload move', or let the controller place it after its recovery grace).
An operation in the middle of an action (fencing, handover, starting) cannot be
cancelled: wait until it finishes or blocks.`, false, service.CancelOperation))
}

// operationIDCommand is 'operation show|retry|cancel ID': one call on one operation, printed
// like 'operation show'.
func (a *app) operationIDCommand(verb, short, long string, read bool, rpc rpcFunc[*apiv1.GetRequest, *apiv1.Operation]) *cobra.Command {
	cmd := nameCommand(a, verb+" ID", short, read, a.operationNames(), rpc, func(_ string, op *apiv1.Operation) error {
		return a.emit(toOperationJSON(op), func() error { return a.printOperation(op) })
	})
	cmd.Long = long
	return cmd
}

func joinPath(member, server string) string {
	if member == "" || server == "" {
		return member
	}
	return member + "/" + server
}

// reasonText is an operation's reason, marked when --force overrode capacity and soft spread.
func reasonText(op *apiv1.Operation) string {
	if op.GetForce() {
		return op.GetReason() + " (forced)"
	}
	return op.GetReason()
}

func (a *app) printOperation(op *apiv1.Operation) error {
	err := kv(a.stdout,
		"id", op.GetId(),
		"workload", op.GetWorkload(),
		"reason", reasonText(op),
		"from", joinPath(op.GetSourceMember(), op.GetSourceServer()),
		"to", joinPath(op.GetTargetMember(), op.GetTargetServer()),
		"phase", op.GetPhase(),
		"attempts", fmt.Sprint(op.GetAttempts()),
		"error", op.GetError(),
		"created", shortTime(op.GetCreatedUnixNano()),
		"updated", shortTime(op.GetUpdatedUnixNano()),
	)
	if err != nil || len(op.GetHooks()) == 0 {
		return err
	}
	fmt.Fprintln(a.stdout)
	printHooks(a.stdout, op, 0, true)
	return nil
}
