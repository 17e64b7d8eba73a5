package server_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/fsm"
	"github.com/cset-project/cset/internal/clustertest"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
)

// bigCall raises the client's send bound: the server must refuse the oversized requests, not
// the client.
var bigCall = grpc.MaxCallSendMsgSize(128 << 20)

// TestLimits_RefusedRequestsChangeNothing sends requests with a field beyond its limit, or a
// value the masters must not store (credentials in a URL, an address DNS must not hand out, a
// hook that is not an executable, a TTL of 136 years), through a follower. Each is refused with
// InvalidArgument naming the field and what to do, the message never repeats a huge value,
// and nothing is committed.
func TestLimits_RefusedRequestsChangeNothing(t *testing.T) {
	t.Parallel()
	// The controller polls once, before the members exist, so it changes no member meanwhile.
	c := clustertest.New(t, 3, func(cfg *config.Config) { cfg.Controller.PollInterval = time.Hour })
	seed(t, c.WaitForLeader().Client())
	cl := c.Followers()[0].Client()
	c.RequireConverged()
	huge := strings.Repeat("x", 10<<20)
	notExec := filepath.Join(t.TempDir(), "hook.sh")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	manyLabels := map[string]string{}
	for i := range 200000 {
		manyLabels[fmt.Sprint("k", i)] = "v"
	}
	server := func(url string) []*apiv1.ServerSpec { return []*apiv1.ServerSpec{{Name: "north-1", Url: url}} }
	member := func(m *apiv1.AddMemberRequest) func(context.Context) error {
		if m.Name == "" {
			m.Name = "north"
		}
		if m.Servers == nil {
			m.Servers = server("http://10.0.0.9:29009")
		}
		return func(ctx context.Context) error { _, err := cl.AddMember(ctx, m, bigCall); return err }
	}
	workload := func(f func(w *apiv1.RegisterWorkloadRequest)) func(context.Context) error {
		w := &apiv1.RegisterWorkloadRequest{Name: "api", Group: "failover-api", Candidates: []string{"east", "west"},
			Addresses: map[string]*apiv1.AddressList{"east": {Addresses: []string{"10.0.1.20"}}}}
		f(w)
		return func(ctx context.Context) error { _, err := cl.RegisterWorkload(ctx, w, bigCall); return err }
	}
	address := func(a string) func(context.Context) error {
		return workload(func(w *apiv1.RegisterWorkloadRequest) { w.Addresses["east"].Addresses = []string{a} })
	}
	apply := func(d *apiv1.Declaration) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := cl.Apply(ctx, &apiv1.ApplyRequest{Declaration: d}, bigCall)
			return err
		}
	}
	web := func() *apiv1.RegisterWorkloadRequest {
		return &apiv1.RegisterWorkloadRequest{Name: "web", Group: "failover-web", Candidates: []string{"east", "west"}}
	}
	for _, tc := range []struct {
		name string
		call func(context.Context) error
		has  []string
	}{
		{"description", func(ctx context.Context) error {
			_, err := cl.CreateFaultDomain(ctx, &apiv1.CreateFaultDomainRequest{Name: "rack-a", Description: huge}, bigCall)
			return err
		}, []string{"description is 10485760 bytes long: at most 1024"}},
		{"label value", member(&apiv1.AddMemberRequest{Labels: map[string]string{"site": huge}}), []string{`labels["site"] is 10485760 bytes long: at most 255`}},
		{"label count", member(&apiv1.AddMemberRequest{Labels: manyLabels}), []string{"labels has 200000 entries: at most 64"}},
		{"server URL", member(&apiv1.AddMemberRequest{Servers: server("http://" + huge)}), []string{"servers[0].url is 10485767 bytes long: at most 2048"}},
		{"ca file", member(&apiv1.AddMemberRequest{CaFile: huge}), []string{"ca_file is 10485760 bytes long: at most 1024"}},
		{"password", member(&apiv1.AddMemberRequest{User: "root", Password: huge}), []string{"password is 10485760 bytes long: at most 1024"}},
		{"user", member(&apiv1.AddMemberRequest{User: huge}), []string{"user is 10485760 bytes long: at most 255"}},
		{"name", member(&apiv1.AddMemberRequest{Name: huge}), []string{"name is 10485760 bytes long: at most 255"}},
		{"capacity", member(&apiv1.AddMemberRequest{Capacity: math.MaxInt64}), []string{"capacity 9223372036854775807 is too large: at most 1000000000"}},
		{"credentials in a URL", member(&apiv1.AddMemberRequest{Servers: server("http://admin:pw-SECRET@10.0.0.9:29009")}),
			[]string{"has a user name or password in it", `"http://10.0.0.9:29009"`, "--user", "--password-file"}},
		{"hook path", workload(func(w *apiv1.RegisterWorkloadRequest) { w.Hooks = []string{"/" + huge} }), []string{"hooks[0] is 10485761 bytes long: at most 1024"}},
		{"hook command line", workload(func(w *apiv1.RegisterWorkloadRequest) { w.Hooks = []string{"/bin/sh -c id"} }),
			[]string{`hook "/bin/sh -c id" does not exist`, "run without arguments: put a command line in a script"}},
		{"hook not executable", workload(func(w *apiv1.RegisterWorkloadRequest) { w.Hooks = []string{notExec} }), []string{"is not executable (mode 0644): chmod +x it"}},
		{"hook missing", workload(func(w *apiv1.RegisterWorkloadRequest) { w.Hooks = []string{"/nonexistent/cset-hook"} }), []string{"does not exist on master m", "install it on every master"}},
		{"size", workload(func(w *apiv1.RegisterWorkloadRequest) { w.Size = math.MaxInt64 }), []string{"size 9223372036854775807 is too large: at most 1000000000"}},
		{"hook timeout", workload(func(w *apiv1.RegisterWorkloadRequest) { w.HookTimeoutSeconds = math.MaxUint32 }), []string{"hook_timeout_seconds 4294967295 is too large: at most 86400"}},
		{"SRV priority", workload(func(w *apiv1.RegisterWorkloadRequest) {
			w.Services = []*apiv1.Service{{Name: "_http._tcp", Port: 80, Priority: 70000}}
		}), []string{"services[0].priority 70000 is too large: at most 65535"}},
		{"candidates", workload(func(w *apiv1.RegisterWorkloadRequest) {
			for i := range 65 {
				w.Candidates = append(w.Candidates, fmt.Sprint("m", i))
			}
		}), []string{"candidates has 67 entries: at most 64"}},
		{"address 0.0.0.0", address("0.0.0.0"), []string{`address "0.0.0.0" on member east is the unspecified address`}},
		{"address ::", address("::"), []string{"the unspecified address"}},
		{"broadcast", address("255.255.255.255"), []string{"the broadcast address"}},
		{"multicast", address("239.1.2.3"), []string{"a multicast address"}},
		{"IPv6 multicast", address("ff02::1"), []string{"a multicast address"}},
		{"link-local with zone", address("fe80::1%eth0"), []string{"has a zone (%eth0)"}},
		{"link-local", address("169.254.10.10"), []string{"link-local"}},
		{"ttl", func(ctx context.Context) error {
			_, err := cl.InitSet(ctx, &apiv1.InitSetRequest{Name: "prod", Zone: "cset.example.com", TtlSeconds: math.MaxUint32})
			return err
		}, []string{"ttl_seconds 4294967295 is too large: at most 86400"}},
		{"negative ttl in a declaration", apply(&apiv1.Declaration{Set: &apiv1.InitSetRequest{Name: "prod", Zone: "cset.example.com", NegativeTtlSeconds: 86401}}),
			[]string{"set.negative_ttl_seconds 86401 is too large: at most 86400"}},
		{"declared twice", apply(&apiv1.Declaration{Workloads: []*apiv1.RegisterWorkloadRequest{web(), web()}}),
			[]string{`the declaration lists workload "web" twice (entries 1 and 2)`}},
		{"member twice", apply(&apiv1.Declaration{Members: []*apiv1.AddMemberRequest{
			{Name: "east", Servers: server("http://10.0.0.1:29009")}, {Name: "east", Servers: server("http://10.0.0.2:29009")}}}),
			[]string{`lists member "east" twice`}},
		{"two fault domains", apply(&apiv1.Declaration{FaultDomains: []*apiv1.CreateFaultDomainRequest{
			{Name: "rack-a", Members: []string{"east"}}, {Name: "rack-b", Members: []string{"east"}}}}),
			[]string{`puts member "east" in fault domains "rack-a" and "rack-b"`}},
		{"credentials in a declared URL", apply(&apiv1.Declaration{Members: []*apiv1.AddMemberRequest{
			{Name: "east", Servers: server("https://root:pw-SECRET@10.0.0.1:29009")}}}), []string{"has a user name or password in it", "user and password_file"}},
		{"address in a declaration", apply(&apiv1.Declaration{Workloads: []*apiv1.RegisterWorkloadRequest{{Name: "web", Group: "failover-web",
			Candidates: []string{"east"}, Addresses: map[string]*apiv1.AddressList{"east": {Addresses: []string{"224.0.0.1"}}}}}}), []string{"a multicast address"}},
		{"declaration size", apply(&apiv1.Declaration{Workloads: func() []*apiv1.RegisterWorkloadRequest {
			var ws []*apiv1.RegisterWorkloadRequest
			for i := range 1700 { // about 17.1 MB: over the Apply limit, under the gRPC receive bound
				w := web()
				w.Name = fmt.Sprint("w", i)
				for range 10 {
					w.Hooks = append(w.Hooks, "/"+strings.Repeat("h", 1000))
				}
				ws = append(ws, w)
			}
			return ws
		}()}), []string{"at most 16777216 are accepted"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := business(c)
			err := tc.call(clustertest.Ctx(t))
			st := status.Convert(err)
			if st.Code() != codes.InvalidArgument {
				t.Fatalf("got %v %.300q, want InvalidArgument", st.Code(), st.Message())
			}
			for _, h := range tc.has {
				if !strings.Contains(st.Message(), h) {
					t.Errorf("message %.500q does not contain %q", st.Message(), h)
				}
			}
			if len(st.Message()) > 1024 || strings.Contains(st.Message(), "pw-SECRET") {
				t.Errorf("the message echoes the value (%d bytes): %.300q", len(st.Message()), st.Message())
			}
			if d := cmp.Diff(before, business(c), protocmp.Transform()); d != "" {
				t.Errorf("the refused request changed the state (-before +after):\n%s", d)
			}
		})
	}
}

