package server

import (
	"context"

	"github.com/cset-project/cset/fsm"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// CreateToken makes a secret on the leader, stores only its hash through the log and returns
// the secret once. A retried request whose first attempt was applied cannot return that
// secret (it was never stored): it fails and says so.
func (a *api) CreateToken(ctx context.Context, r *apiv1.CreateTokenRequest) (*apiv1.CreateTokenResponse, error) {
	if err := fsm.ValidateName("token name", r.GetName()); err != nil {
		return nil, err
	}
	if err := fsm.ValidateRole(r.GetRole()); err != nil {
		return nil, err
	}
	secret, hash, err := newTokenSecret()
	if err != nil {
		return nil, err
	}
	t := &fsmv1.Token{Name: r.GetName(), Role: r.GetRole(), Hash: hash, CreatedBy: a.s.actorFrom(ctx)}
	res, err := a.apply(ctx, &fsmv1.LogEntry{Command: &fsmv1.LogEntry_CreateToken{CreateToken: &fsmv1.CreateTokenCommand{Token: t}}})
	if err != nil {
		return nil, err
	}
	if res.Duplicate {
		return nil, status.Errorf(codes.FailedPrecondition, "token %q was created by an earlier attempt of this request whose answer was lost, and its secret cannot be shown again: revoke it and create it anew", r.GetName())
	}
	created := int64(0)
	for _, tok := range a.s.fsm.Tokens() {
		if tok.Name == t.Name {
			created = tok.CreatedUnixNano
		}
	}
	return &apiv1.CreateTokenResponse{Name: t.Name, Role: t.Role, Secret: secret, CreatedUnixNano: created}, nil
}

// ListTokens lists names and roles; secrets are never stored and hashes never leave the state.
func (a *api) ListTokens(ctx context.Context, r *apiv1.ListRequest) (*apiv1.ListTokensResponse, error) {
	if err := a.sync(ctx, r.GetRead()); err != nil {
		return nil, err
	}
	out := &apiv1.ListTokensResponse{Tokens: []*apiv1.Token{}}
	for _, t := range a.s.fsm.Tokens() {
		out.Tokens = append(out.Tokens, &apiv1.Token{Name: t.Name, Role: t.Role, CreatedUnixNano: t.CreatedUnixNano, CreatedBy: t.CreatedBy})
	}
	return out, nil
}

func (a *api) RevokeToken(ctx context.Context, r *apiv1.RevokeTokenRequest) (*apiv1.Empty, error) {
	if _, err := a.apply(ctx, &fsmv1.LogEntry{Command: &fsmv1.LogEntry_RevokeToken{RevokeToken: &fsmv1.RevokeTokenCommand{Name: r.GetName()}}}); err != nil {
		return nil, err
	}
	return &apiv1.Empty{}, nil
}

// RecordAudit writes audit records a follower passes on (the calls it denied) to the event log.
func (a *api) RecordAudit(ctx context.Context, r *apiv1.RecordAuditRequest) (*apiv1.Empty, error) {
	if len(r.GetEvents()) > auditBatch+1 {
		return nil, invalid("at most %d audit records per call", auditBatch+1)
	}
	cmd := &fsmv1.AppendEventsCommand{}
	for _, e := range r.GetEvents() {
		msg, actor := e.GetMessage(), e.GetActor()
		if len(msg) > maxAuditEvent {
			msg = msg[:maxAuditEvent]
		}
		if len(actor) > 64 {
			actor = actor[:64]
		}
		sev := "info"
		if e.GetSeverity() == "warn" {
			sev = "warn"
		}
		kind := "audit"
		if e.GetKind() == fsm.KindDenied { // refused calls, aggregated by the follower
			kind = fsm.KindDenied
		}
		cmd.Events = append(cmd.Events, &fsmv1.Event{Kind: kind, Severity: sev, Actor: actor, Message: msg})
	}
	if len(cmd.Events) == 0 {
		return &apiv1.Empty{}, nil
	}
	if _, err := a.apply(ctx, &fsmv1.LogEntry{Command: &fsmv1.LogEntry_AppendEvents{AppendEvents: cmd}}); err != nil {
		return nil, err
	}
	return &apiv1.Empty{}, nil
}
