package dnsserver

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
)

// digResult is dig's view of one answer.
type digResult struct {
	status   string
	flags    []string
	question string
	sections map[string][]string // "ANSWER", "AUTHORITY", "ADDITIONAL": canonical RR strings
	raw      string
}

// dig runs the real dig against addr and parses its output.
func dig(t testing.TB, addr string, args ...string) digResult {
	t.Helper()
	bin := requireTool(t, "dig")
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	full := append([]string{"@" + host, "-p", port, "+norec", "+time=2", "+tries=2"}, args...)
	out, err := exec.CommandContext(ctx, bin, full...).CombinedOutput()
	if err != nil {
		t.Fatalf("dig %v: %v\n%s", full, err, out)
	}
	return parseDig(t, string(out))
}

func parseDig(t testing.TB, out string) digResult {
	t.Helper()
	r := digResult{sections: map[string][]string{}, raw: out}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.Contains(line, "->>HEADER<<-"):
			if i := strings.Index(line, "status: "); i >= 0 {
				r.status = strings.TrimSuffix(strings.Fields(line[i+8:])[0], ",")
			}
		case strings.HasPrefix(line, ";; flags:"):
			f := strings.TrimPrefix(line, ";; flags:")
			r.flags = strings.Fields(f[:strings.Index(f, ";")])
		case strings.HasPrefix(line, ";; ") && strings.HasSuffix(line, " SECTION:"):
			section = strings.TrimSuffix(strings.TrimPrefix(line, ";; "), " SECTION:")
		case strings.TrimSpace(line) == "":
			section = ""
		case section == "QUESTION":
			r.question = strings.Fields(strings.TrimPrefix(line, ";"))[0]
		case section == "ANSWER" || section == "AUTHORITY" || section == "ADDITIONAL":
			rr, err := dns.NewRR(line)
			if err != nil {
				t.Fatalf("dig printed %q: %v", line, err)
			}
			r.sections[section] = append(r.sections[section], canonicalRR(rr))
		case !strings.HasPrefix(line, ";") && section == "" && strings.TrimSpace(line) != "":
			// +short or AXFR output: records without a section header.
			if rr, err := dns.NewRR(line); err == nil && rr != nil {
				r.sections["ANSWER"] = append(r.sections["ANSWER"], canonicalRR(rr))
			}
		}
	}
	for _, s := range r.sections {
		slices.Sort(s)
	}
	return r
}

