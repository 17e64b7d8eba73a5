package controller

import (
	"fmt"
	"strings"

	"github.com/cset-project/cset/fsm"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"github.com/cset-project/cset/scheduler"
)

// AdmissionError is a refusal of the scheduler's predicates (docs/design.md, "Split-brain protection": every
// operation is admitted by the same rules). Its message is the scheduler's reason.
type AdmissionError struct {
	// What names the refused operation, e.g. "workload web cannot move to east".
	What string
	// Reason is the scheduler's reason, or every candidate's for a workload no member can take.
	Reason string
	// Forceable is true when --force would admit it: only capacity or soft spread refuse it.
	Forceable bool
}

func (e *AdmissionError) Error() string {
	msg := e.What + ": " + e.Reason
	if e.Forceable {
		msg += " (only capacity or soft spread refuse it: 'csetctl workload move --force' overrides them)"
	}
	return msg
}

// AdmitPlanned checks an operator's planned move (op.TargetMember, op.TargetServer, op.Force)
// against the scheduler's predicates in state d and returns the admitted candidate. Its
// Overrides say what --force overrode. A refusal is an *AdmissionError, a malformed request
// (unknown member or server, not a candidate) a wrapped scheduler error.
func AdmitPlanned(d *fsm.Data, op *fsmv1.Operation) (scheduler.Candidate, error) {
	req := scheduler.Request{Workload: op.Workload, PinMember: op.TargetMember, PinServer: op.TargetServer, Force: op.Force}
	plan, err := scheduler.Rank(SchedulerState(d), req)
	if err != nil {
		return scheduler.Candidate{}, err
	}
	for _, c := range plan.Candidates {
		if c.Member != op.TargetMember {
			continue
		}
		if !c.Rejected {
			return c, nil
		}
		e := &AdmissionError{What: fmt.Sprintf("workload %s cannot move to %s", op.Workload, op.TargetMember), Reason: c.Reason}
		if !op.Force {
			req.Force = true
			if forced, err := scheduler.Rank(SchedulerState(d), req); err == nil {
				_, e.Forceable = forced.Best()
			}
		}
		return scheduler.Candidate{}, e
	}
	return scheduler.Candidate{}, fmt.Errorf("%w: member %s is not ranked for workload %s", scheduler.ErrInvalidRequest, op.TargetMember, op.Workload)
}

// AdmitStart checks that workload w, which an operator wants online, can be started now:
// placed, or its group seen running on a member the leader reaches (it is adopted), or a
// candidate member the scheduler accepts. It returns an *AdmissionError listing every
// candidate's reason otherwise.
func AdmitStart(d *fsm.Data, w *fsmv1.Workload) error {
	if w.GetPlacement().GetMember() != "" || len(reachable(d, where(d, w))) > 0 {
		return nil
	}
	plan, err := scheduler.Rank(SchedulerState(d), scheduler.Request{Workload: w.Name})
	if err != nil {
		return err
	}
	if _, ok := plan.Best(); ok {
		return nil
	}
	return &AdmissionError{What: fmt.Sprintf("workload %s cannot start", w.Name), Reason: "no candidate member can take it: " + reasons(plan)}
}

// reasons lists every candidate of a plan with its reason.
func reasons(plan scheduler.Plan) string {
	var why []string
	for _, c := range plan.Candidates {
		why = append(why, c.Member+": "+c.Reason)
	}
	return strings.Join(why, "; ")
}
