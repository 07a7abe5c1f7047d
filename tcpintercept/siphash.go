package tcpintercept

import (
	"encoding/binary"
	"math/bits"
)

// SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF",
// 2012): a keyed 64-bit PRF with a 128-bit key, the hash Linux uses for its
// SYN cookies. sipHash is the general form over a byte string; cookieHash is
// the same function unrolled for the cookie's fixed 20-byte message, so that
// the per-SYN path has no slice, no loop and no allocation.

func sipRound(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13)
	v1 ^= v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16)
	v3 ^= v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21)
	v3 ^= v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17)
	v1 ^= v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}

// sipInit returns the initial state for key (k0, k1), the key's two
// little-endian halves.
func sipInit(k0, k1 uint64) (uint64, uint64, uint64, uint64) {
	return k0 ^ 0x736f6d6570736575, k1 ^ 0x646f72616e646f6d, k0 ^ 0x6c7967656e657261, k1 ^ 0x7465646279746573
}

// sipCompress absorbs one 64-bit message word with two rounds (the "2").
func sipCompress(v0, v1, v2, v3, m uint64) (uint64, uint64, uint64, uint64) {
	v3 ^= m
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= m
	return v0, v1, v2, v3
}

// sipFinal runs the four finalization rounds (the "4").
func sipFinal(v0, v1, v2, v3 uint64) uint64 {
	v2 ^= 0xff
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	return v0 ^ v1 ^ v2 ^ v3
}

// sipHash returns SipHash-2-4 of msg under key (k0, k1).
func sipHash(k0, k1 uint64, msg []byte) uint64 {
	v0, v1, v2, v3 := sipInit(k0, k1)
	n := len(msg)
	for len(msg) >= 8 {
		v0, v1, v2, v3 = sipCompress(v0, v1, v2, v3, binary.LittleEndian.Uint64(msg))
		msg = msg[8:]
	}
	last := uint64(n) << 56
	for i := len(msg) - 1; i >= 0; i-- {
		last |= uint64(msg[i]) << (8 * i)
	}
	v0, v1, v2, v3 = sipCompress(v0, v1, v2, v3, last)
	return sipFinal(v0, v1, v2, v3)
}

// cookieHash returns SipHash-2-4 under (k0, k1) of the 20-byte message whose
// little-endian words are m0, m1 and the 4-byte tail m2: three compressions
// and the finalization, as sipHash would do for the same bytes.
func cookieHash(k0, k1, m0, m1 uint64, m2 uint32) uint64 {
	// sipCompress and sipFinal written out: sipRound inlines, they do not.
	v0, v1, v2, v3 := sipInit(k0, k1)
	v3 ^= m0
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= m0
	v3 ^= m1
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= m1
	m := 20<<56 | uint64(m2)
	v3 ^= m
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= m
	v2 ^= 0xff
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	return v0 ^ v1 ^ v2 ^ v3
}
