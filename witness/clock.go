package witness

import "time"

// Clock tells the time. Lease deadlines and heartbeat ages are computed from its readings, so
// it must carry Go's monotonic clock reading (time.Now does): wall-clock steps then cannot move
// a deadline. Tests may use their own Clock, or the real one inside a testing/synctest bubble.
type Clock interface {
	Now() time.Time
}

// RealClock is the Clock backed by time.Now. Its zero value is ready to use.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }
