package main

// The JSON documents printed by -o json. They are written by hand, not with
// protojson, so that renaming a proto field never changes the CLI contract
// documented in docs/cli.md. Every key is always present; lists are [] and
// maps {} when empty; timestamps are RFC 3339 UTC strings ("" when unset).

import (
	"fmt"
	"time"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

type leaderJSON struct {
	ID       string `json:"id"`
	GRPCAddr string `json:"grpc_addr"`
}

type masterJSON struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	GRPCAddr string `json:"grpc_addr"`
	Role     string `json:"role"`
	Voter    bool   `json:"voter"`
	// Tiebreaker: a voter that runs no controller and serves no DNS (csetd agent -role
	// tiebreaker).
	Tiebreaker bool `json:"tiebreaker"`
}

type witnessJSON struct {
	Configured  bool   `json:"configured"`
	URL         string `json:"url"`
	Reachable   bool   `json:"reachable"`
	Holder      string `json:"holder"`
	Term        uint64 `json:"term"`
	RemainingMs int64  `json:"remaining_ms"`
	LastError   string `json:"last_error"`
	// Majority and Granting: how many witnesses must grant the lease and how many do (1 and 0
	// or 1 with one witness); Witnesses: each of several witnesses (empty with one).
	Majority  uint32                `json:"majority"`
	Granting  uint32                `json:"granting"`
	Witnesses []witnessEndpointJSON `json:"witnesses"`
}

type witnessEndpointJSON struct {
	URL         string `json:"url"`
	Reachable   bool   `json:"reachable"`
	Holder      string `json:"holder"`
	Term        uint64 `json:"term"`
	RemainingMs int64  `json:"remaining_ms"`
	LastError   string `json:"last_error"`
}

type statusJSON struct {
	ClusterSet    string       `json:"cluster_set"`
	Zone          string       `json:"zone"`
	ServedBy      string       `json:"served_by"`
	Leader        leaderJSON   `json:"leader"`
	Term          uint64       `json:"term"`
	CommitIndex   uint64       `json:"commit_index"`
	AppliedIndex  uint64       `json:"applied_index"`
	LastContactMs int64        `json:"last_contact_ms"`
	Masters       []masterJSON `json:"masters"`
	Members       uint32       `json:"members"`
	Workloads     uint32       `json:"workloads"`
	Witness       witnessJSON  `json:"witness"`
	// Brake: the leader's failover brake holds automatic failovers. LeaderViewFrom names the
	// leader whose view of the lease and the brake this is ("" when a follower could not ask it).
	Brake          bool   `json:"brake"`
	LeaderViewFrom string `json:"leader_view_from"`
}

func toLeaderJSON(l *apiv1.Leader) leaderJSON {
	return leaderJSON{ID: l.GetId(), GRPCAddr: l.GetGrpcAddr()}
}

func toMastersJSON(ms []*apiv1.MasterInfo) []masterJSON {
	out := make([]masterJSON, 0, len(ms))
	for _, m := range ms {
		out = append(out, masterJSON{ID: m.GetId(), RaftAddr: m.GetRaftAddr(), GRPCAddr: m.GetGrpcAddr(), Role: m.GetRole(), Voter: m.GetVoter(), Tiebreaker: m.GetTiebreaker()})
	}
	return out
}

func toStatusJSON(s *apiv1.StatusResponse) statusJSON {
	w := s.GetWitness()
	return statusJSON{
		ClusterSet:    s.GetClusterSet(),
		Zone:          s.GetZone(),
		ServedBy:      s.GetServedBy(),
		Leader:        toLeaderJSON(s.GetLeader()),
		Term:          s.GetTerm(),
		CommitIndex:   s.GetCommitIndex(),
		AppliedIndex:  s.GetAppliedIndex(),
		LastContactMs: s.GetLastContactMs(),
		Brake:         s.GetBrake(), LeaderViewFrom: s.GetLeaderViewFrom(),
		Masters:   toMastersJSON(s.GetMasters()),
		Members:   s.GetMembers(),
		Workloads: s.GetWorkloads(),
		Witness:   toWitnessJSON(w),
	}
}

func toWitnessJSON(w *apiv1.WitnessInfo) witnessJSON {
	out := witnessJSON{
		Configured: w.GetConfigured(), URL: w.GetUrl(), Reachable: w.GetReachable(), Holder: w.GetHolder(),
		Term: w.GetTerm(), RemainingMs: w.GetRemainingMs(), LastError: w.GetLastError(),
		Majority: w.GetMajority(), Granting: w.GetGranting(), Witnesses: []witnessEndpointJSON{},
	}
	for _, e := range w.GetWitnesses() {
		out.Witnesses = append(out.Witnesses, witnessEndpointJSON{URL: e.GetUrl(), Reachable: e.GetReachable(), Holder: e.GetHolder(),
			Term: e.GetTerm(), RemainingMs: e.GetRemainingMs(), LastError: e.GetLastError()})
	}
	return out
}

