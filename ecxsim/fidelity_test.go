package ecxsim_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/ecxsim"
	"github.com/google/go-cmp/cmp"
)

// The behaviours found when NEC's own REST clients were run against the simulator (issue 12).

// getOne reads one object of kind (servers, groups, resources, monitors) from url.
func getOne(t testing.TB, url, kind, name string) reply {
	t.Helper()
	r := call(t, http.MethodGet, url+"/api/v1/"+kind+"/"+name, "")
	if r.status != http.StatusOK || r.code() != 0 {
		t.Fatalf("GET %s/%s: %s", kind, name, r.raw)
	}
	return r
}

// monitorIs returns a condition: monitor m has the overall status and the per-server statuses.
func monitorIs(url, m, status string, per ...serverJSON) func() error {
	return func() error {
		r, err := tryCall(http.MethodGet, url+"/api/v1/monitors/"+m, "", user, password)
		if err != nil {
			return err
		}
		if len(r.env.Monitors) != 1 {
			return fmt.Errorf("monitors = %s", r.raw)
		}
		got := r.env.Monitors[0]
		if got.Status != status || !cmp.Equal(got.Servers, per) {
			return fmt.Errorf("monitor %s is %s %v, want %s %v", m, got.Status, got.Servers, status, per)
		}
		return nil
	}
}

// A stop that arrives while a move is stopping the group on its source must not be answered with
// success while the group then comes Online on the move's target (item 2): it is refused, in both
// error styles, and the move completes.
func TestFidelity_StopDuringMoveIsRefused(t *testing.T) {
	t.Parallel()
	for _, style := range []string{ecxsim.ErrorStyleHTTP, ecxsim.ErrorStyleEnvelope} {
		t.Run(style, func(t *testing.T) {
			t.Parallel()
			cfg := oneCluster()
			cfg.Clusters[0].ErrorStyle = style
			// Long enough that the stop below surely lands in the move's stop phase.
			cfg.Clusters[0].Groups[0].StopDuration = 3 * time.Second
			sim := startSim(t, cfg)
			url := sim.ServerURL("c", "s2")
			refusal := http.StatusConflict
			if style == ecxsim.ErrorStyleEnvelope {
				refusal = http.StatusOK
			}
			mustOK(t, "start", call(t, http.MethodPost, url+"/api/v1/groups/g1/start", `{"target":"s1"}`))
			eventually(t, "g1 on s1", groupIs(t, url, "g1", "Online", "s1"))
			mustOK(t, "move", call(t, http.MethodPost, url+"/api/v1/groups/g1/move", `{"target":"s2"}`))
			if err := groupIs(t, url, "g1", "Offline Pending", "s1")(); err != nil {
				t.Fatal(err)
			}
			const moving = `group "g1" is moving from server "s1" to server "s2"`
			mustFail(t, "stop during the move", call(t, http.MethodPost, url+"/api/v1/groups/g1/stop", ""), refusal, ecxsim.CodeRejected, moving)
			mustFail(t, "stop on the source during the move", call(t, http.MethodPost, url+"/api/v1/groups/g1/stop", `{"target":"s1"}`), refusal, ecxsim.CodeRejected, moving)
			mustFail(t, "start during the move", call(t, http.MethodPost, url+"/api/v1/groups/g1/start", `{"target":"s1"}`), refusal, ecxsim.CodeRejected, moving)
			eventually(t, "the move completes", groupIs(t, url, "g1", "Online", "s2"))
			mustOK(t, "stop after the move", call(t, http.MethodPost, url+"/api/v1/groups/g1/stop", ""))
			eventually(t, "g1 offline", groupIs(t, url, "g1", "Offline", "None"))
			checkExclusiveInCluster(t, sim.Audit())
		})
	}
}

