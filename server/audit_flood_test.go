package server_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cset-project/cset/fsm"
	"github.com/cset-project/cset/internal/clustertest"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"github.com/cset-project/cset/server"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

var deniedTimes = regexp.MustCompile(`^denied Status (\d+) times on master m1 `)

// deniedCount returns how many refused calls one denial event stands for.
func deniedCount(e *apiv1.Event) int {
	if m := deniedTimes.FindStringSubmatch(e.GetMessage()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	if strings.HasPrefix(e.GetMessage(), "denied Status from ") {
		return 1
	}
	return 0
}

// TestAudit_DenialFloodIsAggregated floods a master run with -auth with more unauthenticated
// calls than the event ring holds (8 at a time). The operational events written before stay in
// the event log; the refusals are written as a few events of kind denied whose counts add up
// to the calls made; the master writes at most one audit batch (Raft entry) per 100 ms and
// logs a few lines, not one per call.
func TestAudit_DenialFloodIsAggregated(t *testing.T) {
	t.Parallel()
	const (
		calls   = fsm.MaxEvents + 2000
		workers = 8
		period  = 500 * time.Millisecond
	)
	logs := &syncLog{}
	c := clustertest.NewWithLog(t, 1, withAuth, logs)
	admin := c.BootstrapToken()
	n := c.Nodes[0]
	server.SetDenialSummaryEvery(n.Server, period)
	ac := tokenClient(t, n, admin)
	ctx := clustertest.Ctx(t)
	if _, err := ac.InitSet(ctx, &apiv1.InitSetRequest{Name: "prod", Zone: "cset.example.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ac.CreateFaultDomain(ctx, &apiv1.CreateFaultDomainRequest{Name: "rack-a", Description: "room 1"}); err != nil {
		t.Fatal(err)
	}
	operational := func() []string {
		var out []string
		for _, e := range n.Server.FSM().Events(0, 0, "", "") {
			if e.GetKind() == "admin" {
				out = append(out, e.GetMessage())
			}
		}
		return out
	}
	before := operational()
	if len(before) < 2 {
		t.Fatalf("admin events before the flood: %q", before)
	}

	anon := n.Client()
	// 12,000 calls take a few seconds, but much longer on a loaded 2-core machine under -race:
	// the flood has its own deadline, far from the 15 s of one ordinary call.
	floodCtx, cancelFlood := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancelFlood()
	startIndex, start := n.Server.FSM().AppliedIndex(), time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var unexpected error
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < calls; i += workers {
				_, err := anon.Status(floodCtx, &apiv1.StatusRequest{})
				if status.Code(err) != codes.Unauthenticated {
					mu.Lock()
					unexpected = fmt.Errorf("call %d: %v, want Unauthenticated", i, err)
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if unexpected != nil {
		t.Fatal(unexpected)
	}

	// Every refused call is counted, once the last summary period is over.
	var denials []*apiv1.Event
	testutil.Eventually(t, 10*time.Second, func() error {
		r, err := ac.ListEvents(ctx, &apiv1.ListEventsRequest{Limit: fsm.MaxEvents + fsm.MaxDenialEvents})
		if err != nil {
			return err
		}
		denials = denials[:0]
		total := 0
		for _, e := range r.GetEvents() {
			if e.GetKind() == fsm.KindDenied && e.GetActor() == "(anonymous)" {
				denials = append(denials, e)
				total += deniedCount(e)
			}
		}
		if total != calls {
			return fmt.Errorf("the denial events count %d calls, want %d", total, calls)
		}
		return nil
	})
	elapsed := time.Since(start)
	entries := n.Server.FSM().AppliedIndex() - startIndex
	t.Logf("%d refused calls, %d denial events, %d raft entries in %v", calls, len(denials), entries, elapsed.Round(time.Millisecond))

	after := operational()
	for _, m := range before {
		if !slices.Contains(after, m) {
			t.Errorf("the event %q was pushed out of the event log by the flood", m)
		}
	}
	// One record for the first call, then at most one per summary period (and one more for
	// the period cut short by the end of the flood).
	if limit := 2 + int(elapsed/period); len(denials) > limit {
		t.Errorf("%d denial events for one actor, method and reason over %v, want at most %d", len(denials), elapsed, limit)
	}
	// At most one audit batch per 100 ms (the harness makes no other writes meanwhile).
	if limit := uint64(2 + elapsed/(100*time.Millisecond)); entries > limit {
		t.Errorf("%d raft entries over %v, want at most %d (one per 100 ms)", entries, elapsed, limit)
	}
	if lines, limit := strings.Count(logs.String(), "denied API call"), 2+int(elapsed/period); lines > limit {
		t.Errorf("%d log lines about refused calls, want at most %d", lines, limit)
	}
}
