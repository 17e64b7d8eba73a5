package chaos

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cset-project/cset/internal/testutil"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"github.com/miekg/dns"
)

// auditRecord is one interval in which a group was online on a server (docs/ecxsim.md).
type auditRecord struct {
	Cluster     string     `json:"cluster"`
	Group       string     `json:"group"`
	Server      string     `json:"server"`
	OnlineFrom  time.Time  `json:"online_from"`
	OnlineUntil *time.Time `json:"online_until"`
}

func (r auditRecord) until() time.Time {
	if r.OnlineUntil == nil {
		return time.Unix(1<<40, 0)
	}
	return *r.OnlineUntil
}

func (r auditRecord) String() string {
	u := "(still online)"
	if r.OnlineUntil != nil {
		u = r.OnlineUntil.Format("15:04:05.000000")
	}
	return fmt.Sprintf("%s/%s %s..%s", r.Cluster, r.Server, r.OnlineFrom.Format("15:04:05.000000"), u)
}

func (e *env) audit() ([]auditRecord, error) {
	var out struct {
		Records []auditRecord `json:"records"`
	}
	err := e.simCall("GET", "/sim/v1/audit", nil, &out)
	return out.Records, err
}

// doubleOnline returns every pair of intervals in which one group was online in two
// different members at the same instant (half-open intervals, as ecxsim's checker).
func doubleOnline(recs []auditRecord) []string {
	by := map[string][]auditRecord{}
	for _, r := range recs {
		by[r.Group] = append(by[r.Group], r)
	}
	var out []string
	for g, rs := range by {
		for i, a := range rs {
			for _, b := range rs[i+1:] {
				if a.Cluster != b.Cluster && a.OnlineFrom.Before(b.until()) && b.OnlineFrom.Before(a.until()) {
					out = append(out, fmt.Sprintf("workload %s online on two members at once: %s and %s", g, a, b))
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// checkAudit runs both the ecxsim checker (GET /sim/v1/audit/check) and the suite's own.
func (e *env) checkAudit(recs []auditRecord) []string {
	var v []string
	var chk struct {
		OK       bool             `json:"ok"`
		Overlaps []map[string]any `json:"overlaps"`
	}
	if err := e.simCall("GET", "/sim/v1/audit/check", nil, &chk); err != nil {
		v = append(v, "audit check: "+err.Error())
	} else if !chk.OK {
		v = append(v, fmt.Sprintf("ecxsim audit check: %d double-online overlap(s): %v", len(chk.Overlaps), chk.Overlaps))
	}
	return append(v, doubleOnline(recs)...)
}

// healAll ends every fault: the network, stopped and dead processes, dead, switched-off and
// isolated ECX servers, ECX error answers, the hook's control files, removed and drained members.
func (e *env) healAll() (errs []string) {
	e.net.healAll()
	if err := errors.Join(e.hooks.setFail(false), e.hooks.setSlow(false)); err != nil {
		errs = append(errs, err.Error())
	}
	defer func() { errs = append(errs, e.restoreMembers()...) }()
	for j, w := range e.wits {
		if !w.running() {
			if err := e.startWitness(j); err != nil {
				errs = append(errs, "restart "+w.name+": "+err.Error())
			}
		}
	}
	for _, m := range e.masters {
		if m.isPaused() {
			_ = m.pause(false)
		}
		if !m.running() {
			if err := e.startMaster(m); err != nil {
				errs = append(errs, "restart "+m.id+": "+err.Error())
			}
		}
	}
	var st simState
	if err := e.simCall("GET", "/sim/v1/state", nil, &st); err != nil {
		return append(errs, err.Error())
	}
	defer func() {
		for srv := range e.restProxy {
			e.serverUp(srv, true)
		}
	}()
	for _, c := range st.Clusters {
		if c.ErrorRate > 0 || (c.ErrorStyle != "" && c.ErrorStyle != "http") {
			if err := errors.Join(e.simCall("POST", "/sim/v1/clusters/"+c.Name+"/errors", map[string]float64{"rate": 0}, nil),
				e.simCall("POST", "/sim/v1/clusters/"+c.Name+"/error-style", map[string]string{"style": "http"}, nil)); err != nil {
				errs = append(errs, err.Error())
			}
		}
		if c.Isolated {
			if err := e.simCall("POST", "/sim/v1/clusters/"+c.Name+"/heal", nil, nil); err != nil {
				errs = append(errs, err.Error())
			}
		}
		off := 0
		for _, s := range c.Servers {
			if !s.PoweredOn {
				off++
			}
		}
		if off == len(c.Servers) {
			if err := e.simCall("POST", "/sim/v1/clusters/"+c.Name+"/up", nil, nil); err != nil {
				errs = append(errs, err.Error())
			}
			continue
		}
		for _, s := range c.Servers {
			if !s.PoweredOn {
				if err := e.simCall("POST", "/sim/v1/clusters/"+c.Name+"/servers/"+s.Name+"/up", nil, nil); err != nil {
					errs = append(errs, err.Error())
				}
			}
		}
	}
	return errs
}

// restoreMembers adds back every removed member and makes every member active again.
func (e *env) restoreMembers() []string {
	var errs []string
	for _, mb := range memberNames() {
		if err := e.restoreMember(mb, 0); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		err := e.ask(30*time.Second, 3*time.Second, fmt.Sprintf("chaos-heal-admin-%s-%d", mb, time.Now().UnixNano()), func(ctx context.Context, c apiv1.ClusterSetServiceClient) error {
			m, err := c.GetMember(ctx, &apiv1.GetRequest{Name: mb, Read: &apiv1.ReadOptions{Consistent: true}})
			if err != nil || m.GetMember().GetAdmin() == "active" {
				return err
			}
			_, err = c.SetMemberAdmin(ctx, &apiv1.SetMemberAdminRequest{Name: mb, Admin: "active"})
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Sprintf("member %s active: %v", mb, err))
		}
	}
	return errs
}

// converged returns nil when one leader is known everywhere, every master applied the same
// index, no operation is running, and every registered workload is online on exactly the
// member its placement names.
func (e *env) converged() error {
	var leader string
	var applied uint64
	for i, m := range e.masters {
		h, err := m.health()
		if err != nil {
			return fmt.Errorf("%s health: %w", m.id, err)
		}
		if h.Leader == "" || (leader != "" && h.Leader != leader) {
			return fmt.Errorf("%s names leader %q, others %q", m.id, h.Leader, leader)
		}
		if i > 0 && h.AppliedIndex != applied {
			return fmt.Errorf("%s applied index %d, others %d", m.id, h.AppliedIndex, applied)
		}
		leader, applied = h.Leader, h.AppliedIndex
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := e.masters[0].api
	ops, err := c.ListOperations(ctx, &apiv1.ListRequest{Read: &apiv1.ReadOptions{Consistent: true}})
	if err != nil {
		return fmt.Errorf("list operations: %w", err)
	}
	for _, op := range ops.GetOperations() {
		if op.GetPhase() != "done" && op.GetPhase() != "failed" {
			return fmt.Errorf("operation %s of %s is in phase %s", op.GetId(), op.GetWorkload(), op.GetPhase())
		}
	}
	ws, err := c.ListWorkloads(ctx, &apiv1.ListRequest{Read: &apiv1.ReadOptions{Consistent: true}})
	if err != nil {
		return fmt.Errorf("list workloads: %w", err)
	}
	running, err := e.runningOn()
	if err != nil {
		return err
	}
	for _, w := range ws.GetWorkloads() {
		if w.GetDesired() != "online" {
			continue
		}
		if w.GetStatus() != "Online" {
			return fmt.Errorf("workload %s is %s on %q", w.GetName(), w.GetStatus(), w.GetMember())
		}
		if got := running[w.GetName()]; len(got) != 1 || got[0] != w.GetMember() {
			return fmt.Errorf("workload %s is placed on %s but ecxsim runs it on %v", w.GetName(), w.GetMember(), got)
		}
	}
	return nil
}

// runningOn returns, per group, the members where ecxsim reports it Online.
func (e *env) runningOn() (map[string][]string, error) {
	var st simState
	if err := e.simCall("GET", "/sim/v1/state", nil, &st); err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, c := range st.Clusters {
		for _, g := range c.Groups {
			if g.RunningOn != "" && g.Status == "Online" {
				out[g.Name] = append(out[g.Name], c.Name)
			}
		}
	}
	return out, nil
}

// finalReads reads every workload through every master, consistently and locally, appends the
// reads to the history as gets, and reports masters whose local state differs from the
// consistent one. Every write has returned or given up by now, so a lost acknowledged write
// shows up as a history that is not linearizable.
func (e *env) finalReads(h *history) []string {
	var v []string
	var want map[string]int
	for i, m := range e.masters {
		for _, consistent := range []bool{true, false} {
			var got map[string]int
			var rec func(ok bool)
			err := testutil.WaitFor(20*time.Second, func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				defer cancel()
				call := time.Now()
				ws, err := m.api.ListWorkloads(ctx, &apiv1.ListRequest{Read: &apiv1.ReadOptions{Consistent: consistent}})
				if err != nil {
					return err
				}
				ret := time.Now()
				got = map[string]int{}
				for _, w := range ws.GetWorkloads() {
					got[w.GetName()] = int(w.GetHookTimeoutSeconds())
				}
				rec = func(bool) {
					for k := range nWorkloads {
						key := workloadName(k)
						ver, ok := got[key]
						h.add(&opRecord{id: int(h.next.Add(1)), client: 100 + i, kind: opGet, key: key, via: []string{m.id + map[bool]string{true: " consistent", false: " local"}[consistent]},
							call: call, ret: ret, outcome: outOK, exists: ok, got: ver})
					}
				}
				if want != nil && !mapsEqual(got, want) {
					return fmt.Errorf("%s (consistent=%v) reads %v, the first master read %v", m.id, consistent, got, want)
				}
				return nil
			})
			if rec != nil {
				rec(true)
			}
			if err != nil {
				v = append(v, fmt.Sprintf("acknowledged writes: %s (consistent=%v): %v", m.id, consistent, err))
				continue
			}
			if want == nil {
				want = got
			}
		}
	}
	return v
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// checkDNS asks every master's DNS server for every workload until the answers name exactly
// the member where ecxsim runs it, allowing the TTL plus one poll interval. Every answer seen
// meanwhile must name a member where the workload was online within that allowance.
func (e *env) checkDNS(recs func() []auditRecord) []string {
	allow := timings.ttl + timings.poll
	deadline := time.Now().Add(allow)
	cl := &dns.Client{Timeout: time.Second}
	var v []string
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	ws, err := e.masters[0].api.ListWorkloads(ctx, &apiv1.ListRequest{Read: &apiv1.ReadOptions{Consistent: true}})
	cancel()
	if err != nil {
		return []string{"dns: list workloads: " + err.Error()}
	}
	registered := map[string]bool{}
	for _, w := range ws.GetWorkloads() {
		registered[w.GetName()] = true
	}
	for {
		running, err := e.runningOn()
		if err != nil {
			return []string{"dns: " + err.Error()}
		}
		audit := recs()
		var wrong []string
		for _, m := range e.masters {
			if m.tiebreaker {
				continue // serves no DNS
			}
			for i := range nAll {
				name := workloadName(i)
				at := time.Now()
				got, rcode, err := queryA(cl, m.dnsAddr(), name+"."+zone)
				if err != nil {
					wrong = append(wrong, fmt.Sprintf("%s %s: %v", m.id, name, err))
					continue
				}
				var want []string
				for _, mb := range running[name] {
					if !registered[name] {
						break // an unregistered name is NXDOMAIN wherever its group runs
					}
					want = append(want, workloadAddr(workloadIndexOfMember(mb), i))
				}
				slices.Sort(want)
				if !slices.Equal(got, want) {
					wrong = append(wrong, fmt.Sprintf("%s %s: answers %v (rcode %s), ecxsim runs it on %v", m.id, name, got, dns.RcodeToString[rcode], running[name]))
				}
				for _, a := range got {
					mb := memberOfAddr(a)
					if !onlineWithin(audit, name, mb, at.Add(-allow), at) {
						v = append(v, fmt.Sprintf("dns: %s answered %s -> %s (member %s) at %s, but %s was not online there within %v", m.id, name, a, mb, at.Format("15:04:05.000"), name, allow))
					}
				}
			}
		}
		if len(wrong) == 0 {
			return v
		}
		if time.Now().After(deadline) {
			return append(v, "dns after the TTL plus one poll interval: "+strings.Join(wrong, "; "))
		}
		time.Sleep(100 * time.Millisecond) // poll DNS until the allowance ends
	}
}

func queryA(cl *dns.Client, server, name string) ([]string, int, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	r, _, err := cl.Exchange(m, server)
	if err != nil {
		return nil, 0, err
	}
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	slices.Sort(out)
	return out, r.Rcode, nil
}

func workloadIndexOfMember(mb string) int {
	var k int
	fmt.Sscanf(mb, "e%d", &k)
	return k - 1
}

func memberOfAddr(a string) string {
	var k, x, i int
	fmt.Sscanf(a, "10.%d.%d.%d", &k, &x, &i)
	return memberName(k - 1)
}

// onlineWithin reports whether group was online on member at some instant of [from, to].
func onlineWithin(recs []auditRecord, group, member string, from, to time.Time) bool {
	for _, r := range recs {
		if r.Group == group && r.Cluster == member && !r.OnlineFrom.After(to) && r.until().After(from) {
			return true
		}
	}
	return false
}