// The failover of an orderly server stop is a move too; a stop sent during its stop phase is
// refused. A stop during the start phase of a move stops the group.
func TestFidelity_StopDuringFailoverAndDuringStartPhase(t *testing.T) {
	t.Parallel()
	cfg := oneCluster()
	cfg.Clusters[0].Groups[0].StopDuration = 3 * time.Second
	cfg.Clusters[0].Groups[0].StartDuration = 3 * time.Second
	sim := startSim(t, cfg)
	url := sim.ServerURL("c", "s2")
	mustOK(t, "start", call(t, http.MethodPost, url+"/api/v1/groups/g1/start", `{"target":"s1"}`))
	eventually(t, "g1 on s1", groupIs(t, url, "g1", "Online", "s1"))
	mustOK(t, "stop s1", call(t, http.MethodPost, url+"/api/v1/servers/s1/stop", ""))
	mustFail(t, "stop during the failover", call(t, http.MethodPost, url+"/api/v1/groups/g1/stop", ""),
		http.StatusConflict, ecxsim.CodeRejected, `group "g1" is failing over from server "s1"`)
	eventually(t, "g1 starts on s2", groupIs(t, url, "g1", "Online Pending", "s2"))
	mustOK(t, "stop during the start on s2", call(t, http.MethodPost, url+"/api/v1/groups/g1/stop", ""))
	eventually(t, "g1 offline", groupIs(t, url, "g1", "Offline", "None"))
	checkExclusiveInCluster(t, sim.Audit())
}

// A group that fails to stop ends in "Offline Failure" on its server (item 5): it counts as
// running there, nothing starts it elsewhere, and it can be stopped again once the fault is gone.
func TestFidelity_GroupThatFailsToStop(t *testing.T) {
	t.Parallel()
	sim := startSim(t, oneCluster())
	url := sim.ServerURL("c", "s2")
	mustOK(t, "start", call(t, http.MethodPost, url+"/api/v1/groups/g1/start", `{"target":"s1"}`))
	eventually(t, "g1 on s1", groupIs(t, url, "g1", "Online", "s1"))
	if code, body := controlPost(t, sim, "/sim/v1/clusters/c/groups/g1/fail-stop", `{"enabled":true}`); code != 200 {
		t.Fatalf("fail-stop: %d %s", code, body)
	}
	if gs := sim.State().Clusters[0].Groups[0]; !gs.FailStop {
		t.Fatalf("state does not show fail_stop: %+v", gs)
	}

	mustOK(t, "stop", call(t, http.MethodPost, url+"/api/v1/groups/g1/stop", ""))
	eventually(t, "offline failure", groupIs(t, url, "g1", "Offline Failure", "s1"))
	if r := getOne(t, url, "resources", "g1-fip").env.Resources[0]; r.Status != "Offline Failure" || r.Current != "s1" {
		t.Errorf("resource of a group that failed to stop: %+v", r)
	}
	if gs := sim.State().Clusters[0].Groups[0]; gs.RunningOn != "s1" {
		t.Errorf("a group that failed to stop must count as running on s1: %+v", gs)
	}
	if recs := sim.Audit(); len(recs) != 1 || recs[0].OnlineUntil != nil {
		t.Errorf("the audit interval must stay open: %v", recs)
	}
	mustFail(t, "start elsewhere", call(t, http.MethodPost, url+"/api/v1/groups/g1/start", `{"target":"s2"}`),
		http.StatusConflict, ecxsim.CodeRejected, "Offline Failure on server \"s1\"; stop it first")
	mustFail(t, "start in place", call(t, http.MethodPost, url+"/api/v1/groups/g1/start", `{"target":"s1"}`),
		http.StatusConflict, ecxsim.CodeRejected, "stop it first")
	mustFail(t, "move", call(t, http.MethodPost, url+"/api/v1/groups/g1/move", `{"target":"s2"}`),
		http.StatusConflict, ecxsim.CodeRejected, "Offline Failure")

	// Another stop is tried afresh and fails again while the fault lasts.
	mustOK(t, "stop again", call(t, http.MethodPost, url+"/api/v1/groups/g1/stop", ""))
	r := getOne(t, url, "groups", "g1")
	if g := r.env.Groups[0]; g.Status != "Offline Pending" {
		t.Fatalf("a second stop: %s", r.raw)
	}
	eventually(t, "offline failure again", groupIs(t, url, "g1", "Offline Failure", "s1"))
	if err := sim.SetFailStop("c", "g1", false); err != nil {
		t.Fatal(err)
	}
	mustOK(t, "stop after the fault", call(t, http.MethodPost, url+"/api/v1/groups/g1/stop", ""))
	eventually(t, "offline", groupIs(t, url, "g1", "Offline", "None"))

	// A move whose stop fails goes no further: the group stays on its source.
	mustOK(t, "start g2", call(t, http.MethodPost, url+"/api/v1/groups/g2/start", `{"target":"s2"}`))
	eventually(t, "g2 on s2", groupIs(t, url, "g2", "Online", "s2"))
	if err := sim.SetFailStop("c", "g2", true); err != nil {
		t.Fatal(err)
	}
	mustOK(t, "move g2", call(t, http.MethodPost, url+"/api/v1/groups/g2/move", `{"target":"s1"}`))
	eventually(t, "g2 failed to stop", groupIs(t, url, "g2", "Offline Failure", "s2"))
	for _, rec := range sim.Audit() {
		if rec.Group == "g2" && rec.Server != "s2" {
			t.Errorf("g2 was started elsewhere after its stop failed: %+v", rec)
		}
	}
	checkExclusiveInCluster(t, sim.Audit())
}

