package fsm_test

import (
	"fmt"
	"testing"

	"github.com/cset-project/cset/fsm"
	"github.com/cset-project/cset/fsm/fsmtest"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"google.golang.org/protobuf/proto"
)

// startedOp is activeOp as the FSM stores it when started at index idx.
func startedOp(idx uint64) *fsmv1.Operation {
	op := fsmtest.Operation("op1", "web1", "east", "west")
	op.Phase, op.CreatedUnixNano, op.UpdatedUnixNano = fsm.PhasePending, fsmtest.Time(idx), fsmtest.Time(idx)
	return op
}

// seedLen is the index of the last seed command.
var seedLen = uint64(len(fsmtest.SeedCommands()))

func TestFSM_ApplyStartOperation(t *testing.T) {
	t.Parallel()
	runApplyCases(t, []applyCase{
		{
			name: "planned move", seed: true,
			cmd:    activeOp,
			want:   func(d *fsm.Data, _ int64) { d.Operations["op1"] = startedOp(seedLen + 1) },
			events: []ev{{Kind: "operation", Severity: "info", Workload: "web1", Member: "west", Msg: "operation op1 (planned) of web1: east/east-1 -> west/west-1"}},
		},
		{
			name: "start without a target, in a given phase", seed: true,
			cmd: &fsmv1.StartOperationCommand{Operation: &fsmv1.Operation{Id: "op2", Workload: "db", Reason: fsm.ReasonStart, Phase: fsm.PhaseStarting}},
			want: func(d *fsm.Data, at int64) {
				d.Operations["op2"] = &fsmv1.Operation{Id: "op2", Workload: "db", Reason: fsm.ReasonStart, Phase: fsm.PhaseStarting, CreatedUnixNano: at, UpdatedUnixNano: at}
			},
			events: []ev{{Kind: "operation", Severity: "info", Workload: "db", Msg: "operation op2 (start) of db: / -> /"}},
		},
		{
			name: "after a finished one", seed: true,
			setup: []proto.Message{activeOp, &fsmv1.FinishOperationCommand{Id: "op1", Error: "hook failed"}},
			cmd:   &fsmv1.StartOperationCommand{Operation: fsmtest.Operation("op2", "web1", "east", "west")},
			want: func(d *fsm.Data, at int64) {
				op := fsmtest.Operation("op2", "web1", "east", "west")
				op.Phase, op.CreatedUnixNano, op.UpdatedUnixNano = fsm.PhasePending, at, at
				d.Operations["op2"] = op
			},
			events: []ev{{Kind: "operation", Severity: "info", Workload: "web1", Member: "west", Msg: "operation op2 (planned) of web1: east/east-1 -> west/west-1"}},
		},
		{name: "no operation", seed: true, cmd: &fsmv1.StartOperationCommand{}, wantErr: fsm.ErrInvalidArgument, errHas: "needs an id"},
		{name: "same id twice", seed: true, setup: []proto.Message{activeOp}, cmd: &fsmv1.StartOperationCommand{Operation: fsmtest.Operation("op1", "db", "", "west")}, wantErr: fsm.ErrAlreadyExists},
		{name: "unknown workload", seed: true, cmd: &fsmv1.StartOperationCommand{Operation: fsmtest.Operation("op2", "api", "", "east")}, wantErr: fsm.ErrNotFound},
		{name: "target not a candidate", seed: true, cmd: &fsmv1.StartOperationCommand{Operation: fsmtest.Operation("op2", "web1", "east", "north")}, wantErr: fsm.ErrFailedPrecondition, errHas: "re-register the workload with it first"},
		{
			// A move decided while a failover ran, committed after the failover moved the
			// workload: its source is stale and the move would fence the wrong member.
			name: "from a member the workload is no longer on", seed: true,
			setup: []proto.Message{
				&fsmv1.StartOperationCommand{Operation: &fsmv1.Operation{Id: "op0", Workload: "web1", Reason: fsm.ReasonFailover, SourceMember: "east", SourceServer: "east-1", TargetMember: "west", TargetServer: "west-1"}},
				&fsmv1.FinishOperationCommand{Id: "op0", Success: true, Placement: &fsmv1.Placement{Member: "west", Server: "west-1", Status: "Online"}},
			},
			cmd:     &fsmv1.StartOperationCommand{Operation: fsmtest.Operation("op2", "web1", "east", "east")},
			wantErr: fsm.ErrFailedPrecondition, errHas: `workload "web1" moved meanwhile: it is on west/west-1 now, not on east/east-1`,
		},
		{
			name: "one active operation per workload", seed: true,
			setup:   []proto.Message{activeOp, &fsmv1.AdvanceOperationCommand{Id: "op1", Phase: fsm.PhaseHandover}},
			cmd:     &fsmv1.StartOperationCommand{Operation: fsmtest.Operation("op2", "web1", "west", "east")},
			wantErr: fsm.ErrFailedPrecondition, errHas: "already has operation op1 in phase handover",
		},
	})
}

