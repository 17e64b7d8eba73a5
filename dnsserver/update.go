package dnsserver

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/miekg/dns"
)

// UpdateConfig configures the RFC 2136 push of workload records to an external primary, so that
// an existing DNS server follows cset as it follows ECX's DDNS resource.
type UpdateConfig struct {
	// Primary is the primary server's "host:port".
	Primary string
	// Zone is the zone updated on the primary; workload W is written as "W.<Zone>". Default: the
	// cset zone origin.
	Zone string
	// KeyName, Algorithm (default hmac-sha256.) and Secret (base64) sign every UPDATE with TSIG.
	// An empty KeyName sends unsigned updates.
	KeyName, Algorithm, Secret string
	// Interval is the period of the drift repair pass (default 5m); Timeout bounds each exchange
	// (default 5s).
	Interval, Timeout time.Duration
}

// wanted is the record set cset wants for one workload on the primary.
type wanted struct {
	rrs []dns.RR // A, AAAA and TXT; empty when the workload is offline or removed
	key string   // canonical form for comparison
}

// updater keeps the primary in line with the zone: on every change it syncs the workloads whose
// records changed, and every Interval it checks every workload and repairs drift.
type updater struct {
	cfg      UpdateConfig
	onResult func(string, error)
	log      hclog.Logger
	metrics  *metrics
	client   *dns.Client
	kickCh   chan struct{}

	mu     sync.Mutex
	latest *Zone

	synced map[string]string // workload -> key last confirmed at the primary; run goroutine only
}

func newUpdater(cfg UpdateConfig, onResult func(string, error), log hclog.Logger, m *metrics) (*updater, error) {
	if cfg.Primary == "" {
		return nil, errors.New("dns update: no primary")
	}
	if cfg.Algorithm == "" {
		cfg.Algorithm = dns.HmacSHA256
	}
	cfg.Algorithm = dns.Fqdn(strings.ToLower(cfg.Algorithm))
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Minute
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	c := &dns.Client{Net: "tcp", Timeout: cfg.Timeout}
	if cfg.KeyName != "" {
		if _, err := base64.StdEncoding.DecodeString(cfg.Secret); err != nil {
			return nil, fmt.Errorf("dns update: tsig secret: %w", err)
		}
		cfg.KeyName = dns.Fqdn(strings.ToLower(cfg.KeyName))
		c.TsigSecret = map[string]string{cfg.KeyName: cfg.Secret}
	}
	if onResult == nil {
		onResult = func(string, error) {}
	}
	return &updater{cfg: cfg, onResult: onResult, log: log, metrics: m, client: c,
		kickCh: make(chan struct{}, 1), synced: map[string]string{}}, nil
}

func (u *updater) setZone(z *Zone) {
	u.mu.Lock()
	u.latest = z
	u.mu.Unlock()
	select {
	case u.kickCh <- struct{}{}:
	default:
	}
}

func (u *updater) run(ctx context.Context) {
	t := time.NewTicker(u.cfg.Interval)
	defer t.Stop()
	for {
		repair := false
		select {
		case <-ctx.Done():
			return
		case <-u.kickCh:
		case <-t.C:
			repair = true
		}
		u.mu.Lock()
		z := u.latest
		u.mu.Unlock()
		if z != nil {
			u.syncZone(ctx, z, repair)
		}
	}
}

