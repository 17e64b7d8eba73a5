package server

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cset-project/cset/ecxclient"
	"github.com/cset-project/cset/fsm"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"github.com/cset-project/cset/witness"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// This file is `csetctl member check` (CheckMember) and the warnings of AddMember: the leader,
// which holds the member's credentials, reads the member's ECX REST API from every registered
// server separately and compares what each one reports with the registration and with the
// workloads that list the member as a candidate. Nothing is changed anywhere: only GETs are sent.

// Results of a MemberCheck.
const (
	checkOK     = "ok"
	checkFail   = "fail"
	checkWarn   = "warn"
	checkManual = "manual"
)

// CheckMember runs every check of a member (see memberChecks). forwardUnary runs it on the leader
// (it is not a read method), because only the masters hold the ECX credentials and the leader is
// the one that reaches the members and hears their guards.
func (a *api) CheckMember(ctx context.Context, r *apiv1.CheckMemberRequest) (*apiv1.CheckMemberResponse, error) {
	if r.GetName() == "" {
		return nil, invalid("member check needs the name of a member (see 'csetctl member list')")
	}
	m := a.s.fsm.Member(r.GetName())
	if m == nil {
		return nil, status.Errorf(codes.NotFound, "member %q does not exist (see 'csetctl member list'; add it with 'csetctl member add %s --server NAME=URL ...')", r.GetName(), r.GetName())
	}
	checks := a.s.memberChecks(ctx, m, true)
	return &apiv1.CheckMemberResponse{Member: m.Name, Passed: !anyFailed(checks), Checks: checks, CheckedBy: a.s.cfg.NodeID}, nil
}

// addMemberWarnings runs the checks of a member just added or updated and returns those that
// failed or warn. The guard heartbeats are left out: the leader refuses them until the member
// exists, so none can have been heard yet. The checks get at most one ECX timeout (plus a
// second) and half of what is left of the caller's deadline, so that the answer, which says the
// member was added, reaches the caller in time.
func (s *Server) addMemberWarnings(ctx context.Context, name string) []*apiv1.MemberCheck {
	m := s.fsm.Member(name)
	if m == nil {
		return nil // removed again in the meantime
	}
	budget := s.ecxTimeout() + time.Second
	if dl, ok := ctx.Deadline(); ok {
		budget = min(budget, time.Until(dl)/2)
	}
	cctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	var out []*apiv1.MemberCheck
	for _, c := range s.memberChecks(cctx, m, false) {
		if c.Result == checkFail || c.Result == checkWarn {
			out = append(out, c)
		}
	}
	return out
}

func (s *Server) ecxTimeout() time.Duration {
	if t := s.cfg.Controller.ECXTimeout; t > 0 {
		return t
	}
	return ecxclient.DefaultTimeout
}

func anyFailed(checks []*apiv1.MemberCheck) bool {
	return slices.ContainsFunc(checks, func(c *apiv1.MemberCheck) bool { return c.Result == checkFail })
}

// memberChecks gathers what the checks need (the ECX views, the witness, the guards, the state)
// and evaluates them. withGuards adds the guard heartbeat checks.
func (s *Server) memberChecks(ctx context.Context, m *fsmv1.Member, withGuards bool) []*apiv1.MemberCheck {
	in := checkInput{member: m, views: s.readECXViews(ctx, m), fenceAfter: s.cfg.Controller.FenceAfter, self: s.cfg.NodeID}
	d := s.fsm.Data()
	for _, w := range d.SortedWorkloads() {
		if slices.Contains(w.Candidates, m.Name) {
			in.workloads = append(in.workloads, w)
		}
	}
	in.others = d.SortedMembers()
	in.active = map[string]*fsmv1.Operation{}
	for _, op := range d.Operations {
		if !fsm.Terminal(op.Phase) {
			in.active[op.Workload] = op
		}
	}
	if s.fencing != nil && s.fencing.witnesses != nil {
		seen, err := s.fencing.witnesses.Cluster(ctx, m.Name)
		in.witness = &witnessSeen{seen: seen, err: err}
	}
	if withGuards {
		in.guards = &guardSeen{}
		if t := s.fencing.guards.Load(); t != nil {
			in.guards.running, in.guards.leading = true, time.Since(t.since)
			in.guards.heard = map[string]bool{}
			for _, srv := range m.Servers {
				in.guards.heard[srv.Name] = t.heardServer(m.Name, srv.Name)
			}
		}
	}
	return in.evaluate()
}

