package fsm

import (
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"google.golang.org/protobuf/proto"
)

// RequestTable returns a copy of the request-id de-duplication table, oldest first, for tests.
func (f *FSM) RequestTable() []*fsmv1.RequestRecord {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]*fsmv1.RequestRecord, 0, len(f.s.requestOrder))
	for _, id := range f.s.requestOrder {
		out = append(out, proto.Clone(f.s.requests[id]).(*fsmv1.RequestRecord))
	}
	return out
}
