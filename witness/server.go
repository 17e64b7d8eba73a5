package witness

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server defaults, used when the matching ServerConfig field is zero.
const (
	DefaultMaxBodyBytes     = 16 << 10
	DefaultHeartbeatFlush   = time.Second
	DefaultHeartbeatSyncGap = 3 * time.Second
	DefaultMaxSets          = 1000
	DefaultMaxServers       = 10000
)

// ServerConfig configures a witness Server. Only DataDir is required.
type ServerConfig struct {
	// DataDir holds the state file and the lock file; it is created if missing.
	DataDir string
	// LeaseToken and HeartbeatToken are the bearer tokens ("Authorization: Bearer <token>") of
	// the two kinds of clients. The masters' LeaseToken may take, release and reset leases and
	// read the last-seen table; the HeartbeatToken, which every ECX server holds, may only send
	// heartbeats and read the last-seen table, so a compromised ECX server cannot take the lease
	// and lock the masters out. Set both (they must differ) or neither (an open witness: -dev
	// and tests only).
	LeaseToken     string
	HeartbeatToken string
	// MaxTermJump is how far above the highest term granted for a set a lease request may go
	// (default DefaultMaxTermJump); beyond it the request is refused with ReasonTermJump.
	MaxTermJump uint64
	// MaxBodyBytes limits request bodies (default DefaultMaxBodyBytes); larger ones get 413.
	MaxBodyBytes int64
	// MaxTTL is the longest lease TTL granted (default DefaultMaxTTL); longer requests get 400.
	MaxTTL time.Duration
	// RestartHold is how long after start nothing is granted except renewals by the holder whose
	// lease was active when the state was written. The hold is never shorter than the longest TTL
	// this witness has granted (persisted), so 0 (the default) means exactly that: a fresh
	// witness that never granted a lease holds nothing, one that granted 10 s leases holds 10 s.
	// A positive value is a floor on top (for a data directory restored from an old backup). A
	// persisted active lease is held for max(hold, its TTL). A negative value disables the hold:
	// only for -dev and tests.
	RestartHold time.Duration
	// HeartbeatFlush is how often heartbeats that were not written synchronously are persisted
	// (default DefaultHeartbeatFlush).
	HeartbeatFlush time.Duration
	// HeartbeatSyncGap: a heartbeat from a server not heard for this long (or never) is persisted
	// before it is answered (default DefaultHeartbeatSyncGap); restored ages are reduced by it.
	// See DESIGN.md "Last-seen across restarts".
	HeartbeatSyncGap time.Duration
	// MaxSets and MaxServers bound the state (defaults DefaultMaxSets, DefaultMaxServers); a
	// request that would exceed them gets 429.
	MaxSets    int
	MaxServers int
	// Logger receives the server's logs (default: discard).
	Logger hclog.Logger
	// Clock is the server's time source (default RealClock).
	Clock Clock
}

