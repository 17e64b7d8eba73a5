package ecxsim

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"
)

// The service of a group: what a client of the workload reaches at the group's address. A group
// with serve addresses (GroupConfig.Serve) listens on each of them with a small HTTP server while
// it is Online on a live server of its cluster, like an application behind ECX's floating IP: the
// address belongs to the group, not to a server, so it is down while the group starts, stops,
// fails over or runs nowhere, and comes up on the next server once the group is Online there.
// The service mode (SetServiceMode) breaks the service while ECX still reports the group Online.

// Service modes (Sim.SetServiceMode, POST /sim/v1/clusters/{cluster}/groups/{group}/service).
const (
	// ServiceOK answers every HTTP or HTTPS request with 200 and a plain-text body naming the
	// cluster, group and server (the initial mode).
	ServiceOK = "ok"
	// ServiceRefuse closes the listeners: connections are refused.
	ServiceRefuse = "refuse"
	// ServiceTimeout accepts connections (a TCP connect succeeds) and reads requests but never
	// answers them: an HTTP probe times out. Requests held meanwhile are answered by the mode that
	// follows (closed for ServiceRefuse).
	ServiceTimeout = "timeout"
	// ServiceError answers every HTTP request with 503.
	ServiceError = "error"
)

// ValidServiceMode reports whether mode is one of ServiceOK, ServiceRefuse, ServiceTimeout and
// ServiceError.
func ValidServiceMode(mode string) bool {
	switch mode {
	case ServiceOK, ServiceRefuse, ServiceTimeout, ServiceError:
		return true
	}
	return false
}

var errServiceMode = fmt.Errorf("use %q, %q, %q or %q", ServiceOK, ServiceRefuse, ServiceTimeout, ServiceError)

// service is the simulated workload service of a group with serve addresses. Every field but mode
// is guarded by the cluster's mu; mode is written under it and read by the HTTP handlers.
type service struct {
	c     *simCluster
	g     *group
	addrs []*serveAddr
	mode  atomic.Pointer[serviceMode]
	// epoch is the current period of listening, nil while the service is down.
	epoch *serviceEpoch
	// bindFailures counts the failed binds of the service's addresses since Start.
	bindFailures int64
	// held counts the requests ServiceTimeout holds now.
	held atomic.Int64
}

// serviceMode is one setting of the mode; changed is closed when it is replaced, which wakes the
// requests ServiceTimeout holds.
type serviceMode struct {
	name    string
	changed chan struct{}
}

// serviceEpoch is one period in which the service is up on one server; done is closed when it
// ends, which aborts the requests it still holds.
type serviceEpoch struct {
	server string
	done   chan struct{}
}

// serveAddr is one serve address of a group.
type serveAddr struct {
	conf string       // as configured
	addr string       // the bound address, fixed after the first bind ("" before it)
	ln   net.Listener // nil while not listening
	hs   *http.Server
	err  string // the last failed bind, "" once the address binds again
}

func newService(c *simCluster, g *group) *service {
	svc := &service{c: c, g: g}
	for _, a := range g.cfg.Serve {
		svc.addrs = append(svc.addrs, &serveAddr{conf: a})
	}
	svc.mode.Store(&serviceMode{name: ServiceOK, changed: make(chan struct{})})
	return svc
}

// setMode replaces the mode and wakes the requests the old one held. Called with c.mu held.
func (svc *service) setMode(mode string) {
	old := svc.mode.Load()
	if old.name == mode {
		return
	}
	svc.mode.Store(&serviceMode{name: mode, changed: make(chan struct{})})
	close(old.changed)
}

// serviceWanted reports whether g's service should listen now: g is Online (not an orphan) on a
// live server, none of its resources is stopped or starting alone, and its mode is not
// ServiceRefuse.
func (c *simCluster) serviceWanted(g *group) bool {
	if g.status != StatusOnline || g.orphan || g.current < 0 || !c.alive(g.current) {
		return false
	}
	for _, r := range g.resources {
		if r.state != resFollow {
			return false
		}
	}
	return g.svc.mode.Load().name != ServiceRefuse
}

