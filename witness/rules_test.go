package witness

import (
	"testing"
	"time"
)

// testMaxJump is the term jump bound of TestSetState_Decide.
const testMaxJump = 100

func TestSetState_Decide(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ttl := 10 * time.Second
	heldByA := setState{highest: 5, holder: "a", ttl: ttl, expires: t0.Add(4 * time.Second)}
	expiredA := setState{highest: 5, holder: "a", ttl: ttl, expires: t0.Add(-time.Millisecond)}
	releasedA := setState{highest: 5, holder: "a", ttl: ttl}
	waitedOn := heldByA
	waitedOn.waiting = 7

	cases := []struct {
		name      string
		st        setState
		holder    string
		term      uint64
		holdUntil time.Time
		want      verdict
		wantState setState
	}{
		{name: "fresh set is granted", st: setState{}, holder: "a", term: 1,
			want: verdict{granted: true}, wantState: setState{highest: 1, holder: "a", ttl: ttl, expires: t0.Add(ttl)}},
		{name: "holder renews same term", st: heldByA, holder: "a", term: 5,
			want: verdict{granted: true}, wantState: setState{highest: 5, holder: "a", ttl: ttl, expires: t0.Add(ttl)}},
		{name: "holder renews higher term", st: heldByA, holder: "a", term: 6,
			want: verdict{granted: true}, wantState: setState{highest: 6, holder: "a", ttl: ttl, expires: t0.Add(ttl)}},
		{name: "holder with lower term is stale", st: heldByA, holder: "a", term: 4,
			want: verdict{reason: ReasonStaleTerm, remaining: 4 * time.Second}, wantState: heldByA},
		{name: "other holder higher term waits for expiry", st: heldByA, holder: "b", term: 6,
			want:      verdict{reason: ReasonHeld, remaining: 4 * time.Second},
			wantState: setState{highest: 5, holder: "a", ttl: ttl, expires: t0.Add(4 * time.Second), waiting: 6}},
		{name: "other holder same term is stale while held", st: heldByA, holder: "b", term: 5,
			want: verdict{reason: ReasonStaleTerm, remaining: 4 * time.Second}, wantState: heldByA},
		{name: "other holder same term is stale after expiry", st: expiredA, holder: "b", term: 5,
			want: verdict{reason: ReasonStaleTerm}, wantState: expiredA},
		{name: "other holder lower term is stale", st: expiredA, holder: "b", term: 3,
			want: verdict{reason: ReasonStaleTerm}, wantState: expiredA},
		{name: "other holder higher term after expiry", st: expiredA, holder: "b", term: 6,
			want: verdict{granted: true}, wantState: setState{highest: 6, holder: "b", ttl: ttl, expires: t0.Add(ttl)}},
		{name: "holder comes back after expiry", st: expiredA, holder: "a", term: 5,
			want: verdict{granted: true}, wantState: setState{highest: 5, holder: "a", ttl: ttl, expires: t0.Add(ttl)}},
		{name: "deposed holder cannot renew", st: waitedOn, holder: "a", term: 5,
			want: verdict{reason: ReasonSuperseded, remaining: 4 * time.Second}, wantState: waitedOn},
		{name: "older challenger is superseded", st: waitedOn, holder: "c", term: 6,
			want: verdict{reason: ReasonSuperseded, remaining: 4 * time.Second}, wantState: waitedOn},
		{name: "released lease goes to higher term", st: releasedA, holder: "b", term: 6,
			want: verdict{granted: true}, wantState: setState{highest: 6, holder: "b", ttl: ttl, expires: t0.Add(ttl)}},
		{name: "released lease back to its holder", st: releasedA, holder: "a", term: 5,
			want: verdict{granted: true}, wantState: setState{highest: 5, holder: "a", ttl: ttl, expires: t0.Add(ttl)}},
		{name: "restart hold refuses new holders", st: setState{}, holder: "a", term: 1, holdUntil: t0.Add(3 * time.Second),
			want: verdict{reason: ReasonRestartHold, remaining: 3 * time.Second}, wantState: setState{}},
		{name: "restart hold refuses holder of expired lease", st: expiredA, holder: "a", term: 5, holdUntil: t0.Add(time.Second),
			want: verdict{reason: ReasonRestartHold, remaining: time.Second}, wantState: expiredA},
		{name: "restart hold lets the active holder renew", st: heldByA, holder: "a", term: 5, holdUntil: t0.Add(time.Minute),
			want: verdict{granted: true}, wantState: setState{highest: 5, holder: "a", ttl: ttl, expires: t0.Add(ttl)}},
		{name: "restart hold over", st: setState{}, holder: "a", term: 1, holdUntil: t0,
			want: verdict{granted: true}, wantState: setState{highest: 1, holder: "a", ttl: ttl, expires: t0.Add(ttl)}},
		// The jump bound (testMaxJump = 100 above the highest term, 5).
		{name: "term jump beyond the bound is refused and not remembered", st: heldByA, holder: "b", term: 5 + testMaxJump + 1,
			want: verdict{reason: ReasonTermJump}, wantState: heldByA},
		{name: "term jump of the holder itself is refused", st: heldByA, holder: "a", term: 5 + testMaxJump + 1,
			want: verdict{reason: ReasonTermJump}, wantState: heldByA},
		{name: "term jump after expiry is refused", st: expiredA, holder: "b", term: MaxTerm,
			want: verdict{reason: ReasonTermJump}, wantState: expiredA},
		{name: "jump up to the bound waits as usual", st: heldByA, holder: "b", term: 5 + testMaxJump,
			want:      verdict{reason: ReasonHeld, remaining: 4 * time.Second},
			wantState: setState{highest: 5, holder: "a", ttl: ttl, expires: t0.Add(4 * time.Second), waiting: 5 + testMaxJump}},
		{name: "jump up to the bound after expiry is granted", st: expiredA, holder: "b", term: 5 + testMaxJump,
			want: verdict{granted: true}, wantState: setState{highest: 5 + testMaxJump, holder: "b", ttl: ttl, expires: t0.Add(ttl)}},
		{name: "a fresh set has no bound", st: setState{}, holder: "a", term: 5000,
			want: verdict{granted: true}, wantState: setState{highest: 5000, holder: "a", ttl: ttl, expires: t0.Add(ttl)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, v := tc.st.decide(tc.holder, tc.term, ttl, t0, tc.holdUntil, testMaxJump)
			if v != tc.want {
				t.Errorf("verdict = %+v, want %+v", v, tc.want)
			}
			if got != tc.wantState {
				t.Errorf("state = %+v, want %+v", got, tc.wantState)
			}
		})
	}
}

