package ecxsim_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/ecxsim"
)

func TestControlAPI_ServerAndClusterDownUp(t *testing.T) {
	t.Parallel()
	cfg := ecxsim.Example2x2()
	cfg.Clusters[0].Groups[0].AutoStart = true
	sim := startSim(t, cfg)
	east1 := sim.ServerURL("east", "east1")
	eventually(t, "auto-start", groupIs(t, east1, "app1", "Online", "east1"))

	if code, body := controlPost(t, sim, "/sim/v1/clusters/east/servers/east1/down", ""); code != 200 || !strings.Contains(body, `"ok":true`) {
		t.Fatalf("server down: %d %s", code, body)
	}
	if _, err := tryCall(http.MethodGet, east1+"/api/v1/cluster", "", user, password); err == nil {
		t.Fatal("east1 answers after down")
	}
	if code, body := controlPost(t, sim, "/sim/v1/clusters/east/servers/east1/up", ""); code != 200 {
		t.Fatalf("server up: %d %s", code, body)
	}
	mustOK(t, "east1 after up", call(t, http.MethodGet, east1+"/api/v1/cluster", ""))

	if code, body := controlPost(t, sim, "/sim/v1/clusters/east/down", ""); code != 200 {
		t.Fatalf("cluster down: %d %s", code, body)
	}
	for _, s := range []string{"east1", "east2"} {
		if _, err := tryCall(http.MethodGet, sim.ServerURL("east", s)+"/api/v1/cluster", "", user, password); err == nil {
			t.Fatalf("%s answers after cluster down", s)
		}
	}
	mustOK(t, "west unaffected", call(t, http.MethodGet, sim.ServerURL("west", "west1")+"/api/v1/cluster", ""))
	if code, body := controlPost(t, sim, "/sim/v1/clusters/east/up", ""); code != 200 {
		t.Fatalf("cluster up: %d %s", code, body)
	}
	eventually(t, "auto-start after cluster up", groupIs(t, east1, "app1", "Online", "east1"))
}

func TestControlAPI_IsolateLatencyErrors(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ecxsim.Example2x2())
	url := sim.ServerURL("east", "east2")

	if code, body := controlPost(t, sim, "/sim/v1/clusters/east/isolate", ""); code != 200 {
		t.Fatalf("isolate: %d %s", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/api/v1/groups", nil)
	req.SetBasicAuth(user, password)
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("an isolated cluster answered: HTTP %d", resp.StatusCode)
	} else if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("isolation must be silence (a timeout), got %v", err)
	}
	if st := sim.State(); !st.Clusters[0].Isolated || !st.Clusters[0].Servers[0].PoweredOn {
		t.Fatalf("isolated servers keep running: %+v", st.Clusters[0])
	}
	// A request held by the isolation is answered once it heals.
	done := make(chan reply, 1)
	go func() {
		r, _ := tryCall(http.MethodGet, url+"/api/v1/cluster", "", user, password)
		done <- r
	}()
	if code, body := controlPost(t, sim, "/sim/v1/clusters/east/heal", ""); code != 200 {
		t.Fatalf("heal: %d %s", code, body)
	}
	if r := <-done; r.status != http.StatusOK {
		t.Fatalf("held request after heal: %d %s", r.status, r.raw)
	}

	if code, body := controlPost(t, sim, "/sim/v1/clusters/east/latency", `{"ms":150}`); code != 200 {
		t.Fatalf("latency: %d %s", code, body)
	}
	start := time.Now()
	mustOK(t, "slow request", call(t, http.MethodGet, url+"/api/v1/cluster", ""))
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("latency 150ms, answered in %s", d)
	}
	if code, _ := controlPost(t, sim, "/sim/v1/clusters/east/latency", `{"ms":0}`); code != 200 {
		t.Fatal("latency reset")
	}

	if code, body := controlPost(t, sim, "/sim/v1/clusters/east/errors", `{"rate":1}`); code != 200 {
		t.Fatalf("errors: %d %s", code, body)
	}
	r := call(t, http.MethodGet, url+"/api/v1/groups", "")
	mustFail(t, "injected error", r, http.StatusInternalServerError, ecxsim.CodeInternal, "injected")
	if code, _ := controlPost(t, sim, "/sim/v1/clusters/east/errors", `{"rate":0}`); code != 200 {
		t.Fatal("errors reset")
	}
	mustOK(t, "after errors reset", call(t, http.MethodGet, url+"/api/v1/groups", ""))
}

