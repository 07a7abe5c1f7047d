package packet

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// naiveSum is the RFC 1071 reference: 16-bit big-endian words summed into a
// uint32, odd byte padded on the right, folded with end-around carry.
func naiveSum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

func naiveChecksum(b []byte) uint16 { return ^naiveSum(b) }

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestChecksumAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := randBytes(r, 4096+64)
	for n := 0; n <= 300; n++ {
		for off := 0; off < 8; off++ {
			b := buf[off : off+n]
			if got, want := Fold(Checksum(b, 0)), naiveChecksum(b); got != want {
				t.Fatalf("len %d off %d: Checksum %#04x, naive %#04x", n, off, got, want)
			}
		}
	}
	ones := make([]byte, 4096+64) // every add carries
	for i := range ones {
		ones[i] = 0xff
	}
	for n := 0; n <= 300; n++ {
		b := ones[n&7 : n&7+n]
		if got, want := Fold(Checksum(b, 0xfffffff0)), naiveChecksum(append([]byte{0xff, 0xff, 0xff, 0xf0}, b...)); got != want && got^want != 0xffff {
			t.Fatalf("all ones, len %d: Checksum %#04x, naive %#04x", n, got, want)
		}
	}
	for i := 0; i < 2000; i++ {
		n := r.IntN(4096)
		off := r.IntN(64)
		b := buf[off : off+n]
		if got, want := Fold(Checksum(b, 0)), naiveChecksum(b); got != want {
			t.Fatalf("len %d off %d: Checksum %#04x, naive %#04x", n, off, got, want)
		}
	}
}

func TestChecksumEdgeValues(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"zeros", make([]byte, 37)},
		{"ones", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{"all ff 64", func() []byte {
			b := make([]byte, 64)
			for i := range b {
				b[i] = 0xff
			}
			return b
		}()},
		{"sum to ffff", []byte{0xff, 0x00, 0x00, 0xff}},
		{"rfc1071 example", []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := Fold(Checksum(tt.b, 0)), naiveChecksum(tt.b); got != want {
				t.Errorf("Checksum %#04x, naive %#04x", got, want)
			}
		})
	}
	// RFC 1071 section 3 worked example: the sum is ddf2.
	if got := fold16(Checksum([]byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}, 0)); got != 0xddf2 {
		t.Errorf("RFC 1071 example sum %#04x, want 0xddf2", got)
	}
}

func TestChecksumChaining(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 1000; i++ {
		b := randBytes(r, r.IntN(1500))
		split := r.IntN(len(b)/2+1) * 2 // even split point
		initial := r.Uint32()
		chained := Checksum(b[split:], Checksum(b[:split], initial))
		whole := Checksum(b, initial)
		if fold16(chained) != fold16(whole) {
			t.Fatalf("len %d split %d: chained %#x whole %#x", len(b), split, fold16(chained), fold16(whole))
		}
		// initial behaves like an extra word sum.
		var ib [4]byte
		binary.BigEndian.PutUint32(ib[:], initial)
		withWord := naiveSum(append(ib[:], b...))
		if fold16(whole) != withWord && !(fold16(whole) == 0xffff && withWord == 0) {
			t.Fatalf("initial %#x: %#x vs %#x", initial, fold16(whole), withWord)
		}
	}
}

func TestPseudoHeaderChecksum(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 1000; i++ {
		src, dst := r.Uint32(), r.Uint32()
		proto := uint8(r.Uint32())
		l := uint16(r.Uint32())
		var ph [12]byte
		binary.BigEndian.PutUint32(ph[0:], src)
		binary.BigEndian.PutUint32(ph[4:], dst)
		ph[9] = proto
		binary.BigEndian.PutUint16(ph[10:], l)
		if got, want := fold16(PseudoHeaderChecksum(src, dst, proto, l)), naiveSum(ph[:]); got != want {
			t.Fatalf("pseudo header %#x want %#x", got, want)
		}
	}
}