// business returns the state of the first master without what the masters change on their own
// meanwhile (their registrations, which move the indexes and the DNS serial).
func business(c *clustertest.Cluster) *fsm.Data {
	d := c.Nodes[0].Server.FSM().Data().Clone() // Data is shared and read-only
	d.Masters, d.AppliedIndex, d.DNSSerial = nil, 0, 0
	return d
}

// TestLimits_AcceptedAtTheBounds: values at their limits, and a hook that is an executable
// file on the leader, are accepted.
func TestLimits_AcceptedAtTheBounds(t *testing.T) {
	t.Parallel()
	c := clustertest.New(t, 1, nil)
	cl := c.Leader().Client()
	ctx := clustertest.Ctx(t)
	seed(t, cl)
	hook := filepath.Join(t.TempDir(), "copy.sh")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.InitSet(ctx, &apiv1.InitSetRequest{Name: "prod", Zone: "cset.example.com", TtlSeconds: 86400, NegativeTtlSeconds: 86400}); err != nil {
		t.Errorf("TTLs of one day: %v", err)
	}
	labels := map[string]string{strings.Repeat("k", 63): strings.Repeat("v", 255)}
	for i := range 63 {
		labels[fmt.Sprint("l", i)] = "x"
	}
	if _, err := cl.AddMember(ctx, &apiv1.AddMemberRequest{Name: "north", Capacity: 1_000_000_000, Labels: labels,
		Servers: []*apiv1.ServerSpec{{Name: "north-1", Url: "http://10.0.0.9:29009/" + strings.Repeat("p", 2000)}}}); err != nil {
		t.Errorf("a member at the limits: %v", err)
	}
	if _, err := cl.RegisterWorkload(ctx, &apiv1.RegisterWorkloadRequest{Name: "api", Group: "failover-api", Candidates: []string{"east", "west"},
		Size: 1_000_000_000, Hooks: []string{hook}, HookTimeoutSeconds: 86400,
		Addresses: map[string]*apiv1.AddressList{"east": {Addresses: []string{"10.0.1.20", "2001:db8::20"}}}}); err != nil {
		t.Errorf("a workload at the limits with an executable hook: %v", err)
	}
}