func TestInterop_Dig(t *testing.T) {
	t.Parallel()
	requireTool(t, "dig")
	s := startServer(t, newFakeSource(testZone(42)), nil)
	addr := s.UDPAddr().String()
	cases := []struct {
		name          string
		args          []string
		status        string
		flags         []string
		answer, auth  []string
		extra         []string
		question      string
		answerRecords int
	}{
		{name: "A", args: []string{"web.cset.test", "A"}, status: "NOERROR", flags: []string{"qr", "aa"},
			answer: []string{"web.cset.test. 30 IN A 10.0.0.1"}},
		{name: "AAAA over TCP", args: []string{"+tcp", "web.cset.test", "AAAA"}, status: "NOERROR", flags: []string{"qr", "aa"},
			answer: []string{"web.cset.test. 30 IN AAAA 2001:db8::10"}},
		{name: "TXT", args: []string{"web.cset.test", "TXT"}, status: "NOERROR", flags: []string{"qr", "aa"},
			answer: []string{`web.cset.test. 30 IN TXT "member=east server=e1"`}},
		{name: "SRV", args: []string{"_http._tcp.web.cset.test", "SRV"}, status: "NOERROR", flags: []string{"qr", "aa"},
			answer: []string{"_http._tcp.web.cset.test. 30 IN SRV 10 5 80 web.cset.test."},
			extra:  []string{"web.cset.test. 30 IN A 10.0.0.1", "web.cset.test. 30 IN AAAA 2001:db8::10"}},
		{name: "NS", args: []string{"cset.test", "NS"}, status: "NOERROR", flags: []string{"qr", "aa"},
			answer: []string{"cset.test. 30 IN NS m1.ns.cset.test.", "cset.test. 30 IN NS m2.ns.cset.test."},
			extra: []string{"m1.ns.cset.test. 30 IN A 192.0.2.1", "m1.ns.cset.test. 30 IN AAAA 2001:db8::1",
				"m2.ns.cset.test. 30 IN A 192.0.2.2"}},
		{name: "SOA", args: []string{"cset.test", "SOA"}, status: "NOERROR", flags: []string{"qr", "aa"},
			answer: []string{"cset.test. 30 IN SOA m1.ns.cset.test. hostmaster.cset.test. 42 300 60 1209600 5"}},
		{name: "case echoed", args: []string{"WeB.CsEt.TeSt", "A"}, status: "NOERROR", flags: []string{"qr", "aa"},
			question: "WeB.CsEt.TeSt.", answer: []string{"web.cset.test. 30 IN A 10.0.0.1"}},
		{name: "NODATA offline", args: []string{"db.cset.test", "A"}, status: "NOERROR", flags: []string{"qr", "aa"},
			auth: []string{soaNeg}},
		{name: "NXDOMAIN", args: []string{"nope.cset.test", "A"}, status: "NXDOMAIN", flags: []string{"qr", "aa"},
			auth: []string{soaNeg}},
		{name: "REFUSED", args: []string{"example.com", "A"}, status: "REFUSED", flags: []string{"qr"}},
		{name: "RD is copied, RA never set", args: []string{"+rec", "web.cset.test", "A"}, status: "NOERROR",
			flags: []string{"qr", "aa", "rd"}, answer: []string{"web.cset.test. 30 IN A 10.0.0.1"}},
		{name: "ANY", args: []string{"web.cset.test", "ANY"}, status: "NOERROR", flags: []string{"qr", "aa"},
			answer: []string{`web.cset.test. 30 IN HINFO "RFC8482" ""`}},
		{name: "truncated", args: []string{"+noedns", "+ignore", "big.cset.test", "AAAA"}, status: "NOERROR",
			flags: []string{"qr", "aa", "tc"}},
		{name: "EDNS fits", args: []string{"+bufsize=1232", "big.cset.test", "AAAA"}, status: "NOERROR",
			flags: []string{"qr", "aa"}, answerRecords: 30},
		{name: "EDNS version 1", args: []string{"+edns=1", "+noednsnegotiation", "web.cset.test", "A"},
			status: "BADVERS", flags: []string{"qr"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := dig(t, addr, tc.args...)
			if r.status != tc.status || !slices.Equal(r.flags, tc.flags) {
				t.Errorf("status %s flags %v, want %s %v\n%s", r.status, r.flags, tc.status, tc.flags, r.raw)
			}
			if tc.question != "" && r.question != tc.question {
				t.Errorf("question %q, want %q echoed", r.question, tc.question)
			}
			if tc.answerRecords != 0 {
				if len(r.sections["ANSWER"]) != tc.answerRecords {
					t.Errorf("%d answers, want %d", len(r.sections["ANSWER"]), tc.answerRecords)
				}
				return
			}
			for _, sec := range []struct {
				name string
				want []string
			}{{"ANSWER", tc.answer}, {"AUTHORITY", tc.auth}, {"ADDITIONAL", tc.extra}} {
				want := rrStrings(t, sec.want)
				if diff := cmp.Diff(want, r.sections[sec.name], cmp.Transformer("nil", func(s []string) []string {
					if len(s) == 0 {
						return nil
					}
					return s
				})); diff != "" {
					t.Errorf("%s (-want +got):\n%s\n%s", sec.name, diff, r.raw)
				}
			}
		})
	}
	t.Run("AXFR", func(t *testing.T) {
		t.Parallel()
		r := dig(t, addr, "cset.test", "AXFR")
		if n := len(r.sections["ANSWER"]); n != 105 {
			t.Errorf("dig axfr printed %d records, want 105\n%s", n, r.raw)
		}
	})
	t.Run("AXFR refused", func(t *testing.T) {
		t.Parallel()
		refused := startServer(t, newFakeSource(testZone(42)), func(c *Config) { c.AllowTransfer = nil })
		r := dig(t, refused.TCPAddr().String(), "cset.test", "AXFR")
		if !strings.Contains(r.raw, "Transfer failed") || len(r.sections["ANSWER"]) != 0 {
			t.Errorf("dig axfr from a network not allowed:\n%s", r.raw)
		}
	})
}

