package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// The faults of issue 11: a member dying while a workload starts on it, forced member removal,
// requests that must be refused (duplicate groups, ineligible move targets), failing and slow
// handover hooks with a leader killed during one, and ECX error answers.

// ask runs fn against the running masters in turn, each attempt with its own deadline, until it
// gets a definite answer (success or an error the API decided) or d passes. Every attempt carries
// the same request id, so a retried write applies at most once.
func (e *env) ask(d, per time.Duration, reqID string, fn func(ctx context.Context, c apiv1.ClusterSetServiceClient) error) error {
	deadline := time.Now().Add(d)
	err := errors.New("no master was running")
	for i := 0; ; i++ {
		if m := e.masters[i%len(e.masters)]; m.running() && !m.isPaused() {
			ctx, cancel := context.WithTimeout(context.Background(), min(per, max(time.Until(deadline), 100*time.Millisecond)))
			ctx = metadata.AppendToOutgoingContext(ctx, "cset-request-id", reqID, "cset-actor", "chaos-faults")
			err = fn(ctx, m.api)
			cancel()
			if _, definite := classify(err); definite {
				return err
			}
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond) // the pause between two masters
	}
}

func (in *injector) reqID(step int, what string) string {
	return fmt.Sprintf("chaos-fault-%d-%s-%d", step, what, in.rng.Uint32())
}

