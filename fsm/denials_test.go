package fsm_test

import (
	"fmt"
	"testing"

	"github.com/cset-project/cset/fsm"
	"github.com/cset-project/cset/fsm/fsmtest"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
)

func denials(from, n int) *fsmv1.AppendEventsCommand {
	c := &fsmv1.AppendEventsCommand{}
	for i := range n {
		c.Events = append(c.Events, &fsmv1.Event{Kind: fsm.KindDenied, Severity: "warn", Actor: "(anonymous)", Message: fmt.Sprint("denied ", from+i)})
	}
	return c
}

// TestFSM_DenialsHaveTheirOwnRing: a flood of refused calls (more than both rings hold) never
// pushes operational events out: KindDenied events are kept in a ring of their own, and the
// readers see both rings merged in sequence order, through snapshots and restores.
func TestFSM_DenialsHaveTheirOwnRing(t *testing.T) {
	t.Parallel()
	f := fsm.New(nil)
	ops := &fsmv1.AppendEventsCommand{Events: []*fsmv1.Event{
		{Kind: "operation", Workload: "web", Member: "east", Message: "op-1 done"},
		{Kind: "detection", Member: "west", Message: "west down"},
		{Kind: "audit", Message: "MoveWorkload web by ops: OK"},
	}}
	const flood = fsm.MaxEvents + fsm.MaxDenialEvents + 5
	fsmtest.Apply(t, f, ops, denials(1, 6000), denials(6001, flood-6000),
		&fsmv1.AppendEventsCommand{Events: []*fsmv1.Event{{Kind: "token", Message: "token ci created"}}})
	const total = 3 + flood + 1

	check := func(t *testing.T, f *fsm.FSM) {
		t.Helper()
		all := f.Events(0, 0, "", "")
		var kept []string
		nDenied := 0
		for i, e := range all {
			if i > 0 && e.GetSeq() <= all[i-1].GetSeq() {
				t.Fatalf("events out of order: seq %d after %d", e.GetSeq(), all[i-1].GetSeq())
			}
			if e.GetKind() == fsm.KindDenied {
				nDenied++
				continue
			}
			kept = append(kept, e.GetMessage())
		}
		if want := []string{"op-1 done", "west down", "MoveWorkload web by ops: OK", "token ci created"}; !equalStrings(kept, want) {
			t.Errorf("operational events after the flood %q, want %q", kept, want)
		}
		if nDenied != fsm.MaxDenialEvents {
			t.Errorf("%d denial events kept, want %d", nDenied, fsm.MaxDenialEvents)
		}
		if first := all[3]; first.GetKind() != fsm.KindDenied || first.GetMessage() != fmt.Sprint("denied ", flood-fsm.MaxDenialEvents+1) {
			t.Errorf("oldest denial kept %v, want the newest %d", first, fsm.MaxDenialEvents)
		}
		if f.LastEventSeq() != total {
			t.Errorf("LastEventSeq %d, want %d", f.LastEventSeq(), total)
		}
		// The cursor and the filters work across both rings.
		if got := f.Events(all[2].GetSeq(), 2, "", ""); len(got) != 2 || got[0].GetKind() != fsm.KindDenied || got[1].GetKind() != fsm.KindDenied {
			t.Errorf("two events after the audit record: %v", got)
		}
		if got := f.Events(total-2, 0, "", ""); len(got) != 2 || got[1].GetMessage() != "token ci created" {
			t.Errorf("the two newest events: %v", got)
		}
		if got := f.Events(0, 0, "", "west"); len(got) != 1 || got[0].GetMessage() != "west down" {
			t.Errorf("events of member west: %v", got)
		}
	}
	t.Run("applied", func(t *testing.T) { check(t, f) })
	t.Run("restored", func(t *testing.T) {
		g := fsm.New(nil)
		restore(t, g, snapshotBytes(t, f))
		check(t, g)
		diffProto(t, "events after a snapshot round trip", f.Events(0, 0, "", ""), g.Events(0, 0, "", ""))
	})
	t.Run("restore command keeps the running rings", func(t *testing.T) {
		g := fsm.New(nil)
		restore(t, g, snapshotBytes(t, f))
		fsmtest.Apply(t, g, &fsmv1.RestoreStateCommand{Snapshot: snapshotBytes(t, seeded(t))})
		all := g.Events(0, 0, "", "")
		if n := len(all); n != 4+fsm.MaxDenialEvents+1 || all[len(all)-1].GetKind() != "admin" {
			t.Errorf("after a RestoreStateCommand: %d events, the last %v; want the running %d and the restore's own", n, all[len(all)-1], 4+fsm.MaxDenialEvents)
		}
	})
}