// heardServer reports whether this leader has acknowledged a heartbeat of the guard of
// member/server.
func (g *guardTracker) heardServer(member, server string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.known[member][server]
	return ok
}

// ecxView is what one registered server of a member reports, read through that server alone.
type ecxView struct {
	server, url string
	// err is the first read that failed (the later ones are not tried); setup is true when the
	// client could not even be built from the member's settings (a CA file missing here).
	err     error
	setup   bool
	cluster ecxclient.Cluster
	servers []ecxclient.Server
	groups  []ecxclient.Group
}

// readECXViews reads every registered server of m concurrently.
func (s *Server) readECXViews(ctx context.Context, m *fsmv1.Member) []ecxView {
	views := make([]ecxView, len(m.Servers))
	var wg sync.WaitGroup
	for i, srv := range m.Servers {
		views[i] = ecxView{server: srv.Name, url: srv.Url}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.readECXView(ctx, m, &views[i])
		}()
	}
	wg.Wait()
	return views
}

// readECXView reads the cluster, the servers and the groups through one server only, so that a
// server that does not answer (or answers for another cluster) is seen as such instead of being
// hidden by the fail-over of a client with several URLs.
func (s *Server) readECXView(ctx context.Context, m *fsmv1.Member, v *ecxView) {
	cl, err := ecxclient.New(ecxclient.MemberConfig{
		Name: m.Name, URLs: []string{v.url}, User: m.User, Password: m.Password, CAFile: m.CaFile,
		InsecureSkipVerify: m.InsecureSkipVerify, Timeout: s.ecxTimeout(),
	}, ecxclient.WithLogger(s.logger.Named("member-check")))
	if err != nil {
		v.err, v.setup = err, true
		return
	}
	if v.cluster, err = cl.GetCluster(ctx); err != nil {
		v.err = err
		return
	}
	if v.servers, err = cl.ListServers(ctx); err != nil {
		v.err = err
		return
	}
	v.groups, v.err = cl.ListGroups(ctx)
}

type witnessSeen struct {
	seen witness.ClusterSeen
	err  error
}

type guardSeen struct {
	running bool            // the leader's guard tracker runs (the controller task started)
	leading time.Duration   // how long the tracker has been recording
	heard   map[string]bool // registered server -> its guard was heard
}

// checkInput is everything the checks look at; evaluate does no I/O.
type checkInput struct {
	member     *fsmv1.Member
	views      []ecxView                   // one per registered server, in registration order
	workloads  []*fsmv1.Workload           // the workloads that list member as a candidate, by name
	others     []*fsmv1.Member             // every member (member itself is skipped), by name
	active     map[string]*fsmv1.Operation // workload -> its operation in flight
	witness    *witnessSeen                // nil: no witness configured
	guards     *guardSeen                  // nil: not checked
	fenceAfter time.Duration
	self       string // node id of this master
}

type checkList []*apiv1.MemberCheck

func (l *checkList) add(check, result, server string, format string, args ...any) *apiv1.MemberCheck {
	c := &apiv1.MemberCheck{Check: check, Result: result, Server: server, Message: fmt.Sprintf(format, args...)}
	*l = append(*l, c)
	return c
}

func (l *checkList) addGroup(w *fsmv1.Workload, check, result, server string, format string, args ...any) {
	c := l.add(check, result, server, format, args...)
	c.Workload, c.Group = w.Name, w.Group
}

// evaluate returns the checks in a fixed order: the servers' API, the cluster, the servers, the
// witness and guards, the member's declarations, then each workload.
func (in *checkInput) evaluate() []*apiv1.MemberCheck {
	var l checkList
	in.apiChecks(&l)
	if answered := in.answered(); len(answered) > 0 {
		in.clusterNameChecks(&l, answered)
		in.serverListChecks(&l, answered)
	}
	in.witnessChecks(&l)
	in.guardChecks(&l)
	m := in.member
	if m.HeartbeatTimeoutMs == 0 {
		l.add("heartbeat-timeout", checkManual, "", "the member's ECX heartbeat timeout is not declared: declare it with 'csetctl member add %s --update --heartbeat-timeout DUR ...' (with the other flags as before) so that the masters check it against fence_after (%s); a member whose servers take longer than fence_after to give up a cut-off server can run a workload twice", m.Name, in.fenceAfter)
	} else {
		l.add("heartbeat-timeout", checkOK, "", "ECX heartbeat timeout declared as %s, below fence_after %s", time.Duration(m.HeartbeatTimeoutMs)*time.Millisecond, in.fenceAfter)
	}
	for _, w := range in.workloads {
		in.workloadChecks(&l, w)
	}
	return l
}

