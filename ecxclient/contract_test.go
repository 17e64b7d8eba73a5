package ecxclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// ContractEnv describes the ECX cluster behind the clients given to
// RunContract. The same suite runs against ecxsim (always) and against a
// real ECX cluster (when CSET_ECX_REAL_URL is set); the simulator is only
// trusted because both pass.
type ContractEnv struct {
	// Config is the configuration newClient uses. The suite derives
	// variants from it: a wrong password, a dead first server, a proxy.
	Config MemberConfig
	// Real marks a real cluster: the suite then only reads, and starts and
	// stops Group (restoring its initial state); everything else is skipped.
	Real bool
	// Cluster is the expected cluster name ("" = not checked).
	Cluster string
	// Servers are the expected server names in priority order, Servers[i]
	// answering at Config.URLs[i] (nil = learned from ListServers).
	Servers []string
	// Group is a manual-start failover group the suite may start and stop.
	Group string
	// Target is the server Group is started on ("" = the first Online
	// server of Group's cluster).
	Target string
	// OpTimeout bounds each wait for an operation (default 30 s).
	OpTimeout time.Duration
	// AuthFailureOK allows one request with a wrong password (real
	// clusters may lock OS accounts, so it is off unless asked for).
	AuthFailureOK bool
	// Sim holds the fault-injection hooks; nil for a real cluster.
	Sim *SimControl
}

// SimControl drives the simulator behind the client. Every hook acts on the
// contract's cluster.
type SimControl struct {
	ServerDown, ServerUp func(server string) error
	ClusterUp            func() error
	Isolate, Heal        func() error
	SetLatency           func(d time.Duration) error
	SetErrorRate         func(rate float64) error
	SetFailStart         func(group string, on bool) error
	// SetFailStop makes the stops of group end in Offline Failure (on).
	SetFailStop func(group string, on bool) error
	// SetServerStatusUnknown makes the cluster unable to read server's state (on).
	SetServerStatusUnknown func(server string, on bool) error
	// EnvelopeErrors is true when the cluster reports failed operations and
	// injected errors inside HTTP 200 (ecxsim's error style "envelope")
	// rather than with an error status.
	EnvelopeErrors bool
	// SecondGroup is another manual-start group whose failover policy is
	// Servers[0], Servers[1]; the suite fails, moves and rejects it.
	SecondGroup string
	// AutoGroup is an auto-start group, Online after the cluster starts.
	AutoGroup string
	// PendingVisible is true when the start and stop durations are long
	// enough that a poll right after an operation sees the Pending state.
	PendingVisible bool
}

// RunContract runs the client contract against the cluster of env.
// newClient must return a new client for env.Config each call.
func RunContract(t *testing.T, newClient func(t *testing.T) *Client, env ContractEnv) {
	if env.OpTimeout == 0 {
		env.OpTimeout = 30 * time.Second
	}
	k := &contract{env: env, newClient: newClient}
	t.Run("Cluster", k.cluster)
	t.Run("Servers", k.servers)
	if len(k.env.Servers) == 0 {
		t.Fatal("no server names known; cannot continue")
	}
	t.Run("GroupsAndResources", k.groupsAndResources)
	t.Run("Monitors", k.monitors)
	t.Run("UnknownNames", k.unknownNames)
	t.Run("DeadFirstServer", k.deadFirstServer)
	t.Run("AuthFailure", k.authFailure)
	t.Run("OddBodies", k.oddBodies)
	t.Run("GroupStartStop", k.groupStartStop)
	if env.Real || env.Sim == nil {
		return
	}
	t.Run("Deadline", k.deadline)
	t.Run("Isolated", k.isolated)
	t.Run("ServerErrors", k.serverErrors)
	t.Run("RejectedOperations", k.rejected)
	t.Run("MoveGroup", k.move)
	t.Run("StartFailure", k.startFailure)
	t.Run("Resources", k.resourceOps)
	t.Run("MonitorOps", k.monitorOps)
	t.Run("ToRatio", k.toRatio)
	t.Run("AllGroups", k.allGroups)
	t.Run("ServerStopStart", k.serverStopStart)
	t.Run("ServerDownFailover", k.serverDownFailover)
	t.Run("ServerRebootShutdown", k.serverRebootShutdown)
	t.Run("ClusterSuspendResume", k.clusterSuspendResume)
	t.Run("ClusterStopStart", k.clusterStopStart)
	t.Run("ClusterRebootShutdown", k.clusterRebootShutdown)
	t.Run("StopDuringMove", k.stopDuringMove)
	t.Run("FailureStatuses", k.failureStatuses)
	t.Run("DummyFailures", k.dummyFailures)
	t.Run("Mirrors", k.mirrors)
}

