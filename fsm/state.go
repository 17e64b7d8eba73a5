package fsm

import (
	"maps"
	"slices"
	"sort"

	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"google.golang.org/protobuf/proto"
)

// state is the whole replicated state. It is only touched under FSM.mu.
type state struct {
	clusterSet       *fsmv1.ClusterSet
	members          *table[*fsmv1.Member]
	faultDomains     *table[*fsmv1.FaultDomain]
	availabilitySets *table[*fsmv1.AvailabilitySet]
	workloads        *table[*fsmv1.Workload]
	masters          *table[*fsmv1.Master]
	operations       *table[*fsmv1.Operation]
	tokens           map[string]*fsmv1.Token // by name; never in Data
	events           []*fsmv1.Event          // oldest first, at most MaxEvents; never KindDenied
	denials          []*fsmv1.Event          // KindDenied events, oldest first, at most MaxDenialEvents
	requests         map[string]*fsmv1.RequestRecord
	requestOrder     []string // FIFO of request ids for bounded de-duplication
	lastIndex        uint64
	dnsSerial        uint64
	nextEventSeq     uint64
	notifyCursors    map[string]uint64 // sink -> seq of the last event delivered (apply_notify.go)
}

func newState() *state {
	return &state{
		members:          newTable[*fsmv1.Member](),
		faultDomains:     newTable[*fsmv1.FaultDomain](),
		availabilitySets: newTable[*fsmv1.AvailabilitySet](),
		workloads:        newTable[*fsmv1.Workload](),
		masters:          newTable[*fsmv1.Master](),
		operations:       newTable[*fsmv1.Operation](),
		tokens:           map[string]*fsmv1.Token{},
		requests:         map[string]*fsmv1.RequestRecord{},
		nextEventSeq:     1,
		notifyCursors:    map[string]uint64{},
	}
}

// Data is the whole state at one applied index, for readers that need a consistent picture
// (the controller, the DNS index, the API's lists). Maps are keyed by name. It is published by
// FSM.Data and shared by every reader: nothing may change it (Clone gives a private copy).
// Publications share the records that did not change between them.
type Data struct {
	ClusterSet       *fsmv1.ClusterSet
	Members          map[string]*fsmv1.Member
	FaultDomains     map[string]*fsmv1.FaultDomain
	AvailabilitySets map[string]*fsmv1.AvailabilitySet
	Workloads        map[string]*fsmv1.Workload
	Masters          map[string]*fsmv1.Master
	Operations       map[string]*fsmv1.Operation
	AppliedIndex     uint64
	DNSSerial        uint64
	// NotifyCursors holds the committed cursor of every notification sink (sink -> seq).
	NotifyCursors map[string]uint64
}

// Clone returns a deep copy of d that the caller may change: for a simulation on the state (a
// failover drill). Data itself is shared by every reader and must not be changed.
func (d *Data) Clone() *Data {
	c := &Data{
		Members: cloneMap(d.Members), FaultDomains: cloneMap(d.FaultDomains), AvailabilitySets: cloneMap(d.AvailabilitySets),
		Workloads: cloneMap(d.Workloads), Masters: cloneMap(d.Masters), Operations: cloneMap(d.Operations),
		AppliedIndex: d.AppliedIndex, DNSSerial: d.DNSSerial, NotifyCursors: maps.Clone(d.NotifyCursors),
	}
	if d.ClusterSet != nil {
		c.ClusterSet = proto.Clone(d.ClusterSet).(*fsmv1.ClusterSet)
	}
	return c
}

// SortedMembers returns the members ordered by name.
func (d *Data) SortedMembers() []*fsmv1.Member { return sortedValues(d.Members) }

// SortedWorkloads returns the workloads ordered by name.
func (d *Data) SortedWorkloads() []*fsmv1.Workload { return sortedValues(d.Workloads) }

// SortedMasters returns the masters ordered by id.
func (d *Data) SortedMasters() []*fsmv1.Master { return sortedValues(d.Masters) }

