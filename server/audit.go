package server

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Bounds of the audit trail: a flood of denied calls must not turn into a flood of Raft writes.
const (
	auditQueue    = 1024
	auditBatch    = 128
	auditLinger   = 100 * time.Millisecond
	maxAuditEvent = 512 // characters of one audit message
)

// auditor records denied calls and executed mutating calls in the event log, batched. The
// leader applies its batches itself; a follower hands them to the leader with RecordAudit. When
// the queue is full, records are counted and the count is recorded instead. Safe for
// concurrent use.
type auditor struct {
	s       *Server
	ch      chan *fsmv1.Event
	dropped atomic.Int64
}

func newAuditor(s *Server) *auditor {
	return &auditor{s: s, ch: make(chan *fsmv1.Event, auditQueue)}
}

func (a *auditor) enqueue(e *fsmv1.Event) {
	if len(e.Message) > maxAuditEvent {
		e.Message = e.Message[:maxAuditEvent]
	}
	select {
	case a.ch <- e:
	default:
		a.dropped.Add(1)
	}
}

func peerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return "unknown"
}

// denied records a refused call. It also logs it: a denial is a security-relevant event on
// this master even when the leader cannot be reached.
func (a *auditor) denied(ctx context.Context, who, method string, err error) {
	st := status.Convert(err)
	from := peerAddr(ctx)
	a.s.logger.Warn("denied API call", "method", method, "actor", who, "peer", from, "code", st.Code().String())
	a.enqueue(&fsmv1.Event{Kind: "audit", Severity: "warn", Actor: who,
		Message: fmt.Sprintf("denied %s from %s on master %s: %s (%s)", method, from, a.s.cfg.NodeID, st.Message(), st.Code())})
}

// call records a mutating call this master executed, with its outcome.
func (a *auditor) call(ctx context.Context, method, name string, err error) {
	p, _ := principalFrom(ctx)
	msg := method
	if name != "" {
		msg += " " + name
	}
	code := status.Code(errorToStatus(err))
	sev := "info"
	if err != nil {
		sev = "warn"
	}
	a.enqueue(&fsmv1.Event{Kind: "audit", Severity: sev, Actor: p.name, Message: fmt.Sprintf("%s by %s: %s", msg, p.name, code)})
}

// run batches records until ctx ends.
func (a *auditor) run(ctx context.Context) {
	for {
		var batch []*fsmv1.Event
		select {
		case <-ctx.Done():
			return
		case e := <-a.ch:
			batch = append(batch, e)
		}
		linger := time.NewTimer(auditLinger)
	collect:
		for len(batch) < auditBatch {
			select {
			case e := <-a.ch:
				batch = append(batch, e)
			case <-linger.C:
				break collect
			case <-ctx.Done():
				linger.Stop()
				return
			}
		}
		linger.Stop()
		if n := a.dropped.Swap(0); n > 0 {
			batch = append(batch, &fsmv1.Event{Kind: "audit", Severity: "warn", Actor: "master:" + a.s.cfg.NodeID,
				Message: fmt.Sprintf("%d audit records dropped on master %s: too many calls at once", n, a.s.cfg.NodeID)})
		}
		a.flushRetrying(ctx, batch)
	}
}

// flushRetrying writes a batch, retrying while no leader is known (a follower that just
// started may not know the leader's address yet) for about ten seconds.
func (a *auditor) flushRetrying(ctx context.Context, batch []*fsmv1.Event) {
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := a.flush(ctx, batch)
		if err == nil {
			return
		}
		if attempt == 7 || ctx.Err() != nil {
			a.s.logger.Warn("audit records not written to the event log", "records", len(batch), "error", err)
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait *= 2
	}
}

func (a *auditor) flush(ctx context.Context, batch []*fsmv1.Event) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if a.s.IsLeader() {
		_, err := a.s.raftApply(ctx, &fsmv1.LogEntry{Actor: "master:" + a.s.cfg.NodeID,
			Command: &fsmv1.LogEntry_AppendEvents{AppendEvents: &fsmv1.AppendEventsCommand{Events: batch}}})
		return err
	}
	_, addr := a.s.leaderInfo()
	if addr == "" {
		return ErrNoLeader
	}
	cc, err := a.s.fwd.conn(addr)
	if err != nil {
		return err
	}
	req := &apiv1.RecordAuditRequest{}
	for _, e := range batch {
		req.Events = append(req.Events, &apiv1.Event{Kind: e.Kind, Severity: e.Severity, Actor: e.Actor, Message: e.Message})
	}
	_, err = apiv1.NewClusterSetServiceClient(cc).RecordAudit(a.s.outgoingAuth(ctx), req)
	return err
}