type contract struct {
	env       ContractEnv
	newClient func(t *testing.T) *Client
}

func (k *contract) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 4*k.env.OpTimeout)
	t.Cleanup(cancel)
	return ctx
}

// variant builds a client from env.Config changed by mut.
func (k *contract) variant(t *testing.T, mut func(*MemberConfig)) *Client {
	t.Helper()
	cfg := k.env.Config
	cfg.URLs = append([]string(nil), cfg.URLs...)
	mut(&cfg)
	c, err := New(cfg, WithLogger(testLogger(t)), WithTransportPool(NewTransportPool()))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func (k *contract) cluster(t *testing.T) {
	c := k.newClient(t)
	cl, err := c.GetCluster(k.ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if k.env.Cluster != "" && cl.Name != k.env.Cluster {
		t.Errorf("cluster name %q, want %q", cl.Name, k.env.Cluster)
	}
	if cl.Name == "" || cl.Status != StatusOnline {
		t.Errorf("cluster %+v, want a named Online cluster", cl)
	}
	r, err := c.GetToRatio(k.ctx(t))
	if err != nil || r < 1 || r > 10000 {
		t.Errorf("GetToRatio = %d, %v", r, err)
	}
}

func (k *contract) servers(t *testing.T) {
	c := k.newClient(t)
	list, err := c.ListServers(k.ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range list {
		names = append(names, s.Name)
		if !known(s.RawStatus) {
			t.Errorf("server %q has status %q, not in the documented vocabulary", s.Name, s.RawStatus)
		}
		one, err := c.GetServer(k.ctx(t), s.Name)
		if err != nil || one != s {
			t.Errorf("GetServer(%q) = %+v, %v; ListServers had %+v", s.Name, one, err, s)
		}
	}
	if k.env.Servers == nil {
		k.env.Servers = names
	} else if diff := cmp.Diff(k.env.Servers, names); diff != "" {
		t.Errorf("server names (-want +got):\n%s", diff)
	}
	got, err := c.ListServerNames(k.ctx(t))
	if err != nil || !cmp.Equal(got, names) {
		t.Errorf("ListServerNames = %v, %v; want %v", got, err, names)
	}
}

func (k *contract) groupsAndResources(t *testing.T) {
	c := k.newClient(t)
	ctx := k.ctx(t)
	groups, err := c.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range groups {
		names = append(names, g.Name)
		if !known(g.RawStatus) {
			t.Errorf("group %q has unrecognised status %q", g.Name, g.RawStatus)
		}
		if (g.Current != "") != (g.Status != StatusOffline) && g.Status != StatusOfflineFailure {
			t.Errorf("group %q: status %q with current %q", g.Name, g.RawStatus, g.Current)
		}
		if g.Current != "" && !slices.Contains(k.env.Servers, g.Current) {
			t.Errorf("group %q runs on %q, not a server of the cluster", g.Name, g.Current)
		}
		one, err := c.GetGroup(ctx, g.Name)
		if err != nil || one.Name != g.Name {
			t.Errorf("GetGroup(%q) = %+v, %v", g.Name, one, err)
		}
	}
	if !slices.Contains(names, k.env.Group) {
		t.Fatalf("group %q not in ListGroups %v", k.env.Group, names)
	}
	if got, err := c.ListGroupNames(ctx); err != nil || !cmp.Equal(got, names) {
		t.Errorf("ListGroupNames = %v, %v; want %v", got, err, names)
	}
	if k.env.Sim != nil && k.env.Sim.AutoGroup != "" {
		k.watch(t, c, k.env.Sim.AutoGroup, func(g Group) bool { return g.OnlineOn("") })
	}
	refs, err := c.GetGroupResources(ctx, k.env.Group)
	if err != nil || refs == nil {
		t.Fatalf("GetGroupResources = %v, %v", refs, err)
	}
	all, err := c.ListResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var resNames []string
	for _, r := range all {
		resNames = append(resNames, r.Name)
		if !known(r.RawStatus) {
			t.Errorf("resource %q has unrecognised status %q", r.Name, r.RawStatus)
		}
	}
	for _, ref := range refs {
		r, err := c.GetResource(ctx, ref.Name)
		if err != nil || r.Group != k.env.Group || r.Type == "" {
			t.Errorf("GetResource(%q) = %+v, %v; want a typed resource of group %q", ref.Name, r, err, k.env.Group)
		}
		if !slices.Contains(resNames, ref.Name) {
			t.Errorf("resource %q of group %q missing from ListResources", ref.Name, k.env.Group)
		}
	}
	if got, err := c.ListResourceNames(ctx); err != nil || !cmp.Equal(got, resNames) {
		t.Errorf("ListResourceNames = %v, %v; want %v", got, err, resNames)
	}
	if k.env.Sim != nil {
		k.groupResourcesAtOnce(t, c)
	}
}

func (k *contract) monitors(t *testing.T) {
	c := k.newClient(t)
	ctx := k.ctx(t)
	list, err := c.ListMonitors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range list {
		names = append(names, m.Name)
		if !known(m.RawStatus) || m.Type == "" {
			t.Errorf("monitor %+v: unrecognised status or no type", m)
		}
		for _, s := range m.Servers {
			if !slices.Contains(k.env.Servers, s.Name) || !known(s.RawStatus) {
				t.Errorf("monitor %q per-server entry %+v", m.Name, s)
			}
		}
		one, err := c.GetMonitor(ctx, m.Name)
		if err != nil || one.Name != m.Name || one.Type != m.Type {
			t.Errorf("GetMonitor(%q) = %+v, %v", m.Name, one, err)
		}
	}
	if got, err := c.ListMonitorNames(ctx); err != nil || !cmp.Equal(got, names) {
		t.Errorf("ListMonitorNames = %v, %v; want %v", got, err, names)
	}
}

const noSuch = "cset-contract-no-such-object"

func (k *contract) unknownNames(t *testing.T) {
	c := k.newClient(t)
	ctx := k.ctx(t)
	checks := map[string]error{
		"group":    func() error { _, err := c.GetGroup(ctx, noSuch); return err }(),
		"server":   func() error { _, err := c.GetServer(ctx, noSuch); return err }(),
		"resource": func() error { _, err := c.GetResource(ctx, noSuch); return err }(),
		"monitor":  func() error { _, err := c.GetMonitor(ctx, noSuch); return err }(),
	}
	if !k.env.Real {
		checks["group op"] = c.StartGroup(ctx, noSuch, k.env.Servers[0])
		checks["server op"] = c.StopServer(ctx, noSuch)
	}
	for what, err := range checks {
		var nf *NotFoundError
		if !errors.As(err, &nf) || !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown %s: error %v, want *NotFoundError", what, err)
			continue
		}
		if !strings.Contains(err.Error(), noSuch) {
			t.Errorf("unknown %s: message %q does not name the object", what, err)
		}
	}
	if !k.env.Real {
		err := c.StartGroup(ctx, k.env.Group, noSuch)
		if err == nil || errors.Is(err, ErrUnreachable) {
			t.Errorf("start on an unknown target: %v, want an ECX refusal", err)
		}
	}
}

func (k *contract) deadFirstServer(t *testing.T) {
	dead := deadURL(t)
	proxy := newFake(t, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html><h1>502 Bad Gateway</h1></html>"))
	})
	c := k.variant(t, func(cfg *MemberConfig) { cfg.URLs = append([]string{dead, proxy.URL}, cfg.URLs...) })
	if _, err := c.GetCluster(k.ctx(t)); err != nil {
		t.Fatalf("dead server and proxy first: %v", err)
	}
	if good := c.URLs()[2]; c.LastURL() != good {
		t.Fatalf("LastURL = %q, want %q", c.LastURL(), good)
	}
	before := len(proxy.requests())
	for range 3 {
		if _, err := c.ListGroups(k.ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(proxy.requests()) - before; n != 0 {
		t.Errorf("the client asked the broken proxy %d more times after a good server answered", n)
	}
}

func (k *contract) authFailure(t *testing.T) {
	if k.env.Real && !k.env.AuthFailureOK {
		t.Skip("a wrong password may lock the OS account on a real cluster; set CSET_ECX_REAL_AUTHTEST=1 to run")
	}
	c := k.variant(t, func(cfg *MemberConfig) { cfg.Password += "-wrong" })
	_, err := c.GetCluster(k.ctx(t))
	var ae *AuthError
	if !errors.As(err, &ae) || ae.HTTPStatus != http.StatusUnauthorized && ae.HTTPStatus != http.StatusForbidden {
		t.Fatalf("wrong password: %v, want *AuthError", err)
	}
	if !strings.Contains(err.Error(), "user and password") {
		t.Errorf("message %q does not tell the operator what to check", err)
	}
	if c.LastURL() != c.URLs()[0] {
		t.Error("an authentication failure moved the client to another server")
	}
}

// oddBodies checks the client against answers ECX should never give but a
// proxy or another version might, from an httptest server on 127.0.0.1.
func (k *contract) oddBodies(t *testing.T) {
	type odd struct {
		status int
		body   string
		check  func(*Client) error
	}
	getG := func(c *Client) (Group, error) { return c.GetGroup(t.Context(), "g1") }
	cases := map[string]odd{
		"null current": {200, `{"result":{"code":0,"message":""},"groups":[{"name":"g1","status":"Offline","current":null}]}`,
			func(c *Client) error {
				g, err := getG(c)
				return expect(err == nil && g.Current == "" && g.Status == StatusOffline, g, err)
			}},
		"empty current": {200, `{"result":{"code":0,"message":""},"groups":[{"name":"g1","status":"Offline","current":""}]}`,
			func(c *Client) error { g, err := getG(c); return expect(err == nil && g.Current == "", g, err) }},
		"unknown status": {200, `{"result":{"code":0,"message":""},"groups":[{"name":"g1","status":"Recovering","current":"s1"}]}`,
			func(c *Client) error {
				g, err := getG(c)
				return expect(err == nil && g.Status == StatusUnknown && g.RawStatus == "Recovering", g, err)
			}},
		"missing resources": {200, `{"result":{"code":0,"message":""},"groups":[{"name":"g1","status":"Online","current":"s1"}]}`,
			func(c *Client) error {
				rs, err := c.GetGroupResources(t.Context(), "g1")
				return expect(err == nil && rs != nil && len(rs) == 0, rs, err)
			}},
		"extra fields": {200, `{"result":{"code":0,"message":"","detail":{}},"api":"v9","groups":[{"name":"g1","status":"Online","current":"s1","priority":[1,2],"x":null}]}`,
			func(c *Client) error { g, err := getG(c); return expect(err == nil && g.OnlineOn("s1"), g, err) }},
		"truncated json": {200, `{"result":{"code":0,"message":""},"groups":[{"name":"g1","sta`,
			func(c *Client) error { _, err := getG(c); return expect(errors.Is(err, ErrMalformed), nil, err) }},
		"wrong types": {200, `{"result":{"code":0,"message":""},"groups":[{"name":["g1"],"status":1}]}`,
			func(c *Client) error { _, err := getG(c); return expect(errors.Is(err, ErrMalformed), nil, err) }},
		"non-JSON 502 from a proxy": {502, "<html><body><h1>502 Bad Gateway</h1>nginx</body></html>",
			func(c *Client) error {
				_, err := getG(c)
				return expect(errors.Is(err, ErrUnreachable) && strings.Contains(err.Error(), "502 Bad Gateway"), nil, err)
			}},
		"html 200": {200, "<!DOCTYPE html><title>Cluster WebUI</title>",
			func(c *Client) error {
				_, err := getG(c)
				return expect(errors.Is(err, ErrMalformed) && strings.Contains(err.Error(), "Cluster WebUI"), nil, err)
			}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFake(t, constHandler(tc.status, tc.body))
			c := k.variant(t, func(cfg *MemberConfig) { cfg.URLs = []string{f.URL} })
			if err := tc.check(c); err != nil {
				t.Error(err)
			}
		})
	}
}

// known reports whether raw is in ECX's status vocabulary (with its exact
// spelling: the suite checks the simulator's faithfulness too).
func known(raw string) bool {
	s, ok := ParseStatus(raw)
	return ok && s.String() == raw
}

func expect(ok bool, v any, err error) error {
	if ok {
		return nil
	}
	return fmt.Errorf("unexpected result %+v, error %v", v, err)
}
