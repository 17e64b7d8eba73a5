package ecxsim_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/cset-project/cset/ecxsim"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"google.golang.org/grpc"
)

// fakeMasters acknowledges every guard heartbeat with the managed groups and counts them per
// server.
type fakeMasters struct {
	apiv1.UnimplementedClusterSetServiceServer
	groups []string
	mu     sync.Mutex
	beats  map[string]int
}

func (f *fakeMasters) GuardHeartbeat(_ context.Context, r *apiv1.GuardHeartbeatRequest) (*apiv1.GuardHeartbeatResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.beats[r.GetCluster()+"/"+r.GetServer()]++
	return &apiv1.GuardHeartbeatResponse{Acknowledged: true, Groups: f.groups, Leader: "fake"}, nil
}

func (f *fakeMasters) count(server string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.beats["c/"+server]
}

func startFakeMasters(t *testing.T, groups ...string) (*fakeMasters, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeMasters{groups: groups, beats: map[string]int{}}
	s := grpc.NewServer()
	apiv1.RegisterClusterSetServiceServer(s, f)
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return f, lis.Addr().String()
}

// runningOn returns the server that really runs group g of cluster c ("" for none).
func runningOn(sim *ecxsim.Sim, cluster, g string) string {
	for _, c := range sim.State().Clusters {
		for _, gs := range c.Groups {
			if c.Name == cluster && gs.Name == g {
				return gs.RunningOn
			}
		}
	}
	return "?"
}

// TestGuard_IsolatedAndWitnessCutStopsCsetGroups: the guards of a cluster that is isolated from
// the masters and cut off the witness, its servers still peers, stop the cset groups (g1) and
// leave the others (g2) running; ECX itself does nothing, as on real clusters.
func TestGuard_IsolatedAndWitnessCutStopsCsetGroups(t *testing.T) {
	t.Parallel()
	masters, addr := startFakeMasters(t, "g1")
	cfg := oneCluster()
	cfg.Clusters[0].Guard = &ecxsim.GuardConfig{Masters: []string{addr}, Timeout: 400 * time.Millisecond, StopTimeout: 200 * time.Millisecond}
	sim := startSim(t, cfg)
	url := sim.ServerURL("c", "s1")
	mustOK(t, "start g1", call(t, http.MethodPost, url+"/api/v1/groups/g1/start", `{"target":"s1"}`))
	mustOK(t, "start g2", call(t, http.MethodPost, url+"/api/v1/groups/g2/start", `{"target":"s2"}`))
	eventually(t, "g1 online", groupIs(t, url, "g1", "Online", "s1"))
	eventually(t, "guards know g1", func() error {
		for _, s := range []string{"s1", "s2"} {
			st, err := sim.GuardStatus("c", s)
			if err != nil {
				return err
			}
			if len(st.Managed) != 1 || st.Managed[0] != "g1" {
				return fmt.Errorf("guard of %s manages %v", s, st.Managed)
			}
		}
		return nil
	})
	cut := time.Now()
	if err := sim.Isolate("c"); err != nil {
		t.Fatal(err)
	}
	if err := sim.CutWitness("c"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "g1 stopped by the guard", func() error {
		if on := runningOn(sim, "c", "g1"); on != "" {
			return fmt.Errorf("g1 runs on %q", on)
		}
		return nil
	})
	if took := time.Since(cut); took < 300*time.Millisecond {
		t.Errorf("g1 stopped %v after the cut, before the guard timeout could pass", took)
	}
	if on := runningOn(sim, "c", "g2"); on != "s2" {
		t.Errorf("g2 (not cset's) runs on %q, want s2", on)
	}
	st, err := sim.GuardStatus("c", "s1")
	if err != nil || !st.Enforcing {
		t.Fatalf("guard of s1: %+v %v, want enforcing", st, err)
	}
	// Back online: the guards stop enforcing.
	if err := sim.Heal("c"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "guard of s1 stops enforcing", func() error {
		if st, _ := sim.GuardStatus("c", "s1"); st.Enforcing {
			return fmt.Errorf("still enforcing")
		}
		return nil
	})
	_ = masters
}

// TestGuard_OneWayIsolationAndPower: with the REST API cut one way only, the guards still reach
// the masters and stop nothing; a powered-off server runs no guard.
func TestGuard_OneWayIsolationAndPower(t *testing.T) {
	t.Parallel()
	masters, addr := startFakeMasters(t, "g1")
	cfg := oneCluster()
	cfg.Clusters[0].Guard = &ecxsim.GuardConfig{Masters: []string{addr}, Timeout: 400 * time.Millisecond}
	sim := startSim(t, cfg)
	url := sim.ServerURL("c", "s1")
	mustOK(t, "start g1", call(t, http.MethodPost, url+"/api/v1/groups/g1/start", `{"target":"s1"}`))
	eventually(t, "g1 online", groupIs(t, url, "g1", "Online", "s1"))
	if err := sim.IsolateOneWay("c"); err != nil {
		t.Fatal(err)
	}
	if err := sim.CutWitness("c"); err != nil {
		t.Fatal(err)
	}
	before := masters.count("s1")
	eventually(t, "heartbeats reach the masters", func() error {
		if n := masters.count("s1"); n < before+10 {
			return fmt.Errorf("%d heartbeats since the cut", n-before)
		}
		return nil
	})
	if on := runningOn(sim, "c", "g1"); on != "s1" {
		t.Fatalf("g1 runs on %q after a one-way cut, want s1", on)
	}
	if err := sim.Heal("c"); err != nil {
		t.Fatal(err)
	}
	if err := sim.ServerDown("c", "s2"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "s2 silent", func() error {
		n := masters.count("s2")
		time.Sleep(300 * time.Millisecond) // six heartbeat intervals
		if m := masters.count("s2"); m != n {
			return fmt.Errorf("s2 sent %d heartbeats while off", m-n)
		}
		return nil
	})
}
