package witness

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// DefaultClientTimeout bounds each client call when ClientConfig.Timeout is zero.
const DefaultClientTimeout = 5 * time.Second

// maxAnswerBytes bounds how much of an answer the client reads.
const maxAnswerBytes = 1 << 20

// Errors returned by the Client; match them with errors.Is.
var (
	// ErrLeaseRefused: the witness answered 409 to a lease request; the error is a *RefusedError.
	ErrLeaseRefused = errors.New("witness: lease refused")
	// ErrNeverSeen: the witness has never received a heartbeat from the cluster.
	ErrNeverSeen = errors.New("witness: cluster never seen")
	// ErrUnauthorized: the witness rejected the bearer token (401).
	ErrUnauthorized = errors.New("witness: unauthorized")
	// ErrForbidden: the token is valid but not for this call (403): the heartbeat token asked
	// for a lease, or the lease token sent a heartbeat.
	ErrForbidden = errors.New("witness: forbidden for this token")
	// ErrLeaseLive: ResetLease was refused because the set's lease is live; the error is a
	// *LiveLeaseError.
	ErrLeaseLive = errors.New("witness: lease is live")
	// ErrUnknownSet: ResetLease found no lease state for the set.
	ErrUnknownSet = errors.New("witness: no lease state for the set")
)

// LiveLeaseError describes a refused ResetLease. It matches ErrLeaseLive.
type LiveLeaseError struct {
	// Holder and Term name the holder of the live lease; Remaining is what is left of it.
	Holder    string
	Term      uint64
	Remaining time.Duration
	// Message is the witness's explanation.
	Message string
}

func (e *LiveLeaseError) Error() string {
	return "witness: reset refused: " + e.Message
}

// Is makes errors.Is(err, ErrLeaseLive) true.
func (e *LiveLeaseError) Is(target error) bool { return target == ErrLeaseLive }

// RefusedError describes a refused lease request. It matches ErrLeaseRefused.
type RefusedError struct {
	// Holder and Term name the holder of the current or last lease of the set.
	Holder string
	Term   uint64
	// Remaining is how long the refusal lasts at least (0 when it will not end by itself).
	Remaining time.Duration
	// Reason is one of ReasonHeld, ReasonStaleTerm, ReasonSuperseded, ReasonRestartHold.
	Reason string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("witness: lease refused (%s): holder %q term %d, %s remaining", e.Reason, e.Holder, e.Term, e.Remaining)
}

// Is makes errors.Is(err, ErrLeaseRefused) true.
func (e *RefusedError) Is(target error) bool { return target == ErrLeaseRefused }

// StatusError is an unexpected HTTP answer from the witness.
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("witness: HTTP %d: %s", e.Code, e.Message)
}

// Is makes a 401 match ErrUnauthorized and a 403 match ErrForbidden.
func (e *StatusError) Is(target error) bool {
	return target == ErrUnauthorized && e.Code == http.StatusUnauthorized ||
		target == ErrForbidden && e.Code == http.StatusForbidden
}

// ClientConfig configures a Client. Only URL is required.
type ClientConfig struct {
	// URL is the witness base URL, e.g. "https://witness.example.com:7190".
	URL string
	// Token is sent as a bearer token on every /v1/ call.
	Token string
	// CAFile is a PEM bundle of CAs to trust for an https URL instead of the system pool.
	CAFile string
	// InsecureSkipVerify disables TLS certificate checks (tests only).
	InsecureSkipVerify bool
	// Timeout bounds each call (default DefaultClientTimeout); the context may bound it further.
	Timeout time.Duration
	// HTTPClient replaces the client's own; CAFile and InsecureSkipVerify must then be unset.
	HTTPClient *http.Client
	// DriftMargin is subtracted from every LeaseResult.HeldUntil to cover clock-rate differences
	// and pauses (default TTL/10).
	DriftMargin time.Duration
	// Clock is the time source for HeldUntil (default RealClock).
	Clock Clock
}

// Client calls a witness server. It is safe for concurrent use.
type Client struct {
	base    string // scheme://host[/prefix], no trailing slash
	token   string
	timeout time.Duration
	drift   time.Duration
	hc      *http.Client
	clock   Clock
}

