package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sort"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

// rpcCall is one RPC the fake received.
type rpcCall struct {
	method    string // short name, e.g. "AddMember"
	requestID string // the cset-request-id metadata, "" when absent
	actor     string // the cset-actor metadata, "" when absent
	auth      string // the authorization metadata, "" when absent
}

// fakeServer is an in-memory ClusterSetServiceServer for the CLI tests. It
// keeps just enough state for every command to do something observable and
// records each call with its request id. Safe for concurrent use.
type fakeServer struct {
	apiv1.UnimplementedClusterSetServiceServer

	mu        sync.Mutex
	calls     []rpcCall
	failNext  map[string][]error // method -> errors to return first, in order
	hang      map[string]bool    // method -> wait for the client to give up instead of answering
	set       *apiv1.InitSetResponse
	members   map[string]*apiv1.Member
	passwords map[string]string
	workloads map[string]*apiv1.Workload
	fds       map[string]*apiv1.FaultDomain
	avsets    map[string]*apiv1.AvailabilitySet
	ops       map[string]*apiv1.Operation
	opSteps   map[string][]*apiv1.Operation // op id -> states GetOperation returns next
	events    []*apiv1.Event
	watch     []*apiv1.Event // sent by WatchEvents before it blocks
	snapshot  []byte         // served by SnapshotSave; replaced by SnapshotRestore
	lastApply *apiv1.Declaration
	// lastApplyReq is the whole last Apply request, with its dry_run, prune and force.
	lastApplyReq *apiv1.ApplyRequest
	lastAdd      *apiv1.AddMemberRequest
	lastReg      *apiv1.RegisterWorkloadRequest
	lastRead     *apiv1.ReadOptions
	lastSave     *apiv1.SnapshotSaveRequest
	tokens       map[string]*apiv1.Token
	lastMove     *apiv1.MoveWorkloadRequest
	lastRm       *apiv1.RemoveMemberRequest
	// removing: member -> GetMember answers left before a removal in progress completes.
	removing map[string]int
}

func newFakeServer() *fakeServer {
	return &fakeServer{
		failNext:  map[string][]error{},
		hang:      map[string]bool{},
		members:   map[string]*apiv1.Member{},
		passwords: map[string]string{},
		workloads: map[string]*apiv1.Workload{},
		fds:       map[string]*apiv1.FaultDomain{},
		avsets:    map[string]*apiv1.AvailabilitySet{},
		ops:       map[string]*apiv1.Operation{},
		opSteps:   map[string][]*apiv1.Operation{},
		tokens:    map[string]*apiv1.Token{},
	}
}

func (f *fakeServer) CreateToken(_ context.Context, r *apiv1.CreateTokenRequest) (*apiv1.CreateTokenResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tokens[r.GetName()] != nil {
		return nil, status.Errorf(codes.AlreadyExists, "token %q already exists", r.GetName())
	}
	f.tokens[r.GetName()] = &apiv1.Token{Name: r.GetName(), Role: r.GetRole(), CreatedUnixNano: 1_700_000_000_000_000_000, CreatedBy: "bootstrap"}
	return &apiv1.CreateTokenResponse{Name: r.GetName(), Role: r.GetRole(), Secret: "cset_secret-of-" + r.GetName(), CreatedUnixNano: 1_700_000_000_000_000_000}, nil
}

func (f *fakeServer) ListTokens(context.Context, *apiv1.ListRequest) (*apiv1.ListTokensResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &apiv1.ListTokensResponse{}
	for _, k := range sortedKeys(f.tokens) {
		out.Tokens = append(out.Tokens, clone(f.tokens[k]))
	}
	return out, nil
}

func (f *fakeServer) RevokeToken(_ context.Context, r *apiv1.RevokeTokenRequest) (*apiv1.Empty, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tokens[r.GetName()] == nil {
		return nil, notFound("token", r.GetName())
	}
	delete(f.tokens, r.GetName())
	return &apiv1.Empty{}, nil
}

// start serves f on a fresh 127.0.0.1 port and returns its address.
func (f *fakeServer) start(t testing.TB, opts ...grpc.ServerOption) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := grpc.NewServer(append(opts, grpc.UnaryInterceptor(f.unary), grpc.StreamInterceptor(f.stream))...)
	apiv1.RegisterClusterSetServiceServer(srv, f)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return lis.Addr().String()
}