// syncService opens or closes g's listeners to match its state. It is idempotent and called
// after every change of a group's status, server or resources, of its service mode, and of its
// server's life. Called with c.mu held.
func (c *simCluster) syncService(g *group) {
	svc := g.svc
	if svc == nil {
		return
	}
	want := c.serviceWanted(g)
	if svc.epoch != nil && (!want || svc.epoch.server != c.serverName(g.current)) {
		c.closeService(svc)
	}
	if !want || c.sim.isClosing() {
		return
	}
	if svc.epoch == nil {
		svc.epoch = &serviceEpoch{server: c.serverName(g.current), done: make(chan struct{})}
	}
	for _, a := range svc.addrs {
		if a.ln == nil {
			c.openServeAddr(svc, a)
		}
	}
}

// syncServices is syncService for every group of the cluster.
func (c *simCluster) syncServices() {
	for _, g := range c.groups {
		c.syncService(g)
	}
}

// closeService closes every listener of svc and every connection to them, releases its addresses
// and aborts the requests it holds. Called with c.mu held.
func (c *simCluster) closeService(svc *service) {
	if svc == nil {
		return
	}
	for _, a := range svc.addrs {
		if a.ln == nil {
			continue
		}
		_ = a.hs.Close()
		// hs.Close closes the listener only once Serve has registered it; closing it here
		// frees the port before this returns, so the next owner can bind it at once.
		_ = a.ln.Close()
		c.sim.releaseServeAddr(serveKey(a.addr), svc)
		a.ln, a.hs = nil, nil
	}
	if svc.epoch != nil {
		close(svc.epoch.done)
		svc.epoch = nil
	}
}

// openServeAddr binds one address of svc and serves it. A failure (the address is served by
// another group of the simulator, or bound by another process) is recorded in the state and
// logged; when another group of the simulator held the address, the bind is tried again once
// that group releases it. Called with c.mu held and svc.epoch set.
func (c *simCluster) openServeAddr(svc *service, a *serveAddr) {
	s := c.sim
	addr := a.addr
	if addr == "" {
		addr = a.conf
	}
	reserved := !isAnyPort(addr)
	if reserved {
		if owner := s.reserveServeAddr(serveKey(addr), svc); owner != nil {
			err := fmt.Errorf("address %s is served by group %q of cluster %q", addr, owner.g.cfg.Name, owner.c.cfg.Name)
			if owner.g.cfg.Name == svc.g.cfg.Name {
				err = fmt.Errorf("%w: the group is online in two clusters", err)
			}
			c.serveFailed(svc, a, addr, err, owner)
			return
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if reserved {
			s.releaseServeAddr(serveKey(addr), svc)
		}
		c.serveFailed(svc, a, addr, err, nil)
		return
	}
	a.addr = ln.Addr().String()
	if !reserved {
		// A port chosen by the kernel: register it so that a group configured with it finds it
		// taken by this one.
		if owner := s.reserveServeAddr(serveKey(a.addr), svc); owner != nil {
			_ = ln.Close()
			c.serveFailed(svc, a, a.addr, fmt.Errorf("address %s is served by group %q of cluster %q", a.addr, owner.g.cfg.Name, owner.c.cfg.Name), owner)
			return
		}
	}
	a.err = ""
	var served net.Listener = ln
	if cfg, err := s.serviceTLS(); err != nil {
		s.log.Warn("service serves plain HTTP only", "cluster", c.cfg.Name, "group", svc.g.cfg.Name, "error", err)
	} else {
		served = sniffListener{Listener: ln, cfg: cfg}
	}
	hs := &http.Server{
		Handler:           svc.handler(svc.epoch),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          s.httpLog,
	}
	a.ln, a.hs = ln, hs
	bound := a.addr
	s.log.Debug("service listening", "cluster", c.cfg.Name, "group", svc.g.cfg.Name, "server", svc.epoch.server, "address", bound)
	go func() {
		if err := hs.Serve(served); ignoreClosed(err) != nil {
			s.log.Error("service listener failed", "cluster", c.cfg.Name, "group", svc.g.cfg.Name, "address", bound, "error", err)
		}
	}()
}

// serveFailed records a failed bind of address addr of svc; owner is the service of the
// simulator that holds the address, nil when another process does.
func (c *simCluster) serveFailed(svc *service, a *serveAddr, addr string, err error, owner *service) {
	a.err = err.Error()
	svc.bindFailures++
	args := []any{"cluster", c.cfg.Name, "group", svc.g.cfg.Name, "server", svc.epoch.server, "address", addr, "error", err}
	switch {
	case owner != nil && owner.g.cfg.Name == svc.g.cfg.Name:
		c.sim.log.Error("service address in use: group online in two clusters", args...)
	case owner != nil:
		c.sim.log.Warn("service address in use by another group", args...)
	default:
		c.sim.log.Warn("service address cannot be bound", args...)
	}
}

// handler answers the requests of one epoch of svc according to the current mode.
func (svc *service) handler(ep *serviceEpoch) http.Handler {
	ident := fmt.Sprintf("cluster=%s group=%s server=%s\n", svc.c.cfg.Name, svc.g.cfg.Name, ep.server)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for {
			m := svc.mode.Load()
			switch m.name {
			case ServiceOK:
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				_, _ = io.WriteString(w, ident)
				return
			case ServiceError:
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = io.WriteString(w, "service unavailable (injected by ecxsim) "+ident)
				return
			case ServiceTimeout:
				svc.held.Add(1)
				var next bool
				select {
				case <-m.changed:
					next = true
				case <-ep.done:
				case <-r.Context().Done():
				}
				svc.held.Add(-1)
				if next {
					continue
				}
			}
			// ServiceRefuse (its listener is closing), the end of the epoch or a client that went
			// away: close the connection without an answer.
			panic(http.ErrAbortHandler)
		}
	})
}

