package controller_test

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/cset-project/cset/internal/clustertest"
	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// placeOn moves workload g onto member (forced) unless it runs there already, and waits until
// it is Online there.
func placeOn(t *testing.T, e *env, g, member string) {
	t.Helper()
	if e.workload(g).GetMember() == member {
		return
	}
	if _, err := e.client().MoveWorkload(clustertest.Ctx(t), &apiv1.MoveWorkloadRequest{Name: g, ToMember: member, Force: true}); err != nil {
		t.Fatalf("move %s to %s: %v", g, member, err)
	}
	e.waitOnline(g, member, 30*time.Second)
}

// setCandidates registers workload g again with only candidates (in that order), keeping the
// rest of its registration: the scheduler then has one choice of target where the test needs
// one.
func setCandidates(t *testing.T, e *env, g string, candidates ...string) {
	t.Helper()
	w := e.workload(g)
	req := &apiv1.RegisterWorkloadRequest{Name: g, Group: w.GetGroup(), Candidates: candidates, Addresses: map[string]*apiv1.AddressList{},
		HookTimeoutSeconds: w.GetHookTimeoutSeconds(), DependsOn: w.GetDependsOn(), Size: w.GetSize(), Update: true}
	for _, m := range candidates {
		req.Addresses[m] = w.GetAddresses()[m]
	}
	if _, err := e.client().RegisterWorkload(clustertest.Ctx(t), req); err != nil {
		t.Fatalf("register %s with candidates %v: %v", g, candidates, err)
	}
}

