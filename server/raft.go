package server

import (
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/cset-project/cset/fsm"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"github.com/hashicorp/raft"
	"google.golang.org/grpc/metadata"
)

// entryWarnSize is the encoded size above which raftApply logs a warning: large entries slow
// replication and snapshots.
const entryWarnSize = 512 << 10

// requestIDKey is the gRPC metadata key that carries a client's request id.
const requestIDKey = apiv1.MetadataRequestID

// raftApply is the only caller of raft.Apply. It stamps the leader's time, the request id and
// the actor, waits for the entry to be applied, and unwraps the FSM's error value.
func (s *Server) raftApply(ctx context.Context, e *fsmv1.LogEntry) (*fsm.Result, error) {
	e.ProposedAtUnixNano = time.Now().UnixNano()
	if e.RequestId == "" {
		e.RequestId = requestIDFrom(ctx)
	}
	if e.Actor == "" {
		e.Actor = s.actorFrom(ctx)
	}
	b, err := fsm.Encode(e)
	if err != nil {
		return nil, err
	}
	if len(b) > entryWarnSize {
		s.logger.Warn("large raft entry", "bytes", len(b), "command", fmt.Sprintf("%T", e.GetCommand()))
	}
	var res *fsm.Result
	if len(b) <= maxBatchableEntry && s.batch != nil {
		res, err = s.batch.submit(ctx, e, len(b))
	} else {
		res, err = s.applyEncoded(ctx, b)
	}
	if err != nil {
		return nil, err
	}
	if res.Err != nil {
		return res, res.Err
	}
	return res, nil
}

// applyEncoded hands one encoded entry to raft and waits for the FSM's result.
func (s *Server) applyEncoded(ctx context.Context, b []byte) (*fsm.Result, error) {
	timeout := 30 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	start := time.Now()
	f := s.raft.Apply(b, timeout)
	if err := f.Error(); err != nil {
		switch {
		case errors.Is(err, raft.ErrNotLeader):
			return nil, ErrNoLeaderHere
		case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrEnqueueTimeout):
			return nil, ErrUnknownOutcome
		}
		return nil, fmt.Errorf("raft apply: %w", err)
	}
	s.metrics.applyDuration.Observe(time.Since(start).Seconds())
	res, ok := f.Response().(*fsm.Result)
	if !ok {
		return nil, fmt.Errorf("raft apply: unexpected response %T", f.Response())
	}
	return res, nil
}

// ErrNoLeaderHere means this master stopped being the leader before the entry was accepted:
// nothing was applied, so the caller may retry on the new leader.
var ErrNoLeaderHere = errors.New("this master is no longer the leader and did not apply the change: retry")

func requestIDFrom(ctx context.Context) string {
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get(requestIDKey); len(v) > 0 && len(v[0]) <= 128 {
			return v[0]
		}
	}
	return ""
}

// actorFrom names who makes a call for the event log: the authenticated principal (token name
// or master) when -auth is on; else what the client says in cset-actor, which nothing checks.
func (s *Server) actorFrom(ctx context.Context) string {
	if p, ok := principalFrom(ctx); ok {
		return p.name
	}
	if s.cfg.Auth {
		return "api"
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get(apiv1.MetadataActor); len(v) > 0 && len(v[0]) <= 64 {
			return v[0]
		}
	}
	return "api"
}

// operationID names a new operation. With a request id it is derived from it, so a retry of a
// write that was applied (de-duplicated by the FSM) names the same operation and can return it.
func operationID(ctx context.Context) string {
	if rid := requestIDFrom(ctx); rid != "" {
		sum := sha256.Sum256([]byte("operation\x00" + rid))
		return "op-" + hex.EncodeToString(sum[:8])
	}
	return newID("op-")
}

