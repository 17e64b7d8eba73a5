package witness

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of HTTPLimits, used when a field is zero.
const (
	DefaultHTTPReadHeaderTimeout = 5 * time.Second
	DefaultHTTPReadTimeout       = 10 * time.Second
	DefaultHTTPWriteTimeout      = 10 * time.Second
	DefaultHTTPIdleTimeout       = 30 * time.Second
	DefaultHTTPMaxConns          = 512
)

// HTTPLimits bounds what clients can hold of an HTTP listener: how long a connection may take to
// send a request and to receive its answer, how long it may stay idle, and how many connections
// may be open at once. The witness serves with them (Server.NewHTTPServer), and so does the
// masters' HTTP port (/metrics, /v1/health). Zero fields take the defaults above.
type HTTPLimits struct {
	// ReadHeaderTimeout bounds the time from accepting a connection, or from the end of the
	// previous request, to the end of the request's headers (a TLS handshake included). It is
	// never longer than ReadTimeout.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds the reading of a whole request, body included: a client that sends its
	// body slowly is cut off.
	ReadTimeout time.Duration
	// WriteTimeout bounds the time from the end of the request's headers to the end of the answer.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that sends no new request for this long.
	IdleTimeout time.Duration
	// MaxConns is the most connections open at once. When one more arrives, the connection that
	// has waited longest without a request in progress (just accepted, or idle between requests)
	// is closed to make room; when every connection is serving a request, the new one is closed.
	// Keep it well below the process's file descriptor limit.
	MaxConns int
}

// withDefaults fills zero fields and checks the others.
func (l HTTPLimits) withDefaults() (HTTPLimits, error) {
	if l.ReadHeaderTimeout < 0 || l.ReadTimeout < 0 || l.WriteTimeout < 0 || l.IdleTimeout < 0 || l.MaxConns < 0 {
		return l, fmt.Errorf("witness: HTTP limits must not be negative: %+v", l)
	}
	if l.ReadTimeout == 0 {
		l.ReadTimeout = DefaultHTTPReadTimeout
	}
	if l.ReadHeaderTimeout == 0 {
		l.ReadHeaderTimeout = DefaultHTTPReadHeaderTimeout
	}
	l.ReadHeaderTimeout = min(l.ReadHeaderTimeout, l.ReadTimeout)
	if l.WriteTimeout == 0 {
		l.WriteTimeout = DefaultHTTPWriteTimeout
	}
	if l.IdleTimeout == 0 {
		l.IdleTimeout = DefaultHTTPIdleTimeout
	}
	if l.MaxConns == 0 {
		l.MaxConns = DefaultHTTPMaxConns
	}
	return l, nil
}

// NewLimitedHTTPServer returns an http.Server for h with the timeouts of limits, and the
// listener to serve it on: lis behind a ConnLimiter of limits.MaxConns, with TLS on top when
// tlsConfig is not nil. Serve with srv.Serve(listener), never srv.ServeTLS: the listener already
// terminates TLS. The limiter is returned for its metrics. logger may be nil.
func NewLimitedHTTPServer(h http.Handler, lis net.Listener, limits HTTPLimits, tlsConfig *tls.Config, logger hclog.Logger) (*http.Server, net.Listener, *ConnLimiter, error) {
	limits, err := limits.withDefaults()
	if err != nil {
		return nil, nil, nil, err
	}
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	cl := NewConnLimiter(lis, limits.MaxConns, logger)
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: limits.ReadHeaderTimeout,
		ReadTimeout:       limits.ReadTimeout,
		WriteTimeout:      limits.WriteTimeout,
		IdleTimeout:       limits.IdleTimeout,
		ConnState:         cl.ConnState,
		// net/http logs per-connection trouble there (failed TLS handshakes of scanners, evicted
		// connections): debug noise, not something for stderr.
		ErrorLog: logger.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug}),
	}
	var out net.Listener = cl
	if tlsConfig != nil {
		out = tls.NewListener(cl, tlsConfig)
	}
	return srv, out, cl, nil
}