func (c ServerConfig) withDefaults() (ServerConfig, error) {
	if c.DataDir == "" {
		return c, errors.New("witness: ServerConfig.DataDir is required")
	}
	if (c.LeaseToken == "") != (c.HeartbeatToken == "") {
		return c, errors.New("witness: set both the lease token and the heartbeat token, or neither: with one alone, its calls would be open to anybody")
	}
	if c.LeaseToken != "" && c.LeaseToken == c.HeartbeatToken {
		return c, errors.New("witness: the lease token and the heartbeat token must differ: every ECX server holds the heartbeat token, and it must not be able to take the lease")
	}
	if c.MaxTermJump == 0 {
		c.MaxTermJump = DefaultMaxTermJump
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxTTL == 0 {
		c.MaxTTL = DefaultMaxTTL
	}
	if c.MaxTTL < MinTTL {
		return c, fmt.Errorf("witness: MaxTTL %s is below the minimum TTL %s", c.MaxTTL, MinTTL)
	}
	if c.HeartbeatFlush <= 0 {
		c.HeartbeatFlush = DefaultHeartbeatFlush
	}
	if c.HeartbeatSyncGap <= 0 {
		c.HeartbeatSyncGap = DefaultHeartbeatSyncGap
	}
	if c.MaxSets <= 0 {
		c.MaxSets = DefaultMaxSets
	}
	if c.MaxServers <= 0 {
		c.MaxServers = DefaultMaxServers
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	if c.Clock == nil {
		c.Clock = RealClock{}
	}
	return c, nil
}

// Server is the witness: it grants leases to cluster-set masters and records ECX server
// heartbeats (docs/design.md, "Split-brain protection", and docs/witness.md, "Protocol"). Its methods are safe for concurrent use.
type Server struct {
	cfg     ServerConfig
	logger  hclog.Logger
	clock   Clock
	store   *store
	reg     *prometheus.Registry
	metrics *metrics
	handler http.Handler

	// holdUntil ends the restart hold (see ServerConfig.RestartHold).
	holdUntil time.Time

	mu       sync.Mutex
	sets     map[string]setState
	seen     map[string]map[string]time.Time // cluster -> server -> last heartbeat
	nservers int
	// maxGranted is the longest TTL ever granted (persisted): the next restart holds that long.
	maxGranted time.Duration
	dirty      bool // heartbeats recorded but not yet written
	closed     bool

	stop      chan struct{}
	flushDone chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// NewServer loads the state persisted in cfg.DataDir, locks the directory and starts the
// heartbeat flusher. Call Close to release them.
func NewServer(cfg ServerConfig) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	st, file, err := openStore(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("witness: %w", err)
	}
	s := &Server{
		cfg: cfg, logger: cfg.Logger, clock: cfg.Clock, store: st,
		reg:  prometheus.NewRegistry(),
		sets: map[string]setState{}, seen: map[string]map[string]time.Time{},
		stop: make(chan struct{}), flushDone: make(chan struct{}),
	}
	s.restore(file)
	s.metrics = newMetrics(s.reg, stateCollector{s})
	s.handler = s.routes()
	go s.flushLoop()
	return s, nil
}

// restore adopts a persisted state at start (see DESIGN.md "Restart rules").
func (s *Server) restore(f *stateFile) {
	start := s.clock.Now()
	s.maxGranted = time.Duration(f.MaxGrantedTTLMs) * time.Millisecond
	if s.maxGranted == 0 && len(f.Sets) > 0 {
		s.maxGranted = s.cfg.MaxTTL // written by a version that did not record it: assume the worst
	}
	for _, p := range f.Sets {
		s.maxGranted = max(s.maxGranted, time.Duration(p.TTLMs)*time.Millisecond)
	}
	hold := restartHold(s.cfg.RestartHold, s.maxGranted)
	s.holdUntil = start.Add(hold)
	for name, p := range f.Sets {
		s.sets[name] = restoreSet(p, start, hold)
	}
	for cluster, servers := range f.Clusters {
		m := make(map[string]time.Time, len(servers))
		for server, ageMs := range servers {
			age := max(time.Duration(ageMs)*time.Millisecond-s.cfg.HeartbeatSyncGap, 0)
			m[server] = start.Add(-age)
		}
		s.seen[cluster] = m
		s.nservers += len(m)
	}
	s.logger.Info("witness state loaded", "data_dir", s.cfg.DataDir, "sets", len(s.sets),
		"servers", s.nservers, "restart_hold", hold)
}

// restartHold is the hold after a start: none when disabled (negative), else the longest TTL
// ever granted, raised to the configured floor.
func restartHold(configured, maxGranted time.Duration) time.Duration {
	if configured < 0 {
		return 0
	}
	return max(configured, maxGranted)
}

// Handler returns the HTTP handler: the /v1/ protocol, GET and HEAD / and GET /metrics.
func (s *Server) Handler() http.Handler { return s.handler }

// Close stops the flusher, writes the state and unlocks the data directory. Requests
// arriving afterwards get 503. Close is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.flushDone
		s.mu.Lock()
		defer s.mu.Unlock()
		// Write even when nothing is dirty: the ages then include the time up to the shutdown.
		err := s.persistLocked()
		s.closed = true
		s.closeErr = errors.Join(err, s.store.close())
	})
	return s.closeErr
}