func TestFSM_ApplyAdvanceOperation(t *testing.T) {
	t.Parallel()
	started := []proto.Message{activeOp}
	runApplyCases(t, []applyCase{
		{
			name: "phase and a successful hook", seed: true, setup: started,
			cmd: &fsmv1.AdvanceOperationCommand{Id: "op1", Phase: fsm.PhaseHandover, Attempts: 1, TriedMember: "west",
				Hook: &fsmv1.HookResult{Hook: "/etc/cset/hooks/move", OutputTail: "syncing\nreplication reversed\n", DurationMs: 12}},
			want: func(d *fsm.Data, at int64) {
				op := d.Operations["op1"]
				op.Phase, op.Attempts, op.UpdatedUnixNano, op.TriedMembers = fsm.PhaseHandover, 1, at, []string{"west"}
				op.Hooks = []*fsmv1.HookResult{{Hook: "/etc/cset/hooks/move", OutputTail: "syncing\nreplication reversed\n", DurationMs: 12}}
			},
			events: []ev{
				{Kind: "action", Severity: "info", Workload: "web1", Member: "west", Msg: "hook /etc/cset/hooks/move exited 0 after 12ms: replication reversed"},
				{Kind: "operation", Severity: "info", Workload: "web1", Member: "west", Msg: "operation op1 phase handover (target west/west-1)"},
			},
		},
		{
			name: "failed hook and an error", seed: true, setup: started,
			cmd: &fsmv1.AdvanceOperationCommand{Id: "op1", Error: "hook failed",
				Hook: &fsmv1.HookResult{Hook: "/h", ExitCode: 3, OutputTail: "no space left", DurationMs: 5}},
			want: func(d *fsm.Data, at int64) {
				op := d.Operations["op1"]
				op.Error, op.UpdatedUnixNano = "hook failed", at
				op.Hooks = []*fsmv1.HookResult{{Hook: "/h", ExitCode: 3, OutputTail: "no space left", DurationMs: 5}}
			},
			events: []ev{
				{Kind: "action", Severity: "error", Workload: "web1", Member: "west", Msg: "hook /h exited 3 after 5ms: no space left"},
				{Kind: "operation", Severity: "info", Workload: "web1", Member: "west", Msg: "operation op1 phase pending (target west/west-1): hook failed"},
			},
		},
		{
			name: "hook that could not run", seed: true, setup: started,
			cmd: &fsmv1.AdvanceOperationCommand{Id: "op1", Hook: &fsmv1.HookResult{Hook: "/h", ExitCode: -1, Error: "timeout after 60s"}},
			want: func(d *fsm.Data, at int64) {
				op := d.Operations["op1"]
				op.UpdatedUnixNano = at
				op.Hooks = []*fsmv1.HookResult{{Hook: "/h", ExitCode: -1, Error: "timeout after 60s"}}
			},
			events: []ev{
				{Kind: "action", Severity: "error", Workload: "web1", Member: "west", Msg: "hook /h exited -1 after 0ms: timeout after 60s"},
				{Kind: "operation", Severity: "info", Workload: "web1", Member: "west", Msg: "operation op1 phase pending (target west/west-1)"},
			},
		},
		{
			name: "new target, attempts never go down, tried members once", seed: true,
			setup: append(started, &fsmv1.AdvanceOperationCommand{Id: "op1", Attempts: 2, TriedMember: "west"}),
			cmd:   &fsmv1.AdvanceOperationCommand{Id: "op1", Phase: fsm.PhaseStarting, TargetMember: "north", TargetServer: "north-2", Attempts: 1, TriedMember: "west"},
			want: func(d *fsm.Data, at int64) {
				op := d.Operations["op1"]
				op.Phase, op.TargetMember, op.TargetServer, op.UpdatedUnixNano = fsm.PhaseStarting, "north", "north-2", at
			},
			events: []ev{{Kind: "operation", Severity: "info", Workload: "web1", Member: "north", Msg: "operation op1 phase starting (target north/north-2)"}},
		},
		{
			name: "operator retry of a blocked operation: hook failures counted afresh", seed: true,
			setup: append(started, &fsmv1.AdvanceOperationCommand{Id: "op1", Phase: fsm.PhaseBlocked, Hook: &fsmv1.HookResult{Hook: "/h", ExitCode: 1}}),
			cmd:   &fsmv1.AdvanceOperationCommand{Id: "op1", Phase: fsm.PhaseHandover, FromPhase: fsm.PhaseBlocked, RetryHooks: true},
			want: func(d *fsm.Data, at int64) {
				op := d.Operations["op1"]
				op.Phase, op.UpdatedUnixNano, op.HookBase = fsm.PhaseHandover, at, 1
				op.Hooks = []*fsmv1.HookResult{{Hook: "/h", ExitCode: 1}}
			},
			events: []ev{{Kind: "operation", Severity: "info", Workload: "web1", Member: "west", Msg: "operation op1 phase handover (target west/west-1)"}},
		},
		{
			name: "conditional advance in another phase", seed: true, setup: started,
			cmd:     &fsmv1.AdvanceOperationCommand{Id: "op1", Phase: fsm.PhaseHandover, FromPhase: fsm.PhaseBlocked, RetryHooks: true},
			wantErr: fsm.ErrFailedPrecondition, errHas: "is in phase pending, not blocked",
		},
		{
			name: "restore on the source", seed: true, setup: started,
			cmd: &fsmv1.AdvanceOperationCommand{Id: "op1", Phase: fsm.PhaseStarting, TargetMember: "east", TargetServer: "east-1", TriedMember: "west", Restoring: true, Error: "hook failed"},
			want: func(d *fsm.Data, at int64) {
				op := d.Operations["op1"]
				op.Phase, op.TargetMember, op.TargetServer, op.UpdatedUnixNano = fsm.PhaseStarting, "east", "east-1", at
				op.TriedMembers, op.Restoring, op.Error = []string{"west"}, true, "hook failed"
			},
			events: []ev{{Kind: "operation", Severity: "info", Workload: "web1", Member: "east", Msg: "operation op1 phase starting (target east/east-1): hook failed"}},
		},
		{name: "unknown", seed: true, cmd: &fsmv1.AdvanceOperationCommand{Id: "op9", Phase: fsm.PhaseFencing}, wantErr: fsm.ErrNotFound, errHas: "operation list"},
		{
			name: "finished", seed: true,
			setup:   append(started, &fsmv1.FinishOperationCommand{Id: "op1", Success: true}),
			cmd:     &fsmv1.AdvanceOperationCommand{Id: "op1", Phase: fsm.PhaseFencing},
			wantErr: fsm.ErrFailedPrecondition, errHas: "already finished (done)",
		},
	})
}