// ConnLimiter is a net.Listener that keeps at most a fixed number of connections open. When a
// new connection arrives at the limit, it closes one that has no request in progress, chosen in
// this order: one that has never sent a byte before one that has (a TLS handshake or a request
// under way, a keep-alive connection between requests), then one from the source address that
// holds the most connections, then the one that has waited longest. When every connection is
// serving a request, it closes the new one instead. So idle or slow clients cannot hold the
// slots against clients that send requests: a flood of silent connections costs a real request
// nothing, and one host flooding with slow requests mostly evicts its own.
// Set its ConnState method as the http.Server's ConnState hook, so it knows which connections
// are serving a request. It is safe for concurrent use.
type ConnLimiter struct {
	net.Listener
	max    int
	logger hclog.Logger

	mu      sync.Mutex
	conns   map[*limitedConn]struct{}
	perHost map[string]int // open connections by source address
	seq     uint64         // orders the moments connections became evictable
	lastLog time.Time      // of the last "limit reached" log line

	evicted atomic.Uint64
	refused atomic.Uint64
}

// NewConnLimiter wraps lis so that at most n connections (at least 1) are open at once.
// logger (nil: none) gets one line per minute at most while the limit is reached.
func NewConnLimiter(lis net.Listener, n int, logger hclog.Logger) *ConnLimiter {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &ConnLimiter{Listener: lis, max: max(n, 1), logger: logger, conns: map[*limitedConn]struct{}{}, perHost: map[string]int{}}
}

// limitedConn is one connection of a ConnLimiter. Its fields are guarded by the limiter's mu.
type limitedConn struct {
	net.Conn
	l         *ConnLimiter
	host      string
	state     http.ConnState
	evictable uint64      // seq when it became evictable (new or idle); 0 while serving a request
	heard     atomic.Bool // the client has sent at least one byte
	closeOnce sync.Once
	closeErr  error
}

// Read reads from the connection and notes that the client spoke.
func (c *limitedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 && !c.heard.Load() {
		c.heard.Store(true)
	}
	return n, err
}

// Close closes the connection and frees its slot.
func (c *limitedConn) Close() error {
	c.closeOnce.Do(func() {
		c.l.forget(c)
		c.closeErr = c.Conn.Close()
	})
	return c.closeErr
}

// Accept waits for a connection and admits it, evicting or refusing as documented on
// ConnLimiter. A refused connection is closed at once and Accept waits for the next one.
func (l *ConnLimiter) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		c := &limitedConn{Conn: nc, l: l, host: hostOf(nc.RemoteAddr()), state: http.StateNew}
		victim, ok := l.admit(c)
		if victim != nil {
			victim.Close()
		}
		if ok {
			return c, nil
		}
		nc.Close()
	}
}

// admit records c, choosing a victim to evict when the limit is reached; ok is false when
// every open connection is serving a request.
func (l *ConnLimiter) admit(c *limitedConn) (victim *limitedConn, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.conns) >= l.max {
		for o := range l.conns {
			if o.evictable != 0 && (victim == nil || l.evictsBeforeLocked(o, victim)) {
				victim = o
			}
		}
		l.noteLimitLocked(victim != nil)
		if victim == nil {
			l.refused.Add(1)
			return nil, false
		}
		l.removeLocked(victim)
		l.evicted.Add(1)
	}
	l.seq++
	c.evictable = l.seq
	l.conns[c] = struct{}{}
	l.perHost[c.host]++
	return victim, true
}

// evictsBeforeLocked reports whether a goes before b when a connection must be evicted: a
// silent one before one that spoke, then the one whose source holds more connections, then the
// one evictable for longer.
func (l *ConnLimiter) evictsBeforeLocked(a, b *limitedConn) bool {
	if sa, sb := !a.heard.Load(), !b.heard.Load(); sa != sb {
		return sa
	}
	if na, nb := l.perHost[a.host], l.perHost[b.host]; na != nb {
		return na > nb
	}
	return a.evictable < b.evictable
}

func (l *ConnLimiter) removeLocked(c *limitedConn) {
	if _, open := l.conns[c]; !open {
		return
	}
	delete(l.conns, c)
	if l.perHost[c.host]--; l.perHost[c.host] <= 0 {
		delete(l.perHost, c.host)
	}
}

