package ecxclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// DefaultTimeout bounds one request to one server when MemberConfig.Timeout
// is zero.
const DefaultTimeout = 5 * time.Second

// maxBody bounds the bytes read from one response; more is malformed.
const maxBody = 8 << 20

// maxUnknownLogged bounds the distinct unknown status strings remembered
// (and logged once each) per Client.
const maxUnknownLogged = 64

// MemberConfig describes one ECX cluster (a cset member): its servers' REST
// endpoints and how to talk to them.
type MemberConfig struct {
	// Name identifies the member in errors and logs.
	Name string
	// URLs are the REST endpoints of the member's servers, e.g.
	// "https://10.0.0.1:29009". Any one answers for the whole cluster.
	URLs []string
	// User and Password are sent with HTTP Basic auth on every request.
	User, Password string
	// CAFile is a PEM bundle that verifies the servers' certificates
	// (ECX uses self-signed certificates by default).
	CAFile string
	// InsecureSkipVerify disables certificate verification for this member
	// only. It must be set explicitly; prefer CAFile.
	InsecureSkipVerify bool
	// Timeout bounds each request to one server (DefaultTimeout if zero).
	// A call that fails over may take up to len(URLs)*Timeout, unless the
	// caller's context ends first.
	Timeout time.Duration
}

// Option customises a Client.
type Option func(*options)

type options struct {
	waitInitial, waitMax time.Duration
	logger               hclog.Logger
	rt                   http.RoundTripper
	pool                 *TransportPool
}

// WithLogger sets the logger (default: none). The client logs only at Debug
// (fail-over steps) and Warn (an unknown status string, once per string).
func WithLogger(l hclog.Logger) Option { return func(o *options) { o.logger = l } }

// WithTransport makes the client send through rt, typically one transport
// shared by every client. TLS is then rt's business: New refuses a config
// with CAFile or InsecureSkipVerify together with this option.
func WithTransport(rt http.RoundTripper) Option { return func(o *options) { o.rt = rt } }

// WithWaitBackoff sets the polling backoff of the *AndWait helpers (default
// DefaultInitialBackoff doubling to DefaultMaxBackoff). A controller that
// must notice Online quickly uses a small maximum.
func WithWaitBackoff(initial, max time.Duration) Option {
	return func(o *options) { o.waitInitial, o.waitMax = initial, max }
}

// WithTransportPool takes transports from p instead of the package default.
func WithTransportPool(p *TransportPool) Option { return func(o *options) { o.pool = p } }

// Client talks to the REST API of one ECX cluster through any of its
// servers. It is safe for concurrent use.
type Client struct {
	name     string
	user     string
	password string
	timeout  time.Duration
	bases    []string // scheme://host[:port][/prefix], no trailing slash
	hc       *http.Client
	logger   hclog.Logger
	last     atomic.Int32 // index into bases of the server that answered last

	waitInitial, waitMax time.Duration // backoff of the *AndWait helpers; 0 = defaults

	unknownMu sync.Mutex
	unknown   map[string]struct{}
}

// New validates cfg and returns a client. It does no I/O except reading
// cfg.CAFile. Errors wrap ErrInvalidArgument and list every problem.
func New(cfg MemberConfig, opts ...Option) (*Client, error) {
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	var errs []error
	if strings.TrimSpace(cfg.Name) == "" {
		errs = append(errs, errors.New("member name is empty"))
	}
	if cfg.User == "" {
		errs = append(errs, errors.New("user is empty (ECX needs Basic auth)"))
	}
	if cfg.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout %s is negative", cfg.Timeout))
	}
	if o.rt != nil && (cfg.CAFile != "" || cfg.InsecureSkipVerify) {
		errs = append(errs, errors.New("CAFile/InsecureSkipVerify cannot apply to a caller-supplied transport; configure TLS on that transport or use a TransportPool"))
	}
	bases, err := parseURLs(cfg.URLs)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: ecx member %q: %w", ErrInvalidArgument, cfg.Name, errors.Join(errs...))
	}
	rt := o.rt
	if rt == nil {
		pool := o.pool
		if pool == nil {
			pool = defaultPool
		}
		t, err := pool.transportFor(cfg)
		if err != nil {
			return nil, err
		}
		rt = t
	}
	logger := o.logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	return &Client{
		name: cfg.Name, user: cfg.User, password: cfg.Password, timeout: timeout,
		bases: bases,
		hc: &http.Client{
			Transport: rt,
			// A redirect is reported, never followed: following would turn
			// a POST into a GET and could send credentials elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		logger:      logger,
		unknown:     make(map[string]struct{}),
		waitInitial: o.waitInitial, waitMax: o.waitMax,
	}, nil
}

