package fsm

import (
	"maps"
	"slices"

	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
)

// applySetNotifyCursor moves the cursor of a notification sink forward to c.seq: every event up
// to it was delivered. A cursor at or after c.seq stays (a deposed leader's late commit cannot
// move it back, so nothing is sent twice because of it). It writes no event: a cursor that
// writes events would have new events to deliver after every delivery.
func (a *applier) applySetNotifyCursor(c *fsmv1.SetNotifyCursorCommand) error {
	if c.GetSink() == "" {
		return invalidf("notify cursor without a sink name")
	}
	if last := a.s.nextEventSeq - 1; c.GetSeq() > last {
		return invalidf("notify cursor of sink %s at seq %d is after the newest event %d", c.GetSink(), c.GetSeq(), last)
	}
	if cur, ok := a.s.notifyCursors[c.GetSink()]; !ok || c.GetSeq() > cur {
		a.s.notifyCursors[c.GetSink()] = c.GetSeq()
	}
	return nil
}

// NotifyCursor returns the committed cursor of a notification sink: the seq of the last event
// delivered to it, and false when the sink has none yet.
func (f *FSM) NotifyCursor(sink string) (uint64, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	seq, ok := f.s.notifyCursors[sink]
	return seq, ok
}

// notifyCursorRecords lists the cursors for the snapshot header, sorted by sink.
func (s *state) notifyCursorRecords() []*fsmv1.NotifyCursor {
	var out []*fsmv1.NotifyCursor
	for _, sink := range slices.Sorted(maps.Keys(s.notifyCursors)) {
		out = append(out, &fsmv1.NotifyCursor{Sink: sink, Seq: s.notifyCursors[sink]})
	}
	return out
}