// syncZone brings the primary in line with z. Outside a repair pass only workloads whose records
// changed since they were last confirmed are touched, and each outcome is reported; a repair pass
// checks every workload and reports only the ones it had to fix.
func (u *updater) syncZone(ctx context.Context, z *Zone, repair bool) {
	zone := u.cfg.Zone
	if zone == "" {
		zone = z.Origin
	}
	zone = dns.CanonicalName(zone)
	want := map[string]wanted{}
	for _, w := range z.Workloads {
		name, err := relName(w.Name, zone)
		if err != nil {
			continue // logged by the index build
		}
		want[strings.ToLower(strings.TrimSuffix(w.Name, "."))] = wantedFor(w, name, z.TTL)
	}
	for name := range u.synced {
		if _, ok := want[name]; !ok {
			want[name] = wanted{}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if ctx.Err() != nil {
			return
		}
		w := want[name]
		if last, ok := u.synced[name]; !repair && ok && last == w.key {
			continue
		}
		fixed, err := u.syncOne(ctx, zone, name, w)
		switch {
		case err != nil:
			delete(u.synced, name)
		case len(w.rrs) == 0:
			delete(u.synced, name)
		default:
			u.synced[name] = w.key
		}
		if !repair || fixed || err != nil {
			u.onResult(name, err)
		}
	}
}

func wantedFor(w WorkloadRecord, name string, ttl uint32) wanted {
	if !w.Online {
		return wanted{}
	}
	var rrs []dns.RR
	for _, a := range w.Addrs {
		if a.IsValid() {
			rrs = append(rrs, addrRR(name, a, ttl))
		}
	}
	rrs = append(rrs, &dns.TXT{Hdr: hdr(name, dns.TypeTXT, ttl), Txt: []string{txtValue(w)}})
	sortRRs(rrs)
	var key strings.Builder
	for _, rr := range rrs {
		key.WriteString(rr.String())
		key.WriteByte('\n')
	}
	return wanted{rrs: rrs, key: key.String()}
}

var updateTypes = []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeTXT}

// syncOne checks with prerequisites whether the primary already holds exactly w for the workload
// and, if not, deletes its A, AAAA and TXT RRsets and adds w in one UPDATE. fixed reports that an
// update was needed.
func (u *updater) syncOne(ctx context.Context, zone, workload string, w wanted) (fixed bool, err error) {
	name := workload + "." + zone
	check := new(dns.Msg)
	check.SetUpdate(zone)
	have := map[uint16]bool{}
	for _, rr := range w.rrs {
		have[rr.Header().Rrtype] = true
	}
	for _, t := range updateTypes {
		if !have[t] {
			check.RRsetNotUsed([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: name, Rrtype: t}}})
		}
	}
	if len(w.rrs) > 0 {
		check.Used(copyRRs(w.rrs)) // Used zeroes the TTL in place
	}
	rcode, err := u.exchange(ctx, check)
	if err != nil {
		u.metrics.updates.WithLabelValues("error").Inc()
		return false, err
	}
	if rcode == dns.RcodeSuccess {
		u.metrics.updates.WithLabelValues("in_sync").Inc()
		return false, nil
	}
	upd := new(dns.Msg)
	upd.SetUpdate(zone)
	for _, t := range updateTypes {
		upd.RemoveRRset([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: name, Rrtype: t}}})
	}
	if len(w.rrs) > 0 {
		upd.Insert(copyRRs(w.rrs))
	}
	rcode, err = u.exchange(ctx, upd)
	if err == nil && rcode != dns.RcodeSuccess {
		err = fmt.Errorf("update %s at %s: %s", name, u.cfg.Primary, dns.RcodeToString[rcode])
	}
	if err != nil {
		u.metrics.updates.WithLabelValues("error").Inc()
		return true, err
	}
	u.metrics.updates.WithLabelValues("ok").Inc()
	u.log.Info("pushed dns update", "name", name, "records", len(w.rrs))
	return true, nil
}

func (u *updater) exchange(ctx context.Context, m *dns.Msg) (int, error) {
	if u.cfg.KeyName != "" {
		m.SetTsig(u.cfg.KeyName, u.cfg.Algorithm, 300, time.Now().Unix())
	}
	r, _, err := u.client.ExchangeContext(ctx, m, u.cfg.Primary)
	if err != nil {
		return 0, fmt.Errorf("update exchange with %s: %w", u.cfg.Primary, err)
	}
	return r.Rcode, nil
}

func copyRRs(rrs []dns.RR) []dns.RR {
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		out[i] = dns.Copy(rr)
	}
	return out
}
