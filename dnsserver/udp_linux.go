//go:build linux

package dnsserver

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

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

	// The functions passed to RawConn.Read and Write, made once (a method value passed to an
	// interface method escapes, so making them per call would allocate), and their results.
	recvFn, sendFn func(uintptr) bool
	n, sent, k     int
	errno          unix.Errno

	hashes [udpBatch]uint64 // of the names asked, for warm
	sink   uint64           // keeps warm's loads
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
	b.recvFn, b.sendFn = b.recvmmsg, b.sendmmsg
	return b
}

// serveUDP answers datagrams in batches: one recvmmsg reads up to udpBatch queries, and one
// sendmmsg sends their answers, which cuts the system calls per query from two to a fraction.
//
// Both are raw system calls (RawSyscall6: no entersyscall/exitsyscall). They never block
// (MSG_DONTWAIT; waiting is left to the poller), but a sendmmsg of 32 answers on loopback runs
// the whole receive path of every datagram and takes tens of microseconds. Made as an ordinary
// system call, that is long enough for sysmon to take the P away from the goroutine in the
// system call (with GOMAXPROCS=1 it does so whenever no other P is idle), hand it to another
// thread and have the goroutine wait for a P when the call returns: two threads waking each
// other with futexes for every batch, and sysmon itself polling every 20 us while that lasts. A
// raw system call keeps the P (other goroutines wait at most one batch) and removes all of it;
// it cut csetdns's CPU per query by about a quarter (docs/benchmarks-dns.md).
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
		b.warm(s.idx.Load(), n, sc)
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

// warm parses the n queries read and has idx load the table slots and entries their answers
// will need, all at once (table.warm). handle parses each query again, which costs less than the
// cache misses warm overlaps.
func (b *batchIO) warm(idx *index, n int, sc *scratch) {
	if idx == nil {
		return
	}
	for i := range n {
		b.hashes[i] = 0
		if p, ok := parseFast(b.in[i][:b.recv[i].len], sc); ok {
			b.hashes[i] = idx.names.hash(sc.key[:p.nameLen])
		}
	}
	b.sink += idx.names.warm(b.hashes[:n])
}

// read waits for at least one datagram and reads up to udpBatch.
func (b *batchIO) read(rc syscall.RawConn) (int, error) {
	for i := range udpBatch {
		b.recv[i].hdr.Namelen = uint32(unsafe.Sizeof(b.names[i]))
		b.recv[i].hdr.Flags = 0
	}
	if err := rc.Read(b.recvFn); err != nil {
		return 0, err
	}
	if b.errno != 0 {
		return 0, b.errno
	}
	return b.n, nil
}

// recvmmsg is the function rc.Read calls: one non-blocking recvmmsg, reporting false (wait for
// the socket to become readable) when there is nothing to read. It is a raw system call, made
// without telling the scheduler (see serveUDP).
func (b *batchIO) recvmmsg(fd uintptr) bool {
	r, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.recv[0])), udpBatch,
		unix.MSG_DONTWAIT, 0, 0)
	if e == unix.EAGAIN || e == unix.EINTR {
		return false
	}
	b.n, b.errno = int(r), e
	return true
}

// write sends the first k answers; a datagram the kernel rejects is skipped.
func (b *batchIO) write(rc syscall.RawConn, k int) error {
	var firstErr error
	for b.sent, b.k = 0, k; b.sent < k; {
		if err := rc.Write(b.sendFn); err != nil {
			return err
		}
		n := b.n
		if b.errno != 0 {
			if firstErr == nil {
				firstErr = b.errno
			}
			n = 1 // skip the datagram that failed
		}
		b.sent += n
	}
	return firstErr
}

// sendmmsg is the function rc.Write calls: one non-blocking sendmmsg of the answers from b.sent
// to b.k, as a raw system call.
func (b *batchIO) sendmmsg(fd uintptr) bool {
	r, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.send[b.sent])),
		uintptr(b.k-b.sent), unix.MSG_DONTWAIT, 0, 0)
	if e == unix.EAGAIN || e == unix.EINTR {
		return false
	}
	b.n, b.errno = int(r), e
	return true
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
