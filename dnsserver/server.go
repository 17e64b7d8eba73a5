package dnsserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Server. The zero value of every optional field selects its default.
type Config struct {
	// Addr is the UDP and TCP listen address, e.g. "127.0.0.1:8600" (":53" in production).
	// Port 0 picks a free port, the same for UDP and TCP; read it back with UDPAddr/TCPAddr.
	Addr string
	// Sockets is the number of UDP sockets sharing Addr with SO_REUSEPORT, each served by its own
	// goroutine. Default runtime.NumCPU(). Where the platform has no SO_REUSEPORT (Windows) one
	// socket serves UDP.
	Sockets int
	// MaxUDPSize caps the client's EDNS buffer size for UDP answers. Default 1232.
	MaxUDPSize int
	// AllowTransfer lists the networks allowed to AXFR/IXFR the zone. Empty refuses every transfer.
	AllowTransfer []netip.Prefix
	// Notify lists secondaries ("host:port") sent a NOTIFY whenever the serial changes.
	Notify []string
	// NotifyTimeout bounds one NOTIFY exchange (default 2s); NotifyAttempts is how many times a
	// NOTIFY is tried before giving up until the next change (default 5).
	NotifyTimeout  time.Duration
	NotifyAttempts int
	// TCPIdleTimeout closes idle TCP connections (default 10s); MaxTCPConns bounds concurrent TCP
	// connections (default 256).
	TCPIdleTimeout time.Duration
	MaxTCPConns    int
	// Update, when set, pushes the workload records to an external primary by RFC 2136 UPDATE.
	Update *UpdateConfig
	// OnUpdateResult, when set, is called with the outcome of each workload update pushed to the
	// primary (err nil on success). It is called from one goroutine, never concurrently.
	OnUpdateResult func(workload string, err error)
	// Registerer registers the server's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// RateLimit limits identical UDP answers to one client network (/24, /56) per second
	// (response rate limiting); 0 disables it. RateLimitSlip: every n-th limited answer is sent
	// truncated so real clients retry over TCP (default 2; negative drops every one).
	RateLimit     int
	RateLimitSlip int
}

func (c Config) withDefaults() Config {
	if c.RateLimitSlip == 0 {
		c.RateLimitSlip = 2
	}
	if c.Sockets <= 0 {
		c.Sockets = runtime.NumCPU()
	}
	if c.MaxUDPSize <= 0 {
		c.MaxUDPSize = advertisedUDP
	}
	c.MaxUDPSize = max(min(c.MaxUDPSize, maxMsg), minUDP)
	if c.NotifyTimeout <= 0 {
		c.NotifyTimeout = 2 * time.Second
	}
	if c.NotifyAttempts <= 0 {
		c.NotifyAttempts = 5
	}
	if c.TCPIdleTimeout <= 0 {
		c.TCPIdleTimeout = 10 * time.Second
	}
	if c.MaxTCPConns <= 0 {
		c.MaxTCPConns = 256
	}
	return c
}

// Server is an authoritative DNS server for one zone. Its methods are safe for concurrent use.
type Server struct {
	cfg     Config
	src     RecordSource
	log     hclog.Logger
	metrics *metrics
	maxUDP  int

	idx     atomic.Pointer[index]
	zoneMu  sync.Mutex // serialises SetZone
	zone    *Zone      // last zone set, guarded by zoneMu
	scratch sync.Pool

	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex // guards the fields below
	started bool
	closed  bool
	udp     []*net.UDPConn
	tcp     *net.TCPListener
	conns   map[net.Conn]struct{}

	notifier *notifier
	updater  *updater
	rrl      *rrl // nil when RateLimit is 0
}

// New returns a server answering from src (which may be nil when the caller only uses SetZone).
// It reads the initial zone from src but opens no socket until Start.
func New(cfg Config, src RecordSource, logger hclog.Logger) (*Server, error) {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	cfg = cfg.withDefaults()
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, src: src, log: logger, metrics: m, maxUDP: cfg.MaxUDPSize, ctx: ctx, cancel: cancel,
		conns: map[net.Conn]struct{}{}}
	s.scratch.New = func() any { return newScratch() }
	s.rrl = newRRL(cfg.RateLimit, cfg.RateLimitSlip)
	s.notifier = newNotifier(s)
	if cfg.Update != nil {
		u, err := newUpdater(*cfg.Update, cfg.OnUpdateResult, logger.Named("update"), m)
		if err != nil {
			cancel()
			return nil, err
		}
		s.updater = u
	}
	if src != nil {
		s.SetZone(src.DNSZone())
	}
	return s, nil
}