// answered returns the views of the servers that answered every read.
func (in *checkInput) answered() []ecxView {
	var out []ecxView
	for _, v := range in.views {
		if v.err == nil {
			out = append(out, v)
		}
	}
	return out
}

func (in *checkInput) apiChecks(l *checkList) {
	m := in.member
	if m.InsecureSkipVerify {
		l.add("tls-verify", checkWarn, "", "insecure_skip_verify is set: the TLS certificates of the ECX servers are not verified, so anyone on the path can pose as them and read the ECX password; give their CA with --ca-file instead")
	}
	for _, v := range in.views {
		if v.err != nil {
			l.add("api", checkFail, v.server, "%s", in.apiProblem(v))
			continue
		}
		l.add("api", checkOK, v.server, "answers at %s with the member's credentials", v.url)
	}
}

// apiProblem explains why a server could not be read, most specific cause first.
func (in *checkInput) apiProblem(v ecxView) string {
	m := in.member
	var unknownCA x509.UnknownAuthorityError
	var badHost x509.HostnameError
	var badCert x509.CertificateInvalidError
	var why string
	switch {
	case v.setup:
		why = fmt.Sprintf("the member's ECX settings cannot be used on master %s (a --ca-file must be readable on every master)", in.self)
	case errors.Is(v.err, ecxclient.ErrAuth):
		why = fmt.Sprintf("server %s refused the member's credentials (user %q): correct them with 'csetctl member add %s --update --user USER --password-file FILE ...' (with the other flags as before); ECX REST users are OS accounts of the cluster's servers", v.server, m.User, m.Name)
	case errors.As(v.err, &unknownCA):
		ca := "a CA the masters' system trusts (the member has no --ca-file)"
		if m.CaFile != "" {
			ca = "the member's CA file " + m.CaFile
		}
		why = fmt.Sprintf("the TLS certificate of %s is not signed by %s: give the CA that signed the ECX servers' certificates with --ca-file (a path on every master)", v.url, ca)
	case errors.As(v.err, &badHost):
		why = fmt.Sprintf("the TLS certificate of %s is not valid for that host: register the server with a host name or address its certificate names", v.url)
	case errors.As(v.err, &badCert):
		why = fmt.Sprintf("the TLS certificate of %s cannot be used (%s): renew it", v.url, badCert.Error())
	case errors.Is(v.err, ecxclient.ErrMalformed), errors.Is(v.err, ecxclient.ErrNotFound):
		why = fmt.Sprintf("%s answers, but not as the ECX REST API: check the port (29009 by default) and whether the API is served over http or https", v.url)
	case errors.Is(v.err, context.DeadlineExceeded) || errors.Is(v.err, context.Canceled):
		why = fmt.Sprintf("server %s did not answer at %s within the time the check had", v.server, v.url)
	case errors.Is(v.err, ecxclient.ErrUnreachable):
		why = fmt.Sprintf("server %s does not answer at %s: check that it is up, that the ECX API service is enabled (cluster properties, API tab) and that the masters can reach its port", v.server, v.url)
	default:
		why = fmt.Sprintf("reading server %s at %s failed", v.server, v.url)
	}
	return why + "; detail: " + errorDetail(v.err)
}

// errorDetail is the part of a client error that the explanation does not already say: the
// server's answer to a refused login, or the transport error of an unanswered request.
func errorDetail(err error) string {
	var auth *ecxclient.AuthError
	var unreachable *ecxclient.UnreachableError
	switch {
	case errors.As(err, &auth):
		return fmt.Sprintf("%s answered HTTP %d, message %q", auth.URL, auth.HTTPStatus, auth.Message)
	case errors.As(err, &unreachable) && len(unreachable.Attempts) > 0:
		parts := make([]string, 0, len(unreachable.Attempts))
		for _, a := range unreachable.Attempts {
			parts = append(parts, a.Error())
		}
		return strings.Join(parts, "; ")
	}
	return err.Error()
}

func (in *checkInput) clusterNameChecks(l *checkList, answered []ecxView) {
	m := in.member
	bad := false
	for _, v := range answered {
		if !strings.EqualFold(v.cluster.Name, m.Name) {
			bad = true
			l.add("cluster-name", checkFail, v.server, "server %s belongs to ECX cluster %q, not %q: its URL %s points at another cluster, or the member has the wrong name; the member name must be the ECX cluster's name (the guards and the witness heartbeats use it)", v.server, v.cluster.Name, m.Name, v.url)
		}
	}
	if !bad {
		l.add("cluster-name", checkOK, "", "every server that answered reports ECX cluster %q", answered[0].cluster.Name)
	}
}

