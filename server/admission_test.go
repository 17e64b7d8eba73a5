package server_test

import (
	"fmt"
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

// admissionWorld is one master with an in-process ecxsim of three members and four workloads
// placed by the controller:
//
//	east  rack-a capacity 1   web (hard set ha)
//	west  rack-b unlimited    db (hard set ha), api (soft set s)
//	north rack-c unlimited    cache (soft set s)
type admissionWorld struct {
	c   *clustertest.Cluster
	sim *ecxsim.Sim
	cl  apiv1.ClusterSetServiceClient
}

func newAdmissionWorld(t *testing.T) *admissionWorld {
	t.Helper()
	members := []string{"east", "west", "north"}
	groups := []string{"web", "db", "api", "cache"}
	simCfg := ecxsim.Config{ControlAddr: "127.0.0.1:0"}
	for _, m := range members {
		cl := ecxsim.ClusterConfig{Name: m, User: "admin", Password: "pw-" + m, HeartbeatTimeout: 400 * time.Millisecond, HeartbeatInterval: 100 * time.Millisecond,
			Servers: []ecxsim.ServerConfig{{Name: m + "-1", Listen: "127.0.0.1:0"}}}
		for _, g := range groups {
			cl.Groups = append(cl.Groups, ecxsim.GroupConfig{Name: g, StartDuration: 20 * time.Millisecond, StopDuration: 20 * time.Millisecond})
		}
		simCfg.Clusters = append(simCfg.Clusters, cl)
	}
	sim, err := ecxsim.New(simCfg, testutil.Logger(t, "ecxsim"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ecxsim.CheckNoDoubleOnline(sim.Audit()); err != nil {
			t.Errorf("audit: %v", err)
		}
		sim.Close()
	})
	c := clustertest.New(t, 1, func(cfg *config.Config) {
		cfg.Controller.PollInterval = 100 * time.Millisecond
		cfg.Controller.UnreachableAfter = 2 * time.Second // no flapping on a loaded machine
		cfg.Controller.ECXTimeout = 300 * time.Millisecond
	})
	w := &admissionWorld{c: c, sim: sim, cl: c.Nodes[0].Client()}
	ctx := clustertest.Ctx(t)
	if _, err := w.cl.InitSet(ctx, &apiv1.InitSetRequest{Name: "adm", Zone: "adm.test."}); err != nil {
		t.Fatal(err)
	}
	decl := &apiv1.Declaration{
		FaultDomains:     []*apiv1.CreateFaultDomainRequest{{Name: "rack-a"}, {Name: "rack-b"}, {Name: "rack-c"}},
		AvailabilitySets: []*apiv1.CreateAvailabilitySetRequest{{Name: "ha"}, {Name: "s", Soft: true}},
	}
	for i, m := range members {
		req := &apiv1.AddMemberRequest{Name: m, User: "admin", Password: "pw-" + m, FaultDomain: []string{"rack-a", "rack-b", "rack-c"}[i],
			Servers: []*apiv1.ServerSpec{{Name: m + "-1", Url: sim.ServerURL(m, m+"-1")}}}
		if m == "east" {
			req.Capacity = 1
		}
		decl.Members = append(decl.Members, req)
	}
	workload := func(name, set string, candidates ...string) *apiv1.RegisterWorkloadRequest {
		r := &apiv1.RegisterWorkloadRequest{Name: name, Group: name, Candidates: candidates, Size: 1, AvailabilitySet: set, Addresses: map[string]*apiv1.AddressList{}}
		for i, m := range candidates {
			r.Addresses[m] = &apiv1.AddressList{Addresses: []string{fmt.Sprintf("10.0.%d.%d", i+1, len(name))}}
		}
		return r
	}
	if _, err := w.cl.Apply(ctx, &apiv1.ApplyRequest{Declaration: decl}); err != nil {
		t.Fatal(err)
	}
	// Every member up before any workload exists, so that the first placements are the ones
	// drawn above and not an accident of which member was polled first.
	testutil.Eventually(t, 20*time.Second, func() error {
		ms, err := w.cl.ListMembers(ctx, &apiv1.ListRequest{})
		if err != nil {
			return err
		}
		for _, m := range ms.GetMembers() {
			if m.GetHealth() != "up" {
				return fmt.Errorf("member %s is %s", m.GetName(), m.GetHealth())
			}
		}
		return nil
	})
	workloads := &apiv1.Declaration{Workloads: []*apiv1.RegisterWorkloadRequest{
		workload("web", "ha", "east", "west"), workload("db", "ha", "west", "east"),
		workload("api", "s", "west", "east", "north"), workload("cache", "s", "north", "west"),
	}}
	if _, err := w.cl.Apply(ctx, &apiv1.ApplyRequest{Declaration: workloads}); err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]string{"web": "east", "db": "west", "api": "west", "cache": "north"} {
		w.waitOnline(t, name, m)
	}
	return w
}

