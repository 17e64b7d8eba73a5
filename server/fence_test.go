package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/internal/clustertest"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"github.com/cset-project/cset/witness"
)

// pass is one instant at which a master passed the fence, and the lease end it relied on.
type pass struct {
	node      string
	at        time.Time
	heldUntil time.Time
}

// interval is a run of consecutive passing samples of one master.
type interval struct {
	node        string
	from, until time.Time
}

// cuttableProxy serves the witness to one master and can cut that master off from it.
type cuttableProxy struct {
	cut atomic.Bool
	h   http.Handler
}

func (p *cuttableProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.cut.Load() {
		panic(http.ErrAbortHandler) // the connection drops, as in a partition
	}
	p.h.ServeHTTP(w, r)
}

// TestServer_NoTwoMastersPassTheFence partitions the leader from the other masters (not from the
// witness), then the new leader from the witness (not from the masters), sampling every master's
// fence all along: no master may pass it while another master's earlier pass still relies on an
// unexpired lease.
func TestServer_NoTwoMastersPassTheFence(t *testing.T) {
	t.Parallel()
	ws, err := witness.NewServer(witness.ServerConfig{DataDir: t.TempDir(), RestartHold: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	proxies := map[string]*cuttableProxy{}
	urls := map[string]string{}
	for _, id := range []string{"m1", "m2", "m3"} {
		p := &cuttableProxy{h: ws.Handler()}
		hs := httptest.NewServer(p)
		t.Cleanup(hs.Close)
		proxies[id], urls[id] = p, hs.URL
	}
	c := clustertest.New(t, 3, func(cfg *config.Config) {
		cfg.Witness = urls[cfg.NodeID]
		cfg.Controller.LeaseTTL = 1500 * time.Millisecond
		cfg.Controller.PollInterval = 200 * time.Millisecond
	})
	if _, err := c.Nodes[0].Client().InitSet(clustertest.Ctx(t), &apiv1.InitSetRequest{Name: "fence", Zone: "fence.test."}); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var passes []pass
	var intervals []*interval
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, n := range c.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var cur *interval
			for ctx.Err() == nil {
				now := time.Now()
				until, err := n.Server.FenceCheck(ctx)
				mu.Lock()
				if err == nil {
					passes = append(passes, pass{node: n.ID, at: now, heldUntil: until})
					if cur == nil {
						cur = &interval{node: n.ID, from: now}
						intervals = append(intervals, cur)
					}
					cur.until = time.Now()
				} else {
					cur = nil
				}
				mu.Unlock()
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	waitPass := func(node string) {
		t.Helper()
		testutil.Eventually(t, 20*time.Second, func() error {
			mu.Lock()
			defer mu.Unlock()
			if len(passes) > 0 && passes[len(passes)-1].node == node && time.Since(passes[len(passes)-1].at) < 100*time.Millisecond {
				return nil
			}
			return fmt.Errorf("%s does not pass the fence yet", node)
		})
	}
	first := c.WaitForLeader()
	waitPass(first.ID)

	// 1. The leader loses the other masters but still reaches the witness.
	c.Partition(first.ID)
	var second *clustertest.Node
	testutil.Eventually(t, 20*time.Second, func() error {
		for _, n := range c.Nodes {
			if n != first && n.Server.IsLeader() {
				second = n
				return nil
			}
		}
		return fmt.Errorf("no new leader")
	})
	waitPass(second.ID)
	c.Heal()

	// 2. The new leader loses the witness but not the masters: it must stop passing.
	proxies[second.ID].cut.Store(true)
	testutil.Eventually(t, 20*time.Second, func() error {
		if _, err := second.Server.FenceCheck(ctx); err == nil {
			return fmt.Errorf("%s still passes the fence without the witness", second.ID)
		}
		return nil
	})
	proxies[second.ID].cut.Store(false)
	cancel()
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	if len(passes) == 0 {
		t.Fatal("no master ever passed the fence")
	}
	// A master passes the fence from the first to the last of a run of passing samples; two such
	// runs of different masters must never overlap.
	for i, a := range intervals {
		for _, b := range intervals[i+1:] {
			if a.node != b.node && a.from.Before(b.until) && b.from.Before(a.until) {
				t.Fatalf("%s passed the fence from %s to %s while %s did from %s to %s", a.node, a.from.Format(time.StampMicro), a.until.Format(time.StampMicro),
					b.node, b.from.Format(time.StampMicro), b.until.Format(time.StampMicro))
			}
		}
	}
	for _, p := range passes {
		if !p.heldUntil.IsZero() && p.heldUntil.Before(p.at) {
			t.Fatalf("%s passed at %s on a lease that had ended at %s", p.node, p.at, p.heldUntil)
		}
	}
	t.Logf("%d passes in %d intervals checked", len(passes), len(intervals))
}
