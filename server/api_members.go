package server

import (
	"context"
	"slices"

	"github.com/cset-project/cset/fsm"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func (a *api) getMember(name string) (*apiv1.MemberResponse, error) {
	m := a.s.fsm.Member(name)
	if m == nil {
		return nil, status.Errorf(codes.NotFound, "member %q does not exist (see 'csetctl member list')", name)
	}
	load, names := a.s.fsm.MemberLoad(name)
	return &apiv1.MemberResponse{Member: memberToAPI(m, load, names)}, nil
}

func (a *api) AddMember(ctx context.Context, r *apiv1.AddMemberRequest) (*apiv1.MemberResponse, error) {
	if err := checkMemberRequest(r); err != nil {
		return nil, err
	}
	m := memberFromAPI(r)
	if err := fsm.ValidateMember(m); err != nil {
		return nil, err
	}
	if err := a.s.checkMemberTimings(m); err != nil {
		return nil, err
	}
	cmd := &fsmv1.UpsertMemberCommand{Member: m, CreateOnly: !r.GetUpdate(), KeepPassword: true}
	if _, err := a.apply(ctx, &fsmv1.LogEntry{Command: &fsmv1.LogEntry_UpsertMember{UpsertMember: cmd}}); err != nil {
		return nil, err
	}
	resp, err := a.getMember(m.Name)
	if err != nil {
		return nil, err
	}
	// The member is added whatever its ECX configuration; what 'csetctl member check' would
	// report as failed or worth attention comes back as warnings (api_member_check.go).
	resp.Warnings = a.s.addMemberWarnings(ctx, m.Name)
	return resp, nil
}

func (a *api) ListMembers(ctx context.Context, r *apiv1.ListRequest) (*apiv1.ListMembersResponse, error) {
	d, err := a.read(ctx, r.GetRead())
	if err != nil {
		return nil, err
	}
	out := &apiv1.ListMembersResponse{}
	load, names := d.Loads()
	for _, m := range d.SortedMembers() {
		out.Members = append(out.Members, memberToAPI(m, load[m.Name], names[m.Name]))
	}
	return out, nil
}

func (a *api) GetMember(ctx context.Context, r *apiv1.GetRequest) (*apiv1.MemberResponse, error) {
	if err := a.sync(ctx, r.GetRead()); err != nil {
		return nil, err
	}
	return a.getMember(r.GetName())
}

// RemoveMember removes a member, never leaving a cset group running unfenced: a member on which
// one may run is only marked (the FSM decides, see fsm.RemovalMove) and the controller moves, or
// with force stops, its groups under the fence before it deletes the member.
func (a *api) RemoveMember(ctx context.Context, r *apiv1.RemoveMemberRequest) (*apiv1.Empty, error) {
	cmd := &fsmv1.RemoveMemberCommand{Name: r.GetName(), Force: r.GetForce(), FenceFirst: true}
	if _, err := a.apply(ctx, &fsmv1.LogEntry{Command: &fsmv1.LogEntry_RemoveMember{RemoveMember: cmd}}); err != nil {
		return nil, err
	}
	return &apiv1.Empty{}, nil
}

func (a *api) SetMemberAdmin(ctx context.Context, r *apiv1.SetMemberAdminRequest) (*apiv1.MemberResponse, error) {
	cmd := &fsmv1.SetMemberAdminCommand{Name: r.GetName(), Admin: r.GetAdmin()}
	if _, err := a.apply(ctx, &fsmv1.LogEntry{Command: &fsmv1.LogEntry_SetMemberAdmin{SetMemberAdmin: cmd}}); err != nil {
		return nil, err
	}
	return a.getMember(r.GetName())
}

// DeclareMemberDown records an operator's confirmation that an unreachable member is dead, so
// its workloads may fail over without a witness. A member the leader still reaches is refused:
// declaring a live member down would let its workloads run twice.
func (a *api) DeclareMemberDown(ctx context.Context, r *apiv1.GetRequest) (*apiv1.MemberResponse, error) {
	m := a.s.fsm.Member(r.GetName())
	if m == nil {
		return nil, status.Errorf(codes.NotFound, "member %q does not exist (see 'csetctl member list')", r.GetName())
	}
	switch m.Health {
	case fsm.HealthUnreachable, fsm.HealthPartitioned, fsm.HealthDown, fsm.HealthUnknown:
	default:
		return nil, failedPrecondition("member %q is %s: the leader still reaches it, so it is not down; stop its ECX servers first or drain it with 'csetctl member drain %s'", m.Name, m.Health, m.Name)
	}
	// One observation, as the controller commits a detected death: down, and nothing observed
	// running there any more (its workloads read Offline, DNS stops answering its address).
	cmd := &fsmv1.ObservationBatchCommand{Members: []*fsmv1.MemberObservation{{Member: m.Name, Health: fsm.HealthDown, HealthReason: "declared down by an operator", GroupsSet: true}}}
	if _, err := a.apply(ctx, &fsmv1.LogEntry{Command: &fsmv1.LogEntry_ObservationBatch{ObservationBatch: cmd}}); err != nil {
		return nil, err
	}
	return a.getMember(m.Name)
}

func (a *api) ListNodes(ctx context.Context, r *apiv1.ListRequest) (*apiv1.ListNodesResponse, error) {
	d, err := a.read(ctx, r.GetRead())
	if err != nil {
		return nil, err
	}
	out := &apiv1.ListNodesResponse{}
	for _, m := range d.SortedMembers() {
		for _, srv := range m.Servers {
			n := &apiv1.Node{Member: m.Name, Server: srv.Name, Url: redactURL(srv.Url), Status: srv.Status, Groups: []string{}}
			if n.Status == "" {
				n.Status = "Unknown"
			}
			for _, g := range m.Groups {
				if g.Current == srv.Name && g.Status == fsm.StatusOnline {
					n.Groups = append(n.Groups, g.Name)
				}
			}
			out.Nodes = append(out.Nodes, n)
		}
	}
	return out, nil
}

func (a *api) CreateFaultDomain(ctx context.Context, r *apiv1.CreateFaultDomainRequest) (*apiv1.FaultDomain, error) {
	cmd := &fsmv1.UpsertFaultDomainCommand{FaultDomain: &fsmv1.FaultDomain{Name: r.GetName(), Description: r.GetDescription()}, Members: r.GetMembers()}
	if _, err := a.apply(ctx, &fsmv1.LogEntry{Command: &fsmv1.LogEntry_UpsertFaultDomain{UpsertFaultDomain: cmd}}); err != nil {
		return nil, err
	}
	fd, members := a.s.fsm.FaultDomain(r.GetName())
	return &apiv1.FaultDomain{Name: fd.GetName(), Description: fd.GetDescription(), Members: append([]string{}, members...)}, nil
}

func (a *api) ListFaultDomains(ctx context.Context, r *apiv1.ListRequest) (*apiv1.ListFaultDomainsResponse, error) {
	d, err := a.read(ctx, r.GetRead())
	if err != nil {
		return nil, err
	}
	out := &apiv1.ListFaultDomainsResponse{}
	for _, fd := range sortedValuesOf(d.FaultDomains) {
		out.FaultDomains = append(out.FaultDomains, faultDomainToAPI(d, fd))
	}
	return out, nil
}

func (a *api) DeleteFaultDomain(ctx context.Context, r *apiv1.GetRequest) (*apiv1.Empty, error) {
	cmd := &fsmv1.RemoveFaultDomainCommand{Name: r.GetName()}
	if _, err := a.apply(ctx, &fsmv1.LogEntry{Command: &fsmv1.LogEntry_RemoveFaultDomain{RemoveFaultDomain: cmd}}); err != nil {
		return nil, err
	}
	return &apiv1.Empty{}, nil
}

func (a *api) CreateAvailabilitySet(ctx context.Context, r *apiv1.CreateAvailabilitySetRequest) (*apiv1.AvailabilitySet, error) {
	cmd := &fsmv1.UpsertAvailabilitySetCommand{AvailabilitySet: &fsmv1.AvailabilitySet{Name: r.GetName(), Hard: !r.GetSoft()}}
	if _, err := a.apply(ctx, &fsmv1.LogEntry{Command: &fsmv1.LogEntry_UpsertAvailabilitySet{UpsertAvailabilitySet: cmd}}); err != nil {
		return nil, err
	}
	as, workloads := a.s.fsm.AvailabilitySet(r.GetName())
	return &apiv1.AvailabilitySet{Name: as.GetName(), Hard: as.GetHard(), Workloads: append([]string{}, workloads...)}, nil
}

func (a *api) ListAvailabilitySets(ctx context.Context, r *apiv1.ListRequest) (*apiv1.ListAvailabilitySetsResponse, error) {
	d, err := a.read(ctx, r.GetRead())
	if err != nil {
		return nil, err
	}
	out := &apiv1.ListAvailabilitySetsResponse{}
	for _, as := range sortedValuesOf(d.AvailabilitySets) {
		out.AvailabilitySets = append(out.AvailabilitySets, availabilitySetToAPI(d, as))
	}
	return out, nil
}

func (a *api) DeleteAvailabilitySet(ctx context.Context, r *apiv1.GetRequest) (*apiv1.Empty, error) {
	cmd := &fsmv1.RemoveAvailabilitySetCommand{Name: r.GetName()}
	if _, err := a.apply(ctx, &fsmv1.LogEntry{Command: &fsmv1.LogEntry_RemoveAvailabilitySet{RemoveAvailabilitySet: cmd}}); err != nil {
		return nil, err
	}
	return &apiv1.Empty{}, nil
}

func sortedValuesOf[V any](m map[string]V) []V {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]V, 0, len(keys))
	for _, k := range keys {
		out = append(out, m[k])
	}
	return out
}
