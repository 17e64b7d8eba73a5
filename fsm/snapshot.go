package fsm

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"

	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/encoding/protowire"
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
	for _, m := range c.members.m {
		m.Password = ""
	}
	c.tokens = map[string]*fsmv1.Token{}
	return c
}

func writeSnapshot(w io.Writer, s *state) error {
	// Deterministic: map fields (labels, addresses) in a fixed order, so that masters with the
	// same state write the same bytes.
	opts := proto.MarshalOptions{Deterministic: true}
	hdr := &fsmv1.SnapshotHeader{FormatVersion: SnapshotFormatVersion, LastIndex: s.lastIndex, DnsSerial: s.dnsSerial, NextEventSeq: s.nextEventSeq,
		NotifyCursors: s.notifyCursorRecords()}
	if s.clusterSet != nil {
		hdr.ClusterSet, hdr.Zone = s.clusterSet.GetName(), s.clusterSet.GetZone()
	}
	// The checksum comes first in the stream but covers the records after it, so they are
	// encoded (length-delimited) into one buffer first: the buffer costs the snapshot's size in
	// memory while it is written, a second encoding pass would cost as much CPU again.
	var body, rec []byte
	for _, r := range snapshotRecords(s) {
		var err error
		if rec, err = opts.MarshalAppend(rec[:0], r); err != nil {
			return fmt.Errorf("write snapshot record: %w", err)
		}
		body = append(protowire.AppendVarint(body, uint64(len(rec))), rec...)
	}
	sum, err := snapshotDigest(hdr)
	if err != nil {
		return fmt.Errorf("write snapshot header: %w", err)
	}
	sum.Write(body)
	hdr.Sha256 = sum.Sum(nil)
	head, err := opts.MarshalAppend(protowire.AppendVarint(append([]byte(nil), snapshotMagic...), uint64(opts.Size(hdr))), hdr)
	if err != nil {
		return fmt.Errorf("write snapshot header: %w", err)
	}
	if _, err := w.Write(head); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	if _, err := w.Write(body); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	return nil
}

