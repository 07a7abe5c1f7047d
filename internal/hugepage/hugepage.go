// Package hugepage asks the kernel to back large preallocated tables with
// transparent huge pages.
//
// A session table of a million flows spans hundreds of megabytes; with 4 KiB
// pages nearly every lookup misses the TLB as well as the caches, and under
// a hypervisor's nested paging a TLB miss costs a two-dimensional page walk.
// With 2 MiB pages the whole table fits the second-level TLB. Debian's
// default THP mode is "madvise": only regions advised MADV_HUGEPAGE get huge
// pages, so the table's owner calls Advise right after allocating the slab
// and before touching it (a page faulted in before the advice stays small
// until khugepaged collapses it).
//
// The advice is a hint: when the kernel has no THP support or no huge page
// free, the memory works the same with small pages, so errors are returned
// only for the caller to report, never to fail on.
package hugepage

import "unsafe"

// Size is the huge page size advised for (x86-64 and arm64 with 4 KiB base
// pages).
const Size = 2 << 20

// Advise advises the 2 MiB-aligned part of s's backing array for
// transparent huge pages. s must be a slab the caller owns for its lifetime
// (a Go slice: the garbage collector never moves large objects). Slabs
// smaller than two huge pages are left alone: at least half would fall
// outside the aligned part.
func Advise[T any](s []T) error {
	if len(s) == 0 {
		return nil
	}
	n := uintptr(len(s)) * unsafe.Sizeof(s[0])
	if n < 2*Size {
		return nil
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	start := (p + Size - 1) &^ (Size - 1)
	end := (p + n) &^ (Size - 1)
	if end <= start {
		return nil
	}
	return advise(unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(s)), start-p)), end-start))
}
