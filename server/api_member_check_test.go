package server_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/ecxsim"
	"github.com/cset-project/cset/internal/clustertest"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// checkWorld is one master and the simulators of the members a test registers. The ECX
// clusters use the credentials admin/secret.
type checkWorld struct {
	c  *clustertest.Cluster
	cl apiv1.ClusterSetServiceClient
}

func newCheckWorld(t *testing.T, masters int) *checkWorld {
	t.Helper()
	c := clustertest.New(t, masters, func(cfg *config.Config) {
		cfg.Controller.PollInterval = 100 * time.Millisecond
		cfg.Controller.UnreachableAfter = 2 * time.Second // no flapping on a loaded machine
		cfg.Controller.ECXTimeout = 2 * time.Second
	})
	w := &checkWorld{c: c, cl: c.Leader().Client()}
	if _, err := w.cl.InitSet(clustertest.Ctx(t), &apiv1.InitSetRequest{Name: "chk", Zone: "chk.test."}); err != nil {
		t.Fatal(err)
	}
	return w
}

// simCluster is an ECX cluster of the named servers with manual-start groups (unless a group
// config says otherwise).
func simCluster(name string, servers []string, groups ...ecxsim.GroupConfig) ecxsim.ClusterConfig {
	cl := ecxsim.ClusterConfig{Name: name, User: "admin", Password: "secret",
		HeartbeatTimeout: 400 * time.Millisecond, HeartbeatInterval: 100 * time.Millisecond}
	for _, s := range servers {
		cl.Servers = append(cl.Servers, ecxsim.ServerConfig{Name: s, Listen: "127.0.0.1:0"})
	}
	for _, g := range groups {
		g.StartDuration, g.StopDuration = 20*time.Millisecond, 20*time.Millisecond
		cl.Groups = append(cl.Groups, g)
	}
	return cl
}

func startSim(t *testing.T, clusters ...ecxsim.ClusterConfig) *ecxsim.Sim {
	t.Helper()
	sim, err := ecxsim.New(ecxsim.Config{ControlAddr: "127.0.0.1:0", Clusters: clusters}, testutil.Logger(t, "ecxsim"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	return sim
}

// servers builds the server specs NAME=URL from pairs.
func servers(pairs ...string) []*apiv1.ServerSpec {
	var out []*apiv1.ServerSpec
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, &apiv1.ServerSpec{Name: pairs[i], Url: pairs[i+1]})
	}
	return out
}

func (w *checkWorld) addMember(t *testing.T, req *apiv1.AddMemberRequest) *apiv1.MemberResponse {
	t.Helper()
	if req.User == "" {
		req.User = "admin"
	}
	if req.Password == "" {
		req.Password = "secret"
	}
	resp, err := w.cl.AddMember(clustertest.Ctx(t), req)
	if err != nil {
		t.Fatalf("add member %s: %v", req.Name, err)
	}
	return resp
}

// register registers a workload of group on the candidate members, desired offline unless
// online is set.
func (w *checkWorld) register(t *testing.T, name, group string, online bool, candidates ...string) {
	t.Helper()
	desired := "offline"
	if online {
		desired = "online"
	}
	req := &apiv1.RegisterWorkloadRequest{Name: name, Group: group, Candidates: candidates, Desired: desired, Addresses: map[string]*apiv1.AddressList{}}
	for i, m := range candidates {
		req.Addresses[m] = &apiv1.AddressList{Addresses: []string{fmt.Sprintf("10.9.%d.%d", i, len(name))}}
	}
	if _, err := w.cl.RegisterWorkload(clustertest.Ctx(t), req); err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
}

func (w *checkWorld) check(t *testing.T, member string) *apiv1.CheckMemberResponse {
	t.Helper()
	resp, err := w.cl.CheckMember(clustertest.Ctx(t), &apiv1.CheckMemberRequest{Name: member})
	if err != nil {
		t.Fatalf("check member %s: %v", member, err)
	}
	return resp
}

// waitObserved waits until the controller has polled the member once (its health is known).
func (w *checkWorld) waitObserved(t *testing.T, member string) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, func() error {
		m, err := w.cl.GetMember(clustertest.Ctx(t), &apiv1.GetRequest{Name: member})
		if err != nil {
			return err
		}
		if h := m.GetMember().GetHealth(); h != "up" && h != "degraded" {
			return fmt.Errorf("member %s is %s", member, h)
		}
		return nil
	})
}

func dump(checks []*apiv1.MemberCheck) string {
	var b strings.Builder
	for _, c := range checks {
		fmt.Fprintf(&b, "\n  %-6s %-16s server=%q workload=%q: %s", c.GetResult(), c.GetCheck(), c.GetServer(), c.GetWorkload(), c.GetMessage())
	}
	return b.String()
}

