package ecxsim

import (
	"context"
	"net"

	"golang.org/x/sys/unix"
)

// connReset reports whether the client of a held request reset its connection (TCP RST): its
// kernel then discarded what it had not delivered, so the request never arrives. It reads the
// socket's TCP state, which a reset turns to CLOSE (a FIN only to CLOSE_WAIT). A connection that
// is gone altogether counts as reset.
func connReset(_ context.Context, c net.Conn) bool {
	for {
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		c = u.NetConn()
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return false
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return true
	}
	reset := true
	if cerr := rc.Control(func(fd uintptr) {
		info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		reset = err != nil || info.State == unix.BPF_TCP_CLOSE
	}); cerr != nil {
		return true
	}
	return reset
}