// record notes the call and returns an injected error, if any.
func (f *fakeServer) record(ctx context.Context, fullMethod string) error {
	method := fullMethod[len("/cset.api.v1.ClusterSetService/"):]
	id, actor, auth := "", "", ""
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get(authorizationKey); len(v) > 0 {
			auth = v[0]
		}
		if v := md.Get(requestIDKey); len(v) > 0 {
			id = v[0]
		}
		if v := md.Get(actorKey); len(v) > 0 {
			actor = v[0]
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, rpcCall{method: method, requestID: id, actor: actor, auth: auth})
	if errs := f.failNext[method]; len(errs) > 0 {
		f.failNext[method] = errs[1:]
		return errs[0]
	}
	return nil
}

func (f *fakeServer) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := f.record(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	f.mu.Lock()
	hang := f.hang[info.FullMethod[len("/cset.api.v1.ClusterSetService/"):]]
	f.mu.Unlock()
	if hang {
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	return h(ctx, req)
}

func (f *fakeServer) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := f.record(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return h(srv, ss)
}

// failWith makes the next calls of method return errs, one per call.
func (f *fakeServer) failWith(method string, errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext[method] = append(f.failNext[method], errs...)
}

func (f *fakeServer) getCalls() []rpcCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]rpcCall(nil), f.calls...)
}

func notFound(kind, name string) error {
	return status.Errorf(codes.NotFound, "%s %q not found", kind, name)
}

func clone[M proto.Message](m M) M { return proto.Clone(m).(M) }

func (f *fakeServer) Status(_ context.Context, r *apiv1.StatusRequest) (*apiv1.StatusResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastRead = r.GetRead()
	return &apiv1.StatusResponse{
		Leader: &apiv1.Leader{Id: "m1", GrpcAddr: "127.0.0.1:7100"},
		Masters: []*apiv1.MasterInfo{
			{Id: "m1", RaftAddr: "127.0.0.1:7101", GrpcAddr: "127.0.0.1:7100", Role: "leader", Voter: true},
			{Id: "m2", RaftAddr: "127.0.0.2:7101", GrpcAddr: "127.0.0.2:7100", Role: "follower", Voter: true},
		},
		Members: uint32(len(f.members)), Workloads: uint32(len(f.workloads)),
		CommitIndex: 42, AppliedIndex: 42, ClusterSet: "prod", Zone: "cset.example.com.", ServedBy: "m1",
		LastContactMs: -1, Term: 3, LeaderViewFrom: "m1",
		Witness: &apiv1.WitnessInfo{Configured: true, Url: "http://127.0.0.1:7190", Reachable: true, Holder: "m1", Term: 3, RemainingMs: 8000, Majority: 1, Granting: 1},
	}, nil
}

func (f *fakeServer) RaftPeers(context.Context, *apiv1.RaftPeersRequest) (*apiv1.RaftPeersResponse, error) {
	s, _ := f.Status(context.Background(), &apiv1.StatusRequest{})
	return &apiv1.RaftPeersResponse{Peers: s.GetMasters()}, nil
}

func (f *fakeServer) RaftJoin(context.Context, *apiv1.RaftJoinRequest) (*apiv1.RaftJoinResponse, error) {
	return &apiv1.RaftJoinResponse{Index: 43}, nil
}

func (f *fakeServer) RaftRemove(context.Context, *apiv1.RaftRemoveRequest) (*apiv1.RaftRemoveResponse, error) {
	return &apiv1.RaftRemoveResponse{}, nil
}

func (f *fakeServer) RaftTransferLeader(_ context.Context, r *apiv1.RaftTransferLeaderRequest) (*apiv1.RaftTransferLeaderResponse, error) {
	id := r.GetId()
	if id == "" {
		id = "m2"
	}
	return &apiv1.RaftTransferLeaderResponse{Leader: &apiv1.Leader{Id: id, GrpcAddr: "127.0.0.2:7100"}}, nil
}

