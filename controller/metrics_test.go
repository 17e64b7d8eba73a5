package controller_test

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/internal/clustertest"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

// scrape returns the value of the first series on the leader's /metrics matching pattern (a
// regexp of the series name and labels), or an error.
func (e *env) scrape(pattern string) (float64, error) {
	resp, err := http.Get("http://" + e.c.WaitForLeader().Server.Addrs().HTTP + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	m := regexp.MustCompile(`(?m)^` + pattern + ` ([0-9.e+-]+)$`).FindSubmatch(b)
	if m == nil {
		return 0, fmt.Errorf("no series %s on /metrics", pattern)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

// A failover is measured: the member's health series, the ECX polls, the operation's phases
// and end, and the failover time from the member declared down.
func TestMetrics_AFailoverIsMeasured(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{members: []string{"east", "west"}, groups: []string{"web"}, tune: func(cfg *config.Config) {
		cfg.HTTPAddr = "127.0.0.1:0"
		cfg.HTTP.MetricsAuth = config.MetricsAuthNone
	}})
	e.waitOnline("web", "east", 20*time.Second)
	if err := e.sim.ClusterDown("east"); err != nil {
		t.Fatal(err)
	}
	e.waitOnline("web", "west", 30*time.Second)
	testutil.Eventually(t, 10*time.Second, func() error {
		for pattern, atLeast := range map[string]float64{
			`cset_member_health\{health="down",member="east"\}`:                 1,
			`cset_ecx_poll_seconds_count\{member="west"\}`:                      1,
			`cset_ecx_poll_errors_total\{member="east"\}`:                       1,
			`cset_operations_finished_total\{reason="failover",result="done"\}`: 1,
			`cset_controller_operations_started_total\{reason="failover"\}`:     1,
			`cset_operation_phase_seconds_count\{phase="starting"\}`:            1,
			`cset_failover_seconds_count`:                                       1,
			`cset_workloads\{desired="online",status="Online"\}`:                1,
		} {
			v, err := e.scrape(pattern)
			if err != nil {
				return err
			}
			if v < atLeast {
				return fmt.Errorf("%s = %v, want at least %v", pattern, v, atLeast)
			}
		}
		if v, err := e.scrape(`cset_failover_seconds_sum`); err != nil || v <= 0 || v > 60 {
			return fmt.Errorf("failover time sum %v (%v): want the seconds from the declaration to the start", v, err)
		}
		return nil
	})
}

// A follower's status shows the witness lease and the brake as the leader holds them (it used
// to show its own view: no lease, the witness "unreachable"), and says whose view it is.
func TestStatus_FollowerShowsTheLeadersLeaseAndBrake(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{masters: 3, members: []string{"east", "west"}, groups: []string{"web"}})
	e.waitOnline("web", "", 30*time.Second)
	testutil.Eventually(t, 20*time.Second, func() error {
		leader := e.c.WaitForLeader()
		for _, f := range e.c.Followers() {
			st, err := f.Client().Status(clustertest.Ctx(t), &apiv1.StatusRequest{})
			if err != nil {
				return err
			}
			w := st.GetWitness()
			if st.GetLeaderViewFrom() != leader.ID || !w.GetReachable() || w.GetHolder() != leader.ID || w.GetRemainingMs() <= 0 || st.GetBrake() {
				return fmt.Errorf("follower %s: view from %q, witness reachable %v holder %q remaining %dms, brake %v; want the leader %s's lease",
					f.ID, st.GetLeaderViewFrom(), w.GetReachable(), w.GetHolder(), w.GetRemainingMs(), st.GetBrake(), leader.ID)
			}
		}
		return nil
	})
}
