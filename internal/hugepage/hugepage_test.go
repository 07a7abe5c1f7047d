package hugepage

import (
	"bytes"
	"os"
	"testing"
	"unsafe"

	"cbac/internal/smaps"
)

// thpMode is the kernel's THP mode ("always", "madvise", "never"), or ""
// without THP support.
func thpMode(t *testing.T) string {
	b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil {
		return ""
	}
	i, j := bytes.IndexByte(b, '['), bytes.IndexByte(b, ']')
	if i < 0 || j < i {
		t.Fatalf("unexpected THP mode line %q", b)
	}
	return string(b[i+1 : j])
}

type line [64]byte

// TestAdviseGivesHugePages: a fresh 64 MiB slab advised before it is
// touched is backed by huge pages (on a kernel with THP in madvise or
// always mode; the test machines have madvise).
func TestAdviseGivesHugePages(t *testing.T) {
	mode := thpMode(t)
	if mode == "" || mode == "never" {
		t.Fatalf("THP mode %q: these machines run madvise; the test needs THP", mode)
	}
	s := make([]line, 1<<20) // 64 MiB, fresh from the OS
	if err := Advise(s); err != nil {
		t.Fatal(err)
	}
	for i := range s {
		s[i][0] = byte(i)
	}
	m, ok, err := smaps.Find(uintptr(unsafe.Pointer(&s[len(s)/2])))
	if err != nil || !ok {
		t.Fatalf("the slab's mapping: %v %v", ok, err)
	}
	kb := m.AnonHugePages
	// The aligned part is at least 62 MiB; khugepaged or a compaction
	// failure may leave a few pages small.
	if kb < 32<<10 {
		t.Fatalf("AnonHugePages %d kB in the slab's mapping, want most of 64 MiB", kb)
	}
	t.Logf("AnonHugePages %d kB", kb)
}

func TestAdviseSmallAndEmpty(t *testing.T) {
	if err := Advise([]line(nil)); err != nil {
		t.Fatal(err)
	}
	if err := Advise(make([]line, 10)); err != nil {
		t.Fatal(err)
	}
	// An unaligned slab just over two huge pages: the aligned interior
	// only, never memory outside s.
	s := make([]byte, 2*Size+4097)
	if err := Advise(s[1:]); err != nil {
		t.Fatal(err)
	}
}
