package server

import (
	"time"

	"github.com/cset-project/cset/controller"
	"github.com/cset-project/cset/fsm"
	"github.com/prometheus/client_golang/prometheus"
)

// controllerMetrics are the series of the leader's controller (docs/metrics.md); it is the
// controller's Observer. They count on the master while it leads.
type controllerMetrics struct {
	polls         *prometheus.HistogramVec
	pollErrors    *prometheus.CounterVec
	probes        *prometheus.CounterVec
	probeDuration prometheus.Histogram
	started       *prometheus.CounterVec
	finished      *prometheus.CounterVec
	opDuration    *prometheus.HistogramVec
	phaseDuration *prometheus.HistogramVec
	failover      prometheus.Histogram
	hookDuration  prometheus.Histogram
	hookFailures  prometheus.Counter
	brake         prometheus.Gauge
	brakeEngaged  prometheus.Counter
}

var _ controller.Observer = (*controllerMetrics)(nil)

// operationReasons are the reasons of the operations the controller starts, exported at 0 from
// the start so that rates and alerts see a series.
var operationReasons = []string{fsm.ReasonFailover, fsm.ReasonFailback, fsm.ReasonDrain, fsm.ReasonUnreachable, fsm.ReasonStart,
	fsm.ReasonStop, fsm.ReasonConflict, fsm.ReasonPlanned, fsm.ReasonRebalance}

func newControllerMetrics(reg *prometheus.Registry) *controllerMetrics {
	secs := func(start float64, n int) []float64 { return prometheus.ExponentialBuckets(start, 2, n) }
	m := &controllerMetrics{
		polls: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "cset_ecx_poll_seconds",
			Help: "Time one poll of a member's ECX REST API (servers and groups) took, by member.", Buckets: secs(0.001, 14)}, []string{"member"}),
		pollErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cset_ecx_poll_errors_total",
			Help: "Polls of a member's ECX REST API that failed, by member."}, []string{"member"}),
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cset_probes_total",
			Help: "Reachability probes run by this master while leader, by result (pass, fail)."}, []string{"result"}),
		probeDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "cset_probe_seconds",
			Help: "Time one reachability probe of a workload took (all its addresses on the member).", Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10)}),
		started: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cset_controller_operations_started_total",
			Help: "Operations the controller started by itself while this master led, by reason."}, []string{"reason"}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cset_operations_finished_total",
			Help: "Operations the controller finished while this master led, by reason and result (done, failed)."}, []string{"reason", "result"}),
		opDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "cset_operation_seconds",
			Help: "Time from an operation's creation to its end, by reason and result.", Buckets: secs(0.05, 14)}, []string{"reason", "result"}),
		phaseDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "cset_operation_phase_seconds",
			Help: "Time one pass of an operation through a phase's action took, by phase.", Buckets: secs(0.005, 16)}, []string{"phase"}),
		failover: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "cset_failover_seconds",
			Help: "Time from a member declared down to a workload of it placed Online elsewhere (the failover's end).", Buckets: secs(0.1, 14)}),
		hookDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "cset_hook_seconds",
			Help: "Time one handover hook ran.", Buckets: secs(0.01, 16)}),
		hookFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "cset_hook_failures_total",
			Help: "Handover hook runs that failed (non-zero exit, timeout, not run)."}),
		brake: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cset_failover_brake",
			Help: "1 while the failover brake holds automatic failovers (most members look down), on the leader."}),
		brakeEngaged: prometheus.NewCounter(prometheus.CounterOpts{Name: "cset_failover_brake_engaged_total",
			Help: "Times the failover brake engaged."}),
	}
	for _, r := range operationReasons {
		m.started.WithLabelValues(r)
		m.finished.WithLabelValues(r, "done")
		m.finished.WithLabelValues(r, "failed")
	}
	m.probes.WithLabelValues("pass")
	m.probes.WithLabelValues("fail")
	reg.MustRegister(m.polls, m.pollErrors, m.probes, m.probeDuration, m.started, m.finished, m.opDuration, m.phaseDuration,
		m.failover, m.hookDuration, m.hookFailures, m.brake, m.brakeEngaged)
	return m
}

func (m *controllerMetrics) Poll(member string, took time.Duration, err error) {
	m.polls.WithLabelValues(member).Observe(took.Seconds())
	if err != nil {
		m.pollErrors.WithLabelValues(member).Inc()
	}
}

func (m *controllerMetrics) Probe(_, _ string, took time.Duration, err error) {
	result := "pass"
	if err != nil {
		result = "fail"
	}
	m.probes.WithLabelValues(result).Inc()
	m.probeDuration.Observe(took.Seconds())
}

func (m *controllerMetrics) OperationStarted(reason string) { m.started.WithLabelValues(reason).Inc() }

