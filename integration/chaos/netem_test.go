package chaos

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// netem is the fault model of the loopback network: which direction between two named
// endpoints (masters "m1".."m3", the witness "w", members "e1".."e3", the test client "c")
// drops its bytes, and which is delayed. Every proxy consults it for every chunk it forwards.
// It is safe for concurrent use.
type netem struct {
	mu      sync.Mutex
	blocked map[link]bool
	delay   map[link]time.Duration
	conns   map[*pconn]struct{}
	unknown atomic.Int64 // connections whose initiator could not be identified
	// onUnknown, when set before the first proxy starts, is told about each of them.
	onUnknown func(proxy, remote string)
}

// link is one direction: bytes sent by from and meant for to.
type link struct{ from, to string }

func newNetem() *netem {
	return &netem{blocked: map[link]bool{}, delay: map[link]time.Duration{}, conns: map[*pconn]struct{}{}}
}

// rule returns whether bytes from -> to are dropped and how long they are delayed.
func (n *netem) rule(from, to string) (bool, time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	l := link{from, to}
	return n.blocked[l], n.delay[l]
}

// block drops (or, with on=false, lets through) the bytes from -> to.
func (n *netem) block(from, to string, on bool) {
	n.mu.Lock()
	if on {
		n.blocked[link{from, to}] = true
	} else {
		delete(n.blocked, link{from, to})
	}
	n.mu.Unlock()
	n.sweep()
}

// cut blocks or unblocks both directions between a and b.
func (n *netem) cut(a, b string, on bool) {
	n.block(a, b, on)
	n.block(b, a, on)
}

// slow sets the one-way delay from -> to (0 removes it).
func (n *netem) slow(from, to string, d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if d <= 0 {
		delete(n.delay, link{from, to})
	} else {
		n.delay[link{from, to}] = d
	}
}

// healAll removes every rule and closes every connection that lost bytes.
func (n *netem) healAll() {
	n.mu.Lock()
	clear(n.blocked)
	clear(n.delay)
	n.mu.Unlock()
	n.sweep()
}

