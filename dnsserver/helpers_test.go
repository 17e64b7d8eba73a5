package dnsserver

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cset-project/cset/internal/testutil"
	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"
	"github.com/miekg/dns"
)

// testZone is the zone used by most tests.
func testZone(serial uint32) *Zone {
	big := make([]netip.Addr, 30)
	huge := make([]netip.Addr, 60)
	for i := range huge {
		a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i + 1)})
		if i < len(big) {
			big[i] = a
		}
		huge[i] = a
	}
	return &Zone{
		Origin: "cset.test.", TTL: 30, NegativeTTL: 5, Serial: serial,
		Nameservers: []Nameserver{
			{Name: "m1", Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")}},
			{Name: "m2", Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.2")}},
		},
		Workloads: []WorkloadRecord{
			{Name: "web", Online: true, Member: "east", Server: "e1",
				Addrs:    []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("2001:db8::10")},
				Services: []Service{{Name: "_http._tcp", Port: 80, Priority: 10, Weight: 5}}},
			{Name: "db", Online: false, Member: "east", Server: "e2",
				Addrs:    []netip.Addr{netip.MustParseAddr("10.0.0.2")},
				Services: []Service{{Name: "_pg._tcp", Port: 5432}}},
			{Name: "App", Online: true, Member: "west", Server: "w1", Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.3")}},
			{Name: "big", Online: true, Member: "west", Server: "w1", Addrs: big},
			{Name: "huge", Online: true, Member: "west", Server: "w2", Addrs: huge},
		},
	}
}

// fakeSource is a RecordSource whose zone tests replace.
type fakeSource struct {
	mu   sync.Mutex
	zone *Zone
	ch   chan struct{}
}

func newFakeSource(z *Zone) *fakeSource { return &fakeSource{zone: z, ch: make(chan struct{}, 1)} }

func (f *fakeSource) DNSZone() *Zone {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.zone
}

func (f *fakeSource) Watch() <-chan struct{} { return f.ch }

func (f *fakeSource) set(z *Zone) {
	f.mu.Lock()
	f.zone = z
	f.mu.Unlock()
	select {
	case f.ch <- struct{}{}:
	default:
	}
}

func testLogger(t testing.TB) hclog.Logger {
	t.Helper()
	return testutil.Logger(t, "dns")
}

// newTestServer returns a server (not started) serving z, with 127.0.0.0/8 allowed to transfer.
func newTestServer(t testing.TB, z *Zone, mod func(*Config)) *Server {
	t.Helper()
	cfg := Config{Addr: "127.0.0.1:0", Sockets: 2,
		AllowTransfer: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg, nil, hclog.NewNullLogger())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if z != nil {
		s.SetZone(z)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// recorder is a dns.ResponseWriter that records what is written.
type recorder struct {
	remote net.Addr
	msgs   []*dns.Msg
	raw    [][]byte
}

func newRecorder(tcp bool, ip string) *recorder {
	if tcp {
		return &recorder{remote: &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000}}
	}
	return &recorder{remote: &net.UDPAddr{IP: net.ParseIP(ip), Port: 40000}}
}

func (r *recorder) LocalAddr() net.Addr  { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53} }
func (r *recorder) RemoteAddr() net.Addr { return r.remote }
func (r *recorder) WriteMsg(m *dns.Msg) error {
	r.msgs = append(r.msgs, m)
	return nil
}
func (r *recorder) Write(b []byte) (int, error) {
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		return 0, err
	}
	r.raw = append(r.raw, slices.Clone(b))
	r.msgs = append(r.msgs, m)
	return len(b), nil
}
func (r *recorder) Close() error        { return nil }
func (r *recorder) TsigStatus() error   { return nil }
func (r *recorder) TsigTimersOnly(bool) {}
func (r *recorder) Hijack()             {}
func (r *recorder) Network() string {
	if _, ok := r.remote.(*net.TCPAddr); ok {
		return "tcp"
	}
	return "udp"
}

// rrStrings parses zone-file strings into canonical sorted presentation strings.
func rrStrings(t testing.TB, in []string) []string {
	t.Helper()
	out := make([]string, 0, len(in))
	for _, s := range in {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatalf("bad test record %q: %v", s, err)
		}
		out = append(out, canonicalRR(rr))
	}
	slices.Sort(out)
	return out
}

// canonicalRR prints rr with a lower-case owner name (the answer owner follows the question's
// case through name compression; case-insensitive matching is tested separately).
func canonicalRR(rr dns.RR) string {
	rr = dns.Copy(rr)
	rr.Header().Name = strings.ToLower(rr.Header().Name)
	return rr.String()
}

func sectionStrings(rrs []dns.RR) []string {
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		out = append(out, canonicalRR(rr))
	}
	slices.Sort(out)
	return out
}

// checkSections compares the answer, authority and additional sections with want, sorted.
func checkSections(t testing.TB, got *dns.Msg, answer, ns, extra []string) {
	t.Helper()
	for _, sec := range []struct {
		name      string
		got, want []string
	}{
		{"answer", sectionStrings(got.Answer), rrStrings(t, answer)},
		{"authority", sectionStrings(got.Ns), rrStrings(t, ns)},
		{"additional", sectionStrings(got.Extra), rrStrings(t, extra)},
	} {
		if diff := cmp.Diff(sec.want, sec.got); diff != "" {
			t.Errorf("%s section (-want +got):\n%s", sec.name, diff)
		}
	}
}

// requireTool returns the path of an external tool, skipping the test when it is missing,
// except under CI=true where a missing tool fails the test.
func requireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found but CI=true: install it (Debian packages dnsutils, bind9)", name)
	}
	t.Skipf("%s not installed (Debian packages dnsutils, bind9); skipping interop test", name)
	return ""
}
