package ecxclient

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Sentinels for errors.Is. Every error a Client returns for a failed call is
// one of the typed errors below (or wraps the context's error when the
// caller's context ended), and each matches exactly one sentinel.
var (
	// ErrAuth: ECX refused the credentials (HTTP 401 or 403).
	ErrAuth = errors.New("ecx authentication failed")
	// ErrNotFound: the named object does not exist (HTTP 404).
	ErrNotFound = errors.New("ecx object not found")
	// ErrRejected: ECX answered with a non-zero result code, a non-2xx
	// status with an envelope, or a POST result with a message.
	ErrRejected = errors.New("ecx rejected the request")
	// ErrUnreachable: no server of the member gave an answer.
	ErrUnreachable = errors.New("ecx member unreachable")
	// ErrMalformed: a server answered, but not in the ECX dialect.
	ErrMalformed = errors.New("malformed ecx response")
	// ErrInvalidArgument: the call was refused before anything was sent.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrGroupFailed: a waited-for group entered Online Failure or Offline Failure.
	ErrGroupFailed = errors.New("ecx group failed")
	// ErrWaitTimeout: a waited-for group did not reach the wanted state in time.
	ErrWaitTimeout = errors.New("timed out waiting for ecx group")
)

// AuthError reports HTTP 401/403. It is never retried on another server:
// the servers of one member share their credentials.
type AuthError struct {
	Member     string
	URL        string // the request URL that was refused
	HTTPStatus int
	Code       int    // result.code when the body had an envelope
	Message    string // result.message when the body had an envelope
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("ecx member %q: %s answered HTTP %d%s: authentication failed; check the user and password configured for this member (ECX REST users are OS accounts of the cluster nodes)",
		e.Member, e.URL, e.HTTPStatus, ecxDetail(e.Code, e.Message))
}

// Is makes errors.Is(err, ErrAuth) true.
func (e *AuthError) Is(target error) bool { return target == ErrAuth }

// NotFoundError reports HTTP 404 for a named object.
type NotFoundError struct {
	Member     string
	URL        string
	Kind       string // "group", "server", "resource", "monitor" or "path"
	Name       string
	HTTPStatus int
	Code       int
	Message    string
	// NoEnvelope is true when the 404 body was not an ECX envelope, which
	// usually means the URL does not point at the ECX REST API at all.
	NoEnvelope bool
}

func (e *NotFoundError) Error() string {
	hint := fmt.Sprintf("check the %s name (ECX names are case-sensitive)", e.Kind)
	if e.NoEnvelope {
		hint = "the answer was not an ECX envelope: check that the URL points at the ECX REST API port (29009 by default) and that the API service is enabled"
	}
	return fmt.Sprintf("ecx member %q: %s %q not found at %s (HTTP %d%s); %s",
		e.Member, e.Kind, e.Name, e.URL, e.HTTPStatus, ecxDetail(e.Code, e.Message), hint)
}

// Is makes errors.Is(err, ErrNotFound) true.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// RejectedError reports that ECX answered but refused or failed the request:
// a non-zero result code, a non-2xx status carrying the envelope, or a POST
// answer whose message is not empty (NEC's client treats that as failure).
type RejectedError struct {
	Member     string
	URL        string
	Op         string // e.g. "POST /api/v1/groups/g1/start"
	HTTPStatus int
	Code       int
	Message    string
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("ecx member %q rejected %s at %s: HTTP %d, code %d, message %q; see the ECX alert log of that cluster for the cause",
		e.Member, e.Op, e.URL, e.HTTPStatus, e.Code, e.Message)
}

// Is makes errors.Is(err, ErrRejected) true.
func (e *RejectedError) Is(target error) bool { return target == ErrRejected }

// read reports whether the refused request was a read (GET).
func (e *RejectedError) read() bool { return strings.HasPrefix(e.Op, http.MethodGet+" ") }

// UnreachableError reports that no server of the member answered. Attempts
// holds one error per server tried, in order, each naming its URL.
//
// MaybeApplied is true when the client stopped before trying every server
// because an operation (POST) may have reached a server whose answer was
// lost; retrying it elsewhere could apply it twice. Poll the object's status
// before deciding to retry.
type UnreachableError struct {
	Member       string
	Op           string
	Attempts     []error
	MaybeApplied bool
}

