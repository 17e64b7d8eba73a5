package fsm_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/cset-project/cset/fsm"
	"github.com/cset-project/cset/fsm/fsmtest"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
)

// ev is the part of an event an apply table checks.
type ev struct {
	Kind, Severity, Workload, Member, Msg string
}

// applyCase is one row of a per-command table: the entry is applied at the index after the
// setup, and the state must then equal the state before with want applied.
type applyCase struct {
	name    string
	seed    bool            // start from fsmtest.SeedCommands()
	setup   []proto.Message // applied (without error) after the seed
	cmd     proto.Message   // the command under test
	wantErr error           // a sentinel such as fsm.ErrNotFound, or nil
	errHas  string          // a substring the error message must contain
	dns     bool            // the DNS serial must become the entry's index
	want    func(d *fsm.Data, at int64)
	events  []ev // the events the entry writes, in order
}

func runApplyCases(t *testing.T, cases []applyCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := fsm.New(nil)
			if tc.seed {
				fsmtest.Apply(t, f, fsmtest.SeedCommands()...)
			}
			fsmtest.Apply(t, f, tc.setup...)
			want := f.Data()
			lastSeq := f.LastEventSeq()
			idx := f.AppliedIndex() + 1
			at := fsmtest.Time(idx)

			res := applyCmd(t, f, idx, tc.cmd)
			if res.Index != idx || res.Duplicate {
				t.Errorf("result index %d duplicate %v, want index %d, not duplicate", res.Index, res.Duplicate, idx)
			}
			checkErr(t, res.Err, tc.wantErr, tc.errHas)

			want.AppliedIndex = idx
			if tc.dns {
				want.DNSSerial = idx
			}
			if tc.want != nil && tc.wantErr == nil {
				tc.want(want, at)
			}
			if diff := cmp.Diff(want, f.Data(), protocmp.Transform()); diff != "" {
				t.Errorf("state after apply (-want +got):\n%s", diff)
			}
			got := f.Events(lastSeq, 0, "", "")
			if diff := cmp.Diff(tc.events, evs(got)); diff != "" {
				t.Errorf("events written (-want +got):\n%s", diff)
			}
			for _, e := range got {
				if e.GetIndex() != idx || e.GetTimeUnixNano() != at || e.GetActor() != fsmtest.Actor {
					t.Errorf("event %d stamped index %d time %d actor %q, want %d %d %q", e.GetSeq(), e.GetIndex(), e.GetTimeUnixNano(), e.GetActor(), idx, at, fsmtest.Actor)
				}
			}
		})
	}
}

// applyCmd applies one command at idx and returns its result.
func applyCmd(t testing.TB, f *fsm.FSM, idx uint64, cmd proto.Message) *fsm.Result {
	t.Helper()
	return applyEntry(t, f, idx, fsmtest.Entry(t, cmd))
}

func applyEntry(t testing.TB, f *fsm.FSM, idx uint64, e *fsmv1.LogEntry) *fsm.Result {
	t.Helper()
	res, ok := f.Apply(fsmtest.MakeLog(t, idx, e)).(*fsm.Result)
	if !ok {
		t.Fatalf("Apply at %d returned no *fsm.Result", idx)
	}
	return res
}

// checkErr checks err against a sentinel (nil for success) and a message substring.
func checkErr(t testing.TB, err, want error, has string) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("error %v, want none", err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("error %v, want %v", err, want.(*fsm.Error).Code)
	case want != nil:
		var fe *fsm.Error
		if !errors.As(err, &fe) || fe.Msg == "" {
			t.Errorf("error %#v is not an *fsm.Error with a message", err)
		}
		if has != "" && !strings.Contains(err.Error(), has) {
			t.Errorf("error %q does not contain %q", err, has)
		}
	}
}

func evs(in []*fsmv1.Event) []ev {
	var out []ev
	for _, e := range in {
		out = append(out, ev{Kind: e.GetKind(), Severity: e.GetSeverity(), Workload: e.GetWorkload(), Member: e.GetMember(), Msg: e.GetMessage()})
	}
	return out
}

// member is fsmtest.Member as the FSM stores it after creation at time at.
func member(name, faultDomain string, at int64) *fsmv1.Member {
	m := fsmtest.Member(name)
	m.FaultDomain, m.Admin, m.Health, m.HealthSinceUnixNano = faultDomain, fsm.AdminActive, fsm.HealthUnknown, at
	return m
}

// seeded returns an FSM with fsmtest.SeedCommands applied.
func seeded(t testing.TB) *fsm.FSM {
	t.Helper()
	f := fsm.New(nil)
	fsmtest.Apply(t, f, fsmtest.SeedCommands()...)
	return f
}

// diffProto fails the test when want and got differ (protocmp).
func diffProto(t testing.TB, what string, want, got any) {
	t.Helper()
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("%s (-want +got):\n%s", what, diff)
	}
}

// snapshotBytes persists f's snapshot through a fake raft sink and returns the stream.
func snapshotBytes(t testing.TB, f *fsm.FSM) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &fsmtest.SnapshotSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	if !sink.Closed || sink.Cancelled {
		t.Fatalf("sink closed=%v cancelled=%v after Persist, want closed only", sink.Closed, sink.Cancelled)
	}
	return sink.Bytes()
}

// restore restores f from b and fails the test on error.
func restore(t testing.TB, f *fsm.FSM, b []byte) {
	t.Helper()
	if err := f.Restore(io.NopCloser(bytes.NewReader(b))); err != nil {
		t.Fatal(err)
	}
}

// registeredAt sets the index the state machine stamps on a workload registered there.
func registeredAt(w *fsmv1.Workload, index uint64) *fsmv1.Workload {
	w.RegisteredIndex = index
	return w
}
