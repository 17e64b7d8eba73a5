package controller_test

import (
	"io"
	"net"
	"sync"
	"testing"
)

// tcpProxy listens at once and forwards every connection to an upstream set later: the simulated
// guards get the masters' addresses before the masters exist, without racing for free ports.
type tcpProxy struct {
	ln       net.Listener
	mu       sync.Mutex
	upstream string
}

func newTCPProxy(t *testing.T) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go p.serve()
	return p
}

func (p *tcpProxy) addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) setUpstream(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.upstream = addr
}

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.forward(c)
	}
}

func (p *tcpProxy) forward(c net.Conn) {
	defer c.Close()
	p.mu.Lock()
	up := p.upstream
	p.mu.Unlock()
	if up == "" {
		return
	}
	u, err := net.Dial("tcp", up)
	if err != nil {
		return
	}
	defer u.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(u, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, u); done <- struct{}{} }()
	<-done
}
