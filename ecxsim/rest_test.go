package ecxsim_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/ecxsim"
	"github.com/google/go-cmp/cmp"
)

// TestREST_ReadEndpointsExactBodies pins the exact bytes of every read endpoint of a fresh cluster
// (docs/ecx.md): envelope first, plural keys with arrays, "None" for stopped groups.
func TestREST_ReadEndpointsExactBodies(t *testing.T) {
	t.Parallel()
	sim := startSim(t, oneCluster())
	url := sim.ServerURL("c", "s2")
	const ok = `{"result":{"code":0,"message":""},`
	g1 := `{"name":"g1","status":"Offline","current":"None","resources":[{"name":"g1-fip"},{"name":"g1-exec"}]}`
	g2 := `{"name":"g2","status":"Offline","current":"None","resources":[{"name":"g2-fip"},{"name":"g2-exec"}]}`
	servers := `[{"name":"s1","status":"Online"},{"name":"s2","status":"Online"}]`
	tests := []struct{ path, want string }{
		{"/api/v1/cluster", ok + `"cluster":{"name":"c","status":"Online"}}`},
		{"/api/v1/cluster/toratio", ok + `"cluster":{"toratio":1}}`},
		{"/api/v1/servers", ok + `"servers":` + servers + `}`},
		{"/api/v1/servers/s1", ok + `"servers":[{"name":"s1","status":"Online"}]}`},
		{"/api/v1/servers?select=name", ok + `"servers":[{"name":"s1"},{"name":"s2"}]}`},
		{"/api/v1/groups", ok + `"groups":[` + g1 + `,` + g2 + `]}`},
		{"/api/v1/groups/g2", ok + `"groups":[` + g2 + `]}`},
		{"/api/v1/groups?select=name", ok + `"groups":[{"name":"g1"},{"name":"g2"}]}`},
		{"/api/v1/groups/g1?select=name", ok + `"groups":[{"name":"g1"}]}`},
		{"/api/v1/groups/g1?select=resources", ok + `"groups":[{"name":"g1","resources":[{"name":"g1-fip"},{"name":"g1-exec"}]}]}`},
		// NEC's client makes the group name optional with select=resources (issue 12, item 4).
		{"/api/v1/groups?select=resources", ok + `"groups":[{"name":"g1","resources":[{"name":"g1-fip"},{"name":"g1-exec"}]},{"name":"g2","resources":[{"name":"g2-fip"},{"name":"g2-exec"}]}]}`},
		{"/api/v1/resources?select=name", ok + `"resources":[{"name":"g1-fip"},{"name":"g1-exec"},{"name":"g2-fip"},{"name":"g2-exec"}]}`},
		{"/api/v1/resources/g2-exec", ok + `"resources":[{"name":"g2-exec","type":"exec","status":"Offline","current":"None","group":"g2"}]}`},
		{"/api/v1/monitors?select=name", ok + `"monitors":[{"name":"userw"},{"name":"ipw1"},{"name":"g1-fipw"},{"name":"g2-fipw"}]}`},
		{"/api/v1/monitors/userw", ok + `"monitors":[{"name":"userw","type":"userw","status":"Normal","servers":[{"name":"s1","status":"Normal"},{"name":"s2","status":"Normal"}]}]}`},
		{"/api/v1/monitors/g1-fipw", ok + `"monitors":[{"name":"g1-fipw","type":"fipw","status":"Offline","servers":[{"name":"s1","status":"Offline"},{"name":"s2","status":"Offline"}]}]}`},
	}
	for _, tc := range tests {
		r := call(t, http.MethodGet, url+tc.path, "")
		if r.status != http.StatusOK {
			t.Errorf("GET %s: HTTP %d", tc.path, r.status)
		}
		if got := strings.TrimSpace(r.raw); got != tc.want {
			t.Errorf("GET %s:\n got %s\nwant %s", tc.path, got, tc.want)
		}
	}
	r := call(t, http.MethodGet, url+"/api/v1/resources", "")
	if len(r.env.Resources) != 4 {
		t.Fatalf("resources: %s", r.raw)
	}
	r = call(t, http.MethodGet, url+"/api/v1/monitors", "")
	if len(r.env.Monitors) != 4 {
		t.Fatalf("monitors: %s", r.raw)
	}
}