type setJSON struct {
	Name               string `json:"name"`
	Zone               string `json:"zone"`
	TTLSeconds         uint32 `json:"ttl_seconds"`
	NegativeTTLSeconds uint32 `json:"negative_ttl_seconds"`
}

type serverJSON struct {
	Name   string `json:"name"`
	URL    string `json:"url"`
	Status string `json:"status"`
}

type memberJSON struct {
	Name               string            `json:"name"`
	Admin              string            `json:"admin"`
	Health             string            `json:"health"`
	HealthReason       string            `json:"health_reason"`
	FaultDomain        string            `json:"fault_domain"`
	Capacity           int64             `json:"capacity"`
	Load               int64             `json:"load"`
	Servers            []serverJSON      `json:"servers"`
	Labels             map[string]string `json:"labels"`
	User               string            `json:"user"`
	PasswordSet        bool              `json:"password_set"`
	CAFile             string            `json:"ca_file"`
	InsecureSkipVerify bool              `json:"insecure_skip_verify"`
	Workloads          []string          `json:"workloads"`
	Removal            string            `json:"removal"`
}

func toMemberJSON(m *apiv1.Member) memberJSON {
	servers := make([]serverJSON, 0, len(m.GetServers()))
	for _, s := range m.GetServers() {
		servers = append(servers, serverJSON{Name: s.GetName(), URL: s.GetUrl(), Status: s.GetStatus()})
	}
	labels := m.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	return memberJSON{
		Name: m.GetName(), Admin: m.GetAdmin(), Health: m.GetHealth(), HealthReason: m.GetHealthReason(),
		FaultDomain: m.GetFaultDomain(), Capacity: m.GetCapacity(), Load: m.GetLoad(), Servers: servers,
		Labels: labels, User: m.GetUser(), PasswordSet: m.GetPasswordSet(), CAFile: m.GetCaFile(),
		InsecureSkipVerify: m.GetInsecureSkipVerify(), Workloads: nonNil(m.GetWorkloads()), Removal: m.GetRemoval(),
	}
}

type nodeJSON struct {
	Member string   `json:"member"`
	Server string   `json:"server"`
	URL    string   `json:"url"`
	Status string   `json:"status"`
	Groups []string `json:"groups"`
}

func toNodeJSON(n *apiv1.Node) nodeJSON {
	return nodeJSON{Member: n.GetMember(), Server: n.GetServer(), URL: n.GetUrl(), Status: n.GetStatus(), Groups: nonNil(n.GetGroups())}
}

type serviceJSON struct {
	Name     string `json:"name"`
	Port     uint32 `json:"port"`
	Priority uint32 `json:"priority"`
	Weight   uint32 `json:"weight"`
}

type workloadJSON struct {
	Name               string              `json:"name"`
	Group              string              `json:"group"`
	Candidates         []string            `json:"candidates"`
	Member             string              `json:"member"`
	Server             string              `json:"server"`
	Status             string              `json:"status"`
	Since              string              `json:"since"`
	Addresses          map[string][]string `json:"addresses"`
	FQDN               string              `json:"fqdn"`
	AvailabilitySet    string              `json:"availability_set"`
	Desired            string              `json:"desired"`
	Size               int64               `json:"size"`
	AutoFailover       bool                `json:"auto_failover"`
	Hooks              []string            `json:"hooks"`
	HookTimeoutSeconds uint32              `json:"hook_timeout_seconds"`
	OperationID        string              `json:"operation_id"`
	Services           []serviceJSON       `json:"services"`
	// The operation in flight and its phase, "" when none.
	ActiveOperationID    string `json:"active_operation_id"`
	ActiveOperationPhase string `json:"active_operation_phase"`
	// Probe is the reachability probe (target "none" when it has none); ProbeResult its
	// committed result where the workload is placed (reachability "" when not probed).
	Probe       probeJSON       `json:"probe"`
	ProbeResult probeResultJSON `json:"probe_result"`
	// DependsOn are the workloads it waits for before it starts ([] when none).
	DependsOn []string `json:"depends_on"`
	// Failback is "never" or "auto", FailbackAfterSeconds how long its first candidate must be
	// up before an automatic failback.
	Failback             string `json:"failback"`
	FailbackAfterSeconds uint32 `json:"failback_after_seconds"`
}

