package server

import "time"

// SetDenialSummaryEvery changes how often s writes and logs the count of repeated refused
// calls (denialSummaryEvery), for tests that cannot wait ten seconds.
func SetDenialSummaryEvery(s *Server, d time.Duration) {
	t := s.audit.denials
	t.mu.Lock()
	defer t.mu.Unlock()
	t.every = d
}