func TestREST_AuthFailure(t *testing.T) {
	t.Parallel()
	sim := startSim(t, oneCluster())
	url := sim.ServerURL("c", "s1") + "/api/v1/groups"
	for _, tc := range []struct{ name, user, pass string }{
		{"no credentials", "", ""},
		{"wrong password", user, "wrong"},
		{"wrong user", "root", password},
	} {
		r, err := tryCall(http.MethodGet, url, "", tc.user, tc.pass)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		mustFail(t, tc.name, r, http.StatusUnauthorized, ecxsim.CodeAuthFailed, ecxsim.MessageAuthFailed)
		if r.message() != "authentication failed" {
			t.Errorf("%s: message %q", tc.name, r.message())
		}
	}
	// An operation with bad credentials changes nothing.
	r, err := tryCall(http.MethodPost, sim.ServerURL("c", "s1")+"/api/v1/groups/g1/start", `{"target":"s1"}`, user, "bad")
	if err != nil {
		t.Fatal(err)
	}
	mustFail(t, "POST with bad password", r, http.StatusUnauthorized, ecxsim.CodeAuthFailed, "authentication failed")
	if err := groupIs(t, sim.ServerURL("c", "s1"), "g1", "Offline", "None")(); err != nil {
		t.Fatal(err)
	}
}

func TestREST_UnknownNames(t *testing.T) {
	t.Parallel()
	sim := startSim(t, oneCluster())
	url := sim.ServerURL("c", "s1")
	tests := []struct{ method, path, body, want string }{
		{"GET", "/api/v1/servers/nope", "", `server "nope" not found`},
		{"GET", "/api/v1/groups/nope", "", `group "nope" not found`},
		{"GET", "/api/v1/groups/nope?select=resources", "", `group "nope" not found`},
		{"GET", "/api/v1/resources/nope", "", `resource "nope" not found`},
		{"GET", "/api/v1/monitors/nope", "", `monitor "nope" not found`},
		{"POST", "/api/v1/groups/nope/start", `{"target":"s1"}`, `group "nope" not found`},
		{"POST", "/api/v1/servers/nope/stop", "", `server "nope" not found`},
		{"POST", "/api/v1/resources/nope/stop", "", `resource "nope" not found`},
		{"POST", "/api/v1/monitors/nope/suspend", `{"target":"s1"}`, `monitor "nope" not found`},
		{"GET", "/api/v1/nothing", "", `path "/api/v1/nothing" not found`},
		{"POST", "/api/v1/groups/g1/explode", "", `not found`},
	}
	for _, tc := range tests {
		r := call(t, tc.method, url+tc.path, tc.body)
		mustFail(t, tc.method+" "+tc.path, r, http.StatusNotFound, ecxsim.CodeNotFound, tc.want)
	}
	bad := []struct{ method, path, body, want string }{
		{"POST", "/api/v1/groups/g1/start", `{"target":"s9"}`, `target server "s9" is not a server`},
		{"POST", "/api/v1/groups/g1/start", `{"target":`, `not valid JSON`},
		{"POST", "/api/v1/groups/start", ``, `target is required`},
		{"POST", "/api/v1/resources/g1-fip/start", ``, `target is required`},
		{"POST", "/api/v1/monitors/userw/suspend", `{}`, `target is required`},
		{"GET", "/api/v1/groups?select=bogus", "", `unsupported select`},
		{"GET", "/api/v1/servers?select=bogus", "", `unsupported select`},
	}
	for _, tc := range bad {
		r := call(t, tc.method, url+tc.path, tc.body)
		mustFail(t, tc.method+" "+tc.path, r, http.StatusBadRequest, ecxsim.CodeInvalidRequest, tc.want)
	}
	r := call(t, http.MethodDelete, url+"/api/v1/groups", "")
	mustFail(t, "DELETE groups", r, http.StatusMethodNotAllowed, ecxsim.CodeInvalidRequest, "not allowed")
	r = call(t, http.MethodGet, url+"/api/v1/groups/g1/start", "")
	mustFail(t, "GET an operation", r, http.StatusMethodNotAllowed, ecxsim.CodeInvalidRequest, "not allowed")
}

