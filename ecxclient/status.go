package ecxclient

import "strings"

// Status is an ECX state as reported in the "status" field of clusters,
// servers, groups, resources and monitors (docs/ecx.md). The zero
// value is StatusUnknown, which is also what any unrecognised string maps to;
// the original string is always kept next to it in a RawStatus field.
type Status int

// The ECX status vocabulary, as exported by NEC's own REST client.
const (
	StatusUnknown Status = iota
	StatusOnline
	StatusOffline
	StatusOnlinePending
	StatusOfflinePending
	StatusOnlineFailure
	StatusOfflineFailure
	StatusNormal
	StatusCaution
	StatusError
	StatusUnused
	StatusSuspend
)

// statusNames holds the exact ECX spelling (title case, one space).
var statusNames = [...]string{
	StatusUnknown:        "Unknown",
	StatusOnline:         "Online",
	StatusOffline:        "Offline",
	StatusOnlinePending:  "Online Pending",
	StatusOfflinePending: "Offline Pending",
	StatusOnlineFailure:  "Online Failure",
	StatusOfflineFailure: "Offline Failure",
	StatusNormal:         "Normal",
	StatusCaution:        "Caution",
	StatusError:          "Error",
	StatusUnused:         "Unused",
	StatusSuspend:        "Suspend",
}

// String returns the ECX spelling of s, e.g. "Online Pending".
func (s Status) String() string {
	if s < 0 || int(s) >= len(statusNames) {
		return "Unknown"
	}
	return statusNames[s]
}

// MarshalText returns the ECX spelling, so a Status logs and encodes readably.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// ParseStatus maps an ECX status string to a Status. Matching ignores case and
// collapses runs of blanks, '_' and '-' to one space, so "online_pending" is
// StatusOnlinePending. ok is false when raw is not part of the vocabulary
// (the result is then StatusUnknown); "Unknown" itself parses with ok true.
func ParseStatus(raw string) (s Status, ok bool) {
	norm := strings.Join(strings.FieldsFunc(raw, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '_' || r == '-' || r == '\n' || r == '\r'
	}), " ")
	for i, name := range statusNames {
		if strings.EqualFold(norm, name) {
			return Status(i), true
		}
	}
	return StatusUnknown, false
}

// IsFailure reports whether s is Online Failure or Offline Failure: ECX gave
// up on the operation and will not progress without intervention.
func (s Status) IsFailure() bool { return s == StatusOnlineFailure || s == StatusOfflineFailure }

// IsPending reports whether s is Online Pending or Offline Pending: an
// asynchronous operation is still running.
func (s Status) IsPending() bool { return s == StatusOnlinePending || s == StatusOfflinePending }
