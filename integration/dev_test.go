package integration

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/internal/testutil"
	"github.com/miekg/dns"
)

// devControl is the control API of the ECX simulator embedded in `csetd agent -dev`
// (cmd/csetd.DevControlAddr): fixed, like the dev workloads' service addresses.
const devControl = "127.0.0.1:29100"

// TestDev_ShowsAProbeInAction runs `csetd agent -dev` as a process and checks, through the real
// csetctl, what docs/quickstart.md promises: web converges Online with its HTTP probe passing
// (`workload show web` names the probe and says reachable, DNS answers its address); when its
// service stops answering while ECX still reports it Online, the probe says unreachable (show
// and list), and once the service answers again it is reachable again.
//
// The dev world listens on fixed loopback addresses (the simulator's control API, the
// workloads' services), so this test does not run in parallel with the others; when another
// program holds them (a `make dev` running) it skips, except under CI=true where that fails.
func TestDev_ShowsAProbeInAction(t *testing.T) {
	requireBinaries(t)
	requireDevAddrs(t)
	n := newNode(t, "dev")
	n.start("-dev")
	addr := n.grpcAddr()

	// The dev master declares its set once it serves, and its controller places web.
	var w struct {
		Member      string `json:"member"`
		Status      string `json:"status"`
		ProbeResult struct {
			Reachability string `json:"reachability"`
			Error        string `json:"error"`
		} `json:"probe_result"`
		Addresses map[string][]string `json:"addresses"`
	}
	testutil.Eventually(t, 60*time.Second, func() error {
		if err := ctlJSONErr(t, addr, &w, "workload", "show", "web"); err != nil {
			return err
		}
		if w.Status != "Online" || w.ProbeResult.Reachability != "reachable" {
			return fmt.Errorf("web is %q on %q with probe result %+v, want Online and reachable", w.Status, w.Member, w.ProbeResult)
		}
		return nil
	})
	member := w.Member
	address := w.Addresses[member][0]
	show := ctlOK(t, addr, "workload", "show", "web").stdout
	for _, want := range []string{
		"probe:            http://:8080/ status 200-399 every 2s (timeout 2s, grace 10s, 1 to pass, 3 to fail, dns keep)",
		"reachability:     reachable since ",
		"placement:        " + member + "/",
	} {
		if !strings.Contains(show, want) {
			t.Errorf("workload show web lacks %q:\n%s", want, show)
		}
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		got, err := lookupA(n.dnsAddr(), "web.cset.test.")
		if err != nil {
			return err
		}
		if strings.Join(got, ",") != address {
			return fmt.Errorf("web.cset.test answers %q, want %s", got, address)
		}
		return nil
	})

	// web's service stops answering; ECX still reports it Online, so nothing moves (the dev
	// probe has no failover) but the leader's probe says clients cannot reach it.
	sim := &simProc{control: "http://" + devControl}
	sim.post(t, "/sim/v1/clusters/"+member+"/groups/web/service", map[string]string{"mode": "refuse"})
	testutil.Eventually(t, 30*time.Second, func() error {
		if err := ctlJSONErr(t, addr, &w, "workload", "show", "web"); err != nil {
			return err
		}
		if w.ProbeResult.Reachability != "unreachable" || !strings.Contains(w.ProbeResult.Error, "connection refused") {
			return fmt.Errorf("web's probe result is %+v, want unreachable with connection refused", w.ProbeResult)
		}
		return nil
	})
	if w.Status != "Online" || w.Member != member {
		t.Errorf("web is %s on %s, want still Online on %s", w.Status, w.Member, member)
	}
	show = ctlOK(t, addr, "workload", "show", "web").stdout
	if !strings.Contains(show, "reachability:     unreachable since ") || !strings.Contains(show, "connection refused") {
		t.Errorf("workload show web does not show it unreachable with the probe's error:\n%s", show)
	}
	list := ctlOK(t, addr, "workload", "list").stdout
	if !rowHas(list, "web", "Online, unreachable") {
		t.Errorf("workload list does not show web Online, unreachable:\n%s", list)
	}

	sim.post(t, "/sim/v1/clusters/"+member+"/groups/web/service", map[string]string{"mode": "ok"})
	testutil.Eventually(t, 30*time.Second, func() error {
		if err := ctlJSONErr(t, addr, &w, "workload", "show", "web"); err != nil {
			return err
		}
		if w.ProbeResult.Reachability != "reachable" || w.ProbeResult.Error != "" {
			return fmt.Errorf("web's probe result is %+v, want reachable again", w.ProbeResult)
		}
		return nil
	})
	n.stop()
}

// requireDevAddrs skips the test when the dev world's fixed addresses are taken by another
// program (a developer's `make dev`), or fails it under CI=true, where nothing else runs.
func requireDevAddrs(t *testing.T) {
	t.Helper()
	l, err := net.Listen("tcp", devControl)
	if err == nil {
		l.Close()
		return
	}
	msg := fmt.Sprintf("the dev world's fixed address %s is taken (is `make dev` running?): %v", devControl, err)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg + "; skipped (under CI=true this is a failure)")
}

// rowHas reports whether a table has a row whose first column is name and that contains want.
func rowHas(table, name, want string) bool {
	for _, line := range strings.Split(table, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name && strings.Contains(line, want) {
			return true
		}
	}
	return false
}

// lookupA asks the DNS server at server for the A records of name.
func lookupA(server, name string) ([]string, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, server)
	if err != nil {
		return nil, err
	}
	if r.Rcode != dns.RcodeSuccess {
		return nil, fmt.Errorf("%s: %s", name, dns.RcodeToString[r.Rcode])
	}
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out, nil
}
