package scan

import (
	"bytes"
	"math/rand"
	"testing"
	"unsafe"
)

var kernelNames = []string{kernelGeneric: "generic", kernelAVX2: "avx2", kernelAVX512: "avx512"}

// eachKernel runs f once per kernel this CPU supports, the generic Go one
// included, with that kernel selected.
func eachKernel(t *testing.T, f func(t *testing.T)) {
	saved := kernel
	defer func() { kernel = saved }()
	for k, name := range kernelNames {
		if !supported(k) {
			t.Logf("%s: not supported by this CPU", name)
			continue
		}
		kernel = k
		t.Run(name, f)
	}
}

// refLineDot is the definition, byte by byte.
func refLineDot(b []byte) int {
	for k := 1; k < len(b); k++ {
		if b[k] == '.' && (b[k-1] == '\n' || b[k-1] == '\r') {
			return k
		}
	}
	return len(b)
}

// check runs LineDot and CopyLineDot on b (at offset off of a larger
// buffer, so that the kernels see every alignment and bytes around b that
// must be neither read as part of it nor written) against the reference.
func check(t *testing.T, b []byte, off int) {
	t.Helper()
	want := refLineDot(b)
	// Surround src with LF and "." so that reading outside it would show.
	src := bytes.Repeat([]byte("\n."), (off+len(b)+130)/2+1)
	copy(src[off:], b)
	s := src[off : off+len(b) : off+len(b)]
	if got := LineDot(s); got != want {
		t.Fatalf("LineDot(%q) = %d, want %d", b, got, want)
	}
	dst := make([]byte, off+len(b)+128)
	for i := range dst {
		dst[i] = 0xa5
	}
	if got := CopyLineDot(dst[off:off+len(b)], s); got != want {
		t.Fatalf("CopyLineDot(%q) = %d, want %d", b, got, want)
	}
	if !bytes.Equal(dst[off:off+len(b)], b) {
		t.Fatalf("CopyLineDot copied %q, want %q", dst[off:off+len(b)], b)
	}
	for i, c := range dst {
		if (i < off || i >= off+len(b)) && c != 0xa5 {
			t.Fatalf("CopyLineDot(len %d at %d) wrote dst[%d] outside the copy", len(b), off, i)
		}
	}
}

// Every length 0..300, a line-start dot at every position, after a LF and
// after a CR (alone, and after a "." that does not follow a line end, a LF
// or CR not followed by ".", and a "." after TAB, a candidate of the
// kernels that is no line-start dot), and none at all.
func TestLineDotEveryPosition(t *testing.T) {
	eachKernel(t, func(t *testing.T) {
		rng := rand.New(rand.NewSource(1))
		for n := 0; n <= 300; n++ {
			b := make([]byte, n)
			for i := range b {
				b[i] = 'a' + byte(rng.Intn(26))
			}
			check(t, b, n%7)
			for k := 0; k < n; k++ {
				for _, eol := range []byte("\n\r") {
					c := append([]byte(nil), b...)
					c[k] = '.' // index 0 is never a line start
					if k > 0 {
						c[k-1] = eol
					}
					check(t, c, (n+k)%67)
					// Decoys before it: a lone "." and a lone LF or CR;
					// a "." after TAB.
					if k >= 4 {
						c[k-4] = '.'
						c[k-3] = eol
						check(t, c, k%64)
					}
					if k >= 6 {
						c[k-6] = '\t'
						c[k-5] = '.'
						check(t, c, (k+3)%64)
					}
				}
				// LF or CR as the last byte before a chunk boundary with no
				// "." after it, "." as the first byte after one with no
				// line end.
				d := append([]byte(nil), b...)
				d[k] = '\n'
				check(t, d, 0)
				d[k] = '\r'
				check(t, d, 2)
				d[k] = '.'
				check(t, d, 1)
			}
		}
	})
}

// A whole segment (the SMTP case, several 256-byte blocks) with a
// line-start dot at every position, at several alignments.
func TestLineDotSegment(t *testing.T) {
	eachKernel(t, func(t *testing.T) {
		b := bytes.Repeat([]byte("Lorem ipsum. dolor sit amet\r\n"), 60)[:1460]
		check(t, b, 0)
		for k := 1; k < len(b); k++ {
			c := append([]byte(nil), b...)
			c[k-1], c[k] = "\n\r"[k&1], '.'
			check(t, c, k%64)
		}
	})
}

// Random bytes drawn mostly from '.', '\n', '\r', 'a', TAB and NUL, so that
// dots, line starts and candidates that are not line starts are dense, at
// random lengths and offsets.
func TestLineDotRandom(t *testing.T) {
	eachKernel(t, func(t *testing.T) {
		rng := rand.New(rand.NewSource(2))
		alphabet := []byte(".\n\ra\t\x00")
		for iter := 0; iter < 20000; iter++ {
			n := rng.Intn(2000)
			b := make([]byte, n)
			density := 1 + rng.Intn(200)
			for i := range b {
				if rng.Intn(density) == 0 {
					b[i] = alphabet[rng.Intn(len(alphabet))]
				} else {
					b[i] = byte(rng.Intn(256))
				}
			}
			check(t, b, rng.Intn(64))
		}
	})
}