// wantCheck asserts that checks hold a check of that name and result about server (any server
// when "") whose message contains every one of msg.
func wantCheck(t *testing.T, checks []*apiv1.MemberCheck, check, result, server string, msg ...string) {
	t.Helper()
	for _, c := range checks {
		if c.GetCheck() != check || c.GetResult() != result || (server != "" && c.GetServer() != server) {
			continue
		}
		ok := true
		for _, m := range msg {
			ok = ok && strings.Contains(c.GetMessage(), m)
		}
		if ok {
			return
		}
	}
	t.Errorf("no %s check %q (server %q) with %q among:%s", result, check, server, msg, dump(checks))
}

// failedChecks returns "check/server" of every failed check, to compare with the expected ones.
func failedChecks(checks []*apiv1.MemberCheck) []string {
	var out []string
	for _, c := range checks {
		if c.GetResult() == "fail" {
			out = append(out, c.GetCheck()+"/"+c.GetServer())
		}
	}
	return out
}

func wantFailed(t *testing.T, resp *apiv1.CheckMemberResponse, want ...string) {
	t.Helper()
	got := failedChecks(resp.GetChecks())
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("failed checks %q, want %q:%s", got, want, dump(resp.GetChecks()))
	}
	if resp.GetPassed() != (len(want) == 0) {
		t.Errorf("passed = %v with failed checks %q", resp.GetPassed(), got)
	}
}

