package controller

import (
	"strings"
	"time"

	"github.com/cset-project/cset/fsm"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
)

// PhaseAt is a phase an operation committed, and when.
type PhaseAt struct {
	Phase string
	At    time.Time
	// In is how long the operation stayed in the phase: until the next one was committed (0
	// for the last).
	In time.Duration
}

// OperationReport is what one operation did, as its record and its events tell.
type OperationReport struct {
	// Phases are the phases in the order the operation committed them: pending at its
	// creation, each change of phase at the time of the event the state machine wrote with it,
	// and last the phase it is in now (done, failed, or the phase it still runs in).
	Phases []PhaseAt
	// Took is from the operation's creation to its last commit (its end, once it finished).
	Took time.Duration
	// DNSSwitch is when the masters' DNS answer for the workload started naming the target: the
	// commit that ended the operation done, which records the workload Online on the target
	// (DNS answers from that placement: server.workloadRecord). Zero when the operation did not
	// end done, or did not place the workload anywhere (a stop).
	DNSSwitch time.Time
}

// ReportOperation derives what op did from op and events (any events; those of other
// operations are ignored). The state keeps only an operation's creation and last update
// times, so the times of the phases in between come from the events the state machine writes
// with every phase change ("operation ID phase P (...)", "operation ID done: ...",
// "operation ID failed: ..."), which carry the time of the entry that committed the change. A
// phase whose event has left the bounded event log is missing from Phases.
func ReportOperation(op *fsmv1.Operation, events []*fsmv1.Event) OperationReport {
	created := time.Unix(0, op.CreatedUnixNano)
	phases := []PhaseAt{{Phase: fsm.PhasePending, At: created}}
	add := func(phase string, at time.Time) {
		last := &phases[len(phases)-1]
		if last.Phase == phase { // a hook result or an error committed within the same phase
			return
		}
		if at.Before(last.At) {
			at = last.At
		}
		phases = append(phases, PhaseAt{Phase: phase, At: at})
	}
	prefix := "operation " + op.Id + " "
	for _, e := range events {
		if e.GetOperationId() != op.Id || e.GetKind() != "operation" || !strings.HasPrefix(e.GetMessage(), prefix) {
			continue
		}
		rest := strings.TrimPrefix(e.GetMessage(), prefix)
		at := time.Unix(0, e.GetTimeUnixNano())
		switch {
		case strings.HasPrefix(rest, "phase "):
			if p, _, ok := strings.Cut(strings.TrimPrefix(rest, "phase "), " "); ok && p != "" {
				add(p, at)
			}
		case strings.HasPrefix(rest, "done:"):
			add(fsm.PhaseDone, at)
		case strings.HasPrefix(rest, "failed:"):
			add(fsm.PhaseFailed, at)
		}
	}
	// The record has the last word: its phase now, committed at its last update.
	updated := time.Unix(0, max(op.UpdatedUnixNano, op.CreatedUnixNano))
	if phases[len(phases)-1].Phase != op.Phase {
		add(op.Phase, updated)
	}
	for i := range phases[:len(phases)-1] {
		phases[i].In = phases[i+1].At.Sub(phases[i].At)
	}
	r := OperationReport{Phases: phases, Took: updated.Sub(created)}
	if op.Phase == fsm.PhaseDone && op.TargetMember != "" && op.Reason != fsm.ReasonStop {
		r.DNSSwitch = updated
	}
	return r
}
