package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"github.com/hashicorp/raft"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A voter that never answers costs the ring its quorum: with one master, adding a second voter
// that is not running makes every write wait for a vote that never comes, and nothing but a
// peers.json recovery (recover.go) gets the set back. So RaftJoin adds a voter in two steps, as
// Consul's autopilot does: first as a non-voter, which the leader replicates to but does not
// count; then, once the new master has answered and holds the log up to the entry that added
// it, as a voter. A master that does not answer at all is never added.

const (
	// joinCatchUpTimeout bounds how long RaftJoin waits for a new master to catch up before
	// it answers that the master stays a non-voter for now.
	joinCatchUpTimeout = 30 * time.Second
	// joinProbeInterval is the pause between two probes of a master that is catching up.
	joinProbeInterval = 100 * time.Millisecond
	// maxMasterID bounds a master's id.
	maxMasterID = 128
)

// validateJoin checks a RaftJoinRequest before anything changes.
func (s *Server) validateJoin(r *apiv1.RaftJoinRequest) error {
	if r.GetId() == "" || r.GetRaftAddr() == "" || r.GetGrpcAddr() == "" {
		return invalid("raft join needs ID RAFT_ADDR GRPC_ADDR, e.g. 'csetctl raft join m2 10.0.0.2:7101 10.0.0.2:7100'")
	}
	if err := validMasterID(r.GetId()); err != nil {
		return invalid("%v", err)
	}
	// An in-memory transport (tests) has addresses of its own form; every network transport
	// needs an address the other masters can dial.
	if _, network := s.transport.(*raft.NetworkTransport); network {
		if err := dialableAddr("raft address", r.GetRaftAddr()); err != nil {
			return invalid("%v: give the address the other masters reach its Raft port at (csetd -raft-addr, or -advertise-raft)", err)
		}
	}
	for _, a := range []struct{ what, v string }{{"gRPC address", r.GetGrpcAddr()}, {"HTTP address", r.GetHttpAddr()}, {"DNS address", r.GetDnsAddr()}} {
		if a.v == "" && a.what != "gRPC address" {
			continue
		}
		if err := dialableAddr(a.what, a.v); err != nil {
			return invalid("%v", err)
		}
	}
	if r.GetId() == s.cfg.NodeID && r.GetRaftAddr() != string(s.transport.LocalAddr()) {
		return failedPrecondition("master %s is the leader, at Raft address %s, not %s: check the id", r.GetId(), s.transport.LocalAddr(), r.GetRaftAddr())
	}
	return nil
}

// validMasterID accepts 1 to 128 of A-Z, a-z, 0-9, '.', '_' and '-': a host name or a short
// name such as m2. Master ids name the NS records of the zone.
func validMasterID(id string) error {
	if len(id) > maxMasterID {
		return fmt.Errorf("master id %q is %d characters long: at most %d", id, len(id), maxMasterID)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("master id %q has the character %q at position %d: use A-Z, a-z, 0-9, '.', '_' and '-' (csetd -node-id)", id, c, i+1)
		}
	}
	return nil
}

// dialableAddr checks that s is HOST:PORT with a port from 1 to 65535 and a host that another
// machine can dial: not empty and not a listen-on-all address such as 0.0.0.0.
func dialableAddr(what, s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return fmt.Errorf("%s %q: want HOST:PORT, e.g. 10.0.0.2:7101", what, s)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return fmt.Errorf("%s %q: the port must be a number from 1 to 65535", what, s)
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsUnspecified() {
		return fmt.Errorf("%s %q listens on every address: other masters cannot dial it", what, s)
	}
	for i := 0; i < len(host); i++ {
		if c := host[i]; c <= ' ' || c == 0x7f || c == '/' || c == '@' {
			return fmt.Errorf("%s %q: the host has the character %q", what, s, c)
		}
	}
	return nil
}

// joinRaft puts the master of r in the Raft configuration with the suffrage it asks for. A
// voter must answer and catch up first (see above). Masters already there with another address,
// or another master at its address, are replaced once the new master has answered.
func (s *Server) joinRaft(ctx context.Context, r *apiv1.RaftJoinRequest) error {
	// One join at a time: a master's own registration and its -join may come together, and
	// each decides from the configuration it read.
	for !s.joinMu.TryLock() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(joinProbeInterval / 5):
		}
	}
	defer s.joinMu.Unlock()
	id, addr := raft.ServerID(r.GetId()), raft.ServerAddress(r.GetRaftAddr())
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return raftError(err)
	}
	var cur *raft.Server
	var stale []raft.Server
	for _, srv := range f.Configuration().Servers {
		switch {
		case srv.ID == id && srv.Address == addr:
			cur = &srv
		case srv.ID == id || srv.Address == addr:
			stale = append(stale, srv) // same id with a new address, or a new id on an old address
		}
	}
	if cur != nil && (cur.Suffrage == raft.Voter || r.GetNonvoter()) {
		return nil // nothing to change (a voter asked to be a non-voter stays a voter)
	}
	if r.GetNonvoter() {
		// A non-voter does not count in the quorum: it may be added before it runs.
		if err := s.removeServers(stale); err != nil {
			return err
		}
		if err := s.raft.AddNonvoter(id, addr, 0, 0).Error(); err != nil {
			return raftError(fmt.Errorf("add raft non-voter %s at %s: %w", id, addr, err))
		}
		s.logger.Info("added master to the raft ring as a non-voter", "node_id", id, "raft_addr", addr)
		return nil
	}
	joinIndex := f.Index()
	added := false
	if cur == nil {
		if _, err := s.probeRaft(ctx, id, addr); err != nil {
			if errors.Is(err, ErrNoLeaderHere) || ctx.Err() != nil {
				return errors.Join(err, ctx.Err())
			}
			return notAnswering(id, addr, err, "nothing was changed")
		}
		if err := s.removeServers(stale); err != nil {
			return err
		}
		fut := s.raft.AddNonvoter(id, addr, 0, 0)
		if err := fut.Error(); err != nil {
			return raftError(fmt.Errorf("add raft non-voter %s at %s: %w", id, addr, err))
		}
		joinIndex, added = fut.Index(), true
		s.logger.Info("added master to the raft ring as a non-voter until it has caught up", "node_id", id, "raft_addr", addr, "index", joinIndex)
	}
	if err := s.waitCaughtUp(ctx, id, addr, joinIndex); err != nil {
		var na *notAnsweringError
		if added && errors.As(err, &na) {
			if rerr := s.raft.RemoveServer(id, 0, 0).Error(); rerr != nil {
				s.logger.Warn("removing a master that stopped answering while it caught up", "node_id", id, "error", rerr)
			}
			return notAnswering(id, addr, na.err, "it was removed from the ring again")
		}
		return err
	}
	if err := s.raft.AddVoter(id, addr, 0, 0).Error(); err != nil {
		return raftError(fmt.Errorf("promote raft peer %s at %s to voter: %w", id, addr, err))
	}
	s.logger.Info("master caught up: now a voter of the raft ring", "node_id", id, "raft_addr", addr)
	return nil
}

