package main

// The connection to the masters: one lazily dialled client per invocation, the deadline of each
// request, the metadata every call carries, and how the errors of a call become a message, hints
// and an exit code. Every command reaches the masters through call (or do, for streams), so all of
// them share this behaviour instead of repeating it.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

const (
	// requestIDKey is the gRPC metadata key that makes a retried write apply once.
	requestIDKey = apiv1.MetadataRequestID
	// authorizationKey carries the API token on every call.
	authorizationKey = apiv1.MetadataAuthorization
	// actorKey names who made a write in the event log, e.g. csetctl:alice@ops1.
	actorKey = apiv1.MetadataActor
	// maxRecvMsgSize bounds one answer; lists of the whole event ring are large.
	maxRecvMsgSize = 64 << 20
)

// service is the client of the masters' API. Its method expressions (service.ListMembers) are
// what commands hand to call.
type service = apiv1.ClusterSetServiceClient

// rpcFunc is one unary RPC of the API as a method expression of service.
type rpcFunc[Req, Resp any] func(service, context.Context, Req, ...grpc.CallOption) (Resp, error)

// call sends req with rpc on the connection to --addr, bounded by --timeout, and returns the
// answer. Its errors are left as they are: a gRPC status from the server or the transport, or a
// local error from dialling, which report turns into the message, the hints and the exit code.
func call[Req, Resp any](ctx context.Context, a *app, rpc rpcFunc[Req, Resp], req Req) (Resp, error) {
	var resp Resp
	err := a.do(ctx, func(ctx context.Context, c service) error {
		var err error
		resp, err = rpc(c, ctx, req)
		return err
	})
	return resp, err
}

// do runs fn with the client and a context bounded by --timeout. Streams use it directly, since
// their deadline must cover the whole transfer rather than one message.
func (a *app) do(ctx context.Context, fn func(context.Context, service) error) error {
	c, err := a.api()
	if err != nil {
		return err
	}
	ctx, cancel := a.rpcCtx(ctx)
	defer cancel()
	return fn(ctx, c)
}

// api dials --addr on first use. grpc.NewClient connects lazily, so a dead
// address surfaces as Unavailable on the first RPC.
func (a *app) api() (apiv1.ClusterSetServiceClient, error) {
	if a.client != nil {
		return a.client, nil
	}
	creds, err := a.transportCredentials()
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(a.addr,
		grpc.WithTransportCredentials(creds),
		grpc.WithUnaryInterceptor(a.unaryInterceptor),
		grpc.WithStreamInterceptor(a.streamInterceptor),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecvMsgSize)),
	)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", a.addr, err)
	}
	a.conn = conn
	a.client = apiv1.NewClusterSetServiceClient(conn)
	return a.client, nil
}

func (a *app) close() {
	if a.conn != nil {
		_ = a.conn.Close()
		a.conn, a.client = nil, nil
	}
}

// rpcCtx bounds one request by --timeout.
func (a *app) rpcCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if a.timeout == 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, a.timeout)
}

func (a *app) readOpts() *apiv1.ReadOptions {
	return &apiv1.ReadOptions{Consistent: a.consistent}
}

