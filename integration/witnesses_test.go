package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cset-project/cset/internal/proctest"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

// Timings of the several-witness test: those of the chaos suite (fence_after > guard_timeout +
// guard_stop_timeout + guard_drift_margin).
const witnessMasterConfig = `controller:
  poll_interval: 300ms
  unreachable_after: 1200ms
  fence_after: 3s
  group_recovery_grace: 2500ms
  start_timeout: 4s
  stop_timeout: 2s
  lease_ttl: 2500ms
  ecx_timeout: 1200ms
  guard_timeout: 1200ms
  guard_stop_timeout: 500ms
  guard_drift_margin: 500ms
`

// startWitnessProc starts one `csetd witness` and returns its process and base URL.
func startWitnessProc(t *testing.T, name string) (*proctest.Process, string) {
	t.Helper()
	dir := t.TempDir()
	p := proctest.New(t, csetd.Path(t), proctest.Options{Name: name, LogPath: filepath.Join(dir, "witness.log"),
		ReadyFile: filepath.Join(dir, "ready.json"), LogTail: 40})
	if err := p.Start("witness", "-listen", "127.0.0.1:0", "-data-dir", filepath.Join(dir, "data"), "-ready-file", p.ReadyFile(), "-log-level", "debug"); err != nil {
		t.Fatal(err)
	}
	var addr string
	err := p.WaitReady(startTimeout, func(b []byte) error {
		var a struct {
			Addr string `json:"addr"`
		}
		if err := json.Unmarshal(b, &a); err != nil || a.Addr == "" {
			return fmt.Errorf("%s: ready file %q: %v", name, b, err)
		}
		addr = a.Addr
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return p, "http://" + addr
}

// heartbeatCut is a proxy in front of one witness for the simulated ECX servers: it forwards
// everything except, while on, the heartbeats of one cluster (the witness is cut from that
// member's servers but still hears the others and answers the masters).
type heartbeatCut struct {
	proxy   *httputil.ReverseProxy
	cluster atomic.Pointer[string]
}

func (h *heartbeatCut) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if c := h.cluster.Load(); c != nil && r.URL.Path == "/v1/heartbeat" {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		var hb struct{ Cluster string }
		if json.Unmarshal(body, &hb) == nil && hb.Cluster == *c {
			http.Error(w, "cut", http.StatusServiceUnavailable)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	h.proxy.ServeHTTP(w, r)
}

// simProc is an ecxsim process with its control URL and server URLs.
type simProc struct {
	p       *proctest.Process
	control string
	servers map[string]map[string]string
}

func (s *simProc) call(t *testing.T, method, path string) []byte {
	t.Helper()
	req, err := http.NewRequest(method, s.control+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("ecxsim %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("ecxsim %s %s: %s %s", method, path, resp.Status, b)
	}
	return b
}

// TestCluster_ThreeWitnesses runs a master, three `csetd witness` processes and an ecxsim of two
// members whose servers run the guard and heartbeat every witness (the first through a proxy
// that can drop one member's heartbeats). First the witnesses disagree: the member running web
// is cut from the masters and from witness 1 while witnesses 2 and 3 still hear it; it is not
// declared down and web stays. Then witness 3 is killed: the leader keeps its lease with two of
// three, and when the member running web dies, web fails over. No group ever runs twice.
func TestCluster_ThreeWitnesses(t *testing.T) {
	t.Parallel()
	requireBinaries(t)
	if !ecxsimB.Built() {
		t.Skip("ecxsim not built")
	}
	var wprocs []*proctest.Process
	var wurls []string
	for i := range 3 {
		p, u := startWitnessProc(t, fmt.Sprintf("w%d", i+1))
		wprocs, wurls = append(wprocs, p), append(wurls, u)
	}
	target, err := url.Parse(wurls[0])
	if err != nil {
		t.Fatal(err)
	}
	cut := &heartbeatCut{proxy: httputil.NewSingleHostReverseProxy(target)}
	cutSrv := httptest.NewServer(cut)
	t.Cleanup(cutSrv.Close)

	m := newNode(t, "m1")
	m.addrs.GRPC = testutil.FreeAddrs(t, 1)[0]
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "csetd.yaml")
	if err := os.WriteFile(cfgPath, []byte(witnessMasterConfig), 0o644); err != nil {
		t.Fatal(err)
	}

	// The simulator: east and west, two servers each, group web (manual start) in both.
	var b strings.Builder
	b.WriteString("clusters:\n")
	for _, mb := range []string{"east", "west"} {
		fmt.Fprintf(&b, "  - name: %s\n    user: admin\n    password: pw-%s\n    heartbeat_timeout: 1200ms\n    heartbeat_interval: 250ms\n", mb, mb)
		fmt.Fprintf(&b, "    witness_urls: [%s, %s, %s]\n", cutSrv.URL, wurls[1], wurls[2])
		fmt.Fprintf(&b, "    guard: {masters: [%s], timeout: 1200ms, stop_timeout: 500ms}\n", m.addrs.GRPC)
		fmt.Fprintf(&b, "    servers:\n      - {name: %s-1, listen: \"127.0.0.1:0\"}\n      - {name: %s-2, listen: \"127.0.0.1:0\"}\n", mb, mb)
		b.WriteString("    groups:\n      - {name: web, auto_start: false, start_duration: 200ms, stop_duration: 100ms}\n")
	}
	sim := startSim(t, b.String())
	t.Cleanup(func() {
		var out struct {
			OK       bool `json:"ok"`
			Overlaps []any
		}
		if err := json.Unmarshal(sim.call(t, http.MethodGet, "/sim/v1/audit/check"), &out); err != nil || !out.OK {
			t.Errorf("double-online audit: %+v %v", out, err)
		}
	})

	m.start("-bootstrap", "-config", cfgPath, "-witness", strings.Join(wurls, ","))
	waitLeader(t, m)
	api := m.client()
	ctx := context.Background()
	if _, err := api.InitSet(ctx, &apiv1.InitSetRequest{Name: "prod", Zone: "cset.example.com."}); err != nil {
		t.Fatal(err)
	}
	for _, mb := range []string{"east", "west"} {
		req := &apiv1.AddMemberRequest{Name: mb, User: "admin", Password: "pw-" + mb}
		for _, s := range []string{mb + "-1", mb + "-2"} {
			req.Servers = append(req.Servers, &apiv1.ServerSpec{Name: s, Url: sim.servers[mb][s]})
		}
		if _, err := api.AddMember(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := api.RegisterWorkload(ctx, &apiv1.RegisterWorkloadRequest{Name: "web", Group: "web", Candidates: []string{"east", "west"},
		Addresses: map[string]*apiv1.AddressList{"east": {Addresses: []string{"10.1.0.10"}}, "west": {Addresses: []string{"10.2.0.10"}}}}); err != nil {
		t.Fatal(err)
	}
	online := func(member string, timeout time.Duration) *apiv1.Workload {
		t.Helper()
		var w *apiv1.Workload
		testutil.Eventually(t, timeout, func() error {
			r, err := api.GetWorkload(ctx, &apiv1.GetRequest{Name: "web"})
			if err != nil {
				return err
			}
			w = r
			if w.GetStatus() != "Online" || (member != "" && w.GetMember() != member) {
				return fmt.Errorf("web is %q on %q, want Online on %q", w.GetStatus(), w.GetMember(), member)
			}
			return nil
		})
		return w
	}
	health := func(member string) (string, string) {
		r, err := api.GetMember(ctx, &apiv1.GetRequest{Name: member})
		if err != nil {
			return "", err.Error()
		}
		return r.GetMember().GetHealth(), r.GetMember().GetHealthReason()
	}
	w := online("", 30*time.Second)
	from := w.GetMember()
	to := map[string]string{"east": "west", "west": "east"}[from]
	// 1. The witnesses disagree: witness 1 no longer hears `from`, the masters cannot reach it.
	cut.cluster.Store(&from)
	sim.call(t, http.MethodPost, "/sim/v1/clusters/"+from+"/isolate")
	testutil.Eventually(t, 15*time.Second, func() error {
		if h, r := health(from); h != "partitioned" {
			return fmt.Errorf("%s is %s (%s), want partitioned", from, h, r)
		}
		return nil
	})
	for end := time.Now().Add(2 * 3 * time.Second); time.Now().Before(end); time.Sleep(300 * time.Millisecond) {
		if h, r := health(from); h == "down" {
			t.Fatalf("%s declared down while two of three witnesses hear it: %s", from, r)
		}
		if r, err := api.GetWorkload(ctx, &apiv1.GetRequest{Name: "web"}); err == nil && r.GetMember() != from {
			t.Fatalf("web moved to %q while two of three witnesses hear %s", r.GetMember(), from)
		}
	}
	sim.call(t, http.MethodPost, "/sim/v1/clusters/"+from+"/heal")
	cut.cluster.Store(nil)
	testutil.Eventually(t, 15*time.Second, func() error {
		if h, r := health(from); h != "up" {
			return fmt.Errorf("%s is %s (%s), want up", from, h, r)
		}
		return nil
	})
	online(from, 10*time.Second)

	// 2. Witness 3 dies: two of three still grant the lease.
	wprocs[2].Kill()
	testutil.Eventually(t, 15*time.Second, func() error {
		st, err := api.Status(ctx, &apiv1.StatusRequest{})
		if err != nil {
			return err
		}
		wi := st.GetWitness()
		if wi.GetGranting() != 2 || wi.GetMajority() != 2 || wi.GetRemainingMs() <= 0 || len(wi.GetWitnesses()) != 3 || wi.GetWitnesses()[2].GetLastError() == "" {
			return fmt.Errorf("witness status %v: want 2 of 3 granting, the lease held and witness 3's error", wi)
		}
		return nil
	})
	r := ctlOK(t, m.grpcAddr(), "status")
	if !strings.Contains(r.stdout, "3 witnesses, 2 of them grant the lease (2 needed)") {
		t.Errorf("csetctl status does not show the majority result:\n%s", r.stdout)
	}
	// 3. The member running web dies: it fails over on the word of witnesses 1 and 2.
	sim.call(t, http.MethodPost, "/sim/v1/clusters/"+from+"/down")
	online(to, 30*time.Second)
	if h, r := health(from); h != "down" {
		t.Fatalf("%s is %s (%s), want down", from, h, r)
	}
}