// freePort returns a port free for both UDP and TCP on 127.0.0.1 at the time of the call.
func freePort(t testing.TB) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		_ = l.Close()
		if err == nil {
			_ = u.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// startNamed runs BIND 9 in the foreground with the given zone statements on a free port and
// returns its address.
func startNamed(t testing.TB, zones string, files map[string]string) string {
	t.Helper()
	bin := requireTool(t, "named")
	dir := t.TempDir()
	port := freePort(t)
	conf := fmt.Sprintf(`options {
	directory "%[1]s";
	pid-file "%[1]s/named.pid";
	session-keyfile "%[1]s/session.key";
	managed-keys-directory "%[1]s";
	listen-on port %[2]d { 127.0.0.1; };
	listen-on-v6 { none; };
	recursion no;
	dnssec-validation no;
	notify no;
};
controls { };
%[3]s
`, dir, port, strings.ReplaceAll(zones, "DIR", dir))
	writeFile(t, filepath.Join(dir, "named.conf"), conf)
	for name, content := range files {
		writeFile(t, filepath.Join(dir, name), content)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-g", "-4", "-n", "1", "-c", filepath.Join(dir, "named.conf"))
	logFile, err := os.Create(filepath.Join(dir, "named.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start named: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait() // killed on purpose
		_ = logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "named.log"))
			t.Logf("named log:\n%s", b)
		}
	})
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// query asks addr over UDP and returns nil on any failure (named may not be up yet).
func query(addr, qname string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(qname, qtype)
	c := &dns.Client{Net: "udp", Timeout: time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		return nil
	}
	return r
}

func soaSerial(addr, zone string) (uint32, bool) {
	r := query(addr, zone, dns.TypeSOA)
	if r == nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		return 0, false
	}
	soa, ok := r.Answer[0].(*dns.SOA)
	if !ok {
		return 0, false
	}
	return soa.Serial, true
}

func TestInterop_BINDSecondary(t *testing.T) {
	t.Parallel()
	requireTool(t, "named")
	port := freePort(t)
	named := startNamed(t, fmt.Sprintf(`zone "cset.test" {
	type secondary;
	primaries port %d { 127.0.0.1; };
	allow-notify { 127.0.0.1; };
	file "DIR/cset.test.db";
};`, port), nil)
	src := newFakeSource(testZone(42))
	startServer(t, src, func(c *Config) {
		c.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		c.Notify = []string{named}
		c.NotifyTimeout = 500 * time.Millisecond
		c.NotifyAttempts = 8
	})
	eventually(t, 60*time.Second, "named to transfer serial 42", func() bool {
		s, ok := soaSerial(named, "cset.test.")
		return ok && s == 42
	})
	r := dig(t, named, "web.cset.test", "TXT")
	if want := rrStrings(t, []string{`web.cset.test. 30 IN TXT "member=east server=e1"`}); !slices.Equal(r.sections["ANSWER"], want) {
		t.Fatalf("named serves %v, want %v", r.sections["ANSWER"], want)
	}

	// A placement change: the NOTIFY makes named transfer at once (refresh is 300 s).
	z := testZone(43)
	z.Workloads[0].Addrs = []netip.Addr{netip.MustParseAddr("10.7.7.7")}
	src.set(z)
	eventually(t, 30*time.Second, "named to follow the NOTIFY to serial 43", func() bool {
		s, ok := soaSerial(named, "cset.test.")
		return ok && s == 43
	})
	r = dig(t, named, "web.cset.test", "A")
	if want := rrStrings(t, []string{"web.cset.test. 30 IN A 10.7.7.7"}); !slices.Equal(r.sections["ANSWER"], want) {
		t.Fatalf("named serves %v after the change, want %v", r.sections["ANSWER"], want)
	}
}

