package server

import (
	"bytes"
	"context"
	"errors"

	"github.com/cset-project/cset/fsm"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// restoreForceKey is the gRPC metadata key of 'csetctl snapshot restore --force': restore a
// snapshot of another cluster set, or one without a checksum. It is metadata because the
// SnapshotRestore stream carries only chunks.
const restoreForceKey = apiv1.MetadataRestoreForce

// restoreForced reports whether the caller passed --force.
func restoreForced(ctx context.Context) bool {
	md, _ := metadata.FromIncomingContext(ctx)
	v := md.Get(restoreForceKey)
	return len(v) > 0 && v[0] == "1"
}

// checkRestore reads an uploaded snapshot fully and decides whether it may replace the state:
// it must be a cset snapshot whose checksum matches (a damaged one is refused even with
// --force: nobody knows what it would restore), and, unless forced, carry a checksum at all
// and come from this cluster set: same name and zone, or this set not initialised yet (a new
// set restoring its backup). It returns the snapshot's counts for the answer.
func (s *Server) checkRestore(ctx context.Context, data []byte) (fsm.SnapshotInfo, error) {
	info, err := fsm.InspectSnapshot(bytes.NewReader(data))
	if errors.Is(err, fsm.ErrSnapshotChecksum) {
		return info, status.Errorf(codes.DataLoss, "%v; nothing was changed", err)
	}
	if err != nil {
		return info, status.Errorf(codes.InvalidArgument, "the file is not a restorable cset snapshot: %v", err)
	}
	if restoreForced(ctx) {
		return info, nil
	}
	if !info.Checksummed {
		return info, status.Error(codes.FailedPrecondition, "the snapshot has no checksum (it was saved by an older cset), so damage to it cannot be detected; "+
			"nothing was changed: restore it with --force if you trust the file, then save a new snapshot")
	}
	if cur := s.fsm.ClusterSet(); cur != nil && (cur.GetName() != info.ClusterSet || cur.GetZone() != info.Zone) {
		return info, status.Errorf(codes.FailedPrecondition, "the snapshot is of cluster set %s, this is cluster set %s: restoring it would replace "+
			"this set's members, workloads and zone with the other's; nothing was changed: check --addr, or pass --force to restore it anyway",
			describeSet(info.ClusterSet, info.Zone), describeSet(cur.GetName(), cur.GetZone()))
	}
	return info, nil
}

func describeSet(name, zone string) string {
	if name == "" && zone == "" {
		return "(not initialised)"
	}
	return "'" + name + "' (zone " + zone + ")"
}
