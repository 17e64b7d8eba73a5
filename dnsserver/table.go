package dnsserver

import (
	"encoding/binary"
	"errors"
	"hash/maphash"
	"math/bits"
)

// udpBatch is the number of datagrams read with one recvmmsg and answered with one sendmmsg
// (udp_linux.go), and so the most names warm loads at once. It is defined here, for every
// platform, because warm is.
const udpBatch = 32

// table maps the lower-case wire names of the zone to their pre-packed answers. It replaces a
// map[string]*node on the query path, where a zone of 10,000 names does not fit in the caches
// and each query paid one cache miss for the map's group, one for the key's bytes, one for the
// node, one for its answer list and one for the answer: the table keeps a name's key, its
// directory of answers and the answers themselves in one contiguous entry, so a lookup touches
// the slot and then one entry (whose first cache lines hold the key and, for the common A query,
// the start of the answer).
//
// slots is an open-addressing table (linear probing, at most half full) of
// tag<<32 | (offset+1), where tag is the upper half of the name's hash and offset the entry's
// position in data; 0 is an empty slot. An entry is
//
//	keyLen u8, key [keyLen]byte, n u8, n × (qtype u16, len u16), nodataLen u16, the n answers,
//	the NODATA answer without its authority section
//
// with the answers in the order of the directory.
type table struct {
	slots []uint64
	mask  uint64
	data  []byte
	names int
	seed  uint64
}

// maxTableData bounds data so that offsets fit in 32 bits.
const maxTableData = 1<<32 - 2

// newTable returns a table sized for n names whose entries take dataSize bytes.
func newTable(n, dataSize int) *table {
	size := 8
	for size < 2*n {
		size <<= 1
	}
	return &table{slots: make([]uint64, size), mask: uint64(size - 1), seed: hashSeed, data: make([]byte, 0, dataSize)}
}

// hashSeed makes the table's layout differ between processes.
var hashSeed = maphash.Comparable(maphash.MakeSeed(), 0) | 1

// encodeEntry appends the table entry of the name key with its answers and NODATA answer to dst.
func encodeEntry(dst, key []byte, answers []answer, nodata []byte) ([]byte, error) {
	if len(key) == 0 || len(key) > 255 || len(answers) > 255 || len(nodata) > maxMsg {
		return nil, errors.New("dns table: invalid entry")
	}
	d := append(dst, byte(len(key)))
	d = append(d, key...)
	d = append(d, byte(len(answers)))
	for _, a := range answers {
		if len(a.msg) > maxMsg {
			return nil, errors.New("dns table: answer too large")
		}
		d = binary.BigEndian.AppendUint16(d, a.qtype)
		d = binary.BigEndian.AppendUint16(d, uint16(len(a.msg)))
	}
	d = binary.BigEndian.AppendUint16(d, uint16(len(nodata)))
	for _, a := range answers {
		d = append(d, a.msg...)
	}
	return append(d, nodata...), nil
}

// addEntry stores an entry made by encodeEntry whose key hashes to h (t.hash, the same for
// every table of this process). Adding a name twice is an error.
func (t *table) addEntry(entry []byte, h uint64) error {
	key := entry[1 : 1+int(entry[0])]
	if t.lookup(key, h) >= 0 {
		return errors.New("dns table: duplicate name")
	}
	off := len(t.data)
	d := append(t.data, entry...)
	if len(d) > maxTableData {
		return errors.New("dns table: zone too large")
	}
	t.data = d
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		if t.slots[i] == 0 {
			t.slots[i] = h&^0xffffffff | uint64(off+1)
			break
		}
	}
	t.names++
	return nil
}

// lookup returns the offset of the entry of key, whose hash is h, or -1.
func (t *table) lookup(key []byte, h uint64) int {
	tag := h &^ 0xffffffff
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		s := t.slots[i]
		if s == 0 {
			return -1
		}
		if s&^0xffffffff != tag {
			continue
		}
		off := int(s&0xffffffff) - 1
		if n := int(t.data[off]); n == len(key) && string(t.data[off+1:off+1+n]) == string(key) {
			return off
		}
	}
}

// answer returns the pre-packed answer for qtype in the entry at off: the positive answer when
// the name has that type, else its NODATA answer (nodata true), which lacks its authority
// section: the query path appends the zone's SOA (index.nxTail), so that a name's entry does not
// change with the serial.
func (t *table) answer(off int, qtype uint16) ([]byte, bool) {
	d := t.data
	p := off + 1 + int(d[off])
	n := int(d[p])
	dir := p + 1
	msg := dir + 4*n + 2 // the first answer
	for i := range n {
		e := dir + 4*i
		l := int(d[e+2])<<8 | int(d[e+3])
		if uint16(d[e])<<8|uint16(d[e+1]) == qtype {
			return d[msg : msg+l : msg+l], false
		}
		msg += l
	}
	l := int(d[dir+4*n])<<8 | int(d[dir+4*n+1])
	return d[msg : msg+l : msg+l], true
}

// hash is the hash of a lower-case wire name. It reads eight bytes at a time.
func (t *table) hash(key []byte) uint64 {
	h := t.seed ^ uint64(len(key))*0x9E3779B97F4A7C15
	for len(key) >= 8 {
		h = mix(h ^ binary.LittleEndian.Uint64(key))
		key = key[8:]
	}
	if len(key) > 0 {
		var w uint64
		for i, c := range key {
			w |= uint64(c) << (8 * i)
		}
		h = mix(h ^ w)
	}
	return mix(h)
}

// mix is a multiply-fold mixer (as in wyhash).
func mix(x uint64) uint64 {
	hi, lo := bits.Mul64(x, 0xA0761D6478BD642F)
	return hi ^ lo
}

// warm loads, for each hash in hs, the slot a lookup reads first and the first bytes of the
// entry it points to, and returns a value made from them so that the loads are kept. Called on a
// batch of queries before they are answered one by one, it makes the CPU wait for the cache
// misses of the whole batch at once instead of one query after the other: each loop's body is a
// few instructions, so the loads of many queries are in flight together. A hash of 0 is skipped.
func (t *table) warm(hs []uint64) (sink uint64) {
	var offs [udpBatch]uint32
	slots, mask := t.slots, t.mask
	for i, h := range hs[:min(len(hs), udpBatch)] {
		if h != 0 {
			offs[i] = uint32(slots[h&mask])
		}
	}
	d := t.data
	for _, o := range offs[:min(len(hs), udpBatch)] {
		if o != 0 {
			sink += uint64(d[o-1])
			if int(o)+63 < len(d) {
				sink += uint64(d[o+63]) // the next cache line: the rest of the directory and the first answer
			}
		}
	}
	return sink
}
