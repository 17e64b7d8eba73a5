package controller_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/cset-project/cset/controller"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
)

func phasesOf(r controller.OperationReport) string {
	s := ""
	for _, p := range r.Phases {
		s += fmt.Sprintf("%s@%d/%v ", p.Phase, p.At.UnixMilli()-1000, p.In)
	}
	return s
}

// ReportOperation takes an operation's phases and their times from its events (as the state
// machine words them), ignores other operations' events and the commits that keep the phase
// (hook results), fills in from the record what the bounded event log lost, and reports the
// DNS switch only for an operation that ended done.
func TestReportOperation(t *testing.T) {
	t.Parallel()
	ms := func(n int64) int64 { return (1000 + n) * int64(time.Millisecond) }
	ev := func(at int64, op, msg string) *fsmv1.Event {
		return &fsmv1.Event{TimeUnixNano: ms(at), Kind: "operation", OperationId: op, Message: msg}
	}
	done := &fsmv1.Operation{Id: "op-1", Workload: "web", Reason: "drain", SourceMember: "east", TargetMember: "west", Phase: "done",
		CreatedUnixNano: ms(0), UpdatedUnixNano: ms(900)}
	events := []*fsmv1.Event{
		ev(0, "op-1", "operation op-1 (drain) of web: east/east-1 -> /"),
		ev(10, "op-2", "operation op-2 phase fencing (target north/north-1)"),
		ev(20, "op-1", "operation op-1 phase fencing (target west/west-1)"),
		ev(100, "op-1", "operation op-1 phase handover (target west/west-1)"),
		{TimeUnixNano: ms(300), Kind: "action", OperationId: "op-1", Message: "hook /h exited 0 after 200ms: ok"},
		ev(300, "op-1", "operation op-1 phase handover (target west/west-1)"), // the hook's result: same phase
		ev(310, "op-1", "operation op-1 phase starting (target west/west-1)"),
		ev(900, "op-1", "operation op-1 done: web on west/west-1"),
	}
	r := controller.ReportOperation(done, events)
	if got, want := phasesOf(r), "pending@0/20ms fencing@20/80ms handover@100/210ms starting@310/590ms done@900/0s "; got != want {
		t.Errorf("phases %q, want %q", got, want)
	}
	if r.Took != 900*time.Millisecond || r.DNSSwitch.UnixNano() != ms(900) {
		t.Errorf("took %v, dns switch %v", r.Took, r.DNSSwitch)
	}

	// The event log lost the phases in between: the record still gives the start and the end.
	r = controller.ReportOperation(done, events[7:])
	if got, want := phasesOf(r), "pending@0/900ms done@900/0s "; got != want {
		t.Errorf("without the middle events: phases %q, want %q", got, want)
	}
	r = controller.ReportOperation(done, nil)
	if got, want := phasesOf(r), "pending@0/900ms done@900/0s "; got != want || r.DNSSwitch.UnixNano() != ms(900) {
		t.Errorf("without events: phases %q (want %q), dns switch %v", got, want, r.DNSSwitch)
	}

	// Failed: no DNS switch; still running: the phase it is in, no switch.
	failed := &fsmv1.Operation{Id: "op-3", Workload: "web", Reason: "drain", SourceMember: "east", TargetMember: "west", Phase: "failed",
		CreatedUnixNano: ms(0), UpdatedUnixNano: ms(400), Error: "hook failed; the workload was restarted on its source"}
	r = controller.ReportOperation(failed, []*fsmv1.Event{
		ev(50, "op-3", "operation op-3 phase fencing (target west/west-1)"),
		ev(400, "op-3", "operation op-3 failed: hook failed; the workload was restarted on its source"),
	})
	if got, want := phasesOf(r), "pending@0/50ms fencing@50/350ms failed@400/0s "; got != want || !r.DNSSwitch.IsZero() {
		t.Errorf("failed: phases %q (want %q), dns switch %v", got, want, r.DNSSwitch)
	}
	running := &fsmv1.Operation{Id: "op-4", Workload: "web", Reason: "drain", SourceMember: "east", TargetMember: "west", Phase: "starting",
		CreatedUnixNano: ms(0), UpdatedUnixNano: ms(70)}
	r = controller.ReportOperation(running, nil)
	if got, want := phasesOf(r), "pending@0/70ms starting@70/0s "; got != want || !r.DNSSwitch.IsZero() || r.Took != 70*time.Millisecond {
		t.Errorf("running: phases %q (want %q), dns switch %v, took %v", got, want, r.DNSSwitch, r.Took)
	}
}
