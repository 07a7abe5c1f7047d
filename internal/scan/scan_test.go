package scan

import (
	"bytes"
	"math/rand"
	"testing"
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
		if b[k] == '.' && b[k-1] == '\n' {
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

// Every length 0..300, a line-start dot at every position (alone, and
// after a "." that does not follow LF and a LF not followed by "."), and
// none at all.
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
				c := append([]byte(nil), b...)
				c[k] = '.' // index 0 is never a line start
				if k > 0 {
					c[k-1] = '\n'
				}
				check(t, c, (n+k)%67)
				// Decoys before it: a lone "." and a lone LF.
				if k >= 4 {
					c[k-4] = '.'
					c[k-3] = '\n'
					check(t, c, k%64)
				}
				// LF as the last byte before a chunk boundary with no "."
				// after it, "." as the first byte after one with no LF.
				d := append([]byte(nil), b...)
				d[k] = '\n'
				check(t, d, 0)
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
			c[k-1], c[k] = '\n', '.'
			check(t, c, k%64)
		}
	})
}

// Random bytes drawn mostly from '.', '\n', '\r' and 'a', so that dots and
// line starts are dense, at random lengths and offsets.
func TestLineDotRandom(t *testing.T) {
	eachKernel(t, func(t *testing.T) {
		rng := rand.New(rand.NewSource(2))
		alphabet := []byte(".\n\ra")
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
	f.Fuzz(func(t *testing.T, b []byte, off int) {
		if off < 0 {
			off = -off
		}
		off %= 64
		eachKernel(t, func(t *testing.T) { check(t, b, off) })
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
