package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/metadata"

	apiv1 "github.com/cset-project/cset/proto/cset/api/v1"
)

// snapshotChunkSize is the payload of one SnapshotChunk sent on restore,
// well under gRPC's default 4 MiB message limit.
const snapshotChunkSize = 256 << 10

func (a *app) snapshotCommand() *cobra.Command {
	var redact bool
	save := &cobra.Command{
		Use:   "save FILE [--redact]",
		Short: "Stream a snapshot of the replicated state into FILE (mode 0600)",
		Long: `save streams a snapshot of the whole replicated state from the leader into FILE.
The file is written under a temporary name in the same directory, synced and
renamed, so FILE is either the complete old file or the complete new one. It
is created with mode 0600: it holds the members' ECX passwords and the hashes
of the API tokens. With --redact both are left out: such a backup can leave the
masters' hosts, and restoring it keeps the passwords the running masters hold
for the same members and users (set the others again with 'member add --update').
The transfer as a whole is bounded by --timeout.`,
		Args: argNames("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := a.snapshotSave(cmd.Context(), args[0], redact)
			if err != nil {
				return err
			}
			return a.emitf(snapshotSaveJSON{File: args[0], Bytes: n}, "saved snapshot to %s (%d bytes)\n", args[0], n)
		},
	}
	save.Flags().BoolVar(&redact, "redact", false, "leave the ECX passwords and the token hashes out of the snapshot")
	var force bool
	restore := &cobra.Command{
		Use:   "restore FILE [--force]",
		Short: "Replace the whole replicated state with the snapshot in FILE",
		Long: `restore streams FILE, written by 'snapshot save', to the leader, which replaces
the whole state of the cluster set with it on every master. Everything changed
since the snapshot was taken is lost. The transfer is bounded by --timeout.

The leader first reads the whole file and checks its SHA-256 checksum: a
damaged file (a changed, missing or added byte) is refused, --force or not.
Without --force it also refuses a snapshot of another cluster set (another
name or zone; a set not initialised yet takes any) and a snapshot without a
checksum (saved by an older cset). A refused restore changes nothing.`,
		Args: argNames("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := a.snapshotRestore(cmd.Context(), args[0], force)
			if err != nil {
				return err
			}
			return a.emitf(out, "restored %s (%d bytes) at index %d: %d members, %d workloads\n", out.File, out.Bytes, out.Index, out.Members, out.Workloads)
		},
	}
	restore.Flags().BoolVar(&force, "force", false, "restore a snapshot of another cluster set, or one without a checksum")
	return groupCommand("snapshot", "Back up and restore the replicated state", save, restore)
}

// snapshotSave writes the SnapshotSave stream to path atomically and returns
// the number of bytes written. --timeout bounds the whole transfer.
func (a *app) snapshotSave(ctx context.Context, path string, redact bool) (n int64, err error) {
	err = a.do(ctx, func(ctx context.Context, c service) error {
		tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
		if err != nil {
			return fmt.Errorf("creating snapshot file: %w", err)
		}
		if n, err = saveStream(ctx, c, tmp, redact); err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
			return err
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			_ = os.Remove(tmp.Name())
			return fmt.Errorf("saving snapshot file: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	syncDir(filepath.Dir(path))
	return n, nil
}

// saveStream receives the snapshot into tmp, syncs and closes it.
func saveStream(ctx context.Context, c service, tmp *os.File, redact bool) (n int64, err error) {
	if err := tmp.Chmod(0o600); err != nil {
		return 0, fmt.Errorf("creating snapshot file: %w", err)
	}
	stream, err := c.SnapshotSave(ctx, &apiv1.SnapshotSaveRequest{Redact: redact})
	if err != nil {
		return 0, err
	}
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, err
		}
		m, err := tmp.Write(chunk.GetData())
		n += int64(m)
		if err != nil {
			return 0, fmt.Errorf("writing snapshot file: %w", err)
		}
	}
	if n == 0 {
		return 0, errors.New("the server sent an empty snapshot; nothing written")
	}
	if err := tmp.Sync(); err != nil {
		return 0, fmt.Errorf("writing snapshot file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return 0, fmt.Errorf("writing snapshot file: %w", err)
	}
	return n, nil
}

// syncDir makes a rename durable where the platform supports it.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}

// restoreForceKey is the gRPC metadata key of --force: SnapshotRestore's stream carries only
// chunks, so the flag travels as metadata.
const restoreForceKey = apiv1.MetadataRestoreForce

// snapshotRestore streams the file at path to SnapshotRestore.
func (a *app) snapshotRestore(ctx context.Context, path string, force bool) (snapshotRestoreJSON, error) {
	out := snapshotRestoreJSON{File: path}
	f, err := os.Open(path)
	if err != nil {
		return out, fmt.Errorf("opening snapshot file: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() || fi.Size() == 0 {
		return out, fmt.Errorf("snapshot file %s is empty or not a regular file", path)
	}
	err = a.do(ctx, func(ctx context.Context, c service) error {
		if force {
			ctx = metadata.AppendToOutgoingContext(ctx, restoreForceKey, "1")
		}
		return restoreStream(ctx, c, f, &out)
	})
	return out, err
}

// restoreStream sends the file f to SnapshotRestore and records the answer in out.
func restoreStream(ctx context.Context, c service, f *os.File, out *snapshotRestoreJSON) error {
	stream, err := c.SnapshotRestore(ctx)
	if err != nil {
		return err
	}
	buf := make([]byte, snapshotChunkSize)
	for {
		m, rerr := io.ReadFull(f, buf)
		if m > 0 {
			out.Bytes += int64(m)
			if err := stream.Send(&apiv1.SnapshotChunk{Data: buf[:m]}); err != nil {
				// The server ended the stream; its status comes from CloseAndRecv.
				break
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			return fmt.Errorf("reading snapshot file: %w", rerr)
		}
	}
	r, err := stream.CloseAndRecv()
	if err != nil {
		return err
	}
	out.Index, out.Members, out.Workloads = r.GetIndex(), r.GetMembers(), r.GetWorkloads()
	return nil
}
