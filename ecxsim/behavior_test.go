package ecxsim_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/cset-project/cset/ecxsim"
	"github.com/google/go-cmp/cmp"
)

// TestFailover_ServerDown measures in-cluster failover: the group leaves a dead server no earlier
// than the heartbeat timeout and is online on the next server of its policy soon after.
func TestFailover_ServerDown(t *testing.T) {
	t.Parallel()
	cfg := oneCluster()
	timeout := cfg.Clusters[0].HeartbeatTimeout
	sim := startSim(t, cfg)
	url2 := sim.ServerURL("c", "s2")
	mustOK(t, "start", call(t, http.MethodPost, url2+"/api/v1/groups/g1/start", `{"target":"s1"}`))
	eventually(t, "g1 on s1", groupIs(t, url2, "g1", "Online", "s1"))

	downAt := time.Now()
	if err := sim.ServerDown("c", "s1"); err != nil {
		t.Fatal(err)
	}
	// Before the timeout the survivor still believes s1 runs the group (ECX has not noticed yet).
	r := call(t, http.MethodGet, url2+"/api/v1/groups/g1", "")
	if time.Since(downAt) < timeout {
		if g := r.env.Groups[0]; g.Status != "Online" || g.Current != "s1" {
			t.Fatalf("within the heartbeat timeout: %s", r.raw)
		}
	}
	var pendingAt time.Time
	eventually(t, "failover started on s2", func() error {
		r, err := tryCall(http.MethodGet, url2+"/api/v1/groups/g1", "", user, password)
		if err != nil {
			return err
		}
		if g := r.env.Groups[0]; g.Current != "s2" {
			return fmt.Errorf("g1 is %s on %s", g.Status, g.Current)
		}
		pendingAt = time.Now()
		return nil
	})
	if elapsed := pendingAt.Sub(downAt); elapsed < timeout {
		t.Fatalf("failover after %s, before the heartbeat timeout %s", elapsed, timeout)
	} else if margin := 3 * time.Second; elapsed > timeout+margin {
		t.Fatalf("failover after %s, want within %s + %s", elapsed, timeout, margin)
	}
	eventually(t, "g1 online on s2", groupIs(t, url2, "g1", "Online", "s2"))
	r = call(t, http.MethodGet, url2+"/api/v1/servers/s1", "")
	if r.env.Servers[0].Status != "Offline" {
		t.Fatalf("s1 after detection: %s", r.raw)
	}
	if _, err := tryCall(http.MethodGet, sim.ServerURL("c", "s1")+"/api/v1/cluster", "", user, password); err == nil {
		t.Fatal("a dead server must not answer")
	}

	// The server comes back: groups do not fail back (manual failback).
	if err := sim.ServerUp("c", "s1"); err != nil {
		t.Fatal(err)
	}
	r = call(t, http.MethodGet, sim.ServerURL("c", "s1")+"/api/v1/groups/g1", "")
	if g := r.env.Groups[0]; g.Current != "s2" {
		t.Fatalf("after s1 returned: %s", r.raw)
	}
	checkExclusiveInCluster(t, sim.Audit())
}

// TestFailover_QuickRestart covers a server that returns before its peers noticed it died: its
// groups are gone, so they fail over at once.
func TestFailover_QuickRestart(t *testing.T) {
	t.Parallel()
	cfg := oneCluster()
	cfg.Clusters[0].HeartbeatTimeout = 5 * time.Second
	sim := startSim(t, cfg)
	url2 := sim.ServerURL("c", "s2")
	mustOK(t, "start", call(t, http.MethodPost, url2+"/api/v1/groups/g1/start", `{"target":"s1"}`))
	eventually(t, "g1 on s1", groupIs(t, url2, "g1", "Online", "s1"))
	if err := sim.ServerDown("c", "s1"); err != nil {
		t.Fatal(err)
	}
	if err := sim.ServerUp("c", "s1"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "g1 on s2", groupIs(t, url2, "g1", "Online", "s2"))
	checkExclusiveInCluster(t, sim.Audit())
}

