package server_test

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/internal/clustertest"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"github.com/miekg/dns"
)

// TestServer_DNSFromState checks that a master answers DNS from the replicated state and that
// RFC 2136 pushes to an external primary land in the event log.
func TestServer_DNSFromState(t *testing.T) {
	t.Parallel()
	// A stand-in primary that accepts every UPDATE and records it.
	ln, err := net.Listen("tcp", "127.0.0.1:0") // cset sends updates over TCP
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var updates []string
	primary := &dns.Server{Listener: ln, MsgAcceptFunc: func(dns.Header) dns.MsgAcceptAction { return dns.MsgAccept }, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if r.Opcode == dns.OpcodeUpdate && len(r.Ns) == 0 {
			m.Rcode = dns.RcodeYXRrset // "the primary differs": cset must push
		} else if r.Opcode == dns.OpcodeUpdate {
			mu.Lock()
			for _, rr := range r.Ns {
				updates = append(updates, rr.String())
			}
			mu.Unlock()
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = primary.ActivateAndServe() }()
	t.Cleanup(func() { _ = primary.Shutdown() })

	c := clustertest.New(t, 1, func(cfg *config.Config) {
		cfg.DNSAddr = "127.0.0.1:0"
		cfg.DNS.Update = &config.DNSUpdateConfig{Primary: ln.Addr().String(), Interval: time.Hour}
	})
	n := c.Nodes[0]
	seed(t, n.Client())
	dnsAddr := n.Server.Addrs().DNS
	ask := func(name string, qtype uint16) (*dns.Msg, error) {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, dnsAddr)
		return r, err
	}
	// Registered, placed nowhere: the name exists with no data; an unknown name does not.
	testutil.Eventually(t, 10*time.Second, func() error {
		r, err := ask("web.cset.example.com.", dns.TypeA)
		if err != nil {
			return err
		}
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 || !r.Authoritative {
			return fmt.Errorf("web: %v", r)
		}
		r, err = ask("nope.cset.example.com.", dns.TypeA)
		if err != nil {
			return err
		}
		if r.Rcode != dns.RcodeNameError {
			return fmt.Errorf("nope: %v", r)
		}
		return nil
	})
	// Every master registers itself and is served as a name server with glue.
	testutil.Eventually(t, 10*time.Second, func() error {
		r, err := ask("cset.example.com.", dns.TypeNS)
		if err != nil {
			return err
		}
		if len(r.Answer) != 1 || !strings.HasPrefix(r.Answer[0].(*dns.NS).Ns, n.ID+".") || len(r.Extra) != 1 {
			return fmt.Errorf("NS answer %v", r)
		}
		return nil
	})
	testutil.Eventually(t, 10*time.Second, func() error {
		evs, err := n.Client().ListEvents(clustertest.Ctx(t), &apiv1.ListEventsRequest{Workload: "web", Limit: 100})
		if err != nil {
			return err
		}
		var seen []string
		for _, e := range evs.GetEvents() {
			if e.GetKind() == "dns" && strings.Contains(e.GetMessage(), "pushed the records of web") {
				return nil
			}
			seen = append(seen, e.GetMessage())
		}
		mu.Lock()
		defer mu.Unlock()
		return fmt.Errorf("no dns push event yet (primary got %d RRs; events %q)", len(updates), seen)
	})
}