// observedWaves derives the waves of an executed evacuation from its report. An evacuation's
// waves are the order in which workloads leave their member (a dependent is stopped there
// before what it depends on, which runs until then): a workload's wave is one after the latest
// wave among the workloads that had left (their fencing ended) before its operation began, 1
// when none had.
func observedWaves(t *testing.T, steps []*apiv1.DrillStep) map[string]uint32 {
	t.Helper()
	type span struct {
		name        string
		start, left int64
	}
	var spans []span
	for _, s := range steps {
		ph := s.GetPhases()
		i := slices.IndexFunc(ph, func(p *apiv1.DrillPhase) bool { return p.GetPhase() == "fencing" })
		if i < 0 || i == len(ph)-1 {
			t.Fatalf("%s: no end of fencing in its phases %v", s.GetWorkload(), ph)
		}
		spans = append(spans, span{s.GetWorkload(), ph[0].GetAtUnixNano(), ph[i+1].GetAtUnixNano()})
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	out := map[string]uint32{}
	for _, w := range spans {
		wave := uint32(1)
		for _, x := range spans {
			if x.name != w.name && x.left <= w.start {
				wave = max(wave, out[x.name]+1)
			}
		}
		out[w.name] = wave
	}
	return out
}

// A drill predicts without changing anything, and what it predicts for the planned evacuation
// (--planned, taken before) is what --execute then does: every workload lands on the predicted
// member, in the predicted wave (dependents leave first, while what they depend on still runs),
// and the drill's report gives each operation's phases, total time and DNS switch. The world
// leaves the scheduler one target per workload, so the prediction has to match.
func TestDrill_PredictionMatchesTheExecution(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{members: []string{"east", "west", "north"}, groups: []string{"db", "app", "batch"}, size: 1, startTime: 300 * time.Millisecond,
		dependsOn: map[string][]string{"app": {"db"}}})
	ctx := clustertest.Ctx(t)
	for _, g := range []string{"db", "app", "batch"} {
		e.waitOnline(g, "", 20*time.Second)
		placeOn(t, e, g, "east")
	}
	// One target each once east is gone: db west, app and batch north.
	setCandidates(t, e, "db", "east", "west")
	setCandidates(t, e, "app", "east", "north")
	setCandidates(t, e, "batch", "east", "north")
	wantTo := map[string]string{"db": "west", "app": "north", "batch": "north"}

	// The loss of east: db and batch start at once, app once db runs.
	dry, err := e.client().Drill(ctx, &apiv1.DrillRequest{Members: []string{"east"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(dry.GetSteps()) != 3 || dry.GetDetectionMs() != fenceAfter.Milliseconds() || dry.GetExpectedMs() < dry.GetDetectionMs() {
		t.Fatalf("dry drill %v", dry)
	}
	lossWave := map[string]uint32{}
	for _, s := range dry.GetSteps() {
		lossWave[s.GetWorkload()] = s.GetWave()
		if s.GetToMember() != wantTo[s.GetWorkload()] {
			t.Errorf("dry drill sends %s to %q (%s), want %s", s.GetWorkload(), s.GetToMember(), s.GetReason(), wantTo[s.GetWorkload()])
		}
	}
	if want := map[string]uint32{"db": 1, "batch": 1, "app": 2}; !maps.Equal(lossWave, want) {
		t.Errorf("after a loss the waves are %v, want %v", lossWave, want)
	}

	// The planned evacuation that --execute runs, predicted first.
	plan, err := e.client().Drill(ctx, &apiv1.DrillRequest{Members: []string{"east"}, Planned: true})
	if err != nil {
		t.Fatal(err)
	}
	if plan.GetExecuted() || plan.GetDetectionMs() != 0 || len(plan.GetSteps()) != 3 {
		t.Fatalf("planned dry drill %v", plan)
	}
	predictedTo, predictedWave := map[string]string{}, map[string]uint32{}
	for _, s := range plan.GetSteps() {
		predictedTo[s.GetWorkload()], predictedWave[s.GetWorkload()] = s.GetToMember(), s.GetWave()
	}
	if !maps.Equal(predictedTo, wantTo) {
		t.Errorf("the planned drill predicts targets %v, want %v", predictedTo, wantTo)
	}
	if want := map[string]uint32{"app": 1, "batch": 1, "db": 2}; !maps.Equal(predictedWave, want) {
		t.Errorf("in an evacuation the predicted waves are %v, want %v (app leaves before db)", predictedWave, want)
	}
	if m, err := e.client().GetMember(ctx, &apiv1.GetRequest{Name: "east"}); err != nil || m.GetMember().GetAdmin() != "active" {
		t.Fatalf("a dry drill changed east: %v %v", m.GetMember().GetAdmin(), err)
	}
	for g := range wantTo {
		if w := e.workload(g); w.GetMember() != "east" || w.GetActiveOperationId() != "" {
			t.Fatalf("a dry drill moved %s: on %s, operation %q", g, w.GetMember(), w.GetActiveOperationId())
		}
	}

	run, err := e.client().Drill(ctx, &apiv1.DrillRequest{Members: []string{"east"}, Execute: true})
	if err != nil {
		t.Fatal(err)
	}
	if !run.GetExecuted() || run.GetDetectionMs() != 0 {
		t.Errorf("executed drill %v", run)
	}
	started := time.Now()
	testutil.Eventually(t, 30*time.Second, func() error {
		for g := range wantTo {
			w := e.workload(g)
			if w.GetMember() == "east" || w.GetStatus() != "Online" || w.GetActiveOperationId() != "" {
				return fmt.Errorf("%s is %s on %s (operation %q)", g, w.GetStatus(), w.GetMember(), w.GetActiveOperationId())
			}
		}
		return nil
	})
	// The outcome against the earlier prediction: targets...
	var ids []string
	for g, to := range predictedTo {
		w := e.workload(g)
		if w.GetMember() != to {
			t.Errorf("%s went to %s, the drill predicted %s", g, w.GetMember(), to)
		}
		ids = append(ids, w.GetOperationId())
	}
	slices.Sort(ids)
	rep, err := e.client().Drill(ctx, &apiv1.DrillRequest{Members: []string{"east"}, ReportOperations: ids})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.GetReport() || len(rep.GetSteps()) != 3 {
		t.Fatalf("drill report %v", rep)
	}
	// ... and waves, as the operations' phase times show them (the order of leaving east).
	if got := observedWaves(t, rep.GetSteps()); !maps.Equal(got, predictedWave) {
		t.Errorf("the evacuation ran in waves %v, the drill predicted %v", got, predictedWave)
	}
	// The report: every phase in order, times that add up, DNS switched when the operation ended,
	// after ECX had the group Online on the target.
	audit := e.sim.Audit()
	for _, s := range rep.GetSteps() {
		g := s.GetWorkload()
		var names []string
		var prev int64
		for i, p := range s.GetPhases() {
			names = append(names, p.GetPhase())
			if p.GetAtUnixNano() < prev {
				t.Errorf("%s: phase %s at %d, before the one before it", g, p.GetPhase(), p.GetAtUnixNano())
			}
			if i < len(s.GetPhases())-1 && p.GetMs() != (s.GetPhases()[i+1].GetAtUnixNano()-p.GetAtUnixNano())/int64(time.Millisecond) {
				t.Errorf("%s: phase %s lasted %dms, its times say otherwise", g, p.GetPhase(), p.GetMs())
			}
			prev = p.GetAtUnixNano()
		}
		// No hooks: fencing goes straight to starting.
		if !slices.Equal(names, []string{"pending", "fencing", "starting", "done"}) {
			t.Errorf("%s went through phases %v", g, names)
		}
		if s.GetResult() != "done" || s.GetFromMember() != "east" || s.GetActualMember() != predictedTo[g] || s.GetActualServer() == "" {
			t.Errorf("%s's report: %v", g, s)
		}
		first, last := s.GetPhases()[0].GetAtUnixNano(), s.GetPhases()[len(s.GetPhases())-1].GetAtUnixNano()
		if s.GetDnsSwitchUnixNano() != last || s.GetDnsSwitchMs() != (last-first)/int64(time.Millisecond) || s.GetTookMs() != s.GetDnsSwitchMs() {
			t.Errorf("%s: dns switch %d (%dms), took %dms; the operation ran from %d to %d", g, s.GetDnsSwitchUnixNano(), s.GetDnsSwitchMs(), s.GetTookMs(), first, last)
		}
		if s.GetTookMs() <= 0 || time.Duration(s.GetTookMs())*time.Millisecond > time.Since(started)+time.Second {
			t.Errorf("%s took %dms", g, s.GetTookMs())
		}
		if on, ok := onlineFrom(audit, predictedTo[g], g); !ok || on.UnixNano() > s.GetDnsSwitchUnixNano() {
			t.Errorf("%s: DNS switched at %v, ECX had it Online on %s at %v", g, time.Unix(0, s.GetDnsSwitchUnixNano()), predictedTo[g], on)
		}
	}
	// Dependents first: app left east before db did.
	var appLeft, dbLeft time.Time
	for _, r := range audit {
		if r.Cluster == "east" && r.OnlineUntil != nil {
			switch r.Group {
			case "app":
				appLeft = *r.OnlineUntil
			case "db":
				dbLeft = *r.OnlineUntil
			}
		}
	}
	if appLeft.IsZero() || dbLeft.Before(appLeft) {
		t.Errorf("db left east at %v, before app (%v), which depends on it", dbLeft, appLeft)
	}
	if m, _ := e.client().GetMember(ctx, &apiv1.GetRequest{Name: "east"}); m.GetMember().GetAdmin() != "draining" {
		t.Errorf("east is %s after the executed drill, want draining", m.GetMember().GetAdmin())
	}

	// Refused: an unknown member, an operation that does not exist or did not leave a drill
	// member, a report that would also execute.
	for _, tc := range []struct {
		req  *apiv1.DrillRequest
		code codes.Code
	}{
		{&apiv1.DrillRequest{Members: []string{"south"}}, codes.NotFound},
		{&apiv1.DrillRequest{Members: []string{"east"}, ReportOperations: []string{"op-nonesuch"}}, codes.NotFound},
		{&apiv1.DrillRequest{Members: []string{"west"}, ReportOperations: ids[:1]}, codes.InvalidArgument},
		{&apiv1.DrillRequest{Members: []string{"east"}, ReportOperations: ids[:1], Execute: true}, codes.InvalidArgument},
		{&apiv1.DrillRequest{Members: []string{"east"}, ReportOperations: []string{ids[0], ids[0]}}, codes.InvalidArgument},
	} {
		if _, err := e.client().Drill(ctx, tc.req); status.Code(err) != tc.code {
			t.Errorf("drill %v: %v, want %v", tc.req, err, tc.code)
		}
	}
}

// A drill of a fault domain loses all its members at once: no workload is sent to another
// member of the domain, and one whose only other candidate is in the domain finds no place.
// Executed, it drains every member of the domain.
func TestDrill_FaultDomainLosesItsMembersAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{members: []string{"east", "west", "north", "south"}, groups: []string{"a", "b", "c", "pinned"}, size: 1})
	ctx := clustertest.Ctx(t)
	layout := map[string]string{"a": "east", "b": "west", "c": "north", "pinned": "east"}
	for _, g := range []string{"a", "b", "c", "pinned"} {
		e.waitOnline(g, "", 20*time.Second)
		placeOn(t, e, g, layout[g])
	}
	setCandidates(t, e, "pinned", "east", "west")
	if _, err := e.client().CreateFaultDomain(ctx, &apiv1.CreateFaultDomainRequest{Name: "site-a", Members: []string{"east", "west"}}); err != nil {
		t.Fatal(err)
	}
	dry, err := e.client().Drill(ctx, &apiv1.DrillRequest{FaultDomains: []string{"site-a"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dry.GetMembers(), []string{"east", "west"}) || dry.GetDetectionMs() != fenceAfter.Milliseconds() {
		t.Fatalf("fault-domain drill: members %v, detection %dms", dry.GetMembers(), dry.GetDetectionMs())
	}
	steps := map[string]*apiv1.DrillStep{}
	for _, s := range dry.GetSteps() {
		steps[s.GetWorkload()] = s
	}
	if len(steps) != 3 || steps["c"] != nil {
		t.Fatalf("the drill of site-a moves %v, want a, b and pinned (c runs on north)", dry.GetSteps())
	}
	for _, g := range []string{"a", "b"} {
		s := steps[g]
		if s.GetFromMember() != layout[g] || (s.GetToMember() != "north" && s.GetToMember() != "south") {
			t.Errorf("%s: from %s to %q (%s), want from %s to north or south", g, s.GetFromMember(), s.GetToMember(), s.GetReason(), layout[g])
		}
	}
	if p := steps["pinned"]; p.GetToMember() != "" || p.GetReason() == "" {
		t.Errorf("pinned (candidates east, west) goes to %q (%s): both are lost, it must find no place", p.GetToMember(), p.GetReason())
	}
	// Naming a member of the domain too changes nothing; an unknown domain is refused.
	both, err := e.client().Drill(ctx, &apiv1.DrillRequest{Members: []string{"west"}, FaultDomains: []string{"site-a"}})
	if err != nil || !slices.Equal(both.GetMembers(), []string{"east", "west"}) || len(both.GetSteps()) != 3 {
		t.Errorf("drill of west and site-a: %v %v", both, err)
	}
	if _, err := e.client().Drill(ctx, &apiv1.DrillRequest{FaultDomains: []string{"site-z"}}); status.Code(err) != codes.NotFound {
		t.Errorf("drill of an unknown fault domain: %v, want NotFound", err)
	}

	if _, err := e.client().Drill(ctx, &apiv1.DrillRequest{FaultDomains: []string{"site-a"}, Execute: true}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"east", "west"} {
		if r, err := e.client().GetMember(ctx, &apiv1.GetRequest{Name: m}); err != nil || r.GetMember().GetAdmin() != "draining" {
			t.Errorf("%s after the drill of site-a: %v %v, want draining", m, r.GetMember().GetAdmin(), err)
		}
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		for _, g := range []string{"a", "b"} {
			w := e.workload(g)
			if (w.GetMember() != "north" && w.GetMember() != "south") || w.GetStatus() != "Online" || w.GetActiveOperationId() != "" {
				return fmt.Errorf("%s is %s on %s (operation %q)", g, w.GetStatus(), w.GetMember(), w.GetActiveOperationId())
			}
		}
		return nil
	})
	if w := e.workload("pinned"); w.GetMember() != "east" || w.GetStatus() != "Online" {
		t.Errorf("pinned, with no place to go, is %s on %s; it must keep running on east", w.GetStatus(), w.GetMember())
	}
}
