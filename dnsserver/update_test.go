package dnsserver

import (
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const testTSIGSecret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMyYg=="

// fakePrimary is a minimal RFC 2136 primary: it verifies TSIG, evaluates RRset prerequisites and
// applies RRset deletions and additions to an in-memory table.
type fakePrimary struct {
	mu      sync.Mutex
	rrsets  map[string][]string // "name type" -> sorted rdata strings
	updates int
}

func (f *fakePrimary) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	switch {
	case r.IsTsig() == nil || w.TsigStatus() != nil:
		m.Rcode = dns.RcodeNotAuth
	case r.Opcode != dns.OpcodeUpdate:
		m.Rcode = dns.RcodeRefused
	default:
		m.Rcode = f.apply(r)
	}
	if t := r.IsTsig(); t != nil {
		m.SetTsig(t.Hdr.Name, t.Algorithm, 300, time.Now().Unix())
	}
	_ = w.WriteMsg(m)
}

func rrKey(rr dns.RR) string {
	return strings.ToLower(rr.Header().Name) + " " + dns.TypeToString[rr.Header().Rrtype]
}

func rdata(rr dns.RR) string {
	return strings.TrimPrefix(rr.String(), rr.Header().String())
}

func (f *fakePrimary) apply(r *dns.Msg) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	want := map[string][]string{}
	for _, rr := range r.Answer {
		switch rr.Header().Class {
		case dns.ClassNONE:
			if len(f.rrsets[rrKey(rr)]) != 0 {
				return dns.RcodeYXRrset
			}
		case dns.ClassINET:
			want[rrKey(rr)] = append(want[rrKey(rr)], rdata(rr))
		}
	}
	for k, v := range want {
		slices.Sort(v)
		if !slices.Equal(v, f.rrsets[k]) {
			return dns.RcodeNXRrset
		}
	}
	for _, rr := range r.Ns {
		k := rrKey(rr)
		switch rr.Header().Class {
		case dns.ClassANY:
			delete(f.rrsets, k)
		case dns.ClassINET:
			f.rrsets[k] = append(f.rrsets[k], rdata(rr))
			slices.Sort(f.rrsets[k])
		}
	}
	if len(r.Ns) > 0 {
		f.updates++
	}
	return dns.RcodeSuccess
}

func (f *fakePrimary) get(key string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.rrsets[key])
}

func (f *fakePrimary) set(key string, v []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rrsets[key] = v
}

// results collects OnUpdateResult calls.
type results struct {
	mu  sync.Mutex
	got []string
}

func (r *results) record(workload string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := workload + " ok"
	if err != nil {
		s = workload + " error: " + err.Error()
	}
	r.got = append(r.got, s)
}

func (r *results) count(s string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, g := range r.got {
		if g == s {
			n++
		}
	}
	return n
}

func TestServer_UpdatePushesChangesAndRepairsDrift(t *testing.T) {
	t.Parallel()
	primary := &fakePrimary{rrsets: map[string][]string{}}
	addr := startMiekg(t, primary, "tcp", func(s *dns.Server) {
		s.TsigSecret = map[string]string{"cset-key.": testTSIGSecret}
		s.MsgAcceptFunc = func(dns.Header) dns.MsgAcceptAction { return dns.MsgAccept }
	})
	res := &results{}
	z := &Zone{Origin: "cset.test.", TTL: 30, NegativeTTL: 5, Serial: 1, Workloads: []WorkloadRecord{
		{Name: "web", Online: true, Member: "east", Server: "e1", Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.1")}},
		{Name: "db", Online: false},
	}}
	src := newFakeSource(z)
	startServer(t, src, func(c *Config) {
		c.Update = &UpdateConfig{Primary: addr, Zone: "example.org.", KeyName: "cset-key", Secret: testTSIGSecret,
			Interval: 100 * time.Millisecond, Timeout: 2 * time.Second}
		c.OnUpdateResult = res.record
	})
	eventually(t, 10*time.Second, "web pushed", func() bool {
		return slices.Equal(primary.get("web.example.org. A"), []string{"10.0.0.1"}) && res.count("web ok") >= 1
	})
	if got := primary.get("web.example.org. TXT"); !slices.Equal(got, []string{`"member=east server=e1"`}) {
		t.Errorf("TXT at the primary = %v", got)
	}
	if got := res.count("db ok"); got != 1 {
		t.Errorf("db (offline, nothing at the primary) reported %d times, want once", got)
	}

	// A move is pushed as delete + add.
	z2 := *z
	z2.Serial = 2
	z2.Workloads = []WorkloadRecord{
		{Name: "web", Online: true, Member: "west", Server: "w1", Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.9")}},
	}
	src.set(&z2)
	eventually(t, 10*time.Second, "move pushed", func() bool {
		return slices.Equal(primary.get("web.example.org. A"), []string{"10.0.0.9"})
	})

	// Drift at the primary is repaired by the periodic pass and reported.
	before := res.count("web ok")
	primary.set("web.example.org. A", []string{"192.0.2.66"})
	eventually(t, 10*time.Second, "drift repaired", func() bool {
		return slices.Equal(primary.get("web.example.org. A"), []string{"10.0.0.9"}) && res.count("web ok") > before
	})
	// Repair passes that find nothing to fix report nothing.
	stable := res.count("web ok")
	updates := func() int { primary.mu.Lock(); defer primary.mu.Unlock(); return primary.updates }
	u0 := updates()
	time.Sleep(350 * time.Millisecond) // let at least three repair passes run; we assert nothing changed
	if res.count("web ok") != stable || updates() != u0 {
		t.Errorf("repair passes without drift reported %d results and sent %d updates", res.count("web ok")-stable, updates()-u0)
	}
}

func TestServer_UpdateBadKeyReported(t *testing.T) {
	t.Parallel()
	primary := &fakePrimary{rrsets: map[string][]string{}}
	addr := startMiekg(t, primary, "tcp", func(s *dns.Server) {
		s.TsigSecret = map[string]string{"cset-key.": testTSIGSecret}
		s.MsgAcceptFunc = func(dns.Header) dns.MsgAcceptAction { return dns.MsgAccept }
	})
	res := &results{}
	startServer(t, newFakeSource(testZone(1)), func(c *Config) {
		c.Update = &UpdateConfig{Primary: addr, KeyName: "other-key", Secret: testTSIGSecret, Timeout: 500 * time.Millisecond}
		c.OnUpdateResult = res.record
	})
	eventually(t, 10*time.Second, "an error reported", func() bool {
		res.mu.Lock()
		defer res.mu.Unlock()
		for _, g := range res.got {
			if strings.Contains(g, " error: ") {
				return true
			}
		}
		return false
	})
}

func TestNew_UpdateConfigErrors(t *testing.T) {
	t.Parallel()
	for _, u := range []UpdateConfig{{}, {Primary: "127.0.0.1:53", KeyName: "k", Secret: "not base64!"}} {
		if _, err := New(Config{Update: &u}, nil, nil); err == nil {
			t.Errorf("New accepted update config %+v", u)
		}
	}
}
