package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cset-project/cset/fsm"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"github.com/hashicorp/raft"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// api implements the public gRPC service. Write methods run only on the leader (forwardUnary
// sends them there); read methods read the local state unless a consistent read is asked for.
type api struct {
	apiv1.UnimplementedClusterSetServiceServer
	s *Server
}

// read returns the state for a read, first making it linearizable when asked.
func (a *api) read(ctx context.Context, opts *apiv1.ReadOptions) (*fsm.Data, error) {
	if opts.GetConsistent() {
		if err := a.s.consistentRead(ctx); err != nil {
			return nil, err
		}
	}
	return a.s.fsm.Data(), nil
}

// sync makes a point read linearizable when asked; the caller then reads one record.
func (a *api) sync(ctx context.Context, opts *apiv1.ReadOptions) error {
	if opts.GetConsistent() {
		return a.s.consistentRead(ctx)
	}
	return nil
}

func (a *api) apply(ctx context.Context, e *fsmv1.LogEntry) (*fsm.Result, error) {
	return a.s.raftApply(ctx, e)
}

func (a *api) Status(ctx context.Context, r *apiv1.StatusRequest) (*apiv1.StatusResponse, error) {
	if err := a.sync(ctx, r.GetRead()); err != nil {
		return nil, err
	}
	s := a.s
	id, addr := s.leaderInfo()
	members, workloads := s.fsm.Counts()
	resp := &apiv1.StatusResponse{
		Leader:  &apiv1.Leader{Id: id, GrpcAddr: addr},
		Masters: s.masters(), Members: uint32(members), Workloads: uint32(workloads),
		CommitIndex: s.raft.CommitIndex(), AppliedIndex: s.fsm.AppliedIndex(), ServedBy: s.cfg.NodeID,
		Term: s.raft.CurrentTerm(), LastContactMs: -1, Witness: s.witnessInfo(),
	}
	if cs := s.fsm.ClusterSet(); cs != nil {
		resp.ClusterSet, resp.Zone = cs.Name, cs.Zone
	}
	if s.raft.State() != raft.Leader {
		if lc := s.raft.LastContact(); !lc.IsZero() {
			resp.LastContactMs = time.Since(lc).Milliseconds()
		}
		if !isForwarded(ctx) {
			s.leaderView(ctx, resp)
		}
	} else {
		resp.LeaderViewFrom = s.cfg.NodeID
		if c := s.fencing.ctl.Load(); c != nil {
			resp.Brake = c.BrakeOn()
		}
	}
	return resp, nil
}

// leaderView fills in what only the leader knows (the witness lease it holds, the brake) by
// asking it, within a second; without an answer the status keeps this master's own view.
func (s *Server) leaderView(ctx context.Context, resp *apiv1.StatusResponse) {
	_, addr := s.leaderInfo()
	if addr == "" || s.fwd == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	reply, err := s.fwd.invoke(ctx, addr, apiv1.ClusterSetService_Status_FullMethodName, &apiv1.StatusRequest{})
	if err != nil {
		s.logger.Debug("status: asking the leader for the lease and the brake failed", "leader", addr, "error", err)
		return
	}
	if lr, ok := reply.(*apiv1.StatusResponse); ok && lr.GetLeaderViewFrom() != "" {
		resp.Witness, resp.Brake, resp.LeaderViewFrom = lr.GetWitness(), lr.GetBrake(), lr.GetLeaderViewFrom()
	}
}

// witnessInfo is replaced by the witness wiring when a witness is configured.
func (s *Server) witnessInfo() *apiv1.WitnessInfo {
	if s.witnessStatus != nil {
		return s.witnessStatus()
	}
	return &apiv1.WitnessInfo{Configured: false}
}

// masters joins the Raft configuration with the registered masters' addresses.
func (s *Server) masters() []*apiv1.MasterInfo {
	leaderID, _ := s.leaderInfo()
	registered := map[string]*fsmv1.Master{}
	all := s.fsm.Masters()
	for _, m := range all {
		registered[m.Id] = m
	}
	var out []*apiv1.MasterInfo
	seen := map[string]bool{}
	if f := s.raft.GetConfiguration(); f.Error() == nil {
		for _, srv := range f.Configuration().Servers {
			id := string(srv.ID)
			seen[id] = true
			mi := &apiv1.MasterInfo{Id: id, RaftAddr: string(srv.Address), Role: "follower", Voter: srv.Suffrage == raft.Voter}
			if m := registered[id]; m != nil {
				mi.GrpcAddr, mi.Tiebreaker = m.GrpcAddr, m.Tiebreaker
			}
			if id == leaderID {
				mi.Role = "leader"
			}
			out = append(out, mi)
		}
	}
	for _, m := range all {
		if !seen[m.Id] {
			out = append(out, &apiv1.MasterInfo{Id: m.Id, RaftAddr: m.RaftAddr, GrpcAddr: m.GrpcAddr, Role: "removed"})
		}
	}
	return out
}

func (a *api) RaftPeers(ctx context.Context, r *apiv1.RaftPeersRequest) (*apiv1.RaftPeersResponse, error) {
	if err := a.sync(ctx, r.GetRead()); err != nil {
		return nil, err
	}
	return &apiv1.RaftPeersResponse{Peers: a.s.masters()}, nil
}

