package server

import (
	"context"
	"fmt"

	"github.com/cset-project/cset/fsm"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// RetryOperation resumes a blocked operation: its handover hooks run again, with a fresh count
// of controller.hook_retries. The FSM applies it only while the operation is still blocked.
func (a *api) RetryOperation(ctx context.Context, r *apiv1.GetRequest) (*apiv1.Operation, error) {
	op, err := a.blockedOrPending(r.GetName(), false)
	if err != nil {
		return nil, err
	}
	cmd := &fsmv1.AdvanceOperationCommand{Id: op.Id, Phase: fsm.PhaseHandover, FromPhase: fsm.PhaseBlocked, RetryHooks: true,
		Error: fmt.Sprintf("retried by %s after: %s", a.s.actorFrom(ctx), op.Error)}
	if _, err := a.apply(ctx, &fsmv1.LogEntry{Command: &fsmv1.LogEntry_AdvanceOperation{AdvanceOperation: cmd}}); err != nil {
		return nil, err
	}
	return operationToAPI(a.s.fsm.Operation(op.Id)), nil
}

// CancelOperation ends a blocked or pending operation as failed. An operation in the middle of
// an action (fencing, handover, starting) cannot be cancelled: stopping it there could leave a
// group half-started where the state does not say it runs.
func (a *api) CancelOperation(ctx context.Context, r *apiv1.GetRequest) (*apiv1.Operation, error) {
	op, err := a.blockedOrPending(r.GetName(), true)
	if err != nil {
		return nil, err
	}
	cmd := &fsmv1.FinishOperationCommand{Id: op.Id, Error: fmt.Sprintf("cancelled by %s in phase %s", a.s.actorFrom(ctx), op.Phase),
		OnlyInPhases: []string{fsm.PhaseBlocked, fsm.PhasePending}}
	if _, err := a.apply(ctx, &fsmv1.LogEntry{Command: &fsmv1.LogEntry_FinishOperation{FinishOperation: cmd}}); err != nil {
		return nil, err
	}
	return operationToAPI(a.s.fsm.Operation(op.Id)), nil
}

// blockedOrPending returns the operation named id when an operator may retry it (blocked) or
// cancel it (blocked or pending), with an error that says what to do otherwise. The FSM checks
// the phase again when it applies the command.
func (a *api) blockedOrPending(id string, pendingToo bool) (*fsmv1.Operation, error) {
	if id == "" {
		return nil, invalid("name the operation: 'csetctl operation list' shows their ids")
	}
	op := a.s.fsm.Operation(id)
	switch {
	case op == nil:
		return nil, status.Errorf(codes.NotFound, "operation %q does not exist (see 'csetctl operation list')", id)
	case fsm.Terminal(op.Phase):
		return nil, failedPrecondition("operation %s already finished (%s)", id, op.Phase)
	case op.Phase == fsm.PhaseBlocked, pendingToo && op.Phase == fsm.PhasePending:
		return op, nil
	case pendingToo:
		return nil, failedPrecondition("operation %s is in phase %s: only a blocked or pending operation can be cancelled; wait until it finishes or blocks ('csetctl operation show %s')", id, op.Phase, id)
	}
	return nil, failedPrecondition("operation %s is in phase %s: only a blocked operation can be retried ('csetctl operation show %s')", id, op.Phase, id)
}
