//go:build !unix

package dnsserver

import "syscall"

// reusePortSupported: the platform (Windows) has no SO_REUSEPORT, so DNS serves UDP from one
// socket whatever Config.Sockets says.
const reusePortSupported = false

func reusePort(_, _ string, _ syscall.RawConn) error { return nil }
