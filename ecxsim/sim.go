package ecxsim

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Errors returned by the control methods of Sim; test them with errors.Is.
var (
	// ErrNotFound means an unknown cluster, server or group name.
	ErrNotFound = errors.New("not found")
	// ErrNotStarted means the Sim was not started or is closed.
	ErrNotStarted = errors.New("simulator not running")
)

// autoPort is the ECX REST port used with ListenAuto addresses.
const autoPort = 29009

// Sim simulates ECX clusters. Create it with New, open its listeners with Start and release
// everything with Close. All methods are safe for concurrent use.
type Sim struct {
	cfg      Config
	log      hclog.Logger
	clusters []*simCluster
	byName   map[string]*simCluster
	sched    *scheduler
	hb       *heartbeater
	guards   map[*simServer]*simGuard // built by Start, read-only afterwards
	restMux  *http.ServeMux
	tls      *simTLS // nil: every cluster serves plain HTTP
	closing  chan struct{}
	httpLog  *log.Logger // ErrorLog of the http.Servers, at debug level

	lifeMu     sync.Mutex
	started    bool
	closed     bool
	control    *http.Server
	controlURL string
	autoNext   int // next candidate for ListenAuto, guarded by lifeMu

	auditMu sync.Mutex
	audit   auditLog

	// serveMu guards the owners of the serve addresses (service.go): which group's service holds
	// an address now, and which services found it taken and wait for it. It is taken under a
	// cluster lock, never the other way round.
	serveMu      sync.Mutex
	serveOwners  map[string]*service
	serveWaiters map[string][]*service
	// serveTLS is the TLS configuration of the services, made at the first bind (servetls.go).
	serveTLSOnce sync.Once
	serveTLS     *tls.Config
	serveTLSErr  error
}

// New validates cfg (after applying defaults) and builds a Sim. Nothing listens until Start. A nil
// logger discards logs.
func New(cfg Config, logger hclog.Logger) (*Sim, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	s := &Sim{
		cfg:     cfg,
		log:     logger,
		byName:  map[string]*simCluster{},
		closing: make(chan struct{}),

		serveOwners:  map[string]*service{},
		serveWaiters: map[string][]*service{},
	}
	s.httpLog = logger.Named("http").StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug})
	for _, cc := range cfg.Clusters {
		c := newCluster(s, cc)
		s.clusters = append(s.clusters, c)
		s.byName[cc.Name] = c
	}
	t, err := newSimTLS(cfg, s.clusters)
	if err != nil {
		return nil, err
	}
	s.tls = t
	s.restMux = s.newRESTMux()
	return s, nil
}

// Start opens every server's REST listener and the control listener, starts the clusters (auto-start
// groups start on their highest-priority server) and the witness heartbeats. On error everything
// opened so far is closed again.
func (s *Sim) Start() error {
	s.lifeMu.Lock()
	if s.started || s.closed {
		s.lifeMu.Unlock()
		return errors.New("ecxsim: Start called twice or after Close")
	}
	s.sched = newScheduler()
	s.hb = newHeartbeater(s.log.Named("witness"))
	s.started = true
	s.lifeMu.Unlock()

	if err := s.newGuards(); err != nil {
		_ = s.Close()
		return err
	}

	if err := s.openAuditFile(); err != nil {
		_ = s.Close()
		return err
	}
	if err := s.tls.writeCAFiles(); err != nil {
		_ = s.Close()
		return err
	}
	if err := s.startControl(); err != nil {
		_ = s.Close()
		return err
	}
	now := time.Now()
	for _, c := range s.clusters {
		all := make([]int, len(c.servers))
		for i := range all {
			all[i] = i
		}
		c.mu.Lock()
		err := c.bringUp(all, true, now)
		c.mu.Unlock()
		if err != nil {
			_ = s.Close()
			return fmt.Errorf("start cluster %q: %w", c.cfg.Name, err)
		}
	}
	for k, c := range s.clusters {
		if !c.cfg.hasWitness() && c.cfg.Guard == nil {
			continue
		}
		// Spread the clusters' heartbeat rounds over one interval.
		offset := c.cfg.HeartbeatInterval * time.Duration(k) / time.Duration(len(s.clusters))
		s.sched.after(offset, c.heartbeatTick)
	}
	s.log.Info("simulator started", "clusters", len(s.clusters), "control", s.ControlURL())
	return nil
}