// newID returns a random id with a prefix, made on the leader before the log.
func newID(prefix string) string {
	var b [8]byte
	_, _ = crand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// leaderInfo returns the current leader's id and gRPC address, if known.
func (s *Server) leaderInfo() (id, grpcAddr string) {
	_, lid := s.raft.LeaderWithID()
	if lid == "" {
		return "", ""
	}
	id = string(lid)
	if id == s.cfg.NodeID {
		return id, s.addrs.GRPC
	}
	if m := s.fsm.Master(id); m != nil {
		return id, m.GetGrpcAddr()
	}
	return id, ""
}

// consistentRead makes a read on the leader linearizable: it confirms leadership with a quorum
// and waits until the FSM has applied everything committed before the read began.
func (s *Server) consistentRead(ctx context.Context) error {
	if !s.leaderReady() {
		return ErrNoLeaderHere
	}
	readIndex := s.raft.CommitIndex()
	if err := s.raft.VerifyLeader().Error(); err != nil {
		return ErrNoLeaderHere
	}
	for s.fsm.AppliedIndex() < readIndex {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.fsm.Watch():
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// joinLoop asks a running master to add this one to the ring as a voter until it is one. The
// leader adds it as a non-voter first and promotes it once it has caught up (join.go); when
// that takes longer than one call, the next call finds the non-voter and promotes it.
func (s *Server) joinLoop(ctx context.Context, addr string) {
	backoff := 200 * time.Millisecond
	for {
		if s.suffrage() == raft.Voter {
			s.logger.Info("already a voter of the raft ring; -join is done")
			return
		}
		err := s.joinOnce(ctx, addr)
		if err == nil {
			s.logger.Info("joined the raft ring", "via", addr)
			return
		}
		s.logger.Warn("join failed; retrying", "via", addr, "error", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff + rand.N(backoff/2)):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// joinTimeout bounds one RaftJoin call of joinLoop: the leader waits up to joinCatchUpTimeout
// for this master to catch up.
const joinTimeout = joinCatchUpTimeout + 15*time.Second

func (s *Server) joinOnce(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	conn, err := s.dialAPI(addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	a := s.Addrs()
	_, err = apiv1.NewClusterSetServiceClient(conn).RaftJoin(s.outgoingAuth(ctx), &apiv1.RaftJoinRequest{
		Id: a.NodeID, RaftAddr: a.Raft, GrpcAddr: a.GRPC, HttpAddr: a.HTTP, DnsAddr: a.DNS, Tiebreaker: s.cfg.Tiebreaker(),
	})
	return err
}

// inConfiguration reports whether this master appears in the latest Raft configuration.
func (s *Server) inConfiguration() bool { return s.suffrage() != noSuffrage }

// noSuffrage is what suffrage returns for a master that is not in the configuration.
const noSuffrage raft.ServerSuffrage = -1

// suffrage returns this master's suffrage in the latest Raft configuration, noSuffrage when it
// is not in it.
func (s *Server) suffrage() raft.ServerSuffrage {
	f := s.raft.GetConfiguration()
	if f.Error() != nil {
		return noSuffrage
	}
	for _, srv := range f.Configuration().Servers {
		if string(srv.ID) == s.cfg.NodeID {
			return srv.Suffrage
		}
	}
	return noSuffrage
}

// registerSelf keeps this master's addresses in the replicated state: after a join, and after
// a restart with new addresses. On the leader it applies the
// registration itself; a follower calls RegisterMaster on the leader (writeRegisterMaster).
func (s *Server) registerSelf(ctx context.Context) {
	for {
		a := s.Addrs()
		want := &fsmv1.Master{Id: a.NodeID, RaftAddr: a.Raft, GrpcAddr: a.GRPC, HttpAddr: a.HTTP, DnsAddr: a.DNS, SchemaVersion: fsm.SchemaVersion,
			Tiebreaker: s.cfg.Tiebreaker()}
		cur := s.fsm.Master(a.NodeID)
		if cur != nil && cur.RaftAddr == want.RaftAddr && cur.GrpcAddr == want.GrpcAddr && cur.HttpAddr == want.HttpAddr &&
			cur.DnsAddr == want.DnsAddr && cur.SchemaVersion == want.SchemaVersion && cur.Tiebreaker == want.Tiebreaker {
			select {
			case <-ctx.Done():
				return
			case <-s.fsm.Watch():
				continue
			}
		}
		if s.inConfiguration() {
			if err := s.writeRegisterMaster(ctx, want); err != nil {
				s.logger.Debug("registering this master in the state; will retry", "error", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(250*time.Millisecond + rand.N(250*time.Millisecond)):
		}
	}
}

func (s *Server) writeRegisterMaster(ctx context.Context, m *fsmv1.Master) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if s.IsLeader() {
		_, err := s.raftApply(ctx, &fsmv1.LogEntry{Actor: "master:" + m.Id, Command: &fsmv1.LogEntry_RegisterMaster{RegisterMaster: &fsmv1.RegisterMasterCommand{Master: m}}})
		return err
	}
	_, addr := s.leaderInfo()
	if addr == "" {
		return ErrNoLeader
	}
	conn, err := s.fwd.conn(addr)
	if err != nil {
		return err
	}
	// Keep the suffrage: a re-registration must not promote a non-voter (joinLoop does that).
	_, err = apiv1.NewClusterSetServiceClient(conn).RaftJoin(s.outgoingAuth(ctx), &apiv1.RaftJoinRequest{
		Id: m.Id, RaftAddr: m.RaftAddr, GrpcAddr: m.GrpcAddr, HttpAddr: m.HttpAddr, DnsAddr: m.DnsAddr,
		Nonvoter: s.suffrage() == raft.Nonvoter, Tiebreaker: m.Tiebreaker,
	})
	return err
}