// A server whose state the cluster cannot read is "Unknown", and so are the groups it runs, their
// resources and its monitor entries (item 5); what runs does not change. Once it is declared down
// it is "Offline" again. Monitors of a group report "Unused" outside its failover policy.
func TestFidelity_UnknownAndUnusedStatuses(t *testing.T) {
	t.Parallel()
	cfg := oneCluster()
	cfg.Clusters[0].Groups[1].Servers = []string{"s2"} // g2 cannot run on s1
	sim := startSim(t, cfg)
	url := sim.ServerURL("c", "s2")
	mustOK(t, "start", call(t, http.MethodPost, url+"/api/v1/groups/g1/start", `{"target":"s1"}`))
	eventually(t, "g1 on s1", groupIs(t, url, "g1", "Online", "s1"))
	eventually(t, "g2-fipw is unused on s1", monitorIs(url, "g2-fipw", "Offline", serverJSON{"s1", "Unused"}, serverJSON{"s2", "Offline"}))

	if code, body := controlPost(t, sim, "/sim/v1/clusters/c/servers/s1/status-unknown", `{"enabled":true}`); code != 200 {
		t.Fatalf("status-unknown: %d %s", code, body)
	}
	if got := getOne(t, url, "servers", "s1").env.Servers[0].Status; got != "Unknown" {
		t.Errorf("server s1 is %q, want Unknown", got)
	}
	if got := getOne(t, url, "servers", "s2").env.Servers[0].Status; got != "Online" {
		t.Errorf("server s2 is %q, want Online", got)
	}
	if err := groupIs(t, url, "g1", "Unknown", "s1")(); err != nil {
		t.Error(err)
	}
	if err := groupIs(t, url, "g2", "Offline", "None")(); err != nil {
		t.Error(err)
	}
	if r := getOne(t, url, "resources", "g1-exec").env.Resources[0]; r.Status != "Unknown" || r.Current != "s1" {
		t.Errorf("resource on an unknown server: %+v", r)
	}
	if err := monitorIs(url, "userw", "Caution", serverJSON{"s1", "Unknown"}, serverJSON{"s2", "Normal"})(); err != nil {
		t.Error(err)
	}
	st := sim.State().Clusters[0]
	if !st.Servers[0].StatusUnknown || st.Servers[0].Status != "Unknown" || st.Groups[0].RunningOn != "s1" {
		t.Errorf("state: %+v", st)
	}

	// Declared down after a power failure: Offline, no longer Unknown.
	if err := sim.ServerDown("c", "s1"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "s1 declared down", func() error {
		r, err := tryCall(http.MethodGet, url+"/api/v1/servers/s1", "", user, password)
		if err != nil {
			return err
		}
		if got := r.env.Servers[0].Status; got != "Offline" {
			return fmt.Errorf("s1 is %s", got)
		}
		return nil
	})
	eventually(t, "g1 failed over", groupIs(t, url, "g1", "Online", "s2"))
	if err := sim.ServerUp("c", "s1"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "s1 back, still unreadable", func() error {
		r, err := tryCall(http.MethodGet, url+"/api/v1/servers/s1", "", user, password)
		if err != nil {
			return err
		}
		if got := r.env.Servers[0].Status; got != "Unknown" {
			return fmt.Errorf("s1 is %s", got)
		}
		return nil
	})
	if err := sim.SetServerStatusUnknown("c", "s1", false); err != nil {
		t.Fatal(err)
	}
	if got := getOne(t, url, "servers", "s1").env.Servers[0].Status; got != "Online" {
		t.Errorf("after the fault: s1 is %q", got)
	}
}

