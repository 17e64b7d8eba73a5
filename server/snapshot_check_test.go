package server_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/cset-project/cset/internal/clustertest"
	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
	fsmv1 "github.com/cset-project/cset/proto/cset/fsm/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protodelim"
)

func saveSnapshot(t *testing.T, cl apiv1.ClusterSetServiceClient) []byte {
	t.Helper()
	stream, err := cl.SnapshotSave(clustertest.Ctx(t), &apiv1.SnapshotSaveRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for {
		ch, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return b.Bytes()
		}
		if err != nil {
			t.Fatal(err)
		}
		b.Write(ch.GetData())
	}
}

// restoreSnapshot uploads data as 'csetctl snapshot restore [--force]' does.
func restoreSnapshot(t *testing.T, cl apiv1.ClusterSetServiceClient, data []byte, force bool) (*apiv1.SnapshotRestoreResponse, error) {
	t.Helper()
	ctx := clustertest.Ctx(t)
	if force {
		ctx = metadata.AppendToOutgoingContext(ctx, "cset-restore-force", "1")
	}
	up, err := cl.SnapshotRestore(ctx)
	if err != nil {
		return nil, err
	}
	if err := up.Send(&apiv1.SnapshotChunk{Data: data}); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return up.CloseAndRecv()
}

// withoutChecksum rewrites a snapshot as a cset without checksums wrote it: no identity and no
// sha256 in the header.
func withoutChecksum(t *testing.T, snap []byte) []byte {
	t.Helper()
	r := bytes.NewReader(snap[len("CSETSNAP"):])
	hdr := &fsmv1.SnapshotHeader{}
	if err := protodelim.UnmarshalFrom(r, hdr); err != nil {
		t.Fatal(err)
	}
	if len(hdr.GetSha256()) != 32 || hdr.GetClusterSet() == "" || hdr.GetZone() == "" {
		t.Fatalf("saved snapshot header %v: want the set's identity and a SHA-256", hdr)
	}
	hdr.Sha256, hdr.ClusterSet, hdr.Zone = nil, "", ""
	var out bytes.Buffer
	out.WriteString("CSETSNAP")
	if _, err := protodelim.MarshalTo(&out, hdr); err != nil {
		t.Fatal(err)
	}
	_, _ = r.WriteTo(&out)
	return out.Bytes()
}

func memberNames(t *testing.T, cl apiv1.ClusterSetServiceClient) string {
	t.Helper()
	resp, err := cl.ListMembers(clustertest.Ctx(t), &apiv1.ListRequest{Read: &apiv1.ReadOptions{Consistent: true}})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range resp.GetMembers() {
		names = append(names, m.GetName())
	}
	return strings.Join(names, ",")
}

// TestServer_SnapshotRestoreChecksIdentityAndChecksum restores snapshots of another cluster set,
// with a flipped bit, and without a checksum: the first and the last need --force, a damaged
// one is refused even with it, and nothing refused changes the state. --force passes through a
// follower to the leader.
func TestServer_SnapshotRestoreChecksIdentityAndChecksum(t *testing.T) {
	t.Parallel()
	prod := clustertest.New(t, 1, nil)
	pcl := prod.Nodes[0].Client()
	seed(t, pcl) // cluster set prod, zone cset.example.com., members east and west
	snap := saveSnapshot(t, pcl)

	staging := clustertest.New(t, 2, nil)
	scl := staging.Followers()[0].Client()
	ctx := clustertest.Ctx(t)
	if _, err := scl.InitSet(ctx, &apiv1.InitSetRequest{Name: "staging", Zone: "staging.example.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := scl.AddMember(ctx, &apiv1.AddMemberRequest{Name: "lab", Servers: []*apiv1.ServerSpec{{Name: "lab-1", Url: "http://127.0.0.1:29009"}}}); err != nil {
		t.Fatal(err)
	}

	// Another set's snapshot: refused with both identities named, the state untouched.
	_, err := restoreSnapshot(t, scl, snap, false)
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "'prod' (zone cset.example.com.)") ||
		!strings.Contains(err.Error(), "'staging' (zone staging.example.com.)") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("restore of another set's snapshot: %v, want FailedPrecondition naming both sets and --force", err)
	}
	if got := memberNames(t, scl); got != "lab" {
		t.Fatalf("members after a refused restore: %s, want lab", got)
	}

	// A flipped bit anywhere: DataLoss, even with --force.
	for _, at := range []int{len("CSETSNAP") + 3, len(snap) / 2, len(snap) - 1} {
		bad := bytes.Clone(snap)
		bad[at] ^= 0x10
		for _, force := range []bool{false, true} {
			if _, err := restoreSnapshot(t, pcl, bad, force); status.Code(err) == codes.OK {
				t.Errorf("restore with byte %d changed (force %v) succeeded", at, force)
			}
		}
	}
	if _, err := restoreSnapshot(t, pcl, snap[:len(snap)-1], true); status.Code(err) != codes.DataLoss || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("restore of a truncated snapshot: %v, want DataLoss about the checksum", err)
	}

	// No checksum (an older cset's snapshot): refused, then restored with --force.
	legacy := withoutChecksum(t, snap)
	if _, err := restoreSnapshot(t, pcl, legacy, false); status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "no checksum") {
		t.Errorf("restore of a snapshot without checksum: %v, want FailedPrecondition about the checksum", err)
	}
	if _, err := restoreSnapshot(t, pcl, legacy, true); err != nil {
		t.Errorf("restore --force of a snapshot without checksum: %v", err)
	}

	// --force through a follower: the leader gets it too.
	resp, err := restoreSnapshot(t, scl, snap, true)
	if err != nil {
		t.Fatalf("restore --force of another set's snapshot: %v", err)
	}
	if resp.GetMembers() != 2 || resp.GetWorkloads() != 1 {
		t.Errorf("restore answer %v, want 2 members and 1 workload", resp)
	}
	if got := memberNames(t, scl); got != "east,west" {
		t.Errorf("members after the forced restore: %s, want east,west", got)
	}
	staging.RequireConverged()

	// A set not initialised yet (a new ring restoring its backup) takes it without --force.
	fresh := clustertest.New(t, 1, nil)
	if _, err := restoreSnapshot(t, fresh.Nodes[0].Client(), snap, false); err != nil {
		t.Errorf("restore into a set not initialised: %v", err)
	}
	// The same set's own snapshot needs nothing either.
	if _, err := restoreSnapshot(t, pcl, snap, false); err != nil {
		t.Errorf("restore of the set's own snapshot: %v", err)
	}
}
