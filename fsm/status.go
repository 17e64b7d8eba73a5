package fsm

// The ECX status strings of groups and servers as the state stores them (docs/ecx.md, "Status
// strings"). The state keeps whatever string ECX reported, so a status outside this list (a
// newer ECX, "Unknown", "Error") is stored as it came; code compares with these constants only.
const (
	StatusOnline         = "Online"
	StatusOffline        = "Offline"
	StatusOnlinePending  = "Online Pending"
	StatusOfflinePending = "Offline Pending"
	StatusOnlineFailure  = "Online Failure"
	StatusOfflineFailure = "Offline Failure"
)