// operations lists the operations through the leader (or any master), locally.
func (e *env) operations() ([]*apiv1.Operation, error) {
	m := e.leader()
	if m == nil {
		m = e.masters[0]
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	resp, err := m.api.ListOperations(ctx, &apiv1.ListRequest{})
	return resp.GetOperations(), err
}

// memberKillStarting waits until an operation of some workload is in phase starting (a client
// move, or one it asks for) and powers off the member it starts on.
func (in *injector) memberKillStarting(step int) *fault {
	deadline := time.Now().Add(3 * time.Second)
	asked := false
	for time.Now().Before(deadline) {
		ops, _ := in.e.operations()
		for _, op := range ops {
			mb := op.GetTargetMember()
			if op.GetPhase() != "starting" || mb == "" || !in.free("member:"+mb) {
				continue
			}
			if err := in.e.simCall("POST", "/sim/v1/clusters/"+mb+"/down", nil, nil); err != nil {
				in.tl.logf("    ! %v", err)
				return nil
			}
			for s := range 2 {
				in.e.serverUp(fmt.Sprintf("%s-s%d", mb, s+1), false)
			}
			f := in.memberDown(step, "member-kill-starting", mb,
				fmt.Sprintf("power off member %s while operation %s (%s) starts %s there", mb, op.GetId(), op.GetReason(), op.GetWorkload()), in.deathHold())
			f.rec.workloads = []string{op.GetWorkload()}
			return f
		}
		if !asked && time.Until(deadline) < 2500*time.Millisecond {
			// No client move is starting now: ask for one.
			asked = true
			w, to := workloadName(in.rng.IntN(nWorkloads)), in.pick(memberNames())
			_ = in.e.ask(time.Second, time.Second, in.reqID(step, "move"), func(ctx context.Context, c apiv1.ClusterSetServiceClient) error {
				_, err := c.MoveWorkload(ctx, &apiv1.MoveWorkloadRequest{Name: w, ToMember: to})
				return err
			})
		}
		time.Sleep(50 * time.Millisecond) // the poll of the operations
	}
	return nil
}

// memberRemove removes a member with --force while it runs workloads, and adds it back with
// the same configuration at the heal. A refusal (FailedPrecondition) is a valid answer.
func (in *injector) memberRemove(step int) *fault {
	mb := in.pick(memberNames())
	claims := []string{"member:" + mb, "admin:" + mb, "removal"}
	if !in.free(claims...) {
		return nil
	}
	start := time.Now()
	err := in.e.ask(20*time.Second, 15*time.Second, in.reqID(step, "remove"), func(ctx context.Context, c apiv1.ClusterSetServiceClient) error {
		_, err := c.RemoveMember(ctx, &apiv1.RemoveMemberRequest{Name: mb, Force: true})
		return err
	})
	took := time.Since(start).Round(time.Millisecond)
	detail := fmt.Sprintf("member remove %s --force: accepted after %v", mb, took)
	switch out, definite := classify(err); {
	case err == nil:
	case out == outPrecond:
		detail = fmt.Sprintf("member remove %s --force: refused after %v (%s)", mb, took, status.Convert(err).Message())
	case definite:
		in.violate("member-remove: step %d: removing %s answered %v", step, mb, err)
		detail = fmt.Sprintf("member remove %s --force: %v", mb, err)
	default:
		detail = fmt.Sprintf("member remove %s --force: no answer after %v (%v); it may be removed", mb, took, err)
	}
	in.mu.Lock()
	in.removedAt = append(in.removedAt, window{from: start})
	idx := len(in.removedAt) - 1
	in.mu.Unlock()
	f := in.newFault(step, "member-remove", mb, detail, in.hold(time.Second, 4*time.Second), claims, func() error {
		err := in.e.restoreMember(mb, removalWait)
		in.mu.Lock()
		in.removedAt[idx].to = time.Now()
		in.mu.Unlock()
		return err
	})
	f.rec.members = []string{mb}
	return f
}

// removalWait is how long the heal of member-remove waits for the controller to finish a
// removal (move or stop the member's groups under the fence, then delete it) before it cancels it.
const removalWait = 15 * time.Second

// restoreMember waits up to wait until a member being removed is deleted and adds it back with
// its declared configuration; a removal still unfinished then is cancelled (admin active). Then
// the fixed workloads get their candidates back (the load's own updates restore theirs).
func (e *env) restoreMember(mb string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for giveUp := deadline.Add(30 * time.Second); ; {
		if time.Now().After(giveUp) {
			return fmt.Errorf("member %s: its removal neither finished nor was cancelled", mb)
		}
		var m *apiv1.Member
		err := e.ask(10*time.Second, 3*time.Second, fmt.Sprintf("chaos-restore-get-%s-%d", mb, time.Now().UnixNano()), func(ctx context.Context, c apiv1.ClusterSetServiceClient) error {
			r, err := c.GetMember(ctx, &apiv1.GetRequest{Name: mb, Read: &apiv1.ReadOptions{Consistent: true}})
			m = r.GetMember()
			return err
		})
		switch {
		case status.Code(err) == codes.NotFound:
			err := e.ask(10*time.Second, 3*time.Second, fmt.Sprintf("chaos-restore-add-%s-%d", mb, time.Now().UnixNano()), func(ctx context.Context, c apiv1.ClusterSetServiceClient) error {
				_, err := c.AddMember(ctx, e.memberReqs[mb])
				if status.Code(err) == codes.AlreadyExists {
					return nil
				}
				return err
			})
			if c := status.Code(err); c == codes.Unavailable || c == codes.DeadlineExceeded {
				// No leader or no quorum now (a master is killed or cut off by another fault
				// whose heal is queued): heal that first.
				return fmt.Errorf("%w: add member %s back: %v", errHealLater, mb, err)
			}
			if err != nil {
				return fmt.Errorf("add member %s back: %w", mb, err)
			}
			e.tl.logf("    member %s added back", mb)
		case status.Code(err) == codes.Unavailable || status.Code(err) == codes.DeadlineExceeded:
			return fmt.Errorf("%w: member %s: %v", errHealLater, mb, err)
		case err != nil:
			return fmt.Errorf("member %s: %w", mb, err)
		case m.GetRemoval() == "":
		case time.Now().Before(deadline):
			time.Sleep(200 * time.Millisecond) // the poll of the removal
			continue
		default:
			err := e.ask(10*time.Second, 3*time.Second, fmt.Sprintf("chaos-restore-cancel-%s-%d", mb, time.Now().UnixNano()), func(ctx context.Context, c apiv1.ClusterSetServiceClient) error {
				_, err := c.SetMemberAdmin(ctx, &apiv1.SetMemberAdminRequest{Name: mb, Admin: "active"})
				return err
			})
			switch {
			case status.Code(err) == codes.NotFound: // deleted meanwhile: add it back
			case err != nil:
				return fmt.Errorf("cancel the removal of %s: %w", mb, err)
			default:
				e.tl.logf("    removal of member %s (%s) not finished after %v: cancelled (admin active)", mb, m.GetRemoval(), wait)
			}
			continue // see that the removal is cancelled, or add the member back
		}
		return e.restoreFixed()
	}
}

// restoreFixed registers the fixed workloads again as declared (update).
func (e *env) restoreFixed() error {
	for i := nWorkloads; i < nAll; i++ {
		req := e.fixedRequest(i)
		err := e.ask(30*time.Second, 3*time.Second, fmt.Sprintf("chaos-restore-%s-%d", req.Name, time.Now().UnixNano()), func(ctx context.Context, c apiv1.ClusterSetServiceClient) error {
			_, err := c.RegisterWorkload(ctx, req)
			return err
		})
		if err != nil {
			return fmt.Errorf("register %s again: %w", req.Name, err)
		}
	}
	return nil
}

// duplicateRegister registers a second workload naming a fixed workload's ECX group, with
// RegisterWorkload or with Apply: it must be refused with AlreadyExists (one workload per ECX
// group).
func (in *injector) duplicateRegister(step int) *fault {
	i := nWorkloads + in.rng.IntN(nFixed)
	group := workloadName(i)
	dup := "dup-" + group
	req := &apiv1.RegisterWorkloadRequest{Name: dup, Group: group, Size: 1, Addresses: map[string]*apiv1.AddressList{}}
	for k := range nMembers {
		req.Candidates = append(req.Candidates, memberName(k))
		req.Addresses[memberName(k)] = &apiv1.AddressList{Addresses: []string{fmt.Sprintf("10.%d.1.%d", k+1, i+1)}}
	}
	// Half through RegisterWorkload, half through a declaration (Apply): both paths must refuse.
	apply := in.rng.IntN(2) == 0
	err := in.e.ask(8*time.Second, 3*time.Second, in.reqID(step, "dup"), func(ctx context.Context, c apiv1.ClusterSetServiceClient) error {
		if apply {
			_, err := c.Apply(ctx, &apiv1.ApplyRequest{Declaration: &apiv1.Declaration{Workloads: []*apiv1.RegisterWorkloadRequest{req}}})
			return err
		}
		_, err := c.RegisterWorkload(ctx, req)
		return err
	})
	how := "register"
	if apply {
		how = "apply a declaration registering"
	}
	detail := fmt.Sprintf("%s %s naming %s's ECX group %s: ", how, dup, group, group)
	accepted := err == nil
	switch out, definite := classify(err); {
	case out == outExists:
		detail += "refused (AlreadyExists)"
	case err == nil:
		detail += "ACCEPTED"
		in.violate("duplicate-register: step %d: %s: %s was registered with the ECX group %s of workload %s (want AlreadyExists)", step, how, dup, group, group)
	case definite:
		detail += "refused with " + status.Code(err).String()
		in.violate("duplicate-register: step %d: %s: %s naming the ECX group of %s was refused with %s (%s), want AlreadyExists", step, how, dup, group, status.Code(err), status.Convert(err).Message())
	default:
		detail += fmt.Sprintf("no definite answer (%v)", err)
		gerr := in.e.ask(5*time.Second, 2*time.Second, in.reqID(step, "dupget"), func(ctx context.Context, c apiv1.ClusterSetServiceClient) error {
			_, err := c.GetWorkload(ctx, &apiv1.GetRequest{Name: dup, Read: &apiv1.ReadOptions{Consistent: true}})
			return err
		})
		if gerr == nil {
			accepted = true
			in.violate("duplicate-register: step %d: %s naming the ECX group of %s exists after an ambiguous answer", step, dup, group)
		}
	}
	if accepted {
		uerr := in.e.ask(20*time.Second, 3*time.Second, in.reqID(step, "dupdel"), func(ctx context.Context, c apiv1.ClusterSetServiceClient) error {
			_, err := c.UnregisterWorkload(ctx, &apiv1.GetRequest{Name: dup})
			if status.Code(err) == codes.NotFound {
				return nil
			}
			return err
		})
		if uerr != nil {
			in.tl.logf("    ! unregister %s: %v", dup, uerr)
		}
	}
	f := in.newFault(step, "duplicate-register", group, detail, 0, nil, func() error { return nil })
	f.rec.harmless = !accepted
	f.rec.workloads = []string{group}
	return f
}

// ineligibleMove asks for a planned move to a member that may not take the workload: a member
// being drained, or one that is not among the workload's candidates. It must be refused
// (FailedPrecondition or InvalidArgument); an accepted move that lands there is a violation.
func (in *injector) ineligibleMove(step int) *fault {
	var w, mb, why string
	var claims []string
	drain := in.rng.IntN(2) == 0
	if drain {
		mb = in.pick(memberNames())
		claims = []string{"admin:" + mb}
		if !in.free(claims...) {
			return nil
		}
		err := in.e.ask(8*time.Second, 3*time.Second, in.reqID(step, "drain"), func(ctx context.Context, c apiv1.ClusterSetServiceClient) error {
			_, err := c.SetMemberAdmin(ctx, &apiv1.SetMemberAdminRequest{Name: mb, Admin: "draining"})
			return err
		})
		if err != nil {
			in.tl.logf("    ! drain %s: %v", mb, err)
			return nil
		}
		w, why = workloadName(in.rng.IntN(nAll)), "draining"
	} else {
		w, mb, why = workloadName(nAll-1), memberName(nMembers-1), "not a candidate"
	}
	var op *apiv1.Operation
	err := in.e.ask(8*time.Second, 3*time.Second, in.reqID(step, "badmove"), func(ctx context.Context, c apiv1.ClusterSetServiceClient) error {
		var err error
		op, err = c.MoveWorkload(ctx, &apiv1.MoveWorkloadRequest{Name: w, ToMember: mb})
		return err
	})
	detail := fmt.Sprintf("move %s to %s (%s): ", w, mb, why)
	switch c := status.Code(err); {
	case err == nil:
		detail += fmt.Sprintf("ACCEPTED as operation %s", op.GetId())
	case c == codes.FailedPrecondition || c == codes.InvalidArgument:
		detail += "refused (" + c.String() + ")"
	case c == codes.NotFound:
		detail += "workload not registered"
	default:
		detail += fmt.Sprintf("no definite answer (%v)", err)
	}
	judge := func() {
		if op == nil {
			return
		}
		// An accepted move is a violation once it lands on the ineligible member.
		var got *apiv1.Operation
		_ = in.e.ask(20*time.Second, 2*time.Second, in.reqID(step, "badmoveop"), func(ctx context.Context, c apiv1.ClusterSetServiceClient) error {
			var err error
			got, err = c.GetOperation(ctx, &apiv1.GetRequest{Name: op.GetId(), Read: &apiv1.ReadOptions{Consistent: true}})
			if err == nil && got.GetPhase() != "done" && got.GetPhase() != "failed" {
				return status.Error(codes.Unavailable, "still running") // ask again
			}
			return err
		})
		if got.GetPhase() == "done" && got.GetTargetMember() == mb {
			in.violate("ineligible-move: step %d: %s was moved to %s (%s) by operation %s", step, w, mb, why, op.GetId())
		} else {
			in.tl.logf("    step %d: accepted move %s of %s to %s ended %s on %s", step, op.GetId(), w, mb, got.GetPhase(), got.GetTargetMember())
		}
	}
	if !drain {
		judge()
		f := in.newFault(step, "ineligible-move", mb, detail, 0, nil, func() error { return nil })
		f.rec.harmless, f.rec.workloads = op == nil, []string{w}
		return f
	}
	f := in.newFault(step, "ineligible-move", mb, detail, in.hold(time.Second, 4*time.Second), claims, func() error {
		judge()
		return in.e.ask(10*time.Second, 3*time.Second, in.reqID(step, "undrain"), func(ctx context.Context, c apiv1.ClusterSetServiceClient) error {
			_, err := c.SetMemberAdmin(ctx, &apiv1.SetMemberAdminRequest{Name: mb, Admin: "active"})
			return err
		})
	})
	f.rec.members = []string{mb} // a drain moves the member's workloads away
	return f
}

// moveFixed asks for a planned move of fixed workload w to another of its candidates, so that
// its handover hook runs; it returns the operation, or nil.
func (in *injector) moveFixed(step int, w string) *apiv1.Operation {
	req := in.e.fixedRequest(workloadIndex(w))
	var op *apiv1.Operation
	err := in.e.ask(5*time.Second, 2*time.Second, in.reqID(step, "hookmove"), func(ctx context.Context, c apiv1.ClusterSetServiceClient) error {
		cur, err := c.GetWorkload(ctx, &apiv1.GetRequest{Name: w, Read: &apiv1.ReadOptions{Consistent: true}})
		if err != nil {
			return err
		}
		to := slices.DeleteFunc(slices.Clone(req.Candidates), func(m string) bool { return m == cur.GetMember() })
		if len(to) == 0 {
			return status.Error(codes.FailedPrecondition, "no other candidate")
		}
		op, err = c.MoveWorkload(ctx, &apiv1.MoveWorkloadRequest{Name: w, ToMember: to[in.rng.IntN(len(to))]})
		return err
	})
	if err != nil {
		in.tl.logf("    move %s for its hook: %v", w, err)
		return nil
	}
	return op
}

// hookFail makes the handover hook fail for a while and moves a fixed workload so that it runs.
func (in *injector) hookFail(step int) *fault {
	if !in.free("hooks") {
		return nil
	}
	if err := in.e.hooks.setFail(true); err != nil {
		in.tl.logf("    ! %v", err)
		return nil
	}
	w := workloadName(nWorkloads + in.rng.IntN(nFixed))
	op := in.moveFixed(step, w)
	moved := "no move (see above)"
	if op != nil {
		moved = "operation " + op.GetId()
	}
	f := in.newFault(step, "hook-fail", w, fmt.Sprintf("handover hooks fail; move of %s: %s", w, moved), in.hold(2*time.Second, 5*time.Second), []string{"hooks"}, func() error {
		return in.e.hooks.setFail(false)
	})
	f.rec.workloads = fixedNames()
	return f
}

// leaderKillHook makes the hook slow, moves a fixed workload, and kills the leader with -9 once
// the hook runs. The new leader reruns the handover; the runs must not overlap (hooks.log).
func (in *injector) leaderKillHook(step int) *fault {
	l := in.e.leader()
	if l == nil || !in.free("hooks", "proc:"+l.id) {
		return nil
	}
	if err := in.e.hooks.setSlow(true); err != nil {
		in.tl.logf("    ! %v", err)
		return nil
	}
	w := workloadName(nWorkloads + in.rng.IntN(nFixed))
	op := in.moveFixed(step, w)
	if op == nil || !in.waitHookStart(op.GetId(), 3*time.Second) {
		_ = in.e.hooks.setSlow(false)
		return nil
	}
	// The operation runs on whoever leads now.
	if cur := in.e.leader(); cur != nil {
		l = cur
	}
	if !in.free("proc:" + l.id) {
		_ = in.e.hooks.setSlow(false)
		return nil
	}
	for _, p := range l.proxies() {
		p.setUpstream("")
	}
	l.kill()
	in.e.pids.set(0, l.id)
	f := in.newFault(step, "leader-kill-hook", l.id, fmt.Sprintf("kill -9 leader %s while the handover hook of %s (operation %s) runs", l.id, w, op.GetId()),
		in.hold(time.Second, 3*time.Second), []string{"hooks", "proc:" + l.id}, func() error {
			err := in.e.startMaster(l)
			return errors.Join(err, in.e.hooks.setSlow(false))
		})
	f.rec.masters, f.rec.global, f.rec.workloads = []string{l.id}, true, fixedNames()
	return f
}

// waitHookStart waits until the hook log shows a run of operation op.
func (in *injector) waitHookStart(op string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(in.e.hooks.log); err == nil && strings.Contains(string(b), "start "+op+" ") {
			return true
		}
		time.Sleep(50 * time.Millisecond) // the poll of the hook log
	}
	return false
}

