package fsm

import (
	"fmt"

	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"
)

// applier applies one entry to a state. Handlers validate deterministically, mutate and return
// nil or an *Error; they never read the clock, randomness or configuration. A handler that
// builds a whole new state (a restore, a declaration applied to a copy) sets a.s to it; the FSM
// then swaps it in.
type applier struct {
	s      *state
	index  uint64
	at     int64 // leader-stamped proposal time
	actor  string
	logger hclog.Logger
	// quiet drops the events of the handlers it calls: a declaration tries an upsert before it
	// knows whether the object changes (declareObject).
	quiet bool
	// plan is what a DeclareCommand did, for the entry's Result.
	plan *Plan
	// workload is the workload an upsert or a desired-state change left, for the entry's
	// Result: the API answers with it, not with a read of the state that a later entry may
	// already have changed.
	workload *fsmv1.Workload
}

func (a *applier) dispatch(e *fsmv1.LogEntry) error {
	switch c := e.GetCommand().(type) {
	case *fsmv1.LogEntry_SetClusterSet:
		return a.applySetClusterSet(c.SetClusterSet)
	case *fsmv1.LogEntry_UpsertMember:
		return a.applyUpsertMember(c.UpsertMember)
	case *fsmv1.LogEntry_RemoveMember:
		return a.applyRemoveMember(c.RemoveMember)
	case *fsmv1.LogEntry_SetMemberAdmin:
		return a.applySetMemberAdmin(c.SetMemberAdmin)
	case *fsmv1.LogEntry_SetMemberHealth:
		return a.applySetMemberHealth(c.SetMemberHealth)
	case *fsmv1.LogEntry_UpsertWorkload:
		return a.answerWorkload(c.UpsertWorkload.GetWorkload().GetName(), a.applyUpsertWorkload(c.UpsertWorkload))
	case *fsmv1.LogEntry_RemoveWorkload:
		return a.applyRemoveWorkload(c.RemoveWorkload)
	case *fsmv1.LogEntry_SetWorkloadDesired:
		return a.answerWorkload(c.SetWorkloadDesired.GetName(), a.applySetWorkloadDesired(c.SetWorkloadDesired))
	case *fsmv1.LogEntry_UpsertFaultDomain:
		return a.applyUpsertFaultDomain(c.UpsertFaultDomain)
	case *fsmv1.LogEntry_RemoveFaultDomain:
		return a.applyRemoveFaultDomain(c.RemoveFaultDomain)
	case *fsmv1.LogEntry_UpsertAvailabilitySet:
		return a.applyUpsertAvailabilitySet(c.UpsertAvailabilitySet)
	case *fsmv1.LogEntry_RemoveAvailabilitySet:
		return a.applyRemoveAvailabilitySet(c.RemoveAvailabilitySet)
	case *fsmv1.LogEntry_RegisterMaster:
		return a.applyRegisterMaster(c.RegisterMaster)
	case *fsmv1.LogEntry_RemoveMaster:
		return a.applyRemoveMaster(c.RemoveMaster)
	case *fsmv1.LogEntry_ObservationBatch:
		return a.applyObservationBatch(c.ObservationBatch)
	case *fsmv1.LogEntry_SetPlacement:
		return a.applySetPlacement(c.SetPlacement)
	case *fsmv1.LogEntry_SetReachability:
		return a.applySetReachability(c.SetReachability)
	case *fsmv1.LogEntry_StartOperation:
		return a.applyStartOperation(c.StartOperation)
	case *fsmv1.LogEntry_AdvanceOperation:
		return a.applyAdvanceOperation(c.AdvanceOperation)
	case *fsmv1.LogEntry_FinishOperation:
		return a.applyFinishOperation(c.FinishOperation)
	case *fsmv1.LogEntry_AppendEvents:
		return a.applyAppendEvents(c.AppendEvents)
	case *fsmv1.LogEntry_ApplyDeclaration:
		return a.applyApplyDeclaration(c.ApplyDeclaration)
	case *fsmv1.LogEntry_Declare:
		return a.applyDeclare(c.Declare)
	case *fsmv1.LogEntry_RestoreState:
		return a.applyRestoreState(c.RestoreState)
	case *fsmv1.LogEntry_Batch:
		// FSM.Apply unpacks a batch at the top level; one nested in a batch is refused.
		return invalidf("a batch cannot contain a batch")
	case *fsmv1.LogEntry_CreateToken:
		return a.applyCreateToken(c.CreateToken)
	case *fsmv1.LogEntry_RevokeToken:
		return a.applyRevokeToken(c.RevokeToken)
	case *fsmv1.LogEntry_SetNotifyCursor:
		return a.applySetNotifyCursor(c.SetNotifyCursor)
	case nil:
		if e.GetIgnoreIfUnknown() {
			a.logger.Warn("skipping a log entry with a command this master does not know", "index", a.index)
			return nil
		}
		panic(fmt.Sprintf("fsm: raft index %d holds a command this master does not know: upgrade this master", a.index))
	default:
		panic(fmt.Sprintf("fsm: raft index %d: no handler for %T", a.index, c))
	}
}

