package fsm_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cset-project/cset/fsm"
	"github.com/cset-project/cset/fsm/fsmtest"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
)

// gen draws commands over small name pools, so that most hit existing objects and many break
// a rule (unknown references, bad names and addresses, guards), as a long-lived cluster would.
type gen struct {
	r    *rand.Rand
	snap []byte // a snapshot for RestoreState commands, set by the caller
}

func (g *gen) pick(s ...string) string { return s[g.r.IntN(len(s))] }
func (g *gen) member() string          { return g.pick("a", "b", "c", "d", "Bad_Name") }
func (g *gen) workload() string        { return g.pick("w1", "w2", "w3", "w4", "-w") }
func (g *gen) op() string              { return g.pick("o1", "o2", "o3", "o4", "o5", "") }
func (g *gen) status() string          { return g.pick("Online", "Offline", "Online Failure", "Online Pending") }

func (g *gen) memberMsg() *fsmv1.Member {
	m := fsmtest.Member(g.member())
	m.FaultDomain = g.pick("", "", "f1", "f2", "f9")
	m.Capacity = int64(g.r.IntN(5)) - 1
	m.Labels["n"] = fmt.Sprint(g.r.IntN(3))
	if g.r.IntN(8) == 0 {
		m.Servers[1].Url = "ftp://bad"
	}
	return m
}

func (g *gen) workloadMsg() *fsmv1.Workload {
	var cands []string
	for _, c := range []string{"a", "b", "c", "d"} {
		if g.r.IntN(2) == 0 {
			cands = append(cands, c)
		}
	}
	w := fsmtest.Workload(g.workload(), cands...)
	w.AvailabilitySet = g.pick("", "", "s1", "s9")
	w.Desired = g.pick("online", "offline", "")
	if g.r.IntN(4) == 0 { // one ECX group claimed by several workloads: ownership must be decided the same everywhere
		w.Group = "g-shared"
	}
	if g.r.IntN(6) == 0 { // several bad addresses: the joined message must not depend on map order
		for c := range w.Addresses {
			w.Addresses[c].Addresses = []string{"not-an-ip-" + c}
		}
	}
	return w
}

func (g *gen) placement() *fsmv1.Placement {
	if g.r.IntN(5) == 0 {
		return &fsmv1.Placement{}
	}
	m := g.member()
	return &fsmv1.Placement{Member: m, Server: m + "-" + g.pick("1", "2"), Status: g.status()}
}