func TestControlAPI_FailStartAndWitness(t *testing.T) {
	t.Parallel()
	w := newFakeWitness(t, "")
	cfg := ecxsim.Example2x2()
	cfg.Clusters[0].WitnessURL = w.URL
	sim := startSim(t, cfg)
	url := sim.ServerURL("east", "east1")
	if code, body := controlPost(t, sim, "/sim/v1/clusters/east/groups/app1/fail-start", `{"enabled":true}`); code != 200 {
		t.Fatalf("fail-start: %d %s", code, body)
	}
	mustOK(t, "start", call(t, http.MethodPost, url+"/api/v1/groups/app1/start", `{"target":"east1"}`))
	eventually(t, "online failure", groupIs(t, url, "app1", "Online Failure", "east1"))

	for _, op := range []string{"witness-cut", "witness-heal", "interconnect-cut", "interconnect-heal"} {
		if code, body := controlPost(t, sim, "/sim/v1/clusters/east/"+op, ""); code != 200 {
			t.Fatalf("%s: %d %s", op, code, body)
		}
		if code, body := controlPost(t, sim, "/sim/v1/clusters/east/servers/east2/"+op, ""); code != 200 {
			t.Fatalf("server %s: %d %s", op, code, body)
		}
	}
	eventually(t, "heartbeats resume after witness-heal", func() error {
		if w.count("east/east1") == 0 {
			return errors.New("no heartbeat")
		}
		return nil
	})
}

func TestControlAPI_Errors(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ecxsim.Example2x2())
	tests := []struct {
		path, body string
		code       int
		want       string
	}{
		{"/sim/v1/clusters/nope/down", "", 404, `cluster \"nope\"`},
		{"/sim/v1/clusters/east/servers/nope/down", "", 404, `server \"nope\"`},
		{"/sim/v1/clusters/east/groups/nope/fail-start", `{"enabled":true}`, 404, `group \"nope\"`},
		{"/sim/v1/clusters/east/explode", "", 404, `explode`},
		{"/sim/v1/clusters/east/latency", `{"ms":-1}`, 400, "negative"},
		{"/sim/v1/clusters/east/latency", `{"seconds":1}`, 400, "unknown field"},
		{"/sim/v1/clusters/east/errors", `{"rate":1.5}`, 400, "between 0 and 1"},
		{"/sim/v1/clusters/east/errors", ``, 400, "body"},
	}
	for _, tc := range tests {
		code, body := controlPost(t, sim, tc.path, tc.body)
		if code != tc.code || !strings.Contains(body, tc.want) || !strings.Contains(body, `"error"`) {
			t.Errorf("POST %s %s: %d %s, want %d containing %q", tc.path, tc.body, code, body, tc.code, tc.want)
		}
	}
	if err := sim.ServerDown("east", "nope"); !errors.Is(err, ecxsim.ErrNotFound) {
		t.Errorf("ServerDown unknown server: %v", err)
	}
	if err := sim.Isolate("nope"); !errors.Is(err, ecxsim.ErrNotFound) {
		t.Errorf("Isolate unknown cluster: %v", err)
	}
}

