package fsm_test

import (
	"bytes"
	"testing"

	"github.com/cset-project/cset/fsm"
	"github.com/cset-project/cset/fsm/fsmtest"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"google.golang.org/protobuf/proto"
)

func cursor(sink string, seq uint64) *fsmv1.SetNotifyCursorCommand {
	return &fsmv1.SetNotifyCursorCommand{Sink: sink, Seq: seq}
}

func TestFSM_ApplySetNotifyCursor(t *testing.T) {
	t.Parallel()
	// The seed writes events 1..n; every case below stays within them.
	runApplyCases(t, []applyCase{
		{name: "a new sink gets its cursor", seed: true, cmd: cursor("ops-hook", 3),
			want: func(d *fsm.Data, _ int64) { d.NotifyCursors["ops-hook"] = 3 }},
		{name: "it moves forward", seed: true, setup: []proto.Message{cursor("ops-hook", 2)}, cmd: cursor("ops-hook", 4),
			want: func(d *fsm.Data, _ int64) { d.NotifyCursors["ops-hook"] = 4 }},
		{name: "a late commit of a deposed leader does not move it back", seed: true, setup: []proto.Message{cursor("ops-hook", 4)}, cmd: cursor("ops-hook", 2)},
		{name: "sinks are independent", seed: true, setup: []proto.Message{cursor("ops-hook", 4)}, cmd: cursor("syslog", 1),
			want: func(d *fsm.Data, _ int64) { d.NotifyCursors["syslog"] = 1 }},
		{name: "a cursor at seq 0 records the sink", cmd: cursor("ops-hook", 0),
			want: func(d *fsm.Data, _ int64) { d.NotifyCursors["ops-hook"] = 0 }},
		{name: "no sink name", seed: true, cmd: cursor("", 1), wantErr: fsm.ErrInvalidArgument, errHas: "without a sink name"},
		{name: "after the newest event", cmd: cursor("ops-hook", 1), wantErr: fsm.ErrInvalidArgument, errHas: "after the newest event 0"},
	})
}

func TestFSM_NotifyCursorSurvivesSnapshotAndRestoreState(t *testing.T) {
	t.Parallel()
	f := fsm.New(nil)
	fsmtest.Apply(t, f, fsmtest.SeedCommands()...)
	backup := snapshotBytes(t, f) // taken before any cursor
	fsmtest.Apply(t, f, cursor("ops-hook", 2), cursor("syslog", 1))

	g := fsm.New(nil)
	restore(t, g, snapshotBytes(t, f))
	if seq, ok := g.NotifyCursor("ops-hook"); !ok || seq != 2 {
		t.Errorf("restored cursor of ops-hook = %d, %v; want 2, true", seq, ok)
	}
	if _, ok := g.NotifyCursor("mail"); ok {
		t.Error("a sink without a cursor has one after the restore")
	}

	// csetctl snapshot restore of an older backup keeps the running ring's cursors: they count
	// the running ring's events, which a restore keeps too.
	fsmtest.Apply(t, f, &fsmv1.RestoreStateCommand{Snapshot: backup})
	if seq, ok := f.NotifyCursor("syslog"); !ok || seq != 1 {
		t.Errorf("cursor of syslog after restoring a backup = %d, %v; want 1, true", seq, ok)
	}
	var b bytes.Buffer
	if err := f.WriteSnapshot(&b); err != nil {
		t.Fatal(err)
	}
	hdr, _ := readRecords(t, b.Bytes())
	if got := hdr.GetNotifyCursors(); len(got) != 2 || got[0].GetSink() != "ops-hook" || got[1].GetSink() != "syslog" {
		t.Errorf("snapshot header cursors %v, want ops-hook then syslog", got)
	}
}
