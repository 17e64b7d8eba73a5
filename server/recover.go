package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/cset-project/cset/fsm"
	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// recoverUnary turns a panic in one API call into an Internal error for that call, logged with
// its stack, instead of taking the whole master (and its Raft vote) down. The FSM is not
// covered: a panic in Apply happens on raft's goroutine and stops the master on purpose.
func (s *Server) recoverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.logger.Error("panic in an API call", "method", info.FullMethod, "panic", r, "stack", string(debug.Stack()))
			resp, err = nil, status.Errorf(codes.Internal, "internal error in %s: it was logged on master %s; please report it", info.FullMethod, s.cfg.NodeID)
		}
	}()
	return handler(ctx, req)
}

func (s *Server) recoverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.logger.Error("panic in an API stream", "method", info.FullMethod, "panic", r, "stack", string(debug.Stack()))
			err = status.Errorf(codes.Internal, "internal error in %s: it was logged on master %s; please report it", info.FullMethod, s.cfg.NodeID)
		}
	}()
	return handler(srv, ss)
}

// PeersFile is the file in the data directory that recovers a ring that lost its quorum for
// good (docs/operations.md): csetd reads it at start, before Raft runs, and replaces the Raft
// configuration with the masters it lists, then deletes it. Its format is hashicorp/raft's
// (Consul's and Nomad's peers.json): [{"id": "m1", "address": "10.0.0.1:7101", "non_voter": false}].
const PeersFile = "peers.json"

// recoverPeers applies <data-dir>/peers.json, if there is one, with raft.RecoverCluster: the
// log and the snapshots stay, and the configuration becomes the one in the file, as if it had
// been committed. It must run before raft.NewRaft, on the stores Raft will use. A file that is
// not valid stops the start with an error that says what to fix.
func (s *Server) recoverPeers(rc *raft.Config, logs raft.LogStore, stable raft.StableStore, snaps raft.SnapshotStore, trans raft.Transport) error {
	path := filepath.Join(s.cfg.DataDir, PeersFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("recovery file %s: %w", path, err)
	}
	conf, err := readPeersFile(path)
	if err != nil {
		return fmt.Errorf("recovery file %s: %w: want [{\"id\": \"m1\", \"address\": \"10.0.0.1:7101\", \"non_voter\": false}, ...] (docs/operations.md)", path, err)
	}
	if err := s.checkPeers(conf, trans); err != nil {
		return fmt.Errorf("recovery file %s: %w; nothing was changed", path, err)
	}
	// RecoverCluster replays the log into an FSM to take a snapshot with the new configuration:
	// a throw-away one, since NewRaft restores the real one from that snapshot.
	if err := raft.RecoverCluster(rc, fsm.New(s.logger.Named("recovery")), logs, stable, snaps, trans, conf); err != nil {
		return fmt.Errorf("recover the raft ring from %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("the raft ring was recovered from %s, but the file could not be removed (%w): remove it before csetd starts again, or the recovery is repeated", path, err)
	}
	var servers []string
	for _, srv := range conf.Servers {
		servers = append(servers, fmt.Sprintf("%s=%s", srv.ID, srv.Address))
	}
	s.logger.Warn("recovered the raft ring from the recovery file and removed it: start every master it lists with the same file", "file", path, "servers", strings.Join(servers, ","))
	return nil
}

// readPeersFile reads hashicorp/raft's peers.json format strictly: a misspelt key such as
// "nonvoter" would otherwise be ignored and make a voter of a master meant not to vote.
func readPeersFile(path string) (raft.Configuration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return raft.Configuration{}, err
	}
	var entries []struct {
		ID       string `json:"id"`
		Address  string `json:"address"`
		NonVoter bool   `json:"non_voter"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&entries); err != nil {
		return raft.Configuration{}, fmt.Errorf("not valid: %w", err)
	}
	if dec.More() {
		return raft.Configuration{}, errors.New("not valid: more than one JSON document")
	}
	var conf raft.Configuration
	for _, e := range entries {
		srv := raft.Server{ID: raft.ServerID(e.ID), Address: raft.ServerAddress(e.Address), Suffrage: raft.Voter}
		if e.NonVoter {
			srv.Suffrage = raft.Nonvoter
		}
		conf.Servers = append(conf.Servers, srv)
	}
	return conf, nil
}

// checkPeers refuses a recovery configuration that would not work: one that leaves this master
// out or gives it another address than the one it listens at, an id that RaftJoin would refuse,
// an address that another master cannot dial, or a repeated id or address.
func (s *Server) checkPeers(conf raft.Configuration, trans raft.Transport) error {
	if len(conf.Servers) == 0 {
		return errors.New("it lists no master")
	}
	_, network := trans.(*raft.NetworkTransport)
	self, voters := false, 0
	seenID, seenAddr := map[raft.ServerID]bool{}, map[raft.ServerAddress]bool{}
	for _, srv := range conf.Servers {
		if srv.ID == "" || srv.Address == "" {
			return fmt.Errorf("an entry has no id or no address: %v", srv)
		}
		if err := validMasterID(string(srv.ID)); err != nil {
			return err
		}
		if network {
			if err := dialableAddr("address of "+string(srv.ID), string(srv.Address)); err != nil {
				return err
			}
		}
		if seenID[srv.ID] || seenAddr[srv.Address] {
			return fmt.Errorf("master %s or its address %s is listed twice", srv.ID, srv.Address)
		}
		seenID[srv.ID], seenAddr[srv.Address] = true, true
		if srv.Suffrage == raft.Voter {
			voters++
		}
		if string(srv.ID) == s.cfg.NodeID {
			self = true
			if srv.Address != trans.LocalAddr() {
				return fmt.Errorf("it gives this master (%s) the address %s, but it listens at %s (-raft-addr, -advertise-raft)", srv.ID, srv.Address, trans.LocalAddr())
			}
		}
	}
	if !self {
		return fmt.Errorf("it does not list this master (%s): list every master that is to stay, this one included, with the same file on each", s.cfg.NodeID)
	}
	if voters == 0 {
		return errors.New("it lists no voter")
	}
	return nil
}
