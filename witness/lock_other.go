//go:build !unix

package witness

import "os"

// lockDir opens the lock file without locking it: outside Unix the data directory is not
// protected against a second witness process, which the operator must avoid (docs/witness.md).
func lockDir(name string) (*os.File, error) {
	return os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
}

// syncDir is a no-op where directories cannot be fsynced (Windows). The rename there is an
// atomic MoveFileEx replacement; the file's contents were fsynced before it, but the durability
// of the rename itself is left to the file system.
func syncDir(string) error { return nil }
