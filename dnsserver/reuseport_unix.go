//go:build unix

package dnsserver

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// reusePortSupported: several UDP sockets can share one address.
const reusePortSupported = true

// reusePort sets SO_REUSEPORT so that several UDP sockets share one address and the kernel
// spreads the queries over them.
func reusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}); err != nil {
		return err
	}
	return serr
}
