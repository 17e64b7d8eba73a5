package ecxclient

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestNew_Validation(t *testing.T) {
	t.Parallel()
	good := MemberConfig{Name: "m", URLs: []string{"http://10.0.0.1:29009"}, User: "u"}
	cases := map[string]struct {
		mut  func(*MemberConfig)
		opts []Option
	}{
		"empty name":         {mut: func(c *MemberConfig) { c.Name = " " }},
		"no urls":            {mut: func(c *MemberConfig) { c.URLs = nil }},
		"bad scheme":         {mut: func(c *MemberConfig) { c.URLs = []string{"ftp://h:1"} }},
		"no scheme":          {mut: func(c *MemberConfig) { c.URLs = []string{"10.0.0.1:29009"} }},
		"no host":            {mut: func(c *MemberConfig) { c.URLs = []string{"http://:29009"} }},
		"credentials in url": {mut: func(c *MemberConfig) { c.URLs = []string{"http://u:p@h:1"} }},
		"query":              {mut: func(c *MemberConfig) { c.URLs = []string{"http://h:1/?x=1"} }},
		"duplicate":          {mut: func(c *MemberConfig) { c.URLs = []string{"http://h:1", "http://h:1/"} }},
		"unparsable":         {mut: func(c *MemberConfig) { c.URLs = []string{"http://h:1/%zz"} }},
		"no user":            {mut: func(c *MemberConfig) { c.User = "" }},
		"negative timeout":   {mut: func(c *MemberConfig) { c.Timeout = -time.Second }},
		"tls with own transport": {
			mut:  func(c *MemberConfig) { c.InsecureSkipVerify = true },
			opts: []Option{WithTransport(http.DefaultTransport)},
		},
		"missing ca file": {mut: func(c *MemberConfig) { c.CAFile = filepath.Join(t.TempDir(), "none.pem") }},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := good
			cfg.URLs = append([]string(nil), good.URLs...)
			tc.mut(&cfg)
			_, err := New(cfg, tc.opts...)
			if err == nil {
				t.Fatal("New accepted an invalid config")
			}
			if name != "missing ca file" && !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("error %v does not match ErrInvalidArgument", err)
			}
		})
	}
	t.Run("bad pem", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "ca.pem")
		if err := os.WriteFile(p, []byte("not a certificate"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := good
		cfg.CAFile = p
		if _, err := New(cfg); !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("New with a bad CA file: %v", err)
		}
	})
	t.Run("normalised urls", func(t *testing.T) {
		cfg := good
		cfg.URLs = []string{"http://a:29009/", "https://b:29009/api/v1/", " http://c:1/prefix "}
		c, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"http://a:29009", "https://b:29009", "http://c:1/prefix"}
		if diff := cmp.Diff(want, c.URLs()); diff != "" {
			t.Errorf("URLs (-want +got):\n%s", diff)
		}
		if c.LastURL() != want[0] || c.Name() != "m" {
			t.Errorf("LastURL %q Name %q", c.LastURL(), c.Name())
		}
		if c.timeout != DefaultTimeout {
			t.Errorf("timeout %s, want the default %s", c.timeout, DefaultTimeout)
		}
	})
}

// groupFixture answers every endpoint with something valid, naming each
// object "x".
func anyEndpoint(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		reply(w, 200, envelopeOK)
		return
	}
	reply(w, 200, okWith(map[string]any{
		"cluster":   map[string]any{"name": "c1", "status": "Online", "toratio": 3},
		"servers":   []any{map[string]any{"name": "x", "status": "Online"}},
		"groups":    []any{map[string]any{"name": "x", "status": "Online", "current": "x", "resources": []any{map[string]any{"name": "fip1"}}}},
		"resources": []any{map[string]any{"name": "x", "type": "fip", "status": "Online", "current": "x", "group": "x"}},
		"monitors":  []any{map[string]any{"name": "x", "type": "fipw", "status": "Normal", "servers": []any{map[string]any{"name": "x", "status": "Normal"}}}},
		"detail":    map[string]any{"status": "running"},
	}))
}