// answerWorkload keeps a copy of the workload an entry left for its Result, when it succeeded.
func (a *applier) answerWorkload(name string, err error) error {
	if w := a.s.workloads.get(name); err == nil && w != nil {
		a.workload = proto.Clone(w).(*fsmv1.Workload)
	}
	return err
}

// event appends one event stamped with this entry's index, time and actor.
func (a *applier) event(kind, severity, workload, member, op, format string, args ...any) {
	if a.quiet {
		return
	}
	a.s.appendEvent(a.index, a.at, a.actor, &fsmv1.Event{
		Kind: kind, Severity: severity, Workload: workload, Member: member, OperationId: op,
		Message: fmt.Sprintf(format, args...),
	})
}

// touchDNS records that this entry changed data that DNS serves.
func (a *applier) touchDNS() { a.s.dnsSerial = a.index }

func (a *applier) applyAppendEvents(c *fsmv1.AppendEventsCommand) error {
	for _, e := range c.GetEvents() {
		a.s.appendEvent(a.index, a.at, a.actor, e)
	}
	return nil
}

func (a *applier) applyRestoreState(c *fsmv1.RestoreStateCommand) error {
	ns, err := readSnapshotBytes(c.GetSnapshot())
	if err != nil {
		return invalidf("the snapshot cannot be restored: %v", err)
	}
	// The masters, the tokens and the request table describe the running ring, not the backup:
	// a restore neither locks the operators out nor brings revoked tokens back.
	ns.masters = a.s.masters
	ns.tokens = a.s.tokens
	keepPasswords(ns, a.s)
	ns.requests, ns.requestOrder = a.s.requests, a.s.requestOrder
	ns.events, ns.denials = a.s.events, a.s.denials
	ns.nextEventSeq = a.s.nextEventSeq
	ns.notifyCursors = a.s.notifyCursors // they count the running ring's events
	ns.dnsSerial = a.index
	a.s = ns
	a.event("admin", "warn", "", "", "", "state restored from a snapshot taken at index %d: %d members, %d workloads", ns.lastIndex, ns.members.len(), ns.workloads.len())
	return nil
}

// keepPasswords gives members of a redacted backup the password the running ring holds for the
// same member and user, so a redacted snapshot restores without re-entering every password.
func keepPasswords(restored, running *state) {
	for name, m := range restored.members.m {
		if old := running.members.m[name]; m.Password == "" && old != nil && old.User == m.User {
			m.Password = old.Password
		}
	}
}

// applyApplyDeclaration upserts everything a declaration holds, each object with its event.
// COMPAT(v1): the masters write DeclareCommand since issue 16; this applies older entries.
func (a *applier) applyApplyDeclaration(c *fsmv1.ApplyDeclarationCommand) error {
	sub := &applier{s: a.s.fork(), index: a.index, at: a.at, actor: a.actor, logger: a.logger}
	if cs := c.GetClusterSet(); cs != nil {
		if err := sub.applySetClusterSet(&fsmv1.SetClusterSetCommand{ClusterSet: cs}); err != nil {
			return err
		}
	}
	for _, fd := range c.GetFaultDomains() {
		if err := sub.applyUpsertFaultDomain(&fsmv1.UpsertFaultDomainCommand{FaultDomain: fd}); err != nil {
			return err
		}
	}
	for _, as := range c.GetAvailabilitySets() {
		if err := sub.applyUpsertAvailabilitySet(&fsmv1.UpsertAvailabilitySetCommand{AvailabilitySet: as}); err != nil {
			return err
		}
	}
	for _, m := range c.GetMembers() {
		if err := sub.applyUpsertMember(&fsmv1.UpsertMemberCommand{Member: m, KeepPassword: true}); err != nil {
			return err
		}
	}
	for _, w := range c.GetWorkloads() {
		if err := sub.applyUpsertWorkload(&fsmv1.UpsertWorkloadCommand{Workload: w}); err != nil {
			return err
		}
	}
	sub.s.adopt()
	a.s = sub.s
	return nil
}
