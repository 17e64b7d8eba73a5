package fsm_test

import (
	"strings"
	"testing"

	"github.com/cset-project/cset/fsm"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
)

// TestFSM_ErrorsNeverEchoLongValues: a validator's message cuts a rejected value longer than
// any valid name to its start and its length, so a huge value is neither sent back nor stored
// in the request table.
func TestFSM_ErrorsNeverEchoLongValues(t *testing.T) {
	t.Parallel()
	huge := strings.Repeat("x", 1<<20)
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"name", fsm.ValidateName("member name", huge)},
		{"group", fsm.ValidateGroupName("ECX group name", huge)},
		{"url", fsm.ValidateURL("URL", "http://"+huge+"\x7f")},
		{"address", fsm.ValidateAddress("address", huge)},
		{"member", fsm.ValidateMember(&fsmv1.Member{Name: "east", Servers: []*fsmv1.MemberServer{{Name: "e1", Url: "ftp://" + huge}}})},
		{"workload hook", fsm.ValidateWorkload(&fsmv1.Workload{Name: "web", Group: "g", Candidates: []string{"east"}, Desired: "online", Hooks: []string{huge}})},
	} {
		if tc.err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if msg := tc.err.Error(); len(msg) > 600 || !strings.Contains(msg, "bytes)") {
			t.Errorf("%s: the message is %d bytes long (%.200s...), want the value cut with its length", tc.name, len(msg), msg)
		}
	}
}
