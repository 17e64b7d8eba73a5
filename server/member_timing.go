package server

import (
	"time"

	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
)

// checkMemberTimings refuses a member whose declared ECX heartbeat timeout is not below this
// master's fence_after. The witness rule declares a member down once nothing heard it for
// fence_after, trusting that ECX has shut down a server that lost its peers and the witness by
// then; a heartbeat timeout of fence_after or more breaks that (docs/design.md, "Split-brain protection"). Writes run
// on the leader, so its fence_after is the one that decides.
func (s *Server) checkMemberTimings(m *fsmv1.Member) error {
	hb := time.Duration(m.GetHeartbeatTimeoutMs()) * time.Millisecond
	fa := s.cfg.Controller.FenceAfter
	if hb == 0 || hb < fa {
		return nil
	}
	return invalid("member %s: heartbeat_timeout %v is not below the masters' fence_after %v: ECX would still run a cut-off server's groups when the masters declare it down; lower the member's ECX heartbeat timeout (and --heartbeat-timeout) below %v, or raise controller.fence_after on every master above %v",
		m.GetName(), hb, fa, fa, hb)
}