func TestFSM_ApplyFinishOperation(t *testing.T) {
	t.Parallel()
	started := []proto.Message{activeOp}
	runApplyCases(t, []applyCase{
		{
			name: "success places the workload", seed: true,
			setup: append(started, observe("east")),
			cmd:   &fsmv1.FinishOperationCommand{Id: "op1", Success: true, Placement: &fsmv1.Placement{Member: "west", Server: "west-1", Status: "Online"}},
			dns:   true,
			want: func(d *fsm.Data, at int64) {
				op := d.Operations["op1"]
				op.Phase, op.UpdatedUnixNano = fsm.PhaseDone, at
				w := d.Workloads["web1"]
				w.Placement = &fsmv1.Placement{Member: "west", Server: "west-1", Status: "Online", OperationId: "op1", SinceUnixNano: at}
				w.OfflineSinceUnixNano = 0
			},
			events: []ev{{Kind: "operation", Severity: "info", Workload: "web1", Member: "west", Msg: "operation op1 done: web1 on west/west-1"}},
		},
		{
			name: "success with an empty placement clears it (a stop)", seed: true,
			setup: []proto.Message{&fsmv1.StartOperationCommand{Operation: &fsmv1.Operation{Id: "op1", Workload: "web1", Reason: fsm.ReasonStop, SourceMember: "east", SourceServer: "east-1"}}},
			cmd:   &fsmv1.FinishOperationCommand{Id: "op1", Success: true, Placement: &fsmv1.Placement{}},
			dns:   true,
			want: func(d *fsm.Data, at int64) {
				d.Operations["op1"].Phase, d.Operations["op1"].UpdatedUnixNano = fsm.PhaseDone, at
				d.Workloads["web1"].Placement = nil
			},
			events: []ev{{Kind: "operation", Severity: "info", Workload: "web1", Msg: "operation op1 done: web1 on /"}},
		},
		{
			name: "success without a placement leaves it and DNS", seed: true,
			setup: append(started, &fsmv1.AdvanceOperationCommand{Id: "op1", Error: "retrying"}),
			cmd:   &fsmv1.FinishOperationCommand{Id: "op1", Success: true},
			want: func(d *fsm.Data, at int64) {
				op := d.Operations["op1"]
				op.Phase, op.Error, op.UpdatedUnixNano = fsm.PhaseDone, "", at
			},
			events: []ev{{Kind: "operation", Severity: "info", Workload: "web1", Member: "west", Msg: "operation op1 done: web1 on west/west-1"}},
		},
		{
			name: "failure keeps the placement", seed: true, setup: started,
			cmd: &fsmv1.FinishOperationCommand{Id: "op1", Error: "no candidate could start it", Placement: &fsmv1.Placement{Member: "west"}},
			want: func(d *fsm.Data, at int64) {
				op := d.Operations["op1"]
				op.Phase, op.Error, op.UpdatedUnixNano = fsm.PhaseFailed, "no candidate could start it", at
			},
			events: []ev{{Kind: "operation", Severity: "error", Workload: "web1", Member: "west", Msg: "operation op1 failed: no candidate could start it"}},
		},
		{
			name: "operator cancel of a blocked operation", seed: true,
			setup: append(started, &fsmv1.AdvanceOperationCommand{Id: "op1", Phase: fsm.PhaseBlocked}),
			cmd:   &fsmv1.FinishOperationCommand{Id: "op1", Error: "cancelled by admin", OnlyInPhases: []string{fsm.PhaseBlocked, fsm.PhasePending}},
			want: func(d *fsm.Data, at int64) {
				op := d.Operations["op1"]
				op.Phase, op.Error, op.UpdatedUnixNano = fsm.PhaseFailed, "cancelled by admin", at
			},
			events: []ev{{Kind: "operation", Severity: "error", Workload: "web1", Member: "west", Msg: "operation op1 failed: cancelled by admin"}},
		},
		{
			name: "operator cancel mid-action is refused", seed: true,
			setup:   append(started, &fsmv1.AdvanceOperationCommand{Id: "op1", Phase: fsm.PhaseStarting}),
			cmd:     &fsmv1.FinishOperationCommand{Id: "op1", Error: "cancelled", OnlyInPhases: []string{fsm.PhaseBlocked, fsm.PhasePending}},
			wantErr: fsm.ErrFailedPrecondition, errHas: "is in phase starting: only an operation in phase blocked or pending",
		},
		{name: "unknown", seed: true, cmd: &fsmv1.FinishOperationCommand{Id: "op9", Success: true}, wantErr: fsm.ErrNotFound},
		{
			name: "finished twice", seed: true,
			setup:   append(started, &fsmv1.FinishOperationCommand{Id: "op1", Error: "x"}),
			cmd:     &fsmv1.FinishOperationCommand{Id: "op1", Success: true, Placement: &fsmv1.Placement{Member: "west"}},
			wantErr: fsm.ErrFailedPrecondition, errHas: "already finished (failed)",
		},
	})
}

