package fsm

import (
	"fmt"
	"slices"
	"strings"

	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The kinds of object a declaration holds, as a Change names them.
const (
	KindSet             = "set"
	KindFaultDomain     = "fault_domain"
	KindAvailabilitySet = "availability_set"
	KindMember          = "member"
	KindWorkload        = "workload"
)

// The actions of a Change.
const (
	ActionCreate    = "create"
	ActionUpdate    = "update"
	ActionDelete    = "delete"
	ActionUnchanged = "unchanged"
)

// Change is what applying a declaration does to one object.
type Change struct {
	Kind   string // KindSet, KindMember, ...
	Name   string
	Action string // ActionCreate, ActionUpdate, ActionDelete or ActionUnchanged
	// Fields are, for an update, the declared fields that change, by their key in the
	// declaration file (never a value: a new password is just "password").
	Fields []string
	// Note says what else the change means ("" when nothing), e.g. that a member is marked
	// for removal rather than deleted at once.
	Note string
}

// Plan is what applying a declaration does, one Change per object in the order they apply:
// the set, fault domains, availability sets, members and workloads as declared; then, with
// prune, the deletions of workloads (by name, dependents before their dependencies), members,
// fault domains and availability sets (by name).
type Plan struct {
	Changes []Change
}

// Changed reports whether applying the plan changes the state.
func (p *Plan) Changed() bool {
	return p != nil && slices.ContainsFunc(p.Changes, func(c Change) bool { return c.Action != ActionUnchanged })
}

// PlanDeclaration returns what a DeclareCommand would do if it were applied now, with the
// applied index of the state it planned against, or the error its apply would return. It runs
// the command's own apply (declare) on a copy of the state, so a dry run shows exactly what the
// apply does to the same state. It changes nothing; safe for concurrent use.
func (f *FSM) PlanDeclaration(c *fsmv1.DeclareCommand) (*Plan, uint64, error) {
	// The plan runs on a fork of the state, which shares the records that it does not change
	// with the state, so the state must not change meanwhile: the read lock is held throughout
	// (the plan costs the declaration, not the state).
	f.mu.RLock()
	defer f.mu.RUnlock()
	s := f.s.fork()
	a := &applier{s: s, index: s.lastIndex + 1, logger: hclog.NewNullLogger()}
	p, err := a.declare(c)
	return p, s.lastIndex, err
}

// RequestIndex returns the index at which the entry carrying request id was applied, while the
// request table still holds it (a retry of it would be a duplicate).
func (f *FSM) RequestIndex(id string) (uint64, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	rec, ok := f.s.requests[id]
	return rec.GetIndex(), ok
}

// applyDeclare applies a declaration to a copy of the state and keeps the copy only when every
// object applied: all or nothing. The plan it followed is the entry's result.
func (a *applier) applyDeclare(c *fsmv1.DeclareCommand) error {
	sub := &applier{s: a.s.fork(), index: a.index, at: a.at, actor: a.actor, logger: a.logger}
	p, err := sub.declare(c)
	if err != nil {
		return err
	}
	a.plan = p
	if p.Changed() {
		sub.s.adopt()
		a.s = sub.s
	}
	return nil
}

// declare applies c to a.s, which the caller owns (a copy), and returns the plan it followed.
func (a *applier) declare(c *fsmv1.DeclareCommand) (*Plan, error) {
	d := c.GetDeclaration()
	p := &Plan{}
	if err := a.declareSetAndMembers(p, d); err != nil {
		return nil, err
	}
	// With prune, the workloads the file does not name are set aside while the declared ones
	// are applied, so that a declared workload may take over the ECX group of one it replaces
	// (a rename) and drop a dependency on one that goes; they are unregistered after.
	var gone map[string]*fsmv1.Workload
	if c.GetPrune() {
		var err error
		if gone, err = a.setAsideWorkloads(d, c.GetForce()); err != nil {
			return nil, err
		}
	}
	// Dependencies first, so that a file may name a workload before what it depends on.
	if err := declaredCycle(a.s.workloads.m, d.GetWorkloads()); err != nil {
		return nil, err
	}
	for _, w := range dependencyOrder(d.GetWorkloads()) {
		err := declareObject(a, p, KindWorkload, w.GetName(), mapSlot(a.s.workloads, w.GetName()), func() error {
			return a.applyUpsertWorkload(&fsmv1.UpsertWorkloadCommand{Workload: w})
		})
		if err != nil {
			return nil, err
		}
	}
	if c.GetPrune() {
		if err := a.pruneWorkloads(p, gone); err != nil {
			return nil, err
		}
		if err := a.prune(p, d, c.GetForce()); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// declareSetAndMembers applies the set, fault domains, availability sets and members of d.
func (a *applier) declareSetAndMembers(p *Plan, d *fsmv1.ApplyDeclarationCommand) error {
	if cs := d.GetClusterSet(); cs != nil {
		err := declareObject(a, p, KindSet, cs.GetName(), setSlot(a.s), func() error {
			return a.applySetClusterSet(&fsmv1.SetClusterSetCommand{ClusterSet: cs})
		})
		if err != nil {
			return err
		}
	}
	for _, fd := range d.GetFaultDomains() {
		err := declareObject(a, p, KindFaultDomain, fd.GetName(), mapSlot(a.s.faultDomains, fd.GetName()), func() error {
			return a.applyUpsertFaultDomain(&fsmv1.UpsertFaultDomainCommand{FaultDomain: fd})
		})
		if err != nil {
			return err
		}
	}
	for _, as := range d.GetAvailabilitySets() {
		err := declareObject(a, p, KindAvailabilitySet, as.GetName(), mapSlot(a.s.availabilitySets, as.GetName()), func() error {
			return a.applyUpsertAvailabilitySet(&fsmv1.UpsertAvailabilitySetCommand{AvailabilitySet: as})
		})
		if err != nil {
			return err
		}
	}
	for _, m := range d.GetMembers() {
		err := declareObject(a, p, KindMember, m.GetName(), mapSlot(a.s.members, m.GetName()), func() error {
			return a.applyUpsertMember(&fsmv1.UpsertMemberCommand{Member: m, KeepPassword: true})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// slot reads and writes the stored object of one name.
type slot[M proto.Message] struct {
	get func() M
	put func(M, bool) // the object, or (zero, false) to delete it
}

func mapSlot[M proto.Message](t *table[M], name string) slot[M] {
	return slot[M]{
		get: func() M { return t.get(name) },
		put: func(v M, ok bool) {
			if ok {
				t.put(name, v)
			} else {
				t.del(name)
			}
		},
	}
}

func setSlot(s *state) slot[*fsmv1.ClusterSet] {
	return slot[*fsmv1.ClusterSet]{
		get: func() *fsmv1.ClusterSet { return s.clusterSet },
		put: func(v *fsmv1.ClusterSet, _ bool) { s.clusterSet = v },
	}
}

// declareObject records the change that upsert makes to one object. It runs upsert once
// quietly to see what it would store, puts the object back as it was, and then, unless the
// declared fields are all the same (unchanged: no event, no new object), runs it for real, with
// the events and stamps of the command it stands for.
func declareObject[M proto.Message](a *applier, p *Plan, kind, name string, sl slot[M], upsert func() error) error {
	old := sl.get()
	existed := old.ProtoReflect().IsValid()
	serial := a.s.dnsSerial
	a.quiet = true
	err := upsert()
	a.quiet = false
	if err != nil {
		return err
	}
	next := sl.get()
	sl.put(old, existed)
	a.s.dnsSerial = serial
	ch := Change{Kind: kind, Name: name, Action: ActionCreate}
	if existed {
		ch.Action, ch.Fields = ActionUpdate, changedFields(kind, old, next)
		if len(ch.Fields) == 0 {
			ch.Action = ActionUnchanged
			p.Changes = append(p.Changes, ch)
			return nil
		}
	}
	p.Changes = append(p.Changes, ch)
	return upsert()
}

// stampedFields are the fields the state machine and the controller stamp, which a declaration
// does not carry: they are never compared.
var stampedFields = map[string][]string{
	KindMember:   {"health", "health_since_unix_nano", "groups", "health_reason", "removal", "observed_index"},
	KindWorkload: {"placement", "offline_since_unix_nano", "registered_index"},
}

// fileKeys names the fields whose key in the declaration file is not the field's name.
var fileKeys = map[string]string{
	"ttl_seconds": "ttl", "negative_ttl_seconds": "negative_ttl", "hard": "soft",
	"heartbeat_timeout_ms": "heartbeat_timeout", "hook_timeout_seconds": "hook_timeout",
}

// changedFields returns the declared fields of kind that differ between old and next, by their
// key in the declaration file, in field order.
func changedFields(kind string, old, next proto.Message) []string {
	o, n := declaredPart(kind, old), declaredPart(kind, next)
	var out []string
	fields := o.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fieldEqual(o, n, fd) {
			continue
		}
		key := string(fd.Name())
		if k, ok := fileKeys[key]; ok {
			key = k
		}
		out = append(out, key)
	}
	return out
}

// declaredPart returns a copy of m without the fields the state machine stamps.
func declaredPart(kind string, m proto.Message) protoreflect.Message {
	c := proto.Clone(m)
	r := c.ProtoReflect()
	for _, name := range stampedFields[kind] {
		r.Clear(r.Descriptor().Fields().ByName(protoreflect.Name(name)))
	}
	if mem, ok := c.(*fsmv1.Member); ok {
		for _, s := range mem.Servers {
			s.Status = "" // observed
		}
	}
	return r
}

// fieldEqual compares one field of two messages of the same type.
func fieldEqual(a, b protoreflect.Message, fd protoreflect.FieldDescriptor) bool {
	x, y := a.New(), b.New()
	if a.Has(fd) {
		x.Set(fd, a.Get(fd))
	}
	if b.Has(fd) {
		y.Set(fd, b.Get(fd))
	}
	return proto.Equal(x.Interface(), y.Interface())
}

// prune deletes the members, fault domains and availability sets that d does not name, in
// that order, so that each deletion sees what the earlier ones left (the workloads d does not
// name are gone already: pruneWorkloads). Something still in use is refused unless force; a reference from
// the declaration to something it does not declare is refused always (with prune the file is
// the whole set).
func (a *applier) prune(p *Plan, d *fsmv1.ApplyDeclarationCommand, force bool) error {
	for _, name := range undeclared(a.s.members.m, d.GetMembers()) {
		if err := a.pruneMember(p, name, force); err != nil {
			return err
		}
	}
	for _, name := range undeclared(a.s.faultDomains.m, d.GetFaultDomains()) {
		if err := a.pruneFaultDomain(p, name); err != nil {
			return err
		}
	}
	for _, name := range undeclared(a.s.availabilitySets.m, d.GetAvailabilitySets()) {
		if users := a.s.availabilitySetUsers(name); len(users) > 0 {
			return invalidf("--prune would delete availability set %q, which the file does not declare, but workloads %s that the file keeps use it: "+
				"add it to availability_sets or take it out of those workloads", name, strings.Join(users, ", "))
		}
		if err := a.applyRemoveAvailabilitySet(&fsmv1.RemoveAvailabilitySetCommand{Name: name}); err != nil {
			return err
		}
		p.Changes = append(p.Changes, Change{Kind: KindAvailabilitySet, Name: name, Action: ActionDelete})
	}
	return nil
}

// undeclared returns the names in stored that declared does not hold, sorted.
func undeclared[M, D interface{ GetName() string }](stored map[string]M, declared []D) []string {
	named := map[string]bool{}
	for _, o := range declared {
		named[o.GetName()] = true
	}
	var out []string
	for _, name := range sortedKeys(stored) {
		if !named[name] {
			out = append(out, name)
		}
	}
	return out
}

// setAsideWorkloads takes the workloads d does not name out of the state and returns them,
// refusing (unless force) one that is placed where its group may run.
func (a *applier) setAsideWorkloads(d *fsmv1.ApplyDeclarationCommand, force bool) (map[string]*fsmv1.Workload, error) {
	gone := map[string]*fsmv1.Workload{}
	for _, name := range undeclared(a.s.workloads.m, d.GetWorkloads()) {
		w := a.s.workloads.get(name)
		if pl := w.GetPlacement(); pl != nil && MayRun(pl.Status) && !force {
			return nil, preconditionf("--prune would unregister workload %q, which the file does not declare, but it is placed on %s (ECX status %s): "+
				"unregistering it leaves its group running there without cset and takes its DNS name away. "+
				"Keep it in the file, stop it first ('csetctl workload stop %s'), or apply with --force", name, pl.Member, pl.Status, name)
		}
		gone[name] = w
		a.s.workloads.del(name)
	}
	return gone, nil
}

// pruneWorkloads puts the workloads set aside back and unregisters them as 'workload
// unregister' does, dependents before their dependencies.
func (a *applier) pruneWorkloads(p *Plan, gone map[string]*fsmv1.Workload) error {
	for name, w := range gone {
		a.s.workloads.put(name, w)
	}
	for len(gone) > 0 {
		next := ""
		for _, name := range sortedKeys(gone) {
			if !slices.ContainsFunc(sortedValues(gone), func(o *fsmv1.Workload) bool { return slices.Contains(o.DependsOn, name) }) {
				next = name
				break
			}
		}
		if next == "" {
			next = sortedKeys(gone)[0] // a cycle cannot be registered: applyRemoveWorkload explains what holds it
		}
		if err := a.applyRemoveWorkload(&fsmv1.RemoveWorkloadCommand{Name: next}); err != nil {
			return err
		}
		delete(gone, next)
		p.Changes = append(p.Changes, Change{Kind: KindWorkload, Name: next, Action: ActionDelete})
	}
	return nil
}

func (a *applier) pruneMember(p *Plan, name string, force bool) error {
	if users := a.s.workloadsNaming(name); len(users) > 0 {
		return invalidf("--prune would delete member %q, which the file does not declare, but it is a candidate of workloads %s that the file keeps: "+
			"add it to members or take it out of their candidates", name, strings.Join(users, ", "))
	}
	m := a.s.members.get(name)
	if busy := a.s.mayRunOn(m); len(busy) > 0 && !force {
		return preconditionf("--prune would delete member %q, which the file does not declare, but groups of workloads %s may still run there: "+
			"keep it in the file until they are moved off it, or apply with --force to remove it as 'csetctl member remove %s --force' does "+
			"(its workloads are moved off it, or stopped, under the fence before it is deleted)", name, strings.Join(busy, ", "), name)
	}
	if err := a.applyRemoveMember(&fsmv1.RemoveMemberCommand{Name: name, FenceFirst: true, Force: force}); err != nil {
		return err
	}
	ch := Change{Kind: KindMember, Name: name, Action: ActionDelete}
	if m := a.s.members.get(name); m != nil {
		ch.Note = fmt.Sprintf("marked for removal (%s): it is deleted when no cset group runs there", m.Removal)
	}
	p.Changes = append(p.Changes, ch)
	return nil
}

func (a *applier) pruneFaultDomain(p *Plan, name string) error {
	for _, m := range sortedValues(a.s.members.m) {
		if m.FaultDomain != name {
			continue
		}
		if m.Removal != "" {
			return preconditionf("--prune would delete fault domain %q, but it still holds member %s, which is being removed: "+
				"keep the fault domain in the file until the member is gone ('csetctl member show %s'), then prune it", name, m.Name, m.Name)
		}
		return invalidf("--prune would delete fault domain %q, which the file does not declare, but member %s that the file keeps is in it: "+
			"add it to fault_domains or move the member to another fault domain", name, m.Name)
	}
	if err := a.applyRemoveFaultDomain(&fsmv1.RemoveFaultDomainCommand{Name: name}); err != nil {
		return err
	}
	p.Changes = append(p.Changes, Change{Kind: KindFaultDomain, Name: name, Action: ActionDelete})
	return nil
}

// availabilitySetUsers returns the workloads in availability set name, sorted.
func (s *state) availabilitySetUsers(name string) []string {
	var out []string
	for _, w := range sortedValues(s.workloads.m) {
		if w.AvailabilitySet == name {
			out = append(out, w.Name)
		}
	}
	return out
}
