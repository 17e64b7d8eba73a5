package ecxclient

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/cset-project/cset/ecxsim"
)

// TestClient_AStartGivenUpOnIsNeverDeliveredLater is issue 11's finding H4: a start sent into a
// partition sits in the sender's TCP send queue, and a connection closed the usual way (FIN)
// still delivers it when the link comes back, long after the masters declared the member down
// and started the group elsewhere. The client resets the connection of a call it gives up on,
// so the kernel discards the request instead. Checked over HTTP and HTTPS (a CA file dials
// through another path).
func TestClient_AStartGivenUpOnIsNeverDeliveredLater(t *testing.T) {
	t.Parallel()
	for _, tlsOn := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", tlsOn), func(t *testing.T) {
			t.Parallel()
			caFile := filepath.Join(t.TempDir(), "ca.pem")
			sim := startTLSSim(t, caFile, tlsOn)
			c := newTestClient(t, []string{sim.ServerURL("c", "s1")}, func(m *MemberConfig) {
				m.Password, m.Timeout = "pw", 200*time.Millisecond
				if tlsOn {
					m.CAFile = caFile
				}
			})
			// A first call opens the connection the start will use (a keep-alive reuse, as
			// on a master that polls the member).
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			if _, err := c.ListGroups(ctx); err != nil {
				t.Fatal(err)
			}
			if err := sim.Isolate("c"); err != nil {
				t.Fatal(err)
			}
			var ue *UnreachableError
			if err := c.StartGroup(ctx, "g1", "s1"); !errors.As(err, &ue) || !ue.MaybeApplied {
				t.Fatalf("start on an isolated member: %v, want *UnreachableError that may have been applied", err)
			}
			state := func() ecxsim.ClusterState { return sim.State().Clusters[0] }
			eventually(t, 10*time.Second, func() (bool, string) {
				st := state()
				return st.HeldRequests+st.DroppedRequests+st.LateRequests == 1, fmt.Sprintf("held %d, dropped %d, late %d: want the start held or settled", st.HeldRequests, st.DroppedRequests, st.LateRequests)
			})
			if err := sim.Heal("c"); err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, func() (bool, string) {
				st := state()
				return st.HeldRequests == 0, fmt.Sprintf("%d requests still held after the heal", st.HeldRequests)
			})
			if st := state(); st.LateRequests != 0 || st.DroppedRequests != 1 {
				t.Fatalf("the start given up on was delivered at the heal (late %d, dropped %d): the client closed its connection without a reset", st.LateRequests, st.DroppedRequests)
			}
			for _, g := range state().Groups {
				if g.Name == "g1" && g.Status != "Offline" {
					t.Fatalf("g1 is %s on %s after a start the client gave up on", g.Status, g.RunningOn)
				}
			}
		})
	}
}
