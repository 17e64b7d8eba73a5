package server

import (
	"fmt"
	"sort"
	"strings"

	"github.com/cset-project/cset/fsm"
	"github.com/cset-project/cset/probe"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// memberToAPI converts a stored member for the API. The password never leaves the state.
func memberToAPI(m *fsmv1.Member, load int64, workloads []string) *apiv1.Member {
	out := &apiv1.Member{
		Name: m.Name, Admin: m.Admin, Health: m.Health, FaultDomain: m.FaultDomain, Capacity: m.Capacity,
		Labels: m.Labels, User: m.User, PasswordSet: m.Password != "", CaFile: m.CaFile,
		InsecureSkipVerify: m.InsecureSkipVerify, HealthReason: m.HealthReason, Load: load, Removal: m.Removal,
		Servers: []*apiv1.ServerSpec{}, Workloads: append([]string{}, workloads...),
	}
	for _, s := range m.Servers {
		out.Servers = append(out.Servers, &apiv1.ServerSpec{Name: s.Name, Url: redactURL(s.Url), Status: s.Status})
	}
	return out
}

func memberFromAPI(r *apiv1.AddMemberRequest) *fsmv1.Member {
	m := &fsmv1.Member{
		Name: r.GetName(), FaultDomain: r.GetFaultDomain(), Capacity: r.GetCapacity(), Labels: r.GetLabels(),
		User: r.GetUser(), Password: r.GetPassword(), CaFile: r.GetCaFile(), InsecureSkipVerify: r.GetInsecureSkipVerify(),
		HeartbeatTimeoutMs: r.GetHeartbeatTimeoutMs(),
	}
	for _, s := range r.GetServers() {
		m.Servers = append(m.Servers, &fsmv1.MemberServer{Name: s.GetName(), Url: s.GetUrl()})
	}
	return m
}

func fqdn(cs *fsmv1.ClusterSet, name string) string {
	if cs == nil {
		return ""
	}
	return name + "." + cs.Zone
}

// workloadToAPI converts a workload; active is its operation in flight, nil when none.
func workloadToAPI(cs *fsmv1.ClusterSet, w *fsmv1.Workload, active *fsmv1.Operation) *apiv1.Workload {
	out := &apiv1.Workload{
		Name: w.Name, Group: w.Group, Candidates: append([]string{}, w.Candidates...), Fqdn: fqdn(cs, w.Name),
		AvailabilitySet: w.AvailabilitySet, Desired: w.Desired, Size: w.Size, AutoFailover: w.AutoFailover,
		Hooks: append([]string{}, w.Hooks...), HookTimeoutSeconds: w.HookTimeoutSeconds,
		Addresses: map[string]*apiv1.AddressList{}, Status: "Unplaced",
	}
	for m, l := range w.Addresses {
		out.Addresses[m] = &apiv1.AddressList{Addresses: append([]string{}, l.Addresses...)}
	}
	if p := w.Placement; p != nil {
		out.Member, out.Server, out.Status, out.OperationId, out.SinceUnixNano = p.Member, p.Server, p.Status, p.OperationId, p.SinceUnixNano
	}
	for _, s := range w.Services {
		out.Services = append(out.Services, &apiv1.Service{Name: s.Name, Port: s.Port, Priority: s.Priority, Weight: s.Weight})
	}
	if active != nil {
		out.ActiveOperationId, out.ActiveOperationPhase = active.Id, active.Phase
	}
	out.Probe = probeToAPI(w.Probe)
	out.DependsOn = append([]string{}, w.DependsOn...)
	out.Failback, out.FailbackAfterSeconds = w.Failback, w.FailbackAfterSeconds
	if out.Failback == "" {
		out.Failback = fsm.FailbackNever
	}
	if p := w.Placement; p != nil && out.Probe != nil {
		out.ProbeResult = &apiv1.ProbeResult{Reachability: p.Reachability, Error: p.ProbeError, SinceUnixNano: p.ReachabilitySinceUnixNano}
	}
	return out
}

// probeToAPI converts a stored probe to its API form; nil when the workload has none.
func probeToAPI(p *fsmv1.Probe) *apiv1.ProbeSpec {
	if p == nil || p.Kind == fsm.ProbeNone {
		return nil
	}
	t := probe.Target{Kind: p.Kind, Port: p.Port, Path: p.Path, StatusMin: p.StatusMin, StatusMax: p.StatusMax}
	out := &apiv1.ProbeSpec{Target: t.String(), TimeoutMs: p.TimeoutMs, IntervalMs: p.IntervalMs, HealthyAfter: p.HealthyAfter,
		UnhealthyAfter: p.UnhealthyAfter, GraceMs: p.GraceMs, Dns: p.Dns, Failover: p.Failover}
	if p.Kind == fsm.ProbeHTTP || p.Kind == fsm.ProbeHTTPS {
		out.ExpectStatus = t.StatusRange()
	}
	return out
}

// probeFromAPI parses a workload's probe and fills in the defaults (docs/probe.md). Without a
// probe, a workload that declares services is probed with a TCP connect to the first one's
// port; else it has none (nil).
func probeFromAPI(spec *apiv1.ProbeSpec, services []*apiv1.Service) (*fsmv1.Probe, error) {
	if spec == nil || spec.GetTarget() == "" {
		if spec != nil && !proto.Equal(spec, &apiv1.ProbeSpec{}) {
			return nil, invalid("probe: the target is empty: give it as none, tcp:PORT, http://:PORT/PATH or https://:PORT/PATH")
		}
		if len(services) == 0 || services[0].GetPort() == 0 {
			return nil, nil
		}
		spec = &apiv1.ProbeSpec{Target: fmt.Sprintf("tcp:%d", services[0].GetPort())}
	}
	t, err := probe.ParseTarget(spec.GetTarget())
	if err != nil {
		return nil, invalid("%v", err)
	}
	if t.Kind == probe.KindNone {
		return nil, nil
	}
	p := &fsmv1.Probe{Kind: t.Kind, Port: t.Port, Path: t.Path, StatusMin: t.StatusMin, StatusMax: t.StatusMax,
		TimeoutMs: spec.GetTimeoutMs(), IntervalMs: spec.GetIntervalMs(), HealthyAfter: spec.GetHealthyAfter(),
		UnhealthyAfter: spec.GetUnhealthyAfter(), GraceMs: spec.GetGraceMs(), Dns: strings.ToLower(spec.GetDns()), Failover: spec.GetFailover()}
	if es := spec.GetExpectStatus(); es != "" {
		if t.Kind == probe.KindTCP {
			return nil, invalid("probe %s: expect_status applies to http(s) probes only: leave it out", spec.GetTarget())
		}
		if p.StatusMin, p.StatusMax, err = probe.ParseStatus(es); err != nil {
			return nil, invalid("probe: %v", err)
		}
	}
	def := func(v *uint32, d uint32) {
		if *v == 0 {
			*v = d
		}
	}
	def(&p.TimeoutMs, uint32(probe.DefaultTimeout.Milliseconds()))
	def(&p.IntervalMs, max(uint32(probe.DefaultInterval.Milliseconds()), p.TimeoutMs))
	def(&p.GraceMs, max(uint32(probe.DefaultGrace.Milliseconds()), p.TimeoutMs))
	def(&p.HealthyAfter, probe.DefaultHealthyAfter)
	def(&p.UnhealthyAfter, probe.DefaultUnhealthyAfter)
	if p.Dns == "" {
		p.Dns = fsm.ProbeDNSKeep
	}
	return p, nil
}

func workloadFromAPI(r *apiv1.RegisterWorkloadRequest) (*fsmv1.Workload, error) {
	w := &fsmv1.Workload{
		Name: r.GetName(), Group: r.GetGroup(), Candidates: r.GetCandidates(), Size: r.GetSize(),
		AvailabilitySet: r.GetAvailabilitySet(), AutoFailover: !r.GetNoAutoFailover(), Hooks: r.GetHooks(),
		HookTimeoutSeconds: r.GetHookTimeoutSeconds(), Desired: strings.ToLower(r.GetDesired()),
		Addresses: map[string]*fsmv1.AddressList{}, DependsOn: r.GetDependsOn(),
	}
	if w.Desired == "" {
		w.Desired = fsm.DesiredOnline
	}
	for m, l := range r.GetAddresses() {
		w.Addresses[m] = &fsmv1.AddressList{Addresses: l.GetAddresses()}
	}
	for _, s := range r.GetServices() {
		w.Services = append(w.Services, &fsmv1.Service{Name: s.GetName(), Port: s.GetPort(), Priority: s.GetPriority(), Weight: s.GetWeight()})
	}
	p, err := probeFromAPI(r.GetProbe(), r.GetServices())
	if err != nil {
		return nil, status.Errorf(status.Code(err), "workload %q: %s", r.GetName(), status.Convert(err).Message())
	}
	w.Probe = p
	w.Failback, w.FailbackAfterSeconds = strings.ToLower(r.GetFailback()), r.GetFailbackAfterSeconds()
	if w.Failback == "" {
		w.Failback = fsm.FailbackNever
	}
	if w.Failback == fsm.FailbackAuto && w.FailbackAfterSeconds == 0 {
		w.FailbackAfterSeconds = DefaultFailbackAfterSeconds
	}
	return w, nil
}

// DefaultFailbackAfterSeconds is how long a workload's first candidate must be up and active
// before a workload with failback: auto moves back to it, unless it says otherwise.
const DefaultFailbackAfterSeconds = 600

func operationToAPI(op *fsmv1.Operation) *apiv1.Operation {
	out := &apiv1.Operation{
		Id: op.Id, Workload: op.Workload, Reason: op.Reason, SourceMember: op.SourceMember, SourceServer: op.SourceServer,
		TargetMember: op.TargetMember, TargetServer: op.TargetServer, Phase: op.Phase, Attempts: op.Attempts,
		Error: op.Error, CreatedUnixNano: op.CreatedUnixNano, UpdatedUnixNano: op.UpdatedUnixNano, Force: op.Force,
	}
	for _, h := range op.Hooks {
		out.Hooks = append(out.Hooks, &apiv1.HookResult{Hook: h.Hook, ExitCode: h.ExitCode, OutputTail: h.OutputTail, DurationMs: h.DurationMs, Error: h.Error})
	}
	return out
}

func eventToAPI(e *fsmv1.Event) *apiv1.Event {
	return &apiv1.Event{
		Seq: e.Seq, Index: e.Index, TimeUnixNano: e.TimeUnixNano, Kind: e.Kind, Severity: e.Severity,
		Workload: e.Workload, Member: e.Member, OperationId: e.OperationId, Message: e.Message, Actor: e.Actor,
	}
}

func faultDomainToAPI(d *fsm.Data, fd *fsmv1.FaultDomain) *apiv1.FaultDomain {
	out := &apiv1.FaultDomain{Name: fd.Name, Description: fd.Description, Members: []string{}}
	for _, m := range d.SortedMembers() {
		if m.FaultDomain == fd.Name {
			out.Members = append(out.Members, m.Name)
		}
	}
	return out
}

func availabilitySetToAPI(d *fsm.Data, as *fsmv1.AvailabilitySet) *apiv1.AvailabilitySet {
	out := &apiv1.AvailabilitySet{Name: as.Name, Hard: as.Hard, Workloads: []string{}}
	for _, w := range d.SortedWorkloads() {
		if w.AvailabilitySet == as.Name {
			out.Workloads = append(out.Workloads, w.Name)
		}
	}
	return out
}

func sortedOperations(d *fsm.Data) []*fsmv1.Operation {
	ops := make([]*fsmv1.Operation, 0, len(d.Operations))
	for _, op := range d.Operations {
		ops = append(ops, op)
	}
	sort.Slice(ops, func(i, j int) bool {
		if ops[i].CreatedUnixNano != ops[j].CreatedUnixNano {
			return ops[i].CreatedUnixNano < ops[j].CreatedUnixNano
		}
		return ops[i].Id < ops[j].Id
	})
	return ops
}
