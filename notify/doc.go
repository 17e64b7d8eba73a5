// Package notify sends the replicated event ring to the sinks configured on the masters: webhooks
// (JSON over HTTP POST, signed with HMAC-SHA256) and syslog servers (RFC 5424 over UDP or TCP).
//
// Only the Raft leader sends (server runs one Sender per sink as a leader task). Each sink has a
// cursor in the replicated state, the seq of the last event delivered to it: a Sender resumes
// after the committed cursor and commits it again right after every delivery, so a leader change
// neither loses events nor sends the backlog again. Delivery is at least once: an event
// delivered by a leader that lost leadership before its cursor was committed is sent again by
// the next one, with the same id, for the receiver to de-duplicate (docs/notifications.md).
package notify
