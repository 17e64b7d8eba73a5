package ecxsim_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/ecxsim"
	"github.com/cset-project/cset/internal/testutil"
	"github.com/hashicorp/go-hclog"
)

const (
	user     = "admin"
	password = "secret"
	// waitLimit bounds every poll: generous, because tests must pass on a loaded 2-core machine
	// with -race. Polls normally end within milliseconds of the condition becoming true.
	waitLimit = 10 * time.Second
)

// startSim starts a simulator for cfg and closes it when the test ends.
func startSim(t testing.TB, cfg ecxsim.Config) *ecxsim.Sim {
	t.Helper()
	sim, err := ecxsim.New(cfg, testutil.LoggerAt(t, "ecxsim", hclog.Info))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := sim.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := sim.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return sim
}

// oneCluster returns a config with one cluster "c" of servers s1 and s2 and the groups g1
// (policy s1, s2) and g2 (policy s2, s1), manual start, 100 ms transitions.
func oneCluster() ecxsim.Config {
	return ecxsim.Config{Clusters: []ecxsim.ClusterConfig{{
		Name: "c", User: user, Password: password,
		HeartbeatTimeout: 300 * time.Millisecond, HeartbeatInterval: 50 * time.Millisecond,
		RebootDuration: 100 * time.Millisecond,
		Servers:        []ecxsim.ServerConfig{{Name: "s1", Listen: "127.0.0.1:0"}, {Name: "s2", Listen: "127.0.0.1:0"}},
		Groups: []ecxsim.GroupConfig{
			{Name: "g1", Servers: []string{"s1", "s2"}, StartDuration: 100 * time.Millisecond, StopDuration: 100 * time.Millisecond},
			{Name: "g2", Servers: []string{"s2", "s1"}, StartDuration: 100 * time.Millisecond, StopDuration: 100 * time.Millisecond},
		},
	}}}
}

var client = &http.Client{Timeout: 5 * time.Second}

// reply is a decoded REST response.
type reply struct {
	status int
	raw    string
	env    envelope
}

// envelope is the ECX response envelope with every payload this package serves.
type envelope struct {
	Result struct {
		Code    *int    `json:"code"`
		Message *string `json:"message"`
	} `json:"result"`
	Cluster   *clusterJSON   `json:"cluster"`
	Servers   []serverJSON   `json:"servers"`
	Groups    []groupJSON    `json:"groups"`
	Resources []resourceJSON `json:"resources"`
	Monitors  []monitorJSON  `json:"monitors"`
}

type clusterJSON struct {
	Name    string `json:"name,omitempty"`
	Status  string `json:"status,omitempty"`
	Toratio int    `json:"toratio,omitempty"`
}

type serverJSON struct {
	Name   string `json:"name"`
	Status string `json:"status"`
}

type groupJSON struct {
	Name      string         `json:"name"`
	Status    string         `json:"status"`
	Current   string         `json:"current"`
	Resources []resourceJSON `json:"resources"`
}

type resourceJSON struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Status  string `json:"status"`
	Current string `json:"current"`
	Group   string `json:"group"`
}

type monitorJSON struct {
	Name    string       `json:"name"`
	Type    string       `json:"type"`
	Status  string       `json:"status"`
	Servers []serverJSON `json:"servers"`
}

func (r reply) code() int {
	if r.env.Result.Code == nil {
		return -1
	}
	return *r.env.Result.Code
}

func (r reply) message() string {
	if r.env.Result.Message == nil {
		return "<missing>"
	}
	return *r.env.Result.Message
}

// call sends one REST request with the test credentials and decodes the envelope. body "" sends no
// body.
func call(t testing.TB, method, url, body string) reply {
	t.Helper()
	r, err := tryCall(method, url, body, user, password)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return r
}

