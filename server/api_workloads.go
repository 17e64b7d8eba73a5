package server

import (
	"context"
	"slices"

	"github.com/cset-project/cset/controller"
	"github.com/cset-project/cset/fsm"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"github.com/cset-project/cset/scheduler"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func (a *api) getWorkload(name string) (*apiv1.Workload, error) {
	w := a.s.fsm.Workload(name)
	if w == nil {
		return nil, status.Errorf(codes.NotFound, "workload %q is not registered (see 'csetctl workload list')", name)
	}
	return workloadToAPI(a.s.fsm.ClusterSet(), w, a.s.fsm.ActiveOperation(name)), nil
}

func (a *api) RegisterWorkload(ctx context.Context, r *apiv1.RegisterWorkloadRequest) (*apiv1.Workload, error) {
	w, err := workloadFromAPI(r)
	if err != nil {
		return nil, err
	}
	if err := fsm.ValidateWorkload(w); err != nil {
		return nil, err
	}
	if err := a.s.checkWorkloadRequest(w); err != nil {
		return nil, err
	}
	if err := checkGroupOwnership(a.s.fsm.WorkloadsOfGroup, []*fsmv1.Workload{w}); err != nil {
		return nil, err
	}
	cmd := &fsmv1.UpsertWorkloadCommand{Workload: w, CreateOnly: !r.GetUpdate()}
	res, err := a.apply(ctx, &fsmv1.LogEntry{Command: &fsmv1.LogEntry_UpsertWorkload{UpsertWorkload: cmd}})
	if err != nil {
		return nil, err
	}
	return a.committedWorkload(res, w.Name)
}

// committedWorkload answers a write with the workload as its entry left it: reading the state
// instead could see a later entry (a concurrent unregister would turn a successful update into
// NotFound: chaos finding W1). A retried request (its first outcome comes from the request
// table, without the workload) reads the state.
func (a *api) committedWorkload(res *fsm.Result, name string) (*apiv1.Workload, error) {
	if res == nil || res.Workload == nil {
		return a.getWorkload(name)
	}
	return workloadToAPI(a.s.fsm.ClusterSet(), res.Workload, a.s.fsm.ActiveOperation(name)), nil
}

func (a *api) ListWorkloads(ctx context.Context, r *apiv1.ListRequest) (*apiv1.ListWorkloadsResponse, error) {
	d, err := a.read(ctx, r.GetRead())
	if err != nil {
		return nil, err
	}
	out := &apiv1.ListWorkloadsResponse{}
	active := map[string]*fsmv1.Operation{}
	for _, op := range d.Operations { // the FSM keeps at most one unfinished operation per workload
		if !fsm.Terminal(op.Phase) {
			active[op.Workload] = op
		}
	}
	for _, w := range d.SortedWorkloads() {
		out.Workloads = append(out.Workloads, workloadToAPI(d.ClusterSet, w, active[w.Name]))
	}
	return out, nil
}

func (a *api) GetWorkload(ctx context.Context, r *apiv1.GetRequest) (*apiv1.Workload, error) {
	if err := a.sync(ctx, r.GetRead()); err != nil {
		return nil, err
	}
	return a.getWorkload(r.GetName())
}

func (a *api) UnregisterWorkload(ctx context.Context, r *apiv1.GetRequest) (*apiv1.Empty, error) {
	cmd := &fsmv1.RemoveWorkloadCommand{Name: r.GetName()}
	if _, err := a.apply(ctx, &fsmv1.LogEntry{Command: &fsmv1.LogEntry_RemoveWorkload{RemoveWorkload: cmd}}); err != nil {
		return nil, err
	}
	return &apiv1.Empty{}, nil
}

// SetWorkloadDesired records whether a workload should run; the controller starts or stops it.
func (a *api) SetWorkloadDesired(ctx context.Context, r *apiv1.SetWorkloadDesiredRequest) (*apiv1.Workload, error) {
	if r.GetDesired() == fsm.DesiredOnline {
		// A start is admitted by the same rules as every operation: refuse now rather than
		// record a desired state no member can satisfy.
		d := a.s.fsm.Data()
		if w := d.Workloads[r.GetName()]; w != nil && w.Desired != fsm.DesiredOnline {
			if err := controller.AdmitStart(d, w); err != nil {
				return nil, admissionStatus(err)
			}
		}
	}
	cmd := &fsmv1.SetWorkloadDesiredCommand{Name: r.GetName(), Desired: r.GetDesired()}
	res, err := a.apply(ctx, &fsmv1.LogEntry{Command: &fsmv1.LogEntry_SetWorkloadDesired{SetWorkloadDesired: cmd}})
	if err != nil {
		return nil, err
	}
	return a.committedWorkload(res, r.GetName())
}

// PlaceWorkload explains where the scheduler would put a workload now, every candidate with its
// score or the reason it was rejected. It changes nothing.
func (a *api) PlaceWorkload(ctx context.Context, r *apiv1.GetRequest) (*apiv1.PlaceWorkloadResponse, error) {
	d, err := a.read(ctx, r.GetRead())
	if err != nil {
		return nil, err
	}
	w := d.Workloads[r.GetName()]
	if w == nil {
		return nil, status.Errorf(codes.NotFound, "workload %q is not registered (see 'csetctl workload list')", r.GetName())
	}
	plan, err := scheduler.Rank(controller.SchedulerState(d), scheduler.Request{Workload: w.Name})
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	out := &apiv1.PlaceWorkloadResponse{Workload: w.Name}
	for _, c := range plan.Candidates {
		out.Candidates = append(out.Candidates, &apiv1.PlacementCandidate{Member: c.Member, Server: c.Server, Score: c.Score, Rejected: c.Rejected, Reason: c.Reason})
	}
	return out, nil
}

// MoveWorkload records a planned move; the leader's controller runs its phases.
func (a *api) MoveWorkload(ctx context.Context, r *apiv1.MoveWorkloadRequest) (*apiv1.Operation, error) {
	// A retry (same request id) gets what its first attempt created, whatever the state is now:
	// the move may have run already, or its target may no longer be admitted.
	if requestIDFrom(ctx) != "" {
		if op := a.s.fsm.Operation(operationID(ctx)); op != nil && op.Workload == r.GetName() {
			return operationToAPI(op), nil
		}
	}
	w := a.s.fsm.Workload(r.GetName())
	if w == nil {
		return nil, status.Errorf(codes.NotFound, "workload %q is not registered (see 'csetctl workload list')", r.GetName())
	}
	to := r.GetToMember()
	if to == "" {
		return nil, invalid("move needs a target: --to MEMBER[/SERVER]")
	}
	m := a.s.fsm.Member(to)
	if m == nil {
		return nil, status.Errorf(codes.NotFound, "member %q does not exist (see 'csetctl member list')", to)
	}
	if !slices.Contains(w.Candidates, to) {
		return nil, failedPrecondition("member %q is not a candidate of workload %q (candidates %v): re-register it with --update and the new candidate", to, w.Name, w.Candidates)
	}
	if srv := r.GetToServer(); srv != "" && !slices.ContainsFunc(m.Servers, func(s *fsmv1.MemberServer) bool { return s.Name == srv }) {
		return nil, status.Errorf(codes.NotFound, "member %q has no server %q", to, srv)
	}
	p := w.GetPlacement()
	if p.GetMember() == to && (r.GetToServer() == "" || r.GetToServer() == p.GetServer()) && p.GetStatus() == fsm.StatusOnline {
		return nil, failedPrecondition("workload %q already runs on %s/%s", w.Name, p.GetMember(), p.GetServer())
	}
	op := &fsmv1.Operation{
		Id: operationID(ctx), Workload: w.Name, Reason: fsm.ReasonPlanned, SourceMember: p.GetMember(), SourceServer: p.GetServer(),
		TargetMember: to, TargetServer: r.GetToServer(), Phase: fsm.PhasePending, Force: r.GetForce(),
	}
	// The scheduler's predicates admit the target (the controller checks again when it commits
	// it): --force overrides capacity and soft spread only.
	if _, err := controller.AdmitPlanned(a.s.fsm.Data(), op); err != nil {
		return nil, admissionStatus(err)
	}
	if _, err := a.apply(ctx, &fsmv1.LogEntry{Command: &fsmv1.LogEntry_StartOperation{StartOperation: &fsmv1.StartOperationCommand{Operation: op}}}); err != nil {
		return nil, err
	}
	got := a.s.fsm.Operation(op.Id)
	if got == nil {
		return nil, status.Errorf(codes.NotFound, "operation %s was committed but is gone (finished and pruned): see 'csetctl operation list'", op.Id)
	}
	return operationToAPI(got), nil
}

func (a *api) ListOperations(ctx context.Context, r *apiv1.ListRequest) (*apiv1.ListOperationsResponse, error) {
	d, err := a.read(ctx, r.GetRead())
	if err != nil {
		return nil, err
	}
	out := &apiv1.ListOperationsResponse{}
	for _, op := range sortedOperations(d) {
		out.Operations = append(out.Operations, operationToAPI(op))
	}
	return out, nil
}

func (a *api) GetOperation(ctx context.Context, r *apiv1.GetRequest) (*apiv1.Operation, error) {
	d, err := a.read(ctx, r.GetRead())
	if err != nil {
		return nil, err
	}
	op := d.Operations[r.GetName()]
	if op == nil {
		return nil, status.Errorf(codes.NotFound, "operation %q does not exist (see 'csetctl operation list')", r.GetName())
	}
	return operationToAPI(op), nil
}