func (w *admissionWorld) waitOnline(t *testing.T, name, member string) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, func() error {
		got, err := w.cl.GetWorkload(clustertest.Ctx(t), &apiv1.GetRequest{Name: name})
		if err != nil {
			return err
		}
		if got.GetMember() != member || got.GetStatus() != "Online" {
			return fmt.Errorf("%s is %s on %q, want Online on %s", name, got.GetStatus(), got.GetMember(), member)
		}
		return nil
	})
}

// refused asserts that a move is refused with FailedPrecondition and the given reason.
func (w *admissionWorld) refused(t *testing.T, name, to string, force bool, reason string) {
	t.Helper()
	_, err := w.cl.MoveWorkload(clustertest.Ctx(t), &apiv1.MoveWorkloadRequest{Name: name, ToMember: to, Force: force})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), reason) {
		t.Fatalf("move %s --to %s (force %v): %v, want FailedPrecondition with %q", name, to, force, err, reason)
	}
}

func (w *admissionWorld) events(t *testing.T, substr string) []string {
	t.Helper()
	resp, err := w.cl.ListEvents(clustertest.Ctx(t), &apiv1.ListEventsRequest{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range resp.GetEvents() {
		if strings.Contains(e.GetMessage(), substr) {
			out = append(out, e.GetMessage())
		}
	}
	return out
}

// TestServer_MoveIsAdmittedByTheScheduler: a planned move passes the predicates automatic
// placement obeys, in the scheduler's words; --force overrides capacity and soft spread only,
// and is recorded in the event log.
func TestServer_MoveIsAdmittedByTheScheduler(t *testing.T) {
	t.Parallel()
	w := newAdmissionWorld(t)
	ctx := clustertest.Ctx(t)

	// Never overridden: hard spread, candidates.
	for _, force := range []bool{false, true} {
		w.refused(t, "web", "west", force, "workload web cannot move to west: fault domain rack-b already hosts db of hard availability set ha")
		w.refused(t, "web", "north", force, `member "north" is not a candidate of workload "web"`)
	}
	// Capacity: refused, with the way to override it; forced, admitted and recorded.
	w.refused(t, "api", "east", false, "workload api cannot move to east: capacity 1 exceeded: load 1 + size 1 (only capacity or soft spread refuse it: 'csetctl workload move --force' overrides them)")
	op, err := w.cl.MoveWorkload(ctx, &apiv1.MoveWorkloadRequest{Name: "api", ToMember: "east", Force: true})
	if err != nil {
		t.Fatalf("forced move over capacity: %v", err)
	}
	if !op.GetForce() {
		t.Errorf("operation %s does not say it was forced", op.GetId())
	}
	w.waitOnline(t, "api", "east")
	if got := w.events(t, "admitted by --force over: capacity 1 exceeded: load 1 + size 1"); len(got) != 1 {
		t.Errorf("events recording the capacity override: %q", got)
	}
	if got := w.events(t, "(planned, forced: capacity and soft spread are not enforced) of api"); len(got) != 1 {
		t.Errorf("events recording the forced operation: %q", got)
	}
	m, err := w.cl.GetMember(ctx, &apiv1.GetRequest{Name: "east"})
	if err != nil || m.GetMember().GetLoad() != 2 {
		t.Fatalf("east after the forced move: %v %v, want load 2 of capacity 1", m, err)
	}
	// Soft spread refuses a pinned target; --force overrides it.
	w.refused(t, "api", "north", false, "workload api cannot move to north: fault domain rack-c already hosts cache of soft availability set s (only capacity or soft spread")
	if _, err := w.cl.MoveWorkload(ctx, &apiv1.MoveWorkloadRequest{Name: "api", ToMember: "north", Force: true}); err != nil {
		t.Fatalf("forced move over soft spread: %v", err)
	}
	w.waitOnline(t, "api", "north")
	if got := w.events(t, "admitted by --force over: fault domain rack-c already hosts cache of soft availability set s"); len(got) != 1 {
		t.Errorf("events recording the soft spread override: %q", got)
	}
	// Admin state and health are never overridden.
	for _, admin := range []string{"draining", "disabled"} {
		if _, err := w.cl.SetMemberAdmin(ctx, &apiv1.SetMemberAdminRequest{Name: "west", Admin: admin}); err != nil {
			t.Fatal(err)
		}
		for _, force := range []bool{false, true} {
			w.refused(t, "api", "west", force, "workload api cannot move to west: member west is "+admin)
		}
	}
	if _, err := w.cl.SetMemberAdmin(ctx, &apiv1.SetMemberAdminRequest{Name: "west", Admin: "active"}); err != nil {
		t.Fatal(err)
	}
	if err := w.sim.ClusterDown("west"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		m, err := w.cl.GetMember(ctx, &apiv1.GetRequest{Name: "west"})
		if err != nil || m.GetMember().GetHealth() != "unreachable" {
			return fmt.Errorf("west: %v %v", m, err)
		}
		return nil
	})
	for _, force := range []bool{false, true} {
		w.refused(t, "api", "west", force, "workload api cannot move to west: member west health is unreachable")
	}
	if got := w.events(t, "operation"); len(got) == 0 {
		t.Fatal("no operation events at all")
	}
}

// TestServer_StartIsAdmittedByTheScheduler: 'workload start' is refused with every candidate's
// reason when no member can take the workload.
func TestServer_StartIsAdmittedByTheScheduler(t *testing.T) {
	t.Parallel()
	c := clustertest.New(t, 1, nil)
	cl := c.Nodes[0].Client()
	seed(t, cl) // members whose endpoint answers nothing: never healthy
	ctx := clustertest.Ctx(t)
	if _, err := cl.SetWorkloadDesired(ctx, &apiv1.SetWorkloadDesiredRequest{Name: "web", Desired: "offline"}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"east", "west"} {
		if _, err := cl.SetMemberAdmin(ctx, &apiv1.SetMemberAdminRequest{Name: m, Admin: "draining"}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := cl.SetWorkloadDesired(ctx, &apiv1.SetWorkloadDesiredRequest{Name: "web", Desired: "online"})
	msg := status.Convert(err).Message()
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(msg, "workload web cannot start: no candidate member can take it: east: member east is draining;") ||
		!strings.Contains(msg, "west: member west is draining;") {
		t.Fatalf("start with every candidate draining: %v", err)
	}
	w, err := cl.GetWorkload(ctx, &apiv1.GetRequest{Name: "web"})
	if err != nil || w.GetDesired() != "offline" {
		t.Fatalf("a refused start changed the desired state: %v %v", w, err)
	}
}

// TestServer_GroupOwnership: in a member, an ECX group belongs to one workload, for
// RegisterWorkload and Apply (also between two entries of one file).
func TestServer_GroupOwnership(t *testing.T) {
	t.Parallel()
	c := clustertest.New(t, 1, nil)
	cl := c.Nodes[0].Client()
	seed(t, cl)
	ctx := clustertest.Ctx(t)
	alreadyExists := func(err error, want string) {
		t.Helper()
		if status.Code(err) != codes.AlreadyExists || !strings.Contains(status.Convert(err).Message(), want) {
			t.Fatalf("got %v, want AlreadyExists with %q", err, want)
		}
	}
	web2 := &apiv1.RegisterWorkloadRequest{Name: "web2", Group: "failover-web", Candidates: []string{"east"},
		Addresses: map[string]*apiv1.AddressList{"east": {Addresses: []string{"10.0.1.11"}}}}
	_, err := cl.RegisterWorkload(ctx, web2)
	alreadyExists(err, `workload "web2": ECX group "failover-web" on member east already belongs to registered workload "web"`)
	_, err = cl.Apply(ctx, &apiv1.ApplyRequest{Declaration: &apiv1.Declaration{Workloads: []*apiv1.RegisterWorkloadRequest{web2}}})
	alreadyExists(err, `already belongs to registered workload "web"`)

	a := &apiv1.RegisterWorkloadRequest{Name: "a", Group: "shared", Candidates: []string{"west"}}
	b := &apiv1.RegisterWorkloadRequest{Name: "b", Group: "shared", Candidates: []string{"east", "west"}}
	_, err = cl.Apply(ctx, &apiv1.ApplyRequest{Declaration: &apiv1.Declaration{Workloads: []*apiv1.RegisterWorkloadRequest{a, b}}})
	alreadyExists(err, `workload "b": ECX group "shared" on member west already belongs to workload declared earlier in the same request "a"`)
	resp, err := cl.ListWorkloads(ctx, &apiv1.ListRequest{})
	if err != nil || len(resp.GetWorkloads()) != 1 {
		t.Fatalf("workloads after refused registrations: %v %v, want web only", resp, err)
	}
}