// TestCheckMember_Configurations runs `member check` against ECX configurations with one
// mistake each, and one without.
func TestCheckMember_Configurations(t *testing.T) {
	t.Parallel()
	w := newCheckWorld(t, 1)
	sim := startSim(t,
		simCluster("good", []string{"good-1", "good-2"}, ecxsim.GroupConfig{Name: "g-good"}),
		simCluster("pw", []string{"pw-1", "pw-2"}, ecxsim.GroupConfig{Name: "g-pw"}),
		simCluster("other", []string{"name-1", "name-2"}, ecxsim.GroupConfig{Name: "g-name"}),
		simCluster("partial", []string{"partial-1", "partial-2", "partial-3"}, ecxsim.GroupConfig{Name: "g-partial"}),
		simCluster("extra", []string{"extra-1", "extra-2"}, ecxsim.GroupConfig{Name: "g-extra"}),
		simCluster("nogroup", []string{"nogroup-1"}, ecxsim.GroupConfig{Name: "g-unrelated"}),
		// The group may run on wrong-3 only, and ECX starts it there by itself.
		simCluster("wrong", []string{"wrong-1", "wrong-2", "wrong-3"}, ecxsim.GroupConfig{Name: "g-wrong", Servers: []string{"wrong-3"}, AutoStart: true}),
	)
	url := sim.ServerURL
	add := func(name string, specs ...*apiv1.ServerSpec) *apiv1.MemberResponse {
		return w.addMember(t, &apiv1.AddMemberRequest{Name: name, Servers: specs})
	}

	t.Run("no mistake", func(t *testing.T) {
		resp := add("good", servers("good-1", url("good", "good-1"), "good-2", url("good", "good-2"))...)
		if len(resp.GetWarnings()) != 0 {
			t.Errorf("add of a correct member warns:%s", dump(resp.GetWarnings()))
		}
		w.register(t, "w-good", "g-good", false, "good")
		got := w.check(t, "good")
		wantFailed(t, got)
		if got.GetMember() != "good" || got.GetCheckedBy() != w.c.Leader().ID {
			t.Errorf("answer about %q checked by %q", got.GetMember(), got.GetCheckedBy())
		}
		wantCheck(t, got.GetChecks(), "api", "ok", "good-1")
		wantCheck(t, got.GetChecks(), "api", "ok", "good-2")
		wantCheck(t, got.GetChecks(), "cluster-name", "ok", "")
		wantCheck(t, got.GetChecks(), "servers", "ok", "", "good-1, good-2")
		wantCheck(t, got.GetChecks(), "group", "ok", "", "group g-good of workload w-good exists (Offline)")
		wantCheck(t, got.GetChecks(), "manual-start", "manual", "", "g-good")
		wantCheck(t, got.GetChecks(), "failover-policy", "manual", "", "g-good", "good-1, good-2")
		wantCheck(t, got.GetChecks(), "heartbeat-timeout", "manual", "")
		wantCheck(t, got.GetChecks(), "guard", "warn", "good-1", "csetd guard", "-cluster good -server good-1")
	})

	t.Run("wrong password", func(t *testing.T) {
		resp := w.addMember(t, &apiv1.AddMemberRequest{Name: "pw", Password: "not-the-password",
			Servers: servers("pw-1", url("pw", "pw-1"), "pw-2", url("pw", "pw-2"))})
		wantCheck(t, resp.GetWarnings(), "api", "fail", "pw-1", "refused the member's credentials", `user "admin"`)
		w.register(t, "w-pw", "g-pw", false, "pw")
		got := w.check(t, "pw")
		wantFailed(t, got, "api/pw-1", "api/pw-2")
		wantCheck(t, got.GetChecks(), "api", "fail", "pw-2", "refused the member's credentials", "member add pw --update")
		// The fix: the right password, and the check passes.
		w.addMember(t, &apiv1.AddMemberRequest{Name: "pw", Update: true, Servers: servers("pw-1", url("pw", "pw-1"), "pw-2", url("pw", "pw-2"))})
		wantFailed(t, w.check(t, "pw"))
	})

	t.Run("cluster name mismatch", func(t *testing.T) {
		resp := add("misnamed", servers("name-1", url("other", "name-1"), "name-2", url("other", "name-2"))...)
		wantCheck(t, resp.GetWarnings(), "cluster-name", "fail", "name-1", `belongs to ECX cluster "other", not "misnamed"`)
		w.register(t, "w-name", "g-name", false, "misnamed")
		wantFailed(t, w.check(t, "misnamed"), "cluster-name/name-1", "cluster-name/name-2")
	})

	t.Run("a server of ECX not registered", func(t *testing.T) {
		add("partial", servers("partial-1", url("partial", "partial-1"), "partial-2", url("partial", "partial-2"))...)
		w.register(t, "w-partial", "g-partial", false, "partial")
		got := w.check(t, "partial")
		wantFailed(t, got, "servers/partial-3")
		wantCheck(t, got.GetChecks(), "servers", "fail", "partial-3", "ECX server partial-3", "is not registered", "--server partial-3=URL")
	})

	t.Run("a registered server ECX does not have", func(t *testing.T) {
		// extra-3 is a mistyped registration: its URL reaches a server of the cluster, but ECX
		// has no server of that name.
		add("extra", servers("extra-1", url("extra", "extra-1"), "extra-2", url("extra", "extra-2"), "extra-3", url("extra", "extra-2"))...)
		w.register(t, "w-extra", "g-extra", false, "extra")
		got := w.check(t, "extra")
		wantFailed(t, got, "servers/extra-3")
		wantCheck(t, got.GetChecks(), "servers", "fail", "extra-3", "server extra-3 is registered, but ECX cluster \"extra\" has no server of that name", "lists extra-1, extra-2")
	})

	t.Run("group missing", func(t *testing.T) {
		add("nogroup", servers("nogroup-1", url("nogroup", "nogroup-1"))...)
		w.register(t, "w-nogroup", "g-absent", false, "nogroup")
		got := w.check(t, "nogroup")
		wantFailed(t, got, "group/")
		wantCheck(t, got.GetChecks(), "group", "fail", "", "group g-absent of workload w-nogroup does not exist in ECX cluster \"nogroup\"")
		wantCheck(t, got.GetChecks(), "manual-start", "manual", "", "g-absent")
	})

	t.Run("group on a server that is not registered", func(t *testing.T) {
		add("wrong", servers("wrong-1", url("wrong", "wrong-1"), "wrong-2", url("wrong", "wrong-2"))...)
		w.waitObserved(t, "wrong")
		// Online: the controller adopts the copy ECX started instead of stopping it.
		w.register(t, "w-wrong", "g-wrong", true, "wrong")
		testutil.Eventually(t, 20*time.Second, func() error {
			got, err := w.cl.CheckMember(clustertest.Ctx(t), &apiv1.CheckMemberRequest{Name: "wrong"})
			if err != nil {
				return err
			}
			if f := failedChecks(got.GetChecks()); strings.Join(f, " ") != "servers/wrong-3 group-server/wrong-3" {
				return fmt.Errorf("failed checks %q:%s", f, dump(got.GetChecks()))
			}
			return nil
		})
		got := w.check(t, "wrong")
		wantCheck(t, got.GetChecks(), "group-server", "fail", "wrong-3", "group g-wrong of workload w-wrong runs on server wrong-3", "not a registered server of wrong")
	})
}

