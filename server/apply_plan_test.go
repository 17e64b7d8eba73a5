package server_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cset-project/cset/config"
	"github.com/cset-project/cset/internal/clustertest"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// planDeclaration is a whole set as csetctl apply sends it: east and west in two racks, north
// alone, web (set ha) and db.
func planDeclaration() *apiv1.Declaration {
	member := func(name, fd string) *apiv1.AddMemberRequest {
		return &apiv1.AddMemberRequest{Name: name, FaultDomain: fd, User: "root", Password: "pw-" + name, Update: true,
			Servers: []*apiv1.ServerSpec{{Name: name + "-1", Url: "http://127.0.0.1:29009"}}}
	}
	workload := func(name, set string, candidates ...string) *apiv1.RegisterWorkloadRequest {
		r := &apiv1.RegisterWorkloadRequest{Name: name, Group: "failover-" + name, Candidates: candidates, AvailabilitySet: set,
			Addresses: map[string]*apiv1.AddressList{}, Update: true}
		for i, m := range candidates {
			r.Addresses[m] = &apiv1.AddressList{Addresses: []string{fmt.Sprintf("10.0.%d.%d", i+1, len(name))}}
		}
		return r
	}
	return &apiv1.Declaration{
		Set:              &apiv1.InitSetRequest{Name: "prod", Zone: "cset.example.com."},
		FaultDomains:     []*apiv1.CreateFaultDomainRequest{{Name: "rack-a", Members: []string{"east"}}, {Name: "rack-b"}},
		AvailabilitySets: []*apiv1.CreateAvailabilitySetRequest{{Name: "ha"}},
		Members:          []*apiv1.AddMemberRequest{member("east", ""), member("west", "rack-b"), member("north", "")},
		Workloads:        []*apiv1.RegisterWorkloadRequest{workload("web", "ha", "east", "west"), workload("db", "", "west", "east")},
	}
}

// change is an ApplyChange as the tests write it.
type change struct {
	Kind, Name, Action string
	Fields             []string
	Note               string
}

func changesOf(r *apiv1.ApplyResponse) []change {
	var out []change
	for _, c := range r.GetChanges() {
		out = append(out, change{Kind: c.GetKind(), Name: c.GetName(), Action: c.GetAction(), Fields: c.GetFields(), Note: c.GetNote()})
	}
	return out
}

// allUnchanged is the plan of planDeclaration applied again.
func allUnchanged() []change {
	return []change{
		{Kind: "set", Name: "prod", Action: "unchanged"},
		{Kind: "fault_domain", Name: "rack-a", Action: "unchanged"}, {Kind: "fault_domain", Name: "rack-b", Action: "unchanged"},
		{Kind: "availability_set", Name: "ha", Action: "unchanged"},
		{Kind: "member", Name: "east", Action: "unchanged"}, {Kind: "member", Name: "west", Action: "unchanged"}, {Kind: "member", Name: "north", Action: "unchanged"},
		{Kind: "workload", Name: "web", Action: "unchanged"}, {Kind: "workload", Name: "db", Action: "unchanged"},
	}
}

// stateMark is what must not move when an apply commits nothing.
type stateMark struct {
	applied uint64
	events  []string
}