// TestExclusivity_InsideCluster races starts, moves and a server failure and checks from the audit
// log that the group never ran on two servers of the cluster at once.
func TestExclusivity_InsideCluster(t *testing.T) {
	t.Parallel()
	cfg := oneCluster()
	cfg.Clusters[0].Groups[0].StartDuration = 20 * time.Millisecond
	cfg.Clusters[0].Groups[0].StopDuration = 20 * time.Millisecond
	sim := startSim(t, cfg)
	urls := []string{sim.ServerURL("c", "s1"), sim.ServerURL("c", "s2")}
	var accepted [2]int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 25 {
				target := []string{"s1", "s2"}[(w+k)%2]
				op := []string{"start", "move", "stop", "start"}[k%4]
				r, err := tryCall(http.MethodPost, urls[w%2]+"/api/v1/groups/g1/"+op, `{"target":"`+target+`"}`, user, password)
				if err != nil {
					t.Errorf("%s: %v", op, err)
					return
				}
				if r.code() != 0 && r.status != http.StatusConflict {
					t.Errorf("%s: unexpected %d %s", op, r.status, r.raw)
				}
				if op == "start" && r.code() == 0 {
					mu.Lock()
					accepted[(w+k)%2]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if err := sim.ServerDown("c", "s1"); err != nil {
		t.Fatal(err)
	}
	// Whatever the race left (stopping, or orphaned on the dead s1 until failover), a start on s2 is
	// accepted once the group settles.
	eventually(t, "start on s2 accepted", func() error {
		r, err := tryCall(http.MethodPost, urls[1]+"/api/v1/groups/g1/start", `{"target":"s2"}`, user, password)
		if err == nil && r.code() != 0 {
			return errors.New(r.raw)
		}
		return err
	})
	eventually(t, "g1 on s2", groupIs(t, urls[1], "g1", "Online", "s2"))
	recs := sim.Audit()
	if len(recs) < 2 {
		t.Fatalf("expected several intervals, got %v (accepted starts %v)", recs, accepted)
	}
	checkExclusiveInCluster(t, recs)
}

// fakeWitness is an httptest witness that records heartbeats.
type fakeWitness struct {
	*httptest.Server
	mu    sync.Mutex
	beats map[string]int // "cluster/server" -> count
	bad   []string
}

func newFakeWitness(t testing.TB, token string) *fakeWitness {
	w := &fakeWitness{beats: map[string]int{}}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		defer w.mu.Unlock()
		var body struct {
			Cluster string `json:"cluster"`
			Server  string `json:"server"`
		}
		data, _ := io.ReadAll(r.Body)
		switch {
		case r.Method != http.MethodPost || r.URL.Path != "/v1/heartbeat":
			w.bad = append(w.bad, r.Method+" "+r.URL.Path)
		case r.Header.Get("Content-Type") != "application/json":
			w.bad = append(w.bad, "content type "+r.Header.Get("Content-Type"))
		case token != "" && r.Header.Get("Authorization") != "Bearer "+token:
			w.bad = append(w.bad, "authorization "+r.Header.Get("Authorization"))
			rw.WriteHeader(http.StatusUnauthorized)
			return
		case json.Unmarshal(data, &body) != nil || body.Cluster == "" || body.Server == "":
			w.bad = append(w.bad, "body "+string(data))
		default:
			w.beats[body.Cluster+"/"+body.Server]++
		}
		rw.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(w.Close)
	return w
}

func (w *fakeWitness) count(key string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.beats[key]
}

func witnessCluster(url string) ecxsim.Config {
	cfg := oneCluster()
	cfg.Clusters[0].WitnessURL = url
	cfg.Clusters[0].WitnessToken = "tok"
	return cfg
}

func TestWitness_Heartbeats(t *testing.T) {
	t.Parallel()
	w := newFakeWitness(t, "tok")
	sim := startSim(t, witnessCluster(w.URL))
	for _, key := range []string{"c/s1", "c/s2"} {
		eventually(t, "heartbeats from "+key, func() error {
			if n := w.count(key); n < 3 {
				return fmt.Errorf("%d heartbeats", n)
			}
			return nil
		})
	}
	eventually(t, "state shows the last heartbeat", func() error {
		s, err := stateServer(sim, "c", "s1")
		if err == nil && s.LastHeartbeat == nil {
			return errors.New("no last heartbeat in state")
		}
		return err
	})
	// A cut witness link stops the heartbeats of that server only.
	if err := sim.CutServerWitness("c", "s1"); err != nil {
		t.Fatal(err)
	}
	interval := witnessCluster("").Clusters[0].HeartbeatInterval
	settled := w.count("c/s1")
	base2 := w.count("c/s2")
	eventually(t, "s2 keeps heartbeating", func() error {
		if w.count("c/s2") < base2+5 {
			return errors.New("s2 slowed down")
		}
		return nil
	})
	if got := w.count("c/s1"); got > settled+2 { // requests already in flight at the cut may land
		t.Fatalf("s1 sent %d heartbeats after its witness cut over at least %s", got-settled, 5*interval)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.bad) > 0 {
		t.Fatalf("malformed heartbeats: %v", w.bad)
	}
}

// TestSelfFencing_ServerLosesPeersAndWitness: a server that hears neither its peer nor the witness
// shuts itself down after the heartbeat timeout; its group fails over to the server that still
// reaches the witness.
func TestSelfFencing_ServerLosesPeersAndWitness(t *testing.T) {
	t.Parallel()
	w := newFakeWitness(t, "tok")
	sim := startSim(t, witnessCluster(w.URL))
	url1 := sim.ServerURL("c", "s1")
	mustOK(t, "start", call(t, http.MethodPost, url1+"/api/v1/groups/g2/start", `{"target":"s2"}`))
	eventually(t, "g2 on s2", groupIs(t, url1, "g2", "Online", "s2"))

	if err := sim.CutServerInterconnect("c", "s2"); err != nil {
		t.Fatal(err)
	}
	if err := sim.CutServerWitness("c", "s2"); err != nil {
		t.Fatal(err)
	}
	cutAt := time.Now()
	eventually(t, "s2 fences itself", func() error {
		s, err := stateServer(sim, "c", "s2")
		if err == nil && s.PoweredOn {
			return errors.New("s2 still powered on")
		}
		return err
	})
	if elapsed, timeout := time.Since(cutAt), witnessCluster("").Clusters[0].HeartbeatTimeout; elapsed < timeout {
		t.Fatalf("s2 fenced after %s, before the heartbeat timeout %s", elapsed, timeout)
	}
	eventually(t, "g2 failed over to s1", groupIs(t, url1, "g2", "Online", "s1"))
	s1, err := stateServer(sim, "c", "s1")
	if err != nil || !s1.PoweredOn {
		t.Fatalf("s1 reaches the witness and must survive: %+v %v", s1, err)
	}
	checkExclusiveInCluster(t, sim.Audit())
}

// TestSelfFencing_WholeClusterIsolated: interconnect and witness both lost, so both servers shut
// down (ECX's documented outcome, docs/ecx.md).
func TestSelfFencing_WholeClusterIsolated(t *testing.T) {
	t.Parallel()
	w := newFakeWitness(t, "tok")
	sim := startSim(t, witnessCluster(w.URL))
	mustOK(t, "start", call(t, http.MethodPost, sim.ServerURL("c", "s1")+"/api/v1/groups/g1/start", `{"target":"s1"}`))
	if err := sim.CutInterconnect("c"); err != nil {
		t.Fatal(err)
	}
	if err := sim.CutWitness("c"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both servers down", func() error {
		for _, s := range sim.State().Clusters[0].Servers {
			if s.PoweredOn {
				return fmt.Errorf("%s still powered on", s.Name)
			}
		}
		return nil
	})
	recs := sim.Audit()
	if len(recs) != 1 || recs[0].OnlineUntil == nil {
		t.Fatalf("g1 must have stopped with its server: %v", recs)
	}
}

// TestSelfFencing_WitnessBridgesInterconnectCut: with the interconnect cut but the witness reachable
// the servers still hear each other through the witness and nobody fences.
func TestSelfFencing_WitnessBridgesInterconnectCut(t *testing.T) {
	t.Parallel()
	w := newFakeWitness(t, "tok")
	cfg := witnessCluster(w.URL)
	sim := startSim(t, cfg)
	if err := sim.CutInterconnect("c"); err != nil {
		t.Fatal(err)
	}
	base := w.count("c/s1")
	// Stable for well over two heartbeat timeouts, measured in witness heartbeats.
	beats := int(3 * cfg.Clusters[0].HeartbeatTimeout / cfg.Clusters[0].HeartbeatInterval)
	eventually(t, "many heartbeats later", func() error {
		if w.count("c/s1") < base+beats {
			return errors.New("waiting")
		}
		return nil
	})
	for _, s := range sim.State().Clusters[0].Servers {
		if !s.PoweredOn || s.Status != "Online" {
			t.Fatalf("%s fenced although the witness bridges the interconnect: %+v", s.Name, s)
		}
	}
}

// TestSelfFencing_NoWitness: without a witness, an interconnect cut leaves the first server alive and
// shuts the other down.
func TestSelfFencing_NoWitness(t *testing.T) {
	t.Parallel()
	sim := startSim(t, oneCluster())
	url1 := sim.ServerURL("c", "s1")
	mustOK(t, "start", call(t, http.MethodPost, url1+"/api/v1/groups/g2/start", `{"target":"s2"}`))
	eventually(t, "g2 on s2", groupIs(t, url1, "g2", "Online", "s2"))
	if err := sim.CutInterconnect("c"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "g2 fails over to s1", groupIs(t, url1, "g2", "Online", "s1"))
	st := sim.State().Clusters[0].Servers
	if !st[0].PoweredOn || st[1].PoweredOn {
		t.Fatalf("want s1 up and s2 fenced: %+v", st)
	}
	checkExclusiveInCluster(t, sim.Audit())
}

func TestState(t *testing.T) {
	t.Parallel()
	cfg := oneCluster()
	cfg.Clusters[0].HeartbeatTimeout = 5 * time.Second
	sim := startSim(t, cfg)
	url := sim.ServerURL("c", "s1")
	mustOK(t, "start", call(t, http.MethodPost, url+"/api/v1/groups/g1/start", `{"target":"s1"}`))
	eventually(t, "online", groupIs(t, url, "g1", "Online", "s1"))
	got := sim.State()
	want := ecxsim.StateSnapshot{
		ControlURL: sim.ControlURL(),
		Clusters: []ecxsim.ClusterState{{
			Name: "c", Status: "Online", TimeoutRatio: 1,
			Servers: []ecxsim.ServerState{
				{Name: "s1", URL: url, Status: "Online", PoweredOn: true, ServiceRunning: true},
				{Name: "s2", URL: sim.ServerURL("c", "s2"), Status: "Online", PoweredOn: true, ServiceRunning: true},
			},
			Groups: []ecxsim.GroupState{
				{Name: "g1", Status: "Online", Current: "s1", RunningOn: "s1", Servers: []string{"s1", "s2"}},
				{Name: "g2", Status: "Offline", Current: "None", Servers: []string{"s2", "s1"}},
			},
		}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("State (-want +got):\n%s", diff)
	}
	// While a dead server's failure is undetected, REST still reports the group there.
	if err := sim.SetFailStart("c", "g2", true); err != nil {
		t.Fatal(err)
	}
	if err := sim.ServerDown("c", "s1"); err != nil {
		t.Fatal(err)
	}
	g := sim.State().Clusters[0].Groups[0]
	if g.RunningOn != "" || g.Current != "s1" {
		t.Fatalf("right after s1 died: %+v", g)
	}
	if !sim.State().Clusters[0].Groups[1].FailStart {
		t.Fatal("fail_start not in state")
	}
}