func TestControlAPI_StateAndAudit(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ecxsim.Example2x2())
	mustOK(t, "start", call(t, http.MethodPost, sim.ServerURL("west", "west2")+"/api/v1/groups/app2/start", `{"target":"west2"}`))

	resp, err := client.Get(sim.ControlURL() + "/sim/v1/state")
	if err != nil {
		t.Fatal(err)
	}
	var st ecxsim.StateSnapshot
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Clusters) != 2 || st.Clusters[1].Servers[1].URL != sim.ServerURL("west", "west2") ||
		st.Clusters[1].Groups[1].Current != "west2" || st.Clusters[1].Groups[1].Status != "Online Pending" && st.Clusters[1].Groups[1].Status != "Online" {
		t.Fatalf("state: %+v", st)
	}

	resp, err = client.Get(sim.ControlURL() + "/sim/v1/audit")
	if err != nil {
		t.Fatal(err)
	}
	var audit struct {
		Records []ecxsim.AuditRecord `json:"records"`
	}
	err = json.NewDecoder(resp.Body).Decode(&audit)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(audit.Records) != 1 || audit.Records[0].Cluster != "west" || audit.Records[0].Group != "app2" ||
		audit.Records[0].Server != "west2" || audit.Records[0].OnlineUntil != nil {
		t.Fatalf("audit: %+v", audit.Records)
	}

	check := func() (ok bool, overlaps int) {
		resp, err := client.Get(sim.ControlURL() + "/sim/v1/audit/check")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			OK       bool              `json:"ok"`
			Overlaps []json.RawMessage `json:"overlaps"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return out.OK, len(out.Overlaps)
	}
	if ok, n := check(); !ok || n != 0 {
		t.Fatalf("check before double start: ok=%v overlaps=%d", ok, n)
	}
	mustOK(t, "start in east too", call(t, http.MethodPost, sim.ServerURL("east", "east1")+"/api/v1/groups/app2/start", `{"target":"east1"}`))
	if ok, n := check(); ok || n != 1 {
		t.Fatalf("check after double start: ok=%v overlaps=%d", ok, n)
	}
}

// TestIsolation_AHeldRequestIsDeliveredUnlessItsClientResets: a partition holds a request in
// the sender's send queue, and TCP delivers it at the heal even when the sender gave up and
// closed the connection (a FIN follows the data). Only a reset (SO_LINGER 0) discards it. A
// start given up on must therefore not run the group later unless the client reset.
func TestIsolation_AHeldRequestIsDeliveredUnlessItsClientResets(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		reset   bool
		deliver bool
	}{{"closed", false, true}, {"reset", true, false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sim := startSim(t, oneCluster())
			url := sim.ServerURL("c", "s1")
			if err := sim.Isolate("c"); err != nil {
				t.Fatal(err)
			}
			d := &net.Dialer{}
			tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := d.DialContext(ctx, network, addr)
				if conn, ok := c.(*net.TCPConn); ok && err == nil && tc.reset {
					err = conn.SetLinger(0)
				}
				return c, err
			}}
			defer tr.CloseIdleConnections()
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/api/v1/groups/g1/start", strings.NewReader(`{"target":"s1"}`))
			req.SetBasicAuth(user, password)
			req.Header.Set("Content-Type", "application/json")
			if resp, err := tr.RoundTrip(req); err == nil {
				resp.Body.Close()
				t.Fatalf("an isolated cluster answered: HTTP %d", resp.StatusCode)
			}
			cluster := func() ecxsim.ClusterState { return sim.State().Clusters[0] }
			eventually(t, "the start is held", func() error {
				if c := cluster(); c.HeldRequests != 1 {
					return fmt.Errorf("%d requests held", c.HeldRequests)
				}
				return nil
			})
			if err := sim.Heal("c"); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the held start is settled", func() error {
				if c := cluster(); c.HeldRequests != 0 || c.LateRequests+c.DroppedRequests != 1 {
					return fmt.Errorf("held %d, late %d, dropped %d", c.HeldRequests, c.LateRequests, c.DroppedRequests)
				}
				return nil
			})
			if c := cluster(); (c.LateRequests == 1) != tc.deliver {
				t.Fatalf("late %d, dropped %d: want delivered=%v", c.LateRequests, c.DroppedRequests, tc.deliver)
			}
			if tc.deliver {
				eventually(t, "the late start runs g1", groupIs(t, url, "g1", "Online", "s1"))
				return
			}
			// Dropped: no handler ran, so nothing can start it later.
			for _, g := range sim.State().Clusters[0].Groups {
				if g.Name == "g1" && g.Status != "Offline" {
					t.Fatalf("g1 is %s after a start whose client reset its connection", g.Status)
				}
			}
		})
	}
}
