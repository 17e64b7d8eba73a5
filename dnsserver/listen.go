package dnsserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
)

// listen binds n UDP sockets with SO_REUSEPORT (one where the platform has no SO_REUSEPORT:
// reusePortSupported) and one TCP listener on the same address. With port 0 it retries a few
// times, because the free UDP port may be taken for TCP.
func listen(addr string, n int) ([]*net.UDPConn, *net.TCPListener, error) {
	if !reusePortSupported {
		n = 1
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dns listen address %q: %w", addr, err)
	}
	attempts := 1
	if port == "0" {
		attempts = 20
	}
	for i := 0; ; i++ {
		udp, tcp, err := listenOnce(host, port, n)
		if err == nil || i+1 >= attempts || !errors.Is(err, syscall.EADDRINUSE) {
			return udp, tcp, err
		}
	}
}

func listenOnce(host, port string, n int) ([]*net.UDPConn, *net.TCPListener, error) {
	lc := net.ListenConfig{Control: reusePort}
	ctx := context.Background()
	var udp []*net.UDPConn
	closeAll := func() {
		for _, c := range udp {
			_ = c.Close() // cleanup after a failed bind
		}
	}
	for i := 0; i < n; i++ {
		pc, err := lc.ListenPacket(ctx, "udp", net.JoinHostPort(host, port))
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("dns listen udp: %w", err)
		}
		udp = append(udp, pc.(*net.UDPConn))
		port = strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port)
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		closeAll()
		return nil, nil, fmt.Errorf("dns listen tcp: %w", err)
	}
	return udp, l.(*net.TCPListener), nil
}