// ecxErrors makes a fraction of a member's REST answers errors, as HTTP 500 or as HTTP 200 with
// a non-zero result.code (ecxsim error styles).
func (in *injector) ecxErrors(step int) *fault {
	mb := in.pick(memberNames())
	if !in.free("ecx:" + mb) {
		return nil
	}
	style := []string{"http", "envelope"}[in.rng.IntN(2)]
	rate := 0.3 + 0.7*in.rng.Float64()
	if in.rng.IntN(3) == 0 {
		rate = 1
	}
	base := "/sim/v1/clusters/" + mb
	if err := errors.Join(in.e.simCall("POST", base+"/error-style", map[string]string{"style": style}, nil),
		in.e.simCall("POST", base+"/errors", map[string]float64{"rate": rate}, nil)); err != nil {
		in.tl.logf("    ! %v", err)
		return nil
	}
	how := "HTTP 500"
	if style == "envelope" {
		how = "HTTP 200 with result.code 5"
	}
	f := in.newFault(step, "ecx-errors", mb, fmt.Sprintf("%.0f%% of member %s's REST answers are errors (%s)", rate*100, mb, how),
		in.hold(time.Second, 4*time.Second), []string{"ecx:" + mb}, func() error {
			return errors.Join(in.e.simCall("POST", base+"/errors", map[string]float64{"rate": 0}, nil),
				in.e.simCall("POST", base+"/error-style", map[string]string{"style": "http"}, nil))
		})
	f.rec.members = []string{mb}
	return f
}