func (m *controllerMetrics) Phase(phase string, took time.Duration) {
	m.phaseDuration.WithLabelValues(phase).Observe(took.Seconds())
}

func (m *controllerMetrics) OperationFinished(reason string, ok bool, took time.Duration) {
	result := "done"
	if !ok {
		result = "failed"
	}
	m.finished.WithLabelValues(reason, result).Inc()
	m.opDuration.WithLabelValues(reason, result).Observe(took.Seconds())
}

func (m *controllerMetrics) Failover(took time.Duration) { m.failover.Observe(took.Seconds()) }

func (m *controllerMetrics) Hook(took time.Duration, failed bool) {
	m.hookDuration.Observe(took.Seconds())
	if failed {
		m.hookFailures.Inc()
	}
}

func (m *controllerMetrics) Brake(on bool) {
	if on {
		m.brake.Set(1)
		m.brakeEngaged.Inc()
	} else {
		m.brake.Set(0)
	}
}

// stateCollector exports the replicated state, counted (fsm.Census), and this master's view
// of the witness lease, at every scrape.
type stateCollector struct {
	s                                                   *Server
	memberHealth, memberAdmin, memberLoad, memberCap    *prometheus.Desc
	workloads, inFlight, events, eventsDropped          *prometheus.Desc
	witnessReachable, witnessRemaining, witnessGranting *prometheus.Desc
}

// memberHealths are the health values a member can have: one series per member and value.
var memberHealths = []string{fsm.HealthUnknown, fsm.HealthUp, fsm.HealthDegraded, fsm.HealthUnreachable, fsm.HealthPartitioned, fsm.HealthDown}

func newStateCollector(s *Server) *stateCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &stateCollector{s: s,
		memberHealth:     d("cset_member_health", "1 for a member's current health, 0 for the others (one series per member and health).", "member", "health"),
		memberAdmin:      d("cset_member_admin", "1 for a member's admin state (active, draining, disabled).", "member", "admin"),
		memberLoad:       d("cset_member_load", "Sum of the sizes of the workloads placed on a member.", "member"),
		memberCap:        d("cset_member_capacity", "A member's capacity (0: unlimited).", "member"),
		workloads:        d("cset_workloads", "Workloads by placement status (Unplaced when not placed) and desired state.", "status", "desired"),
		inFlight:         d("cset_operations_in_flight", "Unfinished operations by phase.", "phase"),
		events:           d("cset_event_ring_events", "Events the replicated ring holds."),
		eventsDropped:    d("cset_event_ring_dropped_total", "Events the replicated ring has forgotten (the oldest beyond its bound)."),
		witnessReachable: d("cset_lease_witness_reachable", "1 when this master's last lease call reached the witness (on the leader; per witness URL).", "witness"),
		witnessRemaining: d("cset_lease_remaining_seconds", "How long this master still holds the witness lease (0 when it does not; per witness URL).", "witness"),
		witnessGranting:  d("cset_lease_held", "1 while a majority of the witnesses grant this master the lease (on the leader)."),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.memberHealth, c.memberAdmin, c.memberLoad, c.memberCap, c.workloads, c.inFlight,
		c.events, c.eventsDropped, c.witnessReachable, c.witnessRemaining, c.witnessGranting} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	g := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	cen := c.s.fsm.Census()
	for _, m := range cen.Members {
		for _, h := range memberHealths {
			g(c.memberHealth, b(m.Health == h), m.Name, h)
		}
		for _, a := range []string{fsm.AdminActive, fsm.AdminDraining, fsm.AdminDisabled} {
			g(c.memberAdmin, b(m.Admin == a), m.Name, a)
		}
		g(c.memberLoad, float64(m.Load), m.Name)
		g(c.memberCap, float64(m.Capacity), m.Name)
	}
	for k, n := range cen.Workloads {
		g(c.workloads, float64(n), k.Status, k.Desired)
	}
	for phase, n := range cen.OperationsInFlight {
		g(c.inFlight, float64(n), phase)
	}
	g(c.events, float64(cen.Events))
	ch <- prometheus.MustNewConstMetric(c.eventsDropped, prometheus.CounterValue, float64(cen.EventsDropped))
	if c.s.witnessStatus == nil {
		return
	}
	wi := c.s.witnessStatus()
	if !wi.GetConfigured() {
		return
	}
	eps := wi.GetWitnesses()
	if len(eps) == 0 {
		g(c.witnessReachable, b(wi.GetReachable()), wi.GetUrl())
		g(c.witnessRemaining, float64(wi.GetRemainingMs())/1000, wi.GetUrl())
	}
	for _, ep := range eps {
		g(c.witnessReachable, b(ep.GetReachable()), ep.GetUrl())
		g(c.witnessRemaining, float64(ep.GetRemainingMs())/1000, ep.GetUrl())
	}
	g(c.witnessGranting, b(wi.GetRemainingMs() > 0))
}
