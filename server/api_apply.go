package server

import (
	"context"
	"maps"

	"github.com/cset-project/cset/fsm"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
)

// Apply makes the state match a declarative file, atomically: everything in it or nothing.
// The plan (what changes, object by object) is computed by fsm.PlanDeclaration against the
// leader's state after a consistent read; a dry run, or a declaration that changes nothing,
// answers with it and commits nothing (index 0, no event). Otherwise one DeclareCommand is
// committed, and the answer carries the plan the FSM followed when it applied it.
func (a *api) Apply(ctx context.Context, r *apiv1.ApplyRequest) (*apiv1.ApplyResponse, error) {
	cmd, err := a.declareCommand(r)
	if err != nil {
		return nil, err
	}
	if err := a.s.consistentRead(ctx); err != nil {
		return nil, err
	}
	plan, at, err := a.s.fsm.PlanDeclaration(cmd)
	if err != nil {
		return nil, err
	}
	d := cmd.GetDeclaration()
	resp := &apiv1.ApplyResponse{Members: uint32(len(d.GetMembers())), FaultDomains: uint32(len(d.GetFaultDomains())),
		AvailabilitySets: uint32(len(d.GetAvailabilitySets())), Workloads: uint32(len(d.GetWorkloads())),
		DryRun: r.GetDryRun(), StateIndex: at}
	_, retry := a.s.fsm.RequestIndex(requestIDFrom(ctx))
	if r.GetDryRun() || (!plan.Changed() && !retry) {
		resp.Changes = changesToAPI(plan)
		return resp, nil
	}
	// A retry of an apply that was committed goes to the FSM, which answers with the first
	// outcome and its index (the request id makes it a duplicate), not "nothing committed".
	res, err := a.apply(ctx, &fsmv1.LogEntry{Command: &fsmv1.LogEntry_Declare{Declare: cmd}})
	if err != nil {
		return nil, err
	}
	if res.Plan != nil { // nil for a duplicate: the plan above, against today's state, is then all we know
		plan = res.Plan
	}
	resp.Index, resp.StateIndex, resp.Changes = res.Index, res.Index, changesToAPI(plan)
	return resp, nil
}

// declareCommand checks a request and maps it to the log command.
func (a *api) declareCommand(r *apiv1.ApplyRequest) (*fsmv1.DeclareCommand, error) {
	decl := r.GetDeclaration()
	if decl == nil {
		return nil, invalid("apply needs a declaration with at least one of set, members, fault_domains, availability_sets, workloads")
	}
	if r.GetForce() && !r.GetPrune() {
		return nil, invalid("force applies to what prune deletes: give it with prune (csetctl apply --prune --force)")
	}
	if err := checkDeclaration(decl); err != nil {
		return nil, err
	}
	cmd := &fsmv1.ApplyDeclarationCommand{}
	if s := decl.GetSet(); s != nil {
		cmd.ClusterSet = &fsmv1.ClusterSet{Name: s.GetName(), Zone: s.GetZone(), TtlSeconds: s.GetTtlSeconds(), NegativeTtlSeconds: s.GetNegativeTtlSeconds()}
	}
	for _, fd := range decl.GetFaultDomains() {
		cmd.FaultDomains = append(cmd.FaultDomains, &fsmv1.FaultDomain{Name: fd.GetName(), Description: fd.GetDescription()})
	}
	for _, as := range decl.GetAvailabilitySets() {
		cmd.AvailabilitySets = append(cmd.AvailabilitySets, &fsmv1.AvailabilitySet{Name: as.GetName(), Hard: !as.GetSoft()})
	}
	fdOf := map[string]string{}
	for _, fd := range decl.GetFaultDomains() {
		for _, m := range fd.GetMembers() {
			fdOf[m] = fd.GetName()
		}
	}
	for _, mr := range decl.GetMembers() {
		if err := checkMemberRequest(mr); err != nil {
			return nil, err
		}
		m := memberFromAPI(mr)
		if m.FaultDomain == "" {
			m.FaultDomain = fdOf[m.Name]
		}
		if err := fsm.ValidateMember(m); err != nil {
			return nil, err
		}
		if err := a.s.checkMemberTimings(m); err != nil {
			return nil, err
		}
		cmd.Members = append(cmd.Members, m)
	}
	for _, wr := range decl.GetWorkloads() {
		w, err := workloadFromAPI(wr)
		if err != nil {
			return nil, err
		}
		if err := fsm.ValidateWorkload(w); err != nil {
			return nil, err
		}
		if err := a.s.checkWorkloadRequest(w); err != nil {
			return nil, err
		}
		cmd.Workloads = append(cmd.Workloads, w)
	}
	state := a.s.fsm.Data()
	if r.GetPrune() { // the workloads the file does not name are unregistered first
		declared := map[string]bool{}
		for _, w := range cmd.Workloads {
			declared[w.Name] = true
		}
		kept := *state // Data is shared: filter a copy of its map
		kept.Workloads = maps.Clone(state.Workloads)
		maps.DeleteFunc(kept.Workloads, func(name string, _ *fsmv1.Workload) bool { return !declared[name] })
		state = &kept
	}
	if err := checkGroupOwnership(groupsOf(state), cmd.Workloads); err != nil {
		return nil, err
	}
	return &fsmv1.DeclareCommand{Declaration: cmd, Prune: r.GetPrune(), Force: r.GetForce()}, nil
}

// changesToAPI converts a plan; a nil plan has no changes.
func changesToAPI(p *fsm.Plan) []*apiv1.ApplyChange {
	if p == nil {
		return nil
	}
	out := make([]*apiv1.ApplyChange, 0, len(p.Changes))
	for _, c := range p.Changes {
		out = append(out, &apiv1.ApplyChange{Kind: c.Kind, Name: c.Name, Action: c.Action, Fields: c.Fields, Note: c.Note})
	}
	return out
}

// committedNothing reports a write call that succeeded without committing anything (an apply
// in dry run, or of a declaration that changes nothing): the audit leaves it out, so such a
// call writes no event.
func committedNothing(resp any, err error) bool {
	r, ok := resp.(*apiv1.ApplyResponse)
	return ok && err == nil && r.GetIndex() == 0
}
