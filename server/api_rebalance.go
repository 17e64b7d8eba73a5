package server

import (
	"context"

	"github.com/cset-project/cset/controller"
	"github.com/cset-project/cset/fsm"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"github.com/cset-project/cset/scheduler"
	"google.golang.org/grpc/status"
)

// Rebalance asks the scheduler for moves that even out the members' load (scheduler.Rebalance:
// each strictly lowers the imbalance, respects capacity and spread, moves a workload at most
// once) and, unless dry_run, starts each as an operation with reason rebalance: the controller
// runs them through the usual phases, max_parallel_operations at a time. Workloads with an
// operation in flight are left where they are.
func (a *api) Rebalance(ctx context.Context, r *apiv1.RebalanceRequest) (*apiv1.RebalanceResponse, error) {
	limit := int(r.GetMaxMoves())
	if limit == 0 {
		limit = a.s.cfg.Controller.MaxParallelOperations
	}
	if limit > 1000 {
		return nil, invalid("max_moves %d: at most 1000 moves at once", limit)
	}
	d := a.s.fsm.Data()
	st := controller.SchedulerState(d)
	// Workloads with an operation in flight are not moved: take them out of the candidates'
	// reach by leaving them where they are (they stay in the load).
	busy := map[string]bool{}
	for _, op := range d.Operations {
		if !fsm.Terminal(op.Phase) {
			busy[op.Workload] = true
		}
	}
	var moves []scheduler.Move
	for _, mv := range scheduler.Rebalance(st, limit+len(busy)) {
		if !busy[mv.Workload] && len(moves) < limit {
			moves = append(moves, mv)
		}
	}
	out := &apiv1.RebalanceResponse{DryRun: r.GetDryRun(), Moves: []*apiv1.RebalanceMove{}}
	for _, mv := range moves {
		m := &apiv1.RebalanceMove{Workload: mv.Workload, FromMember: mv.From, ToMember: mv.To, Reason: mv.Reason}
		out.Moves = append(out.Moves, m)
		if r.GetDryRun() {
			continue
		}
		p := d.Workloads[mv.Workload].GetPlacement()
		op := &fsmv1.Operation{Id: newID("op-"), Workload: mv.Workload, Reason: fsm.ReasonRebalance, SourceMember: p.GetMember(),
			SourceServer: p.GetServer(), TargetMember: mv.To, Phase: fsm.PhasePending}
		if _, err := a.apply(ctx, &fsmv1.LogEntry{Command: &fsmv1.LogEntry_StartOperation{StartOperation: &fsmv1.StartOperationCommand{Operation: op}}}); err != nil {
			started := len(out.Moves) - 1
			return nil, status.Errorf(status.Code(err), "rebalance: starting the move of %s from %s to %s failed after %d moves were started: %s",
				mv.Workload, mv.From, mv.To, started, status.Convert(err).Message())
		}
		m.OperationId = op.Id
	}
	return out, nil
}