// hostOf is the IP of a remote address, or the whole address when it has no port.
func hostOf(a net.Addr) string {
	if a == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

func (l *ConnLimiter) noteLimitLocked(evicting bool) {
	now := time.Now()
	if now.Sub(l.lastLog) < time.Minute {
		return
	}
	l.lastLog = now
	l.logger.Warn("HTTP connection limit reached: closing the connection idle longest, or the new one when all are busy",
		"max_conns", l.max, "evicting", evicting, "evicted_total", l.evicted.Load(), "refused_total", l.refused.Load())
}

func (l *ConnLimiter) forget(c *limitedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.removeLocked(c)
}

// ConnState is the http.Server ConnState hook: it tells the limiter when a connection starts
// and ends serving requests. Connections it did not accept are ignored.
func (l *ConnLimiter) ConnState(nc net.Conn, state http.ConnState) {
	c := unwrapConn(nc)
	if c == nil || c.l != l {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, open := l.conns[c]; !open {
		return
	}
	switch state {
	case http.StateClosed:
		l.removeLocked(c)
		return
	case http.StateNew, http.StateIdle:
		if c.state != state || c.evictable == 0 {
			l.seq++
			c.evictable = l.seq
		}
	default: // active, hijacked: not to be evicted
		c.evictable = 0
	}
	c.state = state
}

// unwrapConn finds the limiter's connection under TLS; nil when there is none.
func unwrapConn(nc net.Conn) *limitedConn {
	for nc != nil {
		switch c := nc.(type) {
		case *limitedConn:
			return c
		case interface{ NetConn() net.Conn }:
			nc = c.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// Open is the number of connections open now.
func (l *ConnLimiter) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// Evicted is the number of connections closed to make room for a new one.
func (l *ConnLimiter) Evicted() uint64 { return l.evicted.Load() }

// Refused is the number of new connections closed because every open one was serving a request.
func (l *ConnLimiter) Refused() uint64 { return l.refused.Load() }

// Collector returns the limiter's Prometheus metrics, named prefix + "_http_connections_open",
// prefix + "_http_connections_evicted_total" and prefix + "_http_connections_refused_total".
func (l *ConnLimiter) Collector(prefix string) prometheus.Collector {
	return limiterCollector{l: l,
		open:    prometheus.NewDesc(prefix+"_http_connections_open", "HTTP connections open now.", nil, nil),
		max:     prometheus.NewDesc(prefix+"_http_connections_max", "HTTP connections allowed at once.", nil, nil),
		evicted: prometheus.NewDesc(prefix+"_http_connections_evicted_total", "HTTP connections closed without a request in progress to make room for a new one at the limit.", nil, nil),
		refused: prometheus.NewDesc(prefix+"_http_connections_refused_total", "New HTTP connections closed at the limit because every open one was serving a request.", nil, nil),
	}
}

type limiterCollector struct {
	l                           *ConnLimiter
	open, max, evicted, refused *prometheus.Desc
}

func (c limiterCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.open
	ch <- c.max
	ch <- c.evicted
	ch <- c.refused
}

func (c limiterCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, float64(c.l.Open()))
	ch <- prometheus.MustNewConstMetric(c.max, prometheus.GaugeValue, float64(c.l.max))
	ch <- prometheus.MustNewConstMetric(c.evicted, prometheus.CounterValue, float64(c.l.Evicted()))
	ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(c.l.Refused()))
}

// NewHTTPServer is NewLimitedHTTPServer for the witness's own handler; the limiter's metrics
// join the witness's (cset_witness_http_connections_*). Call it once per Server.
func (s *Server) NewHTTPServer(lis net.Listener, limits HTTPLimits, tlsConfig *tls.Config) (*http.Server, net.Listener, error) {
	srv, out, cl, err := NewLimitedHTTPServer(s.handler, lis, limits, tlsConfig, s.logger)
	if err != nil {
		return nil, nil, err
	}
	if err := s.reg.Register(cl.Collector("cset_witness")); err != nil {
		return nil, nil, errors.New("witness: NewHTTPServer called twice on one Server")
	}
	return srv, out, nil
}