func tryCall(method, url, body, u, p string) (reply, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return reply{}, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if u != "" {
		req.SetBasicAuth(u, p)
	}
	resp, err := client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	out := reply{status: resp.StatusCode, raw: string(data)}
	if err := json.Unmarshal(data, &out.env); err != nil {
		return out, fmt.Errorf("body %q is not an envelope: %w", data, err)
	}
	if out.env.Result.Code == nil || out.env.Result.Message == nil {
		return out, fmt.Errorf("body %q lacks result.code or result.message", data)
	}
	return out, nil
}

// mustOK checks that r is HTTP 200 with code 0 and message "".
func mustOK(t testing.TB, what string, r reply) {
	t.Helper()
	if r.status != http.StatusOK || r.code() != 0 || r.message() != "" {
		t.Fatalf("%s: got HTTP %d %s, want 200 with code 0 and empty message", what, r.status, r.raw)
	}
}

// mustFail checks the status and code of an error reply and that its message contains want.
func mustFail(t testing.TB, what string, r reply, status, code int, want string) {
	t.Helper()
	if r.status != status || r.code() != code || !strings.Contains(r.message(), want) {
		t.Fatalf("%s: got HTTP %d %s, want HTTP %d code %d with message containing %q", what, r.status, r.raw, status, code, want)
	}
}

// eventually polls cond until it returns nil or waitLimit passes. Every 5ms: the groups of
// these tests pass through states that last 100ms.
func eventually(t testing.TB, what string, cond func() error) {
	t.Helper()
	testutil.Poll{Timeout: waitLimit, Interval: 5 * time.Millisecond}.Eventually(t, what, cond)
}

// groupIs returns a condition: group g, read from url, has status and current.
func groupIs(t testing.TB, url, g, status, current string) func() error {
	return func() error {
		r, err := tryCall(http.MethodGet, url+"/api/v1/groups/"+g, "", user, password)
		if err != nil {
			return err
		}
		if len(r.env.Groups) != 1 {
			return fmt.Errorf("groups = %s", r.raw)
		}
		got := r.env.Groups[0]
		if got.Status != status || got.Current != current {
			return fmt.Errorf("group %s is %q on %q, want %q on %q", g, got.Status, got.Current, status, current)
		}
		return nil
	}
}

// stateServer returns the state of one server from Sim.State.
func stateServer(sim *ecxsim.Sim, cluster, server string) (ecxsim.ServerState, error) {
	for _, c := range sim.State().Clusters {
		if c.Name != cluster {
			continue
		}
		for _, s := range c.Servers {
			if s.Name == server {
				return s, nil
			}
		}
	}
	return ecxsim.ServerState{}, errors.New("server not in state")
}

// controlPost calls the control API and returns the status and body.
func controlPost(t testing.TB, sim *ecxsim.Sim, path, body string) (int, string) {
	t.Helper()
	resp, err := client.Post(sim.ControlURL()+path, "application/json", bytes.NewBufferString(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// checkExclusiveInCluster fails if any group of the audit ran on two servers of one cluster at once.
func checkExclusiveInCluster(t testing.TB, recs []ecxsim.AuditRecord) {
	t.Helper()
	for i, a := range recs {
		for _, b := range recs[i+1:] {
			if a.Cluster != b.Cluster || a.Group != b.Group || a.Server == b.Server {
				continue
			}
			if overlaps(a, b) {
				t.Errorf("group %s/%s online on %s and %s at once: %v / %v", a.Cluster, a.Group, a.Server, b.Server, a, b)
			}
		}
	}
}

func overlaps(a, b ecxsim.AuditRecord) bool {
	aEnd, bEnd := time.Unix(1<<40, 0), time.Unix(1<<40, 0)
	if a.OnlineUntil != nil {
		aEnd = *a.OnlineUntil
	}
	if b.OnlineUntil != nil {
		bEnd = *b.OnlineUntil
	}
	return a.OnlineFrom.Before(bEnd) && b.OnlineFrom.Before(aEnd)
}