// Close stops the scheduler, the heartbeats and every listener, closes the open audit intervals at
// the current instant (the simulated groups cease to exist) and closes the audit file. It is
// idempotent.
func (s *Sim) Close() error {
	s.lifeMu.Lock()
	if s.closed {
		s.lifeMu.Unlock()
		return nil
	}
	s.closed = true
	started := s.started
	control := s.control
	s.lifeMu.Unlock()
	close(s.closing)
	if !started {
		return nil
	}
	s.sched.stop()
	s.hb.stop()
	s.closeGuards()
	var errs []error
	if control != nil {
		errs = append(errs, ignoreClosed(control.Close()))
	}
	now := time.Now()
	for _, c := range s.clusters {
		c.mu.Lock()
		for _, srv := range c.servers {
			s.closeServer(srv)
		}
		for _, g := range c.groups {
			c.closeService(g.svc)
			s.auditClose(g, now)
		}
		c.mu.Unlock()
	}
	errs = append(errs, s.closeAuditFile())
	return errors.Join(errs...)
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// openServer binds srv's REST listener and serves it; called with the cluster lock held. The first
// bind resolves the configured address (ListenAuto tries the next 127.0.X.Y:29009, falling back to
// 127.0.0.1:0); later binds (the server comes back up) reuse the bound address so its URL is stable.
func (s *Sim) openServer(srv *simServer) error {
	var (
		ln  net.Listener
		err error
	)
	switch {
	case srv.addr != "":
		ln, err = net.Listen("tcp", srv.addr)
	case srv.c.cfg.Servers[srv.idx].Listen == ListenAuto:
		ln, err = net.Listen("tcp", s.nextAutoAddr())
		if err != nil {
			s.log.Debug("auto address unavailable, using any free port", "server", srv.name, "error", err)
			ln, err = net.Listen("tcp", DefaultListen)
		}
	default:
		ln, err = net.Listen("tcp", srv.c.cfg.Servers[srv.idx].Listen)
	}
	if err != nil {
		return fmt.Errorf("server %q: listen: %w", srv.name, err)
	}
	if ca := s.tls.caOf(srv.c); ca != nil {
		tln, err := ca.tlsListener(srv, ln)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("server %q: %w", srv.name, err)
		}
		ln = tln
	}
	srv.addr = ln.Addr().String()
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          s.httpLog,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
	}
	srv.httpSrv = hs
	go func() {
		if err := hs.Serve(ln); ignoreClosed(err) != nil {
			s.log.Error("rest listener failed", "cluster", srv.c.cfg.Name, "server", srv.name, "error", err)
		}
	}()
	return nil
}

// closeServer closes srv's listener and every connection to it; called with the cluster lock held.
func (s *Sim) closeServer(srv *simServer) {
	if srv.httpSrv == nil {
		return
	}
	_ = srv.httpSrv.Close()
	srv.httpSrv = nil
}

func (s *Sim) nextAutoAddr() string {
	s.lifeMu.Lock()
	k := s.autoNext
	s.autoNext++
	s.lifeMu.Unlock()
	return fmt.Sprintf("127.0.%d.%d:%d", 1+k/254, 1+k%254, autoPort)
}

// ServerURL returns the REST base URL of a server, such as "http://127.0.0.1:41234" (https for a
// cluster with TLS), or "" for an unknown name or before Start. The URL stays the same while the
// server is down.
func (s *Sim) ServerURL(cluster, server string) string {
	c := s.byName[cluster]
	if c == nil {
		return ""
	}
	srv := c.serverByName[server]
	if srv == nil {
		return ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return srv.url()
}

func (srv *simServer) url() string {
	if srv.addr == "" {
		return ""
	}
	if srv.c.sim.tls.caOf(srv.c) != nil {
		return "https://" + srv.addr
	}
	return "http://" + srv.addr
}

// ControlURL returns the base URL of the control API, such as "http://127.0.0.1:29100", or "" before
// Start.
func (s *Sim) ControlURL() string {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	return s.controlURL
}

func (s *Sim) startControl() error {
	ln, err := net.Listen("tcp", s.cfg.ControlAddr)
	if err != nil {
		return fmt.Errorf("control: listen: %w", err)
	}
	hs := &http.Server{
		Handler:           s.newControlMux(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          s.httpLog,
	}
	s.lifeMu.Lock()
	s.control = hs
	s.controlURL = "http://" + ln.Addr().String()
	s.lifeMu.Unlock()
	go func() {
		if err := hs.Serve(ln); ignoreClosed(err) != nil {
			s.log.Error("control listener failed", "error", err)
		}
	}()
	return nil
}

// cluster returns the named cluster or an ErrNotFound error.
func (s *Sim) cluster(name string) (*simCluster, error) {
	c := s.byName[name]
	if c == nil {
		return nil, fmt.Errorf("cluster %q: %w", name, ErrNotFound)
	}
	return c, nil
}

// running returns ErrNotStarted unless Start succeeded and Close was not called.
func (s *Sim) running() error {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if !s.started || s.closed {
		return ErrNotStarted
	}
	return nil
}
