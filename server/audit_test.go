package server

import (
	"testing"
	"time"
)

// TestDenialTracker_Aggregates: refused calls are counted per actor, method and reason; the
// first of a key is reported at once, its repeats once per period as one count with the first
// and last time, a quiet key is forgotten, and keys beyond the bound are counted together.
func TestDenialTracker_Aggregates(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_700_000_000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	tr := newDenialTracker(10 * time.Second)
	anon := denialKey{actor: "(anonymous)", method: "Status", code: "Unauthenticated", reason: "no token"}
	reader := denialKey{actor: "reader", method: "MoveWorkload", code: "PermissionDenied", reason: "token reader has role read"}

	var summaries []denialRecord
	due := func(now time.Duration) []denialRecord {
		return tr.due(at(now), maxDenialKinds+1, func(r denialRecord) { summaries = append(summaries, r) })
	}
	if !tr.add(anon, "10.0.0.1:1", at(0)) {
		t.Fatal("the first refused call of a key was not reported at once")
	}
	for i := range 999 {
		if tr.add(anon, "10.0.0.2:2", at(time.Duration(i+1)*time.Millisecond)) {
			t.Fatalf("repeat %d was reported on its own", i+1)
		}
	}
	if !tr.add(reader, "10.0.0.3:3", at(50*time.Millisecond)) {
		t.Fatal("the first call of a second key was not reported")
	}
	got := due(100 * time.Millisecond)
	if len(got) != 2 || got[0].key != anon || got[0].count != 1000 || !got[0].first.Equal(at(0)) || !got[0].last.Equal(at(999*time.Millisecond)) ||
		got[0].peer != "10.0.0.2:2" || got[1].key != reader || got[1].count != 1 {
		t.Fatalf("first records %+v", got)
	}
	if len(summaries) != 1 || summaries[0].count != 1000 {
		t.Errorf("summary log lines %+v, want one for the 999 repeats not logged", summaries)
	}
	// Repeats within the period are counted and written only when it ends.
	for i := range 5000 {
		tr.add(anon, "10.0.0.2:2", at(time.Second+time.Duration(i)*time.Millisecond))
	}
	if got := due(5 * time.Second); len(got) != 0 || tr.pending(at(5*time.Second)) {
		t.Fatalf("records before the period ended: %+v", got)
	}
	if !tr.pending(at(10*time.Second + 100*time.Millisecond)) {
		t.Fatal("no record pending when the period ended")
	}
	got = due(10*time.Second + 100*time.Millisecond)
	if len(got) != 1 || got[0].key != anon || got[0].count != 5000 || !got[0].first.Equal(at(time.Second)) {
		t.Fatalf("summary %+v, want 5000 calls of %v", got, anon)
	}
	// reader stayed quiet for a period: forgotten, so its next call is reported on its own.
	if !tr.add(reader, "10.0.0.3:3", at(21*time.Second)) {
		t.Error("the first call of a key quiet for a whole period was not reported")
	}
	// The number of keys is bounded; the calls beyond are counted together.
	for i := range maxDenialKinds + 10 {
		tr.add(denialKey{actor: "(unknown token)", method: "Status", reason: string(rune('a' + i))}, "10.0.0.4:4", at(22*time.Second))
	}
	if n := len(tr.keys); n != maxDenialKinds {
		t.Errorf("%d keys tracked, want the bound %d", n, maxDenialKinds)
	}
	var over int64
	for _, r := range due(40 * time.Second) {
		if r.overflow {
			over = r.count
		}
	}
	if over != 10+2 { // anon and reader held two of the places
		t.Errorf("overflow record counts %d calls, want 12", over)
	}
}
