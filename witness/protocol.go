package witness

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
	"unicode"
	"unicode/utf8"
)

// Protocol limits and defaults shared by the server and the client.
const (
	// MinTTL is the shortest lease TTL the server accepts.
	MinTTL = time.Second
	// DefaultMaxTTL is the longest lease TTL the server accepts unless ServerConfig.MaxTTL says otherwise.
	DefaultMaxTTL = time.Minute
	// DefaultLeaseTTL is the TTL a Lease asks for when LeaseConfig.TTL is zero (docs/design.md, "Split-brain protection").
	DefaultLeaseTTL = 10 * time.Second
	// MaxNameLen is the longest set, holder, cluster or server name accepted, in bytes.
	MaxNameLen = 253
	// MaxTerm is the highest term accepted: 2^53-1, the largest integer every JSON
	// implementation represents exactly. A Raft term never comes near it (one election per
	// millisecond would take 285,000 years); a request above it is garbage, not a master.
	MaxTerm = 1<<53 - 1
	// DefaultMaxTermJump is how far above the highest term granted for a set a request may go
	// unless ServerConfig.MaxTermJump says otherwise (see ReasonTermJump).
	DefaultMaxTermJump = 1000
)

// Paths of the witness HTTP protocol (docs/witness.md, "Protocol").
const (
	pathLease      = "/v1/lease"
	pathLeaseReset = "/v1/lease/reset"
	pathHeartbeat  = "/v1/heartbeat"
	pathClusters   = "/v1/clusters/"
)

// Refusal reasons carried in the "reason" field of a 409 lease answer.
const (
	// ReasonHeld: another holder's lease is active; retry after remaining_ms.
	ReasonHeld = "held"
	// ReasonStaleTerm: the term is lower than the highest term granted for the set, or equal to it
	// while the highest term was granted to a different holder.
	ReasonStaleTerm = "stale_term"
	// ReasonSuperseded: another holder has asked with a higher term, so this term is not renewed.
	ReasonSuperseded = "superseded"
	// ReasonRestartHold: the witness restarted recently and grants nothing new until its hold ends.
	ReasonRestartHold = "restart_hold"
	// ReasonTermJump: the term is more than the server's MaxTermJump above the highest term
	// granted for the set. Raft terms grow by one per election, so such a term does not come
	// from a master of the set; granting it would lock the real leader out (stale_term) until
	// its Raft term caught up. The refusal does not end by itself: if a master really is that
	// far ahead, an operator resets the set's lease state (`csetd witness reset-lease`).
	ReasonTermJump = "term_jump"
)

// leaseRequest is the body of POST /v1/lease.
type leaseRequest struct {
	Set    string `json:"set"`
	Holder string `json:"holder"`
	Term   uint64 `json:"term"`
	TTLMs  int64  `json:"ttl_ms"`
}

// releaseRequest is the body of DELETE /v1/lease.
type releaseRequest struct {
	Set    string `json:"set"`
	Holder string `json:"holder"`
	Term   uint64 `json:"term"`
}

// leaseGranted is the 200 answer to POST /v1/lease.
type leaseGranted struct {
	Granted bool   `json:"granted"`
	TTLMs   int64  `json:"ttl_ms"`
	Holder  string `json:"holder"`
	Term    uint64 `json:"term"`
}

// leaseRefused is the 409 answer to POST /v1/lease. Holder and Term name the current (or last)
// holder of the set; RemainingMs is how long the refusal will last at least, 0 when unknown.
type leaseRefused struct {
	Granted     bool   `json:"granted"`
	Holder      string `json:"holder"`
	Term        uint64 `json:"term"`
	RemainingMs int64  `json:"remaining_ms"`
	Reason      string `json:"reason"`
}

// resetRequest is the body of POST /v1/lease/reset.
type resetRequest struct {
	Set string `json:"set"`
}

// resetDone is the 200 answer to POST /v1/lease/reset: the lease state that was dropped.
type resetDone struct {
	Set    string `json:"set"`
	Holder string `json:"holder"`
	Term   uint64 `json:"term"`
}

// resetRefused is the 409 answer to POST /v1/lease/reset: the set's lease is live.
type resetRefused struct {
	Error       string `json:"error"`
	Holder      string `json:"holder"`
	Term        uint64 `json:"term"`
	RemainingMs int64  `json:"remaining_ms"`
}

// heartbeatRequest is the body of POST /v1/heartbeat.
type heartbeatRequest struct {
	Cluster string `json:"cluster"`
	Server  string `json:"server"`
}

// clusterAnswer is the 200 answer to GET /v1/clusters/{cluster}.
type clusterAnswer struct {
	Cluster string         `json:"cluster"`
	Servers []serverAnswer `json:"servers"`
}

type serverAnswer struct {
	Server           string `json:"server"`
	MsSinceHeartbeat int64  `json:"ms_since_heartbeat"`
}

// errorAnswer is the body of every 4xx and 5xx answer on /v1/.
type errorAnswer struct {
	Error string `json:"error"`
}

// decodeStrict decodes exactly one JSON object from r into v: unknown fields, trailing data and
// an empty body are errors.
func decodeStrict(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("empty body: a JSON object is required")
		}
		return fmt.Errorf("invalid JSON body: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("invalid JSON body: data after the object")
	}
	return nil
}

// validName reports why s is not acceptable as a set, holder, cluster or server name, or nil.
func validName(field, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%s is required", field)
	case len(s) > MaxNameLen:
		return fmt.Errorf("%s is longer than %d bytes", field, MaxNameLen)
	case !utf8.ValidString(s):
		return fmt.Errorf("%s is not valid UTF-8", field)
	case s == "." || s == "..":
		return fmt.Errorf("%s must not be %q", field, s)
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == '/' {
			return fmt.Errorf("%s contains a control character or '/'", field)
		}
	}
	return nil
}

func (q *leaseRequest) validate(maxTTL time.Duration) error {
	if err := validName("set", q.Set); err != nil {
		return err
	}
	if err := validName("holder", q.Holder); err != nil {
		return err
	}
	if err := validTerm(q.Term); err != nil {
		return err
	}
	if q.TTLMs < MinTTL.Milliseconds() || q.TTLMs > maxTTL.Milliseconds() {
		return fmt.Errorf("ttl_ms must be between %d and %d", MinTTL.Milliseconds(), maxTTL.Milliseconds())
	}
	return nil
}

func (q *releaseRequest) validate() error {
	if err := validName("set", q.Set); err != nil {
		return err
	}
	if err := validName("holder", q.Holder); err != nil {
		return err
	}
	return validTerm(q.Term)
}

// validTerm reports why term is not acceptable in a lease request, or nil.
func validTerm(term uint64) error {
	switch {
	case term == 0:
		return errors.New("term must be a positive Raft term")
	case term > MaxTerm:
		return fmt.Errorf("term %d is above %d: send the master's Raft term", term, uint64(MaxTerm))
	}
	return nil
}

func (q *resetRequest) validate() error {
	return validName("set", q.Set)
}

func (q *heartbeatRequest) validate() error {
	if err := validName("cluster", q.Cluster); err != nil {
		return err
	}
	return validName("server", q.Server)
}

// writeJSON answers with status and v encoded as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// The answer types are plain structs of strings and numbers; this cannot happen.
		panic(fmt.Sprintf("witness: encode answer: %v", err))
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// writeError answers with status and {"error": msg}.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorAnswer{Error: msg})
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, http.StatusMethodNotAllowed, "method not allowed; use "+allow)
}