// TestIncrementalUpdates changes random 16- and 32-bit words of a random
// buffer whose checksum is stored in its first word, and compares every
// incremental form against a full recompute.
func TestIncrementalUpdates(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 20000; i++ {
		n := 8 + 2*r.IntN(40)
		b := randBytes(r, n)
		if r.IntN(8) == 0 { // sparse data exercises the 0/0xffff edges
			for j := range b {
				if r.IntN(4) != 0 {
					b[j] = 0
				}
			}
		}
		b[n-1] |= 1 // covered data never all zero: see ChecksumUpdate16
		binary.BigEndian.PutUint16(b, 0)
		hc := Fold(Checksum(b, 0))
		binary.BigEndian.PutUint16(b, hc)

		// 16-bit word at an even offset >= 2.
		w := 2 + 2*r.IntN((n-4)/2)
		old16 := binary.BigEndian.Uint16(b[w:])
		new16 := uint16(r.Uint32())
		if r.IntN(4) == 0 {
			new16 = old16
		}
		c := b
		binary.BigEndian.PutUint16(c[w:], new16)
		binary.BigEndian.PutUint16(c, 0)
		want := Fold(Checksum(c, 0))
		if got := ChecksumUpdate16(hc, old16, new16); got != want {
			t.Fatalf("ChecksumUpdate16(%#x, %#x, %#x) = %#x, full %#x", hc, old16, new16, got, want)
		}
		if got := ApplyDelta(hc, ChecksumDelta16(old16, new16)); got != want {
			t.Fatalf("ApplyDelta16 = %#x, full %#x", got, want)
		}
		binary.BigEndian.PutUint16(c, want)
		hc = want

		// 32-bit word at an even offset >= 2, the last word left alone.
		w = 2 + 2*r.IntN((n-6)/2)
		old32 := binary.BigEndian.Uint32(b[w:])
		new32 := r.Uint32()
		binary.BigEndian.PutUint32(c[w:], new32)
		binary.BigEndian.PutUint16(c, 0)
		want = Fold(Checksum(c, 0))
		if got := ChecksumUpdate32(hc, old32, new32); got != want {
			t.Fatalf("ChecksumUpdate32(%#x, %#x, %#x) = %#x, full %#x", hc, old32, new32, got, want)
		}
		if got := ApplyDelta(hc, ChecksumDelta32(old32, new32)); got != want {
			t.Fatalf("ApplyDelta32 = %#x, full %#x", got, want)
		}
	}
}

// TestDeltasAdd checks that the sum of several deltas applied at once equals
// applying them one after another, as nat.Rewrite does.
func TestDeltasAdd(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for i := 0; i < 10000; i++ {
		hc := uint16(r.Uint32())
		if hc == 0xffff {
			continue // never produced by a full computation over non-zero data
		}
		a0, a1, b0, b1 := r.Uint32(), r.Uint32(), r.Uint32(), r.Uint32()
		p0, p1 := uint16(r.Uint32()), uint16(r.Uint32())
		seq := ChecksumUpdate16(ChecksumUpdate32(ChecksumUpdate32(hc, a0, a1), b0, b1), p0, p1)
		once := ApplyDelta(hc, ChecksumDelta32(a0, a1)+ChecksumDelta32(b0, b1)+ChecksumDelta16(p0, p1))
		// 0x0000 and 0xffff are the two zeros of ones'-complement arithmetic.
		if seq != once && seq^once != 0xffff {
			t.Fatalf("sequential %#x, combined %#x", seq, once)
		}
	}
}

func TestChecksumUpdateBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for i := 0; i < 20000; i++ {
		n := 3 + r.IntN(200)
		b := randBytes(r, n)
		binary.BigEndian.PutUint16(b, 0)
		hc := Fold(Checksum(b, 0))
		binary.BigEndian.PutUint16(b, hc)
		off := 2 + r.IntN(n-2)
		l := r.IntN(n - off + 1)
		old := append([]byte(nil), b[off:off+l]...)
		for j := off; j < off+l; j++ {
			b[j] = byte(r.Uint32())
		}
		got := ChecksumUpdateBytes(hc, off, old, b[off:off+l])
		binary.BigEndian.PutUint16(b, 0)
		want := Fold(Checksum(b, 0))
		if got != want {
			t.Fatalf("n %d off %d len %d: incremental %#x, full %#x", n, off, l, got, want)
		}
	}
}

