package dnsserver

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/cset-project/cset/internal/testutil"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// eventually polls cond every 20ms until it holds or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testutil.Poll{Timeout: timeout, Interval: 20 * time.Millisecond}.True(t, what, cond)
}

func startServer(t testing.TB, src RecordSource, mod func(*Config)) *Server {
	t.Helper()
	cfg := Config{Addr: "127.0.0.1:0", Sockets: 2,
		AllowTransfer: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg, src, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func exchange(t testing.TB, network, addr, qname string, qtype uint16, edns uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(qname, qtype)
	if edns != 0 {
		m.SetEdns0(edns, false)
	}
	c := &dns.Client{Net: network, Timeout: 5 * time.Second, UDPSize: 65535}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s %s: %v", network, qname, dns.TypeToString[qtype], err)
	}
	if r.Id != m.Id || r.Question[0] != m.Question[0] {
		t.Fatalf("answer id/question %d %v, want %d %v", r.Id, r.Question, m.Id, m.Question)
	}
	return r
}

func TestServer_UDPAndTCP(t *testing.T) {
	t.Parallel()
	src := newFakeSource(testZone(42))
	reg := prometheus.NewRegistry()
	s := startServer(t, src, func(c *Config) { c.Registerer = reg })
	udp, tcp := s.UDPAddr().String(), s.TCPAddr().String()
	if s.UDPAddr().(*net.UDPAddr).Port != s.TCPAddr().(*net.TCPAddr).Port {
		t.Fatalf("udp %s and tcp %s ports differ", udp, tcp)
	}
	for _, net := range []struct{ network, addr string }{{"udp", udp}, {"tcp", tcp}} {
		r := exchange(t, net.network, net.addr, "WEB.cset.test.", dns.TypeA, 0)
		checkSections(t, r, []string{"web.cset.test. 30 IN A 10.0.0.1"}, nil, nil)
		if !r.Authoritative || r.RecursionAvailable {
			t.Errorf("%s: aa=%v ra=%v", net.network, r.Authoritative, r.RecursionAvailable)
		}
		r = exchange(t, net.network, net.addr, "nope.cset.test.", dns.TypeA, 1232)
		if r.Rcode != dns.RcodeNameError || r.IsEdns0() == nil {
			t.Errorf("%s: NXDOMAIN with OPT expected, got %v", net.network, r)
		}
	}
	// Truncation over UDP only.
	if r := exchange(t, "udp", udp, "big.cset.test.", dns.TypeAAAA, 0); !r.Truncated || len(r.Answer) != 0 {
		t.Errorf("udp without EDNS: tc=%v answers=%d, want truncated", r.Truncated, len(r.Answer))
	}
	if r := exchange(t, "udp", udp, "big.cset.test.", dns.TypeAAAA, 1232); r.Truncated || len(r.Answer) != 30 {
		t.Errorf("udp with EDNS 1232: tc=%v answers=%d, want 30", r.Truncated, len(r.Answer))
	}
	if r := exchange(t, "tcp", tcp, "huge.cset.test.", dns.TypeAAAA, 0); r.Truncated || len(r.Answer) != 60 {
		t.Errorf("tcp: tc=%v answers=%d, want 60", r.Truncated, len(r.Answer))
	}

	// A zone change signalled by the source is served.
	z := testZone(43)
	z.Workloads[0].Addrs = []netip.Addr{netip.MustParseAddr("10.9.9.9")}
	src.set(z)
	eventually(t, 5*time.Second, "the new address", func() bool {
		r := exchange(t, "udp", udp, "web.cset.test.", dns.TypeA, 0)
		return len(r.Answer) == 1 && r.Answer[0].(*dns.A).A.String() == "10.9.9.9"
	})
	if got := counterValue(t, reg, "cset_dns_queries_total", map[string]string{"qtype": "A", "rcode": "NXDOMAIN"}); got != 2 {
		t.Errorf("queries{A,NXDOMAIN} = %v, want 2", got)
	}
}

func TestServer_TransferOverTCP(t *testing.T) {
	t.Parallel()
	s := startServer(t, newFakeSource(testZone(42)), nil)
	m := new(dns.Msg)
	m.SetAxfr("cset.test.")
	tr := &dns.Transfer{}
	ch, err := tr.In(m, s.TCPAddr().String())
	if err != nil {
		t.Fatalf("axfr: %v", err)
	}
	n := 0
	for env := range ch {
		if env.Error != nil {
			t.Fatalf("axfr: %v", env.Error)
		}
		n += len(env.RR)
	}
	if n != 105 {
		t.Errorf("axfr: %d records, want 105", n)
	}

	refused := startServer(t, newFakeSource(testZone(42)), func(c *Config) { c.AllowTransfer = nil })
	ch, err = (&dns.Transfer{}).In(m, refused.TCPAddr().String())
	if err != nil {
		t.Fatalf("axfr: %v", err)
	}
	env := <-ch
	if env.Error == nil {
		t.Fatalf("axfr from a network not allowed succeeded")
	}
}

func TestServer_CloseIdempotentAndStartTwice(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil, nil)
	if err := s.Start(); err == nil {
		t.Fatal("second Start succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// fakeSecondary records the NOTIFYs it receives; it ignores the first `ignore` of them.
type fakeSecondary struct {
	mu      sync.Mutex
	ignore  int
	serials []uint32
}

func (f *fakeSecondary) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Opcode != dns.OpcodeNotify {
		return
	}
	if f.ignore > 0 {
		f.ignore--
		return
	}
	if len(r.Answer) == 1 {
		if soa, ok := r.Answer[0].(*dns.SOA); ok {
			f.serials = append(f.serials, soa.Serial)
		}
	}
	m := new(dns.Msg)
	m.SetReply(r)
	_ = w.WriteMsg(m)
}

func (f *fakeSecondary) has(serial uint32) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.serials {
		if s == serial {
			return true
		}
	}
	return false
}

func startMiekg(t testing.TB, h dns.Handler, network string, mod func(*dns.Server)) string {
	t.Helper()
	started := make(chan struct{})
	srv := &dns.Server{Addr: "127.0.0.1:0", Net: network, Handler: h, NotifyStartedFunc: func() { close(started) }}
	if mod != nil {
		mod(srv)
	}
	go func() { _ = srv.ListenAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	if network == "udp" {
		return srv.PacketConn.LocalAddr().String()
	}
	return srv.Listener.Addr().String()
}

func TestServer_NotifyWithRetry(t *testing.T) {
	t.Parallel()
	sec := &fakeSecondary{ignore: 1}
	addr := startMiekg(t, sec, "udp", nil)
	src := newFakeSource(testZone(42))
	startServer(t, src, func(c *Config) {
		c.Notify = []string{addr}
		c.NotifyTimeout = 200 * time.Millisecond
	})
	eventually(t, 10*time.Second, "notify of serial 42 after one lost", func() bool { return sec.has(42) })
	src.set(testZone(43))
	eventually(t, 10*time.Second, "notify of serial 43", func() bool { return sec.has(43) })
}

func TestServer_WatchClosedStops(t *testing.T) {
	t.Parallel()
	src := newFakeSource(testZone(42))
	s := startServer(t, src, nil)
	close(src.ch)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		_ = s.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("Close hung after the watch channel closed")
	}
}

// counterValue reads one counter from a registry.
func counterValue(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue metric
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}
