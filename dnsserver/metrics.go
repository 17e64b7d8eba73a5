package dnsserver

import (
	"fmt"
	"sync/atomic"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// qtypeLabels are the qtypes counted under their own label; the rest count as "other".
var qtypeLabels = []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeTXT, dns.TypeSRV, dns.TypeNS, dns.TypeSOA,
	dns.TypeANY, dns.TypeAXFR, dns.TypeIXFR}

const qtypeOther = 9

func qtypeSlot(t uint16) int {
	for i, q := range qtypeLabels {
		if q == t {
			return i
		}
	}
	return qtypeOther
}

// metrics holds the server's counters. Query counters are resolved once per (qtype, rcode) and
// cached, so counting a query is one atomic add.
type metrics struct {
	queriesVec *prometheus.CounterVec
	queries    [qtypeOther + 1][16]atomic.Pointer[prometheus.Counter]
	dropped    prometheus.Counter
	transfers  *prometheus.CounterVec
	notifies   *prometheus.CounterVec
	updates    *prometheus.CounterVec
	limitSlip  prometheus.Counter
	limitDrop  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		queriesVec: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cset_dns_queries_total",
			Help: "DNS queries answered, by query type and response code."}, []string{"qtype", "rcode"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "cset_dns_dropped_total",
			Help: "DNS packets dropped without an answer (responses, unparseable)."}),
		transfers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cset_dns_transfers_total",
			Help: "Zone transfers, by type and result."}, []string{"type", "result"}),
		notifies: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cset_dns_notifies_total",
			Help: "NOTIFY messages sent to secondaries, by result."}, []string{"result"}),
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cset_dns_updates_total",
			Help: "RFC 2136 updates pushed to the primary, by result."}, []string{"result"}),
	}
	limited := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cset_dns_rate_limited_total",
		Help: "UDP answers held back by response rate limiting: slipped (sent truncated) or dropped."}, []string{"action"})
	m.limitSlip, m.limitDrop = limited.WithLabelValues("slip"), limited.WithLabelValues("drop")
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.queriesVec, m.dropped, m.transfers, m.notifies, m.updates, limited} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register dns metrics: %w", err)
		}
	}
	return m, nil
}

// query counts one answered query; out is the answer.
func (m *metrics) query(qtype uint16, out []byte) {
	slot, rcode := qtypeSlot(qtype), int(out[3]&0x0f)
	if c := m.queries[slot][rcode].Load(); c != nil {
		(*c).Inc()
		return
	}
	label := "other"
	if slot != qtypeOther {
		label = dns.TypeToString[qtypeLabels[slot]]
	}
	rc, ok := dns.RcodeToString[rcode]
	if !ok {
		rc = fmt.Sprint(rcode)
	}
	c := m.queriesVec.WithLabelValues(label, rc)
	m.queries[slot][rcode].Store(&c)
	c.Inc()
}

func (m *metrics) drop() { m.dropped.Inc() }

func (m *metrics) rateLimited(action string) {
	if action == "slip" {
		m.limitSlip.Inc()
	} else {
		m.limitDrop.Inc()
	}
}

func (m *metrics) transfer(qtype uint16, result string) {
	m.transfers.WithLabelValues(dns.TypeToString[qtype], result).Inc()
}