// TestREST_GroupLifecycleIsAsynchronous follows a group through every transition that docs/ecx.md describes.
func TestREST_GroupLifecycleIsAsynchronous(t *testing.T) {
	t.Parallel()
	cfg := oneCluster()
	cfg.Clusters[0].Groups[0].StartDuration = 500 * time.Millisecond
	cfg.Clusters[0].Groups[0].StopDuration = 500 * time.Millisecond
	sim := startSim(t, cfg)
	url := sim.ServerURL("c", "s2") // operate through the other server: any server sees the cluster

	mustOK(t, "start", call(t, http.MethodPost, url+"/api/v1/groups/g1/start", `{"target":"s1"}`))
	r := call(t, http.MethodGet, url+"/api/v1/groups/g1", "")
	if got := r.env.Groups[0]; got.Status != "Online Pending" || got.Current != "s1" {
		t.Fatalf("right after start: %s", r.raw)
	}
	r = call(t, http.MethodGet, url+"/api/v1/resources/g1-fip", "")
	if got := r.env.Resources[0]; got.Status != "Online Pending" || got.Current != "s1" {
		t.Fatalf("resource right after start: %s", r.raw)
	}
	eventually(t, "g1 online", groupIs(t, url, "g1", "Online", "s1"))
	r = call(t, http.MethodGet, url+"/api/v1/monitors/g1-fipw", "")
	want := []serverJSON{{"s1", "Normal"}, {"s2", "Offline"}}
	if diff := cmp.Diff(want, r.env.Monitors[0].Servers); diff != "" || r.env.Monitors[0].Status != "Normal" {
		t.Fatalf("fipw follows the group (-want +got):\n%s%s", diff, r.raw)
	}

	mustOK(t, "stop", call(t, http.MethodPost, url+"/api/v1/groups/g1/stop", ""))
	r = call(t, http.MethodGet, url+"/api/v1/groups/g1", "")
	if got := r.env.Groups[0]; got.Status != "Offline Pending" || got.Current != "s1" {
		t.Fatalf("right after stop: %s", r.raw)
	}
	eventually(t, "g1 offline", groupIs(t, url, "g1", "Offline", "None"))

	// Start without a target: the highest-priority server of the policy.
	mustOK(t, "start without target", call(t, http.MethodPost, url+"/api/v1/groups/g2/start", ""))
	eventually(t, "g2 online on s2", groupIs(t, url, "g2", "Online", "s2"))
}

func TestREST_StartRejections(t *testing.T) {
	t.Parallel()
	sim := startSim(t, oneCluster())
	url := sim.ServerURL("c", "s1")
	mustOK(t, "start", call(t, http.MethodPost, url+"/api/v1/groups/g1/start", `{"target":"s1"}`))

	r := call(t, http.MethodPost, url+"/api/v1/groups/g1/start", `{"target":"s2"}`)
	mustFail(t, "start on the other server", r, http.StatusConflict, ecxsim.CodeRejected, `already online on server "s1"`)
	mustOK(t, "start again on the same server", call(t, http.MethodPost, url+"/api/v1/groups/g1/start", `{"target":"s1"}`))
	eventually(t, "g1 online", groupIs(t, url, "g1", "Online", "s1"))
	r = call(t, http.MethodPost, url+"/api/v1/groups/g1/start", `{"target":"s2"}`)
	mustFail(t, "start online group elsewhere", r, http.StatusConflict, ecxsim.CodeRejected, `already online on server "s1"`)

	if err := sim.ServerDown("c", "s2"); err != nil {
		t.Fatal(err)
	}
	r = call(t, http.MethodPost, url+"/api/v1/groups/g2/start", `{"target":"s2"}`)
	mustFail(t, "start on a dead server", r, http.StatusConflict, ecxsim.CodeRejected, `target server "s2" is offline`)

	one := oneCluster()
	one.Clusters[0].Groups[1].Servers = []string{"s2"}
	sim2 := startSim(t, one)
	r = call(t, http.MethodPost, sim2.ServerURL("c", "s1")+"/api/v1/groups/g2/start", `{"target":"s1"}`)
	mustFail(t, "start outside the policy", r, http.StatusConflict, ecxsim.CodeRejected, `not in the failover policy`)
	checkExclusiveInCluster(t, sim.Audit())
}