func (in *checkInput) registered(server string) bool {
	return slices.ContainsFunc(in.member.Servers, func(s *fsmv1.MemberServer) bool { return s.Name == server })
}

func (in *checkInput) registeredNames() []string {
	out := make([]string, 0, len(in.member.Servers))
	for _, s := range in.member.Servers {
		out = append(out, s.Name)
	}
	return out
}

// serverListChecks compares the servers ECX lists (in every view that answered) with the
// registered ones, and reports registered servers that ECX does not see Online.
func (in *checkInput) serverListChecks(l *checkList, answered []ecxView) {
	m := in.member
	missing, extra := map[string]ecxView{}, map[string]ecxView{}
	reported := map[string]ecxclient.Server{}
	for _, v := range answered {
		names := make([]string, 0, len(v.servers))
		for _, s := range v.servers {
			names = append(names, s.Name)
			if _, ok := reported[s.Name]; !ok {
				reported[s.Name] = s
			}
			if _, ok := extra[s.Name]; !ok && !in.registered(s.Name) {
				extra[s.Name] = v
			}
		}
		for _, r := range m.Servers {
			if _, ok := missing[r.Name]; !ok && !slices.Contains(names, r.Name) {
				missing[r.Name] = v
			}
		}
	}
	for _, name := range sortedKeysOf(missing) {
		v := missing[name]
		l.add("servers", checkFail, name, "server %s is registered, but ECX cluster %q has no server of that name (server %s lists %s): correct the --server names ('csetctl member add %s --update ...'); ECX names are case-sensitive", name, v.cluster.Name, v.server, serverNames(v.servers), m.Name)
	}
	for _, name := range sortedKeysOf(extra) {
		l.add("servers", checkFail, name, "ECX server %s (listed by server %s) is not registered: add it with --server %s=URL ('csetctl member add %s --update ...'); ECX can fail a group over to it, where cset neither reaches, watches nor fences it", name, extra[name].server, name, m.Name)
	}
	if len(missing) == 0 && len(extra) == 0 {
		l.add("servers", checkOK, "", "ECX lists exactly the registered servers %s", strings.Join(in.registeredNames(), ", "))
	}
	for _, r := range m.Servers {
		if s, ok := reported[r.Name]; ok && s.Status != ecxclient.StatusOnline {
			l.add("server-status", checkWarn, r.Name, "ECX reports server %s %q: cset starts no group there until it is Online", r.Name, s.RawStatus)
		}
	}
}

func serverNames(list []ecxclient.Server) string {
	if len(list) == 0 {
		return "no server"
	}
	names := make([]string, 0, len(list))
	for _, s := range list {
		names = append(names, s.Name)
	}
	return strings.Join(names, ", ")
}

