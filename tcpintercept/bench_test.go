package tcpintercept

import (
	"math/rand/v2"
	"testing"

	"cbac/packet"
)

// BenchmarkCookieMake is the per-SYN cost under a flood: one SipHash-2-4
// over 20 bytes plus the encoding; it bounds the SYN/ACK rate per core.
func BenchmarkCookieMake(b *testing.B) {
	b.ReportAllocs()
	jar := NewJar(testMaster)
	s := testSYN()
	now := int64(5) * tickNS
	var sink uint32
	for i := 0; b.Loop(); i++ {
		s.ISN = uint32(i)
		c := jar.Make(now, &s)
		sink += c.ISN
	}
	_ = sink
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cookies/s")
}

// BenchmarkCookieMakeSYNACK adds parsing the SYN and writing the SYN/ACK
// header with its checksum.
func BenchmarkCookieMakeSYNACK(b *testing.B) {
	b.ReportAllocs()
	jar := NewJar(testMaster)
	s0 := testSYN()
	c0 := jar.Make(0, &s0)
	var syn [SYNACKLen]byte
	n := WriteSYNACK(syn[:], &s0, &c0, 1460, 7) // a SYN-shaped segment with options
	in := packet.TCP(syn[:n])
	in.SetFlags(packet.SYN)
	var out [SYNACKLen]byte
	now := int64(5) * tickNS
	for b.Loop() {
		s := ParseSYN(s0.Src, s0.Dst, in)
		c := jar.Make(now, &s)
		WriteSYNACK(out[:], &s, &c, 1460, 7)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "synacks/s")
}

func BenchmarkCookieCheckValid(b *testing.B) {
	b.ReportAllocs()
	jar := NewJar(testMaster)
	s := testSYN()
	now := int64(5) * tickNS
	c := jar.Make(now, &s)
	a := ackFor(&s, &c)
	for b.Loop() {
		if _, ok := jar.Check(now, &a); !ok {
			b.Fatal("rejected")
		}
	}
}

// BenchmarkCookieCheckForged is a random-ACK flood: half fail the age test
// before any hashing, half cost one SipHash.
func BenchmarkCookieCheckForged(b *testing.B) {
	b.ReportAllocs()
	jar := NewJar(testMaster)
	r := rand.New(rand.NewPCG(1, 2))
	acks := make([]ACK, 1024)
	for i := range acks {
		acks[i] = ACK{Tuple: Tuple{r.Uint32(), 1, uint16(i), 25}, Seq: r.Uint32(), Ack: r.Uint32()}
	}
	now := int64(5) * tickNS
	for i := 0; b.Loop(); i++ {
		if _, ok := jar.Check(now, &acks[i&1023]); ok {
			b.Fatal("accepted")
		}
	}
}

func benchSplice(b *testing.B, fn func(sp *Splice, t packet.TCP)) {
	b.ReportAllocs()
	h := Halves{CookieISN: 1, ServerISN: 0xfffffff0, CookieTSval: 5, ServerTSval: 9, ClientTS: true, ServerTS: true,
		ClientWScale: 7, AdvertisedWScale: 7, ServerWScale: 9}
	sp := NewSplice(&h)
	// ACK with NOP NOP TS and NOP NOP SACK (2 blocks), 1448 bytes of data.
	seg := make(packet.TCP, 20+32+1448)
	seg.SetDataOffset(52)
	seg.SetFlags(packet.ACK | packet.PSH)
	copy(seg[20:], []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1, 5, 18, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 6})
	seg.SetChecksum(seg.CalculateChecksum(1, 2))
	for b.Loop() {
		fn(&sp, seg)
	}
}

func BenchmarkSpliceServerToClient(b *testing.B) {
	benchSplice(b, func(sp *Splice, t packet.TCP) { sp.ServerToClient(t) })
}

func BenchmarkSpliceClientToServer(b *testing.B) {
	benchSplice(b, func(sp *Splice, t packet.TCP) { sp.ClientToServer(t) })
}