func FuzzLineDot(f *testing.F) {
	f.Add([]byte("Subject: x\r\n\r\nbody\r\n.\r\n"), 0)
	f.Add(bytes.Repeat([]byte("a.b\n"), 40), 3)
	f.Add(append(bytes.Repeat([]byte("x"), 63), '\n', '.'), 1)
	f.Add(append(bytes.Repeat([]byte("\t."), 100), '\r', '.'), 5)
	f.Fuzz(func(t *testing.T, b []byte, off int) {
		if off < 0 {
			off = -off
		}
		off %= 64
		eachKernel(t, func(t *testing.T) { check(t, b, off) })
	})
}

// fill writes into b lines of letters and spaces with CRLF, and the pairs
// that the kernels let through and scan.go then has to rule out (a "."
// after a byte below 0x10 other than CR and LF: "\t.", "\x00." and so
// on) or that differ from a line start in one bit (" .", "..", "\x0b."),
// but no line-start dot.
func fill(b []byte, rng *rand.Rand) {
	decoys := []byte(" .\x00\x01\x02\x04\x06\x08\t\x0b\x0c\x0e\x0f\x1a\x1d\"$&(*,")
	for i := range b {
		switch r := rng.Intn(40); {
		case r == 0 && i >= 1:
			b[i-1], b[i] = '\r', '\n'
		case r == 1 && i >= 1 && (i < 2 || b[i-2] != '\n'):
			b[i-1], b[i] = decoys[rng.Intn(len(decoys))], '.'
		case r < 8:
			b[i] = ' '
		default:
			b[i] = 'a' + byte(rng.Intn(26))
		}
	}
	for i := 1; i < len(b); i++ {
		if b[i] == '.' && (b[i-1] == '\n' || b[i-1] == '\r') {
			b[i] = 'x'
		}
	}
}

// checkAt runs LineDot and CopyLineDot on b placed at src[off:] and
// dst[off:], src and dst filled with LF and "." around it, against the
// reference.
func checkAt(t *testing.T, b, src, dst []byte, off int) {
	t.Helper()
	for i := range src {
		src[i] = "\n."[i&1]
	}
	s := src[off : off+len(b) : off+len(b)]
	copy(s, b)
	want := refLineDot(b)
	if got := LineDot(s); got != want {
		t.Fatalf("LineDot(%q) at %d mod 64 = %d, want %d", b, off, got, want)
	}
	for i := range dst {
		dst[i] = 0xa5
	}
	if got := CopyLineDot(dst[off:off+len(b)], s); got != want {
		t.Fatalf("CopyLineDot(%q) at %d mod 64 = %d, want %d", b, off, got, want)
	}
	if !bytes.Equal(dst[off:off+len(b)], b) {
		t.Fatalf("CopyLineDot copied %q, want %q", dst[off:off+len(b)], b)
	}
	for i, c := range dst {
		if (i < off || i >= off+len(b)) && c != 0xa5 {
			t.Fatalf("CopyLineDot(len %d at %d) wrote dst[%d] outside the copy", len(b), off, i)
		}
	}
}

// aligned returns n bytes that start at a 64-byte boundary.
func aligned(n int) []byte {
	b := make([]byte, n+64)
	a := int(uintptr(unsafe.Pointer(&b[0])) & 63)
	return b[(64-a)&63:][:n:n]
}

// testLengths are every length up to 300 (the kernels' edges: 64, and 256
// where AVX-512 turns to aligned blocks) and some around larger ones.
func testLengths() []int {
	var ns []int
	for n := 0; n <= 300; n++ {
		ns = append(ns, n)
	}
	return append(ns, 319, 320, 321, 511, 512, 513, 1000, 1459, 1460, 1461, 2047)
}

// Every start alignment 0 to 63, at every length of testLengths: without a
// line-start dot, with one at the first and the last index, and at the
// indexes around 64-byte boundaries of memory; each with decoys (see fill)
// before it and without.
func TestLineDotAlignment(t *testing.T) {
	eachKernel(t, func(t *testing.T) {
		rng := rand.New(rand.NewSource(4))
		src, dst := aligned(2048+192), aligned(2048+192)
		b := make([]byte, 2047)
		for _, n := range testLengths() {
			for off := 0; off < 64; off++ {
				for _, decoys := range []bool{false, true} {
					c := b[:n]
					if decoys {
						fill(c, rng)
					} else {
						for i := range c {
							c[i] = 'a' + byte(rng.Intn(26))
						}
					}
					checkAt(t, c, src, dst, off)
					if n > 0 {
						saved := c[0]
						c[0] = '.' // after a LF outside b if off is odd
						checkAt(t, c, src, dst, off)
						c[0] = saved
					}
					ks := []int{1, n - 1}
					for k := 64 - off; k < n; k += 64 {
						ks = append(ks, k-1, k, k+1)
					}
					for _, k := range ks {
						if k < 1 || k >= n {
							continue
						}
						for _, eol := range []byte("\n\r") {
							saved0, saved1 := c[k-1], c[k]
							c[k-1], c[k] = eol, '.'
							checkAt(t, c, src, dst, off)
							c[k-1], c[k] = saved0, saved1
						}
					}
				}
			}
		}
	})
}

func TestCopyLineDotShortDst(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("CopyLineDot into a shorter dst did not panic")
		}
	}()
	CopyLineDot(make([]byte, 99), make([]byte, 100))
}
