package controller

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/fsm"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
)

// TestHealth_AddedMemberGetsAFullWindow: a member added (or removed and added again) long after
// the leader started is judged unreachable only unreachable_after after it was added, and the
// reason counts the silence from then, not from the leader's start.
func TestHealth_AddedMemberGetsAFullWindow(t *testing.T) {
	t.Parallel()
	started := time.Unix(1_700_000_000, 0)
	added := started.Add(16 * time.Minute)
	for _, tc := range []struct {
		name        string
		lastReached time.Time // zero: never reached by this leader
	}{
		{"added after the leader started", time.Time{}},
		{"re-added after it was reached under its old registration", started.Add(time.Minute)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := New(configWith(func(c *Config) { c.UnreachableAfter = 10 * time.Second }), Deps{})
			c.started = started
			if !tc.lastReached.IsZero() {
				c.lastReached["north"] = tc.lastReached
			}
			m := &fsmv1.Member{Name: "north", Health: fsm.HealthUnknown, HealthSinceUnixNano: added.UnixNano()}
			judge := func(after time.Duration) *observation {
				o := &observation{member: "north", err: errors.New("connection refused")}
				c.health(context.Background(), m, o, added.Add(after))
				return o
			}
			if o := judge(9 * time.Second); o.health != "" {
				t.Errorf("9s after it was added: health %q (%s), want none yet", o.health, o.reason)
			}
			o := judge(11 * time.Second)
			if o.health != fsm.HealthUnreachable || !strings.HasPrefix(o.reason, "no server answered for 11s: connection refused") {
				t.Errorf("11s after it was added: %q %q, want unreachable, silent for 11s", o.health, o.reason)
			}
		})
	}
}