func (f *fakeServer) InitSet(_ context.Context, r *apiv1.InitSetRequest) (*apiv1.InitSetResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.set = &apiv1.InitSetResponse{Name: r.GetName(), Zone: r.GetZone(), TtlSeconds: r.GetTtlSeconds(), NegativeTtlSeconds: r.GetNegativeTtlSeconds()}
	return f.set, nil
}

// addMember stores a member; the caller holds f.mu.
func (f *fakeServer) addMember(r *apiv1.AddMemberRequest) (*apiv1.Member, error) {
	if _, ok := f.members[r.GetName()]; ok && !r.GetUpdate() {
		return nil, status.Errorf(codes.AlreadyExists, "member %q already exists; use --update to replace it", r.GetName())
	}
	m := &apiv1.Member{
		Name: r.GetName(), Admin: "active", Health: "up", FaultDomain: r.GetFaultDomain(), Capacity: r.GetCapacity(),
		Labels: r.GetLabels(), User: r.GetUser(), PasswordSet: r.GetPassword() != "", CaFile: r.GetCaFile(),
		InsecureSkipVerify: r.GetInsecureSkipVerify(),
	}
	for _, s := range r.GetServers() {
		m.Servers = append(m.Servers, &apiv1.ServerSpec{Name: s.GetName(), Url: s.GetUrl(), Status: "Online"})
	}
	f.members[m.Name] = m
	f.passwords[m.Name] = r.GetPassword()
	return clone(m), nil
}

func (f *fakeServer) AddMember(_ context.Context, r *apiv1.AddMemberRequest) (*apiv1.MemberResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastAdd = clone(r)
	m, err := f.addMember(r)
	if err != nil {
		return nil, err
	}
	return &apiv1.MemberResponse{Member: m}, nil
}

func (f *fakeServer) ListMembers(context.Context, *apiv1.ListRequest) (*apiv1.ListMembersResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &apiv1.ListMembersResponse{}
	for _, k := range sortedKeys(f.members) {
		out.Members = append(out.Members, clone(f.members[k]))
	}
	return out, nil
}

func (f *fakeServer) GetMember(_ context.Context, r *apiv1.GetRequest) (*apiv1.MemberResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastRead = r.GetRead()
	if n, ok := f.removing[r.GetName()]; ok {
		if n == 0 {
			delete(f.members, r.GetName())
			delete(f.removing, r.GetName())
		} else {
			f.removing[r.GetName()] = n - 1
		}
	}
	m, ok := f.members[r.GetName()]
	if !ok {
		return nil, notFound("member", r.GetName())
	}
	return &apiv1.MemberResponse{Member: clone(m)}, nil
}

// RemoveMember removes a member nothing runs on at once, refuses an unreachable one that runs
// workloads, and marks one that runs workloads: it is gone after two more GetMember calls.
func (f *fakeServer) RemoveMember(_ context.Context, r *apiv1.RemoveMemberRequest) (*apiv1.Empty, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastRm = r
	m, ok := f.members[r.GetName()]
	if !ok {
		return nil, notFound("member", r.GetName())
	}
	switch {
	case len(m.GetWorkloads()) == 0:
		delete(f.members, r.GetName())
	case m.GetHealth() != "up":
		return nil, status.Errorf(codes.FailedPrecondition, "member %q is %s and workloads %v may still run there: wait, or confirm it with 'csetctl member declare-down %s'", m.GetName(), m.GetHealth(), m.GetWorkloads(), m.GetName())
	default:
		m.Admin, m.Removal = "draining", map[bool]string{false: "move", true: "force"}[r.GetForce()]
		if f.removing == nil {
			f.removing = map[string]int{}
		}
		f.removing[m.GetName()] = 2
	}
	return &apiv1.Empty{}, nil
}

func (f *fakeServer) SetMemberAdmin(_ context.Context, r *apiv1.SetMemberAdminRequest) (*apiv1.MemberResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.members[r.GetName()]
	if !ok {
		return nil, notFound("member", r.GetName())
	}
	m.Admin = r.GetAdmin()
	return &apiv1.MemberResponse{Member: clone(m)}, nil
}

func (f *fakeServer) DeclareMemberDown(_ context.Context, r *apiv1.GetRequest) (*apiv1.MemberResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.members[r.GetName()]
	if !ok {
		return nil, notFound("member", r.GetName())
	}
	m.Health = "down"
	return &apiv1.MemberResponse{Member: clone(m)}, nil
}

