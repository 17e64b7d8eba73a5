package server

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/cset-project/cset/controller"
	"github.com/cset-project/cset/fsm"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Drill predicts what the loss of members (and of the members of fault domains) would do
// (controller.PlanDrill), or with planned what their planned evacuation would do, and with
// execute starts that evacuation: the members are set draining, so the controller moves their
// workloads off in dependency order. With report_operations it reports instead what the
// operations of an executed drill did (drillReport).
func (a *api) Drill(ctx context.Context, r *apiv1.DrillRequest) (*apiv1.DrillResponse, error) {
	d := a.s.fsm.Data()
	members := slices.Clone(r.GetMembers())
	for _, fd := range r.GetFaultDomains() {
		f := d.FaultDomains[fd]
		if f == nil {
			return nil, status.Errorf(codes.NotFound, "fault domain %q does not exist (see 'csetctl faultdomain list')", fd)
		}
		for _, m := range d.SortedMembers() {
			if m.FaultDomain == fd {
				members = append(members, m.Name)
			}
		}
	}
	if len(members) == 0 {
		return nil, invalid("a drill needs the members to lose: --member NAME or --fault-domain NAME")
	}
	for _, m := range members {
		if d.Members[m] == nil {
			return nil, status.Errorf(codes.NotFound, "member %q does not exist (see 'csetctl member list')", m)
		}
	}
	if len(r.GetReportOperations()) > 0 {
		if r.GetExecute() || r.GetPlanned() {
			return nil, invalid("a drill report (report_operations) predicts and changes nothing: execute and planned must be false")
		}
		return a.drillReport(d, members, r.GetReportOperations())
	}
	planned := r.GetExecute() || r.GetPlanned()
	estimate, basis := controller.EstimateStarts(d, a.s.cfg.Controller.StartTimeout)
	plan := controller.PlanDrill(d, members, planned, estimate)
	out := &apiv1.DrillResponse{Members: plan.Members, Steps: []*apiv1.DrillStep{}, EstimateBasis: basis, Executed: r.GetExecute()}
	if !planned {
		out.DetectionMs = a.s.cfg.Controller.FenceAfter.Milliseconds()
	}
	total := time.Duration(out.DetectionMs) * time.Millisecond
	for _, w := range plan.Waves {
		total += w
	}
	out.ExpectedMs = total.Milliseconds()
	for _, s := range plan.Steps {
		out.Steps = append(out.Steps, &apiv1.DrillStep{Workload: s.Workload, FromMember: s.From, ToMember: s.To, ToServer: s.Server,
			Wave: uint32(s.Wave), Reason: s.Reason, ExpectedStartMs: s.ExpectedStart.Milliseconds()})
	}
	if r.GetExecute() {
		for _, m := range plan.Members {
			cmd := &fsmv1.SetMemberAdminCommand{Name: m, Admin: fsm.AdminDraining}
			if _, err := a.apply(ctx, &fsmv1.LogEntry{Command: &fsmv1.LogEntry_SetMemberAdmin{SetMemberAdmin: cmd}}); err != nil {
				return nil, status.Errorf(status.Code(err), "drill: setting member %s draining: %s", m, status.Convert(err).Message())
			}
		}
	}
	return out, nil
}

// drillReport reports, for each operation of ids, what it did to its workload: where it went,
// the phases it went through and when (controller.ReportOperation, from the operation and its
// events), how long it took and when DNS switched to the target. Every operation must exist and
// have moved its workload from one of members.
func (a *api) drillReport(d *fsm.Data, members, ids []string) (*apiv1.DrillResponse, error) {
	if len(ids) > maxDrillReport {
		return nil, invalid("report_operations: %d operations, at most %d", len(ids), maxDrillReport)
	}
	lost := slices.Clone(members)
	slices.Sort(lost)
	lost = slices.Compact(lost)
	out := &apiv1.DrillResponse{Members: lost, Steps: []*apiv1.DrillStep{}, Executed: true, Report: true}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			return nil, invalid("report_operations: operation %s is named twice", id)
		}
		seen[id] = true
		op := d.Operations[id]
		if op == nil {
			return nil, status.Errorf(codes.NotFound, "operation %s does not exist (the state keeps the newest %d finished operations; see 'csetctl operation list')", id, fsm.MaxFinishedOperations)
		}
		if !slices.Contains(lost, op.SourceMember) {
			return nil, invalid("operation %s moved %s from %s, which is not a member of the drill (%s)", id, op.Workload, op.SourceMember, strings.Join(lost, ","))
		}
		rep := controller.ReportOperation(op, a.s.fsm.Events(0, 0, op.Workload, ""))
		step := &apiv1.DrillStep{Workload: op.Workload, FromMember: op.SourceMember, OperationId: op.Id, ActualMember: op.TargetMember,
			ActualServer: op.TargetServer, Result: op.Phase, Error: op.Error, TookMs: rep.Took.Milliseconds()}
		for _, p := range rep.Phases {
			step.Phases = append(step.Phases, &apiv1.DrillPhase{Phase: p.Phase, AtUnixNano: p.At.UnixNano(), Ms: p.In.Milliseconds()})
		}
		if !rep.DNSSwitch.IsZero() {
			step.DnsSwitchUnixNano = rep.DNSSwitch.UnixNano()
			step.DnsSwitchMs = (rep.DNSSwitch.UnixNano() - op.CreatedUnixNano) / int64(time.Millisecond)
		}
		out.Steps = append(out.Steps, step)
	}
	return out, nil
}

// maxDrillReport bounds the operations of one drill report.
const maxDrillReport = 10000
