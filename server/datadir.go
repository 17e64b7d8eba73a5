package server

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/raft"
)

// The data directory holds the Raft log (raft.db), the snapshots (snapshots/<id>/state.bin and
// meta.json) and the bootstrap token: the members' ECX passwords and the API token hashes are
// in all of them. So every directory in it is 0700 and every file 0600, whatever the umask and
// whoever created the directory: systemd's StateDirectory= makes it 0755, and hashicorp/raft
// creates snapshot directories 0755 and their files 0644 (less the umask).

const (
	privateDirMode  os.FileMode = 0o700
	privateFileMode os.FileMode = 0o600
)

// prepareDataDir creates dir 0700, or makes an existing one private: it, and every directory
// and file in it that this process owns, lose every group and other permission. It warns when
// dir was open to others (files may have been copied while it was), and when it still is
// because another user owns it.
func (s *Server) prepareDataDir(dir string) error {
	if err := os.MkdirAll(dir, privateDirMode); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("data dir %s is not a directory", dir)
	}
	if mode := fi.Mode().Perm(); mode&0o077 != 0 && permissionsApply {
		if ownedByMe(fi) {
			s.logger.Warn("the data directory was open to other users: made it 0700; it holds the ECX passwords and token hashes, so check who could read it (with systemd, set StateDirectoryMode=0700)",
				"data_dir", dir, "was", fmt.Sprintf("%04o", mode))
		} else {
			s.logger.Warn("the data directory is open to other users and owned by another user, so csetd cannot close it: it holds the ECX passwords and token hashes; run chmod 700 on it (with systemd, set StateDirectoryMode=0700)",
				"data_dir", dir, "mode", fmt.Sprintf("%04o", mode))
		}
	}
	return makePrivate(dir)
}

// makePrivate removes group and other permissions from root and everything below it that this
// process owns. Symbolic links are not followed. It does nothing where file modes do not apply.
func makePrivate(root string) error {
	if !permissionsApply {
		return nil
	}
	return filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil // removed while we walk (a snapshot being reaped)
			}
			return fmt.Errorf("data dir: %w", err)
		}
		if d.Type()&os.ModeSymlink != 0 || !(d.IsDir() || d.Type().IsRegular()) {
			return nil
		}
		fi, err := d.Info()
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
		want := privateFileMode
		if d.IsDir() {
			want = privateDirMode
		}
		if fi.Mode().Perm()&0o077 == 0 || !ownedByMe(fi) {
			return nil
		}
		if err := os.Chmod(path, want); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("data dir: make %s private: %w", path, err)
		}
		return nil
	})
}

// privateSnapshots is raft's file snapshot store with every snapshot made private as soon as
// it is created: its directory 0700, its files 0600. (The snapshots directory itself is 0700
// already, so nothing in it was ever reachable by others.)
type privateSnapshots struct {
	*raft.FileSnapshotStore
	dir string // the store's snapshots directory
}

// Create starts a snapshot and makes its directory and files private before the state is
// written into them.
func (p *privateSnapshots) Create(version raft.SnapshotVersion, index, term uint64, configuration raft.Configuration,
	configurationIndex uint64, trans raft.Transport) (raft.SnapshotSink, error) {
	sink, err := p.FileSnapshotStore.Create(version, index, term, configuration, configurationIndex, trans)
	if err != nil {
		return nil, err
	}
	// raft writes a new snapshot under <id>.tmp and renames it when complete; modes survive.
	if err := makePrivate(filepath.Join(p.dir, sink.ID()+".tmp")); err != nil {
		_ = sink.Cancel()
		return nil, err
	}
	return sink, nil
}