// snapshotRecords lists the records of s in the order a snapshot holds them.
func snapshotRecords(s *state) []*fsmv1.SnapshotRecord {
	var recs []*fsmv1.SnapshotRecord
	if s.clusterSet != nil {
		recs = append(recs, &fsmv1.SnapshotRecord{Record: &fsmv1.SnapshotRecord_ClusterSet{ClusterSet: s.clusterSet}})
	}
	for _, v := range sortedValues(s.faultDomains.m) {
		recs = append(recs, &fsmv1.SnapshotRecord{Record: &fsmv1.SnapshotRecord_FaultDomain{FaultDomain: v}})
	}
	for _, v := range sortedValues(s.availabilitySets.m) {
		recs = append(recs, &fsmv1.SnapshotRecord{Record: &fsmv1.SnapshotRecord_AvailabilitySet{AvailabilitySet: v}})
	}
	for _, v := range sortedValues(s.members.m) {
		recs = append(recs, &fsmv1.SnapshotRecord{Record: &fsmv1.SnapshotRecord_Member{Member: v}})
	}
	for _, v := range sortedValues(s.workloads.m) {
		recs = append(recs, &fsmv1.SnapshotRecord{Record: &fsmv1.SnapshotRecord_Workload{Workload: v}})
	}
	for _, v := range sortedValues(s.masters.m) {
		recs = append(recs, &fsmv1.SnapshotRecord{Record: &fsmv1.SnapshotRecord_Master{Master: v}})
	}
	for _, v := range sortedValues(s.operations.m) {
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
	return recs
}

// snapshotDigest starts the checksum of a snapshot: SHA-256 over the header encoded
// deterministically without its sha256 field; the caller adds every byte after the header.
// A reader that does not know a header field a newer writer added still gets the same bytes:
// field numbers only grow and unknown fields are encoded last, in the order they were read.
func snapshotDigest(hdr *fsmv1.SnapshotHeader) (hash.Hash, error) {
	c := proto.Clone(hdr).(*fsmv1.SnapshotHeader)
	c.Sha256 = nil
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	h.Write(b)
	return h, nil
}

// SnapshotInfo describes a snapshot stream read to its end by InspectSnapshot.
type SnapshotInfo struct {
	// LastIndex is the Raft index the snapshot was taken at.
	LastIndex uint64
	// ClusterSet and Zone identify the cluster set the snapshot was taken of; both are "" for a
	// set not yet initialised.
	ClusterSet, Zone string
	// Checksummed is true when the snapshot carries a checksum, which matched. Snapshots written
	// before the checksum existed have none, and damage in them cannot be detected.
	Checksummed bool
	// Members and Workloads count the records of each kind.
	Members, Workloads int
}

// InspectSnapshot reads a snapshot stream fully, checks it as a restore would (its checksum
// included) and describes it.
func InspectSnapshot(r io.Reader) (SnapshotInfo, error) {
	s, hdr, err := readSnapshotWithHeader(r)
	if err != nil {
		return SnapshotInfo{}, err
	}
	info := SnapshotInfo{LastIndex: hdr.GetLastIndex(), Checksummed: len(hdr.GetSha256()) > 0, Members: s.members.len(), Workloads: s.workloads.len()}
	if s.clusterSet != nil {
		info.ClusterSet, info.Zone = s.clusterSet.GetName(), s.clusterSet.GetZone()
	}
	return info, nil
}

func readSnapshotBytes(b []byte) (*state, error) { return readSnapshot(bytes.NewReader(b)) }

// readSnapshot builds a fresh state from a snapshot stream; nothing is shared with the caller.
func readSnapshot(r io.Reader) (*state, error) {
	s, _, err := readSnapshotWithHeader(r)
	return s, err
}

// ErrSnapshotChecksum means a snapshot's bytes do not match the checksum in its header.
var ErrSnapshotChecksum = errors.New("snapshot checksum mismatch: the file is damaged (a changed byte, or a truncated or padded copy); restore another copy")

func readSnapshotWithHeader(r io.Reader) (*state, *fsmv1.SnapshotHeader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(br, magic); err != nil || !bytes.Equal(magic, snapshotMagic) {
		return nil, nil, errors.New("not a cset snapshot (it must start with CSETSNAP: take one with 'csetctl snapshot save')")
	}
	opts := protodelim.UnmarshalOptions{MaxSize: 64 << 20}
	hdr := &fsmv1.SnapshotHeader{}
	if err := opts.UnmarshalFrom(br, hdr); err != nil {
		return nil, nil, fmt.Errorf("read snapshot header: %w", err)
	}
	if hdr.FormatVersion != SnapshotFormatVersion {
		return nil, nil, fmt.Errorf("snapshot format %d is not supported by this master (it reads %d): upgrade it", hdr.FormatVersion, SnapshotFormatVersion)
	}
	if len(hdr.Sha256) == 0 && (hdr.ClusterSet != "" || hdr.Zone != "" || len(hdr.ProtoReflect().GetUnknown()) > 0) {
		// Only a cset from before the checksum writes a header without one, and its header
		// holds nothing else: this one lost its checksum to damage (a changed tag byte makes
		// the field unknown).
		return nil, nil, ErrSnapshotChecksum
	}
	var body protodelim.Reader = br
	var sum hash.Hash
	if len(hdr.Sha256) > 0 {
		d, err := snapshotDigest(hdr)
		if err != nil {
			return nil, nil, fmt.Errorf("read snapshot header: %w", err)
		}
		sum = d
		body = bufio.NewReaderSize(io.TeeReader(br, sum), 64<<10)
	}
	// damaged reads the rest of a checksummed stream and reports a mismatch, so that a damaged
	// snapshot says so whatever the damage broke first.
	damaged := func() bool {
		if sum == nil {
			return false
		}
		_, _ = io.Copy(io.Discard, body)
		return !bytes.Equal(sum.Sum(nil), hdr.Sha256)
	}
	s := newState()
	s.lastIndex, s.dnsSerial, s.nextEventSeq = hdr.LastIndex, hdr.DnsSerial, hdr.NextEventSeq
	if s.nextEventSeq == 0 {
		s.nextEventSeq = 1
	}
	for _, c := range hdr.GetNotifyCursors() {
		s.notifyCursors[c.GetSink()] = c.GetSeq()
	}
	for n := 0; ; n++ {
		rec := &fsmv1.SnapshotRecord{}
		err := opts.UnmarshalFrom(body, rec)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if damaged() {
				return nil, nil, ErrSnapshotChecksum
			}
			return nil, nil, fmt.Errorf("read snapshot record %d: %w", n, err)
		}
		if err := s.restoreRecord(rec); err != nil {
			if damaged() {
				return nil, nil, ErrSnapshotChecksum
			}
			return nil, nil, fmt.Errorf("snapshot record %d: %w", n, err)
		}
	}
	if damaged() {
		return nil, nil, ErrSnapshotChecksum
	}
	if sum != nil && (hdr.ClusterSet != s.clusterSet.GetName() || hdr.Zone != s.clusterSet.GetZone()) {
		return nil, nil, fmt.Errorf("snapshot header names cluster set %q (zone %q) but its records hold %q (zone %q)",
			hdr.ClusterSet, hdr.Zone, s.clusterSet.GetName(), s.clusterSet.GetZone())
	}
	return s, hdr, nil
}

func (s *state) restoreRecord(rec *fsmv1.SnapshotRecord) error {
	switch r := rec.GetRecord().(type) {
	case *fsmv1.SnapshotRecord_ClusterSet:
		s.clusterSet = r.ClusterSet
	case *fsmv1.SnapshotRecord_Member:
		s.members.m[r.Member.GetName()] = r.Member
	case *fsmv1.SnapshotRecord_FaultDomain:
		s.faultDomains.m[r.FaultDomain.GetName()] = r.FaultDomain
	case *fsmv1.SnapshotRecord_AvailabilitySet:
		s.availabilitySets.m[r.AvailabilitySet.GetName()] = r.AvailabilitySet
	case *fsmv1.SnapshotRecord_Workload:
		s.workloads.m[r.Workload.GetName()] = r.Workload
	case *fsmv1.SnapshotRecord_Master:
		s.masters.m[r.Master.GetId()] = r.Master
	case *fsmv1.SnapshotRecord_Operation:
		s.operations.m[r.Operation.GetId()] = r.Operation
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