// TestClient_Endpoints checks method, path, query, body and headers of
// every endpoint.
func TestClient_Endpoints(t *testing.T) {
	t.Parallel()
	f := newFake(t, anyEndpoint)
	c := newTestClient(t, []string{f.URL})
	ctx := t.Context()
	type call struct {
		name string
		do   func() error
		want seenRequest
	}
	get := func(p, q string) seenRequest { return seenRequest{Method: "GET", Path: p, Query: q} }
	post := func(p, body string) seenRequest {
		r := seenRequest{Method: "POST", Path: p, Body: body, HasBody: body != ""}
		if body != "" {
			r.ContentType = "application/json"
		}
		return r
	}
	ig := func(f func() (any, error)) func() error { return func() error { _, err := f(); return err } }
	calls := []call{
		{"GetCluster", ig(func() (any, error) { return c.GetCluster(ctx) }), get("/api/v1/cluster", "")},
		{"GetToRatio", ig(func() (any, error) { return c.GetToRatio(ctx) }), get("/api/v1/cluster/toratio", "")},
		{"ListServers", ig(func() (any, error) { return c.ListServers(ctx) }), get("/api/v1/servers", "")},
		{"GetServer", ig(func() (any, error) { return c.GetServer(ctx, "x") }), get("/api/v1/servers/x", "")},
		{"ListServerNames", ig(func() (any, error) { return c.ListServerNames(ctx) }), get("/api/v1/servers", "select=name")},
		{"ListGroups", ig(func() (any, error) { return c.ListGroups(ctx) }), get("/api/v1/groups", "")},
		{"GetGroup", ig(func() (any, error) { return c.GetGroup(ctx, "x") }), get("/api/v1/groups/x", "")},
		{"ListGroupNames", ig(func() (any, error) { return c.ListGroupNames(ctx) }), get("/api/v1/groups", "select=name")},
		{"GetGroupResources", ig(func() (any, error) { return c.GetGroupResources(ctx, "x") }), get("/api/v1/groups/x", "select=resources")},
		{"ListResources", ig(func() (any, error) { return c.ListResources(ctx) }), get("/api/v1/resources", "")},
		{"GetResource", ig(func() (any, error) { return c.GetResource(ctx, "x") }), get("/api/v1/resources/x", "")},
		{"ListResourceNames", ig(func() (any, error) { return c.ListResourceNames(ctx) }), get("/api/v1/resources", "select=name")},
		{"ListMonitors", ig(func() (any, error) { return c.ListMonitors(ctx) }), get("/api/v1/monitors", "")},
		{"GetMonitor", ig(func() (any, error) { return c.GetMonitor(ctx, "x") }), get("/api/v1/monitors/x", "")},
		{"ListMonitorNames", ig(func() (any, error) { return c.ListMonitorNames(ctx) }), get("/api/v1/monitors", "select=name")},
		{"StartCluster", func() error { return c.StartCluster(ctx) }, post("/api/v1/cluster/start", "")},
		{"StopCluster", func() error { return c.StopCluster(ctx) }, post("/api/v1/cluster/stop", "")},
		{"RebootCluster", func() error { return c.RebootCluster(ctx) }, post("/api/v1/cluster/reboot", "")},
		{"ShutdownCluster", func() error { return c.ShutdownCluster(ctx) }, post("/api/v1/cluster/shutdown", "")},
		{"SuspendCluster", func() error { return c.SuspendCluster(ctx) }, post("/api/v1/cluster/suspend", "")},
		{"ResumeCluster", func() error { return c.ResumeCluster(ctx) }, post("/api/v1/cluster/resume", "")},
		{"SetToRatio", func() error { return c.SetToRatio(ctx, 5, "3h") }, post("/api/v1/cluster/toratio/set", `{"ratio":5,"time":"3h"}`)},
		{"SetToRatio1", func() error { return c.SetToRatio(ctx, 1, "3h") }, post("/api/v1/cluster/toratio/set", `{"ratio":1}`)},
		{"ResetToRatio", func() error { return c.ResetToRatio(ctx) }, post("/api/v1/cluster/toratio/reset", "")},
		{"StartServer", func() error { return c.StartServer(ctx, "s 1") }, post("/api/v1/servers/s%201/start", "")},
		{"StopServer", func() error { return c.StopServer(ctx, "s1") }, post("/api/v1/servers/s1/stop", "")},
		{"RebootServer", func() error { return c.RebootServer(ctx, "s1") }, post("/api/v1/servers/s1/reboot", "")},
		{"ShutdownServer", func() error { return c.ShutdownServer(ctx, "s1") }, post("/api/v1/servers/s1/shutdown", "")},
		{"StartGroup", func() error { return c.StartGroup(ctx, "g1", "s2") }, post("/api/v1/groups/g1/start", `{"target":"s2"}`)},
		{"StartGroupNoTarget", func() error { return c.StartGroup(ctx, "g1", "") }, post("/api/v1/groups/g1/start", "")},
		{"StopGroup", func() error { return c.StopGroup(ctx, "g1", "") }, post("/api/v1/groups/g1/stop", "")},
		{"StopGroupTarget", func() error { return c.StopGroup(ctx, "g1", "s1") }, post("/api/v1/groups/g1/stop", `{"target":"s1"}`)},
		{"MoveGroup", func() error { return c.MoveGroup(ctx, "g/1", "s2") }, post("/api/v1/groups/g%2F1/move", `{"target":"s2"}`)},
		{"MoveGroupPolicy", func() error { return c.MoveGroup(ctx, "g1", "") }, post("/api/v1/groups/g1/move", "")},
		{"StartAllGroups", func() error { return c.StartAllGroups(ctx, "s1") }, post("/api/v1/groups/start", `{"target":"s1"}`)},
		{"StopAllGroups", func() error { return c.StopAllGroups(ctx, "s1") }, post("/api/v1/groups/stop", `{"target":"s1"}`)},
		{"StartResource", func() error { return c.StartResource(ctx, "fip1", "s1") }, post("/api/v1/resources/fip1/start", `{"target":"s1"}`)},
		{"StopResource", func() error { return c.StopResource(ctx, "fip1") }, post("/api/v1/resources/fip1/stop", "")},
		{"SuspendMonitor", func() error { return c.SuspendMonitor(ctx, "fipw1", "s1") }, post("/api/v1/monitors/fipw1/suspend", `{"target":"s1"}`)},
		{"ResumeMonitor", func() error { return c.ResumeMonitor(ctx, "fipw1", "s1") }, post("/api/v1/monitors/fipw1/resume", `{"target":"s1"}`)},
		{"ListGroupResources", ig(func() (any, error) { return c.ListGroupResources(ctx) }), get("/api/v1/groups", "select=resources")},
		{"StartServerDummyFailure", func() error { return c.StartServerDummyFailure(ctx, "s 1") }, post("/api/v1/servers/s%201/dummy-failure/start", "")},
		{"StopServerDummyFailure", func() error { return c.StopServerDummyFailure(ctx, "s1") }, post("/api/v1/servers/s1/dummy-failure/stop", "")},
		{"StartMonitorDummyFailure", func() error { return c.StartMonitorDummyFailure(ctx, "fipw1", "s1") }, post("/api/v1/monitors/fipw1/dummy-failure/start", `{"target":"s1"}`)},
		{"StartMonitorDummyFailureAll", func() error { return c.StartMonitorDummyFailure(ctx, "fipw1", "") }, post("/api/v1/monitors/fipw1/dummy-failure/start", `{"target":""}`)},
		{"StopMonitorDummyFailure", func() error { return c.StopMonitorDummyFailure(ctx, "fipw1", "") }, post("/api/v1/monitors/fipw1/dummy-failure/stop", `{"target":""}`)},
		{"RunMirrorAction", func() error {
			return c.RunMirrorAction(ctx, MirrorRestore, MirrorPreAction, MirrorOptions{NoShutdown: true, SkipCopy: true, Timeout: 90 * time.Second})
		}, post("/api/v1/mirrors/restore/preaction", `{"no-shutdown":true,"skip-copy":true,"timeout":90}`)},
		{"RunMirrorActionPlain", func() error { return c.RunMirrorAction(ctx, MirrorBackup, MirrorPostAction, MirrorOptions{}) }, post("/api/v1/mirrors/backup/postaction", "")},
		{"GetMirrorStatus", ig(func() (any, error) { return c.GetMirrorStatus(ctx, MirrorBackup) }), get("/api/v1/mirrors/backup/status", "")},
	}
	for i, tc := range calls {
		if err := tc.do(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		reqs := f.requests()
		if len(reqs) != i+1 {
			t.Fatalf("%s: %d requests recorded, want %d", tc.name, len(reqs), i+1)
		}
		got := reqs[i]
		if got.Auth != "Basic YWRtaW46c2VjcmV0" {
			t.Errorf("%s: Authorization %q", tc.name, got.Auth)
		}
		got.Auth = ""
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}

func TestClient_ReadValues(t *testing.T) {
	t.Parallel()
	f := newFake(t, anyEndpoint)
	c := newTestClient(t, []string{f.URL})
	ctx := t.Context()
	cl, err := c.GetCluster(ctx)
	if err != nil || cl != (Cluster{Name: "c1", Status: StatusOnline, RawStatus: "Online"}) {
		t.Errorf("GetCluster = %+v, %v", cl, err)
	}
	if r, err := c.GetToRatio(ctx); err != nil || r != 3 {
		t.Errorf("GetToRatio = %d, %v", r, err)
	}
	g, err := c.GetGroup(ctx, "x")
	want := Group{Name: "x", Status: StatusOnline, RawStatus: "Online", Current: "x", Resources: []ResourceRef{{Name: "fip1"}}}
	if err != nil || !cmp.Equal(g, want) {
		t.Errorf("GetGroup = %+v, %v", g, err)
	}
	m, err := c.GetMonitor(ctx, "x")
	wantM := Monitor{Name: "x", Type: "fipw", Status: StatusNormal, RawStatus: "Normal", Servers: []MonitorServer{{Name: "x", Status: StatusNormal, RawStatus: "Normal"}}}
	if err != nil || !cmp.Equal(m, wantM) {
		t.Errorf("GetMonitor = %+v, %v", m, err)
	}
	r, err := c.GetResource(ctx, "x")
	wantR := Resource{Name: "x", Type: "fip", Status: StatusOnline, RawStatus: "Online", Current: "x", Group: "x"}
	if err != nil || r != wantR {
		t.Errorf("GetResource = %+v, %v", r, err)
	}
	names, err := c.ListGroupNames(ctx)
	if err != nil || !cmp.Equal(names, []string{"x"}) {
		t.Errorf("ListGroupNames = %v, %v", names, err)
	}
}

func TestClient_ArgumentValidation(t *testing.T) {
	t.Parallel()
	f := newFake(t, anyEndpoint)
	c := newTestClient(t, []string{f.URL})
	ctx := t.Context()
	errs := map[string]error{
		"GetGroup":        func() error { _, err := c.GetGroup(ctx, ""); return err }(),
		"GetServer":       func() error { _, err := c.GetServer(ctx, ""); return err }(),
		"StartGroup":      c.StartGroup(ctx, "", "s1"),
		"StartAllGroups":  c.StartAllGroups(ctx, ""),
		"StopAllGroups":   c.StopAllGroups(ctx, ""),
		"StartResource":   c.StartResource(ctx, "r", ""),
		"SuspendMonitor":  c.SuspendMonitor(ctx, "m", ""),
		"ResumeMonitor":   c.ResumeMonitor(ctx, "", "s1"),
		"StopServer":      c.StopServer(ctx, ""),
		"SetToRatio 0":    c.SetToRatio(ctx, 0, ""),
		"SetToRatio big":  c.SetToRatio(ctx, 10001, "1m"),
		"SetToRatio 31d":  c.SetToRatio(ctx, 2, "31d"),
		"SetToRatio 721h": c.SetToRatio(ctx, 2, "721h"),
		"SetToRatio none": c.SetToRatio(ctx, 2, ""),
		"SetToRatio sec":  c.SetToRatio(ctx, 2, "10s"),
		"SetToRatio 0m":   c.SetToRatio(ctx, 2, "0m"),
		"Wait nil want":   func() error { _, err := c.WaitGroupStatus(ctx, "g", nil, WaitOptions{}); return err }(),
		"ServerDummy":     c.StartServerDummyFailure(ctx, ""),
		"MonitorDummy":    c.StopMonitorDummyFailure(ctx, "", "s1"),
		"Mirror kind":     c.RunMirrorAction(ctx, "snapshot", MirrorPreAction, MirrorOptions{}),
		"Mirror step":     c.RunMirrorAction(ctx, MirrorBackup, "midaction", MirrorOptions{}),
		"Mirror skipcopy": c.RunMirrorAction(ctx, MirrorBackup, MirrorPreAction, MirrorOptions{SkipCopy: true}),
		"Mirror timeout":  c.RunMirrorAction(ctx, MirrorBackup, MirrorPreAction, MirrorOptions{Timeout: 500 * time.Millisecond}),
		"Mirror status":   func() error { _, err := c.GetMirrorStatus(ctx, ""); return err }(),
	}
	for name, err := range errs {
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: error %v, want ErrInvalidArgument", name, err)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests were sent for invalid arguments", n)
	}
	for _, ok := range []struct {
		r int
		d string
	}{{1, ""}, {1, "junk"}, {10000, "30d"}, {2, "720h"}, {2, "43200m"}, {3, "1m"}} {
		if err := ValidateToRatio(ok.r, ok.d); err != nil {
			t.Errorf("ValidateToRatio(%d, %q) = %v", ok.r, ok.d, err)
		}
	}
}

func TestClient_FailoverRemembersLastGood(t *testing.T) {
	t.Parallel()
	good := newFake(t, anyEndpoint)
	c := newTestClient(t, []string{deadURL(t), good.URL})
	for i := range 3 {
		if _, err := c.GetGroup(t.Context(), "x"); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if c.LastURL() != good.URL {
			t.Fatalf("LastURL = %q, want %q", c.LastURL(), good.URL)
		}
	}
	if n := len(good.requests()); n != 3 {
		t.Errorf("good server saw %d requests, want 3", n)
	}
}

func TestClient_FailoverOnBare502(t *testing.T) {
	t.Parallel()
	proxy := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html><body>502 Bad Gateway</body></html>"))
	})
	good := newFake(t, anyEndpoint)
	c := newTestClient(t, []string{proxy.URL, good.URL})
	if err := c.StartGroup(t.Context(), "g1", "s1"); err != nil {
		t.Fatalf("POST through a 502 proxy then a good server: %v", err)
	}
	if c.LastURL() != good.URL || len(proxy.requests()) != 1 {
		t.Errorf("LastURL %q, proxy requests %d", c.LastURL(), len(proxy.requests()))
	}
	// Now only the proxy: unreachable, and the message shows the page.
	c2 := newTestClient(t, []string{proxy.URL})
	_, err := c2.ListGroups(t.Context())
	var ue *UnreachableError
	if !errors.As(err, &ue) || !errors.Is(err, ErrUnreachable) || ue.MaybeApplied {
		t.Fatalf("error %v, want a plain *UnreachableError", err)
	}
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "502 Bad Gateway") {
		t.Errorf("error %q should carry the proxy's page", err)
	}
}

