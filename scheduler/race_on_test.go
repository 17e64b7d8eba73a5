//go:build race

package scheduler

// raceEnabled shortens the randomized tests under the race detector, which slows these
// single-goroutine checks tenfold without being able to find anything in them.
const raceEnabled = true