func TestREST_Move(t *testing.T) {
	t.Parallel()
	sim := startSim(t, oneCluster())
	url := sim.ServerURL("c", "s1")
	r := call(t, http.MethodPost, url+"/api/v1/groups/g1/move", `{"target":"s2"}`)
	mustFail(t, "move offline group", r, http.StatusConflict, ecxsim.CodeRejected, "not online")

	mustOK(t, "start", call(t, http.MethodPost, url+"/api/v1/groups/g1/start", `{"target":"s1"}`))
	eventually(t, "online on s1", groupIs(t, url, "g1", "Online", "s1"))
	mustOK(t, "move with target", call(t, http.MethodPost, url+"/api/v1/groups/g1/move", `{"target":"s2"}`))
	r = call(t, http.MethodGet, url+"/api/v1/groups/g1", "")
	if g := r.env.Groups[0]; g.Status != "Offline Pending" || g.Current != "s1" {
		t.Fatalf("move first stops on the source: %s", r.raw)
	}
	eventually(t, "online on s2", groupIs(t, url, "g1", "Online", "s2"))
	r = call(t, http.MethodPost, url+"/api/v1/groups/g1/move", `{"target":"s2"}`)
	mustFail(t, "move to where it runs", r, http.StatusConflict, ecxsim.CodeRejected, `already online on server "s2"`)

	mustOK(t, "move without target", call(t, http.MethodPost, url+"/api/v1/groups/g1/move", ""))
	eventually(t, "back on s1", groupIs(t, url, "g1", "Online", "s1"))
	checkExclusiveInCluster(t, sim.Audit())
}

func TestREST_BulkStartStop(t *testing.T) {
	t.Parallel()
	sim := startSim(t, oneCluster())
	url := sim.ServerURL("c", "s1")
	mustOK(t, "groups/start", call(t, http.MethodPost, url+"/api/v1/groups/start", `{"target":"s2"}`))
	eventually(t, "g1 on s2", groupIs(t, url, "g1", "Online", "s2"))
	eventually(t, "g2 on s2", groupIs(t, url, "g2", "Online", "s2"))
	mustOK(t, "groups/stop other server", call(t, http.MethodPost, url+"/api/v1/groups/stop", `{"target":"s1"}`))
	if err := groupIs(t, url, "g1", "Online", "s2")(); err != nil {
		t.Fatalf("stop on s1 touched a group of s2: %v", err)
	}
	mustOK(t, "groups/stop", call(t, http.MethodPost, url+"/api/v1/groups/stop", `{"target":"s2"}`))
	eventually(t, "g1 offline", groupIs(t, url, "g1", "Offline", "None"))
	eventually(t, "g2 offline", groupIs(t, url, "g2", "Offline", "None"))
}

func TestREST_FailStart(t *testing.T) {
	t.Parallel()
	cfg := oneCluster()
	cfg.Clusters[0].Groups[0].FailStart = true
	sim := startSim(t, cfg)
	url := sim.ServerURL("c", "s1")
	mustOK(t, "start", call(t, http.MethodPost, url+"/api/v1/groups/g1/start", `{"target":"s1"}`))
	eventually(t, "online failure", groupIs(t, url, "g1", "Online Failure", "s1"))
	r := call(t, http.MethodPost, url+"/api/v1/groups/g1/start", `{"target":"s2"}`)
	mustFail(t, "start elsewhere while failed", r, http.StatusConflict, ecxsim.CodeRejected, "stop it first")

	if err := sim.SetFailStart("c", "g1", false); err != nil {
		t.Fatal(err)
	}
	mustOK(t, "retry on the same server", call(t, http.MethodPost, url+"/api/v1/groups/g1/start", `{"target":"s1"}`))
	eventually(t, "online", groupIs(t, url, "g1", "Online", "s1"))
	recs := sim.Audit()
	if len(recs) != 1 || recs[0].OnlineUntil != nil {
		t.Fatalf("a retry on the same server is one open interval, got %v", recs)
	}
}

