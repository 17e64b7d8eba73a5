package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/internal/clustertest"
)

// The probe and controller series of docs/probe.md and docs/operations.md are on /metrics.
func TestMetrics_ProbeAndOperationSeries(t *testing.T) {
	t.Parallel()
	cl := clustertest.New(t, 1, func(c *config.Config) {
		c.HTTPAddr = "127.0.0.1:0"
		c.HTTP.MetricsAuth = config.MetricsAuthNone
	})
	cl.WaitForLeader()
	resp, err := http.Get("http://" + cl.Nodes[0].Server.Addrs().HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, name := range []string{"cset_workloads_unreachable 0", "cset_probe_seconds_count 0", `cset_probes_total{result="fail"} 0`,
		`cset_controller_operations_started_total{reason="failover"} 0`, `cset_operations_finished_total{reason="failback",result="done"} 0`,
		"cset_failover_brake 0", "cset_hook_failures_total 0", "cset_event_ring_events", "cset_event_ring_dropped_total 0",
		"cset_failover_seconds_count 0", "cset_hook_seconds_count 0"} {
		if !strings.Contains(string(b), name) {
			t.Errorf("/metrics lacks %q", name)
		}
	}
}
