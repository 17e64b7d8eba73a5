package witness

import "time"

// setState is the lease state of one cluster set, in witness-clock time. It is a value: the rules
// below return a new state rather than mutating the receiver, so the server can persist the new
// state first and adopt it only when the write succeeded.
type setState struct {
	// highest is the highest term ever granted for the set. The holder of the current or last
	// lease always holds exactly this term, so it doubles as the lease's term.
	highest uint64
	// holder received the lease for the highest term. It is kept after a release or an expiry so
	// that the same holder can come back with the same term.
	holder string
	// ttl is the TTL of the last grant.
	ttl time.Duration
	// expires is the end of the active lease by the witness clock; zero once released.
	expires time.Time
	// waiting is the highest term a different holder asked for while the lease was active. Terms
	// below it are no longer renewed, so a deposed leader loses the lease within one TTL even if
	// it still reaches the witness. Not persisted: refusing is always safe, forgetting only slower.
	waiting uint64
}

// verdict is the outcome of one lease request.
type verdict struct {
	granted bool
	// reason and remaining describe a refusal; remaining is how long it lasts at least.
	reason    string
	remaining time.Duration
}

// active reports whether a lease is in force at now.
func (st setState) active(now time.Time) bool {
	return st.holder != "" && now.Before(st.expires)
}

// remaining is how much of the active lease is left at now, 0 when none is active.
func (st setState) remaining(now time.Time) time.Duration {
	if !st.active(now) {
		return 0
	}
	return st.expires.Sub(now)
}

// decide applies the lease rules (docs/design.md, "Split-brain protection") to a request from holder for term with
// ttl, arriving at now; no lease that is not a renewal by the active holder is granted before
// holdUntil (the restart hold), and no term more than maxJump above the highest granted is
// accepted. It returns the state to adopt and the verdict.
//
// The rules, in order:
//  0. a term more than maxJump above the highest granted is refused (term_jump) and not
//     remembered as waiting: Raft terms grow one per election, so it does not come from a master
//     of the set, and adopting it would refuse the real leader (stale_term, superseded) for as
//     long as its Raft term stays below it;
//  1. a term below the highest granted is refused (stale_term);
//  2. the highest term, once granted to one holder, is never granted to another: Raft has at most
//     one leader per term, so a second holder with the same term is a configuration error;
//  3. a term below one that another holder already asked for is refused (superseded): that
//     holder is a newer leader, and this one must not keep or retake the lease;
//  4. the active holder renews (same or higher term) at any time, even during the restart hold;
//  5. anybody else waits until the active lease expires (held) and, after a restart, until the
//     restart hold ends (restart_hold);
//  6. otherwise the lease is granted.
func (st setState) decide(holder string, term uint64, ttl time.Duration, now, holdUntil time.Time, maxJump uint64) (setState, verdict) {
	active := st.active(now)
	switch {
	case st.highest > 0 && term > st.highest && term-st.highest > maxJump:
		return st, verdict{reason: ReasonTermJump}
	case term < st.highest, holder != st.holder && term == st.highest:
		return st, verdict{reason: ReasonStaleTerm, remaining: st.remaining(now)}
	case term < st.waiting:
		return st, verdict{reason: ReasonSuperseded, remaining: st.remaining(now)}
	case active && holder != st.holder:
		st.waiting = max(st.waiting, term)
		return st, verdict{reason: ReasonHeld, remaining: st.remaining(now)}
	case !active && now.Before(holdUntil):
		return st, verdict{reason: ReasonRestartHold, remaining: holdUntil.Sub(now)}
	}
	return setState{highest: term, holder: holder, ttl: ttl, expires: now.Add(ttl)}, verdict{granted: true}
}

// release ends the lease if holder holds it for exactly term. The highest term stays.
func (st setState) release(holder string, term uint64, now time.Time) (setState, bool) {
	if !st.active(now) || st.holder != holder || st.highest != term {
		return st, false
	}
	st.expires = time.Time{}
	return st, true
}

// persistedSet is the on-disk form of a setState.
type persistedSet struct {
	HighestTerm uint64 `json:"highest_term"`
	Holder      string `json:"holder"`
	TTLMs       int64  `json:"ttl_ms"`
	// Active is true when the lease was in force when the state was written.
	Active bool `json:"active"`
}

func (st setState) persisted(now time.Time) persistedSet {
	return persistedSet{HighestTerm: st.highest, Holder: st.holder, TTLMs: st.ttl.Milliseconds(), Active: st.active(now)}
}

// restoreSet rebuilds a set's state after a restart at start. A lease that was active when the
// state was written is treated as active for max(hold, its TTL) from start: the witness does not
// know how long it was down, so it assumes the holder may have renewed just before the crash.
func restoreSet(p persistedSet, start time.Time, hold time.Duration) setState {
	ttl := time.Duration(p.TTLMs) * time.Millisecond
	st := setState{highest: p.HighestTerm, holder: p.Holder, ttl: ttl}
	if p.Active && p.Holder != "" {
		st.expires = start.Add(max(hold, ttl))
	}
	return st
}
