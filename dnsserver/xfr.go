package dnsserver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/miekg/dns"
)

// xfrChunk is the number of records per transfer message; 100 small records stay far below the
// 64 KiB TCP message limit even uncompressed.
const xfrChunk = 100

// transfer streams the zone to answer q (AXFR, or IXFR answered with the full zone as RFC 1995
// allows). An IXFR from a client that already has the current serial gets the SOA alone.
func (s *Server) transfer(q *dns.Msg, send func(*dns.Msg) error) error {
	idx := s.idx.Load()
	if idx == nil {
		return errors.New("no zone")
	}
	qtype := q.Question[0].Qtype
	records := append(append([]dns.RR{}, idx.records()...), idx.soa)
	if qtype == dns.TypeIXFR && len(q.Ns) == 1 {
		if soa, ok := q.Ns[0].(*dns.SOA); ok && !serialLess(soa.Serial, idx.serial) {
			records = []dns.RR{idx.soa}
		}
	}
	for start := 0; start < len(records); start += xfrChunk {
		m := new(dns.Msg)
		m.Id, m.Response, m.Authoritative, m.Compress = q.Id, true, true, true
		m.Question = q.Question
		m.Answer = records[start:min(start+xfrChunk, len(records))]
		if err := send(m); err != nil {
			s.metrics.transfer(qtype, "error")
			return fmt.Errorf("%s of %s serial %d: %w", dns.TypeToString[qtype], idx.origin, idx.serial, err)
		}
	}
	s.metrics.transfer(qtype, "ok")
	s.log.Info("zone transferred", "type", dns.TypeToString[qtype], "serial", idx.serial, "records", len(records))
	return nil
}

// serialLess compares serials in RFC 1982 arithmetic.
func serialLess(a, b uint32) bool {
	return a != b && int32(b-a) > 0
}

// notifier sends a NOTIFY to every configured secondary when kicked, retrying with backoff.
type notifier struct {
	s     *Server
	kicks []chan struct{}
}

func newNotifier(s *Server) *notifier {
	n := &notifier{s: s}
	for range s.cfg.Notify {
		n.kicks = append(n.kicks, make(chan struct{}, 1))
	}
	return n
}

// kick asks for a NOTIFY of the current serial to every secondary; kicks coalesce.
func (n *notifier) kick() {
	for _, k := range n.kicks {
		select {
		case k <- struct{}{}:
		default:
		}
	}
}

func (n *notifier) start() {
	for i, target := range n.s.cfg.Notify {
		n.s.goFunc(func() { n.run(target, n.kicks[i]) })
	}
}

func (n *notifier) run(target string, kick <-chan struct{}) {
	s := n.s
	log := s.log.With("secondary", target)
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-kick:
		}
		var err error
		for attempt := 0; attempt < s.cfg.NotifyAttempts; attempt++ {
			if attempt > 0 && !sleepCtx(s.ctx, time.Duration(1<<(attempt-1))*time.Second) {
				return
			}
			idx := s.idx.Load()
			if err = sendNotify(s.ctx, target, idx.soa, s.cfg.NotifyTimeout); err == nil {
				s.metrics.notifies.WithLabelValues("ok").Inc()
				log.Debug("notify acknowledged", "serial", idx.serial)
				break
			}
			s.metrics.notifies.WithLabelValues("error").Inc()
			log.Debug("notify failed", "serial", idx.serial, "attempt", attempt+1, "error", err)
		}
		if err != nil && s.ctx.Err() == nil {
			log.Warn("notify given up", "attempts", s.cfg.NotifyAttempts, "error", err)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// sendNotify sends one NOTIFY for soa's zone over UDP and checks the acknowledgement.
func sendNotify(ctx context.Context, target string, soa *dns.SOA, timeout time.Duration) error {
	m := new(dns.Msg)
	m.SetNotify(soa.Hdr.Name)
	m.Answer = []dns.RR{soa}
	c := &dns.Client{Net: "udp", Timeout: timeout}
	r, _, err := c.ExchangeContext(ctx, m, target)
	if err != nil {
		return fmt.Errorf("notify %s: %w", target, err)
	}
	if r.Opcode != dns.OpcodeNotify || r.Rcode != dns.RcodeSuccess {
		return fmt.Errorf("notify %s: answered %s %s", target, dns.OpcodeToString[r.Opcode], dns.RcodeToString[r.Rcode])
	}
	return nil
}