func TestClient_NoFailoverOnECXAnswers(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		status int
		body   string
		target error
	}{
		{"401 envelope", 401, `{"result":{"code":1,"message":"authentication failed"}}`, ErrAuth},
		{"401 bare", 401, `Unauthorized`, ErrAuth},
		{"403", 403, ``, ErrAuth},
		{"404", 404, `{"result":{"code":2,"message":"group g1 not found"}}`, ErrNotFound},
		{"404 bare", 404, `Cannot GET`, ErrNotFound},
		{"200 code", 200, `{"result":{"code":5,"message":"already online on s2"}}`, ErrRejected},
		{"409 envelope", 409, `{"result":{"code":7,"message":"busy"}}`, ErrRejected},
		{"500 envelope", 500, `{"result":{"code":9,"message":"internal"}}`, ErrRejected},
		{"200 message", 200, `{"result":{"code":0,"message":"could not start"}}`, ErrRejected},
		{"200 html", 200, `<html>hello</html>`, ErrMalformed},
		{"400 bare", 400, `bad request`, ErrMalformed},
		{"302", 302, ``, ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			first := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				if tc.status == 302 {
					w.Header().Set("Location", "https://elsewhere:29009/api/v1/groups/g1/start")
				}
				reply(w, tc.status, tc.body)
			})
			second := newFake(t, anyEndpoint)
			c := newTestClient(t, []string{first.URL, second.URL})
			err := c.StartGroup(t.Context(), "g1", "s1")
			if !errors.Is(err, tc.target) {
				t.Fatalf("error %v, want %v", err, tc.target)
			}
			if n := len(second.requests()); n != 0 {
				t.Errorf("second server was asked %d times after an ECX answer", n)
			}
			if c.LastURL() != first.URL {
				t.Errorf("LastURL = %q, want the server that answered", c.LastURL())
			}
			if !strings.Contains(err.Error(), `"m1"`) || !strings.Contains(err.Error(), first.URL) {
				t.Errorf("message %q should name the member and URL", err)
			}
		})
	}
	t.Run("rejected fields", func(t *testing.T) {
		t.Parallel()
		f := newFake(t, constHandler(409, `{"result":{"code":"12","message":"group g1 is online on s2"}}`))
		c := newTestClient(t, []string{f.URL})
		err := c.StartGroup(t.Context(), "g1", "s1")
		var re *RejectedError
		if !errors.As(err, &re) {
			t.Fatalf("error %v", err)
		}
		want := RejectedError{Member: "m1", URL: f.URL + "/api/v1/groups/g1/start", Op: "POST /api/v1/groups/g1/start", HTTPStatus: 409, Code: 12, Message: "group g1 is online on s2"}
		if diff := cmp.Diff(want, *re); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("get message is not failure", func(t *testing.T) {
		t.Parallel()
		f := newFake(t, constHandler(200, `{"result":{"code":0,"message":"note"},"groups":[]}`))
		c := newTestClient(t, []string{f.URL})
		if _, err := c.ListGroups(t.Context()); err != nil {
			t.Fatalf("GET with a message: %v", err)
		}
	})
}

func TestClient_DeadlinePerServer(t *testing.T) {
	t.Parallel()
	s1, _ := silentURL(t)
	s2, _ := silentURL(t)
	c := newTestClient(t, []string{s1, s2}, func(c *MemberConfig) { c.Timeout = 100 * time.Millisecond })
	start := time.Now()
	_, err := c.GetCluster(t.Context())
	var ue *UnreachableError
	if !errors.As(err, &ue) || len(ue.Attempts) != 2 {
		t.Fatalf("error %v, want *UnreachableError with 2 attempts", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no answer within 100ms") {
		t.Errorf("error %q should say the servers timed out", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s with a 100ms per-server deadline", d)
	}
}

func TestClient_PostNotRepeatedAfterDelivery(t *testing.T) {
	t.Parallel()
	s1, silent := silentURL(t)
	good := newFake(t, anyEndpoint)
	c := newTestClient(t, []string{s1, good.URL}, func(c *MemberConfig) { c.Timeout = 100 * time.Millisecond })
	err := c.StopGroup(t.Context(), "g1", "")
	var ue *UnreachableError
	if !errors.As(err, &ue) || !ue.MaybeApplied || len(ue.Attempts) != 1 {
		t.Fatalf("error %v, want *UnreachableError with MaybeApplied after one attempt", err)
	}
	if len(silent.requests()) != 1 || len(good.requests()) != 0 {
		t.Errorf("silent saw %d, good saw %d; the POST must not go to a second server", len(silent.requests()), len(good.requests()))
	}
	// A GET, however, moves on.
	if _, err := c.GetGroup(t.Context(), "x"); err != nil {
		t.Fatalf("GET after a silent server: %v", err)
	}
}

func TestClient_ContextCancel(t *testing.T) {
	t.Parallel()
	s1, _ := silentURL(t)
	good := newFake(t, anyEndpoint)
	c := newTestClient(t, []string{s1, good.URL})
	// The caller gives up while the first server is silent (a cancel, not a deadline: a deadline
	// is shared out between the servers, see TestClient_HungServerLeavesTimeForTheNext).
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := c.ListGroups(ctx)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnreachable) {
		t.Fatalf("error %v, want the caller's cancellation and not ErrUnreachable", err)
	}
	if len(good.requests()) != 0 {
		t.Error("client went on to the next server after the caller gave up")
	}
}

func TestClient_TLS(t *testing.T) {
	t.Parallel()
	srv := newFakeTLS(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	cert := srv.Certificate()
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := NewTransportPool()
	mk := func(mut func(*MemberConfig)) *Client {
		cfg := MemberConfig{Name: "tls", URLs: []string{srv.URL}, User: "u", Password: "p", Timeout: 2 * time.Second}
		mut(&cfg)
		c, err := New(cfg, WithTransportPool(pool))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if _, err := mk(func(c *MemberConfig) {}).GetCluster(t.Context()); !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("unverified self-signed certificate: error %v", err)
	}
	withCA := mk(func(c *MemberConfig) { c.CAFile = caFile })
	if _, err := withCA.GetCluster(t.Context()); err != nil {
		t.Errorf("with CA file: %v", err)
	}
	insecure := mk(func(c *MemberConfig) { c.InsecureSkipVerify = true })
	if _, err := insecure.GetCluster(t.Context()); err != nil {
		t.Errorf("with InsecureSkipVerify: %v", err)
	}
	// Same profile, same transport; different profile, different transport.
	if mk(func(c *MemberConfig) { c.CAFile = caFile }).hc.Transport != withCA.hc.Transport {
		t.Error("two members with the same CA file do not share a transport")
	}
	if insecure.hc.Transport == withCA.hc.Transport {
		t.Error("an insecure member shares a transport with a verifying one")
	}
	pool.CloseIdleConnections()
}

func newFakeTLS(t *testing.T) *httptest.Server {
	t.Helper()
	s := httptest.NewUnstartedServer(http.HandlerFunc(anyEndpoint))
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func TestClient_SharedTransportConcurrent(t *testing.T) {
	t.Parallel()
	good := newFake(t, anyEndpoint)
	dead := deadURL(t)
	pool := NewTransportPool()
	var clients []*Client
	for i := range 4 {
		c, err := New(MemberConfig{Name: "m", URLs: []string{dead, good.URL}, User: "u"}, WithTransportPool(pool))
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		if i > 0 && c.hc.Transport != clients[0].hc.Transport {
			t.Fatal("clients of one pool do not share the transport")
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 32 {
		wg.Go(func() {
			if _, err := clients[i%4].ListGroups(t.Context()); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, c := range clients {
		if c.LastURL() != good.URL {
			t.Errorf("LastURL = %q", c.LastURL())
		}
	}
}

// A server that accepts and never answers must not use up the caller's whole deadline: the next
// server gets its share, so a member with one hung server still answers a poll with a deadline
// shorter than the per-call timeout (issue 11, case 8).
func TestClient_HungServerLeavesTimeForTheNext(t *testing.T) {
	t.Parallel()
	hung, _ := silentURL(t)
	good := newFake(t, anyEndpoint)
	c := newTestClient(t, []string{hung, good.URL}, func(c *MemberConfig) { c.Timeout = time.Minute })
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if _, err := c.ListGroups(ctx); err != nil {
		t.Fatalf("ListGroups with a hung first server and a 2s deadline: %v", err)
	}
	if c.LastURL() != good.URL {
		t.Errorf("LastURL = %q, want the answering server %q", c.LastURL(), good.URL)
	}
}
