package tcpintercept

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// TestSipHashVectors checks the reference vectors of the SipHash paper and
// its reference implementation: key 00 01 .. 0f, message 00 01 .. (n-1).
func TestSipHashVectors(t *testing.T) {
	var key, msg [16]byte
	for i := range key {
		key[i] = byte(i)
		msg[i] = byte(i)
	}
	k0, k1 := binary.LittleEndian.Uint64(key[:]), binary.LittleEndian.Uint64(key[8:])
	tests := []struct {
		n    int
		want uint64
	}{
		{0, 0x726fdb47dd0e0e31},
		{1, 0x74f839c593dc67fd},
		{2, 0x0d6c8009d9a94f5a},
		{3, 0x85676696d7fb7e2d},
		{4, 0xcf2794e0277187b7},
		{8, 0x93f5f5799a932462},
		{15, 0xa129ca6149be45e5}, // the paper's appendix A example
	}
	for _, tc := range tests {
		if got := sipHash(k0, k1, msg[:tc.n]); got != tc.want {
			t.Errorf("len %d: %#016x, want %#016x", tc.n, got, tc.want)
		}
	}
}

// TestCookieHashIsSipHash checks the unrolled 20-byte form against the
// general one over the same bytes.
func TestCookieHashIsSipHash(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var msg [20]byte
	for i := 0; i < 10000; i++ {
		k0, k1, m0, m1, m2 := r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64(), r.Uint32()
		binary.LittleEndian.PutUint64(msg[:], m0)
		binary.LittleEndian.PutUint64(msg[8:], m1)
		binary.LittleEndian.PutUint32(msg[16:], m2)
		if got, want := cookieHash(k0, k1, m0, m1, m2), sipHash(k0, k1, msg[:]); got != want {
			t.Fatalf("cookieHash %#x, sipHash %#x", got, want)
		}
	}
}