func BenchmarkChecksum(b *testing.B) {
	for _, n := range []int{20, 64, 1500, 9000} {
		buf := randBytes(rand.New(rand.NewPCG(1, 1)), n)
		b.Run(itoa(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			var s uint32
			for b.Loop() {
				s = Checksum(buf, s)
			}
			sink32 = s
		})
	}
}

func BenchmarkNaiveChecksum1500(b *testing.B) {
	buf := randBytes(rand.New(rand.NewPCG(1, 1)), 1500)
	b.SetBytes(1500)
	var s uint16
	for b.Loop() {
		s += naiveChecksum(buf)
	}
	sink16 = s
}

func BenchmarkChecksumUpdate32(b *testing.B) {
	b.ReportAllocs()
	hc := uint16(0x1234)
	for i := uint32(0); b.Loop(); i++ {
		hc = ChecksumUpdate32(hc, i, i^0xa5a5a5a5)
	}
	sink16 = hc
}

var (
	sink16 uint16
	sink32 uint32
)

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// ChecksumValid (inline sum for 20-byte headers, Checksum for longer ones)
// agrees with the RFC 1071 reference on random headers, with the checksum
// field right, wrong by one bit, and on sums that need every carry.
func TestIPv4ChecksumValid(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 20000; i++ {
		hl := 20
		if i%4 == 0 {
			hl = 24 + 4*r.IntN(10)
		}
		b := make([]byte, hl)
		for j := range b {
			b[j] = byte(r.Uint32())
			if i%7 == 0 {
				b[j] = 0xff // long carry chains
			}
		}
		b[0] = 0x40 | byte(hl/4)
		b[10], b[11] = 0, 0
		c := naiveChecksum(b)
		b[10], b[11] = byte(c>>8), byte(c)
		if i%3 == 0 {
			b[1+r.IntN(hl-1)] ^= 1 << r.IntN(8) // not the IHL: ChecksumValid needs IsValid
		}
		want := naiveSum(b) == 0xffff
		if got := IPv4(b).ChecksumValid(); got != want {
			t.Fatalf("header %x: ChecksumValid %v, reference %v", b, got, want)
		}
	}
}

// l4Case is a transport segment with its pseudo-header, checksummed by the
// reference (naiveChecksum over the pseudo-header bytes and the segment).
type l4Case struct {
	src, dst uint32
	proto    uint8
	seg      []byte // the TCP/UDP/ICMP header and payload
	field    int    // offset of the checksum field
	length   uint16 // length in the pseudo-header (UDP: its Length field)
}

// pseudo returns the pseudo-header bytes (RFC 793 section 3.1, RFC 768),
// none for ICMP.
func (c *l4Case) pseudo() []byte {
	if c.proto == ProtoICMP {
		return nil
	}
	var ph [12]byte
	binary.BigEndian.PutUint32(ph[0:], c.src)
	binary.BigEndian.PutUint32(ph[4:], c.dst)
	ph[9] = c.proto
	binary.BigEndian.PutUint16(ph[10:], c.length)
	return ph[:]
}

// refValid is the reference verdict: the ones'-complement sum over the
// pseudo-header and the segment (up to length) is all ones.
func (c *l4Case) refValid() bool {
	n := len(c.seg)
	if c.proto == ProtoUDP {
		n = int(c.length)
	}
	return naiveSum(append(c.pseudo(), c.seg[:n]...)) == 0xffff
}

func (c *l4Case) valid() bool {
	switch c.proto {
	case ProtoTCP:
		return TCP(c.seg).ChecksumValid(c.src, c.dst)
	case ProtoUDP:
		return UDP(c.seg).ChecksumValid(c.src, c.dst)
	}
	return ICMPv4(c.seg).ChecksumValid()
}

func (c *l4Case) partial() bool {
	switch c.proto {
	case ProtoTCP:
		return TCP(c.seg).ChecksumPartial(c.src, c.dst)
	case ProtoUDP:
		return UDP(c.seg).ChecksumPartial(c.src, c.dst)
	}
	return false
}