// The monitor view follows a power failure at once, while servers and groups keep their last
// state until the heartbeat timeout (item 8): the two disagree for that long.
func TestFidelity_MonitorsAndServersDisagreeAfterPowerFailure(t *testing.T) {
	t.Parallel()
	cfg := oneCluster()
	cfg.Clusters[0].HeartbeatTimeout = 2 * time.Second
	sim := startSim(t, cfg)
	url := sim.ServerURL("c", "s2")
	mustOK(t, "start", call(t, http.MethodPost, url+"/api/v1/groups/g1/start", `{"target":"s1"}`))
	eventually(t, "g1 on s1", groupIs(t, url, "g1", "Online", "s1"))
	downAt := time.Now()
	if err := sim.ServerDown("c", "s1"); err != nil {
		t.Fatal(err)
	}
	servers := getOne(t, url, "servers", "s1")
	group := getOne(t, url, "groups", "g1")
	userw := getOne(t, url, "monitors", "userw")
	fipw := getOne(t, url, "monitors", "g1-fipw")
	if time.Since(downAt) >= cfg.Clusters[0].HeartbeatTimeout {
		t.Skip("the machine was too slow to read within the heartbeat timeout")
	}
	if s := servers.env.Servers[0]; s.Status != "Online" {
		t.Errorf("within the heartbeat timeout the server is still reported Online: %+v", s)
	}
	if g := group.env.Groups[0]; g.Status != "Online" || g.Current != "s1" {
		t.Errorf("within the heartbeat timeout the group is still reported Online on s1: %+v", g)
	}
	if m := userw.env.Monitors[0]; m.Status != "Normal" || !cmp.Equal(m.Servers, []serverJSON{{"s1", "Offline"}, {"s2", "Normal"}}) {
		t.Errorf("the monitors show the power failure at once: %+v", m)
	}
	if m := fipw.env.Monitors[0]; m.Status != "Offline" {
		t.Errorf("the group's monitor shows it stopped at once: %+v", m)
	}
	eventually(t, "failover after the timeout", groupIs(t, url, "g1", "Online", "s2"))
	if s := getOne(t, url, "servers", "s1").env.Servers[0]; s.Status != "Offline" {
		t.Errorf("after the timeout: %+v", s)
	}
}

