package fsm_test

import (
	"fmt"
	"testing"

	"github.com/cset-project/cset/fsm"
	"github.com/cset-project/cset/fsm/fsmtest"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
)

// benchMembers are the members benchmark workloads run on.
var benchMembers = []proto.Message{
	&fsmv1.UpsertMemberCommand{Member: fsmtest.Member("a")},
	&fsmv1.UpsertMemberCommand{Member: fsmtest.Member("b")},
	&fsmv1.UpsertMemberCommand{Member: fsmtest.Member("c")},
}

// BenchmarkApplyUpsertWorkload measures Apply (decode, validate, store, event, request-id
// record) of workload registrations over 10,000 names (updates once they all exist), each entry
// with a fresh request id as API writes carry.
func BenchmarkApplyUpsertWorkload(b *testing.B) {
	f := fsm.New(nil)
	fsmtest.Apply(b, f, benchMembers...)
	first := f.AppliedIndex() + 1
	logs := make([]*raft.Log, b.N)
	for i := range logs {
		w := fsmtest.Workload(fmt.Sprintf("w%05d", i%10000), "a", "b", "c")
		e := fsmtest.Entry(b, &fsmv1.UpsertWorkloadCommand{Workload: w})
		e.RequestId = fmt.Sprintf("req-%d", i)
		logs[i] = fsmtest.MakeLog(b, first+uint64(i), e)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if r := f.Apply(logs[i]).(*fsm.Result); r.Err != nil || r.Duplicate {
			b.Fatal(r)
		}
	}
}

type discardSink struct{ n int }

func (s *discardSink) Write(p []byte) (int, error) { s.n += len(p); return len(p), nil }
func (s *discardSink) Close() error                { return nil }
func (s *discardSink) Cancel() error               { return nil }
func (s *discardSink) ID() string                  { return "discard" }

// snapshotBenchFSM returns an FSM with 10,000 placed workloads and a full event ring.
func snapshotBenchFSM(b *testing.B) *fsm.FSM {
	b.Helper()
	f := fsm.New(nil)
	fsmtest.Apply(b, f, benchMembers...)
	for i := range 10000 {
		name := fmt.Sprintf("w%05d", i)
		fsmtest.Apply(b, f, &fsmv1.UpsertWorkloadCommand{Workload: fsmtest.Workload(name, "a", "b", "c")},
			&fsmv1.SetPlacementCommand{Workload: name, Placement: &fsmv1.Placement{Member: "a", Server: "a-1", Status: "Online"}})
	}
	return f
}

// BenchmarkSnapshotCapture measures Snapshot alone: the copy taken under the read lock, during
// which Apply waits.
func BenchmarkSnapshotCapture(b *testing.B) {
	f := snapshotBenchFSM(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := f.Snapshot(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSnapshotPersist measures Snapshot (the capture under the lock) plus Persist (the
// stream) of a state with 10,000 placed workloads and a full event ring.
func BenchmarkSnapshotPersist(b *testing.B) {
	f := snapshotBenchFSM(b)
	b.ReportAllocs()
	b.ResetTimer()
	var size int
	for b.Loop() {
		snap, err := f.Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		sink := &discardSink{}
		if err := snap.Persist(sink); err != nil {
			b.Fatal(err)
		}
		size = sink.n
	}
	b.ReportMetric(float64(size), "snapshot-bytes")
}

// BenchmarkData measures reading the whole state (FSM.Data) with 10,000 and 50,000 placed
// workloads: unchanged since the last read (the publication is shared), after one entry that
// changed one workload (the change is published: one record cloned, the maps re-laid), and, as
// the anchor, a deep copy of the state (Data.Clone: what every Data call cost before the
// publication was shared).
func BenchmarkData(b *testing.B) {
	for _, n := range []int{10000, 50000} {
		f := fsm.New(nil)
		fsmtest.Apply(b, f, benchMembers...)
		for i := range n {
			name := fmt.Sprintf("w%05d", i)
			fsmtest.Apply(b, f, &fsmv1.UpsertWorkloadCommand{Workload: fsmtest.Workload(name, "a", "b", "c")},
				&fsmv1.SetPlacementCommand{Workload: name, Placement: &fsmv1.Placement{Member: "a", Server: "a-1", Status: "Online"}})
		}
		b.Run(fmt.Sprintf("workloads=%d/unchanged", n), func(b *testing.B) {
			f.Data()
			b.ReportAllocs()
			for b.Loop() {
				f.Data()
			}
		})
		b.Run(fmt.Sprintf("workloads=%d/one-change", n), func(b *testing.B) {
			desired := []string{fsm.DesiredOffline, fsm.DesiredOnline}
			next := f.AppliedIndex() + 1
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				b.StopTimer()
				e := fsmtest.Entry(b, &fsmv1.SetWorkloadDesiredCommand{Name: "w00001", Desired: desired[i%2]})
				f.Apply(fsmtest.MakeLog(b, next, e))
				next++
				i++
				b.StartTimer()
				f.Data()
			}
		})
		b.Run(fmt.Sprintf("workloads=%d/deep-copy", n), func(b *testing.B) {
			d := f.Data()
			b.ReportAllocs()
			for b.Loop() {
				d.Clone()
			}
		})
	}
}
