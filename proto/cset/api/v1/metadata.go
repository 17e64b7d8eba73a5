package apiv1

// The gRPC metadata keys of the API, shared by csetctl and the masters (hand-written, not
// generated: `make proto` leaves this file alone).
const (
	// MetadataRequestID makes a retried write apply once: a retry with the same id gets the
	// first attempt's result.
	MetadataRequestID = "cset-request-id"
	// MetadataAuthorization carries the API token ("Bearer cset_...") on every call.
	MetadataAuthorization = "authorization"
	// MetadataActor names who made a write in the event log (csetctl:alice@ops1); ignored under
	// -auth, where the token's name is the actor.
	MetadataActor = "cset-actor"
	// MetadataForwarded marks a call one master forwarded to the leader; it is never forwarded
	// again.
	MetadataForwarded = "cset-forwarded"
	// MetadataRestoreForce is snapshot restore's --force ("1"): restore a snapshot of another
	// cluster set or one without a checksum.
	MetadataRestoreForce = "cset-restore-force"
)
