package ecxsim_test

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cset-project/cset/ecxsim"
)

// serveAddr returns a loopback address for a group's service with a port that was free a
// moment ago: on a random 127.x.y.z (Linux routes all of 127/8 to lo), so that parallel tests
// and other packages do not meet on it, or on 127.0.0.1 where such addresses need configuring.
func serveAddr(t testing.TB) string {
	t.Helper()
	ip := fmt.Sprintf("127.%d.%d.%d", 100+rand.IntN(100), rand.IntN(256), 1+rand.IntN(254))
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatalf("free service address: %v", err)
		}
	}
	defer l.Close()
	return l.Addr().String()
}

// serveCluster is oneCluster with g1 serving addr.
func serveCluster(addr string) ecxsim.Config {
	cfg := oneCluster()
	cfg.Clusters[0].Groups[0].Serve = []string{addr}
	return cfg
}

// refused returns nil when a TCP connect to addr is refused.
func refused(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("%s accepts connections", addr)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("connect to %s: %v, want connection refused", addr, err)
	}
	return nil
}

func mustRefuse(t testing.TB, what, addr string) {
	t.Helper()
	if err := refused(addr); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// mustConnect checks that a plain TCP connect-and-close to addr succeeds.
func mustConnect(t testing.TB, what, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("%s: TCP connect: %v", what, err)
	}
	c.Close()
}

// probe sends GET /health to addr with the given timeout.
func probe(addr string, timeout time.Duration) (int, string, error) {
	return probeURL("http://"+addr+"/health", timeout, nil)
}

