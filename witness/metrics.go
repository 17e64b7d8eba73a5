package witness

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the witness server's Prometheus metrics, registered in the server's own registry
// (never the global one, so several servers can live in one process, as in tests and -dev).
type metrics struct {
	grants        *prometheus.CounterVec
	refusals      *prometheus.CounterVec
	releases      *prometheus.CounterVec
	resets        *prometheus.CounterVec
	heartbeats    *prometheus.CounterVec
	persistErrors prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, state prometheus.Collector) *metrics {
	m := &metrics{
		grants: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cset_witness_lease_grants_total",
			Help: "Lease requests granted (first grants and renewals), by cluster set.",
		}, []string{"set"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cset_witness_lease_refusals_total",
			Help: "Valid lease requests refused, by cluster set and reason.",
		}, []string{"set", "reason"}),
		releases: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cset_witness_lease_releases_total",
			Help: "Leases released by their holder, by cluster set.",
		}, []string{"set"}),
		resets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cset_witness_lease_resets_total",
			Help: "Lease states reset by an operator (csetd witness reset-lease), by cluster set.",
		}, []string{"set"}),
		heartbeats: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cset_witness_heartbeats_total",
			Help: "Heartbeats recorded, by cluster.",
		}, []string{"cluster"}),
		persistErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cset_witness_persist_errors_total",
			Help: "Failed writes of the witness state file.",
		}),
	}
	reg.MustRegister(m.grants, m.refusals, m.releases, m.resets, m.heartbeats, m.persistErrors, state,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

var (
	descLeaseTerm = prometheus.NewDesc("cset_witness_lease_term",
		"Raft term of the active lease holder, 0 when no lease is active.", []string{"set", "holder"}, nil)
	descLeaseRemaining = prometheus.NewDesc("cset_witness_lease_remaining_seconds",
		"Time left on the active lease, 0 when none is active.", []string{"set"}, nil)
	descServers = prometheus.NewDesc("cset_witness_servers_tracked",
		"ECX servers in the last-seen table.", nil, nil)
)

// stateCollector reports gauges computed from the live state at scrape time, so an expired
// lease shows as term 0 without anyone having to notice the expiry.
type stateCollector struct{ s *Server }

func (c stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descLeaseTerm
	ch <- descLeaseRemaining
	ch <- descServers
}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	for name, st := range s.sets {
		var term uint64
		if st.active(now) {
			term = st.highest
		}
		ch <- prometheus.MustNewConstMetric(descLeaseTerm, prometheus.GaugeValue, float64(term), name, st.holder)
		ch <- prometheus.MustNewConstMetric(descLeaseRemaining, prometheus.GaugeValue, st.remaining(now).Seconds(), name)
	}
	ch <- prometheus.MustNewConstMetric(descServers, prometheus.GaugeValue, float64(s.nservers))
}