type probeJSON struct {
	Target         string `json:"target"`
	ExpectStatus   string `json:"expect_status"`
	TimeoutMs      uint32 `json:"timeout_ms"`
	IntervalMs     uint32 `json:"interval_ms"`
	GraceMs        uint32 `json:"grace_ms"`
	HealthyAfter   uint32 `json:"healthy_after"`
	UnhealthyAfter uint32 `json:"unhealthy_after"`
	DNS            string `json:"dns"`
	Failover       bool   `json:"failover"`
}

type probeResultJSON struct {
	// Reachability is "" (not probed yet), "reachable" or "unreachable".
	Reachability string `json:"reachability"`
	Error        string `json:"error"`
	Since        string `json:"since"`
}

func toProbeJSON(p *apiv1.ProbeSpec) probeJSON {
	if p == nil {
		return probeJSON{Target: "none"}
	}
	return probeJSON{Target: p.GetTarget(), ExpectStatus: p.GetExpectStatus(), TimeoutMs: p.GetTimeoutMs(), IntervalMs: p.GetIntervalMs(),
		GraceMs: p.GetGraceMs(), HealthyAfter: p.GetHealthyAfter(), UnhealthyAfter: p.GetUnhealthyAfter(), DNS: p.GetDns(), Failover: p.GetFailover()}
}

// probeText is the probe line of workload show.
func probeText(p *apiv1.ProbeSpec) string {
	if p == nil {
		return "none"
	}
	s := p.GetTarget()
	if e := p.GetExpectStatus(); e != "" {
		s += " status " + e
	}
	s += fmt.Sprintf(" every %v (timeout %v, grace %v, %d to pass, %d to fail, dns %s", time.Duration(p.GetIntervalMs())*time.Millisecond,
		time.Duration(p.GetTimeoutMs())*time.Millisecond, time.Duration(p.GetGraceMs())*time.Millisecond, p.GetHealthyAfter(), p.GetUnhealthyAfter(), p.GetDns())
	if p.GetFailover() {
		s += ", failover"
	}
	return s + ")"
}

// probeResultText is the reachability line of workload show.
func probeResultText(w *apiv1.Workload) string {
	if w.GetProbe() == nil {
		return ""
	}
	r := w.GetProbeResult()
	s := r.GetReachability()
	if s == "" {
		return "not probed yet"
	}
	if t := shortTime(r.GetSinceUnixNano()); t != "" {
		s += " since " + t
	}
	if e := r.GetError(); e != "" {
		s += ": " + e
	}
	return s
}

// workloadOperation is the OPERATION column: the operation in flight with its phase, else the
// operation that placed the workload.
func workloadOperation(w *apiv1.Workload) string {
	if id := w.GetActiveOperationId(); id != "" {
		return id + " (" + w.GetActiveOperationPhase() + ")"
	}
	return w.GetOperationId()
}

func toWorkloadJSON(w *apiv1.Workload) workloadJSON {
	addrs := make(map[string][]string, len(w.GetAddresses()))
	for m, l := range w.GetAddresses() {
		addrs[m] = nonNil(l.GetAddresses())
	}
	services := make([]serviceJSON, 0, len(w.GetServices()))
	for _, s := range w.GetServices() {
		services = append(services, serviceJSON{Name: s.GetName(), Port: s.GetPort(), Priority: s.GetPriority(), Weight: s.GetWeight()})
	}
	out := workloadJSON{
		ActiveOperationID: w.GetActiveOperationId(), ActiveOperationPhase: w.GetActiveOperationPhase(),
		Name: w.GetName(), Group: w.GetGroup(), Candidates: nonNil(w.GetCandidates()), Member: w.GetMember(),
		Server: w.GetServer(), Status: w.GetStatus(), Since: timeString(w.GetSinceUnixNano()), Addresses: addrs,
		FQDN: w.GetFqdn(), AvailabilitySet: w.GetAvailabilitySet(), Desired: w.GetDesired(), Size: w.GetSize(),
		AutoFailover: w.GetAutoFailover(), Hooks: nonNil(w.GetHooks()), HookTimeoutSeconds: w.GetHookTimeoutSeconds(),
		OperationID: w.GetOperationId(), Services: services, Probe: toProbeJSON(w.GetProbe()), DependsOn: nonNil(w.GetDependsOn()),
		Failback: w.GetFailback(), FailbackAfterSeconds: w.GetFailbackAfterSeconds(),
	}
	r := w.GetProbeResult()
	out.ProbeResult = probeResultJSON{Reachability: r.GetReachability(), Error: r.GetError(), Since: timeString(r.GetSinceUnixNano())}
	return out
}

type candidateJSON struct {
	Member   string  `json:"member"`
	Server   string  `json:"server"`
	Score    float64 `json:"score"`
	Rejected bool    `json:"rejected"`
	Reason   string  `json:"reason"`
}