func TestInterop_BINDPrimaryUpdate(t *testing.T) {
	t.Parallel()
	requireTool(t, "named")
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	key := base64.StdEncoding.EncodeToString(secret)
	named := startNamed(t, fmt.Sprintf(`key "cset-key" { algorithm hmac-sha256; secret "%s"; };
zone "upd.test" {
	type primary;
	file "DIR/upd.test.db";
	update-policy { grant cset-key zonesub ANY; };
};`, key), map[string]string{"upd.test.db": `$TTL 60
@ IN SOA ns.upd.test. hostmaster.upd.test. 1 60 60 600 5
@ IN NS ns.upd.test.
ns IN A 127.0.0.1
`})
	eventually(t, 30*time.Second, "named to load upd.test", func() bool {
		_, ok := soaSerial(named, "upd.test.")
		return ok
	})
	res := &results{}
	z := testZone(42)
	src := newFakeSource(z)
	startServer(t, src, func(c *Config) {
		c.Update = &UpdateConfig{Primary: named, Zone: "upd.test.", KeyName: "cset-key", Secret: key,
			Interval: 200 * time.Millisecond, Timeout: 2 * time.Second}
		c.OnUpdateResult = res.record
	})
	digAnswer := func(name, qtype string) []string {
		return dig(t, named, name, qtype).sections["ANSWER"]
	}
	eventually(t, 30*time.Second, "web pushed to BIND", func() bool {
		return slices.Equal(digAnswer("web.upd.test", "A"), rrStrings(t, []string{"web.upd.test. 30 IN A 10.0.0.1"}))
	})
	if got, want := digAnswer("web.upd.test", "TXT"), rrStrings(t, []string{`web.upd.test. 30 IN TXT "member=east server=e1"`}); !slices.Equal(got, want) {
		t.Errorf("TXT at BIND = %v, want %v", got, want)
	}
	if got := digAnswer("db.upd.test", "A"); len(got) != 0 {
		t.Errorf("offline workload at BIND: %v", got)
	}
	if res.count("web ok") < 1 {
		t.Errorf("no successful result reported for web: %v", res.got)
	}

	// A move replaces the record (delete then add).
	z2 := testZone(43)
	z2.Workloads[0].Addrs = []netip.Addr{netip.MustParseAddr("10.0.0.77")}
	src.set(z2)
	eventually(t, 30*time.Second, "the move pushed to BIND", func() bool {
		return slices.Equal(digAnswer("web.upd.test", "A"), rrStrings(t, []string{"web.upd.test. 30 IN A 10.0.0.77"}))
	})

	// Drift made behind cset's back (here: the record deleted with the key) is repaired.
	del := new(dns.Msg)
	del.SetUpdate("upd.test.")
	del.RemoveRRset([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: "web.upd.test.", Rrtype: dns.TypeA}}})
	del.SetTsig("cset-key.", dns.HmacSHA256, 300, time.Now().Unix())
	c := &dns.Client{Net: "tcp", TsigSecret: map[string]string{"cset-key.": key}, Timeout: 5 * time.Second}
	if r, _, err := c.Exchange(del, named); err != nil || r.Rcode != dns.RcodeSuccess {
		t.Fatalf("delete at BIND: %v %v", r, err)
	}
	eventually(t, 30*time.Second, "drift repaired", func() bool {
		return slices.Equal(digAnswer("web.upd.test", "A"), rrStrings(t, []string{"web.upd.test. 30 IN A 10.0.0.77"}))
	})
}