func (f *fakeServer) ListNodes(context.Context, *apiv1.ListRequest) (*apiv1.ListNodesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &apiv1.ListNodesResponse{}
	for _, k := range sortedKeys(f.members) {
		for _, s := range f.members[k].GetServers() {
			out.Nodes = append(out.Nodes, &apiv1.Node{Member: k, Server: s.GetName(), Url: s.GetUrl(), Status: s.GetStatus()})
		}
	}
	return out, nil
}

func (f *fakeServer) CreateFaultDomain(_ context.Context, r *apiv1.CreateFaultDomainRequest) (*apiv1.FaultDomain, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fd := &apiv1.FaultDomain{Name: r.GetName(), Description: r.GetDescription(), Members: r.GetMembers()}
	f.fds[fd.Name] = fd
	return clone(fd), nil
}

func (f *fakeServer) ListFaultDomains(context.Context, *apiv1.ListRequest) (*apiv1.ListFaultDomainsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &apiv1.ListFaultDomainsResponse{}
	for _, k := range sortedKeys(f.fds) {
		out.FaultDomains = append(out.FaultDomains, clone(f.fds[k]))
	}
	return out, nil
}

func (f *fakeServer) DeleteFaultDomain(_ context.Context, r *apiv1.GetRequest) (*apiv1.Empty, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.fds[r.GetName()]; !ok {
		return nil, notFound("fault domain", r.GetName())
	}
	delete(f.fds, r.GetName())
	return &apiv1.Empty{}, nil
}

func (f *fakeServer) CreateAvailabilitySet(_ context.Context, r *apiv1.CreateAvailabilitySetRequest) (*apiv1.AvailabilitySet, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := &apiv1.AvailabilitySet{Name: r.GetName(), Hard: !r.GetSoft()}
	f.avsets[s.Name] = s
	return clone(s), nil
}

func (f *fakeServer) ListAvailabilitySets(context.Context, *apiv1.ListRequest) (*apiv1.ListAvailabilitySetsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &apiv1.ListAvailabilitySetsResponse{}
	for _, k := range sortedKeys(f.avsets) {
		out.AvailabilitySets = append(out.AvailabilitySets, clone(f.avsets[k]))
	}
	return out, nil
}

func (f *fakeServer) DeleteAvailabilitySet(_ context.Context, r *apiv1.GetRequest) (*apiv1.Empty, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.avsets[r.GetName()]; !ok {
		return nil, notFound("availability set", r.GetName())
	}
	delete(f.avsets, r.GetName())
	return &apiv1.Empty{}, nil
}

func (f *fakeServer) RegisterWorkload(_ context.Context, r *apiv1.RegisterWorkloadRequest) (*apiv1.Workload, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastReg = clone(r)
	w := &apiv1.Workload{
		Name: r.GetName(), Group: r.GetGroup(), Candidates: r.GetCandidates(), Addresses: r.GetAddresses(),
		Fqdn: r.GetName() + ".cset.example.com.", AvailabilitySet: r.GetAvailabilitySet(), Desired: r.GetDesired(),
		Size: r.GetSize(), AutoFailover: !r.GetNoAutoFailover(), Hooks: r.GetHooks(),
		HookTimeoutSeconds: r.GetHookTimeoutSeconds(), Services: r.GetServices(), Probe: r.GetProbe(), DependsOn: r.GetDependsOn(), Failback: r.GetFailback(), FailbackAfterSeconds: r.GetFailbackAfterSeconds(),
	}
	f.workloads[w.Name] = w
	return clone(w), nil
}

func (f *fakeServer) ListWorkloads(context.Context, *apiv1.ListRequest) (*apiv1.ListWorkloadsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &apiv1.ListWorkloadsResponse{}
	for _, k := range sortedKeys(f.workloads) {
		out.Workloads = append(out.Workloads, clone(f.workloads[k]))
	}
	return out, nil
}

func (f *fakeServer) GetWorkload(_ context.Context, r *apiv1.GetRequest) (*apiv1.Workload, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w, ok := f.workloads[r.GetName()]
	if !ok {
		return nil, notFound("workload", r.GetName())
	}
	return clone(w), nil
}

