package guard

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// persistedState is the guard's state file: which groups are cset's, and the send time of the
// last acknowledged heartbeat, so that a restarted guard neither forgets what to protect nor
// counts its timeout from its own start (the masters count from the last heartbeat they heard).
type persistedState struct {
	Cluster string   `json:"cluster"`
	Server  string   `json:"server"`
	Groups  []string `json:"groups"`
	// LastAckSent is wall-clock time; after a restart the guard compares it with its clock.
	LastAckSent time.Time `json:"last_ack_sent"`
}

// loadState reads a state file; a missing file is an empty state.
func loadState(path string) (persistedState, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return persistedState{}, nil
	}
	if err != nil {
		return persistedState{}, fmt.Errorf("guard: read state file: %w", err)
	}
	var st persistedState
	if err := json.Unmarshal(b, &st); err != nil {
		return persistedState{}, fmt.Errorf("guard: state file %s is corrupt (%v): remove it only if the masters are reachable, they will send the groups again", path, err)
	}
	st.LastAckSent = st.LastAckSent.Round(0) // wall clock only
	return st, nil
}

// saveState writes the state file atomically (a temporary file in the same directory, synced,
// then renamed over the old one) with mode 0600.
func saveState(path string, st persistedState) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op after the rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the rename durable where the platform allows it
		d.Close()
	}
	return nil
}
