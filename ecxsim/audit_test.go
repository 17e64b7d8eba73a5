package ecxsim_test

import (
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/ecxsim"
	"github.com/google/go-cmp/cmp"
)

func rec(cluster, server string, from, until int) ecxsim.AuditRecord {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := ecxsim.AuditRecord{Cluster: cluster, Group: "app", Server: server, OnlineFrom: base.Add(time.Duration(from) * time.Second)}
	if until >= 0 {
		u := base.Add(time.Duration(until) * time.Second)
		r.OnlineUntil = &u
	}
	return r
}

func TestCheckNoDoubleOnline(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		recs     []ecxsim.AuditRecord
		overlaps int
	}{
		{"empty", nil, 0},
		{"sequential across clusters", []ecxsim.AuditRecord{rec("east", "e1", 0, 10), rec("west", "w1", 10, 20), rec("east", "e2", 20, -1)}, 0},
		{"same cluster, other server", []ecxsim.AuditRecord{rec("east", "e1", 0, 10), rec("east", "e2", 5, 20)}, 0},
		{"overlap", []ecxsim.AuditRecord{rec("east", "e1", 0, 10), rec("west", "w1", 9, 20)}, 1},
		{"open interval overlaps a later one", []ecxsim.AuditRecord{rec("west", "w1", 100, 200), rec("east", "e1", 0, -1)}, 1},
		{"two open", []ecxsim.AuditRecord{rec("east", "e1", 0, -1), rec("west", "w1", 50, -1)}, 1},
		{"three clusters", []ecxsim.AuditRecord{rec("a", "a1", 0, 10), rec("b", "b1", 1, 10), rec("c", "c1", 2, 10)}, 3},
		{"zero-length interval", []ecxsim.AuditRecord{rec("east", "e1", 0, 10), rec("west", "w1", 5, 5)}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ecxsim.CheckNoDoubleOnline(tc.recs)
			if tc.overlaps == 0 {
				if err != nil {
					t.Fatalf("unexpected: %v", err)
				}
				return
			}
			var de *ecxsim.DoubleOnlineError
			if !errors.As(err, &de) || len(de.Overlaps) != tc.overlaps {
				t.Fatalf("want %d overlaps, got %v", tc.overlaps, err)
			}
		})
	}
	// Other group names never conflict.
	other := rec("west", "w1", 0, 10)
	other.Group = "other"
	if err := ecxsim.CheckNoDoubleOnline([]ecxsim.AuditRecord{rec("east", "e1", 0, 10), other}); err != nil {
		t.Fatalf("different groups: %v", err)
	}
}

// TestAudit_CatchesPlantedDoubleOnline starts the same workload in two clusters through the real
// REST API (exactly what cset must never do) and checks that the checker names both intervals.
func TestAudit_CatchesPlantedDoubleOnline(t *testing.T) {
	t.Parallel()
	cfg := ecxsim.Example2x2()
	cfg.AuditFile = filepath.Join(t.TempDir(), "audit.jsonl")
	sim := startSim(t, cfg)
	east, west := sim.ServerURL("east", "east1"), sim.ServerURL("west", "west1")

	// A clean handover first: stop in east completes before the start in west.
	mustOK(t, "start east", call(t, http.MethodPost, east+"/api/v1/groups/app1/start", `{"target":"east1"}`))
	eventually(t, "east online", groupIs(t, east, "app1", "Online", "east1"))
	mustOK(t, "stop east", call(t, http.MethodPost, east+"/api/v1/groups/app1/stop", ""))
	eventually(t, "east offline", groupIs(t, east, "app1", "Offline", "None"))
	mustOK(t, "start west", call(t, http.MethodPost, west+"/api/v1/groups/app1/start", `{"target":"west2"}`))
	if err := ecxsim.CheckNoDoubleOnline(sim.Audit()); err != nil {
		t.Fatalf("clean handover flagged: %v", err)
	}

	// The planted fault: app1 started in east while west still has it.
	mustOK(t, "start east again", call(t, http.MethodPost, east+"/api/v1/groups/app1/start", `{"target":"east2"}`))
	err := ecxsim.CheckNoDoubleOnline(sim.Audit())
	var de *ecxsim.DoubleOnlineError
	if !errors.As(err, &de) || len(de.Overlaps) != 1 {
		t.Fatalf("want one overlap, got %v", err)
	}
	o := de.Overlaps[0]
	got := []string{o.Group, o.A.Cluster + "/" + o.A.Server, o.B.Cluster + "/" + o.B.Server}
	if diff := cmp.Diff([]string{"app1", "west/west2", "east/east2"}, got); diff != "" {
		t.Fatalf("overlap (-want +got):\n%s", diff)
	}
	for _, want := range []string{`group "app1"`, "west/west2 from", "east/east2 from", "(still online)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}

	// The audit file holds the same records once the simulator is closed.
	if err := sim.Close(); err != nil {
		t.Fatal(err)
	}
	fromFile, err := ecxsim.ReadAuditFile(cfg.AuditFile)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sim.Audit(), fromFile); diff != "" {
		t.Fatalf("audit file differs from Audit() (-mem +file):\n%s", diff)
	}
	for _, r := range fromFile {
		if r.OnlineUntil == nil {
			t.Fatalf("Close must end every interval: %v", r)
		}
	}
	if err := ecxsim.CheckNoDoubleOnline(fromFile); err == nil {
		t.Fatal("the planted overlap must be in the file too")
	}
}
