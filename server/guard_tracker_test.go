package server

import (
	"slices"
	"testing"
	"time"
)

func TestGuardTracker_Unconfirmed(t *testing.T) {
	now := time.Unix(100, 0)
	g := newGuardTracker(func() time.Time { return now })
	// No guard of east heard by this leader: nothing holds a start back (witness rule alone).
	if got := g.Unconfirmed("east", "web"); len(got) != 0 {
		t.Errorf("unheard member: %v", got)
	}
	g.record("east", "east-1", []string{"web", "db"})
	g.record("east", "east-2", []string{"db"})
	if got := g.Unconfirmed("east", "web"); !slices.Equal(got, []string{"east-2"}) {
		t.Errorf("Unconfirmed(web) = %v, want [east-2]", got)
	}
	if got := g.Unconfirmed("east", "db"); len(got) != 0 {
		t.Errorf("Unconfirmed(db) = %v, want none", got)
	}
	// The next heartbeat of east-2 confirms web; one that drops db un-confirms it.
	g.record("east", "east-2", []string{"web"})
	if got := g.Unconfirmed("east", "web"); len(got) != 0 {
		t.Errorf("after confirmation: %v", got)
	}
	if got := g.Unconfirmed("east", "db"); !slices.Equal(got, []string{"east-2"}) {
		t.Errorf("Unconfirmed(db) = %v, want [east-2]", got)
	}
	now = now.Add(3 * time.Second)
	if since, heard := g.LastHeard("east"); !heard || since != 3*time.Second {
		t.Errorf("LastHeard = %v %v", since, heard)
	}
	if since, heard := g.LastHeard("west"); heard || since != 3*time.Second {
		t.Errorf("LastHeard(west) = %v %v, want the time since the election, not heard", since, heard)
	}
}
