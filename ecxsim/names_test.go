package ecxsim_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/cset-project/cset/ecxsim"
	"github.com/google/go-cmp/cmp"
)

// necCluster is oneCluster with NEC-style names on g1 (a mirror disk group) and the default names
// on g2.
func necCluster() ecxsim.Config {
	cfg := oneCluster()
	g := &cfg.Clusters[0].Groups[0]
	g.Resources = []ecxsim.ResourceConfig{{Name: "fip1", Type: "fip"}, {Name: "md1", Type: "md"}, {Name: "exec1", Type: "exec"}}
	g.Monitors = []ecxsim.MonitorConfig{
		{Name: "fipw1", Type: "fipw"},
		{Name: "mdw1", Type: "mdw"},
		{Name: "genw1", Type: "genw", Timing: ecxsim.TimingActive},
		{Name: "genw2", Type: "genw"},
	}
	return cfg
}

// namedMonitorIs returns a condition: monitor m, read from url, has the overall status and the
// per-server statuses (s1, s2).
func namedMonitorIs(url, m, status string, per ...string) func() error {
	return func() error {
		r, err := tryCall(http.MethodGet, url+"/api/v1/monitors/"+m, "", user, password)
		if err != nil {
			return err
		}
		if len(r.env.Monitors) != 1 {
			return fmt.Errorf("monitors = %s", r.raw)
		}
		got := r.env.Monitors[0]
		var gotPer []string
		for _, s := range got.Servers {
			gotPer = append(gotPer, s.Status)
		}
		if got.Status != status || !cmp.Equal(gotPer, per) {
			return fmt.Errorf("monitor %s is %q %v, want %q %v", m, got.Status, gotPer, status, per)
		}
		return nil
	}
}

// Resource and monitor names are configurable per group (NEC's fip1, md1, exec1, fipw1, mdw1,
// genw1), with mirror disk resources and their monitors; a group without names keeps
// "<g>-fip", "<g>-exec" and "<g>-fipw".
func TestNames_NECStyleResourcesAndMonitors(t *testing.T) {
	t.Parallel()
	sim := startSim(t, necCluster())
	url := sim.ServerURL("c", "s1")
	const ok = `{"result":{"code":0,"message":""},`
	for path, want := range map[string]string{
		"/api/v1/resources?select=name":      ok + `"resources":[{"name":"fip1"},{"name":"md1"},{"name":"exec1"},{"name":"g2-fip"},{"name":"g2-exec"}]}`,
		"/api/v1/groups/g1?select=resources": ok + `"groups":[{"name":"g1","resources":[{"name":"fip1"},{"name":"md1"},{"name":"exec1"}]}]}`,
		"/api/v1/resources/md1":              ok + `"resources":[{"name":"md1","type":"md","status":"Offline","current":"None","group":"g1"}]}`,
		"/api/v1/monitors?select=name":       ok + `"monitors":[{"name":"userw"},{"name":"ipw1"},{"name":"fipw1"},{"name":"mdw1"},{"name":"genw1"},{"name":"genw2"},{"name":"g2-fipw"}]}`,
	} {
		r := call(t, http.MethodGet, url+path, "")
		if got := strings.TrimSpace(r.raw); r.status != http.StatusOK || got != want {
			t.Errorf("GET %s: HTTP %d\n got %s\nwant %s", path, r.status, got, want)
		}
	}
	r := call(t, http.MethodGet, url+"/api/v1/monitors", "")
	types := map[string]string{}
	for _, m := range r.env.Monitors {
		types[m.Name] = m.Type
	}
	if diff := cmp.Diff(map[string]string{"userw": "userw", "ipw1": "ipw", "fipw1": "fipw", "mdw1": "mdw", "genw1": "genw", "genw2": "genw", "g2-fipw": "fipw"}, types); diff != "" {
		t.Errorf("monitor types (-want +got):\n%s", diff)
	}

	// Offline group: the always monitors (mdw, genw by default) run on both servers, the active
	// ones (fipw, genw1) nowhere.
	for m, want := range map[string][]string{
		"mdw1": {"Normal", "Normal", "Normal"}, "genw2": {"Normal", "Normal", "Normal"},
		"fipw1": {"Offline", "Offline", "Offline"}, "genw1": {"Offline", "Offline", "Offline"},
	} {
		if err := namedMonitorIs(url, m, want[0], want[1:]...)(); err != nil {
			t.Error(err)
		}
	}

	mustOK(t, "start g1", call(t, http.MethodPost, url+"/api/v1/groups/g1/start", `{"target":"s2"}`))
	eventually(t, "g1 online", groupIs(t, url, "g1", "Online", "s2"))
	for _, res := range []string{"fip1", "md1", "exec1"} {
		r := call(t, http.MethodGet, url+"/api/v1/resources/"+res, "")
		if len(r.env.Resources) != 1 || r.env.Resources[0].Status != "Online" || r.env.Resources[0].Current != "s2" || r.env.Resources[0].Group != "g1" {
			t.Errorf("resource %s with g1 online on s2: %s", res, r.raw)
		}
	}
	eventually(t, "fipw1 active on s2 only", namedMonitorIs(url, "fipw1", "Normal", "Offline", "Normal"))
	eventually(t, "genw1 active on s2 only", namedMonitorIs(url, "genw1", "Normal", "Offline", "Normal"))
	if err := namedMonitorIs(url, "mdw1", "Normal", "Normal", "Normal")(); err != nil {
		t.Error(err)
	}

	// Operations address the objects by their configured names.
	mustOK(t, "stop md1", call(t, http.MethodPost, url+"/api/v1/resources/md1/stop", ""))
	eventually(t, "md1 offline", func() error {
		r := call(t, http.MethodGet, url+"/api/v1/resources/md1", "")
		if len(r.env.Resources) != 1 || r.env.Resources[0].Status != "Offline" {
			return fmt.Errorf("md1: %s", r.raw)
		}
		return nil
	})
	mustOK(t, "suspend mdw1 on s1", call(t, http.MethodPost, url+"/api/v1/monitors/mdw1/suspend", `{"target":"s1"}`))
	eventually(t, "mdw1 suspended on s1", namedMonitorIs(url, "mdw1", "Caution", "Suspend", "Normal"))
	mustFail(t, "the default name is gone", call(t, http.MethodGet, url+"/api/v1/resources/g1-fip", ""), http.StatusNotFound, ecxsim.CodeNotFound, `resource "g1-fip" not found`)
}