// markState reads the applied index and the events on the leader cl.
func markState(t *testing.T, cl apiv1.ClusterSetServiceClient) stateMark {
	t.Helper()
	ctx := clustertest.Ctx(t)
	st, err := cl.Status(ctx, &apiv1.StatusRequest{Read: &apiv1.ReadOptions{Consistent: true}})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := cl.ListEvents(ctx, &apiv1.ListEventsRequest{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	m := stateMark{applied: st.GetAppliedIndex()}
	for _, e := range ev.GetEvents() {
		m.events = append(m.events, fmt.Sprintf("%d %s", e.GetSeq(), e.GetMessage()))
	}
	return m
}

func apply(t *testing.T, cl apiv1.ClusterSetServiceClient, r *apiv1.ApplyRequest) *apiv1.ApplyResponse {
	t.Helper()
	resp, err := cl.Apply(clustertest.Ctx(t), r)
	if err != nil {
		t.Fatalf("apply (dry run %v, prune %v, force %v): %v", r.GetDryRun(), r.GetPrune(), r.GetForce(), err)
	}
	return resp
}

// TestApply_PlanAgainstRealMasters: through a follower, a dry run answers the plan and changes
// nothing; an apply that changes nothing commits nothing; a changed apply gives events only to
// what changed; prune deletes what the file no longer names; its plan is the dry run's.
func TestApply_PlanAgainstRealMasters(t *testing.T) {
	t.Parallel()
	// The controller polls once, before the members exist, so it changes nothing meanwhile.
	c := clustertest.New(t, 3, func(cfg *config.Config) { cfg.Controller.PollInterval = time.Hour })
	lc := c.WaitForLeader().Client() // events are read on the leader: a follower may lag
	cl := c.Followers()[0].Client()

	first := apply(t, cl, &apiv1.ApplyRequest{Declaration: planDeclaration()})
	if first.GetIndex() == 0 || first.GetStateIndex() != first.GetIndex() || first.GetDryRun() || len(first.GetChanges()) != 9 {
		t.Fatalf("first apply: %v", first)
	}
	for _, ch := range first.GetChanges() {
		if ch.GetAction() != "create" {
			t.Errorf("first apply: %v, want every object created", ch)
		}
	}

	before := markState(t, lc)
	for _, dry := range []bool{true, false} {
		r := apply(t, cl, &apiv1.ApplyRequest{Declaration: planDeclaration(), DryRun: dry, Prune: true})
		if r.GetIndex() != 0 || r.GetDryRun() != dry || r.GetStateIndex() != before.applied {
			t.Errorf("unchanged apply (dry run %v): index %d dry_run %v state_index %d; want 0, %v, %d", dry, r.GetIndex(), r.GetDryRun(), r.GetStateIndex(), dry, before.applied)
		}
		if d := cmp.Diff(allUnchanged(), changesOf(r)); d != "" {
			t.Errorf("unchanged apply (dry run %v) (-want +got):\n%s", dry, d)
		}
	}
	if after := markState(t, lc); !cmp.Equal(before, after, cmp.AllowUnexported(stateMark{})) {
		t.Fatalf("an apply that changes nothing moved the state: %+v -> %+v", before, after)
	}

	changed := planDeclaration()
	changed.Members[0].Capacity, changed.Members[0].Password = 4, "rotated-secret"
	changed.Members = slices.DeleteFunc(changed.Members, func(m *apiv1.AddMemberRequest) bool { return m.Name == "north" })
	changed.Workloads = changed.Workloads[:1] // db goes
	want := []change{
		{Kind: "set", Name: "prod", Action: "unchanged"},
		{Kind: "fault_domain", Name: "rack-a", Action: "unchanged"}, {Kind: "fault_domain", Name: "rack-b", Action: "unchanged"},
		{Kind: "availability_set", Name: "ha", Action: "unchanged"},
		{Kind: "member", Name: "east", Action: "update", Fields: []string{"capacity", "password"}},
		{Kind: "member", Name: "west", Action: "unchanged"},
		{Kind: "workload", Name: "web", Action: "unchanged"},
		{Kind: "workload", Name: "db", Action: "delete"},
		{Kind: "member", Name: "north", Action: "delete"},
	}
	dry := apply(t, cl, &apiv1.ApplyRequest{Declaration: changed, DryRun: true, Prune: true})
	if d := cmp.Diff(want, changesOf(dry)); d != "" || dry.GetIndex() != 0 {
		t.Errorf("dry run index %d (-want +got):\n%s", dry.GetIndex(), d)
	}
	if strings.Contains(fmt.Sprint(dry), "rotated-secret") {
		t.Error("the plan shows the password")
	}
	if after := markState(t, lc); !cmp.Equal(before, after, cmp.AllowUnexported(stateMark{})) {
		t.Fatalf("the dry run moved the state: %+v -> %+v", before, after)
	}

	// Without prune nothing is deleted.
	noPrune := apply(t, cl, &apiv1.ApplyRequest{Declaration: changed, DryRun: true})
	if got := changesOf(noPrune); len(got) != 7 || slices.ContainsFunc(got, func(c change) bool { return c.Action == "delete" }) {
		t.Errorf("dry run without prune: %v", got)
	}

	done := apply(t, cl, &apiv1.ApplyRequest{Declaration: changed, Prune: true})
	if d := cmp.Diff(changesOf(dry), changesOf(done)); d != "" || done.GetIndex() <= before.applied {
		t.Errorf("apply index %d after %d; its plan differs from the dry run's (-dry +applied):\n%s", done.GetIndex(), before.applied, d)
	}
	after := markState(t, lc)
	var newEvents []string
	for _, e := range after.events[len(before.events):] {
		newEvents = append(newEvents, e[strings.Index(e, " ")+1:])
	}
	wantEvents := []string{
		"member east updated",
		"workload db unregistered (its ECX group is left as it is)",
		"member north removed (health unknown, force=false, workloads affected: )",
	}
	if d := cmp.Diff(wantEvents, newEvents); d != "" {
		t.Errorf("events of the apply (-want +got):\n%s", d)
	}
	ctx := clustertest.Ctx(t)
	if _, err := cl.GetMember(ctx, &apiv1.GetRequest{Name: "north", Read: &apiv1.ReadOptions{Consistent: true}}); !hasCode(err, codes.NotFound) {
		t.Errorf("north after prune: %v", err)
	}
	if _, err := cl.GetWorkload(ctx, &apiv1.GetRequest{Name: "db", Read: &apiv1.ReadOptions{Consistent: true}}); !hasCode(err, codes.NotFound) {
		t.Errorf("db after prune: %v", err)
	}
	c.RequireConverged()
}

// TestApply_PruneRefusals: what prune must not delete is refused with the reason and the fix,
// and the refused apply changes nothing.
func TestApply_PruneRefusals(t *testing.T) {
	t.Parallel()
	c := clustertest.New(t, 1, func(cfg *config.Config) { cfg.Controller.PollInterval = time.Hour })
	cl := c.WaitForLeader().Client()
	apply(t, cl, &apiv1.ApplyRequest{Declaration: planDeclaration()})
	before := markState(t, cl)

	noWest := planDeclaration()
	noWest.Members = slices.DeleteFunc(noWest.Members, func(m *apiv1.AddMemberRequest) bool { return m.Name == "west" })
	noRackB := planDeclaration()
	noRackB.FaultDomains = noRackB.FaultDomains[:1]
	noHA := planDeclaration()
	noHA.AvailabilitySets = nil
	for _, tc := range []struct {
		name string
		r    *apiv1.ApplyRequest
		code codes.Code
		has  string
	}{
		{"a member a kept workload names", &apiv1.ApplyRequest{Declaration: noWest, Prune: true, Force: true}, codes.InvalidArgument,
			`member "west", which the file does not declare, but it is a candidate of workloads db, web that the file keeps: add it to members or take it out of their candidates`},
		{"a fault domain of a kept member", &apiv1.ApplyRequest{Declaration: noRackB, Prune: true, DryRun: true}, codes.InvalidArgument,
			`fault domain "rack-b", which the file does not declare, but member west that the file keeps is in it`},
		{"an availability set of a kept workload", &apiv1.ApplyRequest{Declaration: noHA, Prune: true}, codes.InvalidArgument,
			`availability set "ha", which the file does not declare, but workloads web that the file keeps use it`},
		{"force without prune", &apiv1.ApplyRequest{Declaration: planDeclaration(), Force: true}, codes.InvalidArgument, "give it with prune"},
	} {
		_, err := cl.Apply(clustertest.Ctx(t), tc.r)
		if !hasCode(err, tc.code) || !strings.Contains(err.Error(), tc.has) {
			t.Errorf("%s: %v, want %v containing %q", tc.name, err, tc.code, tc.has)
		}
	}
	if after := markState(t, cl); !cmp.Equal(before, after, cmp.AllowUnexported(stateMark{})) {
		t.Fatalf("refused applies moved the state: %+v -> %+v", before, after)
	}
}

// TestApply_PruneInUseNeedsForce: a workload placed on a member (its group may run there) is
// not pruned without --force; with it, it is unregistered as 'workload unregister' does.
func TestApply_PruneInUseNeedsForce(t *testing.T) {
	t.Parallel()
	w := newAdmissionWorld(t) // web on east, db and api on west, cache on north, all Online
	ctx := clustertest.Ctx(t)
	list := func() []string {
		r, err := w.cl.ListWorkloads(ctx, &apiv1.ListRequest{Read: &apiv1.ReadOptions{Consistent: true}})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, x := range r.GetWorkloads() {
			names = append(names, x.GetName())
		}
		return names
	}
	// The file: the world as it is, without cache, and without north in api's candidates.
	decl := &apiv1.Declaration{}
	for _, name := range []string{"web", "db", "api"} {
		got, err := w.cl.GetWorkload(ctx, &apiv1.GetRequest{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		r := &apiv1.RegisterWorkloadRequest{Name: name, Group: got.GetGroup(), Candidates: got.GetCandidates(), Addresses: got.GetAddresses(),
			Size: got.GetSize(), AvailabilitySet: got.GetAvailabilitySet(), Update: true}
		if name == "api" {
			r.Candidates = []string{"west", "east"}
			delete(r.Addresses, "north")
		}
		decl.Workloads = append(decl.Workloads, r)
	}
	ms, err := w.cl.ListMembers(ctx, &apiv1.ListRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms.GetMembers() {
		if m.GetName() == "north" {
			continue
		}
		servers := []*apiv1.ServerSpec{}
		for _, s := range m.GetServers() {
			servers = append(servers, &apiv1.ServerSpec{Name: s.GetName(), Url: s.GetUrl()})
		}
		decl.Members = append(decl.Members, &apiv1.AddMemberRequest{Name: m.GetName(), FaultDomain: m.GetFaultDomain(), Capacity: m.GetCapacity(),
			User: m.GetUser(), Password: "pw-" + m.GetName(), Servers: servers, Update: true})
	}
	decl.FaultDomains = []*apiv1.CreateFaultDomainRequest{{Name: "rack-a"}, {Name: "rack-b"}}
	decl.AvailabilitySets = []*apiv1.CreateAvailabilitySetRequest{{Name: "ha"}, {Name: "s", Soft: true}}

	_, err = w.cl.Apply(ctx, &apiv1.ApplyRequest{Declaration: decl, Prune: true})
	if !hasCode(err, codes.FailedPrecondition) || !strings.Contains(err.Error(), `workload "cache", which the file does not declare, but it is placed on north`) ||
		!strings.Contains(err.Error(), "--force") {
		t.Fatalf("prune of a running workload: %v", err)
	}
	if got := list(); len(got) != 4 {
		t.Fatalf("the refused prune changed the workloads: %v", got)
	}
	dry := apply(t, w.cl, &apiv1.ApplyRequest{Declaration: proto.Clone(decl).(*apiv1.Declaration), Prune: true, Force: true, DryRun: true})
	done := apply(t, w.cl, &apiv1.ApplyRequest{Declaration: decl, Prune: true, Force: true})
	if d := cmp.Diff(changesOf(dry), changesOf(done)); d != "" {
		t.Errorf("the forced prune differs from its dry run (-dry +applied):\n%s", d)
	}
	for _, want := range []change{
		{Kind: "workload", Name: "cache", Action: "delete"},
		{Kind: "workload", Name: "api", Action: "update", Fields: []string{"candidates", "addresses"}},
		{Kind: "member", Name: "north", Action: "delete"},
		{Kind: "fault_domain", Name: "rack-c", Action: "delete"},
	} {
		if !slices.ContainsFunc(changesOf(done), func(c change) bool { return cmp.Equal(c, want) }) {
			t.Errorf("the forced prune's changes %v lack %v", changesOf(done), want)
		}
	}
	if got := list(); !slices.Equal(got, []string{"api", "db", "web"}) {
		t.Errorf("workloads after the forced prune: %v", got)
	}
}

// TestApply_NoAuditForNothing: on masters with -auth, an apply that commits nothing (a dry
// run, or nothing to change) writes no audit event either; a changed one is audited.
func TestApply_NoAuditForNothing(t *testing.T) {
	t.Parallel()
	c := clustertest.New(t, 1, func(cfg *config.Config) {
		cfg.Auth = true
		cfg.Controller.PollInterval = time.Hour
	})
	admin := c.BootstrapToken()
	cl := c.WaitForLeader().Client()
	call := func(r *apiv1.ApplyRequest) {
		t.Helper()
		if _, err := cl.Apply(as(t, admin), r); err != nil {
			t.Fatal(err)
		}
	}
	call(&apiv1.ApplyRequest{Declaration: planDeclaration()})
	call(&apiv1.ApplyRequest{Declaration: planDeclaration()})
	call(&apiv1.ApplyRequest{Declaration: planDeclaration(), DryRun: true})
	changed := planDeclaration()
	changed.Members[0].Capacity = 3
	call(&apiv1.ApplyRequest{Declaration: changed})
	// Audit records are written in order, so once the last apply's is there, the ones of the
	// calls before it would be too.
	var audited []string
	testutil.Eventually(t, 10*time.Second, func() error {
		r, err := cl.ListEvents(as(t, admin), &apiv1.ListEventsRequest{Limit: 10000})
		if err != nil {
			return err
		}
		audited = nil
		for _, e := range r.GetEvents() {
			if e.GetKind() == "audit" && strings.HasPrefix(e.GetMessage(), "Apply ") {
				audited = append(audited, e.GetMessage())
			}
		}
		if len(audited) < 2 {
			return fmt.Errorf("audited applies %v", audited)
		}
		return nil
	})
	if len(audited) != 2 {
		t.Errorf("audit events of Apply %v, want 2 (the first apply and the changed one)", audited)
	}
}

func hasCode(err error, code codes.Code) bool {
	return err != nil && status.Code(err) == code
}

// TestApply_RetryAnswersTheFirstIndex: a retry (same request id) of an apply that was committed
// answers the index that applied it, not "nothing committed", although the state now matches.
func TestApply_RetryAnswersTheFirstIndex(t *testing.T) {
	t.Parallel()
	c := clustertest.New(t, 1, func(cfg *config.Config) { cfg.Controller.PollInterval = time.Hour })
	cl := c.WaitForLeader().Client()
	ctx := metadata.AppendToOutgoingContext(clustertest.Ctx(t), "cset-request-id", "apply-retry-1")
	first, err := cl.Apply(ctx, &apiv1.ApplyRequest{Declaration: planDeclaration()})
	if err != nil {
		t.Fatal(err)
	}
	again, err := cl.Apply(ctx, &apiv1.ApplyRequest{Declaration: planDeclaration()})
	if err != nil {
		t.Fatal(err)
	}
	if first.GetIndex() == 0 || again.GetIndex() != first.GetIndex() {
		t.Errorf("retry answered index %d, want the first apply's %d", again.GetIndex(), first.GetIndex())
	}
	other := apply(t, cl, &apiv1.ApplyRequest{Declaration: planDeclaration()})
	if other.GetIndex() != 0 {
		t.Errorf("a new apply of the same file answered index %d, want 0 (nothing to change)", other.GetIndex())
	}
}