type placeJSON struct {
	Workload   string          `json:"workload"`
	Candidates []candidateJSON `json:"candidates"`
}

func toPlaceJSON(p *apiv1.PlaceWorkloadResponse) placeJSON {
	out := placeJSON{Workload: p.GetWorkload(), Candidates: make([]candidateJSON, 0, len(p.GetCandidates()))}
	for _, c := range p.GetCandidates() {
		out.Candidates = append(out.Candidates, candidateJSON{Member: c.GetMember(), Server: c.GetServer(), Score: c.GetScore(), Rejected: c.GetRejected(), Reason: c.GetReason()})
	}
	return out
}

type faultDomainJSON struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Members     []string `json:"members"`
}

func toFaultDomainJSON(f *apiv1.FaultDomain) faultDomainJSON {
	return faultDomainJSON{Name: f.GetName(), Description: f.GetDescription(), Members: nonNil(f.GetMembers())}
}

type availSetJSON struct {
	Name      string   `json:"name"`
	Hard      bool     `json:"hard"`
	Workloads []string `json:"workloads"`
}

func toAvailSetJSON(s *apiv1.AvailabilitySet) availSetJSON {
	return availSetJSON{Name: s.GetName(), Hard: s.GetHard(), Workloads: nonNil(s.GetWorkloads())}
}

type hookResultJSON struct {
	Hook       string `json:"hook"`
	ExitCode   int32  `json:"exit_code"`
	OutputTail string `json:"output_tail"`
	DurationMs int64  `json:"duration_ms"`
	Error      string `json:"error"`
}

type operationJSON struct {
	ID           string           `json:"id"`
	Workload     string           `json:"workload"`
	Reason       string           `json:"reason"`
	SourceMember string           `json:"source_member"`
	SourceServer string           `json:"source_server"`
	TargetMember string           `json:"target_member"`
	TargetServer string           `json:"target_server"`
	Phase        string           `json:"phase"`
	Attempts     uint32           `json:"attempts"`
	Error        string           `json:"error"`
	Created      string           `json:"created"`
	Updated      string           `json:"updated"`
	Hooks        []hookResultJSON `json:"hooks"`
	Force        bool             `json:"force"`
}

func toOperationJSON(o *apiv1.Operation) operationJSON {
	hooks := make([]hookResultJSON, 0, len(o.GetHooks()))
	for _, h := range o.GetHooks() {
		hooks = append(hooks, hookResultJSON{Hook: h.GetHook(), ExitCode: h.GetExitCode(), OutputTail: h.GetOutputTail(), DurationMs: h.GetDurationMs(), Error: h.GetError()})
	}
	return operationJSON{
		ID: o.GetId(), Workload: o.GetWorkload(), Reason: o.GetReason(),
		SourceMember: o.GetSourceMember(), SourceServer: o.GetSourceServer(),
		TargetMember: o.GetTargetMember(), TargetServer: o.GetTargetServer(),
		Phase: o.GetPhase(), Attempts: o.GetAttempts(), Error: o.GetError(),
		Created: timeString(o.GetCreatedUnixNano()), Updated: timeString(o.GetUpdatedUnixNano()), Hooks: hooks, Force: o.GetForce(),
	}
}

type eventJSON struct {
	Seq         uint64 `json:"seq"`
	Index       uint64 `json:"index"`
	Time        string `json:"time"`
	Kind        string `json:"kind"`
	Severity    string `json:"severity"`
	Workload    string `json:"workload"`
	Member      string `json:"member"`
	OperationID string `json:"operation_id"`
	Message     string `json:"message"`
	Actor       string `json:"actor"`
}

func toEventJSON(e *apiv1.Event) eventJSON {
	return eventJSON{
		Seq: e.GetSeq(), Index: e.GetIndex(), Time: timeString(e.GetTimeUnixNano()), Kind: e.GetKind(),
		Severity: e.GetSeverity(), Workload: e.GetWorkload(), Member: e.GetMember(),
		OperationID: e.GetOperationId(), Message: e.GetMessage(), Actor: e.GetActor(),
	}
}

// deletedJSON is the answer of the remove, delete and unregister commands.
type deletedJSON struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Deleted bool   `json:"deleted"`
}

type snapshotSaveJSON struct {
	File  string `json:"file"`
	Bytes int64  `json:"bytes"`
}

type snapshotRestoreJSON struct {
	File      string `json:"file"`
	Bytes     int64  `json:"bytes"`
	Index     uint64 `json:"index"`
	Members   uint32 `json:"members"`
	Workloads uint32 `json:"workloads"`
}

type raftJoinJSON struct {
	ID    string `json:"id"`
	Index uint64 `json:"index"`
}

type versionJSON struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Go      string `json:"go"`
}