func (f *fakeServer) UnregisterWorkload(_ context.Context, r *apiv1.GetRequest) (*apiv1.Empty, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.workloads[r.GetName()]; !ok {
		return nil, notFound("workload", r.GetName())
	}
	delete(f.workloads, r.GetName())
	return &apiv1.Empty{}, nil
}

func (f *fakeServer) SetWorkloadDesired(_ context.Context, r *apiv1.SetWorkloadDesiredRequest) (*apiv1.Workload, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w, ok := f.workloads[r.GetName()]
	if !ok {
		return nil, notFound("workload", r.GetName())
	}
	w.Desired = r.GetDesired()
	return clone(w), nil
}

func (f *fakeServer) PlaceWorkload(_ context.Context, r *apiv1.GetRequest) (*apiv1.PlaceWorkloadResponse, error) {
	if _, err := f.GetWorkload(context.Background(), r); err != nil {
		return nil, err
	}
	return &apiv1.PlaceWorkloadResponse{Workload: r.GetName(), Candidates: []*apiv1.PlacementCandidate{
		{Member: "west", Server: "west-1", Score: 0.9},
		{Member: "east", Server: "east-1", Rejected: true, Reason: "member is draining"},
	}}, nil
}

// Drill answers a canned prediction. Executed, it does at once what the evacuation would: east
// draining, web moved to west by operation op-drill-web. A report (report_operations) answers
// canned phases for each operation that exists and moved its workload from a drill member.
func (f *fakeServer) Drill(_ context.Context, r *apiv1.DrillRequest) (*apiv1.DrillResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ids := r.GetReportOperations(); len(ids) > 0 {
		out := &apiv1.DrillResponse{Members: r.GetMembers(), Executed: true, Report: true}
		for _, id := range ids {
			op := f.ops[id]
			if op == nil {
				return nil, notFound("operation", id)
			}
			if !slices.Contains(r.GetMembers(), op.GetSourceMember()) {
				return nil, status.Errorf(codes.InvalidArgument, "operation %s moved %s from %s, which is not a member of the drill", id, op.GetWorkload(), op.GetSourceMember())
			}
			t0 := op.GetCreatedUnixNano()
			out.Steps = append(out.Steps, &apiv1.DrillStep{Workload: op.GetWorkload(), FromMember: op.GetSourceMember(), OperationId: id,
				ActualMember: op.GetTargetMember(), ActualServer: op.GetTargetServer(), Result: op.GetPhase(),
				Phases: []*apiv1.DrillPhase{
					{Phase: "pending", AtUnixNano: t0, Ms: 100},
					{Phase: "fencing", AtUnixNano: t0 + 100_000_000, Ms: 300},
					{Phase: "handover", AtUnixNano: t0 + 400_000_000, Ms: 5},
					{Phase: "starting", AtUnixNano: t0 + 405_000_000, Ms: 2195},
					{Phase: "done", AtUnixNano: t0 + 2_600_000_000},
				},
				TookMs: 2600, DnsSwitchUnixNano: t0 + 2_600_000_000, DnsSwitchMs: 2600})
		}
		return out, nil
	}
	if r.GetExecute() {
		f.members["east"].Admin = "draining"
		if w := f.workloads["web"]; w != nil && w.GetMember() == "east" {
			const t0 = 1_700_000_100_000_000_000
			f.ops["op-drill-web"] = &apiv1.Operation{Id: "op-drill-web", Workload: "web", Reason: "drain", SourceMember: "east", SourceServer: "east-1",
				TargetMember: "west", TargetServer: "west-1", Phase: "done", Attempts: 1, CreatedUnixNano: t0, UpdatedUnixNano: t0 + 2_600_000_000}
			w.Member, w.Server, w.OperationId, w.SinceUnixNano = "west", "west-1", "op-drill-web", t0+2_600_000_000
		}
	}
	var detection, expected int64 = 15000, 17500
	if r.GetExecute() || r.GetPlanned() {
		detection, expected = 0, 2500
	}
	return &apiv1.DrillResponse{Members: []string{"east"}, DetectionMs: detection, ExpectedMs: expected, Executed: r.GetExecute(),
		EstimateBasis: "median duration of the workload's recent operations (else of all 4 recent operations: 2.5s)",
		Steps: []*apiv1.DrillStep{
			{Workload: "web", FromMember: "east", ToMember: "west", ToServer: "west-1", Wave: 1, Reason: "best of 1 accepted candidates (load 0, capacity unlimited)", ExpectedStartMs: 2500},
			{Workload: "db", FromMember: "east", Wave: 1, Reason: "no place: west: hard spread: rack-b already hosts web"},
		}}, nil
}