func sortedKeysOf[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// witnessChecks reports, when the masters use a witness, whether it hears every registered
// server. Without those heartbeats a member the masters cannot reach looks dead to the witness
// too, and is declared down while it may still run its workloads (unless its guards stop them).
func (in *checkInput) witnessChecks(l *checkList) {
	if in.witness == nil {
		return
	}
	m := in.member
	const fix = "run the member guard on every server (it sends them) or a custom monitor that posts {\"cluster\": %q, \"server\": NAME} to the witness; without them the member is declared down whenever the masters cannot reach it, even while it runs its workloads"
	switch err := in.witness.err; {
	case errors.Is(err, witness.ErrNeverSeen):
		l.add("witness", checkWarn, "", "the witness has never received a heartbeat for cluster %q: "+fix, m.Name, m.Name)
		return
	case err != nil:
		l.add("witness", checkWarn, "", "the witness could not be asked which servers of %s it hears (run the check again): %v", m.Name, err)
		return
	}
	// Several witnesses: the servers below are what a majority hears; name each witness that
	// does not hear the member, since one more such witness would let a cut from the masters
	// declare it down.
	for _, w := range in.witness.seen.Witnesses {
		switch {
		case errors.Is(w.Err, witness.ErrNeverSeen):
			l.add("witness", checkWarn, "", "witness %s has never received a heartbeat for cluster %q (one voice of several: a member is declared down only when a majority of the witnesses do not hear it): check that every guard of %s is given every witness URL", w.URL, m.Name, m.Name)
		case w.Err != nil:
			l.add("witness", checkWarn, "", "witness %s could not be asked which servers of %s it hears: %v", w.URL, m.Name, w.Err)
		case w.LastHeard > in.fenceAfter:
			l.add("witness", checkWarn, "", "witness %s last heard %s %s ago, longer than fence_after (%s) (one voice of several: a member is declared down only when a majority of the witnesses do not hear it): check the network between %s and that witness", w.URL, m.Name, w.LastHeard.Round(time.Second), in.fenceAfter, m.Name)
		}
	}
	for _, r := range m.Servers {
		i := slices.IndexFunc(in.witness.seen.Servers, func(s witness.ServerSeen) bool { return s.Server == r.Name })
		switch {
		case i < 0:
			l.add("witness", checkWarn, r.Name, "the witness has no heartbeat from server %s: "+fix, r.Name, m.Name)
		case in.witness.seen.Servers[i].SinceHeartbeat > in.fenceAfter:
			l.add("witness", checkWarn, r.Name, "the witness last heard server %s %s ago, longer than fence_after (%s): "+fix, r.Name, in.witness.seen.Servers[i].SinceHeartbeat.Round(time.Second), in.fenceAfter, m.Name)
		default:
			l.add("witness", checkOK, r.Name, "the witness heard server %s %s ago", r.Name, in.witness.seen.Servers[i].SinceHeartbeat.Round(time.Millisecond))
		}
	}
}

func (in *checkInput) guardChecks(l *checkList) {
	if in.guards == nil {
		return
	}
	m := in.member
	if !in.guards.running {
		l.add("guard", checkWarn, "", "the leader is not taking guard heartbeats yet (its controller is starting): run the check again")
		return
	}
	for _, r := range m.Servers {
		if in.guards.heard[r.Name] {
			l.add("guard", checkOK, r.Name, "the guard of server %s heartbeats the leader", r.Name)
			continue
		}
		l.add("guard", checkWarn, r.Name, "no heartbeat from a guard of server %s in the %s that master %s has led: run 'csetd guard' there with -cluster %s -server %s (docs/guard.md); without it, a site cut off from both the masters and the witness keeps running its workloads while they fail over elsewhere", r.Name, in.guards.leading.Round(100*time.Millisecond), in.self, m.Name, r.Name)
	}
}

// sighting is a workload's group as one server's view reports it.
type sighting struct {
	view  string // the registered server that reported it
	group ecxclient.Group
}

// runs reports whether ECX says the group occupies a server: anything but Offline with a
// current server (a pending or failed group may hold some of its resources there).
func runs(g ecxclient.Group) bool {
	return g.Current != "" && g.Status != ecxclient.StatusOffline
}

// workloadChecks checks the group of one workload that lists the member as a candidate: it
// exists in every view, runs only on registered servers, on one server at most, in no other
// member at the same time, and was started by cset; then the checklist lines for what the REST
// API does not show.
func (in *checkInput) workloadChecks(l *checkList, w *fsmv1.Workload) {
	m := in.member
	answered := in.answered()
	if len(answered) > 0 {
		var seen []sighting
		var lacking []string
		for _, v := range answered {
			i := slices.IndexFunc(v.groups, func(g ecxclient.Group) bool { return g.Name == w.Group })
			if i < 0 {
				lacking = append(lacking, v.server)
				continue
			}
			seen = append(seen, sighting{view: v.server, group: v.groups[i]})
		}
		switch {
		case len(seen) == 0:
			l.addGroup(w, "group", checkFail, "", "group %s of workload %s does not exist in ECX cluster %q: create it, set to manual start, with every server of %s in its failover policy, or take %s out of the workload's candidates ('csetctl workload register %s --update --candidates ...')", w.Group, w.Name, answered[0].cluster.Name, m.Name, m.Name, w.Name)
		case len(lacking) > 0:
			l.addGroup(w, "group", checkFail, "", "group %s of workload %s is listed by servers %s but not by %s: the servers do not share one configuration (apply it to every server) or do not see each other", w.Group, w.Name, viewNames(seen), strings.Join(lacking, ", "))
		default:
			l.addGroup(w, "group", checkOK, "", "group %s of workload %s exists (%s)", w.Group, w.Name, describe(seen[0].group))
		}
		if len(seen) > 0 {
			in.placementChecks(l, w, seen)
		}
	}
	l.addGroup(w, "manual-start", checkManual, "", "the REST API does not show a group's start attribute: make sure group %s is set to manual start in ECX cluster %s (group properties, attribute: manual startup), so that only cset decides where workload %s starts", w.Group, m.Name, w.Name)
	l.addGroup(w, "failover-policy", checkManual, "", "the REST API does not show a group's failover policy: make sure the startup server list of group %s holds the servers of %s that may run it (registered: %s): cset starts it on the server the scheduler picks, and ECX refuses a start on a server outside the list", w.Group, m.Name, strings.Join(in.registeredNames(), ", "))
}

// placementChecks looks at where the sightings say the group runs.
func (in *checkInput) placementChecks(l *checkList, w *fsmv1.Workload, seen []sighting) {
	m := in.member
	on := map[string][]string{} // server the group runs on -> views that say so
	for _, s := range seen {
		if runs(s.group) {
			on[s.group.Current] = append(on[s.group.Current], s.view)
		}
		if st := s.group.Status; st == ecxclient.StatusOnlineFailure || st == ecxclient.StatusOfflineFailure {
			l.addGroup(w, "group-status", checkWarn, s.view, "server %s reports group %s %q: ECX gave up on it; read the cluster's alert log, fix the cause, then stop the group", s.view, w.Group, s.group.RawStatus)
		}
	}
	servers := sortedKeysOf(on)
	for _, srv := range servers {
		if !in.registered(srv) {
			l.addGroup(w, "group-server", checkFail, srv, "group %s of workload %s runs on server %s (reported by %s), which is not a registered server of %s: cset does not reach, watch or fence it there; register the server ('csetctl member add %s --update --server %s=URL ...') or remove it from the group's failover policy", w.Group, w.Name, srv, strings.Join(on[srv], ", "), m.Name, m.Name, srv)
		}
	}
	if len(servers) > 1 {
		var where []string
		for _, srv := range servers {
			where = append(where, fmt.Sprintf("%s (reported by %s)", srv, strings.Join(on[srv], ", ")))
		}
		l.addGroup(w, "group-single", checkFail, "", "group %s of workload %s runs on two servers of %s at once: %s; the servers do not see each other: restore their interconnect and stop every copy but one ('clpgrp -t %s' on the server to stop)", w.Group, w.Name, m.Name, strings.Join(where, " and "), w.Group)
	}
	if len(servers) == 0 {
		return
	}
	if in.elsewhere(l, w, servers[0]) {
		return
	}
	op := in.active[w.Name]
	if w.GetPlacement().GetMember() != m.Name && op.GetTargetMember() != m.Name {
		placed := "is not placed anywhere"
		if p := w.GetPlacement(); p != nil {
			placed = "is placed on " + p.Member
		}
		l.addGroup(w, "group-start", checkWarn, servers[0], "group %s runs on %s/%s, but cset did not start it there (workload %s %s): ECX or someone else started it; set the group to manual start and leave starting it to cset ('csetctl workload show %s')", w.Group, m.Name, servers[0], w.Name, placed, w.Name)
	}
}

// elsewhere reports (and returns true) when the leader last observed the group running in
// another member too: a workload online in two members at once. While an operation of the
// workload is in flight the observation may predate its fencing step, so it is only a warning.
func (in *checkInput) elsewhere(l *checkList, w *fsmv1.Workload, here string) bool {
	m := in.member
	found := false
	for _, o := range in.others {
		if o.Name == m.Name || o.Health == fsm.HealthDown {
			continue
		}
		i := slices.IndexFunc(o.Groups, func(g *fsmv1.ObservedGroup) bool { return g.Name == w.Group })
		if i < 0 || o.Groups[i].Current == "" || o.Groups[i].Status == fsm.StatusOffline {
			continue
		}
		found = true
		result := checkFail
		if op := in.active[w.Name]; op != nil {
			result = checkWarn
		}
		l.addGroup(w, "group-single", result, here, "group %s of workload %s runs on %s/%s and, as the leader last observed, on %s/%s (%s): a workload must never run in two members; the controller stops the copy it does not keep, and a group that comes back by itself is set to auto start", w.Group, w.Name, m.Name, here, o.Name, o.Groups[i].Current, o.Groups[i].Status)
	}
	return found
}

func viewNames(seen []sighting) string {
	names := make([]string, 0, len(seen))
	for _, s := range seen {
		names = append(names, s.view)
	}
	return strings.Join(names, ", ")
}

// describe is a group's status for people: "Offline", "Online on east-1".
func describe(g ecxclient.Group) string {
	if g.Current == "" {
		return g.RawStatus
	}
	return g.RawStatus + " on " + g.Current
}
