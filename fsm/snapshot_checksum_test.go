package fsm_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cset-project/cset/fsm"
	"github.com/cset-project/cset/fsm/fsmtest"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// TestFSM_SnapshotChecksumCatchesEveryFlippedBit flips each bit of a snapshot in turn: no copy
// restores, and neither does a truncated or padded one. Without the checksum most flips inside
// a string or a number restore silently.
func TestFSM_SnapshotChecksumCatchesEveryFlippedBit(t *testing.T) {
	t.Parallel()
	good := snapshotBytes(t, seeded(t))
	info, err := fsm.InspectSnapshot(bytes.NewReader(good))
	if err != nil || !info.Checksummed || info.ClusterSet != "prod" || info.Zone != fsmtest.Zone || info.Members != 3 || info.Workloads != 2 {
		t.Fatalf("InspectSnapshot = %+v, %v; want a checksummed snapshot of prod (zone %s) with 3 members and 2 workloads", info, err, fsmtest.Zone)
	}
	// Every bit of the header and the first and last records; one bit of every other byte, a
	// different one from byte to byte (all of them take seconds under -race).
	bad := bytes.Clone(good)
	for at := range good {
		bits := []int{at % 8}
		if at < 160 || at >= len(good)-64 {
			bits = []int{0, 1, 2, 3, 4, 5, 6, 7}
		}
		for _, bit := range bits {
			bad[at] ^= 1 << bit
			if _, err := fsm.InspectSnapshot(bytes.NewReader(bad)); err == nil {
				t.Fatalf("bit %d of byte %d flipped: the snapshot still reads (of %d bytes)", bit, at, len(good))
			}
			bad[at] ^= 1 << bit
		}
	}
	padded := bytes.NewBuffer(bytes.Clone(good))
	if _, err := protodelim.MarshalTo(padded, &fsmv1.SnapshotRecord{Record: &fsmv1.SnapshotRecord_Member{Member: fsmtest.Member("extra")}}); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"truncated by one byte":   good[:len(good)-1],
		"padded with one record":  padded.Bytes(),
		"padded with a zero byte": append(bytes.Clone(good), 0),
	} {
		f := seeded(t)
		if err := f.Restore(io.NopCloser(bytes.NewReader(b))); !errors.Is(err, fsm.ErrSnapshotChecksum) {
			t.Errorf("%s: Restore error %v, want %v", name, err, fsm.ErrSnapshotChecksum)
		}
	}
}

// splitSnapshot returns the header of a snapshot and the bytes after it.
func splitSnapshot(t *testing.T, b []byte) (*fsmv1.SnapshotHeader, []byte) {
	t.Helper()
	r := bytes.NewReader(b[len("CSETSNAP"):])
	hdr := &fsmv1.SnapshotHeader{}
	if err := protodelim.UnmarshalFrom(r, hdr); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(r)
	return hdr, rest
}

// joinSnapshot writes the raw header bytes and the body back into a snapshot stream.
func joinSnapshot(hdr, body []byte) []byte {
	out := append([]byte("CSETSNAP"), protowire.AppendVarint(nil, uint64(len(hdr)))...)
	return append(append(out, hdr...), body...)
}

func TestFSM_SnapshotHeaderChecks(t *testing.T) {
	t.Parallel()
	good := snapshotBytes(t, seeded(t))
	hdr, body := splitSnapshot(t, good)
	det := proto.MarshalOptions{Deterministic: true}
	// sealed returns the header bytes with a correct checksum over unsealed and body.
	sealed := func(unsealed []byte) []byte {
		sum := sha256.Sum256(append(bytes.Clone(unsealed), body...))
		return protowire.AppendBytes(protowire.AppendTag(bytes.Clone(unsealed), 7, protowire.BytesType), sum[:])
	}

	t.Run("a header field a newer cset adds keeps the checksum valid", func(t *testing.T) {
		t.Parallel()
		h := proto.Clone(hdr).(*fsmv1.SnapshotHeader)
		h.Sha256 = nil
		unsealed, err := det.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		unsealed = protowire.AppendString(protowire.AppendTag(unsealed, 40, protowire.BytesType), "from the future")
		g := fsm.New(nil)
		restore(t, g, joinSnapshot(sealed(unsealed), body))
		diffProto(t, "restored state", seeded(t).Data(), g.Data())
	})
	t.Run("a header that names another set than its records", func(t *testing.T) {
		t.Parallel()
		h := proto.Clone(hdr).(*fsmv1.SnapshotHeader)
		h.Sha256, h.ClusterSet = nil, "staging"
		unsealed, err := det.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		_, err = fsm.InspectSnapshot(bytes.NewReader(joinSnapshot(sealed(unsealed), body)))
		if err == nil || !strings.Contains(err.Error(), `snapshot header names cluster set "staging"`) {
			t.Errorf("InspectSnapshot error %v, want one about the header naming staging", err)
		}
	})
	t.Run("no checksum: an older cset's snapshot still restores", func(t *testing.T) {
		t.Parallel()
		h := proto.Clone(hdr).(*fsmv1.SnapshotHeader)
		h.Sha256, h.ClusterSet, h.Zone = nil, "", ""
		old, err := det.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		legacy := joinSnapshot(old, body)
		info, err := fsm.InspectSnapshot(bytes.NewReader(legacy))
		if err != nil || info.Checksummed || info.ClusterSet != "prod" || info.Zone != fsmtest.Zone {
			t.Errorf("InspectSnapshot = %+v, %v; want prod (from its records), not checksummed", info, err)
		}
		g := fsm.New(nil)
		restore(t, g, legacy)
		diffProto(t, "restored state", seeded(t).Data(), g.Data())
		// A RestoreStateCommand an older leader wrote applies as before.
		f := seeded(t)
		if r := applyCmd(t, f, f.AppliedIndex()+1, &fsmv1.RestoreStateCommand{Snapshot: legacy}); r.Err != nil {
			t.Errorf("RestoreStateCommand with a snapshot without checksum: %v", r.Err)
		}
	})
	t.Run("the golden snapshots of released versions", func(t *testing.T) {
		t.Parallel()
		paths, _ := filepath.Glob(filepath.Join("testdata", "snapshot", "v*.snap"))
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := fsm.InspectSnapshot(bytes.NewReader(b)); err != nil {
				t.Errorf("%s: %v", p, err)
			}
		}
	})
	t.Run("a damaged snapshot in a RestoreStateCommand changes nothing", func(t *testing.T) {
		t.Parallel()
		bad := bytes.Clone(good)
		bad[len(bad)/2] ^= 0x01
		f := seeded(t)
		before := f.Data()
		before.AppliedIndex++ // the entry is applied, as a refusal
		r := applyCmd(t, f, f.AppliedIndex()+1, &fsmv1.RestoreStateCommand{Snapshot: bad})
		if r.Err == nil || !strings.Contains(r.Err.Error(), "checksum") {
			t.Errorf("RestoreStateCommand with a damaged snapshot: %v, want a checksum error", r.Err)
		}
		diffProto(t, "state after a refused restore", before, f.Data())
	})
}
