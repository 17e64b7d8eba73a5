// Command csetdns serves a zone file with cset's dnsserver, for bench/dns.sh: it maps the zone's
// NS records (with their glue) to masters and every other name with A/AAAA records to an online
// workload, taking member and server from a TXT "member=... server=..." record when present.
package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"github.com/miekg/dns"

	"github.com/cset-project/cset/dnsserver"
)

func main() {
	zoneFile := flag.String("zone", "", "zone file to serve")
	origin := flag.String("origin", "cset.test.", "zone origin")
	addr := flag.String("addr", "127.0.0.1:8600", "UDP and TCP listen address")
	sockets := flag.Int("sockets", 0, "UDP sockets (default: number of CPUs)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "cpu profile:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "csetdns", Level: hclog.Info})
	if err := run(*zoneFile, *origin, *addr, *sockets, logger); err != nil {
		logger.Error("csetdns failed", "error", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(zoneFile, origin, addr string, sockets int, logger hclog.Logger) error {
	z, err := readZone(zoneFile, dns.Fqdn(origin))
	if err != nil {
		return err
	}
	s, err := dnsserver.New(dnsserver.Config{Addr: addr, Sockets: sockets}, nil, logger)
	if err != nil {
		return fmt.Errorf("new server: %w", err)
	}
	s.SetZone(z)
	if err := s.Start(); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	logger.Info("serving", "zone", z.Origin, "workloads", len(z.Workloads), "addr", s.UDPAddr().String())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	return s.Close()
}

// readZone converts a zone file to a dnsserver.Zone.
func readZone(path, origin string) (*dnsserver.Zone, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open zone: %w", err)
	}
	defer f.Close()
	z := &dnsserver.Zone{Origin: origin}
	addrs := map[string][]netip.Addr{}
	txt := map[string]string{}
	var names, nsHosts []string
	zp := dns.NewZoneParser(f, origin, path)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		name := strings.ToLower(rr.Header().Name)
		switch rr := rr.(type) {
		case *dns.SOA:
			z.Serial, z.NegativeTTL, z.TTL = rr.Serial, rr.Minttl, rr.Hdr.Ttl
		case *dns.NS:
			nsHosts = append(nsHosts, strings.ToLower(rr.Ns))
		case *dns.A, *dns.AAAA:
			var a netip.Addr
			if v, ok := rr.(*dns.A); ok {
				a, _ = netip.AddrFromSlice(v.A.To4())
			} else {
				a, _ = netip.AddrFromSlice(rr.(*dns.AAAA).AAAA)
			}
			if _, seen := addrs[name]; !seen {
				names = append(names, name)
			}
			addrs[name] = append(addrs[name], a)
			z.TTL = rr.Header().Ttl
		case *dns.TXT:
			txt[name] = strings.Join(rr.Txt, "")
		}
	}
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("parse zone: %w", err)
	}
	isNS := map[string]bool{}
	for _, h := range nsHosts {
		isNS[h] = true
		z.Nameservers = append(z.Nameservers, dnsserver.Nameserver{Name: h, Addrs: addrs[h]})
	}
	for _, name := range names {
		if isNS[name] || !dns.IsSubDomain(origin, name) || name == origin {
			continue
		}
		w := dnsserver.WorkloadRecord{Name: strings.TrimSuffix(name, "."+origin), Online: true, Addrs: addrs[name]}
		for _, kv := range strings.Fields(txt[name]) {
			if v, ok := strings.CutPrefix(kv, "member="); ok {
				w.Member = v
			} else if v, ok := strings.CutPrefix(kv, "server="); ok {
				w.Server = v
			}
		}
		z.Workloads = append(z.Workloads, w)
	}
	return z, nil
}