func (g *gen) command() proto.Message {
	switch g.r.IntN(25) {
	case 0:
		return &fsmv1.SetClusterSetCommand{ClusterSet: &fsmv1.ClusterSet{Name: "prod", Zone: g.pick("cset.example.com", "other.example.org.", "bad..zone"), TtlSeconds: uint32(g.r.IntN(3) * 30)}}
	case 1, 2:
		return &fsmv1.UpsertMemberCommand{Member: g.memberMsg(), CreateOnly: g.r.IntN(3) == 0, KeepPassword: g.r.IntN(2) == 0}
	case 3:
		return &fsmv1.RemoveMemberCommand{Name: g.member(), Force: g.r.IntN(2) == 0, FenceFirst: g.r.IntN(3) > 0, Finalize: g.r.IntN(3) == 0}
	case 4:
		return &fsmv1.SetMemberAdminCommand{Name: g.member(), Admin: g.pick(fsm.AdminActive, fsm.AdminDraining, fsm.AdminDisabled, "x")}
	case 5:
		return &fsmv1.SetMemberHealthCommand{Name: g.member(), Health: g.pick(fsm.HealthUp, fsm.HealthDown, fsm.HealthDegraded, "x"), Reason: g.pick("", "poll")}
	case 6, 7, 8:
		return &fsmv1.UpsertWorkloadCommand{Workload: g.workloadMsg(), CreateOnly: g.r.IntN(4) == 0}
	case 9:
		return &fsmv1.RemoveWorkloadCommand{Name: g.workload()}
	case 10:
		return &fsmv1.SetWorkloadDesiredCommand{Name: g.workload(), Desired: g.pick("online", "offline", "x")}
	case 11:
		return &fsmv1.UpsertFaultDomainCommand{FaultDomain: fsmtest.FaultDomain(g.pick("f1", "f2", "F3")), Members: []string{g.member()}[:g.r.IntN(2)]}
	case 12:
		return &fsmv1.RemoveFaultDomainCommand{Name: g.pick("f1", "f2")}
	case 13:
		return &fsmv1.UpsertAvailabilitySetCommand{AvailabilitySet: fsmtest.AvailabilitySet(g.pick("s1", "s2"), g.r.IntN(2) == 0)}
	case 14:
		return &fsmv1.RemoveAvailabilitySetCommand{Name: g.pick("s1", "s2")}
	case 15:
		if g.r.IntN(2) == 0 {
			return &fsmv1.RemoveMasterCommand{Id: g.pick("m1", "m2")}
		}
		return &fsmv1.RegisterMasterCommand{Master: fsmtest.Master(g.pick("m1", "m2", ""))}
	case 16, 17:
		var obs []*fsmv1.MemberObservation
		for range g.r.IntN(3) + 1 {
			o := &fsmv1.MemberObservation{Member: g.member(), Health: g.pick("", fsm.HealthUp, fsm.HealthUnreachable)}
			if g.r.IntN(2) == 0 {
				o.GroupsSet = true
				for _, w := range []string{"w1", "w2", "w3"} {
					if g.r.IntN(2) == 0 {
						o.Groups = append(o.Groups, &fsmv1.ObservedGroup{Name: "g-" + w, Status: g.status(), Current: o.Member + "-" + g.pick("1", "2", "")})
					}
				}
			}
			obs = append(obs, o)
		}
		return &fsmv1.ObservationBatchCommand{Members: obs}
	case 18:
		return &fsmv1.SetPlacementCommand{Workload: g.workload(), Placement: g.placement()}
	case 19:
		op := fsmtest.Operation(g.op(), g.workload(), g.member(), g.pick("a", "b", ""))
		op.Force = g.r.IntN(3) == 0
		return &fsmv1.StartOperationCommand{Operation: op}
	case 20:
		var hook *fsmv1.HookResult
		if g.r.IntN(2) == 0 {
			hook = &fsmv1.HookResult{Hook: "/h", ExitCode: int32(g.r.IntN(2)), OutputTail: "a\nb"}
		}
		return &fsmv1.AdvanceOperationCommand{Id: g.op(), Phase: g.pick("", fsm.PhaseFencing, fsm.PhaseStarting), Attempts: uint32(g.r.IntN(3)), Hook: hook, TriedMember: g.pick("", "a")}
	case 21:
		return &fsmv1.FinishOperationCommand{Id: g.op(), Success: g.r.IntN(2) == 0, Placement: g.placement()}
	case 22:
		if g.r.IntN(3) == 0 && g.snap != nil {
			return &fsmv1.RestoreStateCommand{Snapshot: g.snap}
		}
		return &fsmv1.AppendEventsCommand{Events: []*fsmv1.Event{{Kind: "action", Workload: g.workload(), Message: "x"}}}
	case 23:
		return &fsmv1.ApplyDeclarationCommand{Members: []*fsmv1.Member{g.memberMsg()}, Workloads: []*fsmv1.Workload{g.workloadMsg(), g.workloadMsg()}}
	default:
		d := &fsmv1.ApplyDeclarationCommand{Members: []*fsmv1.Member{g.memberMsg()}}
		if g.r.IntN(2) == 0 {
			d = &fsmv1.ApplyDeclarationCommand{Workloads: []*fsmv1.Workload{g.workloadMsg()}}
		}
		return &fsmv1.DeclareCommand{Declaration: d, Prune: g.r.IntN(4) == 0, Force: g.r.IntN(2) == 0}
	}
}

// entry draws one command wrapped in an entry, with a request id from a small pool now and then
// (so retries collide) and a leader time that moves on with the index.
func (g *gen) entry(t testing.TB, idx uint64) *raft.Log {
	e := fsmtest.Entry(t, g.command())
	switch g.r.IntN(12) {
	case 0, 1, 2:
		e.RequestId = fmt.Sprintf("req-%d", idx)
	case 3: // a retry of a recent request, usually with another command: the first outcome wins
		e.RequestId = fmt.Sprintf("req-%d", idx-uint64(g.r.IntN(min(int(idx), 30))))
	}
	return fsmtest.MakeLog(t, idx, e)
}