// Monitor dummy failures report "Error" and run a group monitor's recovery action (a failover)
// once; server dummy failures fail the server's groups over at once (item 6).
func TestFidelity_DummyFailures(t *testing.T) {
	t.Parallel()
	sim := startSim(t, oneCluster())
	url := sim.ServerURL("c", "s2")
	mustOK(t, "start", call(t, http.MethodPost, url+"/api/v1/groups/g1/start", `{"target":"s1"}`))
	eventually(t, "g1 on s1", groupIs(t, url, "g1", "Online", "s1"))

	// A monitor without a group: Error, no action.
	mustOK(t, "userw dummy on s1", call(t, http.MethodPost, url+"/api/v1/monitors/userw/dummy-failure/start", `{"target":"s1"}`))
	if err := monitorIs(url, "userw", "Caution", serverJSON{"s1", "Error"}, serverJSON{"s2", "Normal"})(); err != nil {
		t.Error(err)
	}
	mustOK(t, "userw dummy everywhere", call(t, http.MethodPost, url+"/api/v1/monitors/userw/dummy-failure/start", `{"target":""}`))
	if err := monitorIs(url, "userw", "Error", serverJSON{"s1", "Error"}, serverJSON{"s2", "Error"})(); err != nil {
		t.Error(err)
	}
	if err := groupIs(t, url, "g1", "Online", "s1")(); err != nil {
		t.Errorf("a monitor without a group moved a group: %v", err)
	}
	mustOK(t, "userw dummy stop", call(t, http.MethodPost, url+"/api/v1/monitors/userw/dummy-failure/stop", `{"target":""}`))
	if err := monitorIs(url, "userw", "Normal", serverJSON{"s1", "Normal"}, serverJSON{"s2", "Normal"})(); err != nil {
		t.Error(err)
	}

	// The group's monitor: its error fails the group over once.
	mustOK(t, "g1-fipw dummy on s1", call(t, http.MethodPost, url+"/api/v1/monitors/g1-fipw/dummy-failure/start", `{"target":"s1"}`))
	eventually(t, "g1 failed over", groupIs(t, url, "g1", "Online", "s2"))
	if err := monitorIs(url, "g1-fipw", "Normal", serverJSON{"s1", "Offline"}, serverJSON{"s2", "Normal"})(); err != nil {
		t.Error(err)
	}
	mustOK(t, "g1-fipw dummy stop", call(t, http.MethodPost, url+"/api/v1/monitors/g1-fipw/dummy-failure/stop", `{"target":"s1"}`))

	// Rejections.
	mustFail(t, "unknown monitor", call(t, http.MethodPost, url+"/api/v1/monitors/nope/dummy-failure/start", `{"target":""}`),
		http.StatusNotFound, ecxsim.CodeNotFound, `monitor "nope" not found`)
	mustFail(t, "unknown target", call(t, http.MethodPost, url+"/api/v1/monitors/userw/dummy-failure/start", `{"target":"s9"}`),
		http.StatusBadRequest, ecxsim.CodeInvalidRequest, "not a server")
	mustFail(t, "unknown op", call(t, http.MethodPost, url+"/api/v1/monitors/userw/dummy-failure/pause", `{"target":""}`),
		http.StatusNotFound, ecxsim.CodeNotFound, "not found")

	// A server dummy failure: s2 fails, g1 moves to s1 at once, s2 is Offline but still answers.
	mustOK(t, "s2 dummy failure", call(t, http.MethodPost, url+"/api/v1/servers/s2/dummy-failure/start", ""))
	if got := getOne(t, url, "servers", "s2").env.Servers[0].Status; got != "Offline" {
		t.Errorf("a dummy-failed server is %q, want Offline", got)
	}
	eventually(t, "g1 on s1 after the dummy failure", groupIs(t, url, "g1", "Online", "s1"))
	if !sim.State().Clusters[0].Servers[1].DummyFailure {
		t.Errorf("state does not show the dummy failure")
	}
	mustFail(t, "start on the failed server", call(t, http.MethodPost, url+"/api/v1/groups/g2/start", `{"target":"s2"}`),
		http.StatusConflict, ecxsim.CodeRejected, `target server "s2" is offline`)
	mustOK(t, "dummy failure again", call(t, http.MethodPost, url+"/api/v1/servers/s2/dummy-failure/start", ""))
	mustOK(t, "s2 dummy stop", call(t, http.MethodPost, url+"/api/v1/servers/s2/dummy-failure/stop", ""))
	if got := getOne(t, url, "servers", "s2").env.Servers[0].Status; got != "Online" {
		t.Errorf("after the dummy failure: s2 is %q", got)
	}
	if err := groupIs(t, url, "g1", "Online", "s1")(); err != nil {
		t.Errorf("no failback: %v", err)
	}
	mustOK(t, "dummy stop without a failure", call(t, http.MethodPost, url+"/api/v1/servers/s1/dummy-failure/stop", ""))
	mustFail(t, "unknown server", call(t, http.MethodPost, url+"/api/v1/servers/s9/dummy-failure/start", ""),
		http.StatusNotFound, ecxsim.CodeNotFound, `server "s9" not found`)
	if err := sim.ServerDown("c", "s2"); err != nil {
		t.Fatal(err)
	}
	mustFail(t, "dummy failure of a powered-off server", call(t, http.MethodPost, sim.ServerURL("c", "s1")+"/api/v1/servers/s2/dummy-failure/start", ""),
		http.StatusConflict, ecxsim.CodeRejected, "powered off")
	checkExclusiveInCluster(t, sim.Audit())
}

