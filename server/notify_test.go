package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/internal/clustertest"
	"github.com/cset-project/cset/internal/testutil"
	"github.com/cset-project/cset/notify"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

// hookReceiver is a webhook receiver that checks every request's signature and counts the
// notifications it gets by id.
type hookReceiver struct {
	t      testing.TB
	secret []byte
	mu     sync.Mutex
	count  map[string]int
	order  []uint64
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if got, want := r.Header.Get(notify.HeaderSignature), notify.Sign(h.secret, body); got != want {
		h.t.Errorf("signature %q, want %q", got, want)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var n notify.Notification
	if err := json.Unmarshal(body, &n); err != nil || n.ID != fmt.Sprintf("prod:%d", n.Seq) || r.Header.Get(notify.HeaderEventID) != n.ID {
		h.t.Errorf("notification %s (id header %q): %v", body, r.Header.Get(notify.HeaderEventID), err)
	}
	h.mu.Lock()
	h.count[n.ID]++
	h.order = append(h.order, n.Seq)
	h.mu.Unlock()
}

// check reports the seqs in (from, to] the receiver has not seen, and how many notifications
// it got more than once.
func (h *hookReceiver) check(from, to uint64) (missing []uint64, duplicates int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for seq := from + 1; seq <= to; seq++ {
		if h.count[fmt.Sprintf("prod:%d", seq)] == 0 {
			missing = append(missing, seq)
		}
	}
	for _, n := range h.count {
		duplicates += n - 1
	}
	return missing, duplicates
}

// notifyCluster starts 3 masters with one webhook sink pointing at a fresh receiver, and returns
// the seq after which the sink started.
func notifyCluster(t *testing.T) (*clustertest.Cluster, *hookReceiver, uint64) {
	t.Helper()
	secret := filepath.Join(t.TempDir(), "hmac")
	if err := os.WriteFile(secret, []byte("k3y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rcv := &hookReceiver{t: t, secret: []byte("k3y"), count: map[string]int{}}
	srv := httptest.NewServer(rcv)
	t.Cleanup(srv.Close)
	c := clustertest.New(t, 3, func(cfg *config.Config) {
		cfg.Notify.Sinks = []config.NotifySink{{Name: "ops-hook", Type: config.SinkWebhook, URL: srv.URL, SecretFile: secret,
			MinSeverity: "info", Timeout: 5 * time.Second, MaxBackoff: time.Second}}
	})
	if _, err := c.Nodes[0].Client().InitSet(clustertest.Ctx(t), &apiv1.InitSetRequest{Name: "prod", Zone: "cset.example.com"}); err != nil {
		t.Fatal(err)
	}
	var start uint64
	testutil.Poll{Timeout: 15 * time.Second}.True(t, "the sink's first cursor committed", func() bool {
		seq, ok := c.WaitForLeader().Server.FSM().NotifyCursor("ops-hook")
		start = seq
		return ok
	})
	return c, rcv, start
}

// faultDomains writes n events through node (one per fault domain created), named after prefix.
func faultDomains(t *testing.T, c apiv1.ClusterSetServiceClient, prefix string, n int) {
	t.Helper()
	for i := range n {
		if _, err := c.CreateFaultDomain(clustertest.Ctx(t), &apiv1.CreateFaultDomainRequest{Name: fmt.Sprintf("%s-%d", prefix, i)}); err != nil {
			t.Fatalf("create fault domain: %v", err)
		}
	}
}

// waitDelivered waits until the receiver saw every event of the leader's ring after start and
// the leader committed the cursor at the newest event, and returns the duplicates seen.
func waitDelivered(t *testing.T, c *clustertest.Cluster, rcv *hookReceiver, start uint64) int {
	t.Helper()
	dups := 0
	testutil.Poll{Timeout: 30 * time.Second}.Eventually(t, "every event delivered and its cursor committed", func() error {
		f := c.WaitForLeader().Server.FSM()
		last := f.LastEventSeq()
		missing, d := rcv.check(start, last)
		dups = d
		if len(missing) > 0 {
			return fmt.Errorf("events %v of (%d, %d] not received", missing, start, last)
		}
		if cur, _ := f.NotifyCursor("ops-hook"); cur != last {
			return fmt.Errorf("cursor %d, newest event %d", cur, last)
		}
		return nil
	})
	return dups
}

// TestNotify_ExactlyOncePerEventAcrossLeaderChanges: a webhook receiver sees every event once,
// with no de-duplication, across a leadership transfer and the stop of the leader.
func TestNotify_ExactlyOncePerEventAcrossLeaderChanges(t *testing.T) {
	t.Parallel()
	c, rcv, start := notifyCluster(t)
	faultDomains(t, c.Nodes[1].Client(), "before", 10)
	waitDelivered(t, c, rcv, start)

	old := c.WaitForLeader()
	if err := old.Server.Raft().LeadershipTransfer().Error(); err != nil {
		t.Fatalf("leadership transfer: %v", err)
	}
	next := c.WaitForLeader()
	if next == old {
		t.Fatal("the leader did not change")
	}
	var other *clustertest.Node
	for _, n := range c.Nodes {
		if n != next {
			other = n
		}
	}
	faultDomains(t, other.Client(), "transferred", 10)
	waitDelivered(t, c, rcv, start)

	c.Stop(next)
	third := c.WaitForLeader()
	faultDomains(t, third.Client(), "stopped", 10)
	dups := waitDelivered(t, c, rcv, start)
	t.Logf("leaders %s -> %s -> %s; %d notifications, %d duplicates", old.ID, next.ID, third.ID, len(rcv.order), dups)
	if dups != 0 {
		t.Errorf("%d notifications sent twice, want every event exactly once (%v)", dups, rcv.order)
	}
	// The lag is read from the replicated state: 0 on every master once the cursor is committed.
	for _, n := range []*clustertest.Node{old, third} {
		testutil.Poll{Timeout: 10 * time.Second}.Eventually(t, n.ID+" reports no lag", func() error {
			if lag := gauge(t, n, "cset_notify_lag_events"); lag != 0 {
				return fmt.Errorf("cset_notify_lag_events %v, want 0", lag)
			}
			return nil
		})
	}
	if sent := gauge(t, third, "cset_notify_sent_total"); sent < 10 {
		t.Errorf("%s: cset_notify_sent_total %v, want at least the 10 events it delivered", third.ID, sent)
	}
}

// gauge returns the value of the ops-hook series of a metric on a master.
func gauge(t *testing.T, n *clustertest.Node, name string) float64 {
	t.Helper()
	mfs, err := n.Server.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "sink" && l.GetValue() == "ops-hook" {
					return m.GetGauge().GetValue() + m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("%s: no %s{sink=\"ops-hook\"}", n.ID, name)
	return 0
}

// TestNotify_NoGapWhileLeadershipMovesUnderLoad changes the leader twice while events are
// written: every event arrives, each id at least once, and duplicates (events delivered by a
// leader that lost leadership before it committed their cursor) are counted.
func TestNotify_NoGapWhileLeadershipMovesUnderLoad(t *testing.T) {
	t.Parallel()
	c, rcv, start := notifyCluster(t)
	var stop atomic.Bool
	var written atomic.Int64
	done := make(chan struct{})
	// Writes go through m3, which is never stopped; a write refused during an election is
	// not retried (its event does not exist, so it is not expected).
	writer := c.Nodes[2]
	go func() {
		defer close(done)
		for i := 0; !stop.Load(); i++ {
			ctx := clustertest.Ctx(t)
			if _, err := writer.Client().CreateFaultDomain(ctx, &apiv1.CreateFaultDomainRequest{Name: fmt.Sprintf("load-%d", i)}); err == nil {
				written.Add(1)
			}
		}
	}()
	waitWritten := func(n int64) {
		testutil.Poll{Timeout: 30 * time.Second}.True(t, fmt.Sprintf("%d events written", n), func() bool { return written.Load() >= n })
	}
	waitWritten(20)
	if err := c.WaitForLeader().Server.Raft().LeadershipTransfer().Error(); err != nil {
		t.Fatalf("leadership transfer: %v", err)
	}
	waitWritten(written.Load() + 20)
	if l := c.WaitForLeader(); l != writer {
		c.Stop(l)
	} else {
		c.Stop(c.Followers()[0])
	}
	waitWritten(written.Load() + 20)
	stop.Store(true)
	<-done
	dups := waitDelivered(t, c, rcv, start)
	t.Logf("%d events written under load, %d notifications received, %d duplicates (delivered by a deposed leader before its cursor was committed)",
		written.Load(), len(rcv.order), dups)
}