// NewClient checks cfg and returns a Client; it does not contact the witness.
func NewClient(cfg ClientConfig) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(cfg.URL, "/"))
	if err != nil {
		return nil, fmt.Errorf("witness: parse URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("witness: URL %q must be http(s)://host[:port][/path]", cfg.URL)
	}
	if cfg.Timeout < 0 || cfg.DriftMargin < 0 {
		return nil, errors.New("witness: Timeout and DriftMargin must not be negative")
	}
	c := &Client{base: u.String(), token: cfg.Token, timeout: cfg.Timeout, drift: cfg.DriftMargin, hc: cfg.HTTPClient, clock: cfg.Clock}
	if c.timeout == 0 {
		c.timeout = DefaultClientTimeout
	}
	if c.clock == nil {
		c.clock = RealClock{}
	}
	if c.hc != nil {
		if cfg.CAFile != "" || cfg.InsecureSkipVerify {
			return nil, errors.New("witness: set either HTTPClient or CAFile/InsecureSkipVerify, not both")
		}
		return c, nil
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.InsecureSkipVerify} //nolint:gosec // opt-in for tests
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("witness: read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("witness: no certificate found in CA file %s", cfg.CAFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	c.hc = &http.Client{Transport: tr}
	return c, nil
}

// LeaseResult is the outcome of Acquire.
type LeaseResult struct {
	Granted bool
	// Holder and Term: the grantee when granted, else the holder of the current or last lease.
	Holder string
	Term   uint64
	// TTL is the granted TTL.
	TTL time.Duration
	// SentAt is the client's clock reading just before the request was sent.
	SentAt time.Time
	// HeldUntil is SentAt + TTL - drift margin when granted, zero otherwise: the witness
	// started the TTL no earlier than SentAt, so the lease cannot have ended before HeldUntil.
	HeldUntil time.Time
	// Remaining and Reason describe a refusal (see RefusedError).
	Remaining time.Duration
	Reason    string
}

// Acquire asks for, or renews, the lease of set for holder at term. It returns a nil error only
// when the lease was granted; a refusal returns the filled result and a *RefusedError.
func (c *Client) Acquire(ctx context.Context, set, holder string, term uint64, ttl time.Duration) (LeaseResult, error) {
	req := leaseRequest{Set: set, Holder: holder, Term: term, TTLMs: ttl.Milliseconds()}
	res := LeaseResult{}
	var sent time.Time
	status, body, err := c.do(ctx, http.MethodPost, pathLease, req, &sent)
	if err != nil {
		return res, fmt.Errorf("witness: acquire lease: %w", err)
	}
	res.SentAt = sent
	switch status {
	case http.StatusOK:
		var a leaseGranted
		if err := json.Unmarshal(body, &a); err != nil || !a.Granted {
			return res, fmt.Errorf("witness: acquire lease: malformed grant %q", truncate(body))
		}
		granted := min(time.Duration(a.TTLMs)*time.Millisecond, ttl)
		drift := c.drift
		if drift == 0 {
			drift = granted / 10
		}
		res.Granted, res.Holder, res.Term, res.TTL = true, a.Holder, a.Term, granted
		res.HeldUntil = sent.Add(granted - drift)
		return res, nil
	case http.StatusConflict:
		var a leaseRefused
		if err := json.Unmarshal(body, &a); err != nil {
			return res, fmt.Errorf("witness: acquire lease: malformed refusal %q", truncate(body))
		}
		res.Holder, res.Term, res.Reason = a.Holder, a.Term, a.Reason
		res.Remaining = time.Duration(a.RemainingMs) * time.Millisecond
		return res, &RefusedError{Holder: a.Holder, Term: a.Term, Remaining: res.Remaining, Reason: a.Reason}
	default:
		return res, fmt.Errorf("witness: acquire lease: %w", statusError(status, body))
	}
}

// Release gives the lease of set up if holder holds it at term; it is a no-op otherwise.
func (c *Client) Release(ctx context.Context, set, holder string, term uint64) error {
	status, body, err := c.do(ctx, http.MethodDelete, pathLease, releaseRequest{Set: set, Holder: holder, Term: term}, nil)
	if err != nil {
		return fmt.Errorf("witness: release lease: %w", err)
	}
	if status != http.StatusNoContent {
		return fmt.Errorf("witness: release lease: %w", statusError(status, body))
	}
	return nil
}

// ResetResult is what ResetLease dropped: the holder and term of the set's last lease.
type ResetResult struct {
	Holder string
	Term   uint64
}

// ResetLease makes the witness forget the lease state of set (highest term, holder), so that
// the next master to ask gets the lease whatever its term. It needs the lease token. The
// witness refuses while the set's lease is live (a *LiveLeaseError matching ErrLeaseLive) and
// answers ErrUnknownSet (wrapped) for a set it has no state for.
func (c *Client) ResetLease(ctx context.Context, set string) (ResetResult, error) {
	status, body, err := c.do(ctx, http.MethodPost, pathLeaseReset, resetRequest{Set: set}, nil)
	if err != nil {
		return ResetResult{}, fmt.Errorf("witness: reset lease: %w", err)
	}
	switch status {
	case http.StatusOK:
		var a resetDone
		if err := json.Unmarshal(body, &a); err != nil {
			return ResetResult{}, fmt.Errorf("witness: reset lease: malformed answer %q", truncate(body))
		}
		return ResetResult{Holder: a.Holder, Term: a.Term}, nil
	case http.StatusConflict:
		var a resetRefused
		if err := json.Unmarshal(body, &a); err != nil {
			return ResetResult{}, fmt.Errorf("witness: reset lease: malformed refusal %q", truncate(body))
		}
		return ResetResult{}, &LiveLeaseError{Holder: a.Holder, Term: a.Term,
			Remaining: time.Duration(a.RemainingMs) * time.Millisecond, Message: a.Error}
	case http.StatusNotFound:
		return ResetResult{}, fmt.Errorf("%w: %s", ErrUnknownSet, set)
	default:
		return ResetResult{}, fmt.Errorf("witness: reset lease: %w", statusError(status, body))
	}
}

// Heartbeat reports that server of cluster is alive.
func (c *Client) Heartbeat(ctx context.Context, cluster, server string) error {
	status, body, err := c.do(ctx, http.MethodPost, pathHeartbeat, heartbeatRequest{Cluster: cluster, Server: server}, nil)
	if err != nil {
		return fmt.Errorf("witness: heartbeat: %w", err)
	}
	if status != http.StatusNoContent {
		return fmt.Errorf("witness: heartbeat: %w", statusError(status, body))
	}
	return nil
}

// ServerSeen is one server of a ClusterSeen.
type ServerSeen struct {
	Server string
	// SinceHeartbeat is the time since its last heartbeat, by the witness clock when it answered.
	SinceHeartbeat time.Duration
}

// ClusterSeen is what the witness knows about a cluster's servers, sorted by server name. A
// Quorum combines the answers of several witnesses into one (see Quorum.Cluster).
type ClusterSeen struct {
	Cluster string
	Servers []ServerSeen
	// Witnesses are the answers of each witness when a Quorum of several combined them (nil
	// from a single witness).
	Witnesses []WitnessSeen
	// Heard is the combined LastHeard when a Quorum of several witnesses answered.
	Heard  time.Duration
	quorum bool
}

// LastHeard is the time since the witness heard any server of the cluster: the smallest
// SinceHeartbeat. For several witnesses it is the largest time for which a majority of them
// each heard none of the cluster's servers. A member may be declared down only when this
// exceeds fence_after.
func (s ClusterSeen) LastHeard() time.Duration {
	if s.quorum {
		return s.Heard
	}
	if len(s.Servers) == 0 {
		return 0
	}
	least := s.Servers[0].SinceHeartbeat
	for _, v := range s.Servers[1:] {
		least = min(least, v.SinceHeartbeat)
	}
	return least
}

// Cluster returns the witness's last-seen table for cluster; ErrNeverSeen (wrapped) when the
// witness has no heartbeat from it.
func (c *Client) Cluster(ctx context.Context, cluster string) (ClusterSeen, error) {
	status, body, err := c.do(ctx, http.MethodGet, pathClusters+url.PathEscape(cluster), nil, nil)
	if err != nil {
		return ClusterSeen{}, fmt.Errorf("witness: cluster %s: %w", cluster, err)
	}
	switch status {
	case http.StatusOK:
	case http.StatusNotFound:
		return ClusterSeen{}, fmt.Errorf("%w: %s", ErrNeverSeen, cluster)
	default:
		return ClusterSeen{}, fmt.Errorf("witness: cluster %s: %w", cluster, statusError(status, body))
	}
	var a clusterAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return ClusterSeen{}, fmt.Errorf("witness: cluster %s: malformed answer %q", cluster, truncate(body))
	}
	out := ClusterSeen{Cluster: a.Cluster, Servers: make([]ServerSeen, 0, len(a.Servers))}
	for _, s := range a.Servers {
		out.Servers = append(out.Servers, ServerSeen{Server: s.Server, SinceHeartbeat: time.Duration(s.MsSinceHeartbeat) * time.Millisecond})
	}
	return out, nil
}

