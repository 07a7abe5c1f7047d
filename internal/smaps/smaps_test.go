package smaps

import (
	"testing"
	"unsafe"
)

func TestFindHeapAndNothing(t *testing.T) {
	b := make([]byte, 1<<20)
	for i := range b {
		b[i] = 1
	}
	m, ok, err := Find(uintptr(unsafe.Pointer(&b[0])))
	if err != nil || !ok {
		t.Fatalf("the heap slab: %v %v", ok, err)
	}
	if m.Rss < 1024 {
		t.Fatalf("Rss %d kB after writing 1 MiB", m.Rss)
	}
	if _, ok, err := Find(1); err != nil || ok {
		t.Fatalf("address 1: %v %v", ok, err)
	}
}
