// Package ecxclient is the REST client cset uses to observe and operate
// NEC EXPRESSCLUSTER X (ECX) clusters, the members of a cluster set. It
// speaks exactly the dialect described in docs/ecx.md, including
// cset's choices where ECX is silent, and imports nothing of cset but itself.
//
// # Shape
//
// A Client serves one member: several server URLs, one set of Basic auth
// credentials. Reads (GetGroup, ListServers, ...) return typed values;
// operations (StartGroup, MoveGroup, ...) only get ECX to accept the request,
// because ECX runs them asynchronously. WaitGroupStatus polls with
// exponential backoff (50 ms doubling to 1 s by default); the *AndWait
// helpers wait through one poller per Client (one poll in flight at most,
// paced by how long the same operation took the last time, wait.go). Both
// poll until the group reaches the wanted state, fails, or a deadline
// passes; a poll that finds the member unreachable, garbled, answering 5xx
// or answering a read with a non-zero code inside a 2xx (ECX may report
// failures in the envelope) is repeated until that deadline, while
// authentication, not-found and other refusals end the wait. Clients share
// keep-alive transports: by default one per TLS profile from a package-wide
// TransportPool, or any http.RoundTripper given with WithTransport.
//
// # Fail-over between servers
//
// Any server of an ECX cluster answers for the whole cluster. A call goes to
// the server that answered last, then to the others in configured order;
// each attempt has its own deadline (MemberConfig.Timeout, 5 s by default)
// inside the caller's context. The next server is tried only when this one
// gave no ECX answer: a connection or TLS error, a timeout, or a 5xx whose
// body is not an ECX envelope (a proxy's 502 page). An ECX answer, even an
// error (401, 404, a non-zero code), ends the call: the servers of one
// cluster share credentials and state, so asking another would only repeat
// the refusal (and hammer an authentication service). The server that
// answered is remembered (atomically) for the next call; LastURL reports it.
//
// An operation (POST) is retried elsewhere only when it cannot have been
// applied: the request was never completely written (connection refused,
// dial or TLS failure), or a proxy said 502/503. After a timeout with the
// request sent, the call stops with an *UnreachableError whose MaybeApplied
// is true, because a second server could apply the same operation again;
// callers poll the state before retrying. Reads are always retried.
//
// # Errors
//
// Every failure is one typed error, matched by one sentinel: *AuthError
// (ErrAuth, 401/403), *NotFoundError (ErrNotFound, 404, or an empty list for
// a named object), *RejectedError (ErrRejected: a non-zero result code, a
// non-2xx status with an envelope, or an operation whose message is not
// empty, as NEC's client treats it), *UnreachableError (ErrUnreachable: every
// server tried, with one error per server), *MalformedError (ErrMalformed:
// the offending body, cut to 200 bytes, is in the message), plus
// ErrInvalidArgument before any I/O. When the caller's context ends, the
// error wraps the context's error instead. Messages name the member, the URL
// and what an operator should check.
//
// # Tolerance
//
// ECX's public documentation does not fix error codes, the cluster status
// vocabulary or which fields are always present, so the decoder is lenient
// about presence and values and strict about JSON types:
//
//   - Unknown status strings become StatusUnknown; the raw string is kept in
//     RawStatus and logged once per client (Warn). Matching ignores case and
//     treats '_', '-' and repeated blanks as one space.
//   - "None", "" and null in "current" all mean "runs nowhere" (Current "").
//   - Absent or null arrays are empty lists; a single object where an array
//     was expected is taken as a one-element list; resources listed as plain
//     strings are accepted; groups[].resources may be absent (Resources nil).
//   - result.code may be a number or a numeric string; a missing code is 0.
//   - Extra fields are ignored; JSON key matching is case-insensitive
//     (encoding/json's rule).
//   - A GET of one named object picks the entry with that name (exact, then
//     ignoring case); a lone unnamed entry is accepted. An empty list means
//     not found. An answer about a different object is malformed, never used.
//   - A 2xx body without the "result" envelope is malformed: real ECX always
//     sends it, and accepting a bare {} could turn a proxy's page into a
//     successful operation.
//   - Wrong JSON types (a number where a name belongs) are malformed, not
//     guessed. Bodies over 8 MiB are malformed. Redirects are reported
//     (malformed, with the Location), never followed.
//
// Decoding is fuzzed (FuzzDecode*): no body makes the client panic.
//
// # Concurrency
//
// A Client is safe for concurrent use; so is a TransportPool.
package ecxclient
