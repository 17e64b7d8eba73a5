package server

import (
	"context"
	"slices"
	"time"

	"github.com/cset-project/cset/controller"
	"github.com/cset-project/cset/fsm"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Drill predicts what the loss of members (and of the members of fault domains) would do
// (controller.PlanDrill), and with execute starts a planned evacuation: the members are set
// draining, so the controller moves their workloads off in dependency order.
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
	estimate, basis := controller.EstimateStarts(d, a.s.cfg.Controller.StartTimeout)
	plan := controller.PlanDrill(d, members, r.GetExecute(), estimate)
	out := &apiv1.DrillResponse{Members: plan.Members, Steps: []*apiv1.DrillStep{}, EstimateBasis: basis, Executed: r.GetExecute()}
	if !r.GetExecute() {
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