func parseURLs(raw []string) ([]string, error) {
	if len(raw) == 0 {
		return nil, errors.New("no server URL")
	}
	var errs []error
	seen := make(map[string]bool)
	bases := make([]string, 0, len(raw))
	for _, s := range raw {
		u, err := url.Parse(strings.TrimSpace(s))
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("URL %q: %w", s, err))
			continue
		case u.Scheme != "http" && u.Scheme != "https":
			errs = append(errs, fmt.Errorf("URL %q: scheme must be http or https", s))
			continue
		case u.Host == "" || u.Hostname() == "":
			errs = append(errs, fmt.Errorf("URL %q: no host", s))
			continue
		case u.User != nil:
			errs = append(errs, fmt.Errorf("URL %q: credentials belong in User/Password, not in the URL", s))
			continue
		case u.RawQuery != "" || u.Fragment != "":
			errs = append(errs, fmt.Errorf("URL %q: no query or fragment allowed", s))
			continue
		}
		p := strings.TrimSuffix(strings.TrimRight(u.EscapedPath(), "/"), "/api/v1")
		base := u.Scheme + "://" + u.Host + p
		if seen[base] {
			errs = append(errs, fmt.Errorf("URL %q: listed twice", s))
			continue
		}
		seen[base] = true
		bases = append(bases, base)
	}
	return bases, errors.Join(errs...)
}

// Name returns the member name.
func (c *Client) Name() string { return c.name }

// URLs returns the normalised server URLs in configured order.
func (c *Client) URLs() []string { return append([]string(nil), c.bases...) }

// LastURL returns the URL of the server that answered last (the first URL
// before any call). The next call tries it first.
func (c *Client) LastURL() string { return c.bases[c.last.Load()] }

// request is one REST call.
type request struct {
	method string
	path   string // escaped, from /api/v1
	query  string // raw query without '?'
	body   []byte // nil: no body
	kind   string // object kind for NotFoundError ("group", ...)
	name   string // object name for NotFoundError
}

func (r request) op() string {
	if r.query != "" {
		return r.method + " " + r.path + "?" + r.query
	}
	return r.method + " " + r.path
}

// response is a successful answer: 2xx, code 0 (and message "" for POST).
type response struct {
	env    *envelope
	url    string
	status int
	body   []byte
}

// malformed wraps a payload decoding problem of a successful answer.
func (c *Client) malformed(r *response, err error) error {
	return newMalformed(c.name, r.url, r.status, err.Error(), r.body)
}

// do sends r to the last-good server first, then to the others, and
// interprets the first real answer. See doc.go for the retry rules.
func (c *Client) do(ctx context.Context, r request) (*response, error) {
	start := int(c.last.Load())
	var attempts []error
	for k := range c.bases {
		i := (start + k) % len(c.bases)
		u := c.bases[i] + r.path
		if r.query != "" {
			u += "?" + r.query
		}
		res, wrote, err := c.attempt(ctx, u, r, c.attemptTimeout(ctx, len(c.bases)-k))
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("ecx member %q: %s abandoned at %s: %w", c.name, r.op(), u, context.Cause(ctx))
			}
			attempts = append(attempts, err)
			c.logger.Debug("ecx server did not answer", "member", c.name, "url", u, "error", err)
			if r.method == http.MethodPost && wrote {
				return nil, &UnreachableError{Member: c.name, Op: r.op(), Attempts: attempts, MaybeApplied: true}
			}
			continue
		}
		env, envErr := parseEnvelope(res.body)
		if envErr != nil && res.status >= 500 {
			// A proxy or a dying server, not ECX: try the next server.
			attempts = append(attempts, newMalformed(c.name, u, res.status, "server error without an ECX envelope", res.body))
			c.logger.Debug("ecx server answered a bare server error", "member", c.name, "url", u, "status", res.status)
			// 502/503 mean the request was not handed on; anything else may have been.
			if r.method == http.MethodPost && res.status != http.StatusBadGateway && res.status != http.StatusServiceUnavailable {
				return nil, &UnreachableError{Member: c.name, Op: r.op(), Attempts: attempts, MaybeApplied: true}
			}
			continue
		}
		c.last.Store(int32(i))
		res.env = env
		if err := c.interpret(r, res, envErr); err != nil {
			return nil, err
		}
		return &res.response, nil
	}
	return nil, &UnreachableError{Member: c.name, Op: r.op(), Attempts: attempts}
}

