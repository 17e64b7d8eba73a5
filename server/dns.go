package server

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/dnsserver"
	"github.com/cset-project/cset/fsm"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
)

// dnsSource adapts the replicated state to dnsserver.RecordSource. DNS is always a local read.
type dnsSource struct {
	s     *Server
	ch    chan struct{}
	zones zoneCache
}

// DNSZone builds the zone from the local state; nil until the cluster set has a zone.
func (d *dnsSource) DNSZone() *dnsserver.Zone { return d.zones.zone(d.s.fsm.Data()) }

// Watch signals whenever the DNS serial changes.
func (d *dnsSource) Watch() <-chan struct{} { return d.ch }

func (d *dnsSource) run(ctx context.Context) {
	last := d.s.fsm.DNSSerial()
	for {
		watch := d.s.fsm.Watch()
		if cur := d.s.fsm.DNSSerial(); cur != last {
			last = cur
			select {
			case d.ch <- struct{}{}:
			default:
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-watch:
		}
	}
}

// zoneCache makes the zone of each new state from the one before: the state shares every record
// a change did not touch (fsm.Data), so a workload whose record is the same pointer, with every
// member's health as before, keeps its WorkloadRecord, and the sorted order of the names is kept
// while the set of names is the same. A change then costs one pass over the workloads instead of
// a sort and a record per workload.
type zoneCache struct {
	mu      sync.Mutex
	health  string // every member's name and health, as workloadRecord reads them
	records map[string]cachedRecord
	names   []string // the workloads' names, sorted
}

type cachedRecord struct {
	w   *fsmv1.Workload
	rec dnsserver.WorkloadRecord
}

// zone returns the zone of d; nil until the cluster set has a zone.
func (c *zoneCache) zone(d *fsm.Data) *dnsserver.Zone {
	cs := d.ClusterSet
	if cs == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	z := &dnsserver.Zone{Origin: cs.Zone, TTL: cs.TtlSeconds, NegativeTTL: cs.NegativeTtlSeconds, Serial: uint32(d.DNSSerial)}
	for _, m := range d.SortedMasters() {
		ns := dnsserver.Nameserver{Name: m.Id}
		if host, _, err := net.SplitHostPort(m.DnsAddr); err == nil {
			if a, err := netip.ParseAddr(host); err == nil && !a.IsUnspecified() {
				ns.Addrs = append(ns.Addrs, a)
			}
		}
		z.Nameservers = append(z.Nameservers, ns)
	}
	var hb strings.Builder
	for _, name := range slices.Sorted(maps.Keys(d.Members)) {
		hb.WriteString(name + "\x00" + d.Members[name].GetHealth() + "\x00")
	}
	if health := hb.String(); health != c.health || c.records == nil {
		c.health, c.records = health, make(map[string]cachedRecord, len(d.Workloads))
	}
	for name, w := range d.Workloads {
		if cr, ok := c.records[name]; !ok || cr.w != w {
			c.records[name] = cachedRecord{w: w, rec: workloadRecord(d, w)}
		}
	}
	// The names changed when some were removed (records holds more than the state) or only
	// added (the state holds more than names).
	removed := len(c.records) != len(d.Workloads)
	if removed {
		for name := range c.records {
			if d.Workloads[name] == nil {
				delete(c.records, name)
			}
		}
	}
	if removed || len(c.names) != len(d.Workloads) {
		c.names = slices.Sorted(maps.Keys(d.Workloads))
	}
	z.Workloads = make([]dnsserver.WorkloadRecord, 0, len(c.names))
	for _, name := range c.names {
		z.Workloads = append(z.Workloads, c.records[name].rec)
	}
	return z
}

// workloadRecord is what DNS answers for w: its address on the member where it is Online, and
// never an address on a member that is down (fenced), whatever was last observed there, nor
// one its probe found unreachable when its probe says dns: withhold.
func workloadRecord(d *fsm.Data, w *fsmv1.Workload) dnsserver.WorkloadRecord {
	r := dnsserver.WorkloadRecord{Name: w.Name}
	p := w.Placement
	withheld := p != nil && p.Reachability == fsm.ReachabilityUnreachable && w.GetProbe().GetDns() == fsm.ProbeDNSWithhold
	if p != nil && p.Status == fsm.StatusOnline && d.Members[p.Member].GetHealth() != fsm.HealthDown && !withheld {
		r.Online, r.Member, r.Server = true, p.Member, p.Server
		for _, a := range w.Addresses[p.Member].GetAddresses() {
			if ip, err := netip.ParseAddr(a); err == nil {
				r.Addrs = append(r.Addrs, ip)
			}
		}
	}
	for _, s := range w.Services {
		r.Services = append(r.Services, dnsserver.Service{Name: s.Name, Port: uint16(s.Port), Priority: uint16(s.Priority), Weight: uint16(s.Weight)})
	}
	return r
}

// recordDNSUpdate puts the outcome of an RFC 2136 push in the event log. Every master pushes
// (each push first checks what the primary holds, so repeats are harmless); only the leader
// records, so the timeline has one line per change.
func (s *Server) recordDNSUpdate(workload string, err error) {
	if !s.IsLeader() {
		if err != nil {
			s.logger.Warn("dns update push failed", "workload", workload, "error", err)
		}
		return
	}
	ev := &fsmv1.Event{Kind: "dns", Severity: "info", Workload: workload, Message: fmt.Sprintf("pushed the records of %s to %s", workload, s.cfg.DNS.Update.Primary)}
	if err != nil {
		ev.Severity, ev.Message = "error", fmt.Sprintf("pushing the records of %s to %s failed: %v", workload, s.cfg.DNS.Update.Primary, err)
	}
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	if _, aerr := s.raftApply(ctx, &fsmv1.LogEntry{Actor: "dns", Command: &fsmv1.LogEntry_AppendEvents{AppendEvents: &fsmv1.AppendEventsCommand{Events: []*fsmv1.Event{ev}}}}); aerr != nil {
		s.logger.Warn("recording a dns update failed", "workload", workload, "error", aerr)
	}
}

// setupDNS creates the DNS server when -dns-addr is set; Start opens its sockets.
func (s *Server) setupDNS() error {
	if s.cfg.DNSAddr == "" || s.cfg.Tiebreaker() {
		return nil // a tie-breaker serves no DNS: clients never ask the third site
	}
	var allow []netip.Prefix
	for _, p := range s.cfg.DNS.AllowTransfer {
		pf, err := netip.ParsePrefix(p)
		if err != nil {
			return fmt.Errorf("dns allow_transfer %q: %w", p, err)
		}
		allow = append(allow, pf)
	}
	src := &dnsSource{s: s, ch: make(chan struct{}, 1)}
	dcfg := dnsserver.Config{Addr: s.cfg.DNSAddr, AllowTransfer: allow, Notify: s.cfg.DNS.Notify, Registerer: s.registry, RateLimit: s.cfg.DNS.RateLimit}
	if u := s.cfg.DNS.Update; u != nil {
		uc := &dnsserver.UpdateConfig{Primary: u.Primary, Zone: u.Zone, KeyName: u.KeyName, Algorithm: u.Algorithm, Interval: u.Interval}
		if u.SecretFile != "" {
			b, err := os.ReadFile(u.SecretFile)
			if err != nil {
				return fmt.Errorf("dns update secret: %w", err)
			}
			uc.Secret = strings.TrimSpace(string(b))
		}
		dcfg.Update, dcfg.OnUpdateResult = uc, s.recordDNSUpdate
	}
	ds, err := dnsserver.New(dcfg, src, s.logger.Named("dns"))
	if err != nil {
		return fmt.Errorf("dns server: %w", err)
	}
	if err := ds.Start(); err != nil {
		return fmt.Errorf("dns server on %s: %w", s.cfg.DNSAddr, err)
	}
	s.dns = ds
	s.addrs.DNS = config.Advertised(s.cfg.AdvertiseDNS, ds.UDPAddr().String())
	s.closers = append(s.closers, ds.Close)
	ctx, cancel := context.WithCancel(s.ctx)
	s.closers = append(s.closers, func() error { cancel(); return nil })
	go src.run(ctx)
	return nil
}