// describe lists the active rules, for the timeline.
func (n *netem) describe() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for l := range n.blocked {
		out = append(out, l.from+"-x->"+l.to)
	}
	for l, d := range n.delay {
		out = append(out, fmt.Sprintf("%s-%v->%s", l.from, d, l.to))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// sweep closes the connections that dropped bytes once neither of their directions is
// blocked any more: their byte streams have holes, as a TCP connection that timed out during
// a partition would be dead after it.
func (n *netem) sweep() {
	n.mu.Lock()
	var dead []*pconn
	for c := range n.conns {
		if c.tainted.Load() && !n.blocked[link{c.initiator, c.acceptor}] && !n.blocked[link{c.acceptor, c.initiator}] {
			dead = append(dead, c)
		}
	}
	n.mu.Unlock()
	for _, c := range dead {
		c.close()
	}
}

func (n *netem) track(c *pconn, on bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if on {
		n.conns[c] = struct{}{}
	} else {
		delete(n.conns, c)
	}
}

// proxy is one TCP listener in front of one service of one endpoint (the acceptor). Its
// upstream can change (a restarted process listens on a new port); its clients keep the
// proxy's address. The initiator of each connection is fixed or found by identify.
type proxy struct {
	name      string
	acceptor  string
	initiator string                          // fixed initiator, or "" to use identify
	identify  func(net.Addr) (string, string) // the endpoint that opened a connection, or "" and why not
	net       *netem
	lis       net.Listener
	upstream  atomic.Value // string
	wg        sync.WaitGroup
	closed    atomic.Bool
}

// newProxy listens on 127.0.0.1:0 and forwards to upstream.
func newProxy(n *netem, name, acceptor, initiator string, identify func(net.Addr) (string, string), upstream string) (*proxy, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy %s: %w", name, err)
	}
	p := &proxy{name: name, acceptor: acceptor, initiator: initiator, identify: identify, net: n, lis: lis}
	p.upstream.Store(upstream)
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// addr is the proxy's address, the one its clients are given.
func (p *proxy) addr() string { return p.lis.Addr().String() }

// setUpstream changes the target of new connections; "" refuses them (the target is down).
func (p *proxy) setUpstream(addr string) { p.upstream.Store(addr) }

func (p *proxy) close() {
	if p.closed.Swap(true) {
		return
	}
	p.lis.Close()
	p.wg.Wait()
}

func (p *proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.lis.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

func (p *proxy) handle(client net.Conn) {
	from, why := p.initiator, ""
	if from == "" && p.identify != nil {
		from, why = p.identify(client.RemoteAddr())
	}
	if from == "" {
		from = "?"
		p.net.unknown.Add(1)
		if p.net.onUnknown != nil {
			p.net.onUnknown(p.name, client.RemoteAddr().String()+": "+why)
		}
	}
	c := &pconn{initiator: from, acceptor: p.acceptor, client: client, net: p.net}
	p.net.track(c, true)
	defer p.net.track(c, false)
	if blocked, _ := p.net.rule(from, p.acceptor); blocked {
		// The SYN is lost: the client sees a connection that never answers until the
		// partition heals, then a reset.
		c.tainted.Store(true)
		_, _ = io.Copy(io.Discard, client)
		c.close()
		return
	}
	target := p.upstream.Load().(string)
	if target == "" {
		// The process behind the proxy is down: refuse, as its closed port would. Dialing its
		// old port could reach whatever bound it since, even another test's process.
		c.close()
		return
	}
	up, err := net.DialTimeout("tcp", target, 2*time.Second)
	if err != nil {
		client.Close()
		return
	}
	c.setUpstream(up)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.pump(client, up, from, p.acceptor) }()
	go func() { defer wg.Done(); c.pump(up, client, p.acceptor, from) }()
	wg.Wait()
	c.close()
}

// pconn is one proxied connection.
type pconn struct {
	initiator, acceptor string
	net                 *netem
	client              net.Conn
	mu                  sync.Mutex
	up                  net.Conn
	tainted             atomic.Bool // it dropped bytes: closed when the partition heals
	once                sync.Once
}

func (c *pconn) setUpstream(up net.Conn) {
	c.mu.Lock()
	c.up = up
	c.mu.Unlock()
}

// close resets both sides.
func (c *pconn) close() {
	c.once.Do(func() {
		if tc, ok := c.client.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		c.client.Close()
		c.mu.Lock()
		up := c.up
		c.mu.Unlock()
		if up != nil {
			if tc, ok := up.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			up.Close()
		}
	})
}

type chunk struct {
	b  []byte
	at time.Time
}

// pump copies src to dst, dropping bytes while from -> to is blocked and delaying them by the
// current delay, in order. A reader goroutine stamps each chunk with its arrival time; the
// writer delivers it at arrival + delay.
//
// An orderly close (EOF) is passed on as a half-close; a reset is passed on as a reset, as a
// network without a proxy does: a master resets the connection of an ECX call it gave up on so
// that its request is discarded, and a FIN would have the simulator carry it out when the
// partition heals (issue 11, H4).
func (c *pconn) pump(src, dst net.Conn, from, to string) {
	ch := make(chan chunk, 64)
	var reset atomic.Bool
	go func() {
		defer close(ch)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				if blocked, _ := c.net.rule(from, to); blocked || c.tainted.Load() {
					c.tainted.Store(true)
				} else {
					ch <- chunk{buf[:n], time.Now()}
				}
			}
			if err != nil {
				reset.Store(errors.Is(err, syscall.ECONNRESET))
				return
			}
		}
	}()
	failed := false
	for ch := range ch {
		if failed || c.tainted.Load() {
			continue // drain, so the reader never blocks
		}
		if _, d := c.net.rule(from, to); d > 0 {
			if wait := time.Until(ch.at.Add(d)); wait > 0 {
				time.Sleep(wait) // the link's latency, not a wait for convergence
			}
		}
		if _, err := dst.Write(ch.b); err != nil {
			failed = true
			c.close()
		}
	}
	if reset.Load() {
		c.close()
		return
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}
