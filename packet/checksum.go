// Package packet holds []byte views over the headers cbac reads and writes on
// the packet path (Ethernet, ARP, IPv4, TCP, UDP, ICMPv4) and the Internet
// checksum, full (RFC 1071) and incremental (RFC 1624).
//
// Each view is a []byte type over the frame, in the style of gVisor
// pkg/tcpip/header: one IsValid gate checks bounds once, after which the
// accessors index without further checks (they panic on a view that did not
// pass its gate, like an out-of-range slice would). Nothing here allocates,
// and nothing imports anything outside the standard library.
//
// IPv4 addresses are uint32 in host order (a<<24 | b<<16 | c<<8 | d).
package packet

import (
	"encoding/binary"
	"math/bits"
)

// Checksum returns the ones'-complement sum (RFC 1071) of b added to initial,
// not yet folded to 16 bits and not complemented: the result is congruent,
// modulo 0xffff, to the 16-bit ones'-complement sum, so partial sums over
// consecutive even-length pieces can be chained through initial. An odd
// trailing byte is padded with a zero byte on the right, as RFC 1071 says.
//
// The sum is computed 8 bytes at a time in a uint64 with end-around carry;
// this is valid because 2^16, 2^32 and 2^64 are all 1 modulo 0xffff. The
// main loop takes 64 bytes per round as one add-with-carry chain (the carry
// of each add feeds the next, ADCQ on amd64) and counts the chain's last
// carry apart, so that no round waits on the previous round's carry flag:
// the chain runs at one 8-byte add per cycle (twice the speed of counting
// every carry separately; BenchmarkChecksum).
func Checksum(b []byte, initial uint32) uint32 {
	sum := uint64(initial)
	var carry, c uint64
	for len(b) >= 64 {
		w := b[:64:64]
		sum, c = bits.Add64(sum, binary.BigEndian.Uint64(w), 0)
		sum, c = bits.Add64(sum, binary.BigEndian.Uint64(w[8:]), c)
		sum, c = bits.Add64(sum, binary.BigEndian.Uint64(w[16:]), c)
		sum, c = bits.Add64(sum, binary.BigEndian.Uint64(w[24:]), c)
		sum, c = bits.Add64(sum, binary.BigEndian.Uint64(w[32:]), c)
		sum, c = bits.Add64(sum, binary.BigEndian.Uint64(w[40:]), c)
		sum, c = bits.Add64(sum, binary.BigEndian.Uint64(w[48:]), c)
		sum, c = bits.Add64(sum, binary.BigEndian.Uint64(w[56:]), c)
		carry += c
		b = b[64:]
	}
	for len(b) >= 8 {
		sum, c = bits.Add64(sum, binary.BigEndian.Uint64(b), 0)
		carry += c
		b = b[8:]
	}
	var tail uint64
	if len(b) >= 4 {
		tail = uint64(binary.BigEndian.Uint32(b)) << 32
		b = b[4:]
	}
	if len(b) >= 2 {
		tail += uint64(binary.BigEndian.Uint16(b)) << 16
		b = b[2:]
	}
	if len(b) == 1 {
		tail += uint64(b[0]) << 8
	}
	sum, c = bits.Add64(sum, tail, 0)
	carry += c
	sum, c = bits.Add64(sum, carry, 0)
	sum += c // cannot overflow: sum < 2^64-1 whenever c == 1
	sum = sum>>32 + sum&0xffffffff
	sum = sum>>32 + sum&0xffffffff
	return uint32(sum)
}

// fold16 folds an unfolded ones'-complement sum to 16 bits, without
// complementing it. Two rounds are enough for any uint32.
func fold16(sum uint32) uint16 {
	sum = sum>>16 + sum&0xffff
	sum = sum>>16 + sum&0xffff
	return uint16(sum)
}

// Fold folds an unfolded sum from Checksum to 16 bits and complements it:
// the value that goes into a checksum field. A buffer whose checksum field
// is correct folds to 0.
func Fold(sum uint32) uint16 {
	return ^fold16(sum)
}