func TestFSM_ApplyAppendEvents(t *testing.T) {
	t.Parallel()
	runApplyCases(t, []applyCase{
		{name: "none", cmd: &fsmv1.AppendEventsCommand{}},
		{
			name: "stamped with defaults",
			cmd: &fsmv1.AppendEventsCommand{Events: []*fsmv1.Event{
				{Kind: "lease", Message: "lease granted"},
				{Kind: "fence", Severity: "warn", Workload: "web1", Member: "east", OperationId: "op1", Message: "group stopped"},
			}},
			events: []ev{{Kind: "lease", Severity: "info", Msg: "lease granted"}, {Kind: "fence", Severity: "warn", Workload: "web1", Member: "east", Msg: "group stopped"}},
		},
	})
	// Seq, index, time and actor are stamped by the FSM, but a time or actor the leader gives wins.
	f := fsm.New(nil)
	res := applyEntry(t, f, 7, fsmtest.Entry(t, &fsmv1.AppendEventsCommand{Events: []*fsmv1.Event{
		{Kind: "dns", Message: "a", Seq: 99, Index: 99},
		{Kind: "dns", Message: "b", TimeUnixNano: 5, Actor: "controller"},
	}}))
	checkErr(t, res.Err, nil, "")
	at := fsmtest.Time(7)
	want := []*fsmv1.Event{
		{Seq: 1, Index: 7, TimeUnixNano: at, Kind: "dns", Severity: "info", Message: "a", Actor: fsmtest.Actor},
		{Seq: 2, Index: 7, TimeUnixNano: 5, Kind: "dns", Severity: "info", Message: "b", Actor: "controller"},
	}
	diffProto(t, "events", want, f.Events(0, 0, "", ""))
}