func (f *fakeServer) Rebalance(_ context.Context, r *apiv1.RebalanceRequest) (*apiv1.RebalanceResponse, error) {
	mv := &apiv1.RebalanceMove{Workload: "web", FromMember: "east", ToMember: "west", Reason: "east is above its fair share (load 2, fair 1); west is below it"}
	if !r.GetDryRun() {
		mv.OperationId = "op-rebalance-1"
	}
	return &apiv1.RebalanceResponse{DryRun: r.GetDryRun(), Moves: []*apiv1.RebalanceMove{mv}}, nil
}

// MoveWorkload starts operation "op-<workload>" in phase fencing; the
// states queued in opSteps are returned by the following GetOperation calls.
func (f *fakeServer) MoveWorkload(_ context.Context, r *apiv1.MoveWorkloadRequest) (*apiv1.Operation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastMove = r
	if _, ok := f.workloads[r.GetName()]; !ok {
		return nil, notFound("workload", r.GetName())
	}
	if m := f.members[r.GetToMember()]; m != nil && m.GetAdmin() != "active" {
		return nil, status.Errorf(codes.FailedPrecondition, "workload %s cannot move to %s: member %s is %s", r.GetName(), m.GetName(), m.GetName(), m.GetAdmin())
	}
	op := &apiv1.Operation{Force: r.GetForce(),
		Id: "op-" + r.GetName(), Workload: r.GetName(), Reason: "planned", SourceMember: "east", SourceServer: "east-1",
		TargetMember: r.GetToMember(), TargetServer: r.GetToServer(), Phase: "fencing", Attempts: 1,
		CreatedUnixNano: 1_700_000_000_000_000_000, UpdatedUnixNano: 1_700_000_000_000_000_000,
	}
	f.ops[op.Id] = op
	return clone(op), nil
}