// attemptResult is the raw answer of one server, plus its Location header.
type attemptResult struct {
	response
	location string
}

// attempt sends r to one URL under the per-server deadline. wrote reports
// whether the whole request went out (so a POST may have been applied).
// attemptTimeout is the deadline of one attempt when left servers remain to be tried: the
// per-call timeout, but no more than an equal share of what is left of the caller's deadline, so
// a server that accepts and never answers cannot use up the time the next server needs.
func (c *Client) attemptTimeout(ctx context.Context, left int) time.Duration {
	dl, ok := ctx.Deadline()
	if !ok || left <= 1 {
		return c.timeout
	}
	return max(min(c.timeout, time.Until(dl)/time.Duration(left)), time.Millisecond)
}

func (c *Client) attempt(ctx context.Context, u string, r request, timeout time.Duration) (*attemptResult, bool, error) {
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var wrote atomic.Bool
	actx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				wrote.Store(true)
			}
		},
	})
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(actx, r.method, u, body)
	if err != nil {
		return nil, false, fmt.Errorf("%s: build request: %w", u, err)
	}
	req.SetBasicAuth(c.user, c.password)
	req.Header.Set("Accept", "application/json")
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, wrote.Load(), transportError(u, actx, timeout, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, true, transportError(u, actx, timeout, fmt.Errorf("reading the answer: %w", err))
	}
	res := &attemptResult{response: response{url: u, status: resp.StatusCode, body: b}, location: resp.Header.Get("Location")}
	return res, true, nil
}

func transportError(u string, actx context.Context, timeout time.Duration, err error) error {
	if errors.Is(actx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%s: no answer within %s: %w", u, timeout.Round(time.Millisecond), err)
	}
	return fmt.Errorf("%s: %w%s", u, err, tlsAdvice(err))
}

// interpret maps an answer from a server to a typed error, or nil.
func (c *Client) interpret(r request, res *attemptResult, envErr error) error {
	code, msg := 0, ""
	if envErr == nil {
		code, msg = res.env.Code, res.env.Message
	}
	switch st := res.status; {
	case st == http.StatusUnauthorized || st == http.StatusForbidden:
		return &AuthError{Member: c.name, URL: res.url, HTTPStatus: st, Code: code, Message: msg}
	case st == http.StatusNotFound:
		kind, name := r.kind, r.name
		if kind == "" {
			kind, name = "path", r.path
		}
		return &NotFoundError{Member: c.name, URL: res.url, Kind: kind, Name: name, HTTPStatus: st, Code: code, Message: msg, NoEnvelope: envErr != nil}
	case len(res.body) > maxBody:
		return newMalformed(c.name, res.url, st, fmt.Sprintf("answer larger than %d bytes", maxBody), res.body)
	case st >= 300 && st < 400:
		return newMalformed(c.name, res.url, st, fmt.Sprintf("redirected to %q; configure the URL the ECX API really serves (http or https?)", res.location), res.body)
	case envErr != nil:
		return newMalformed(c.name, res.url, st, envErr.Error(), res.body)
	case st < 200 || st > 299, code != 0, r.method == http.MethodPost && msg != "":
		return &RejectedError{Member: c.name, URL: res.url, Op: r.op(), HTTPStatus: st, Code: code, Message: msg}
	}
	return nil
}

// noteStatus logs an unrecognised status string, once per string per client.
func (c *Client) noteStatus(kind, name, raw string) {
	if _, ok := ParseStatus(raw); ok || raw == "" {
		return // "" is an absent status (e.g. ?select=resources), not an unknown one
	}
	c.unknownMu.Lock()
	_, seen := c.unknown[raw]
	if !seen && len(c.unknown) < maxUnknownLogged {
		c.unknown[raw] = struct{}{}
	} else {
		seen = true
	}
	c.unknownMu.Unlock()
	if !seen {
		c.logger.Warn("unrecognised ecx status string, treated as Unknown",
			"member", c.name, "kind", kind, "object", name, "status", raw)
	}
}