// Ping checks that the witness answers GET / (no token needed).
func (c *Client) Ping(ctx context.Context) error {
	status, body, err := c.do(ctx, http.MethodGet, "/", nil, nil)
	if err != nil {
		return fmt.Errorf("witness: ping: %w", err)
	}
	if status != http.StatusOK {
		return fmt.Errorf("witness: ping: %w", statusError(status, body))
	}
	return nil
}

// do sends one request with the call timeout and returns the status and body; path must be
// escaped already. If sent is not
// nil it receives the clock reading taken just before the request was handed to the transport.
func (c *Client) do(ctx context.Context, method, path string, in any, sent *time.Time) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, nil, fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return 0, nil, fmt.Errorf("build request: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
		// Every call may be sent twice: a lease request or release repeats to the same effect,
		// and a heartbeat or grant counts from the first send time, read before either
		// attempt. Marking the request so (the key alone, no value is sent) lets the transport
		// retry it on a keep-alive connection the witness closed while idle, instead of
		// failing the call.
		req.Header["Idempotency-Key"] = nil
	}
	if c.token != "" && strings.HasPrefix(path, "/v1/") {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if sent != nil {
		*sent = c.clock.Now()
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return 0, nil, fmt.Errorf("read answer: %w", err)
	}
	return resp.StatusCode, b, nil
}

func statusError(status int, body []byte) error {
	var a errorAnswer
	if err := json.Unmarshal(body, &a); err != nil || a.Error == "" {
		a.Error = truncate(body)
	}
	return &StatusError{Code: status, Message: a.Error}
}

func truncate(b []byte) string {
	const n = 200
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
