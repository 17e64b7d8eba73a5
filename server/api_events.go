package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"time"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// maxRestoreBytes bounds a snapshot accepted by SnapshotRestore.
const maxRestoreBytes = 256 << 20

func (a *api) ListEvents(ctx context.Context, r *apiv1.ListEventsRequest) (*apiv1.ListEventsResponse, error) {
	limit := int(r.GetLimit())
	if limit == 0 {
		limit = 100
	}
	out := &apiv1.ListEventsResponse{}
	evs := a.s.fsm.Events(r.GetAfterSeq(), 0, r.GetWorkload(), r.GetMember())
	if len(evs) > limit {
		evs = evs[len(evs)-limit:] // the newest
	}
	for _, e := range evs {
		out.Events = append(out.Events, eventToAPI(e))
	}
	return out, nil
}

// WatchEvents streams events after after_seq (the newest `limit` of the backlog first), then
// every new one as it is applied, until the client goes away.
func (a *api) WatchEvents(r *apiv1.ListEventsRequest, stream grpc.ServerStreamingServer[apiv1.Event]) error {
	ctx := stream.Context()
	after := r.GetAfterSeq()
	if after == 0 && r.GetLimit() > 0 {
		if last := a.s.fsm.LastEventSeq(); last > uint64(r.GetLimit()) {
			after = last - uint64(r.GetLimit())
		}
	}
	for {
		watch := a.s.fsm.Watch()
		last := a.s.fsm.LastEventSeq()
		for _, e := range a.s.fsm.Events(after, 0, r.GetWorkload(), r.GetMember()) {
			if e.GetSeq() > last {
				break
			}
			if err := stream.Send(eventToAPI(e)); err != nil {
				return err
			}
		}
		after = max(after, last)
		select {
		case <-ctx.Done():
			return nil
		case <-watch:
		}
	}
}

// SnapshotSave streams the current state in the snapshot format; with redact, without the
// member passwords and the tokens.
func (a *api) SnapshotSave(r *apiv1.SnapshotSaveRequest, stream grpc.ServerStreamingServer[apiv1.SnapshotChunk]) error {
	// On a follower, first catch up with what the leader has told it is committed.
	ctx, cancel := context.WithTimeout(stream.Context(), 5*time.Second)
	defer cancel()
	for want := a.s.raft.CommitIndex(); a.s.fsm.AppliedIndex() < want; {
		select {
		case <-ctx.Done():
			return status.Errorf(codes.Unavailable, "this master is behind the leader (applied %d of %d): try another master", a.s.fsm.AppliedIndex(), want)
		case <-a.s.fsm.Watch():
		case <-time.After(10 * time.Millisecond):
		}
	}
	var buf bytes.Buffer
	write := a.s.fsm.WriteSnapshot
	if r.GetRedact() {
		write = a.s.fsm.WriteRedactedSnapshot
	}
	if err := write(&buf); err != nil {
		return status.Errorf(codes.Internal, "take snapshot: %v", err)
	}
	for b := buf.Bytes(); len(b) > 0; {
		n := min(len(b), 256<<10)
		if err := stream.Send(&apiv1.SnapshotChunk{Data: b[:n]}); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// SnapshotRestore replaces the state with an uploaded snapshot through the Raft log, so every
// master restores the same bytes. On a follower the upload is passed on to the leader.
func (a *api) SnapshotRestore(stream grpc.ClientStreamingServer[apiv1.SnapshotChunk, apiv1.SnapshotRestoreResponse]) error {
	var buf bytes.Buffer
	for {
		c, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if buf.Len()+len(c.GetData()) > maxRestoreBytes {
			return status.Errorf(codes.InvalidArgument, "snapshot is larger than %d MiB", maxRestoreBytes>>20)
		}
		buf.Write(c.GetData())
	}
	ctx := stream.Context()
	info, err := a.s.checkRestore(ctx, buf.Bytes())
	if err != nil {
		return err
	}
	members, workloads := info.Members, info.Workloads
	if a.s.raft.State() != raft.Leader {
		resp, err := a.s.forwardRestore(ctx, buf.Bytes())
		if err != nil {
			return err
		}
		return stream.SendAndClose(resp)
	}
	res, err := a.apply(ctx, &fsmv1.LogEntry{Command: &fsmv1.LogEntry_RestoreState{RestoreState: &fsmv1.RestoreStateCommand{Snapshot: buf.Bytes()}}})
	if err != nil {
		return errorToStatus(err)
	}
	return stream.SendAndClose(&apiv1.SnapshotRestoreResponse{Index: res.Index, Members: uint32(members), Workloads: uint32(workloads)})
}

func (s *Server) forwardRestore(ctx context.Context, data []byte) (*apiv1.SnapshotRestoreResponse, error) {
	if isForwarded(ctx) {
		return nil, apiv1.NotApplied("master %s received a forwarded restore but is not the leader: retry", s.cfg.NodeID)
	}
	_, addr := s.leaderInfo()
	if addr == "" {
		return nil, errorToStatus(ErrNoLeader)
	}
	cc, err := s.fwd.conn(addr)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "dial leader %s: %v", addr, err)
	}
	md, _ := metadata.FromIncomingContext(ctx)
	out := metadata.MD{forwardedKey: []string{"1"}}
	for _, k := range []string{requestIDKey, authorizationKey, restoreForceKey} {
		if v := md.Get(k); len(v) > 0 {
			out.Set(k, v...)
		}
	}
	up, err := apiv1.NewClusterSetServiceClient(cc).SnapshotRestore(metadata.NewOutgoingContext(ctx, out))
	if err != nil {
		return nil, err
	}
	for b := data; len(b) > 0; {
		n := min(len(b), 256<<10)
		if err := up.Send(&apiv1.SnapshotChunk{Data: b[:n]}); err != nil {
			return nil, err
		}
		b = b[n:]
	}
	return up.CloseAndRecv()
}