func (e *UnreachableError) Error() string {
	var b strings.Builder
	if e.MaybeApplied {
		fmt.Fprintf(&b, "ecx member %q: no answer to %s and it may have been applied; poll its status before retrying", e.Member, e.Op)
	} else {
		fmt.Fprintf(&b, "ecx member %q unreachable: %d server(s) tried for %s; check that the servers are up, the REST API service runs, the port is open and the URLs are right", e.Member, len(e.Attempts), e.Op)
	}
	for _, a := range e.Attempts {
		b.WriteString("; ")
		b.WriteString(a.Error())
	}
	return b.String()
}

// Is makes errors.Is(err, ErrUnreachable) true.
func (e *UnreachableError) Is(target error) bool { return target == ErrUnreachable }

// Unwrap exposes the per-server errors (errors.Is(err, context.DeadlineExceeded)
// is true when a server timed out).
func (e *UnreachableError) Unwrap() []error { return e.Attempts }

// MalformedError reports an answer that is not in the ECX dialect: not JSON,
// no envelope, wrong JSON types, a redirect, an unexpected status.
type MalformedError struct {
	Member     string
	URL        string
	HTTPStatus int
	Reason     string
	Body       []byte // the offending body, at most maxBodyExcerpt bytes
}

// maxBodyExcerpt bounds the body kept in a MalformedError.
const maxBodyExcerpt = 200

func (e *MalformedError) Error() string {
	return fmt.Sprintf("ecx member %q: malformed answer from %s (HTTP %d): %s; body: %s; check for a proxy or another service on that port",
		e.Member, e.URL, e.HTTPStatus, e.Reason, truncate(e.Body, maxBodyExcerpt))
}

// Is makes errors.Is(err, ErrMalformed) true.
func (e *MalformedError) Is(target error) bool { return target == ErrMalformed }

func newMalformed(member, url string, status int, reason string, body []byte) *MalformedError {
	keep := body
	if len(keep) > maxBodyExcerpt {
		keep = append([]byte(nil), keep[:maxBodyExcerpt]...)
		// keep the true length visible in the message
		reason += fmt.Sprintf(" (body is %d bytes)", len(body))
	}
	return &MalformedError{Member: member, URL: url, HTTPStatus: status, Reason: reason, Body: keep}
}

// GroupFailedError reports that a group entered Online Failure or Offline
// Failure while a helper waited for it.
type GroupFailedError struct {
	Member string
	Group  Group // the last observed state
}

func (e *GroupFailedError) Error() string {
	where := e.Group.Current
	if where == "" {
		where = "no server"
	}
	return fmt.Sprintf("ecx member %q: group %q is %q (current: %s); ECX gave up on it: read the cluster's alert log, fix the cause, stop the group and start it again",
		e.Member, e.Group.Name, e.Group.RawStatus, where)
}

// Is makes errors.Is(err, ErrGroupFailed) true.
func (e *GroupFailedError) Is(target error) bool { return target == ErrGroupFailed }

// WaitTimeoutError reports that the wanted state was not reached in time.
// LastErr is the error of the last poll, if it failed.
type WaitTimeoutError struct {
	Member  string
	Group   string
	Waited  string // human-readable duration
	Last    Group  // last observed state (zero if never observed)
	LastErr error
}

func (e *WaitTimeoutError) Error() string {
	s := fmt.Sprintf("ecx member %q: group %q did not reach the wanted state within %s", e.Member, e.Group, e.Waited)
	if e.Last.Name != "" || e.Last.RawStatus != "" {
		s += fmt.Sprintf(" (last seen %q on %q)", e.Last.RawStatus, e.Last.Current)
	}
	if e.LastErr != nil {
		s += ": last poll failed: " + e.LastErr.Error()
	}
	return s
}

// Is makes errors.Is(err, ErrWaitTimeout) true.
func (e *WaitTimeoutError) Is(target error) bool { return target == ErrWaitTimeout }

// Unwrap returns the last poll error, if any.
func (e *WaitTimeoutError) Unwrap() error { return e.LastErr }

func ecxDetail(code int, msg string) string {
	if code == 0 && msg == "" {
		return ""
	}
	return fmt.Sprintf(", code %d, message %q", code, msg)
}
