//go:build !linux

package ecxsim

import (
	"context"
	"net"
)

// connReset reports whether the client of a held request is gone. Without the TCP state of
// Linux a closed connection cannot be told from a reset one: every client that went away counts
// as reset, so a request given up on is never delivered at the heal.
func connReset(ctx context.Context, _ net.Conn) bool { return ctx.Err() != nil }
