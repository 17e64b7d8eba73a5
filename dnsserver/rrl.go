package dnsserver

import (
	"net/netip"
	"sync/atomic"
	"time"
)

// Response rate limiting (RRL) keeps the server from being used to flood a victim whose address
// is spoofed in UDP queries: identical answers (same question) to one client network are limited
// to RateLimit per second. Past the limit every SlipRatio-th answer is sent truncated (TC, empty
// sections) so a real client retries over TCP, which cannot be spoofed; the others are dropped.
// TCP is never limited. Networks are /24 for IPv4 and /56 for IPv6, as in BIND's RRL.
//
// The table is a fixed array of counters updated with compare-and-swap: no lock and no
// allocation on the query path. Two keys hashing to one slot share its counter, which can only
// make limiting stricter for them, never let more through.
const rrlSlots = 1 << 16

type rrl struct {
	limit uint32 // answers per second per (network, question)
	slip  uint32 // every slip-th limited answer is sent truncated; 0 drops all
	slots [rrlSlots]atomic.Uint64
	drops atomic.Uint64 // limited answers, for the slip count
	now   func() time.Time
}

func newRRL(limit, slip int) *rrl {
	if limit <= 0 {
		return nil
	}
	return &rrl{limit: uint32(limit), slip: uint32(max(slip, 0)), now: time.Now}
}

// verdicts of rrl.check
const (
	rrlPass = iota
	rrlSlip
	rrlDrop
)

// check counts one answer to (remote, question) and says whether to send it, send it truncated,
// or drop it.
func (r *rrl) check(remote netip.Addr, q []byte) int {
	slot := &r.slots[rrlKey(remote, q)&(rrlSlots-1)]
	sec := uint32(r.now().Unix())
	for {
		v := slot.Load()
		count := uint32(v)
		if uint32(v>>32) != sec {
			count = 0
		}
		if count >= r.limit {
			if r.slip > 0 && r.drops.Add(1)%uint64(r.slip) == 0 {
				return rrlSlip
			}
			return rrlDrop
		}
		if slot.CompareAndSwap(v, uint64(sec)<<32|uint64(count+1)) {
			return rrlPass
		}
	}
}

// rrlKey hashes the client's network and the question (name lower-cased, type and class) with
// FNV-1a, reading the question straight from the query.
func rrlKey(remote netip.Addr, q []byte) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	add := func(b byte) { h = (h ^ uint64(b)) * prime }
	if remote.Is4() || remote.Is4In6() {
		a := remote.Unmap().As4()
		for _, b := range a[:3] {
			add(b)
		}
	} else {
		a := remote.As16()
		for _, b := range a[:7] {
			add(b)
		}
	}
	off := headerLen
	for off < len(q) {
		n := int(q[off])
		if n == 0 || n&0xC0 != 0 {
			break
		}
		for _, b := range q[off:min(off+1+n, len(q))] {
			if 'A' <= b && b <= 'Z' {
				b += 'a' - 'A'
			}
			add(b)
		}
		off += 1 + n
	}
	for _, b := range q[min(off, len(q)):min(off+5, len(q))] {
		add(b)
	}
	return h
}

// truncated turns an answer into its TC form: the header and question only, TC set.
func truncatedAnswer(out []byte) []byte {
	if len(out) < headerLen {
		return out
	}
	off := headerLen
	if be16(out[4:]) == 1 {
		for off < len(out) && out[off] != 0 && out[off]&0xC0 == 0 {
			off += 1 + int(out[off])
		}
		switch {
		case off < len(out) && out[off]&0xC0 != 0:
			off += 2
		default:
			off++
		}
		off += 4
	}
	if off > len(out) {
		return out
	}
	out = out[:off]
	out[2] |= 0x02 // TC
	out[6], out[7], out[8], out[9], out[10], out[11] = 0, 0, 0, 0, 0, 0
	return out
}