func cloneMap[M proto.Message](m map[string]M) map[string]M {
	out := make(map[string]M, len(m))
	for k, v := range m {
		out[k] = proto.Clone(v).(M)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sortedValues[V any](m map[string]V) []V {
	out := make([]V, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, m[k])
	}
	return out
}

// changed reports whether a record changed since the last publication.
func (s *state) changed() bool {
	return s.members.pending() || s.faultDomains.pending() || s.availabilitySets.pending() ||
		s.workloads.pending() || s.masters.pending() || s.operations.pending()
}

// data returns a deep copy of everything Data publishes, made from scratch (the published copy
// is kept up to date incrementally; tests compare the two).
func (s *state) data() *Data {
	d := &Data{
		Members:          cloneMap(s.members.m),
		FaultDomains:     cloneMap(s.faultDomains.m),
		AvailabilitySets: cloneMap(s.availabilitySets.m),
		Workloads:        cloneMap(s.workloads.m),
		Masters:          cloneMap(s.masters.m),
		Operations:       cloneMap(s.operations.m),
		AppliedIndex:     s.lastIndex,
		DNSSerial:        s.dnsSerial,
		NotifyCursors:    maps.Clone(s.notifyCursors),
	}
	if s.clusterSet != nil {
		d.ClusterSet = proto.Clone(s.clusterSet).(*fsmv1.ClusterSet)
	}
	return d
}

// clone returns a deep copy for snapshots.
func (s *state) clone() *state { return s.copyState(true) }

// fork returns a copy of s for changes that may be thrown away (a declaration, its plan): the
// tables are copy-on-write (table.fork) and the rest is copied without its records, which are
// never changed once stored (events, request records), or in full where small (tokens). Its
// cost is the number of records, not their size; s must not change while the fork is in use.
func (s *state) fork() *state { return s.copyState(false) }

func (s *state) copyState(deep bool) *state {
	c := &state{
		members:          copyTable(s.members, deep),
		faultDomains:     copyTable(s.faultDomains, deep),
		availabilitySets: copyTable(s.availabilitySets, deep),
		workloads:        copyTable(s.workloads, deep),
		masters:          copyTable(s.masters, deep),
		operations:       copyTable(s.operations, deep),
		tokens:           cloneMap(s.tokens),
		requestOrder:     slices.Clone(s.requestOrder),
		lastIndex:        s.lastIndex,
		dnsSerial:        s.dnsSerial,
		nextEventSeq:     s.nextEventSeq,
		notifyCursors:    maps.Clone(s.notifyCursors),
	}
	if deep {
		c.requests, c.events, c.denials = cloneMap(s.requests), cloneEvents(s.events), cloneEvents(s.denials)
	} else {
		c.requests, c.events, c.denials = maps.Clone(s.requests), slices.Clone(s.events), slices.Clone(s.denials)
	}
	if s.clusterSet != nil {
		c.clusterSet = proto.Clone(s.clusterSet).(*fsmv1.ClusterSet)
	}
	return c
}

// copyTable returns a deep copy of t (table.clone), or a copy-on-write one (table.fork).
func copyTable[T proto.Message](t *table[T], deep bool) *table[T] {
	if deep {
		return t.clone()
	}
	return t.fork()
}

func cloneEvents(events []*fsmv1.Event) []*fsmv1.Event {
	out := make([]*fsmv1.Event, len(events))
	for i, e := range events {
		out[i] = proto.Clone(e).(*fsmv1.Event)
	}
	return out
}

// adopt makes a fork that replaces its parent own its records.
func (s *state) adopt() {
	s.members.adopt()
	s.faultDomains.adopt()
	s.availabilitySets.adopt()
	s.workloads.adopt()
	s.masters.adopt()
	s.operations.adopt()
}

// appendEvent stamps and stores one event in its bounded ring: KindDenied events in the
// denials ring, every other kind in the main one. Both share the sequence numbers.
func (s *state) appendEvent(index uint64, at int64, actor string, e *fsmv1.Event) {
	e.Seq = s.nextEventSeq
	s.nextEventSeq++
	e.Index = index
	if e.TimeUnixNano == 0 {
		e.TimeUnixNano = at
	}
	if e.Actor == "" {
		e.Actor = actor
	}
	if e.Severity == "" {
		e.Severity = "info"
	}
	if e.Kind == KindDenied {
		s.denials = appendBounded(s.denials, e, MaxDenialEvents)
	} else {
		s.events = appendBounded(s.events, e, MaxEvents)
	}
}

// appendBounded appends e to ring and forgets the oldest events beyond bound. The ring is
// re-sliced, not copied: append moves the live part to a new array when the capacity runs out.
func appendBounded(ring []*fsmv1.Event, e *fsmv1.Event, bound int) []*fsmv1.Event {
	ring = append(ring, e)
	if over := len(ring) - bound; over > 0 {
		clear(ring[:over])
		ring = ring[over:]
	}
	return ring
}

// eventsAfter returns copies of up to limit events (0: all) with seq > after from both rings,
// in seq order, filtered by workload and member when those are non-empty.
func (s *state) eventsAfter(after uint64, limit int, workload, member string) []*fsmv1.Event {
	from := func(ring []*fsmv1.Event) []*fsmv1.Event {
		return ring[sort.Search(len(ring), func(i int) bool { return ring[i].GetSeq() > after }):]
	}
	main, denials := from(s.events), from(s.denials)
	var out []*fsmv1.Event
	for len(main) > 0 || len(denials) > 0 {
		var e *fsmv1.Event
		if len(denials) == 0 || len(main) > 0 && main[0].GetSeq() < denials[0].GetSeq() {
			e, main = main[0], main[1:]
		} else {
			e, denials = denials[0], denials[1:]
		}
		if workload != "" && e.GetWorkload() != workload || member != "" && e.GetMember() != member {
			continue
		}
		out = append(out, proto.Clone(e).(*fsmv1.Event))
		if limit > 0 && len(out) >= limit {
			break
		}
	}
	return out
}

// rememberRequest records the outcome of a request id, forgetting the oldest beyond the bound.
func (s *state) rememberRequest(id string, index uint64, err error) {
	rec := &fsmv1.RequestRecord{RequestId: id, Index: index}
	if e, ok := err.(*Error); ok {
		rec.ErrorCode, rec.ErrorMessage = string(e.Code), e.Msg
	}
	s.requests[id] = rec
	s.requestOrder = append(s.requestOrder, id)
	if over := len(s.requestOrder) - MaxRequestIDs; over > 0 {
		for _, old := range s.requestOrder[:over] {
			delete(s.requests, old)
		}
		// Re-slice instead of copying the whole table on every write: append moves the live
		// part to a new array when the capacity runs out, so this is amortized O(1).
		clear(s.requestOrder[:over])
		s.requestOrder = s.requestOrder[over:]
	}
}

// workloadsOn returns the names of workloads placed on member, sorted.
func (s *state) workloadsOn(member string) []string {
	var out []string
	for _, name := range sortedKeys(s.workloads.m) {
		// An unplaced workload has no member: never match it, even for a member named "" that
		// only a hand-made snapshot can hold (derivePlacements dereferences the placement).
		if p := s.workloads.m[name].GetPlacement(); p != nil && p.GetMember() == member {
			out = append(out, name)
		}
	}
	return out
}

// workloadsByMember returns the names of the workloads placed on each member, each list sorted,
// in one pass over the workloads.
func (s *state) workloadsByMember() map[string][]string {
	out := map[string][]string{}
	for _, name := range sortedKeys(s.workloads.m) {
		if p := s.workloads.m[name].GetPlacement(); p != nil {
			out[p.GetMember()] = append(out[p.GetMember()], name)
		}
	}
	return out
}

// workloadsNaming returns the workloads that list member as a candidate, sorted.
func (s *state) workloadsNaming(member string) []string {
	var out []string
	for _, name := range sortedKeys(s.workloads.m) {
		if slices.Contains(s.workloads.m[name].GetCandidates(), member) {
			out = append(out, name)
		}
	}
	return out
}
