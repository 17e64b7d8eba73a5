package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"

	"github.com/cset-project/cset/ui"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// consoleHandler is the web console (package ui) this master serves under /ui/ of its HTTP port.
func (s *Server) consoleHandler() http.Handler {
	return ui.New(ui.Config{API: &consoleConn{s: s}, Auth: s.cfg.Auth, NodeID: s.cfg.NodeID})
}

// consoleConn is the console's connection to this master's own gRPC server, over an in-memory
// listener that the server also serves: each console call runs through the same interceptors as
// a csetctl call (auth, limits, forwarding to the leader, the event log), with the browser's
// token. With TLS it speaks TLS like any other peer of the server, presenting this master's
// certificate only so that a server that requires client certificates accepts the connection;
// the console refuses a request without a token under -auth before it gets here, so the
// certificate never stands in for the browser's token.
type consoleConn struct {
	s    *Server
	once sync.Once
	cc   *grpc.ClientConn
	err  error
}

func (c *consoleConn) conn() (*grpc.ClientConn, error) {
	c.once.Do(func() {
		s := c.s
		lis := newPipeListener()
		go func() { _ = s.grpcServer.Serve(lis) }() // returns when the server stops (Close)
		creds := insecure.NewCredentials()
		if s.peerTLS != nil {
			creds = credentials.NewTLS(s.peerTLS.Clone())
		}
		c.cc, c.err = grpc.NewClient("passthrough:///console", grpc.WithTransportCredentials(creds),
			grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.dial(ctx) }))
		if c.err == nil {
			go func() { <-s.ctx.Done(); c.cc.Close(); lis.Close() }()
		}
	})
	return c.cc, c.err
}

func (c *consoleConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	cc, err := c.conn()
	if err != nil {
		return err
	}
	return cc.Invoke(ctx, method, args, reply, opts...)
}

func (c *consoleConn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	cc, err := c.conn()
	if err != nil {
		return nil, err
	}
	return cc.NewStream(ctx, desc, method, opts...)
}

// pipeListener is a net.Listener whose connections are in-memory pipes made by dial.
type pipeListener struct {
	conns  chan net.Conn
	done   chan struct{}
	closed sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.closed.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

func (l *pipeListener) dial(ctx context.Context) (net.Conn, error) {
	server, client := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, errors.New("the master's gRPC server is closed")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "console" }