// RaftJoin adds a master to the Raft ring (join.go: a voter only once it answers and has caught
// up) and records its addresses in the state.
func (a *api) RaftJoin(ctx context.Context, r *apiv1.RaftJoinRequest) (*apiv1.RaftJoinResponse, error) {
	s := a.s
	if err := s.validateJoin(r); err != nil {
		return nil, err
	}
	if err := s.joinRaft(ctx, r); err != nil {
		return nil, err
	}
	res, err := a.apply(ctx, &fsmv1.LogEntry{Command: &fsmv1.LogEntry_RegisterMaster{RegisterMaster: &fsmv1.RegisterMasterCommand{
		Master: &fsmv1.Master{Id: r.GetId(), RaftAddr: r.GetRaftAddr(), GrpcAddr: r.GetGrpcAddr(), HttpAddr: r.GetHttpAddr(), DnsAddr: r.GetDnsAddr(), SchemaVersion: fsm.SchemaVersion,
			Tiebreaker: r.GetTiebreaker()},
	}}})
	if err != nil {
		return nil, err
	}
	return &apiv1.RaftJoinResponse{Index: res.Index}, nil
}

func (a *api) RaftRemove(ctx context.Context, r *apiv1.RaftRemoveRequest) (*apiv1.RaftRemoveResponse, error) {
	if r.GetId() == "" {
		return nil, invalid("raft remove needs the id of a master (see 'csetctl raft peers')")
	}
	s := a.s
	found, voter, voters := false, false, 0
	if f := s.raft.GetConfiguration(); f.Error() == nil {
		for _, srv := range f.Configuration().Servers {
			this := string(srv.ID) == r.GetId()
			found = found || this
			if srv.Suffrage == raft.Voter {
				voters++
				voter = voter || this
			}
		}
	}
	registered := s.fsm.Master(r.GetId()) != nil
	if !found && !registered {
		return nil, status.Errorf(codes.NotFound, "master %s is not in the raft ring (see 'csetctl raft peers')", quote(r.GetId()))
	}
	// Checked before anything is changed: raft refuses to remove the last voter, and the master
	// would be unregistered by then.
	if voter && voters == 1 {
		return nil, failedPrecondition("master %s is the last voter of the raft ring: without it no master can commit anything; "+
			"join another master first ('csetd agent -join' or 'csetctl raft join'), then remove this one", quote(r.GetId()))
	}
	if registered {
		// Unregister first, while this leader surely still has a quorum with the peer counted.
		if _, err := a.apply(ctx, &fsmv1.LogEntry{Command: &fsmv1.LogEntry_RemoveMaster{RemoveMaster: &fsmv1.RemoveMasterCommand{Id: r.GetId()}}}); err != nil && !errors.Is(err, fsm.ErrNotFound) {
			return nil, err
		}
	}
	if found {
		if err := s.raft.RemoveServer(raft.ServerID(r.GetId()), 0, 0).Error(); err != nil {
			return nil, fmt.Errorf("remove raft peer %s: %w", r.GetId(), err)
		}
	}
	return &apiv1.RaftRemoveResponse{}, nil
}

func (a *api) RaftTransferLeader(ctx context.Context, r *apiv1.RaftTransferLeaderRequest) (*apiv1.RaftTransferLeaderResponse, error) {
	s := a.s
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, err
	}
	var target *raft.Server
	others := 0 // voters that could take over
	for _, srv := range f.Configuration().Servers {
		if string(srv.ID) == r.GetId() {
			target = &srv
		}
		if srv.Suffrage == raft.Voter && string(srv.ID) != s.cfg.NodeID {
			others++
		}
	}
	// Refused before raft is asked: its error would read as an unknown outcome.
	switch {
	case r.GetId() != "" && target == nil:
		return nil, status.Errorf(codes.NotFound, "master %s is not in the raft ring (see 'csetctl raft peers')", quote(r.GetId()))
	case r.GetId() == s.cfg.NodeID:
		return nil, failedPrecondition("master %s is already the leader", quote(r.GetId()))
	case others == 0:
		return nil, failedPrecondition("master %s is the only voter of the raft ring: there is no other master to hand leadership to; join one first ('csetd agent -join' or 'csetctl raft join')", s.cfg.NodeID)
	case target != nil && target.Suffrage != raft.Voter:
		return nil, failedPrecondition("master %s is not a voter: only a voter can lead; join it as a voter ('csetctl raft join' without --nonvoter)", quote(r.GetId()))
	}
	var fut raft.Future
	if target == nil {
		fut = s.raft.LeadershipTransfer()
	} else {
		fut = s.raft.LeadershipTransferToServer(target.ID, target.Address)
	}
	if err := fut.Error(); err != nil {
		return nil, status.Errorf(codes.Unavailable, "leadership transfer failed: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if id, addr := s.leaderInfo(); id != "" && id != s.cfg.NodeID {
			return &apiv1.RaftTransferLeaderResponse{Leader: &apiv1.Leader{Id: id, GrpcAddr: addr}}, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return &apiv1.RaftTransferLeaderResponse{}, nil
}

func (a *api) InitSet(ctx context.Context, r *apiv1.InitSetRequest) (*apiv1.InitSetResponse, error) {
	cs := &fsmv1.ClusterSet{Name: r.GetName(), Zone: r.GetZone(), TtlSeconds: r.GetTtlSeconds(), NegativeTtlSeconds: r.GetNegativeTtlSeconds()}
	if _, err := a.apply(ctx, &fsmv1.LogEntry{Command: &fsmv1.LogEntry_SetClusterSet{SetClusterSet: &fsmv1.SetClusterSetCommand{ClusterSet: cs}}}); err != nil {
		return nil, err
	}
	got := a.s.fsm.ClusterSet()
	return &apiv1.InitSetResponse{Name: got.GetName(), Zone: got.GetZone(), TtlSeconds: got.GetTtlSeconds(), NegativeTtlSeconds: got.GetNegativeTtlSeconds()}, nil
}