// PseudoHeaderChecksum returns the unfolded sum of the TCP/UDP pseudo-header
// (RFC 793 section 3.1, RFC 768): source and destination address, zero,
// protocol, and the TCP/UDP length. Pass it as initial to Checksum over the
// L4 header and payload.
func PseudoHeaderChecksum(src, dst uint32, proto uint8, length uint16) uint32 {
	return src>>16 + src&0xffff + dst>>16 + dst&0xffff + uint32(proto) + uint32(length)
}

// IsPartialChecksum reports whether field, the checksum field of a TCP or
// UDP segment (proto) of length bytes from src to dst, holds the folded
// pseudo-header sum, not complemented and without the segment's bytes: what
// a sender writes when it leaves the checksum to offload hardware (Linux
// CHECKSUM_PARTIAL; the NIC, or the kernel when no NIC can, adds the segment
// and complements the result on the way out). A frame that crosses a veth
// or some drivers into AF_XDP arrives with the checksum still unfinished.
// Ask only about a segment whose checksum did not verify: a finished
// checksum can take this value by chance (1 in 65536).
func IsPartialChecksum(field uint16, src, dst uint32, proto uint8, length uint16) bool {
	return field == fold16(PseudoHeaderChecksum(src, dst, proto, length))
}

// Incremental update, RFC 1624 section 3, equation 3:
//
//	HC' = ~(~HC + ~m + m')
//
// where HC is the old checksum field, m the old value of a 16-bit field the
// checksum covers and m' its new value. Unlike RFC 1141's ~(HC + m - m') it
// never yields 0xffff from a valid checksum over non-zero data, so it equals
// a full recomputation (RFC 1624 sections 3 and 5). The one difference is
// covered data that is all zeros after the update, where a full computation
// gives 0xffff and eqn. 3 gives 0x0000; both verify, and no IPv4 header or
// TCP/UDP pseudo-header (protocol is non-zero) is ever all zeros.

// ChecksumUpdate16 returns checksum field hc updated for a 16-bit word of the
// covered data changing from old to new (RFC 1624 eqn. 3). The word must sit
// at an even offset of the checksummed area.
func ChecksumUpdate16(hc, old, new uint16) uint16 {
	sum := uint32(^hc) + uint32(^old) + uint32(new)
	return ^fold16(sum)
}

// ChecksumUpdate32 returns checksum field hc updated for a 32-bit word (an
// IPv4 address) changing from old to new (RFC 1624 eqn. 3 applied to both
// halves).
func ChecksumUpdate32(hc uint16, old, new uint32) uint16 {
	sum := uint32(^hc) + (^old)>>16 + (^old)&0xffff + new>>16 + new&0xffff
	return ^fold16(sum)
}

// ChecksumDelta32 returns the ~m + m' part of RFC 1624 eqn. 3 for a 32-bit
// word changing from old to new, precomputed once per flow (a NAT rewrite).
// Deltas add: the sum of several deltas (each below 2^18) is itself a delta.
func ChecksumDelta32(old, new uint32) uint32 {
	return (^old)>>16 + (^old)&0xffff + new>>16 + new&0xffff
}

// ChecksumDelta16 is ChecksumDelta32 for a 16-bit word (a port).
func ChecksumDelta16(old, new uint16) uint32 {
	return uint32(^old) + uint32(new)
}

// ApplyDelta returns checksum field hc updated by a precomputed delta from
// ChecksumDelta32/ChecksumDelta16 (or their sum): ~(~HC + delta).
func ApplyDelta(hc uint16, delta uint32) uint16 {
	return ^fold16(uint32(^hc) + delta)
}

// ChecksumUpdateBytes returns checksum field hc updated for the bytes old
// being replaced, in place, by new (same length) at byte offset offset of the
// checksummed area (for TCP: offset from the start of the TCP header). The
// parity of offset matters: a run starting at an odd offset contributes its
// bytes as the low halves of the 16-bit words, which is the byte-swapped sum
// (RFC 1071 section 2(B)). old must be a copy taken before the rewrite.
func ChecksumUpdateBytes(hc uint16, offset int, old, new []byte) uint16 {
	so := fold16(Checksum(old, 0))
	sn := fold16(Checksum(new, 0))
	if offset&1 != 0 {
		so = bits.ReverseBytes16(so)
		sn = bits.ReverseBytes16(sn)
	}
	return ChecksumUpdate16(hc, so, sn)
}