// mirrorStatus reads detail.status of mirrors/{kind}/status.
func mirrorStatus(t testing.TB, url, kind string) string {
	t.Helper()
	r := call(t, http.MethodGet, url+"/api/v1/mirrors/"+kind+"/status", "")
	mustOK(t, kind+" status", r)
	const prefix = `{"result":{"code":0,"message":""},"detail":{"status":"`
	raw := strings.TrimSpace(r.raw)
	if !strings.HasPrefix(raw, prefix) || !strings.HasSuffix(raw, `"}}`) {
		t.Fatalf("mirror status body %s", raw)
	}
	return strings.TrimSuffix(strings.TrimPrefix(raw, prefix), `"}}`)
}

// Mirror backup and restore actions run asynchronously and report through their status (item 6).
func TestFidelity_Mirrors(t *testing.T) {
	t.Parallel()
	sim := startSim(t, oneCluster())
	url := sim.ServerURL("c", "s1")
	for _, kind := range []string{"backup", "restore"} {
		if got := mirrorStatus(t, url, kind); got != "idle" {
			t.Errorf("%s status before any action: %q", kind, got)
		}
	}
	mustOK(t, "backup preaction", call(t, http.MethodPost, url+"/api/v1/mirrors/backup/preaction", `{"no-shutdown":true,"timeout":60}`))
	if got := mirrorStatus(t, url, "backup"); got != "running" {
		t.Errorf("backup status right after the preaction: %q", got)
	}
	if got := mirrorStatus(t, url, "restore"); got != "idle" {
		t.Errorf("restore status during a backup: %q", got)
	}
	mustFail(t, "a second backup action", call(t, http.MethodPost, url+"/api/v1/mirrors/backup/postaction", ""),
		http.StatusConflict, ecxsim.CodeRejected, "backup preaction is still running")
	eventually(t, "backup preaction completes", func() error {
		if got := mirrorStatus(t, url, "backup"); got != "backup preaction completed" {
			return fmt.Errorf("status %q", got)
		}
		return nil
	})
	mustOK(t, "restore postaction", call(t, http.MethodPost, url+"/api/v1/mirrors/restore/postaction", `{"skip-copy":true}`))
	eventually(t, "restore postaction completes", func() error {
		if got := mirrorStatus(t, url, "restore"); got != "restore postaction completed" {
			return fmt.Errorf("status %q", got)
		}
		return nil
	})
	bad := []struct {
		method, path, body string
		status, code       int
		want               string
	}{
		{"POST", "/api/v1/mirrors/backup/preaction", `{"timeout":0}`, 400, ecxsim.CodeInvalidRequest, "timeout must be a positive"},
		{"POST", "/api/v1/mirrors/backup/preaction", `{"online":"yes"}`, 400, ecxsim.CodeInvalidRequest, "not valid JSON"},
		{"POST", "/api/v1/mirrors/backup/status", "", 405, ecxsim.CodeInvalidRequest, "not allowed"},
		{"GET", "/api/v1/mirrors/backup/preaction", "", 405, ecxsim.CodeInvalidRequest, "not allowed"},
		{"GET", "/api/v1/mirrors/snapshot/status", "", 404, ecxsim.CodeNotFound, "not found"},
		{"POST", "/api/v1/mirrors/backup/explode", "", 404, ecxsim.CodeNotFound, "not found"},
	}
	for _, tc := range bad {
		mustFail(t, tc.method+" "+tc.path, call(t, tc.method, url+tc.path, tc.body), tc.status, tc.code, tc.want)
	}
}

