package controller

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cset-project/cset/ecxclient"
	"github.com/cset-project/cset/fsm"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
)

// stopRecorder answers every read as Offline and records on which member a stop was asked for
// (StopGroupAndWait reads the group first, as ecxclient does).
type stopRecorder struct {
	recordingECX
	member string
	log    *stopLog
}

type stopLog struct {
	mu      sync.Mutex
	members []string
}

func (s *stopRecorder) StopGroupAndWait(ctx context.Context, g string, timeout time.Duration) (ecxclient.Group, error) {
	s.log.mu.Lock()
	s.log.members = append(s.log.members, s.member)
	s.log.mu.Unlock()
	return s.recordingECX.StopGroupAndWait(ctx, g, timeout)
}

// staleWorld: w11 is registered again at index 20 with candidates e2, e3; e2's last recorded
// poll started at index 10, before that, and saw nothing of w11 (it was started there just
// before it was unregistered: chaos seed 5 on a59126c); e3 was polled at 25.
func staleWorld() (*fsm.Data, *fsmv1.Workload) {
	up := func(name string, observed uint64) *fsmv1.Member {
		return &fsmv1.Member{Name: name, Health: fsm.HealthUp, Admin: fsm.AdminActive, ObservedIndex: observed,
			Servers: []*fsmv1.MemberServer{{Name: name + "-s1", Url: "http://127.0.0.1:1", Status: "Online"}}}
	}
	w := &fsmv1.Workload{Name: "w11", Group: "w11", Candidates: []string{"e2", "e3"}, Desired: fsm.DesiredOnline, AutoFailover: true, RegisteredIndex: 20}
	d := &fsm.Data{
		Members:   map[string]*fsmv1.Member{"e2": up("e2", 10), "e3": up("e3", 25)},
		Workloads: map[string]*fsmv1.Workload{"w11": w}, AppliedIndex: 30,
	}
	return d, w
}

// TestFencing_ReadsACandidateNotPolledSinceTheRegistration: an operator's move of the
// unplaced w11 to e3 fenced nothing, because the state showed w11 running nowhere, and w11 ran
// on e2 and e3 for 1.3 s. The fencing phase now reads (and stops) the group on every candidate
// whose last poll is older than the registration.
func TestFencing_ReadsACandidateNotPolledSinceTheRegistration(t *testing.T) {
	t.Parallel()
	d, w := staleWorld()
	log := &stopLog{}
	c := New(defaultConfig(), Deps{State: fakeState{d}, Committer: &recordingCommitter{}, Fence: openFence{},
		Clients: func(m *fsmv1.Member, _ time.Duration) (ECX, error) {
			return &stopRecorder{member: m.Name, log: log}, nil
		}})
	op := &fsmv1.Operation{Id: "op1", Workload: "w11", Reason: fsm.ReasonPlanned, Phase: fsm.PhaseFencing, TargetMember: "e3", TargetServer: "e3-s1"}
	if err := c.phaseFencing(t.Context(), d, w, op); err != nil {
		t.Fatal(err)
	}
	if len(log.members) != 1 || log.members[0] != "e2" {
		t.Fatalf("stops asked on %v, want e2 (not polled since w11 was registered) and not the target e3", log.members)
	}

	// Polled since: nothing to read there.
	d.Members["e2"].ObservedIndex = 21
	log.members = nil
	if err := c.phaseFencing(t.Context(), d, w, op); err != nil {
		t.Fatal(err)
	}
	if len(log.members) != 0 {
		t.Fatalf("stops asked on %v, want none", log.members)
	}
}

// TestPlan_NoStartBeforeEveryCandidateWasPolledSinceTheRegistration: the automatic start of an
// unplaced workload waits for a poll of every candidate newer than its registration.
func TestPlan_NoStartBeforeEveryCandidateWasPolledSinceTheRegistration(t *testing.T) {
	t.Parallel()
	d, w := staleWorld()
	c := New(defaultConfig(), Deps{})
	now := time.Unix(1_700_000_000, 0)
	if op := c.plan(d, w, where(d, w), now); op != nil {
		t.Fatalf("plan %v, want no start while e2's observation predates the registration", op)
	}
	d.Members["e2"].ObservedIndex = 20
	if op := c.plan(d, w, where(d, w), now); op.GetReason() != fsm.ReasonStart {
		t.Fatalf("plan %v, want a start once every candidate was polled since", op)
	}
}

// TestChanges_RecordAPollNewerThanARegistration: a poll of a member that a workload registered
// since its last recorded poll names is committed even when nothing else changed, so that the
// workload's operations and start need not wait for the member's groups to change.
func TestChanges_RecordAPollNewerThanARegistration(t *testing.T) {
	t.Parallel()
	d, _ := staleWorld()
	c := New(defaultConfig(), Deps{})
	obs := map[string]*observation{
		"e2": {member: "e2", reached: true, servers: []*fsmv1.MemberServer{{Name: "e2-s1", Status: "Online"}}},
		"e3": {member: "e3", reached: true, servers: []*fsmv1.MemberServer{{Name: "e3-s1", Status: "Online"}}},
	}
	batch := c.changes(t.Context(), d, obs)
	if len(batch.GetMembers()) != 1 || batch.GetMembers()[0].GetMember() != "e2" || batch.GetMembers()[0].GetAsOfIndex() != 30 {
		t.Fatalf("batch %v, want e2 alone, as of index 30", batch)
	}
	d.Members["e2"].ObservedIndex = 30
	if batch := c.changes(t.Context(), d, obs); batch != nil {
		t.Fatalf("batch %v, want none: nothing changed and every poll is recorded since the registration", batch)
	}
}
