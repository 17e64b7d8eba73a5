package chaos

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestInjector_AHealThatCannotFinishYetWaitsForTheOthers is S1 of docs/chaos.md: the heal of a
// member removal could not add the member back while a killed master's heal, queued behind it,
// kept the set without a quorum; it failed and the member stayed away. A heal that answers
// errHealLater now goes back into the queue, after the heals that are due.
func TestInjector_AHealThatCannotFinishYetWaitsForTheOthers(t *testing.T) {
	tl, err := newTimeline(filepath.Join(t.TempDir(), "timeline.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	quorum := false
	now := time.Now()
	remove := &fault{rec: &faultRec{step: 1, kind: "member-remove"}, claims: []string{"member:e3"}, until: now, heal: func() error {
		if !quorum {
			return fmt.Errorf("%w: add member e3 back: no quorum", errHealLater)
		}
		order = append(order, "member-remove")
		return nil
	}}
	kill := &fault{rec: &faultRec{step: 2, kind: "master-kill"}, claims: []string{"proc:m1"}, until: now.Add(10 * time.Millisecond), heal: func() error {
		quorum = true
		order = append(order, "master-kill")
		return nil
	}}
	in := &injector{tl: tl, claims: map[string]bool{"member:e3": true, "proc:m1": true}, active: []*fault{remove, kill}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(in.active) > 0 && ctx.Err() == nil {
		in.healNext(ctx)
	}
	if in.fails != 0 || fmt.Sprint(order) != "[master-kill member-remove]" {
		t.Fatalf("heals %v with %d failures: want the master back first, then the member, and no failure", order, in.fails)
	}
	if len(in.claims) != 0 || remove.rec.healed.IsZero() {
		t.Fatalf("claims %v left, member-remove healed at %v", in.claims, remove.rec.healed)
	}
}