func TestNames_ConfigFile(t *testing.T) {
	t.Parallel()
	cfg, err := ecxsim.LoadConfig("testdata/nec-names.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sim := startSim(t, cfg)
	r, err := tryCall(http.MethodGet, sim.ServerURL("osaka", "osaka1")+"/api/v1/resources", "", "root", "password")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, res := range r.env.Resources {
		got = append(got, res.Group+"/"+res.Name+":"+res.Type)
	}
	want := []string{"failover1/fip1:fip", "failover1/md1:md", "failover1/exec1:exec", "failover2/fip2:fip", "failover2/md2:md", "failover2/exec2:exec"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("nec-names.yaml resources (-want +got):\n%s", diff)
	}
}

func TestNames_Validation(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		mut  func(g1, g2 *ecxsim.GroupConfig)
		want []string
	}{
		"duplicate resource across groups": {
			mut: func(g1, g2 *ecxsim.GroupConfig) {
				g1.Resources = []ecxsim.ResourceConfig{{Name: "fip1", Type: "fip"}}
				g2.Resources = []ecxsim.ResourceConfig{{Name: "fip1", Type: "fip"}}
			},
			want: []string{`group "g2": resource name "fip1" is also used by group "g1"`},
		},
		"explicit name clashes with a default name": {
			mut: func(g1, g2 *ecxsim.GroupConfig) {
				g2.Resources = []ecxsim.ResourceConfig{{Name: "g1-exec", Type: "exec"}}
				g2.Monitors = []ecxsim.MonitorConfig{{Name: "g1-fipw", Type: "genw"}}
			},
			want: []string{`resource name "g1-exec" is also used by group "g1"`, `monitor name "g1-fipw" is also used by group "g1"`},
		},
		"cluster monitor name": {
			mut:  func(g1, _ *ecxsim.GroupConfig) { g1.Monitors = []ecxsim.MonitorConfig{{Name: "userw", Type: "genw"}} },
			want: []string{`monitor name "userw" is taken by the monitor every simulated cluster has`},
		},
		"bad names and types": {
			mut: func(g1, _ *ecxsim.GroupConfig) {
				g1.Resources = []ecxsim.ResourceConfig{{Name: "fip 1", Type: "fip"}, {Name: "", Type: "exec"}, {Name: "exec1", Type: "EXEC"}, {Name: "md1"}}
				g1.Monitors = []ecxsim.MonitorConfig{{Name: "a/b", Type: "genw"}}
			},
			want: []string{
				`resource name "fip 1" has characters other than`, `resource name is empty`,
				`resource "exec1": type "EXEC" is not an ECX type name`, `resource "md1": type is empty`,
				`monitor name "a/b" has characters other than`,
			},
		},
		"timings": {
			mut: func(g1, _ *ecxsim.GroupConfig) {
				g1.Resources = []ecxsim.ResourceConfig{{Name: "fip1", Type: "fip"}, {Name: "md1", Type: "md"}}
				g1.Monitors = []ecxsim.MonitorConfig{
					{Name: "fipw1", Type: "fipw", Timing: ecxsim.TimingAlways},
					{Name: "mdw1", Type: "mdw", Timing: ecxsim.TimingActive},
					{Name: "genw1", Type: "genw", Timing: "sometimes"},
				}
			},
			want: []string{
				`monitor "fipw1": ECX always runs fipw monitors with timing "active", not "always"`,
				`monitor "mdw1": ECX always runs mdw monitors with timing "always", not "active"`,
				`monitor "genw1": timing "sometimes" is unknown`,
			},
		},
		"monitor without its resource": {
			mut: func(g1, _ *ecxsim.GroupConfig) {
				g1.Resources = []ecxsim.ResourceConfig{{Name: "exec1", Type: "exec"}}
				g1.Monitors = []ecxsim.MonitorConfig{{Name: "mdw1", Type: "mdw"}, {Name: "fipw1", Type: "fipw"}}
			},
			want: []string{`monitor "mdw1" (mdw) watches a md resource, and the group has none`, `monitor "fipw1" (fipw) watches a fip resource`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg := oneCluster()
			tc.mut(&cfg.Clusters[0].Groups[0], &cfg.Clusters[0].Groups[1])
			_, err := ecxsim.New(cfg, nil)
			if err == nil {
				t.Fatal("New accepted the configuration")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
	// The same names in another cluster are fine: names are unique per cluster.
	cfg := necCluster()
	second := necCluster().Clusters[0]
	second.Name = "d"
	cfg.Clusters = append(cfg.Clusters, second)
	if _, err := ecxsim.New(cfg, nil); err != nil {
		t.Errorf("the same NEC names in two clusters: %v", err)
	}
}