// TestCheckMember_GroupOnTwoServers: the servers of a split member each report the group on
// themselves. Two simulators stand for the two halves of the member, whose servers do not see
// each other: each reports the group online on its own server.
func TestCheckMember_GroupOnTwoServers(t *testing.T) {
	t.Parallel()
	w := newCheckWorld(t, 1)
	half := func(runsOn string) *ecxsim.Sim {
		return startSim(t, simCluster("split", []string{"split-1", "split-2"},
			ecxsim.GroupConfig{Name: "g-split", Servers: []string{runsOn}, AutoStart: true}))
	}
	a, b := half("split-1"), half("split-2")
	w.addMember(t, &apiv1.AddMemberRequest{Name: "split", Servers: servers("split-1", a.ServerURL("split", "split-1"), "split-2", b.ServerURL("split", "split-2"))})
	w.waitObserved(t, "split")
	w.register(t, "w-split", "g-split", true, "split")
	testutil.Eventually(t, 20*time.Second, func() error {
		got, err := w.cl.CheckMember(clustertest.Ctx(t), &apiv1.CheckMemberRequest{Name: "split"})
		if err != nil {
			return err
		}
		if f := failedChecks(got.GetChecks()); strings.Join(f, " ") != "group-single/" {
			return fmt.Errorf("failed checks %q:%s", f, dump(got.GetChecks()))
		}
		return nil
	})
	got := w.check(t, "split")
	wantCheck(t, got.GetChecks(), "group-single", "fail", "", "runs on two servers of split at once", "split-1 (reported by split-1) and split-2 (reported by split-2)")
}

// TestCheckMember_WrongCA: the member's servers serve https with certificates that its CA file
// did not sign (it holds the CA of another ECX cluster); with the right CA file the same servers
// pass.
func TestCheckMember_WrongCA(t *testing.T) {
	t.Parallel()
	w := newCheckWorld(t, 1)
	dir := t.TempDir()
	rightCA, wrongCA := filepath.Join(dir, "tls-ca.pem"), filepath.Join(dir, "other-ca.pem")
	withTLS := func(cl ecxsim.ClusterConfig, caOut string) ecxsim.ClusterConfig {
		cl.TLS = &ecxsim.TLSConfig{CAOut: caOut}
		return cl
	}
	sim := startSim(t,
		withTLS(simCluster("tls", []string{"tls-1", "tls-2"}, ecxsim.GroupConfig{Name: "g-tls"}), rightCA),
		withTLS(simCluster("other", []string{"other-1"}), wrongCA),
	)
	specs := servers("tls-1", sim.ServerURL("tls", "tls-1"), "tls-2", sim.ServerURL("tls", "tls-2"))
	if !strings.HasPrefix(specs[0].Url, "https://") {
		t.Fatalf("the simulator serves %s, want https", specs[0].Url)
	}

	resp := w.addMember(t, &apiv1.AddMemberRequest{Name: "tls", CaFile: wrongCA, Servers: specs})
	wantCheck(t, resp.GetWarnings(), "api", "fail", "tls-1", "is not signed by the member's CA file "+wrongCA, "--ca-file")
	w.register(t, "w-tls", "g-tls", false, "tls")
	got := w.check(t, "tls")
	wantFailed(t, got, "api/tls-1", "api/tls-2")

	w.addMember(t, &apiv1.AddMemberRequest{Name: "tls", Update: true, CaFile: rightCA, Servers: specs})
	got = w.check(t, "tls")
	wantFailed(t, got)
	wantCheck(t, got.GetChecks(), "api", "ok", "tls-2", "answers at https://")

	// Skipping verification works too, and is a warning.
	w.addMember(t, &apiv1.AddMemberRequest{Name: "tls", Update: true, InsecureSkipVerify: true, Servers: specs})
	got = w.check(t, "tls")
	wantFailed(t, got)
	wantCheck(t, got.GetChecks(), "tls-verify", "warn", "", "not verified")
}

// TestCheckMember_RunsOnTheLeader: asked through a follower, the check runs on the leader
// (the follower forwards it); unknown and empty names are refused.
func TestCheckMember_RunsOnTheLeader(t *testing.T) {
	t.Parallel()
	w := newCheckWorld(t, 3)
	sim := startSim(t, simCluster("east", []string{"east-1"}, ecxsim.GroupConfig{Name: "g-east"}))
	w.addMember(t, &apiv1.AddMemberRequest{Name: "east", Servers: servers("east-1", sim.ServerURL("east", "east-1"))})
	f := w.c.Followers()[0]
	got, err := f.Client().CheckMember(clustertest.Ctx(t), &apiv1.CheckMemberRequest{Name: "east"})
	if err != nil {
		t.Fatal(err)
	}
	if leader := w.c.Leader().ID; got.GetCheckedBy() != leader || got.GetCheckedBy() == f.ID {
		t.Errorf("checked by %q through follower %s, want the leader %s", got.GetCheckedBy(), f.ID, leader)
	}
	wantFailed(t, got)
	for name, code := range map[string]codes.Code{"": codes.InvalidArgument, "nope": codes.NotFound} {
		_, err := f.Client().CheckMember(clustertest.Ctx(t), &apiv1.CheckMemberRequest{Name: name})
		if status.Code(err) != code || !strings.Contains(status.Convert(err).Message(), "csetctl member list") {
			t.Errorf("check %q: %v, want %s with a hint", name, err, code)
		}
	}
}