// Apply plans like the masters do, coarsely: a member or workload is created when it does not
// exist, else updated when its capacity (member) or candidates (workload) differ, else
// unchanged; other objects are created; prune deletes the members and workloads the file does
// not name. A dry run, or a plan with no change, commits nothing (index 0).
func (f *fakeServer) Apply(_ context.Context, r *apiv1.ApplyRequest) (*apiv1.ApplyResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := r.GetDeclaration()
	f.lastApply = clone(d)
	f.lastApplyReq = clone(r)
	resp := &apiv1.ApplyResponse{Members: uint32(len(d.GetMembers())), FaultDomains: uint32(len(d.GetFaultDomains())),
		AvailabilitySets: uint32(len(d.GetAvailabilitySets())), Workloads: uint32(len(d.GetWorkloads())), DryRun: r.GetDryRun(), StateIndex: 49}
	add := func(kind, name, action string, fields ...string) {
		resp.Changes = append(resp.Changes, &apiv1.ApplyChange{Kind: kind, Name: name, Action: action, Fields: fields})
	}
	if s := d.GetSet(); s != nil {
		add("set", s.GetName(), "create")
	}
	for _, fd := range d.GetFaultDomains() {
		add("fault_domain", fd.GetName(), "create")
	}
	for _, as := range d.GetAvailabilitySets() {
		add("availability_set", as.GetName(), "create")
	}
	declared := map[string]bool{}
	for _, m := range d.GetMembers() {
		declared["m/"+m.GetName()] = true
		switch old := f.members[m.GetName()]; {
		case old == nil:
			add("member", m.GetName(), "create")
		case old.GetCapacity() != m.GetCapacity():
			add("member", m.GetName(), "update", "capacity")
		default:
			add("member", m.GetName(), "unchanged")
		}
	}
	for _, w := range d.GetWorkloads() {
		declared["w/"+w.GetName()] = true
		switch old := f.workloads[w.GetName()]; {
		case old == nil:
			add("workload", w.GetName(), "create")
		case !slices.Equal(old.GetCandidates(), w.GetCandidates()):
			add("workload", w.GetName(), "update", "candidates")
		default:
			add("workload", w.GetName(), "unchanged")
		}
	}
	if r.GetPrune() {
		for _, name := range sortedNames(f.members) {
			if !declared["m/"+name] {
				add("member", name, "delete")
			}
		}
		for _, name := range sortedNames(f.workloads) {
			if !declared["w/"+name] {
				add("workload", name, "delete")
			}
		}
	}
	changed := slices.ContainsFunc(resp.Changes, func(c *apiv1.ApplyChange) bool { return c.GetAction() != "unchanged" })
	if r.GetDryRun() || !changed {
		return resp, nil
	}
	for _, m := range d.GetMembers() {
		if _, err := f.addMember(m); err != nil {
			return nil, err
		}
	}
	resp.Index, resp.StateIndex = 50, 50
	return resp, nil
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (f *fakeServer) ListOperations(context.Context, *apiv1.ListRequest) (*apiv1.ListOperationsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &apiv1.ListOperationsResponse{}
	for _, k := range sortedKeys(f.ops) {
		out.Operations = append(out.Operations, clone(f.ops[k]))
	}
	return out, nil
}

func (f *fakeServer) GetOperation(_ context.Context, r *apiv1.GetRequest) (*apiv1.Operation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	op, ok := f.ops[r.GetName()]
	if !ok {
		return nil, notFound("operation", r.GetName())
	}
	if steps := f.opSteps[op.Id]; len(steps) > 0 {
		f.opSteps[op.Id] = steps[1:]
		f.ops[op.Id] = steps[0]
		op = steps[0]
	}
	return clone(op), nil
}

func (f *fakeServer) ListEvents(_ context.Context, r *apiv1.ListEventsRequest) (*apiv1.ListEventsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*apiv1.Event
	for _, e := range f.events {
		if (r.GetWorkload() == "" || e.GetWorkload() == r.GetWorkload()) && (r.GetMember() == "" || e.GetMember() == r.GetMember()) {
			out = append(out, clone(e))
		}
	}
	if n := int(r.GetLimit()); n > 0 && len(out) > n {
		out = out[len(out)-n:]
	}
	// Newest first, to prove the CLI sorts.
	sort.Slice(out, func(i, j int) bool { return out[i].GetSeq() > out[j].GetSeq() })
	return &apiv1.ListEventsResponse{Events: out}, nil
}

// WatchEvents sends the queued watch events after r.after_seq, then blocks
// until the client goes away.
func (f *fakeServer) WatchEvents(r *apiv1.ListEventsRequest, s grpc.ServerStreamingServer[apiv1.Event]) error {
	f.mu.Lock()
	evs := append([]*apiv1.Event(nil), f.watch...)
	f.mu.Unlock()
	for _, e := range evs {
		if e.GetSeq() <= r.GetAfterSeq() {
			continue
		}
		if err := s.Send(e); err != nil {
			return err
		}
	}
	<-s.Context().Done()
	return s.Context().Err()
}

func (f *fakeServer) SnapshotSave(r *apiv1.SnapshotSaveRequest, s grpc.ServerStreamingServer[apiv1.SnapshotChunk]) error {
	f.mu.Lock()
	f.lastSave = clone(r)
	data := append([]byte(nil), f.snapshot...)
	f.mu.Unlock()
	const chunk = 100 << 10
	for len(data) > 0 {
		n := min(chunk, len(data))
		if err := s.Send(&apiv1.SnapshotChunk{Data: data[:n]}); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

func (f *fakeServer) SnapshotRestore(s grpc.ClientStreamingServer[apiv1.SnapshotChunk, apiv1.SnapshotRestoreResponse]) error {
	var data []byte
	for {
		c, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		data = append(data, c.GetData()...)
	}
	f.mu.Lock()
	f.snapshot = data
	f.mu.Unlock()
	return s.SendAndClose(&apiv1.SnapshotRestoreResponse{Index: 77, Members: 2, Workloads: 3})
}

// seed fills f with two members, fault domains, a set and a placed workload.
func (f *fakeServer) seed() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range []string{"east", "west"} {
		_, _ = f.addMember(&apiv1.AddMemberRequest{
			Name: m, FaultDomain: "rack-" + m, Capacity: 10, User: "root", Password: "pw-" + m,
			Servers: []*apiv1.ServerSpec{{Name: m + "-1", Url: fmt.Sprintf("http://%s-1:29009", m)}, {Name: m + "-2", Url: fmt.Sprintf("http://%s-2:29009", m)}},
			Labels:  map[string]string{"site": "osaka"},
		})
	}
	f.members["east"].Workloads = []string{"web"}
	f.members["east"].Load = 1
	f.fds["rack-east"] = &apiv1.FaultDomain{Name: "rack-east", Members: []string{"east"}}
	f.avsets["web-ha"] = &apiv1.AvailabilitySet{Name: "web-ha", Hard: true, Workloads: []string{"web"}}
	f.workloads["web"] = &apiv1.Workload{
		Name: "web", Group: "failover-web", Candidates: []string{"east", "west"}, Member: "east", Server: "east-1",
		Status: "Online", Fqdn: "web.cset.example.com.", AvailabilitySet: "web-ha", Desired: "online", Size: 1,
		AutoFailover: true, Hooks: []string{"/etc/cset/hooks/copy.sh"}, HookTimeoutSeconds: 300, OperationId: "op-1",
		SinceUnixNano: 1_700_000_000_000_000_000,
		Addresses:     map[string]*apiv1.AddressList{"east": {Addresses: []string{"10.0.1.10"}}, "west": {Addresses: []string{"10.0.2.10"}}},
		Services:      []*apiv1.Service{{Name: "_http._tcp", Port: 80}},
		Probe: &apiv1.ProbeSpec{Target: "http://:80/health", ExpectStatus: "200-399", TimeoutMs: 2000, IntervalMs: 5000, GraceMs: 30000,
			HealthyAfter: 1, UnhealthyAfter: 3, Dns: "withhold"},
		ProbeResult: &apiv1.ProbeResult{Reachability: "reachable", SinceUnixNano: 1_700_000_000_000_000_000},
		DependsOn:   []string{"db"},
		Failback:    "auto", FailbackAfterSeconds: 600,
	}
	f.ops["op-1"] = &apiv1.Operation{
		Id: "op-1", Workload: "web", Reason: "planned", SourceMember: "east", SourceServer: "east-1",
		TargetMember: "west", TargetServer: "west-1", Phase: "done", Attempts: 1,
		CreatedUnixNano: 1_700_000_000_000_000_000, UpdatedUnixNano: 1_700_000_003_000_000_000,
		Hooks: []*apiv1.HookResult{{Hook: "/etc/cset/hooks/copy.sh", OutputTail: "copied 12 files\n", DurationMs: 1200}},
	}
	f.events = []*apiv1.Event{
		{Seq: 1, Index: 10, TimeUnixNano: 1_700_000_000_000_000_000, Kind: "member.health", Severity: "info", Member: "east", Message: "east is up"},
		{Seq: 2, Index: 11, TimeUnixNano: 1_700_000_001_000_000_000, Kind: "workload.placed", Severity: "info", Workload: "web", Member: "east", Message: "web online on east/east-1"},
	}
}

// RetryOperation and CancelOperation follow the server's phase rules (server/api_operations.go).
func (f *fakeServer) RetryOperation(_ context.Context, r *apiv1.GetRequest) (*apiv1.Operation, error) {
	return f.operationAction(r.GetName(), []string{"blocked"}, func(op *apiv1.Operation) { op.Phase = "handover" })
}

func (f *fakeServer) CancelOperation(_ context.Context, r *apiv1.GetRequest) (*apiv1.Operation, error) {
	return f.operationAction(r.GetName(), []string{"blocked", "pending"}, func(op *apiv1.Operation) {
		op.Phase, op.Error = "failed", "cancelled by admin in phase "+op.Phase
	})
}

func (f *fakeServer) operationAction(id string, phases []string, do func(*apiv1.Operation)) (*apiv1.Operation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	op, ok := f.ops[id]
	if !ok {
		return nil, notFound("operation", id)
	}
	if !slices.Contains(phases, op.Phase) {
		return nil, status.Errorf(codes.FailedPrecondition, "operation %s is in phase %s", id, op.Phase)
	}
	do(op)
	return clone(op), nil
}
