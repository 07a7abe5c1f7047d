package scan

import (
	"math/rand"
	"syscall"
	"testing"
)

// guarded returns a page of memory between two pages that are not
// mapped, so that a read or write just outside it faults.
func guarded(t *testing.T) []byte {
	ps := syscall.Getpagesize()
	mem, err := syscall.Mmap(-1, 0, 3*ps, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Munmap(mem) })
	if err := syscall.Mprotect(mem[:ps], syscall.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mprotect(mem[2*ps:], syscall.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	return mem[ps : 2*ps : 2*ps]
}

// Inputs that start at most 63 bytes after an unmapped page or end at most
// 63 bytes before one, src and dst alike, at every length of testLengths,
// with a line-start dot (after LF or CR) at the first and last index, or
// none.
func TestLineDotPageEdges(t *testing.T) {
	src, dst := guarded(t), guarded(t)
	eachKernel(t, func(t *testing.T) {
		rng := rand.New(rand.NewSource(6))
		b := make([]byte, 2047)
		for _, n := range testLengths() {
			for gap := 0; gap < 64; gap++ {
				c := b[:n]
				fill(c, rng)
				for _, k := range []int{0, 1, n - 1} {
					switch {
					case k == 0 && n > 0:
						c[0] = '.'
					case k >= 1 && k < n:
						c[k-1], c[k] = "\n\r"[(k+gap)&1], '.'
					}
					checkAt(t, c, src[:gap+n], dst[:gap+n], gap)
					checkAt(t, c, src[len(src)-gap-n:], dst[len(dst)-gap-n:], 0)
				}
			}
		}
	})
}