// SetZone replaces the zone served. It builds the index outside the query path, re-packing only
// the workloads that changed since the zone served before, and swaps it in atomically; an
// invalid zone is logged and the previous one is kept. When the serial changes the secondaries
// are notified, and the updater (if configured) pushes the changes.
func (s *Server) SetZone(z *Zone) {
	s.zoneMu.Lock()
	defer s.zoneMu.Unlock()
	idx, problems, err := buildIndexFrom(s.idx.Load(), z)
	for _, p := range problems {
		s.log.Warn("skipping dns record", "error", p)
	}
	if err != nil {
		if z != nil {
			s.log.Error("cannot serve zone, keeping the previous one", "error", err)
		}
		return
	}
	old := s.idx.Swap(idx)
	s.zone = z
	if old == nil || old.serial != idx.serial || old.origin != idx.origin {
		s.log.Debug("serving zone", "origin", idx.origin, "serial", idx.serial, "names", idx.names.names)
		s.notifier.kick()
	}
	if s.updater != nil {
		s.updater.setZone(z)
	}
}

// Start opens the UDP sockets and the TCP listener and starts serving. It returns once the
// sockets are bound.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return errors.New("dnsserver: already started or closed")
	}
	udp, tcp, err := listen(s.cfg.Addr, s.cfg.Sockets)
	if err != nil {
		return err
	}
	s.started, s.udp, s.tcp = true, udp, tcp
	for _, c := range udp {
		s.goFunc(func() { s.serveUDP(c) })
	}
	s.goFunc(s.acceptTCP)
	if s.src != nil {
		s.goFunc(s.watch)
	}
	s.notifier.start()
	if s.updater != nil {
		s.goFunc(func() { s.updater.run(s.ctx) })
	}
	s.log.Info("dns server listening", "addr", tcp.Addr().String(), "udp_sockets", len(udp))
	return nil
}

func (s *Server) goFunc(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// UDPAddr returns the bound UDP address, or nil before Start.
func (s *Server) UDPAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.udp) == 0 {
		return nil
	}
	return s.udp[0].LocalAddr()
}

// TCPAddr returns the bound TCP address, or nil before Start.
func (s *Server) TCPAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tcp == nil {
		return nil
	}
	return s.tcp.Addr()
}

// Serial returns the serial of the zone served, and false when no zone is served.
func (s *Server) Serial() (uint32, bool) {
	idx := s.idx.Load()
	if idx == nil {
		return 0, false
	}
	return idx.serial, true
}

// Close stops serving, closes every socket and connection and waits for the goroutines.
// It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.cancel()
	var errs []error
	for _, c := range s.udp {
		errs = append(errs, c.Close())
	}
	if s.tcp != nil {
		errs = append(errs, s.tcp.Close())
	}
	for c := range s.conns {
		_ = c.Close() // the connection goroutine reports nothing after Close
	}
	s.mu.Unlock()
	s.wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close dns server: %w", err)
	}
	return nil
}

// watch rebuilds the index after every change signalled by the source.
func (s *Server) watch() {
	ch := s.src.Watch()
	for {
		select {
		case <-s.ctx.Done():
			return
		case _, ok := <-ch:
			if !ok {
				return
			}
			s.SetZone(s.src.DNSZone())
		}
	}
}

// serveUDPSimple answers one datagram per read and write system call; serveUDP uses it where
// batched I/O is not available.
func (s *Server) serveUDPSimple(c *net.UDPConn) {
	sc := newScratch()
	buf := make([]byte, maxMsg)
	for {
		n, addr, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("udp read failed", "error", err)
			continue
		}
		out, _ := s.handle(buf[:n], sc, false, addr.Addr())
		if out == nil {
			continue
		}
		if _, err := c.WriteToUDPAddrPort(out, addr); err != nil && s.ctx.Err() == nil {
			s.log.Debug("udp write failed", "error", err, "client", addr.String())
		}
	}
}

// ServeDNS implements dns.Handler, so the server can be used without its own sockets (tests, or
// mounted in a miekg/dns server). It answers exactly as the socket paths do: it writes the
// answer bytes with w.Write (zone transfers with w.WriteMsg) and writes nothing to drop a query.
func (s *Server) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	raw, err := r.Pack()
	if err != nil {
		s.metrics.drop()
		return
	}
	var remote netip.Addr
	tcp := false
	switch a := w.RemoteAddr().(type) {
	case *net.TCPAddr:
		tcp, remote = true, a.AddrPort().Addr()
	case *net.UDPAddr:
		remote = a.AddrPort().Addr()
	}
	sc := s.scratch.Get().(*scratch)
	defer s.scratch.Put(sc)
	out, xfr := s.handle(raw, sc, tcp, remote)
	if xfr != nil {
		if err := s.transfer(xfr, w.WriteMsg); err != nil {
			s.log.Warn("zone transfer failed", "error", err, "client", remote.String())
		}
		return
	}
	if out == nil {
		return
	}
	if _, err := w.Write(out); err != nil {
		s.log.Debug("write failed", "error", err, "client", remote.String())
	}
}