func (s *Server) flushLoop() {
	defer close(s.flushDone)
	t := time.NewTicker(s.cfg.HeartbeatFlush)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.mu.Lock()
		if s.dirty && !s.closed {
			if err := s.persistLocked(); err != nil {
				s.logger.Error("cannot persist heartbeats", "error", err)
			}
		}
		s.mu.Unlock()
	}
}

// persistLocked writes the whole state. s.mu must be held, so writes never interleave and the
// file always reflects a state the server has been in.
func (s *Server) persistLocked() error {
	now := s.clock.Now()
	f := &stateFile{Version: stateVersion, Sets: make(map[string]persistedSet, len(s.sets)),
		Clusters: make(map[string]map[string]int64, len(s.seen)), MaxGrantedTTLMs: s.maxGranted.Milliseconds()}
	for name, st := range s.sets {
		f.Sets[name] = st.persisted(now)
	}
	for cluster, servers := range s.seen {
		m := make(map[string]int64, len(servers))
		for server, last := range servers {
			m[server] = now.Sub(last).Milliseconds()
		}
		f.Clusters[cluster] = m
	}
	if err := s.store.save(f); err != nil {
		s.metrics.persistErrors.Inc()
		return err
	}
	s.dirty = false
	return nil
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /{$}", serveRoot) // GET patterns also match HEAD
	// /v1/ has a mux of its own: this one would redirect unclean paths such as /v1/clusters/..
	// with an HTML answer, and the protocol answers JSON only.
	v1 := s.v1Routes()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			v1.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// serveRoot answers GET and HEAD / without authentication: ECX's HTTP network-partition
// resolution sends HEAD / to decide whether the witness is reachable.
func serveRoot(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte("<!doctype html><title>cset witness</title><p>cset witness</p>\n"))
	}
}

// scope is what a token may do on /v1/.
type scope int

const (
	scopeLease     scope = 1 << iota // take, release and reset leases: the masters' token
	scopeHeartbeat                   // send heartbeats: the ECX servers' token
	scopeRead                        // read the last-seen table: both
)

