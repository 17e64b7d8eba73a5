package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/cset-project/cset/fsm"
	"github.com/cset-project/cset/pki"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// authorizationKey carries "Bearer <secret>" on every call when -auth is on.
const authorizationKey = apiv1.MetadataAuthorization

// tokenPrefix starts every token secret, so a leaked one is easy to recognise and grep for.
const tokenPrefix = "cset_"

var roleRank = map[string]int{fsm.RoleRead: 1, fsm.RoleOperate: 2, fsm.RoleAdmin: 3}

// principal is who makes a call: a token (name and role) or a master (its certificate).
type principal struct {
	name   string // token name, or "master:<id>"
	role   string // "" for a master
	master bool
}

type principalKey struct{}

func principalFrom(ctx context.Context) (principal, bool) {
	p, ok := ctx.Value(principalKey{}).(principal)
	return p, ok
}

// newTokenSecret returns a fresh secret and the SHA-256 hash that the state keeps of it.
func newTokenSecret() (secret string, hash []byte, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, fmt.Errorf("token secret: %w", err)
	}
	h := sha256.Sum256(b[:])
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:]), h[:], nil
}

// hashTokenSecret returns the hash of a secret made by newTokenSecret; ok is false when the
// string is not one.
func hashTokenSecret(secret string) (hash []byte, ok bool) {
	raw, found := strings.CutPrefix(secret, tokenPrefix)
	if !found {
		return nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil || len(b) != 32 {
		return nil, false
	}
	h := sha256.Sum256(b)
	return h[:], true
}

// authenticate finds the principal of a call: the bearer token if one is sent, else a master
// certificate verified by the TLS handshake.
func (s *Server) authenticate(ctx context.Context) (principal, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(authorizationKey); len(v) > 0 {
		secret, ok := strings.CutPrefix(v[0], "Bearer ")
		if !ok {
			return principal{name: "(anonymous)"}, status.Error(codes.Unauthenticated, "malformed authorization metadata: want 'Bearer <token>' (csetctl sends it for --token or CSET_TOKEN)")
		}
		hash, ok := hashTokenSecret(strings.TrimSpace(secret))
		if !ok {
			return principal{name: "(malformed token)"}, status.Error(codes.Unauthenticated, "malformed token: a cset token starts with cset_ (create one with 'csetctl token create')")
		}
		name, role, ok := s.fsm.TokenByHash(hash)
		if !ok && !s.IsLeader() {
			// A token created a moment ago may be committed but not yet applied here.
			s.catchUp(ctx, time.Second)
			name, role, ok = s.fsm.TokenByHash(hash)
		}
		if !ok {
			return principal{name: "(unknown token)"}, status.Error(codes.Unauthenticated, "token not recognised: it was revoked or never created (ask an admin for one: 'csetctl token create')")
		}
		return principal{name: name, role: role}, nil
	}
	if p, ok := peer.FromContext(ctx); ok {
		if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok {
			if id, ok := pki.MasterOf(ti.State); ok {
				return principal{name: "master:" + id, master: true}, nil
			}
		}
	}
	return principal{name: "(anonymous)"}, status.Error(codes.Unauthenticated, "no token: pass --token or set CSET_TOKEN")
}

// catchUp waits, at most for timeout, until this master has applied every entry it knows to be
// committed.
func (s *Server) catchUp(ctx context.Context, timeout time.Duration) {
	want := s.raft.CommitIndex()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		watch := s.fsm.Watch()
		if s.fsm.AppliedIndex() >= want {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			return
		case <-watch:
		}
	}
}

// authorize checks the principal of a call against what the method declares in api.proto (the
// least role; whether a master may call it) and returns the context the handler runs with and
// the method's spec. A method that declares no access is refused. Calls outside the API are open
// (health) or need a read token (reflection).
func (s *Server) authorize(ctx context.Context, fullMethod string) (context.Context, apiv1.MethodSpec, error) {
	svc, method, _ := splitMethod(fullMethod)
	pol, known := apiv1.Method(method)
	switch {
	case svc == "grpc.health.v1.Health":
		return ctx, apiv1.MethodSpec{}, nil
	case svc != apiv1.ClusterSetService_ServiceDesc.ServiceName:
		pol, known = apiv1.MethodSpec{Role: fsm.RoleRead}, true
	}
	p, err := s.authenticate(ctx)
	if err == nil && !known {
		err = status.Errorf(codes.PermissionDenied, "method %s declares no access in api.proto, so nobody may call it", method)
	}
	if err == nil {
		switch {
		case pol.Role == fsm.RoleGuard && !p.master:
			if p.role != fsm.RoleGuard && p.role != fsm.RoleAdmin {
				err = status.Errorf(codes.PermissionDenied, "token %s has role %s; %s needs a token with role guard (or admin)", p.name, p.role, method)
			}
		case p.role == fsm.RoleGuard:
			err = status.Errorf(codes.PermissionDenied, "token %s has role guard, which may call only GuardHeartbeat", p.name)
		case p.master && !pol.Master:
			err = status.Errorf(codes.PermissionDenied, "%s may call only RaftJoin and RecordAudit; this call needs a token with role %s", p.name, pol.Role)
		case !p.master && roleRank[p.role] < roleRank[pol.Role]:
			err = status.Errorf(codes.PermissionDenied, "token %s has role %s; this call needs %s", p.name, p.role, pol.Role)
		}
	}
	if err != nil {
		s.audit.denied(ctx, p.name, method, err)
		return nil, pol, err
	}
	return context.WithValue(ctx, principalKey{}, p), pol, nil
}

// authUnary authenticates and authorizes every unary call when -auth is on, and records the
// mutating ones this master executes (the leader) in the event log.
func (s *Server) authUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if !s.cfg.Auth {
		return handler(ctx, req)
	}
	ctx, pol, err := s.authorize(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	resp, err := handler(ctx, req)
	if pol.Write && s.IsLeader() && !committedNothing(resp, err) {
		_, method, _ := splitMethod(info.FullMethod)
		s.audit.call(ctx, method, nameOf(req), err)
	}
	return resp, err
}

// authStream is authUnary for streams.
func (s *Server) authStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if !s.cfg.Auth {
		return handler(srv, ss)
	}
	ctx, pol, err := s.authorize(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	err = handler(srv, &authedStream{ServerStream: ss, ctx: ctx})
	if pol.Write && s.IsLeader() {
		_, method, _ := splitMethod(info.FullMethod)
		s.audit.call(ctx, method, "", err)
	}
	return err
}

type authedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (a *authedStream) Context() context.Context { return a.ctx }

// nameOf returns the name or id a request is about, for the event log; never anything else of
// the request (it may hold a password).
func nameOf(req any) string {
	switch r := req.(type) {
	case interface{ GetName() string }:
		return r.GetName()
	case interface{ GetId() string }:
		return r.GetId()
	}
	return ""
}

// outgoingAuth returns ctx with the metadata a master presents to another master on its own
// behalf: its -token-file token when it has one (else its TLS certificate speaks for it).
func (s *Server) outgoingAuth(ctx context.Context) context.Context {
	if s.masterToken == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, authorizationKey, "Bearer "+s.masterToken)
}
