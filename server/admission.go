package server

import (
	"errors"
	"slices"

	"github.com/cset-project/cset/controller"
	"github.com/cset-project/cset/fsm"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"github.com/cset-project/cset/scheduler"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// admissionStatus maps a refusal of the scheduler's predicates (or a request the scheduler
// cannot answer) to FailedPrecondition with the scheduler's words.
func admissionStatus(err error) error {
	var ae *controller.AdmissionError
	if errors.As(err, &ae) || errors.Is(err, scheduler.ErrInvalidRequest) || errors.Is(err, scheduler.ErrUnknownWorkload) {
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	return err
}

// checkGroupOwnership refuses, early and with both names, workloads that would share an ECX
// group in a member with another workload: the registered ones (registered(g) returns those of
// group g), and the ones before them in ws (the entries of one apply file, applied in order).
// The FSM enforces the same rule.
func checkGroupOwnership(registered func(group string) []*fsmv1.Workload, ws []*fsmv1.Workload) error {
	// The entries seen so far: the last of each name, and by group every name an entry declared
	// with that group (the last entry of the name decides whether it still claims the group).
	// Each entry costs the claims on its own group, not the entries before it.
	declared := make(map[string]*fsmv1.Workload, len(ws))
	declaredIn := map[string][]string{}
	for _, w := range ws {
		claims := map[string]*fsmv1.Workload{}
		for _, o := range registered(w.Group) {
			if _, replaced := declared[o.Name]; !replaced { // an earlier entry replaces the registered workload of its name
				claims[o.Name] = o
			}
		}
		for _, n := range declaredIn[w.Group] {
			if o := declared[n]; o.Group == w.Group {
				claims[n] = o
			}
		}
		for _, other := range sortedValuesOf(claims) {
			if other.Name == w.Name {
				continue
			}
			if m := firstShared(w.Candidates, other.Candidates); m != "" {
				where := "registered workload"
				if declared[other.Name] != nil {
					where = "workload declared earlier in the same request"
				}
				return status.Errorf(codes.AlreadyExists, "workload %q: ECX group %q on member %s already belongs to %s %q: in a member, an ECX group belongs to one workload; "+
					"give %q another group or leave %s out of its candidates", w.Name, w.Group, m, where, other.Name, w.Name, m)
			}
		}
		if prev := declared[w.Name]; prev == nil || prev.Group != w.Group {
			declaredIn[w.Group] = append(declaredIn[w.Group], w.Name)
		}
		declared[w.Name] = w
	}
	return nil
}

// groupsOf returns a lookup of the workloads of a group in d, for checkGroupOwnership.
func groupsOf(d *fsm.Data) func(string) []*fsmv1.Workload {
	byGroup := map[string][]*fsmv1.Workload{}
	for _, w := range d.Workloads {
		byGroup[w.Group] = append(byGroup[w.Group], w)
	}
	return func(g string) []*fsmv1.Workload { return byGroup[g] }
}

// firstShared returns the first member of a (in its order) that b also lists.
func firstShared(a, b []string) string {
	for _, m := range a {
		if slices.Contains(b, m) {
			return m
		}
	}
	return ""
}
