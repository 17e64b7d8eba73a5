//go:build unix

package server

import (
	"os"
	"syscall"
)

// permissionsApply reports whether Unix file modes protect the data directory here.
const permissionsApply = true

// ownedByMe reports whether this process's effective user owns the file (and so may chmod it).
func ownedByMe(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return !ok || int(st.Uid) == os.Geteuid()
}