// ServiceState is the service of a group with serve addresses in a StateSnapshot.
type ServiceState struct {
	// Mode is the service mode (ServiceOK, ...); it stays set across stops and failovers.
	Mode string `json:"mode"`
	// Listening: every address of the group listens now.
	Listening bool `json:"listening"`
	// Server is the server the service is up for (the group is Online there and the mode is not
	// ServiceRefuse), "" while it is down. An address whose bind failed does not listen even then.
	Server    string             `json:"server"`
	Addresses []ServiceAddrState `json:"addresses"`
	// BindFailures counts the failed binds of the group's addresses since Start.
	BindFailures int64 `json:"bind_failures"`
	// HeldRequests are the HTTP requests the mode ServiceTimeout holds unanswered now.
	HeldRequests int64 `json:"held_requests"`
}

// ServiceAddrState is one serve address in a ServiceState.
type ServiceAddrState struct {
	// Address is the bound address, or the configured one before its first bind.
	Address   string `json:"address"`
	Listening bool   `json:"listening"`
	// Error is the last failed bind of the address, "" once it binds again.
	Error string `json:"error,omitempty"`
}

// state returns the ServiceState of svc, nil for a group without serve addresses. Called with
// c.mu held.
func (svc *service) state() *ServiceState {
	if svc == nil {
		return nil
	}
	st := &ServiceState{Mode: svc.mode.Load().name, Listening: true, BindFailures: svc.bindFailures, HeldRequests: svc.held.Load(), Addresses: []ServiceAddrState{}}
	if svc.epoch != nil {
		st.Server = svc.epoch.server
	}
	for _, a := range svc.addrs {
		as := ServiceAddrState{Address: a.addr, Listening: a.ln != nil, Error: a.err}
		if as.Address == "" {
			as.Address = a.conf
		}
		st.Listening = st.Listening && as.Listening
		st.Addresses = append(st.Addresses, as)
	}
	return st
}

// SetServiceMode sets the service mode of a group with serve addresses (ServiceOK,
// ServiceRefuse, ServiceTimeout or ServiceError) while ECX goes on reporting the group as it is.
// The mode applies at once (requests held by ServiceTimeout are answered by the new mode) and
// stays until it is set again, across stops, failovers and downs. A group without serve
// addresses is ErrNotFound.
func (s *Sim) SetServiceMode(cluster, group, mode string) error {
	if !ValidServiceMode(mode) {
		return fmt.Errorf("service mode %q is unknown: %w", mode, errServiceMode)
	}
	return s.withCluster(cluster, func(c *simCluster, now time.Time) error {
		g := c.groupByName[group]
		if g == nil {
			return fmt.Errorf("group %q of cluster %q: %w", group, cluster, ErrNotFound)
		}
		if g.svc == nil {
			return fmt.Errorf("service of group %q of cluster %q (the group has no serve addresses): %w", group, cluster, ErrNotFound)
		}
		g.svc.setMode(mode)
		c.syncService(g)
		s.log.Info("service mode", "cluster", cluster, "group", group, "mode", mode)
		return nil
	})
}