// scripts/run and metrics/* are not simulated: they answer like any unknown path (item 6).
func TestFidelity_UnsimulatedEndpointsAreUnknownPaths(t *testing.T) {
	t.Parallel()
	sim := startSim(t, oneCluster())
	url := sim.ServerURL("c", "s1")
	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/api/v1/scripts/run", `{"script":"a.sh","target":"127.0.0.1"}`},
		{"GET", "/api/v1/metrics/groups/uptime", ""},
		{"GET", "/api/v1/metrics/groups/g1/uptime", ""},
		{"GET", "/api/v1/metrics/config/last-applied-date", ""},
	} {
		mustFail(t, tc.method+" "+tc.path, call(t, tc.method, url+tc.path, tc.body), http.StatusNotFound, ecxsim.CodeNotFound,
			fmt.Sprintf("path %q not found", tc.path))
	}
}

// Unknown JSON fields are ignored (item 9): {"server":"s2"} is not a target, so the start goes to
// the highest-priority server of the policy. Only "target" chooses the server.
func TestFidelity_UnknownBodyFieldsAreIgnored(t *testing.T) {
	t.Parallel()
	sim := startSim(t, oneCluster())
	url := sim.ServerURL("c", "s1")
	mustOK(t, "start with server", call(t, http.MethodPost, url+"/api/v1/groups/g1/start", `{"server":"s2"}`))
	eventually(t, "g1 on s1, not s2", groupIs(t, url, "g1", "Online", "s1"))
	mustOK(t, "start with target and server", call(t, http.MethodPost, url+"/api/v1/groups/g2/start", `{"server":"s1","target":"s1"}`))
	eventually(t, "g2 on its target s1", groupIs(t, url, "g2", "Online", "s1"))
}

// The fault switches of this file through the control API, and their errors.
func TestFidelity_ControlCalls(t *testing.T) {
	t.Parallel()
	sim := startSim(t, oneCluster())
	for _, tc := range []struct {
		path, body string
		status     int
		want       string
	}{
		{"/sim/v1/clusters/c/groups/g1/fail-stop", `{"enabled":true}`, 200, `{"ok":true}`},
		{"/sim/v1/clusters/c/groups/nope/fail-stop", `{"enabled":true}`, 404, `group \"nope\" of cluster \"c\": not found`},
		{"/sim/v1/clusters/c/groups/g1/fail-stop", `{"on":true}`, 400, "unknown field"},
		{"/sim/v1/clusters/c/servers/s2/status-unknown", `{"enabled":true}`, 200, `{"ok":true}`},
		{"/sim/v1/clusters/c/servers/s9/status-unknown", `{"enabled":true}`, 404, "not found"},
		{"/sim/v1/clusters/c/servers/s2/status-unknown", ``, 400, "bad request"},
		{"/sim/v1/clusters/x/servers/s2/status-unknown", `{"enabled":false}`, 404, `cluster \"x\": not found`},
	} {
		code, body := controlPost(t, sim, tc.path, tc.body)
		if code != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("POST %s %s: %d %s, want %d containing %s", tc.path, tc.body, code, body, tc.status, tc.want)
		}
	}
	st := sim.State().Clusters[0]
	if !st.Groups[0].FailStop || !st.Servers[1].StatusUnknown || st.Servers[1].Status != "Unknown" {
		t.Errorf("state after the switches: %+v", st)
	}
}
