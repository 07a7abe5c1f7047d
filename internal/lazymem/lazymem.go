// Package lazymem allocates large byte slabs whose memory the kernel
// commits page by page as it is first written: anonymous private mappings,
// outside the Go heap.
//
// The dataplane reserves replay buffers for SMTP sessions in slabs of 256
// as it comes to inspect more sessions at once. With a Go slice, a whole
// slab is cleared whenever the allocator reuses memory for it, and once
// written it stays resident. A lazy slab costs, in resident memory, only the pages
// sessions have written (the pool hands out recently freed buffers first),
// and nothing to create.
package lazymem

import "runtime"

// Bytes returns a zeroed slab of n bytes that lives as long as owner: it is
// unmapped once owner is unreachable, so it must not be used past owner's
// life (keep it in owner's fields only). When the mapping fails it falls
// back to an ordinary Go slice.
func Bytes[T any](owner *T, n int) []byte {
	if n <= 0 {
		return nil
	}
	b, err := mmap(n)
	if err != nil {
		return make([]byte, n)
	}
	runtime.AddCleanup(owner, munmap, b)
	return b
}