func randomL4(r *rand.Rand) *l4Case {
	c := &l4Case{src: r.Uint32(), dst: r.Uint32()}
	n := r.IntN(1600)
	switch r.IntN(3) {
	case 0:
		c.proto, c.field = ProtoTCP, 16
		c.seg = randBytes(r, 20+n)
		c.seg[12] = 5 << 4
		c.length = uint16(len(c.seg))
	case 1:
		c.proto, c.field = ProtoUDP, 6
		c.seg = randBytes(r, 8+n)
		l := 8 + n
		if r.IntN(4) == 0 {
			l -= r.IntN(n + 1) // bytes past Length are not covered
		}
		binary.BigEndian.PutUint16(c.seg[4:], uint16(l))
		c.length = uint16(l)
	default:
		c.proto, c.field = ProtoICMP, 2
		c.seg = randBytes(r, 8+n)
	}
	if r.IntN(6) == 0 {
		for i := range c.seg { // long carry chains
			if i != 4 && i != 5 || c.proto != ProtoUDP {
				c.seg[i] = 0xff
			}
		}
	}
	return c
}

// The L4 checksum primitives agree with the reference on random segments
// whose checksum is right, wrong by one bit, wrong by a changed pseudo-
// header, and unfinished (the pseudo-header sum a CHECKSUM_PARTIAL sender
// leaves); a UDP checksum of 0 means none.
func TestL4ChecksumAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	counts := map[string]int{}
	for i := 0; i < 20000; i++ {
		c := randomL4(r)
		binary.BigEndian.PutUint16(c.seg[c.field:], 0)
		n := len(c.seg)
		if c.proto == ProtoUDP {
			n = int(c.length)
		}
		sum := naiveChecksum(append(c.pseudo(), c.seg[:n]...))
		if sum == 0 && c.proto == ProtoUDP {
			sum = 0xffff // RFC 768: a computed 0 is sent as all ones
		}
		partialField := naiveSum(c.pseudo())
		kind := []string{"right", "bit flipped", "address changed", "partial", "udp none"}[r.IntN(5)]
		field := sum
		switch kind {
		case "bit flipped":
			if c.proto == ProtoUDP && n == 8 {
				continue
			}
		case "address changed":
			if c.proto == ProtoICMP {
				continue
			}
			c.src ^= 1 << r.IntN(32)
		case "partial":
			if c.proto == ProtoICMP {
				continue
			}
			field = partialField
		case "udp none":
			if c.proto != ProtoUDP {
				continue
			}
			field = 0
		}
		binary.BigEndian.PutUint16(c.seg[c.field:], field)
		if kind == "bit flipped" {
			k := r.IntN(8 * n)
			if c.proto == ProtoUDP {
				// Not the header: a changed Length changes what is
				// covered, and a field turned 0 means none.
				k = 64 + r.IntN(8*(n-8))
			}
			c.seg[k/8] ^= 1 << (k % 8)
		}
		want := c.refValid() || kind == "udp none"
		if got := c.valid(); got != want {
			t.Fatalf("%s proto %d len %d: ChecksumValid %v, reference %v", kind, c.proto, len(c.seg), got, want)
		}
		if kind == "right" && !want {
			t.Fatalf("reference rejects its own checksum")
		}
		if kind == "bit flipped" && want {
			t.Fatalf("one flipped bit went unnoticed: proto %d field %#x n %d", c.proto, binary.BigEndian.Uint16(c.seg[c.field:]), n)
		}
		if c.proto != ProtoICMP {
			wantPartial := binary.BigEndian.Uint16(c.seg[c.field:]) == naiveSum(c.pseudo())
			if got := c.partial(); got != wantPartial {
				t.Fatalf("%s proto %d len %d: ChecksumPartial %v, reference %v", kind, c.proto, len(c.seg), got, wantPartial)
			}
			if kind == "partial" && !wantPartial {
				t.Fatalf("reference: the partial field is not partial")
			}
		}
		counts[kind]++
	}
	for _, k := range []string{"right", "bit flipped", "address changed", "partial", "udp none"} {
		if counts[k] < 500 {
			t.Errorf("case %q ran %d times", k, counts[k])
		}
	}
}
