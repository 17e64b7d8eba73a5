package server

import (
	"context"
	"time"

	"github.com/hashicorp/raft"
)

// handOverLeadership is the only leader task of a tie-breaker (-role tiebreaker): a voter of a
// third site that lets two master sites keep a Raft majority when either is lost, but must not
// act for the set. As soon as it leads it transfers leadership to a full master, trying each
// registered full master that is a voter in turn (raft brings the target up to date first and
// fails the transfer when it does not answer), until one takes it or this master stops leading.
// Meanwhile it commits writes like any leader, but runs no controller, holds no witness lease
// and acknowledges no guard, so the set never has two acting masters.
func (s *Server) handOverLeadership(ctx context.Context) {
	s.logger.Info("this tie-breaker leads: handing leadership to a full master")
	for attempt := 0; ctx.Err() == nil; attempt++ {
		targets := s.fullMasterVoters()
		if len(targets) == 0 {
			s.logger.Warn("no full master is a voter to hand leadership to; the set has no acting master until one joins or returns")
		} else {
			t := targets[attempt%len(targets)]
			err := s.raft.LeadershipTransferToServer(t.ID, t.Address).Error()
			if err == nil {
				s.logger.Info("leadership handed to a full master", "to", t.ID)
				return
			}
			s.logger.Debug("leadership transfer failed; trying again", "to", t.ID, "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(handOverRetry):
		}
	}
}

// handOverRetry is the pause between two transfer attempts of a tie-breaker.
const handOverRetry = 200 * time.Millisecond

// fullMasterVoters returns the voters of the Raft configuration, other than this master, that
// registered as full masters (not tie-breakers), in configuration order.
func (s *Server) fullMasterVoters() []raft.Server {
	f := s.raft.GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	var out []raft.Server
	for _, srv := range f.Configuration().Servers {
		if srv.Suffrage != raft.Voter || string(srv.ID) == s.cfg.NodeID {
			continue
		}
		if m := s.fsm.Master(string(srv.ID)); m != nil && !m.Tiebreaker {
			out = append(out, srv)
		}
	}
	return out
}