func TestSetState_Release(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	held := setState{highest: 5, holder: "a", ttl: time.Second, expires: t0.Add(time.Second)}
	for _, tc := range []struct {
		name   string
		holder string
		term   uint64
		want   bool
	}{
		{"holder and term", "a", 5, true},
		{"other holder", "b", 5, false},
		{"other term", "a", 4, false},
	} {
		got, ok := held.release(tc.holder, tc.term, t0)
		if ok != tc.want {
			t.Errorf("%s: released = %v, want %v", tc.name, ok, tc.want)
		}
		if ok && (got.active(t0) || got.highest != 5 || got.holder != "a") {
			t.Errorf("%s: state after release = %+v, want inactive with term and holder kept", tc.name, got)
		}
		if !ok && got != held {
			t.Errorf("%s: state changed on a no-op release: %+v", tc.name, got)
		}
	}
	if _, ok := held.release("a", 5, t0.Add(time.Second)); ok {
		t.Errorf("release of an expired lease reported released")
	}
}

func TestRestoreSet(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name        string
		p           persistedSet
		hold        time.Duration
		wantExpires time.Time
	}{
		{"active, hold longer than ttl", persistedSet{HighestTerm: 3, Holder: "a", TTLMs: 10000, Active: true}, time.Minute, start.Add(time.Minute)},
		{"active, ttl longer than hold", persistedSet{HighestTerm: 3, Holder: "a", TTLMs: 10000, Active: true}, time.Second, start.Add(10 * time.Second)},
		{"inactive", persistedSet{HighestTerm: 3, Holder: "a", TTLMs: 10000}, time.Minute, time.Time{}},
	} {
		st := restoreSet(tc.p, start, tc.hold)
		if !st.expires.Equal(tc.wantExpires) || st.highest != 3 || st.holder != "a" || st.ttl != 10*time.Second {
			t.Errorf("%s: restored %+v, want expires %s", tc.name, st, tc.wantExpires)
		}
		if back := st.persisted(start); back.HighestTerm != 3 || back.Active != tc.p.Active {
			t.Errorf("%s: persisted again as %+v", tc.name, back)
		}
	}
}
