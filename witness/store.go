package witness

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

const (
	stateFileName = "witness-state.json"
	lockFileName  = "witness.lock"
	stateVersion  = 1
)

// stateFile is the persisted witness state. Times are stored as ages relative to the moment of
// writing, because the witness measures time only with its own monotonic clock, which does not
// survive a restart.
type stateFile struct {
	Version int                     `json:"version"`
	Sets    map[string]persistedSet `json:"sets"`
	// Clusters maps cluster -> server -> milliseconds since its last heartbeat when written.
	Clusters map[string]map[string]int64 `json:"clusters"`
	// MaxGrantedTTLMs is the longest lease TTL this witness has ever granted (0: none yet). The
	// restart hold covers it: no lease granted before a restart can outlive the hold. A state
	// file written before this field existed has it 0 and is treated as if MaxTTL was granted.
	MaxGrantedTTLMs int64 `json:"max_granted_ttl_ms,omitempty"`
}

// store writes the state file atomically and durably: write a temporary file, fsync it, rename
// it over the state file, fsync the directory. It holds an exclusive lock on the data directory
// so two witness processes never share one.
type store struct {
	dir  string
	lock *os.File
}

// openStore creates dir if needed, locks it and reads the state file; a missing file gives an
// empty state, a corrupt one or one from a newer version is an error (the operator must decide).
func openStore(dir string) (*store, *stateFile, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("create data dir: %w", err)
	}
	lock, err := lockDir(filepath.Join(dir, lockFileName))
	if err != nil {
		return nil, nil, fmt.Errorf("lock data dir %s: %w", dir, err)
	}
	st := &store{dir: dir, lock: lock}
	f, err := st.read()
	if err != nil {
		_ = lock.Close()
		return nil, nil, err
	}
	return st, f, nil
}

func (s *store) path() string { return filepath.Join(s.dir, stateFileName) }

func (s *store) read() (*stateFile, error) {
	empty := &stateFile{Version: stateVersion, Sets: map[string]persistedSet{}, Clusters: map[string]map[string]int64{}}
	b, err := os.ReadFile(s.path())
	if errors.Is(err, fs.ErrNotExist) {
		return empty, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	f := &stateFile{}
	if err := json.Unmarshal(b, f); err != nil {
		return nil, fmt.Errorf("decode state file %s: %w", s.path(), err)
	}
	if f.Version != stateVersion {
		return nil, fmt.Errorf("state file %s has version %d, this witness reads version %d", s.path(), f.Version, stateVersion)
	}
	if f.Sets == nil {
		f.Sets = empty.Sets
	}
	if f.Clusters == nil {
		f.Clusters = empty.Clusters
	}
	return f, nil
}

// save replaces the state file with f. When it returns nil the new state is on stable storage.
func (s *store) save(f *stateFile) error {
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	tmp := s.path() + ".tmp"
	if err := writeSynced(tmp, b); err != nil {
		return err
	}
	if err := os.Rename(tmp, s.path()); err != nil {
		return fmt.Errorf("replace state file: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		return fmt.Errorf("sync data dir: %w", err)
	}
	return nil
}

func writeSynced(name string, b []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	_, werr := f.Write(b)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

func (s *store) close() error {
	return s.lock.Close()
}
