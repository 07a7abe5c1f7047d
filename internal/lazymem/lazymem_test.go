package lazymem

import (
	"runtime"
	"testing"
	"time"
	"unsafe"

	"cbac/internal/smaps"
)

// mapping returns the Rss (kB) of the mapping holding address a, and
// whether one does.
func mapping(t *testing.T, a uintptr) (rssKB int, ok bool) {
	m, ok, err := smaps.Find(a)
	if err != nil {
		t.Fatal(err)
	}
	return m.Rss, ok
}

type owner struct{ slab []byte }

// A 1 GiB slab is zero, writable, resident only where written, and
// unmapped after its owner is gone.
func TestBytesLazyAndReleased(t *testing.T) {
	o := &owner{}
	o.slab = Bytes(o, 1<<30)
	if len(o.slab) != 1<<30 {
		t.Fatalf("len %d", len(o.slab))
	}
	a := uintptr(unsafe.Pointer(&o.slab[0]))
	for _, i := range []int{0, 1 << 20, 1<<30 - 1} {
		if o.slab[i] != 0 {
			t.Fatalf("byte %d is %d", i, o.slab[i])
		}
		o.slab[i] = 1
	}
	rss, ok := mapping(t, a)
	if !ok {
		t.Fatal("the slab is not a mapping of its own (fell back to the Go heap?)")
	}
	if rss > 1024 {
		t.Fatalf("%d kB resident after writing 3 bytes of 1 GiB", rss)
	}
	o = nil
	for i := 0; i < 50; i++ { // bounded: cleanups run after a GC cycle
		runtime.GC()
		if _, ok := mapping(t, a); !ok {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the slab is still mapped after its owner is gone")
}

func TestBytesEmpty(t *testing.T) {
	o := &owner{}
	if b := Bytes(o, 0); b != nil {
		t.Fatalf("Bytes(0) = %d bytes", len(b))
	}
}
