package dnsserver

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

func (s *Server) acceptTCP() {
	sem := make(chan struct{}, s.cfg.MaxTCPConns)
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("tcp accept failed", "error", err)
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(50 * time.Millisecond): // back off on EMFILE and friends
			}
			continue
		}
		select {
		case sem <- struct{}{}:
		default:
			_ = c.Close() // over MaxTCPConns: shed the connection
			continue
		}
		if !s.track(c, true) {
			_ = c.Close() // server closing
			<-sem
			continue
		}
		s.goFunc(func() {
			defer func() { <-sem }()
			defer s.track(c, false)
			defer c.Close()
			s.serveTCP(c)
		})
	}
}

// track adds or removes a connection from the set closed by Close; adding fails once closed.
func (s *Server) track(c net.Conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !add {
		delete(s.conns, c)
		return true
	}
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

// serveTCP answers length-prefixed queries on one connection until it is idle or fails.
func (s *Server) serveTCP(c net.Conn) {
	var remote netip.Addr
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		remote = a.AddrPort().Addr()
	}
	sc := s.scratch.Get().(*scratch)
	defer s.scratch.Put(sc)
	buf := make([]byte, maxMsg)
	for {
		if err := c.SetReadDeadline(time.Now().Add(s.cfg.TCPIdleTimeout)); err != nil {
			return
		}
		var l [2]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			return
		}
		n := int(be16(l[:]))
		if _, err := io.ReadFull(c, buf[:n]); err != nil {
			return
		}
		out, xfr := s.handle(buf[:n], sc, true, remote)
		if xfr != nil {
			w := &tcpWriter{c: c, timeout: s.cfg.TCPIdleTimeout}
			if err := s.transfer(xfr, w.writeMsg); err != nil {
				s.log.Warn("zone transfer failed", "error", err, "client", remote.String())
				return
			}
			continue
		}
		if out == nil {
			return // a response or garbage on a stream: hang up
		}
		w := append(sc.tcpw[:0], byte(len(out)>>8), byte(len(out)))
		w = append(w, out...)
		if err := c.SetWriteDeadline(time.Now().Add(s.cfg.TCPIdleTimeout)); err != nil {
			return
		}
		if _, err := c.Write(w); err != nil {
			return
		}
	}
}

type tcpWriter struct {
	c       net.Conn
	timeout time.Duration
}

func (w *tcpWriter) writeMsg(m *dns.Msg) error {
	b, err := m.Pack()
	if err != nil {
		return fmt.Errorf("pack transfer message: %w", err)
	}
	if err := w.c.SetWriteDeadline(time.Now().Add(w.timeout)); err != nil {
		return fmt.Errorf("set deadline: %w", err)
	}
	if _, err := w.c.Write(append([]byte{byte(len(b) >> 8), byte(len(b))}, b...)); err != nil {
		return fmt.Errorf("write transfer message: %w", err)
	}
	return nil
}