func TestFSM_PruneFinishedOperations(t *testing.T) {
	t.Parallel()
	f := seeded(t)
	var cmds []proto.Message
	n := fsm.MaxFinishedOperations + 5
	for i := range n {
		id := fmt.Sprintf("op%04d", i)
		cmds = append(cmds, &fsmv1.StartOperationCommand{Operation: fsmtest.Operation(id, "db", "", "west")},
			&fsmv1.FinishOperationCommand{Id: id, Error: "x"})
	}
	cmds = append(cmds, activeOp) // pruning happens on start; keeps active ones
	fsmtest.Apply(t, f, cmds...)
	ops := f.Data().Operations
	if len(ops) != fsm.MaxFinishedOperations+1 {
		t.Fatalf("%d operations kept, want %d finished + 1 active", len(ops), fsm.MaxFinishedOperations)
	}
	for i := range n {
		id := fmt.Sprintf("op%04d", i)
		if _, kept := ops[id]; kept != (i >= n-fsm.MaxFinishedOperations) {
			t.Errorf("operation %s kept=%v: the oldest finished ones must go first", id, kept)
		}
	}
	if ops["op1"].GetPhase() != fsm.PhasePending {
		t.Errorf("active operation op1 = %v, want it kept", ops["op1"])
	}
}