// TestLimits_StoredCredentialsAreRedacted: a URL with a password stored before such URLs were
// refused (here: committed directly) is shown with the password replaced.
func TestLimits_StoredCredentialsAreRedacted(t *testing.T) {
	t.Parallel()
	c := clustertest.New(t, 1, nil)
	cl := c.Leader().Client()
	commitLegacyMember(t, c.Leader(), "old", "http://admin:pw-LEGACY@10.0.0.7:29009")
	m, err := cl.GetMember(clustertest.Ctx(t), &apiv1.GetRequest{Name: "old"})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.GetMember().GetServers()[0].GetUrl(); got != "http://admin:xxxxx@10.0.0.7:29009" {
		t.Errorf("member show gives the URL %q", got)
	}
	nodes, err := cl.ListNodes(clustertest.Ctx(t), &apiv1.ListRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes.GetNodes() {
		if strings.Contains(n.GetUrl(), "pw-LEGACY") {
			t.Errorf("node list gives the URL %q", n.GetUrl())
		}
	}
}

// commitLegacyMember commits a member with a server URL the API refuses now, straight through
// raft, as an older master would have.
func commitLegacyMember(t *testing.T, n *clustertest.Node, name, url string) {
	t.Helper()
	b, err := fsm.Encode(&fsmv1.LogEntry{Command: &fsmv1.LogEntry_UpsertMember{UpsertMember: &fsmv1.UpsertMemberCommand{
		Member: &fsmv1.Member{Name: name, Servers: []*fsmv1.MemberServer{{Name: name + "-1", Url: url}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	f := n.Server.Raft().Apply(b, 5*time.Second)
	if err := f.Error(); err != nil {
		t.Fatal(err)
	}
	if res, _ := f.Response().(*fsm.Result); res == nil || res.Err != nil {
		t.Fatalf("commit member %s: %+v", name, res)
	}
}

// TestLimits_OversizedMessageRefusedBeforeDecoding sends a message larger than any request the
// masters accept: gRPC refuses it before decoding (ResourceExhausted), so a caller, with a token
// or without, cannot make a master decode and hold tens of megabytes per call. An Apply request
// at its own limit still arrives and is refused by the limits, naming its size.
func TestLimits_OversizedMessageRefusedBeforeDecoding(t *testing.T) {
	t.Parallel()
	c := clustertest.New(t, 1, nil)
	cl := c.WaitForLeader().Client()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	_, err := cl.CreateFaultDomain(ctx, &apiv1.CreateFaultDomainRequest{Name: "rack1", Description: strings.Repeat("x", 40<<20)}, bigCall)
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a 40 MiB request: got %v, want ResourceExhausted from the gRPC server's receive bound", err)
	}

	_, err = cl.Apply(ctx, &apiv1.ApplyRequest{Declaration: &apiv1.Declaration{Set: &apiv1.InitSetRequest{Name: "s", Zone: strings.Repeat("x", 16<<20)}}}, bigCall)
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "zone") {
		t.Fatalf("an Apply request just over its limit: got %v, want InvalidArgument naming the field", err)
	}
	if _, err := cl.Status(ctx, &apiv1.StatusRequest{}); err != nil {
		t.Fatalf("the master no longer answers: %v", err)
	}
}
