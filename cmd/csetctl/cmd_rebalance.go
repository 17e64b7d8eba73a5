package main

import (
	"fmt"

	"github.com/spf13/cobra"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

type rebalanceMoveJSON struct {
	Workload    string `json:"workload"`
	From        string `json:"from_member"`
	To          string `json:"to_member"`
	Reason      string `json:"reason"`
	OperationID string `json:"operation_id"`
}

type rebalanceJSON struct {
	DryRun bool                `json:"dry_run"`
	Moves  []rebalanceMoveJSON `json:"moves"`
}

func toRebalanceJSON(r *apiv1.RebalanceResponse) rebalanceJSON {
	out := rebalanceJSON{DryRun: r.GetDryRun(), Moves: []rebalanceMoveJSON{}}
	for _, m := range r.GetMoves() {
		out.Moves = append(out.Moves, rebalanceMoveJSON{Workload: m.GetWorkload(), From: m.GetFromMember(), To: m.GetToMember(), Reason: m.GetReason(), OperationID: m.GetOperationId()})
	}
	return out
}

func (a *app) rebalanceCommand() *cobra.Command {
	var dryRun bool
	var maxMoves uint32
	cmd := &cobra.Command{
		Use:   "rebalance [--dry-run] [--max-moves N]",
		Short: "Even out the members' load: show the scheduler's moves and start them",
		Long: `rebalance asks the scheduler for moves that even out the load of the members:
each moves one workload from a member above its fair share to the best other
candidate, strictly lowers the imbalance, respects capacity and spread, and
moves a workload at most once. Without --dry-run the moves start as operations
with reason rebalance, which the controller runs through the usual phases,
max_parallel_operations at a time (follow them with 'csetctl operation list').
Workloads with an operation in flight are not moved.`,
		Example: `  csetctl rebalance --dry-run
  csetctl rebalance --max-moves 4`,
		Args: argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := call(cmd.Context(), a, service.Rebalance, &apiv1.RebalanceRequest{DryRun: dryRun, MaxMoves: maxMoves})
			if err != nil {
				return err
			}
			return a.emit(toRebalanceJSON(r), func() error {
				if len(r.GetMoves()) == 0 {
					fmt.Fprintln(a.stdout, "the load is balanced: no move would lower the imbalance")
					return nil
				}
				t := newTable(a.stdout, "WORKLOAD", "FROM", "TO", "OPERATION", "WHY")
				for _, m := range r.GetMoves() {
					op := m.GetOperationId()
					if op == "" {
						op = "(dry run)"
					}
					t.row(m.GetWorkload(), m.GetFromMember(), m.GetToMember(), op, m.GetReason())
				}
				return t.flush()
			})
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "show the moves without starting them")
	cmd.Flags().Uint32Var(&maxMoves, "max-moves", 0, "most moves to plan (default: the masters' max_parallel_operations; at most 1000)")
	return cmd
}