func (s *Server) removeServers(servers []raft.Server) error {
	for _, srv := range servers {
		if err := s.raft.RemoveServer(srv.ID, 0, 0).Error(); err != nil {
			return raftError(fmt.Errorf("remove stale raft peer %s: %w", srv.ID, err))
		}
		s.logger.Info("removed a stale raft peer for a joining master", "node_id", srv.ID, "raft_addr", srv.Address)
	}
	return nil
}

// waitCaughtUp probes the master until its log holds index, ctx ends or joinCatchUpTimeout
// passes. It returns a notAnsweringError when the last probe got no answer.
func (s *Server) waitCaughtUp(ctx context.Context, id raft.ServerID, addr raft.ServerAddress, index uint64) error {
	deadline := time.Now().Add(joinCatchUpTimeout)
	if dl, ok := ctx.Deadline(); ok && time.Until(dl)-time.Second < joinCatchUpTimeout {
		deadline = dl.Add(-time.Second) // leave time to promote it and answer
	}
	var last uint64
	for {
		resp, err := s.probeRaft(ctx, id, addr)
		if err == nil && resp.LastLog >= index {
			return nil
		}
		if errors.Is(err, ErrNoLeaderHere) || ctx.Err() != nil {
			// Not an answer of the master: leave it as it is (a non-voter costs nothing).
			return errors.Join(err, ctx.Err())
		}
		if err == nil {
			last = resp.LastLog
		}
		if time.Now().After(deadline) {
			if err != nil {
				return &notAnsweringError{err: err}
			}
			return status.Errorf(codes.Unavailable, "master %s answers but has not caught up yet (its log is at index %d, it was added at %d): "+
				"it stays a non-voter for now; run the join again to make it a voter (csetd -join does so by itself)", id, last, index)
		}
		select {
		case <-ctx.Done():
		case <-time.After(joinProbeInterval):
		}
	}
}

// notAnsweringError is a probe that got no answer, or the answer of another master.
type notAnsweringError struct{ err error }

func (e *notAnsweringError) Error() string { return e.err.Error() }

func notAnswering(id raft.ServerID, addr raft.ServerAddress, err error, outcome string) error {
	var wrong *wrongMasterError
	if errors.As(err, &wrong) {
		return failedPrecondition("the Raft address %s answers as master %s, not %s: check the address; %s", addr, wrong.got, id, outcome)
	}
	return failedPrecondition("master %s does not answer on its Raft address %s (%v): start csetd there first (with -join it joins by itself), "+
		"and check the address and the firewall; %s", id, addr, err, outcome)
}

// wrongMasterError is the answer of another master than the one asked for.
type wrongMasterError struct{ got string }

func (e *wrongMasterError) Error() string { return "answered as master " + e.got }

// probeRaft sends the master at addr the heartbeat a leader sends its followers (an
// AppendEntries without entries, in this leader's term) and returns the answer: it proves that
// the master answers on its Raft address, says which master it is, and how far its log goes.
// Raft's own replication sends the same message several times a second. Only the leader calls
// it; a heartbeat of an older term is refused without effect.
func (s *Server) probeRaft(ctx context.Context, id raft.ServerID, addr raft.ServerAddress) (*raft.AppendEntriesResponse, error) {
	if !s.IsLeader() {
		return nil, ErrNoLeaderHere
	}
	self := s.transport.EncodePeer(raft.ServerID(s.cfg.NodeID), s.transport.LocalAddr())
	req := &raft.AppendEntriesRequest{
		RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte(s.cfg.NodeID), Addr: self},
		Term:      s.raft.CurrentTerm(),
		Leader:    self,
	}
	type result struct {
		resp *raft.AppendEntriesResponse
		err  error
	}
	done := make(chan result, 1) // the transport call cannot be cancelled: it ends on its own timeout
	go func() {
		var resp raft.AppendEntriesResponse
		err := s.transport.AppendEntries(id, addr, req, &resp)
		done <- result{&resp, err}
	}()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-done:
		if r.err != nil {
			return nil, r.err
		}
		if got := string(r.resp.ID); got != "" && got != string(id) {
			return nil, &wrongMasterError{got: got}
		}
		return r.resp, nil
	}
}

// raftError maps a failed membership change to the API's errors.
func raftError(err error) error {
	if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
		return ErrNoLeaderHere
	}
	return err
}