func probeURL(url string, timeout time.Duration, state *tls.ConnectionState) (int, string, error) {
	c := &http.Client{Timeout: timeout, Transport: &http.Transport{
		DisableKeepAlives: true,
		// Like cset's https probes: reachability, not identity.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	if state != nil && resp.TLS != nil {
		*state = *resp.TLS
	}
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// mustServe checks that an HTTP probe of addr gets 200 naming cluster, group and server.
func mustServe(t testing.TB, what, addr, cluster, group, server string) {
	t.Helper()
	code, body, err := probe(addr, 5*time.Second)
	want := fmt.Sprintf("cluster=%s group=%s server=%s\n", cluster, group, server)
	if err != nil || code != http.StatusOK || body != want {
		t.Fatalf("%s: GET %s: %d %q %v, want 200 %q", what, addr, code, body, err, want)
	}
}

// serviceOf returns the service of a group from Sim.State, with the group's status.
func serviceOf(t testing.TB, sim *ecxsim.Sim, cluster, group string) (ecxsim.ServiceState, string) {
	t.Helper()
	for _, c := range sim.State().Clusters {
		for _, g := range c.Groups {
			if c.Name == cluster && g.Name == group {
				if g.Service == nil {
					t.Fatalf("group %s/%s has no service in the state", cluster, group)
				}
				return *g.Service, g.Status
			}
		}
	}
	t.Fatalf("group %s/%s not in the state", cluster, group)
	return ecxsim.ServiceState{}, ""
}

// TestService_ListensOnlyWhileOnline: the address answers once the group is Online and is
// closed while it starts, from the instant a stop begins, when its server or cluster goes down
// and when the simulator closes; after a failover it answers for the new server.
func TestService_ListensOnlyWhileOnline(t *testing.T) {
	t.Parallel()
	addr := serveAddr(t)
	cfg := serveCluster(addr)
	cfg.Clusters[0].Groups[0].StartDuration = 300 * time.Millisecond
	sim := startSim(t, cfg)
	s1 := sim.ServerURL("c", "s1")
	mustRefuse(t, "before any start", addr)

	mustOK(t, "start", call(t, http.MethodPost, s1+"/api/v1/groups/g1/start", `{"target":"s1"}`))
	// While the start is pending the address is down. The listener opens under the cluster lock
	// together with the transition to Online, so a connect between two states that both say
	// "Online Pending" happened before it; on a machine too slow to see the pending state the
	// check is skipped.
	if _, st := serviceOf(t, sim, "c", "g1"); st == ecxsim.StatusOnlinePending {
		err := refused(addr)
		if _, st := serviceOf(t, sim, "c", "g1"); st == ecxsim.StatusOnlinePending && err != nil {
			t.Fatalf("while Online Pending: %v", err)
		}
	}
	eventually(t, "g1 online on s1", groupIs(t, s1, "g1", "Online", "s1"))
	// Online and listening change together: no wait.
	mustServe(t, "online", addr, "c", "g1", "s1")
	mustConnect(t, "online", addr)
	// HTTPS on the same address, with a certificate for its IP.
	var cs tls.ConnectionState
	code, body, err := probeURL("https://"+addr+"/", 5*time.Second, &cs)
	if err != nil || code != http.StatusOK || body != "cluster=c group=g1 server=s1\n" || len(cs.PeerCertificates) == 0 {
		t.Fatalf("https: %d %q %v", code, body, err)
	}
	host, _, _ := net.SplitHostPort(addr)
	if err := cs.PeerCertificates[0].VerifyHostname(host); err != nil {
		t.Errorf("the service certificate does not name the address: %v", err)
	}
	svc, _ := serviceOf(t, sim, "c", "g1")
	if !svc.Listening || svc.Server != "s1" || svc.Mode != ecxsim.ServiceOK || len(svc.Addresses) != 1 ||
		svc.Addresses[0].Address != addr || !svc.Addresses[0].Listening || svc.Addresses[0].Error != "" {
		t.Fatalf("state while online: %+v", svc)
	}

	// The stop's answer comes after the listener closed.
	mustOK(t, "stop", call(t, http.MethodPost, s1+"/api/v1/groups/g1/stop", ""))
	mustRefuse(t, "once the stop began", addr)
	eventually(t, "g1 offline", groupIs(t, s1, "g1", "Offline", "None"))
	mustRefuse(t, "offline", addr)
	if svc, _ := serviceOf(t, sim, "c", "g1"); svc.Listening || svc.Server != "" || svc.Addresses[0].Listening {
		t.Fatalf("state while offline: %+v", svc)
	}

	// A server failure: down at once, up on the next server after the failover.
	mustOK(t, "start again", call(t, http.MethodPost, s1+"/api/v1/groups/g1/start", `{"target":"s1"}`))
	eventually(t, "g1 online on s1 again", groupIs(t, s1, "g1", "Online", "s1"))
	mustServe(t, "online again", addr, "c", "g1", "s1")
	if err := sim.ServerDown("c", "s1"); err != nil {
		t.Fatal(err)
	}
	mustRefuse(t, "server down", addr)
	s2 := sim.ServerURL("c", "s2")
	eventually(t, "g1 failed over to s2", groupIs(t, s2, "g1", "Online", "s2"))
	mustServe(t, "after the failover", addr, "c", "g1", "s2")

	if err := sim.ClusterDown("c"); err != nil {
		t.Fatal(err)
	}
	mustRefuse(t, "cluster down", addr)

	if err := sim.ClusterUp("c"); err != nil {
		t.Fatal(err)
	}
	mustOK(t, "start after cluster up", call(t, http.MethodPost, s1+"/api/v1/groups/g1/start", `{"target":"s2"}`))
	eventually(t, "g1 online on s2", groupIs(t, s1, "g1", "Online", "s2"))
	mustServe(t, "after cluster up", addr, "c", "g1", "s2")
	if err := sim.Close(); err != nil {
		t.Fatal(err)
	}
	mustRefuse(t, "after Close", addr)
}

// TestService_Modes: each mode while ECX reports the group Online, through the Go API and the
// control API; the mode outlives a stop and a start.
func TestService_Modes(t *testing.T) {
	t.Parallel()
	addr := serveAddr(t)
	sim := startSim(t, serveCluster(addr))
	s1 := sim.ServerURL("c", "s1")
	mustOK(t, "start", call(t, http.MethodPost, s1+"/api/v1/groups/g1/start", `{"target":"s1"}`))
	eventually(t, "g1 online", groupIs(t, s1, "g1", "Online", "s1"))
	mustServe(t, "ok", addr, "c", "g1", "s1")
	stillOnline := func(what string) {
		t.Helper()
		if err := groupIs(t, s1, "g1", "Online", "s1")(); err != nil {
			t.Fatalf("%s: ECX must go on reporting the group Online: %v", what, err)
		}
	}

	// timeout: the TCP connect succeeds, the HTTP request is never answered.
	if err := sim.SetServiceMode("c", "g1", ecxsim.ServiceTimeout); err != nil {
		t.Fatal(err)
	}
	mustConnect(t, "timeout", addr)
	var ne net.Error
	if code, body, err := probe(addr, 300*time.Millisecond); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("timeout: GET answered %d %q %v, want a client timeout", code, body, err)
	}
	if code, body, err := probeURL("https://"+addr+"/", 300*time.Millisecond, nil); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("timeout: https GET answered %d %q %v, want a client timeout", code, body, err)
	}
	stillOnline("timeout")
	// A request held by timeout is answered by the next mode.
	held := make(chan error, 1)
	go func() {
		code, body, err := probe(addr, waitLimit)
		if err == nil && (code != http.StatusOK || !strings.Contains(body, "server=s1")) {
			err = fmt.Errorf("got %d %q", code, body)
		}
		held <- err
	}()
	eventually(t, "the request is held", func() error {
		if svc, _ := serviceOf(t, sim, "c", "g1"); svc.HeldRequests != 1 {
			return fmt.Errorf("held requests: %d", svc.HeldRequests)
		}
		return nil
	})

	if code, body := controlPost(t, sim, "/sim/v1/clusters/c/groups/g1/service", `{"mode":"ok"}`); code != http.StatusOK || strings.TrimSpace(body) != `{"ok":true}` {
		t.Fatalf("service ok: %d %s", code, body)
	}
	select {
	case err := <-held:
		if err != nil {
			t.Fatalf("request held by timeout: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("the request held by timeout was not answered after the mode changed")
	}
	mustServe(t, "ok again", addr, "c", "g1", "s1")

	// error: 503, through the control API.
	if code, body := controlPost(t, sim, "/sim/v1/clusters/c/groups/g1/service", `{"mode":"error"}`); code != http.StatusOK {
		t.Fatalf("service error: %d %s", code, body)
	}
	code, body, err := probe(addr, 5*time.Second)
	if err != nil || code != http.StatusServiceUnavailable || !strings.Contains(body, "injected by ecxsim") || !strings.Contains(body, "group=g1") {
		t.Fatalf("error: GET %d %q %v, want 503", code, body, err)
	}
	stillOnline("error")

	// refuse: the listener closes, ECX still reports Online.
	if code, body := controlPost(t, sim, "/sim/v1/clusters/c/groups/g1/service", `{"mode":"refuse"}`); code != http.StatusOK {
		t.Fatalf("service refuse: %d %s", code, body)
	}
	mustRefuse(t, "refuse", addr)
	stillOnline("refuse")
	if svc, st := serviceOf(t, sim, "c", "g1"); svc.Mode != ecxsim.ServiceRefuse || svc.Listening || st != ecxsim.StatusOnline {
		t.Fatalf("state under refuse: %s %+v", st, svc)
	}

	// The mode stays across a stop and a start.
	mustOK(t, "stop", call(t, http.MethodPost, s1+"/api/v1/groups/g1/stop", ""))
	eventually(t, "g1 offline", groupIs(t, s1, "g1", "Offline", "None"))
	mustOK(t, "start on s2", call(t, http.MethodPost, s1+"/api/v1/groups/g1/start", `{"target":"s2"}`))
	eventually(t, "g1 online on s2", groupIs(t, s1, "g1", "Online", "s2"))
	mustRefuse(t, "refuse after a restart", addr)
	if err := sim.SetServiceMode("c", "g1", ecxsim.ServiceOK); err != nil {
		t.Fatal(err)
	}
	mustServe(t, "ok after refuse", addr, "c", "g1", "s2")
}

// TestService_DoubleOnline: the same group name in two clusters with the same address, online in
// both (what cset must prevent): the second bind fails and is recorded, nothing crashes, and the
// second cluster's service listens once the first releases the address.
func TestService_DoubleOnline(t *testing.T) {
	t.Parallel()
	addr := serveAddr(t)
	cfg := ecxsim.Example2x2()
	cfg.Clusters[0].Groups[0].Serve = []string{addr}
	cfg.Clusters[1].Groups[0].Serve = []string{addr}
	sim := startSim(t, cfg)
	east, west := sim.ServerURL("east", "east1"), sim.ServerURL("west", "west1")

	mustOK(t, "start in east", call(t, http.MethodPost, east+"/api/v1/groups/app1/start", `{"target":"east1"}`))
	eventually(t, "app1 online in east", groupIs(t, east, "app1", "Online", "east1"))
	mustOK(t, "start in west", call(t, http.MethodPost, west+"/api/v1/groups/app1/start", `{"target":"west2"}`))
	eventually(t, "app1 online in west", groupIs(t, west, "app1", "Online", "west2"))
	svc, _ := serviceOf(t, sim, "west", "app1")
	want := fmt.Sprintf(`address %s is served by group "app1" of cluster "east": the group is online in two clusters`, addr)
	if svc.Listening || svc.BindFailures != 1 || svc.Addresses[0].Listening || svc.Addresses[0].Error != want {
		t.Fatalf("west's service: %+v, want a failed bind with %q", svc, want)
	}
	mustServe(t, "east keeps the address", addr, "east", "app1", "east1")

	mustOK(t, "stop in east", call(t, http.MethodPost, east+"/api/v1/groups/app1/stop", ""))
	eventually(t, "west binds the released address", func() error {
		if svc, _ := serviceOf(t, sim, "west", "app1"); !svc.Listening || svc.Addresses[0].Error != "" {
			return fmt.Errorf("west's service: %+v", svc)
		}
		return nil
	})
	mustServe(t, "west has the address", addr, "west", "app1", "west2")
	if svc, _ := serviceOf(t, sim, "west", "app1"); svc.BindFailures != 1 {
		t.Fatalf("bind failures are counted: %+v", svc)
	}
}

// TestService_AddressTakenByAnotherProcess: a bind that fails for a reason outside the simulator
// is recorded in the state; the group is still Online and the simulator keeps working.
func TestService_AddressTakenByAnotherProcess(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	sim := startSim(t, serveCluster(l.Addr().String()))
	s1 := sim.ServerURL("c", "s1")
	mustOK(t, "start", call(t, http.MethodPost, s1+"/api/v1/groups/g1/start", `{"target":"s1"}`))
	eventually(t, "g1 online", groupIs(t, s1, "g1", "Online", "s1"))
	svc, _ := serviceOf(t, sim, "c", "g1")
	if svc.Listening || svc.BindFailures != 1 || !strings.Contains(svc.Addresses[0].Error, "address already in use") {
		t.Fatalf("service: %+v, want a failed bind", svc)
	}
	mustOK(t, "REST still answers", call(t, http.MethodGet, s1+"/api/v1/groups", ""))
}

// TestService_ResourceStoppedAlone: the service needs every resource of its group; stopping one
// alone (the floating IP, the application) takes the address down while the group stays Online.
func TestService_ResourceStoppedAlone(t *testing.T) {
	t.Parallel()
	addr := serveAddr(t)
	sim := startSim(t, serveCluster(addr))
	s1 := sim.ServerURL("c", "s1")
	mustOK(t, "start", call(t, http.MethodPost, s1+"/api/v1/groups/g1/start", `{"target":"s1"}`))
	eventually(t, "g1 online", groupIs(t, s1, "g1", "Online", "s1"))
	mustOK(t, "stop the fip", call(t, http.MethodPost, s1+"/api/v1/resources/g1-fip/stop", ""))
	mustRefuse(t, "fip stopping", addr)
	mustOK(t, "start the fip", call(t, http.MethodPost, s1+"/api/v1/resources/g1-fip/start", `{"target":"s1"}`))
	eventually(t, "service back with its resource", func() error {
		if svc, _ := serviceOf(t, sim, "c", "g1"); !svc.Listening {
			return fmt.Errorf("service: %+v", svc)
		}
		return nil
	})
	mustServe(t, "fip started again", addr, "c", "g1", "s1")
}

// TestService_PortZero: port 0 is a free port chosen at the first bind and kept afterwards.
func TestService_PortZero(t *testing.T) {
	t.Parallel()
	sim := startSim(t, serveCluster("127.0.0.1:0"))
	s1 := sim.ServerURL("c", "s1")
	if svc, _ := serviceOf(t, sim, "c", "g1"); svc.Addresses[0].Address != "127.0.0.1:0" {
		t.Fatalf("before the first bind: %+v", svc)
	}
	mustOK(t, "start", call(t, http.MethodPost, s1+"/api/v1/groups/g1/start", `{"target":"s1"}`))
	eventually(t, "g1 online", groupIs(t, s1, "g1", "Online", "s1"))
	svc, _ := serviceOf(t, sim, "c", "g1")
	addr := svc.Addresses[0].Address
	if strings.HasSuffix(addr, ":0") || !svc.Listening {
		t.Fatalf("after the first bind: %+v", svc)
	}
	mustServe(t, "port 0", addr, "c", "g1", "s1")
	mustOK(t, "move", call(t, http.MethodPost, s1+"/api/v1/groups/g1/move", `{"target":"s2"}`))
	eventually(t, "g1 online on s2", groupIs(t, s1, "g1", "Online", "s2"))
	if svc, _ := serviceOf(t, sim, "c", "g1"); svc.Addresses[0].Address != addr || !svc.Listening {
		t.Fatalf("after the move the address must stay %s: %+v", addr, svc)
	}
	mustServe(t, "after the move", addr, "c", "g1", "s2")
}

// TestService_StateAndControlErrors: GET /sim/v1/state shows the service of groups with serve
// addresses only; the control call refuses unknown modes, fields, groups and groups without
// serve addresses.
func TestService_StateAndControlErrors(t *testing.T) {
	t.Parallel()
	addr := serveAddr(t)
	sim := startSim(t, serveCluster(addr))
	if code, body := controlPost(t, sim, "/sim/v1/clusters/c/groups/g1/service", `{"mode":"timeout"}`); code != http.StatusOK {
		t.Fatalf("service timeout: %d %s", code, body)
	}
	resp, err := client.Get(sim.ControlURL() + "/sim/v1/state")
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Clusters []struct {
			Groups []map[string]json.RawMessage `json:"groups"`
		} `json:"clusters"`
	}
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`{"mode":"timeout","listening":false,"server":"","addresses":[{"address":%q,"listening":false}],"bind_failures":0,"held_requests":0}`, addr)
	if got := string(st.Clusters[0].Groups[0]["service"]); got != want {
		t.Errorf("state of g1's service:\n got %s\nwant %s", got, want)
	}
	if _, ok := st.Clusters[0].Groups[1]["service"]; ok {
		t.Errorf("g2 serves nothing, its state has a service: %s", st.Clusters[0].Groups[1]["service"])
	}

	for _, tc := range []struct {
		path, body string
		code       int
		want       string
	}{
		{"/sim/v1/clusters/c/groups/g1/service", `{"mode":"slow"}`, 400, `mode \"slow\" is unknown: use \"ok\", \"refuse\", \"timeout\" or \"error\"`},
		{"/sim/v1/clusters/c/groups/g1/service", `{"mode":"ok","delay":1}`, 400, "unknown field"},
		{"/sim/v1/clusters/c/groups/g1/service", ``, 400, "body"},
		{"/sim/v1/clusters/c/groups/g2/service", `{"mode":"ok"}`, 404, "no serve addresses"},
		{"/sim/v1/clusters/c/groups/nope/service", `{"mode":"ok"}`, 404, `group \"nope\"`},
		{"/sim/v1/clusters/nope/groups/g1/service", `{"mode":"ok"}`, 404, `cluster \"nope\"`},
	} {
		code, body := controlPost(t, sim, tc.path, tc.body)
		if code != tc.code || !strings.Contains(body, tc.want) || !strings.Contains(body, `"error"`) {
			t.Errorf("POST %s %s: %d %s, want %d containing %q", tc.path, tc.body, code, body, tc.code, tc.want)
		}
	}
	if err := sim.SetServiceMode("c", "g2", ecxsim.ServiceOK); !errors.Is(err, ecxsim.ErrNotFound) {
		t.Errorf("SetServiceMode of a group without serve addresses: %v, want ErrNotFound", err)
	}
	if err := sim.SetServiceMode("c", "g1", "slow"); err == nil || errors.Is(err, ecxsim.ErrNotFound) {
		t.Errorf("SetServiceMode with an unknown mode: %v", err)
	}
}

