// Package flowtable is the per-worker CBAC session table (docs/behaviour.md "Sessions and timers").
//
// One Table per worker (one shard). A flow is owned by exactly one worker, so
// a Table is used by one goroutine only and takes no locks. Everything is
// preallocated by New for a configured maximum of sessions:
//
//   - a slab of Entry addressed by a stable uint32 index (0 means "none"), so
//     the dataplane can keep its per-session payload in a parallel slab;
//   - an open-addressing hash index (linear probing, load <= 0.5, deletion by
//     Knuth's algorithm R, so no tombstones) from a wire Key to
//     (session index, direction). Every session is indexed under two keys,
//     the initiator's packets as seen at ingress (Orig) and the responder's
//     packets as seen at ingress (Reply), so one lookup finds the session
//     and the direction of a packet;
//   - one FIFO list per expiry class. A packet only writes LastSeen (Touch);
//     Expire works a bounded number of steps from the list heads between
//     batches, never a timer object per session.
package flowtable

import "math/bits"

// Key is a flow as seen on the wire at ingress. Addresses are host order
// (a<<24|b<<16|c<<8|d). For ICMP echo both ports hold the identifier.
// The blank padding keeps the struct at 16 bytes; == ignores it.
type Key struct {
	Src, Dst         uint32
	SrcPort, DstPort uint16
	Proto            uint8
	_                [3]byte
}

// Reverse returns the key of the opposite direction of the same flow
// (before any NAT: the caller translates the addresses itself).
func (k Key) Reverse() Key {
	return Key{Src: k.Dst, Dst: k.Src, SrcPort: k.DstPort, DstPort: k.SrcPort, Proto: k.Proto}
}

// hash mixes the 13 significant bytes of k, loaded as two 64-bit words, with
// two rounds of a 64x64->128 multiply folded by xor (the wyhash "mum"
// primitive). The per-table seeds make collisions hard to provoke from the
// wire (hash flooding). No scratch buffer, no allocation.
func (k *Key) hash(s0, s1 uint64) uint64 {
	a := uint64(k.Src)<<32 | uint64(k.Dst)
	b := uint64(k.SrcPort)<<48 | uint64(k.DstPort)<<32 | uint64(k.Proto)
	hi, lo := bits.Mul64(a^s0, b^s1)
	hi, lo = bits.Mul64(hi^lo^0xe7037ed1a0b428db, s1^0xa0761d6478bd642f)
	return hi ^ lo
}

// splitmix64 derives the hash seeds from the constructor's seed.
func splitmix64(x *uint64) uint64 {
	*x += 0x9e3779b97f4a7c15
	z := *x
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}
