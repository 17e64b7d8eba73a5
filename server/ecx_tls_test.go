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
)

// TestECX_HTTPS runs the ECX link end to end over HTTPS, as NEC deploys it (https://server:29009,
// self-signed certificates): ecxsim serves its clusters with generated CAs and writes them out
// (tls.ca_out); the members are added through the API with that CA file, with explicit insecure
// mode, and with neither; the controller's clients verify the certificates, observe the members
// and start a workload on each member it trusts. When the simulator restarts with new CAs at the
// same addresses and files, the member comes back without being added again.
func TestECX_HTTPS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	eastCA, sharedCA := filepath.Join(dir, "east-ca.pem"), filepath.Join(dir, "ca.pem")
	addrs := testutil.FreeAddrs(t, 3)
	simCfg := ecxsim.Config{ControlAddr: "127.0.0.1:0", TLS: &ecxsim.TLSConfig{CAOut: sharedCA}}
	for i, m := range []string{"east", "west", "north"} {
		cl := ecxsim.ClusterConfig{Name: m, User: "admin", Password: "pw-" + m,
			HeartbeatTimeout: 400 * time.Millisecond, HeartbeatInterval: 100 * time.Millisecond,
			Servers: []ecxsim.ServerConfig{{Name: m + "-1", Listen: addrs[i]}},
			Groups:  []ecxsim.GroupConfig{{Name: "app-" + m, StartDuration: 20 * time.Millisecond, StopDuration: 20 * time.Millisecond}}}
		if m == "east" {
			cl.TLS = &ecxsim.TLSConfig{CAOut: eastCA}
		}
		simCfg.Clusters = append(simCfg.Clusters, cl)
	}
	startSim := func() *ecxsim.Sim {
		sim, err := ecxsim.New(simCfg, testutil.Logger(t, "ecxsim"))
		if err != nil {
			t.Fatal(err)
		}
		if err := sim.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sim.Close() })
		return sim
	}
	sim := startSim()

	c := clustertest.New(t, 1, func(cfg *config.Config) {
		cfg.Controller.PollInterval = 100 * time.Millisecond
		cfg.Controller.UnreachableAfter = 2 * time.Second // no flapping on a loaded machine
	})
	cl := c.Nodes[0].Client()
	ctx := clustertest.Ctx(t)
	if _, err := cl.InitSet(ctx, &apiv1.InitSetRequest{Name: "tls", Zone: "tls.test."}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*apiv1.AddMemberRequest{
		{Name: "east", CaFile: eastCA},
		{Name: "west", InsecureSkipVerify: true},
		{Name: "north"}, // https, but the masters are given no way to trust its certificate
	} {
		r.User, r.Password = "admin", "pw-"+r.Name
		url := sim.ServerURL(r.Name, r.Name+"-1")
		if !strings.HasPrefix(url, "https://") {
			t.Fatalf("ecxsim URL %q is not https", url)
		}
		r.Servers = []*apiv1.ServerSpec{{Name: r.Name + "-1", Url: url}}
		if _, err := cl.AddMember(ctx, r); err != nil {
			t.Fatalf("add member %s: %v", r.Name, err)
		}
	}
	health := func(want map[string]string, reasons map[string]string) func() error {
		return func() error {
			ms, err := cl.ListMembers(ctx, &apiv1.ListRequest{})
			if err != nil {
				return err
			}
			for _, m := range ms.GetMembers() {
				w, ok := want[m.GetName()]
				if !ok {
					continue
				}
				if m.GetHealth() != w {
					return fmt.Errorf("member %s is %s (%s), want %s", m.GetName(), m.GetHealth(), m.GetHealthReason(), w)
				}
				if r := reasons[m.GetName()]; !strings.Contains(m.GetHealthReason(), r) {
					return fmt.Errorf("member %s health reason %q lacks %q", m.GetName(), m.GetHealthReason(), r)
				}
			}
			return nil
		}
	}
	testutil.Eventually(t, 30*time.Second, health(
		map[string]string{"east": "up", "west": "up", "north": "unreachable"},
		map[string]string{"north": "not signed by a CA this member trusts"}))

	// Operations go over the same verified links.
	decl := &apiv1.Declaration{}
	for _, m := range []string{"east", "west"} {
		decl.Workloads = append(decl.Workloads, &apiv1.RegisterWorkloadRequest{Name: "app-" + m, Group: "app-" + m, Candidates: []string{m},
			Addresses: map[string]*apiv1.AddressList{m: {Addresses: []string{"10.0.0.1"}}}})
	}
	if _, err := cl.Apply(ctx, &apiv1.ApplyRequest{Declaration: decl}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		for _, m := range []string{"east", "west"} {
			w, err := cl.GetWorkload(ctx, &apiv1.GetRequest{Name: "app-" + m})
			if err != nil {
				return err
			}
			if w.GetStatus() != "Online" || w.GetMember() != m {
				return fmt.Errorf("workload app-%s is %s on %q", m, w.GetStatus(), w.GetMember())
			}
		}
		return nil
	})

	// A restarted simulator has new CAs (and certificates) at the same addresses and CA files:
	// the masters trust them from the files without the members being added again.
	if err := sim.Close(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, health(map[string]string{"east": "unreachable"}, nil))
	startSim()
	testutil.Eventually(t, 30*time.Second, health(map[string]string{"east": "up", "west": "up", "north": "unreachable"}, nil))
}