// describe prints a result with the plan it points to, for comparing results.
func describe(r *fsm.Result) string {
	if r == nil {
		return "<nil>"
	}
	out := fmt.Sprintf("index %d err %v duplicate %v", r.Index, r.Err, r.Duplicate)
	if r.Plan != nil {
		out += fmt.Sprintf(" plan %+v", *r.Plan)
	}
	for _, b := range r.Batch {
		out += " [" + describe(b) + "]"
	}
	return out
}

func writeSnapshot(t testing.TB, f *fsm.FSM) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := f.WriteSnapshot(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestFSM_Determinism applies one long random sequence to two FSMs (and, from the middle on,
// to a third restored from a snapshot) and requires the same results and snapshot bytes.
func TestFSM_Determinism(t *testing.T) {
	t.Parallel()
	const n = 2000
	for _, seed := range []uint64{1, 2} {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			t.Parallel()
			g := &gen{r: rand.New(rand.NewPCG(seed, 42))}
			a, b := fsm.New(nil), fsm.New(nil)
			var c *fsm.FSM
			var failures, duplicates int
			succeeded := map[string]bool{}
			for idx := uint64(1); idx <= n; idx++ {
				l := g.entry(t, idx)
				ra, rb := a.Apply(l).(*fsm.Result), b.Apply(l).(*fsm.Result)
				if describe(ra) != describe(rb) {
					t.Fatalf("index %d: results differ: %v vs %v", idx, ra, rb)
				}
				if c != nil {
					if rc := c.Apply(l).(*fsm.Result); describe(ra) != describe(rc) {
						t.Fatalf("index %d: restored FSM result %v, want %v", idx, rc, ra)
					}
				}
				if ra.Err != nil {
					failures++
				} else if e, err := fsm.Decode(l.Data); err == nil && !ra.Duplicate {
					succeeded[commandName(e)] = true
				}
				if ra.Duplicate {
					duplicates++
				}
				switch idx {
				case n / 3:
					g.snap = writeSnapshot(t, a)
				case n / 2:
					c = fsm.New(nil)
					restore(t, c, snapshotBytes(t, b))
				}
			}
			sa, sb, sc := writeSnapshot(t, a), writeSnapshot(t, b), writeSnapshot(t, c)
			if !bytes.Equal(sa, sb) || !bytes.Equal(sa, sc) {
				diffProto(t, "data", a.Data(), b.Data())
				t.Fatalf("snapshots differ after %d entries (%d/%d/%d bytes)", n, len(sa), len(sb), len(sc))
			}
			d := a.Data()
			t.Logf("%d entries: %d failed, %d duplicates; %d members, %d workloads, %d operations, serial %d",
				n, failures, duplicates, len(d.Members), len(d.Workloads), len(d.Operations), d.DNSSerial)
			if failures == 0 || duplicates == 0 {
				t.Errorf("the sequence does not exercise failures and retries: %d failures, %d duplicates", failures, duplicates)
			}
			for _, fd := range fsmtest.CommandFields() {
				if _, generated := genCommands[string(fd.Name())]; generated && !succeeded[string(fd.Name())] {
					t.Errorf("no %s succeeded in the sequence", fd.Name())
				}
			}
		})
	}
}

// genCommands are the commands gen draws.
var genCommands = map[string]struct{}{}

func init() {
	g := &gen{r: rand.New(rand.NewPCG(0, 0)), snap: []byte("x")}
	for range 2000 {
		genCommands[string(fsmtest.CommandField(g.command()).Name())] = struct{}{}
	}
}

// commandName returns the name of e's oneof case, "" when it has none.
func commandName(e *fsmv1.LogEntry) string {
	m := e.ProtoReflect()
	if fd := m.WhichOneof(m.Descriptor().Oneofs().ByName("command")); fd != nil {
		return string(fd.Name())
	}
	return ""
}