// reserveServeAddr makes svc the owner of addr and returns nil, or returns the service of the
// simulator that owns addr; svc is then told when it is released.
func (s *Sim) reserveServeAddr(addr string, svc *service) *service {
	s.serveMu.Lock()
	defer s.serveMu.Unlock()
	if owner := s.serveOwners[addr]; owner != nil && owner != svc {
		for _, w := range s.serveWaiters[addr] {
			if w == svc {
				return owner
			}
		}
		s.serveWaiters[addr] = append(s.serveWaiters[addr], svc)
		return owner
	}
	s.serveOwners[addr] = svc
	return nil
}

// releaseServeAddr ends svc's ownership of addr and has every service that found it taken try
// again on the scheduler (each under its own cluster's lock, which the caller may not take).
func (s *Sim) releaseServeAddr(addr string, svc *service) {
	s.serveMu.Lock()
	if s.serveOwners[addr] != svc {
		s.serveMu.Unlock()
		return
	}
	delete(s.serveOwners, addr)
	waiters := s.serveWaiters[addr]
	delete(s.serveWaiters, addr)
	s.serveMu.Unlock()
	for _, w := range waiters {
		s.sched.after(0, func() {
			w.c.mu.Lock()
			defer w.c.mu.Unlock()
			w.c.syncService(w.g)
		})
	}
}

// isClosing reports whether Close was called.
func (s *Sim) isClosing() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

// serveKey is the canonical form of a serve address, the key of its owner.
func serveKey(addr string) string {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return ap.String()
	}
	return addr
}

func isAnyPort(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	return err == nil && port == "0"
}

// checkServe validates one serve address: host:port with an IP host that is not unspecified.
// It returns the canonical form of the address ("" for port 0).
func checkServe(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("%q is not host:port (give an address such as 127.1.0.10:8080): %w", addr, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return "", fmt.Errorf("%q: host %q is not an IP address (a group's address is a floating IP, such as 127.1.0.10)", addr, host)
	}
	if ip.IsUnspecified() {
		return "", fmt.Errorf("%q: %s means every address, not the group's own (give one such as 127.1.0.10)", addr, host)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return "", fmt.Errorf("%q has an invalid port", addr)
	}
	if n == 0 {
		return "", nil
	}
	return netip.AddrPortFrom(ip, uint16(n)).String(), nil
}

// validateServe checks the serve addresses of every group: each is host:port with an IP host,
// listed once per group, and served by one group name only, which may have it in several
// clusters (the same workload: only one of them should be online at a time; if two are, the
// second bind fails at run time). No serve address may be a fixed listen address of a server or
// the control API.
func validateServe(c Config) []error {
	var errs []error
	type user struct{ cluster, group string }
	users := map[string][]user{}
	taken := map[string]string{}
	if !isAnyPort(c.ControlAddr) {
		taken[serveKey(c.ControlAddr)] = "the control API"
	}
	for _, cl := range c.Clusters {
		for _, s := range cl.Servers {
			if s.Listen != ListenAuto && !isAnyPort(s.Listen) {
				taken[serveKey(s.Listen)] = fmt.Sprintf("server %q of cluster %q", s.Name, cl.Name)
			}
		}
	}
	for _, cl := range c.Clusters {
		for _, g := range cl.Groups {
			where := fmt.Sprintf("cluster %q: group %q: serve", cl.Name, g.Name)
			for _, a := range g.Serve {
				key, err := checkServe(a)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", where, err))
					continue
				}
				if key == "" {
					continue
				}
				if other, ok := taken[key]; ok {
					errs = append(errs, fmt.Errorf("%s: %s is the listen address of %s", where, a, other))
				}
				me := user{cl.Name, g.Name}
				for _, u := range users[key] {
					switch {
					case u == me:
						errs = append(errs, fmt.Errorf("%s: %s is listed twice", where, a))
					case u.group != g.Name:
						errs = append(errs, fmt.Errorf("%s: %s is also served by group %q of cluster %q; groups may share an address only under the same name (one workload)", where, a, u.group, u.cluster))
					}
				}
				users[key] = append(users[key], me)
			}
		}
	}
	return dedupErrors(errs)
}

// dedupErrors drops repeated messages (an address listed three times in a group is reported
// once).
func dedupErrors(errs []error) []error {
	seen := map[string]bool{}
	out := errs[:0]
	for _, err := range errs {
		if !seen[err.Error()] {
			seen[err.Error()] = true
			out = append(out, err)
		}
	}
	return out
}
