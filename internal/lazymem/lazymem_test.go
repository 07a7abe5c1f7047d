package lazymem

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// mapping returns the Rss (kB) of the mapping holding address a, and
// whether one does.
func mapping(t *testing.T, a uintptr) (rssKB int, ok bool) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) > 0 && !strings.HasSuffix(fields[0], ":") && strings.Contains(fields[0], "-") {
			lo, hi, _ := strings.Cut(fields[0], "-")
			l, err1 := strconv.ParseUint(lo, 16, 64)
			h, err2 := strconv.ParseUint(hi, 16, 64)
			in = err1 == nil && err2 == nil && uint64(a) >= l && uint64(a) < h
			continue
		}
		if in && strings.HasPrefix(line, "Rss:") {
			kb, _ := strconv.Atoi(fields[1])
			return kb, true
		}
	}
	return 0, false
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