// transportCredentials is TLS when any --tls-* flag is set, else plaintext.
func (a *app) transportCredentials() (credentials.TransportCredentials, error) {
	if a.tlsCA == "" && a.tlsCert == "" {
		return insecure.NewCredentials(), nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if a.tlsCA != "" {
		b, err := os.ReadFile(a.tlsCA)
		if err != nil {
			return nil, fmt.Errorf("reading --tls-ca: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("--tls-ca %s holds no PEM certificate", a.tlsCA)
		}
	}
	if a.tlsCert != "" {
		c, err := tls.LoadX509KeyPair(a.tlsCert, a.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("loading --tls-cert/--tls-key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return credentials.NewTLS(cfg), nil
}

// withAuth adds the API token, if any, to an outgoing call.
func (a *app) withAuth(ctx context.Context) context.Context {
	if a.token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, authorizationKey, "Bearer "+a.token)
}

// unaryInterceptor tags writes with the invocation's request id and retries
// an Unavailable answer that came from a server (no leader yet), never a
// failure to reach one. What a method is comes from its declaration in
// api.proto (apiv1.Method): a write carries the request id, so the server
// applies it at most once however often it is sent; a method that declares
// no idempotency is sent again only when the server said it applied nothing.
func (a *app) unaryInterceptor(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	spec, _ := apiv1.MethodByFullName(method)
	a.lastWrite, a.reached = spec.Write, false
	ctx = a.withAuth(ctx)
	if a.lastWrite {
		ctx = metadata.AppendToOutgoingContext(ctx, requestIDKey, a.requestID, actorKey, a.actor)
	}
	backoff := a.retryBackoff
	for attempt := 1; ; attempt++ {
		var p peer.Peer
		err := invoker(ctx, method, req, reply, cc, append(opts, grpc.Peer(&p))...)
		a.reached = a.reached || p.Addr != nil
		retry := status.Code(err) == codes.Unavailable && p.Addr != nil && (spec.Retryable || apiv1.IsNotApplied(err))
		if err == nil || attempt >= a.maxAttempts || !retry {
			return err
		}
		pause := backoff/2 + rand.N(backoff/2+1)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		backoff = min(2*backoff, time.Second)
	}
}

func (a *app) streamInterceptor(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	spec, _ := apiv1.MethodByFullName(method)
	a.lastWrite, a.reached = spec.Write, false
	ctx = a.withAuth(ctx)
	if a.lastWrite {
		ctx = metadata.AppendToOutgoingContext(ctx, requestIDKey, a.requestID, actorKey, a.actor)
	}
	s, err := streamer(ctx, desc, cc, method, opts...)
	if err == nil {
		a.reached = true // the stream is open on a server: a later failure came from there
	}
	return s, err
}

// report prints err on stderr and maps it to an exit code.
func (a *app) report(cmd *cobra.Command, err error) int {
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(a.stderr, "error: %s\n", ue.msg)
		if cmd != nil {
			fmt.Fprintf(a.stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		}
		return exitUsage
	}
	var se interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &se) {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(a.stderr, "error: interrupted")
			return exitError
		}
		fmt.Fprintf(a.stderr, "error: %s\n", err)
		return exitError
	}
	st := se.GRPCStatus()
	fmt.Fprintf(a.stderr, "error: %s (%s)\n", st.Message(), st.Code())
	switch st.Code() {
	case codes.Unavailable:
		if hint := tlsHint(st.Message(), a.tlsCA != "" || a.tlsCert != ""); hint != "" {
			fmt.Fprintf(a.stderr, "hint: %s\n", hint)
		} else if !a.reached {
			fmt.Fprintf(a.stderr, "hint: no csetd master answers at %s; start one or point --addr (or %s) at a running master\n", a.addr, envAddr)
		}
	case codes.DeadlineExceeded:
		fmt.Fprintf(a.stderr, "hint: no answer within --timeout %s\n", a.timeout)
	}
	// A call that never reached a master, or that a master said it did not apply, changed
	// nothing; after a timeout or another Unavailable the write's outcome is unknown.
	unknown := st.Code() == codes.DeadlineExceeded || st.Code() == codes.Canceled ||
		(st.Code() == codes.Unavailable && a.reached && !apiv1.IsNotApplied(err))
	if a.lastWrite && unknown {
		fmt.Fprintf(a.stderr, "hint: the write may or may not have been applied; to retry it safely, run the same command with %s=%s\n", envRequestID, a.requestID)
	}
	return exitError
}

// tlsHint explains the dial failures that come from TLS settings, "" for any other message. It
// reads the message because grpc-go reports a handshake failure only as text; it is advice
// printed after the error and decides nothing (retries and the outcome of a write are decided
// by the status code, its details and whether the call reached a master).
func tlsHint(msg string, usingTLS bool) string {
	switch {
	case strings.Contains(msg, "certificate required"):
		return "the master requires a client certificate (-tls-verify-clients): pass --tls-cert and --tls-key (or CSET_TLS_CERT, CSET_TLS_KEY)"
	case strings.Contains(msg, "x509:") || strings.Contains(msg, "tls:"):
		return "the TLS handshake failed: check that --tls-ca (CSET_TLS_CA) is the CA of the masters and that --addr is a name in the master's certificate"
	case !usingTLS && strings.Contains(msg, "server preface: EOF"):
		return "the master closed the connection: if it runs with -tls-cert, pass --tls-ca (or set CSET_TLS_CA)"
	}
	return ""
}