func TestREST_ResourcesAndMonitors(t *testing.T) {
	t.Parallel()
	sim := startSim(t, oneCluster())
	url := sim.ServerURL("c", "s1")
	resourceIs := func(name, status, current string) func() error {
		return func() error {
			r, err := tryCall(http.MethodGet, url+"/api/v1/resources/"+name, "", user, password)
			if err != nil {
				return err
			}
			want := []resourceJSON{{Name: name, Type: strings.TrimPrefix(name, "g1-"), Status: status, Current: current, Group: "g1"}}
			if diff := cmp.Diff(want, r.env.Resources); diff != "" {
				return &cmpError{diff}
			}
			return nil
		}
	}
	// Starting a resource of a stopped group starts the group there.
	mustOK(t, "resource start", call(t, http.MethodPost, url+"/api/v1/resources/g1-exec/start", `{"target":"s2"}`))
	eventually(t, "group online", groupIs(t, url, "g1", "Online", "s2"))
	mustOK(t, "resource stop", call(t, http.MethodPost, url+"/api/v1/resources/g1-exec/stop", ""))
	eventually(t, "exec offline", resourceIs("g1-exec", "Offline", "None"))
	if err := resourceIs("g1-fip", "Online", "s2")(); err != nil {
		t.Fatalf("fip must stay online: %v", err)
	}
	r := call(t, http.MethodPost, url+"/api/v1/resources/g1-exec/start", `{"target":"s1"}`)
	mustFail(t, "resource start on the other server", r, http.StatusConflict, ecxsim.CodeRejected, `online on server "s2"`)
	mustOK(t, "resource start again", call(t, http.MethodPost, url+"/api/v1/resources/g1-exec/start", `{"target":"s2"}`))
	eventually(t, "exec online", resourceIs("g1-exec", "Online", "s2"))

	mustOK(t, "monitor suspend", call(t, http.MethodPost, url+"/api/v1/monitors/userw/suspend", `{"target":"s1"}`))
	r = call(t, http.MethodGet, url+"/api/v1/monitors/userw", "")
	want := []monitorJSON{{Name: "userw", Type: "userw", Status: "Caution", Servers: []serverJSON{{"s1", "Suspend"}, {"s2", "Normal"}}}}
	if diff := cmp.Diff(want, r.env.Monitors); diff != "" {
		t.Fatalf("suspended monitor (-want +got):\n%s", diff)
	}
	mustOK(t, "monitor resume", call(t, http.MethodPost, url+"/api/v1/monitors/userw/resume", `{"target":"s1"}`))
	r = call(t, http.MethodGet, url+"/api/v1/monitors/userw", "")
	if r.env.Monitors[0].Status != "Normal" {
		t.Fatalf("resumed monitor: %s", r.raw)
	}
}

type cmpError struct{ diff string }

func (e *cmpError) Error() string { return "(-want +got):\n" + e.diff }

func TestREST_ClusterOperations(t *testing.T) {
	t.Parallel()
	cfg := oneCluster()
	cfg.Clusters[0].Groups[1].AutoStart = true
	sim := startSim(t, cfg)
	url := sim.ServerURL("c", "s1")
	eventually(t, "auto-start group online on its first server", groupIs(t, url, "g2", "Online", "s2"))

	mustOK(t, "suspend", call(t, http.MethodPost, url+"/api/v1/cluster/suspend", ""))
	r := call(t, http.MethodGet, url+"/api/v1/monitors/ipw1", "")
	if r.env.Monitors[0].Status != "Suspend" {
		t.Fatalf("monitors of a suspended cluster: %s", r.raw)
	}
	r = call(t, http.MethodPost, url+"/api/v1/groups/g1/start", `{"target":"s1"}`)
	mustFail(t, "start while suspended", r, http.StatusConflict, ecxsim.CodeRejected, "suspended")
	mustOK(t, "resume", call(t, http.MethodPost, url+"/api/v1/cluster/resume", ""))

	mustOK(t, "cluster stop", call(t, http.MethodPost, url+"/api/v1/cluster/stop", ""))
	eventually(t, "cluster offline", func() error {
		r, err := tryCall(http.MethodGet, url+"/api/v1/cluster", "", user, password)
		if err != nil {
			return err
		}
		if r.env.Cluster.Status != "Offline" {
			return &cmpError{r.raw}
		}
		return nil
	})
	r = call(t, http.MethodGet, url+"/api/v1/servers", "")
	if diff := cmp.Diff([]serverJSON{{"s1", "Offline"}, {"s2", "Offline"}}, r.env.Servers); diff != "" {
		t.Fatalf("servers of a stopped cluster (-want +got):\n%s", diff)
	}
	if err := groupIs(t, url, "g2", "Offline", "None")(); err != nil {
		t.Fatal(err)
	}
	mustOK(t, "cluster start", call(t, http.MethodPost, url+"/api/v1/cluster/start", ""))
	eventually(t, "auto-start again", groupIs(t, url, "g2", "Online", "s2"))
	if err := groupIs(t, url, "g1", "Offline", "None")(); err != nil {
		t.Fatalf("a manual-start group must stay offline: %v", err)
	}

	mustOK(t, "toratio set", call(t, http.MethodPost, url+"/api/v1/cluster/toratio/set", `{"ratio":3,"time":"2h"}`))
	r = call(t, http.MethodGet, url+"/api/v1/cluster/toratio", "")
	if r.env.Cluster == nil || r.env.Cluster.Toratio != 3 {
		t.Fatalf("toratio after set: %s", r.raw)
	}
	for _, body := range []string{`{"ratio":0,"time":"1m"}`, `{"ratio":2}`, `{"ratio":1,"time":"1m"}`, `{"ratio":2,"time":"31d"}`, `{"ratio":2,"time":"5s"}`} {
		r = call(t, http.MethodPost, url+"/api/v1/cluster/toratio/set", body)
		mustFail(t, "toratio "+body, r, http.StatusBadRequest, ecxsim.CodeInvalidRequest, "")
	}
	mustOK(t, "toratio reset", call(t, http.MethodPost, url+"/api/v1/cluster/toratio/reset", ""))
	r = call(t, http.MethodGet, url+"/api/v1/cluster/toratio", "")
	if r.env.Cluster.Toratio != 1 {
		t.Fatalf("toratio after reset: %s", r.raw)
	}
}

