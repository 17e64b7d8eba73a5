//go:build linux

package dnsserver

import (
	"errors"
	"net"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// udpBatch is the number of datagrams read with one recvmmsg and answered with one sendmmsg.
const udpBatch = 32

// udpInBuf bounds a query read over UDP; a longer datagram is dropped (it is not a query).
const udpInBuf = 4096

// mmsghdr is struct mmsghdr from <sys/socket.h>.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

// batchIO holds the buffers of one UDP socket's batched loop; nothing is allocated per query.
type batchIO struct {
	recv  [udpBatch]mmsghdr
	send  [udpBatch]mmsghdr
	riov  [udpBatch]unix.Iovec
	siov  [udpBatch]unix.Iovec
	names [udpBatch]unix.RawSockaddrInet6
	in    [udpBatch][]byte
	out   [udpBatch][]byte
}

func newBatchIO(maxUDP int) *batchIO {
	b := &batchIO{}
	for i := range udpBatch {
		b.in[i] = make([]byte, udpInBuf)
		b.out[i] = make([]byte, 0, maxUDP+optLen)
		b.riov[i].Base = &b.in[i][0]
		b.riov[i].SetLen(udpInBuf)
		b.recv[i].hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		b.recv[i].hdr.Iov = &b.riov[i]
		b.recv[i].hdr.SetIovlen(1)
		b.send[i].hdr.Iov = &b.siov[i]
		b.send[i].hdr.SetIovlen(1)
	}
	return b
}

// serveUDP answers datagrams in batches: one recvmmsg reads up to udpBatch queries, and one
// sendmmsg sends their answers, which cuts the system calls per query from two to a fraction.
func (s *Server) serveUDP(c *net.UDPConn) {
	rc, err := c.SyscallConn()
	if err != nil {
		s.serveUDPSimple(c)
		return
	}
	b := newBatchIO(s.maxUDP)
	sc := newScratch()
	for {
		n, err := b.read(rc)
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("udp read failed", "error", err)
			continue
		}
		k := 0
		for i := range n {
			m := &b.recv[i]
			if m.hdr.Flags&unix.MSG_TRUNC != 0 {
				s.metrics.drop()
				continue
			}
			sc.out = b.out[i][:0]
			out, _ := s.handle(b.in[i][:m.len], sc, false, sockaddrAddr(&b.names[i]))
			if out == nil {
				continue
			}
			b.out[i] = out[:0] // keep a grown buffer for the next round
			snd := &b.send[k]
			snd.hdr.Name, snd.hdr.Namelen = m.hdr.Name, m.hdr.Namelen
			b.siov[k].Base = &out[0]
			b.siov[k].SetLen(len(out))
			snd.hdr.Iov = &b.siov[k]
			k++
		}
		if err := b.write(rc, k); err != nil && s.ctx.Err() == nil {
			s.log.Debug("udp write failed", "error", err)
		}
	}
}

// read waits for at least one datagram and reads up to udpBatch.
func (b *batchIO) read(rc interface {
	Read(func(uintptr) bool) error
}) (int, error) {
	for i := range udpBatch {
		b.recv[i].hdr.Namelen = uint32(unsafe.Sizeof(b.names[i]))
		b.recv[i].hdr.Flags = 0
	}
	var n int
	var errno unix.Errno
	err := rc.Read(func(fd uintptr) bool {
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.recv[0])), udpBatch,
			unix.MSG_DONTWAIT, 0, 0)
		if e == unix.EAGAIN || e == unix.EINTR {
			return false
		}
		n, errno = int(r), e
		return true
	})
	if err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, errno
	}
	return n, nil
}

// write sends the first k answers; a datagram the kernel rejects is skipped.
func (b *batchIO) write(rc interface {
	Write(func(uintptr) bool) error
}, k int) error {
	var firstErr error
	for sent := 0; sent < k; {
		var n int
		var errno unix.Errno
		err := rc.Write(func(fd uintptr) bool {
			r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.send[sent])),
				uintptr(k-sent), unix.MSG_DONTWAIT, 0, 0)
			if e == unix.EAGAIN || e == unix.EINTR {
				return false
			}
			n, errno = int(r), e
			return true
		})
		if err != nil {
			return err
		}
		if errno != 0 {
			if firstErr == nil {
				firstErr = errno
			}
			n = 1 // skip the datagram that failed
		}
		sent += n
	}
	return firstErr
}

// sockaddrAddr returns the IP address in a raw socket address.
func sockaddrAddr(sa *unix.RawSockaddrInet6) netip.Addr {
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrFrom4(sa4.Addr)
	case unix.AF_INET6:
		return netip.AddrFrom16(sa.Addr)
	}
	return netip.Addr{}
}