// TestConfig_Serve: the serve field in YAML, and every bad address refused with its reason.
func TestConfig_Serve(t *testing.T) {
	t.Parallel()
	cfg, err := ecxsim.LoadConfig("testdata/serve.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Clusters[1].Groups[0].Serve; len(got) != 1 || got[0] != "127.2.0.10:8080" {
		t.Fatalf("serve.yaml: west/app1 serve = %v", got)
	}

	base := `
control_addr: 127.0.0.1:29100
clusters:
  - name: east
    user: u
    servers: [{name: e1, listen: "127.0.1.1:29009"}]
    groups:
      - {name: app1, serve: %s}
      - {name: app2, serve: %s}
  - name: west
    user: u
    servers: [{name: w1}]
    groups:
      - {name: app1, serve: %s}
`
	for _, tc := range []struct {
		name             string
		app1, app2, west string
		want             []string
	}{
		{"valid", `["127.1.0.10:8080", "[::1]:8080"]`, `["127.1.0.11:8080", "127.0.0.1:0", "127.0.0.1:0"]`, `["127.1.0.10:8080"]`, nil},
		{"not host:port", `["127.1.0.10"]`, `[]`, `[]`, []string{`cluster "east": group "app1": serve: "127.1.0.10" is not host:port`}},
		{"host name", `["localhost:8080"]`, `[]`, `[]`, []string{`cluster "east": group "app1": serve: "localhost:8080": host "localhost" is not an IP address`}},
		{"unspecified", `["0.0.0.0:8080"]`, `[]`, `[]`, []string{`"0.0.0.0:8080": 0.0.0.0 means every address`}},
		{"bad port", `["127.1.0.10:99999", "127.1.0.10:http"]`, `[]`, `[]`, []string{`"127.1.0.10:99999" has an invalid port`, `"127.1.0.10:http" has an invalid port`}},
		{"listed twice", `["127.1.0.10:8080", "127.1.0.10:8080"]`, `[]`, `[]`, []string{`group "app1": serve: 127.1.0.10:8080 is listed twice`}},
		{"two groups of a cluster", `["127.1.0.10:8080"]`, `["127.1.0.10:8080"]`, `[]`, []string{`cluster "east": group "app2": serve: 127.1.0.10:8080 is also served by group "app1" of cluster "east"`}},
		{"two group names", `[]`, `["127.1.0.10:8080"]`, `["127.1.0.10:8080"]`, []string{`cluster "west": group "app1": serve: 127.1.0.10:8080 is also served by group "app2" of cluster "east"`}},
		{"server address", `["127.0.1.1:29009"]`, `[]`, `[]`, []string{`127.0.1.1:29009 is the listen address of server "e1" of cluster "east"`}},
		{"control address", `[]`, `["127.0.0.1:29100"]`, `[]`, []string{`127.0.0.1:29100 is the listen address of the control API`}},
	} {
		_, err := ecxsim.ParseConfig(fmt.Appendf(nil, base, tc.app1, tc.app2, tc.west))
		if len(tc.want) == 0 {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error lacks %q:\n%v", tc.name, w, err)
			}
		}
	}
	// New validates the same way.
	cfg = oneCluster()
	cfg.Clusters[0].Groups[1].Serve = []string{"db.example:5432"}
	if _, err := ecxsim.New(cfg, nil); err == nil || !strings.Contains(err.Error(), `host "db.example" is not an IP address`) {
		t.Errorf("New with a host name: %v", err)
	}
}
