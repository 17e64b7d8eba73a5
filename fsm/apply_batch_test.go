package fsm_test

import (
	"errors"
	"testing"

	"github.com/cset-project/cset/fsm"
	"github.com/cset-project/cset/fsm/fsmtest"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
)

func TestFSM_ApplyBatch(t *testing.T) {
	t.Parallel()
	f := seeded(t)
	batch := &fsmv1.BatchCommand{Entries: []*fsmv1.LogEntry{
		{RequestId: "b1", Actor: "alice", ProposedAtUnixNano: 11, Command: &fsmv1.LogEntry_SetWorkloadDesired{SetWorkloadDesired: &fsmv1.SetWorkloadDesiredCommand{Name: "web1", Desired: fsm.DesiredOffline}}},
		{RequestId: "b2", Command: &fsmv1.LogEntry_SetWorkloadDesired{SetWorkloadDesired: &fsmv1.SetWorkloadDesiredCommand{Name: "nope", Desired: fsm.DesiredOffline}}},
		{RequestId: "b1", Command: &fsmv1.LogEntry_SetWorkloadDesired{SetWorkloadDesired: &fsmv1.SetWorkloadDesiredCommand{Name: "web1", Desired: fsm.DesiredOnline}}},
		{Command: &fsmv1.LogEntry_Batch{Batch: &fsmv1.BatchCommand{}}},
	}}
	res := applyEntry(t, f, 100, fsmtest.Entry(t, batch))
	if res.Err != nil || len(res.Batch) != 4 {
		t.Fatalf("result %+v", res)
	}
	if r := res.Batch[0]; r.Err != nil || r.Index != 100 || r.Duplicate {
		t.Errorf("entry 1: %+v", r)
	}
	if r := res.Batch[1]; !errors.Is(r.Err, fsm.ErrNotFound) {
		t.Errorf("entry 2 (unknown workload): %+v", r)
	}
	if r := res.Batch[2]; !r.Duplicate || r.Err != nil {
		t.Errorf("entry 3 (same request id as entry 1) must be a duplicate: %+v", r)
	}
	if r := res.Batch[3]; !errors.Is(r.Err, fsm.ErrInvalidArgument) {
		t.Errorf("entry 4 (nested batch): %+v", r)
	}
	if got := f.Data().Workloads["web1"].GetDesired(); got != fsm.DesiredOffline {
		t.Errorf("web1 desired %s: the duplicate must not have been applied", got)
	}
	evs := f.Events(0, 0, "web1", "")
	if last := evs[len(evs)-1]; last.GetActor() != "alice" || last.GetTimeUnixNano() != 11 || last.GetIndex() != 100 {
		t.Errorf("event of entry 1 %+v: each entry keeps its actor and time, at the batch's index", last)
	}
}