func TestREST_ServerOperations(t *testing.T) {
	t.Parallel()
	cfg := oneCluster()
	cfg.Clusters[0].RebootDuration = 500 * time.Millisecond
	sim := startSim(t, cfg)
	url1, url2 := sim.ServerURL("c", "s1"), sim.ServerURL("c", "s2")
	mustOK(t, "start", call(t, http.MethodPost, url2+"/api/v1/groups/g1/start", `{"target":"s1"}`))
	eventually(t, "g1 on s1", groupIs(t, url2, "g1", "Online", "s1"))

	// Stopping the ECX service on a server stops its groups and fails them over at once.
	mustOK(t, "server stop", call(t, http.MethodPost, url2+"/api/v1/servers/s1/stop", ""))
	eventually(t, "g1 failed over", groupIs(t, url2, "g1", "Online", "s2"))
	r := call(t, http.MethodGet, url1+"/api/v1/servers/s1", "")
	if r.env.Servers[0].Status != "Offline" {
		t.Fatalf("a stopped server still answers REST and reports itself Offline: %s", r.raw)
	}
	mustOK(t, "server start", call(t, http.MethodPost, url1+"/api/v1/servers/s1/start", ""))
	r = call(t, http.MethodGet, url1+"/api/v1/servers/s1", "")
	if r.env.Servers[0].Status != "Online" {
		t.Fatalf("after start: %s", r.raw)
	}

	// Shutdown: the REST endpoint goes away; reboot: it comes back.
	mustOK(t, "shutdown", call(t, http.MethodPost, url2+"/api/v1/servers/s1/shutdown", ""))
	eventually(t, "s1 refuses connections", func() error {
		if _, err := tryCall(http.MethodGet, url1+"/api/v1/cluster", "", user, password); err == nil {
			return &cmpError{"s1 still answers"}
		}
		return nil
	})
	r = call(t, http.MethodPost, url2+"/api/v1/servers/s1/start", "")
	mustFail(t, "start a powered-off server", r, http.StatusConflict, ecxsim.CodeRejected, "powered off")
	if err := sim.ServerUp("c", "s1"); err != nil {
		t.Fatal(err)
	}
	mustOK(t, "reboot", call(t, http.MethodPost, url1+"/api/v1/servers/s2/reboot", ""))
	eventually(t, "g1 moved off the rebooting server", groupIs(t, url1, "g1", "Online", "s1"))
	eventually(t, "s2 powered off by the reboot", func() error {
		s, err := stateServer(sim, "c", "s2")
		if err == nil && s.PoweredOn {
			return &cmpError{"s2 still powered on"}
		}
		return err
	})
	eventually(t, "s2 answers again", func() error {
		_, err := tryCall(http.MethodGet, url2+"/api/v1/cluster", "", user, password)
		return err
	})
	r = call(t, http.MethodGet, url2+"/api/v1/servers/s2", "")
	if r.env.Servers[0].Status != "Online" {
		t.Fatalf("s2 after reboot: %s", r.raw)
	}
	checkExclusiveInCluster(t, sim.Audit())
}
