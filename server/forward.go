package server

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// forwardedKey marks a call forwarded by another master; such a call is never forwarded again.
const forwardedKey = apiv1.MetadataForwarded

// forwarder keeps one long-lived client connection per master address. Connections are never
// closed while the server runs: gRPC reconnects by itself, and closing a shared connection would
// fail every other call in flight on it (their outcome then unknown to the client).
type forwarder struct {
	s     *Server
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

func newForwarder(s *Server) *forwarder {
	return &forwarder{s: s, conns: map[string]*grpc.ClientConn{}}
}

// dialAPI connects to another master's gRPC API: over TLS with this master's certificate when
// TLS is configured.
func (s *Server) dialAPI(addr string) (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if s.peerTLS != nil {
		creds = credentials.NewTLS(s.peerTLS.Clone())
	}
	return grpc.NewClient(addr, grpc.WithTransportCredentials(creds), grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
}

// conn returns the connection to addr, dialling it the first time.
func (f *forwarder) conn(addr string) (*grpc.ClientConn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if cc, ok := f.conns[addr]; ok {
		return cc, nil
	}
	cc, err := f.s.dialAPI(addr)
	if err != nil {
		return nil, err
	}
	f.conns[addr] = cc
	return cc, nil
}

// close closes every connection; only when the server stops.
func (f *forwarder) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for addr, cc := range f.conns {
		cc.Close()
		delete(f.conns, addr)
	}
}

// forwardUnary runs writes and consistent reads on the leader: locally when this master leads,
// else by calling the same method on the leader. While no leader is known it holds the call for
// up to RPCHoldTimeout. It retries only when nothing can have been applied.
func (s *Server) forwardUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	svc, method, ok := splitMethod(info.FullMethod)
	if !ok || svc != apiv1.ClusterSetService_ServiceDesc.ServiceName {
		return handler(ctx, req)
	}
	spec, _ := apiv1.Method(method)
	needLeader := !spec.Local
	if r, ok := req.(interface{ GetRead() *apiv1.ReadOptions }); ok && r.GetRead().GetConsistent() {
		needLeader = true
	}
	if !needLeader {
		if err := s.checkStaleness(); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
	deadline := time.Now().Add(s.cfg.RPCHoldTimeout)
	forwarded := isForwarded(ctx)
	for attempt := 0; ; attempt++ {
		if s.raft.State() == raft.Leader {
			// A new leader first applies what earlier terms committed (awaitLeaderReady):
			// until then its state may be stale, so it holds the call.
			if s.leaderReady() {
				resp, err := handler(ctx, req)
				if !errors.Is(err, ErrNoLeaderHere) {
					return resp, errorToStatus(err)
				}
			}
		} else if forwarded {
			_, addr := s.leaderInfo()
			return nil, apiv1.NotApplied("master %s received a forwarded call but is not the leader (leader hint: %q): retry", s.cfg.NodeID, addr)
		} else if id, addr := s.leaderInfo(); addr != "" {
			resp, err := s.fwd.invoke(ctx, addr, info.FullMethod, req)
			if err == nil || !apiv1.IsNotApplied(err) {
				return resp, err
			}
			s.logger.Debug("forwarding failed; retrying", "leader", id, "error", err)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, errorToStatus(ErrNoLeader)
		}
		select {
		case <-ctx.Done():
			return nil, errorToStatus(ctx.Err())
		case <-time.After(20*time.Millisecond + rand.N(30*time.Millisecond)):
		}
	}
}

func (f *forwarder) invoke(ctx context.Context, addr, method string, req any) (any, error) {
	cc, err := f.conn(addr)
	if err != nil {
		return nil, apiv1.NotApplied("connection error: dial leader %s: %v", addr, err)
	}
	reply, err := newReply(method)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	md, _ := metadata.FromIncomingContext(ctx)
	out := metadata.MD{forwardedKey: []string{"1"}}
	for _, k := range []string{requestIDKey, apiv1.MetadataActor, authorizationKey} {
		if v := md.Get(k); len(v) > 0 {
			out.Set(k, v...)
		}
	}
	octx := metadata.NewOutgoingContext(ctx, out)
	var p peer.Peer
	if err := cc.Invoke(octx, method, req, reply, grpc.Peer(&p)); err != nil {
		if status.Code(err) == codes.Unavailable && p.Addr == nil && !apiv1.IsNotApplied(err) {
			// The call never got a connection to the leader (refused, not connected yet), so
			// nothing of it was sent.
			return nil, apiv1.NotApplied("connection error: leader %s: %s", addr, status.Convert(err).Message())
		}
		return nil, err
	}
	return reply, nil
}

func isForwarded(ctx context.Context) bool {
	md, ok := metadata.FromIncomingContext(ctx)
	return ok && len(md.Get(forwardedKey)) > 0
}

func splitMethod(full string) (svc, method string, ok bool) {
	full = strings.TrimPrefix(full, "/")
	i := strings.LastIndex(full, "/")
	if i < 0 {
		return "", "", false
	}
	return full[:i], full[i+1:], true
}

// newReply makes an empty reply message for a method of the API, from the proto descriptors.
func newReply(full string) (proto.Message, error) {
	svcName, method, _ := splitMethod(full)
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svcName))
	if err != nil {
		return nil, err
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, errors.New("not a service: " + svcName)
	}
	md := sd.Methods().ByName(protoreflect.Name(method))
	if md == nil {
		return nil, errors.New("unknown method " + full)
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(md.Output().FullName())
	if err != nil {
		return nil, err
	}
	return mt.New().Interface(), nil
}

// checkStaleness refuses a local read on a follower out of contact with the leader for longer
// than MaxStaleness.
func (s *Server) checkStaleness() error {
	if s.cfg.MaxStaleness <= 0 || s.raft.State() == raft.Leader {
		return nil
	}
	last := s.raft.LastContact()
	if last.IsZero() || time.Since(last) > s.cfg.MaxStaleness {
		return status.Errorf(codes.Unavailable, "master %s has not heard from a leader for more than %v: its data may be stale; ask another master or use --consistent", s.cfg.NodeID, s.cfg.MaxStaleness)
	}
	return nil
}
