package fsm

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"
)

// SnapshotFormatVersion is written in every snapshot header.
const SnapshotFormatVersion = 1

// snapshotMagic starts every snapshot stream so a wrong file is refused with a clear error.
var snapshotMagic = []byte("CSETSNAP")

type snapshot struct{ s *state }

// Persist streams the captured state to the sink.
func (sn *snapshot) Persist(sink raft.SnapshotSink) error {
	if err := writeSnapshot(sink, sn.s); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

// Release does nothing: the capture is garbage collected.
func (sn *snapshot) Release() {}

// redacted returns a copy of s without the secrets: no member passwords and no tokens.
func (s *state) redacted() *state {
	c := s.clone()
	for _, m := range c.members {
		m.Password = ""
	}
	c.tokens = map[string]*fsmv1.Token{}
	return c
}

func writeSnapshot(w io.Writer, s *state) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	if _, err := bw.Write(snapshotMagic); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	// Deterministic: map fields (labels, addresses) in a fixed order, so that masters with the
	// same state write the same bytes.
	opts := protodelim.MarshalOptions{MarshalOptions: proto.MarshalOptions{Deterministic: true}}
	put := func(m proto.Message) error {
		_, err := opts.MarshalTo(bw, m)
		return err
	}
	hdr := &fsmv1.SnapshotHeader{FormatVersion: SnapshotFormatVersion, LastIndex: s.lastIndex, DnsSerial: s.dnsSerial, NextEventSeq: s.nextEventSeq}
	if err := put(hdr); err != nil {
		return fmt.Errorf("write snapshot header: %w", err)
	}
	var recs []*fsmv1.SnapshotRecord
	if s.clusterSet != nil {
		recs = append(recs, &fsmv1.SnapshotRecord{Record: &fsmv1.SnapshotRecord_ClusterSet{ClusterSet: s.clusterSet}})
	}
	for _, v := range sortedValues(s.faultDomains) {
		recs = append(recs, &fsmv1.SnapshotRecord{Record: &fsmv1.SnapshotRecord_FaultDomain{FaultDomain: v}})
	}
	for _, v := range sortedValues(s.availabilitySets) {
		recs = append(recs, &fsmv1.SnapshotRecord{Record: &fsmv1.SnapshotRecord_AvailabilitySet{AvailabilitySet: v}})
	}
	for _, v := range sortedValues(s.members) {
		recs = append(recs, &fsmv1.SnapshotRecord{Record: &fsmv1.SnapshotRecord_Member{Member: v}})
	}
	for _, v := range sortedValues(s.workloads) {
		recs = append(recs, &fsmv1.SnapshotRecord{Record: &fsmv1.SnapshotRecord_Workload{Workload: v}})
	}
	for _, v := range sortedValues(s.masters) {
		recs = append(recs, &fsmv1.SnapshotRecord{Record: &fsmv1.SnapshotRecord_Master{Master: v}})
	}
	for _, v := range sortedValues(s.operations) {
		recs = append(recs, &fsmv1.SnapshotRecord{Record: &fsmv1.SnapshotRecord_Operation{Operation: v}})
	}
	for _, v := range sortedValues(s.tokens) {
		recs = append(recs, &fsmv1.SnapshotRecord{Record: &fsmv1.SnapshotRecord_Token{Token: v}})
	}
	for _, v := range s.events {
		recs = append(recs, &fsmv1.SnapshotRecord{Record: &fsmv1.SnapshotRecord_Event{Event: v}})
	}
	for _, v := range s.denials {
		recs = append(recs, &fsmv1.SnapshotRecord{Record: &fsmv1.SnapshotRecord_Event{Event: v}})
	}
	for _, id := range s.requestOrder {
		recs = append(recs, &fsmv1.SnapshotRecord{Record: &fsmv1.SnapshotRecord_Request{Request: s.requests[id]}})
	}
	for _, r := range recs {
		if err := put(r); err != nil {
			return fmt.Errorf("write snapshot record: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	return nil
}

func readSnapshotBytes(b []byte) (*state, error) { return readSnapshot(bytes.NewReader(b)) }

// readSnapshot builds a fresh state from a snapshot stream; nothing is shared with the caller.
func readSnapshot(r io.Reader) (*state, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(br, magic); err != nil || !bytes.Equal(magic, snapshotMagic) {
		return nil, errors.New("not a cset snapshot (it must start with CSETSNAP: take one with 'csetctl snapshot save')")
	}
	opts := protodelim.UnmarshalOptions{MaxSize: 64 << 20}
	hdr := &fsmv1.SnapshotHeader{}
	if err := opts.UnmarshalFrom(br, hdr); err != nil {
		return nil, fmt.Errorf("read snapshot header: %w", err)
	}
	if hdr.FormatVersion != SnapshotFormatVersion {
		return nil, fmt.Errorf("snapshot format %d is not supported by this master (it reads %d): upgrade it", hdr.FormatVersion, SnapshotFormatVersion)
	}
	s := newState()
	s.lastIndex, s.dnsSerial, s.nextEventSeq = hdr.LastIndex, hdr.DnsSerial, hdr.NextEventSeq
	if s.nextEventSeq == 0 {
		s.nextEventSeq = 1
	}
	for n := 0; ; n++ {
		rec := &fsmv1.SnapshotRecord{}
		err := opts.UnmarshalFrom(br, rec)
		if errors.Is(err, io.EOF) {
			return s, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read snapshot record %d: %w", n, err)
		}
		if err := s.restoreRecord(rec); err != nil {
			return nil, fmt.Errorf("snapshot record %d: %w", n, err)
		}
	}
}

func (s *state) restoreRecord(rec *fsmv1.SnapshotRecord) error {
	switch r := rec.GetRecord().(type) {
	case *fsmv1.SnapshotRecord_ClusterSet:
		s.clusterSet = r.ClusterSet
	case *fsmv1.SnapshotRecord_Member:
		s.members[r.Member.GetName()] = r.Member
	case *fsmv1.SnapshotRecord_FaultDomain:
		s.faultDomains[r.FaultDomain.GetName()] = r.FaultDomain
	case *fsmv1.SnapshotRecord_AvailabilitySet:
		s.availabilitySets[r.AvailabilitySet.GetName()] = r.AvailabilitySet
	case *fsmv1.SnapshotRecord_Workload:
		s.workloads[r.Workload.GetName()] = r.Workload
	case *fsmv1.SnapshotRecord_Master:
		s.masters[r.Master.GetId()] = r.Master
	case *fsmv1.SnapshotRecord_Operation:
		s.operations[r.Operation.GetId()] = r.Operation
	case *fsmv1.SnapshotRecord_Event:
		if r.Event.GetKind() == KindDenied {
			if len(s.denials) >= MaxDenialEvents {
				return fmt.Errorf("more than %d events of kind %s", MaxDenialEvents, KindDenied)
			}
			s.denials = append(s.denials, r.Event)
			break
		}
		if len(s.events) >= MaxEvents {
			return fmt.Errorf("more than %d events", MaxEvents)
		}
		s.events = append(s.events, r.Event)
	case *fsmv1.SnapshotRecord_Token:
		s.tokens[r.Token.GetName()] = r.Token
	case *fsmv1.SnapshotRecord_Request:
		s.requests[r.Request.GetRequestId()] = r.Request
		s.requestOrder = append(s.requestOrder, r.Request.GetRequestId())
	default:
		return fmt.Errorf("unknown record type %T: this snapshot was written by a newer cset", r)
	}
	return nil
}