// v1Routes returns the handler of the /v1/ protocol. The bearer token is checked and the body
// bounded before routing, so that without a valid token every path and method is 401; the scope
// of the token is checked after routing, so that a wrong method is 405 and an unknown path 404
// whatever the token may do. Every answer is JSON: a wrong method is 405 with Allow, an unknown
// path 404, where Go's ServeMux would answer in plain text.
func (s *Server) v1Routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+pathLease, need(scopeLease, s.handleAcquire))
	mux.HandleFunc("DELETE "+pathLease, need(scopeLease, s.handleRelease))
	mux.HandleFunc(pathLease, allow("POST, DELETE"))
	mux.HandleFunc("POST "+pathLeaseReset, need(scopeLease, s.handleReset))
	mux.HandleFunc(pathLeaseReset, allow("POST"))
	mux.HandleFunc("POST "+pathHeartbeat, need(scopeHeartbeat, s.handleHeartbeat))
	mux.HandleFunc(pathHeartbeat, allow("POST"))
	// The name is the rest of the path, slashes included, so that a name with a slash is 400
	// (handleCluster checks it) rather than an unknown path.
	clusters := pathClusters + "{cluster...}"
	mux.HandleFunc("GET "+clusters, need(scopeRead, func(w http.ResponseWriter, r *http.Request) {
		s.handleCluster(w, r.PathValue("cluster"))
	}))
	// A GET pattern also serves HEAD, which the protocol refuses like any other method.
	mux.HandleFunc("HEAD "+clusters, allow("GET"))
	mux.HandleFunc(clusters, allow("GET"))
	// Without a pattern of its own, the mux would redirect /v1/clusters to /v1/clusters/.
	mux.HandleFunc(strings.TrimSuffix(pathClusters, "/"), unknownEndpoint)
	mux.HandleFunc("/", unknownEndpoint)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		granted, ok := s.scopes(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="cset-witness"`)
			writeError(w, http.StatusUnauthorized, "missing or invalid bearer token")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		r = r.WithContext(context.WithValue(r.Context(), scopeKey{}, granted))
		// The mux routes on the path as written: the escaped form below is always clean, so the
		// mux never redirects, and every segment unescapes to the bytes of r.URL.Path.
		u := *r.URL
		u.RawPath = escapeAsWritten(u.Path)
		r.URL = &u
		mux.ServeHTTP(w, r)
	})
}

// scopeKey is the context key of the scope the request's token grants.
type scopeKey struct{}

// need wraps the handler of a call with the check that the token grants the scope it needs.
func need(sc scope, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if granted, _ := r.Context().Value(scopeKey{}).(scope); granted&sc == 0 {
			writeError(w, http.StatusForbidden, forbidden(sc))
			return
		}
		h(w, r)
	}
}

// allow answers every method a path does not serve with 405 and the methods it does.
func allow(methods string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { methodNotAllowed(w, methods) }
}

func unknownEndpoint(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, "unknown endpoint "+r.URL.Path)
}

// escapeAsWritten escapes the decoded path p for the RawPath of a request, so that Go's
// ServeMux, which cleans the escaped path and matches it segment by segment, routes on p as
// written, as the protocol always has: the separators stay, and every other byte that is not
// unreserved is escaped, dots and the second of two adjacent slashes included. The result is
// always clean, and each segment and {name...} wildcard unescapes to its bytes of p.
func escapeAsWritten(p string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(p))
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '/' && (i == 0 || p[i-1] != '/'),
			'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '~':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// forbidden explains a 403: which token the call needs.
func forbidden(need scope) string {
	if need == scopeHeartbeat {
		return "this token may not send heartbeats: ECX servers and member guards send them with the witness heartbeat token (-heartbeat-token-file of csetd witness)"
	}
	return "this token may not take, release or reset leases: only the masters' lease token may (-lease-token-file of csetd witness, -witness-token-file of csetd agent); the heartbeat token of the ECX servers never can"
}

// scopes returns what the request's bearer token may do; ok is false when the token is missing
// or unknown. Without tokens configured every request may do everything.
func (s *Server) scopes(r *http.Request) (scope, bool) {
	if s.cfg.LeaseToken == "" {
		return scopeLease | scopeHeartbeat | scopeRead, true
	}
	scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return 0, false
	}
	// Compare with both tokens every time, so the answer time does not tell which one matched.
	lease := subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.LeaseToken)) == 1
	heartbeat := subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.HeartbeatToken)) == 1
	switch {
	case lease:
		return scopeLease | scopeRead, true
	case heartbeat:
		return scopeHeartbeat | scopeRead, true
	}
	return 0, false
}

// decode reads the request body into v and answers 400 or 413 itself when it cannot.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	err := decodeStrict(r.Body, v)
	if err == nil {
		return true
	}
	if maxErr := (*http.MaxBytesError)(nil); errors.As(err, &maxErr) {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", maxErr.Limit))
		return false
	}
	writeError(w, http.StatusBadRequest, err.Error())
	return false
}

func (s *Server) handleAcquire(w http.ResponseWriter, r *http.Request) {
	var q leaseRequest
	if !decode(w, r, &q) {
		return
	}
	if err := q.validate(s.cfg.MaxTTL); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ttl := time.Duration(q.TTLMs) * time.Millisecond
	status, body := s.acquire(q, ttl)
	writeJSON(w, status, body)
}

// acquire decides a valid lease request and, for a grant, persists it before returning.
func (s *Server) acquire(q leaseRequest, ttl time.Duration) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return http.StatusServiceUnavailable, errorAnswer{"witness is shutting down"}
	}
	old, known := s.sets[q.Set]
	if !known && len(s.sets) >= s.cfg.MaxSets {
		return http.StatusTooManyRequests, errorAnswer{fmt.Sprintf("witness already tracks %d cluster sets", s.cfg.MaxSets)}
	}
	now := s.clock.Now()
	next, v := old.decide(q.Holder, q.Term, ttl, now, s.holdUntil, s.cfg.MaxTermJump)
	if !v.granted {
		if known {
			s.sets[q.Set] = next // may record a waiting term
		}
		s.metrics.refusals.WithLabelValues(q.Set, v.reason).Inc()
		log := s.logger.Debug
		if v.reason == ReasonTermJump {
			// No master of the set sends such a term: a bug, a rebuilt master group, or a
			// stolen lease token. The operator must see it.
			log = s.logger.Warn
		}
		log("lease refused", "set", q.Set, "holder", q.Holder, "term", q.Term,
			"reason", v.reason, "current_holder", old.holder, "current_term", old.highest, "max_term_jump", s.cfg.MaxTermJump)
		return http.StatusConflict, leaseRefused{Holder: old.holder, Term: old.highest,
			RemainingMs: ceilMs(v.remaining), Reason: v.reason}
	}
	s.sets[q.Set] = next
	prevMax := s.maxGranted
	s.maxGranted = max(s.maxGranted, ttl)
	if err := s.persistLocked(); err != nil {
		s.maxGranted = prevMax
		if known {
			s.sets[q.Set] = old
		} else {
			delete(s.sets, q.Set)
		}
		s.logger.Error("cannot persist lease grant, refusing it", "set", q.Set, "holder", q.Holder, "error", err)
		return http.StatusServiceUnavailable, errorAnswer{"cannot persist the lease"}
	}
	s.metrics.grants.WithLabelValues(q.Set).Inc()
	if old.holder != q.Holder || old.highest != q.Term || !old.active(now) {
		s.logger.Info("lease granted", "set", q.Set, "holder", q.Holder, "term", q.Term, "ttl", ttl)
	}
	return http.StatusOK, leaseGranted{Granted: true, TTLMs: q.TTLMs, Holder: q.Holder, Term: q.Term}
}

func (s *Server) handleRelease(w http.ResponseWriter, r *http.Request) {
	var q releaseRequest
	if !decode(w, r, &q) {
		return
	}
	if err := q.validate(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if status, msg := s.release(q); status != http.StatusNoContent {
		writeError(w, status, msg)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// release ends the lease if q's holder holds it for q's term; otherwise it is a no-op, so a
// release is idempotent and safe to retry.
func (s *Server) release(q releaseRequest) (int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return http.StatusServiceUnavailable, "witness is shutting down"
	}
	old, known := s.sets[q.Set]
	if !known {
		return http.StatusNoContent, ""
	}
	next, released := old.release(q.Holder, q.Term, s.clock.Now())
	if !released {
		return http.StatusNoContent, ""
	}
	s.sets[q.Set] = next
	if err := s.persistLocked(); err != nil {
		s.sets[q.Set] = old
		s.logger.Error("cannot persist lease release", "set", q.Set, "error", err)
		return http.StatusServiceUnavailable, "cannot persist the release"
	}
	s.metrics.releases.WithLabelValues(q.Set).Inc()
	s.logger.Info("lease released", "set", q.Set, "holder", q.Holder, "term", q.Term)
	return http.StatusNoContent, ""
}

func (s *Server) handleReset(w http.ResponseWriter, r *http.Request) {
	var q resetRequest
	if !decode(w, r, &q) {
		return
	}
	if err := q.validate(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	status, body := s.reset(q.Set)
	writeJSON(w, status, body)
}

// reset forgets the lease state of set (highest term, holder, waiting term), so the next master
// to ask gets the lease whatever its term: the recovery from a term no master can reach (docs/
// witness.md, "Resetting a set's lease"). It refuses while a lease is live, so it never ends a
// lease anybody holds; the lease stays exclusive afterwards, only the "never a lower term"
// guard starts again from the next grant.
func (s *Server) reset(set string) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return http.StatusServiceUnavailable, errorAnswer{"witness is shutting down"}
	}
	old, known := s.sets[set]
	if !known {
		return http.StatusNotFound, errorAnswer{"the witness has no lease state for set " + set + ": nothing to reset"}
	}
	now := s.clock.Now()
	if old.active(now) {
		rem := old.remaining(now)
		return http.StatusConflict, resetRefused{
			Error: fmt.Sprintf("the lease of set %s is live (holder %s, term %d, %s left): a live lease is never reset; retry after it expires, and if its holder keeps renewing it, replace the lease token first (docs/witness.md)",
				set, old.holder, old.highest, time.Duration(ceilMs(rem))*time.Millisecond),
			Holder: old.holder, Term: old.highest, RemainingMs: ceilMs(rem)}
	}
	delete(s.sets, set)
	if err := s.persistLocked(); err != nil {
		s.sets[set] = old
		s.logger.Error("cannot persist lease reset", "set", set, "error", err)
		return http.StatusServiceUnavailable, errorAnswer{"cannot persist the reset"}
	}
	s.metrics.resets.WithLabelValues(set).Inc()
	s.logger.Warn("lease state reset: the next master to ask gets the lease, whatever its term", "set", set,
		"previous_holder", old.holder, "previous_term", old.highest)
	return http.StatusOK, resetDone{Set: set, Holder: old.holder, Term: old.highest}
}

func (s *Server) handleHeartbeat(w http.ResponseWriter, r *http.Request) {
	var q heartbeatRequest
	if !decode(w, r, &q) {
		return
	}
	if err := q.validate(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if status, msg := s.heartbeat(q); status != http.StatusNoContent {
		writeError(w, status, msg)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// heartbeat records q at the witness clock. A server heard for the first time, or after
// HeartbeatSyncGap of silence, is persisted before the answer; the others are batched.
func (s *Server) heartbeat(q heartbeatRequest) (int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return http.StatusServiceUnavailable, "witness is shutting down"
	}
	servers := s.seen[q.Cluster]
	last, known := servers[q.Server]
	if !known && s.nservers >= s.cfg.MaxServers {
		return http.StatusTooManyRequests, fmt.Sprintf("witness already tracks %d servers", s.cfg.MaxServers)
	}
	if servers == nil {
		servers = map[string]time.Time{}
		s.seen[q.Cluster] = servers
	}
	now := s.clock.Now()
	servers[q.Server] = now
	if known && now.Sub(last) < s.cfg.HeartbeatSyncGap {
		s.dirty = true
	} else if err := s.persistLocked(); err != nil {
		if known {
			servers[q.Server] = last
		} else {
			delete(servers, q.Server)
			if len(servers) == 0 {
				delete(s.seen, q.Cluster)
			}
		}
		s.logger.Error("cannot persist heartbeat", "cluster", q.Cluster, "server", q.Server, "error", err)
		return http.StatusServiceUnavailable, "cannot persist the heartbeat"
	}
	if !known {
		s.nservers++
		s.logger.Info("first heartbeat from server", "cluster", q.Cluster, "server", q.Server)
	}
	s.metrics.heartbeats.WithLabelValues(q.Cluster).Inc()
	return http.StatusNoContent, ""
}

func (s *Server) handleCluster(w http.ResponseWriter, cluster string) {
	if err := validName("cluster", cluster); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	now := s.clock.Now()
	servers := s.seen[cluster]
	ans := clusterAnswer{Cluster: cluster, Servers: make([]serverAnswer, 0, len(servers))}
	for server, last := range servers {
		ans.Servers = append(ans.Servers, serverAnswer{Server: server, MsSinceHeartbeat: now.Sub(last).Milliseconds()})
	}
	s.mu.Unlock()
	if len(ans.Servers) == 0 {
		writeError(w, http.StatusNotFound, "cluster "+cluster+" has never sent a heartbeat")
		return
	}
	slices.SortFunc(ans.Servers, func(a, b serverAnswer) int { return strings.Compare(a.Server, b.Server) })
	writeJSON(w, http.StatusOK, ans)
}

// ceilMs rounds d up to whole milliseconds, so a client that waits remaining_ms never retries early.
func ceilMs(d time.Duration) int64 {
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}
