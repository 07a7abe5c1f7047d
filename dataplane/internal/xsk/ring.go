package xsk

// Ring access (Documentation/networking/af_xdp.rst "Rings").
//
// Each ring is a single-producer single-consumer array of 2^n entries in
// memory shared with the kernel:
//
//	+----------+----------+-------+--------------------------------+
//	| producer | consumer | flags | desc[0] desc[1] ... desc[n-1]  |
//	+----------+----------+-------+--------------------------------+
//	  (offsets from getsockopt XDP_MMAP_OFFSETS; each on its own cache line)
//
// Indices are free-running uint32; entry i lives in desc[i & (n-1)].
// The side that owns an index stores it with a release store after writing
// (producer) or reading (consumer) the entries; the other side's index is
// read with an acquire load. Go's sync/atomic operations are sequentially
// consistent, which is at least that strong (and gives the store-load fence
// the need_wakeup check after publishing needs). Each side caches both
// indices so that a batch touches the shared cache lines once, not per entry:
// the other side's index is reloaded only when the cached one shows too
// little room or too few entries.
//
//	ring        we are     kernel is   entries
//	fill        producer   consumer    uint64 frame address
//	completion  consumer   producer    uint64 frame address
//	rx          consumer   producer    Desc
//	tx          producer   consumer    Desc

import (
	"sync/atomic"
	"unsafe"
)

// Desc is one RX or TX descriptor; the layout of struct xdp_desc.
type Desc struct {
	Addr    uint64 // UMEM offset of the first byte of the frame data
	Len     uint32
	Options uint32
}

// Desc must match struct xdp_desc exactly: the rings are read through it.
var (
	_ [16 - unsafe.Sizeof(Desc{})]byte
	_ [unsafe.Sizeof(Desc{}) - 16]byte
)

// ringNeedWakeup is XDP_RING_NEED_WAKEUP, the bit in a ring's flags word.
const ringNeedWakeup = 1

// ring is the state common to all four rings.
type ring struct {
	producer *uint32
	consumer *uint32
	flags    *uint32
	mask     uint32
	size     uint32
	// cachedProd and cachedCons are our last view of the indices; the
	// index we own is always exact in its cache.
	cachedProd uint32
	cachedCons uint32
	mem        []byte // the mmap'd region, nil for fake rings in tests
}

// free returns how many entries a producer may write, reloading the
// consumer index only when the cached view has fewer than want.
func (r *ring) free(want uint32) uint32 {
	n := r.size - (r.cachedProd - r.cachedCons)
	if n >= want {
		return n
	}
	r.cachedCons = atomic.LoadUint32(r.consumer)
	return r.size - (r.cachedProd - r.cachedCons)
}

// avail returns how many entries a consumer may read, at most want,
// reloading the producer index only when the cached view has fewer.
func (r *ring) avail(want uint32) uint32 {
	n := r.cachedProd - r.cachedCons
	if n < want {
		r.cachedProd = atomic.LoadUint32(r.producer)
		n = r.cachedProd - r.cachedCons
	}
	if n > want {
		n = want
	}
	return n
}

// needWakeup reports the kernel's XDP_RING_NEED_WAKEUP bit.
func (r *ring) needWakeup() bool {
	return atomic.LoadUint32(r.flags)&ringNeedWakeup != 0
}

// pending reports whether a producer ring still holds entries the kernel
// has not consumed.
func (r *ring) pending() bool {
	r.cachedCons = atomic.LoadUint32(r.consumer)
	return r.cachedCons != r.cachedProd
}

// addrRing is a fill or completion ring.
type addrRing struct {
	ring
	addrs []uint64
}

// descRing is an RX or TX ring.
type descRing struct {
	ring
	descs []Desc
}

// produce appends up to free() addresses and publishes them.
func (r *addrRing) produce(addrs []uint64) uint32 {
	n := r.free(uint32(len(addrs)))
	if n > uint32(len(addrs)) {
		n = uint32(len(addrs))
	}
	if n == 0 {
		return 0
	}
	prod := r.cachedProd
	for i := uint32(0); i < n; i++ {
		r.addrs[(prod+i)&r.mask] = addrs[i]
	}
	r.cachedProd = prod + n
	atomic.StoreUint32(r.producer, r.cachedProd)
	return n
}

// consume appends up to cap(out)-len(out) addresses and releases them.
func (r *addrRing) consume(out []uint64) []uint64 {
	n := r.avail(uint32(cap(out) - len(out)))
	if n == 0 {
		return out
	}
	cons := r.cachedCons
	for i := uint32(0); i < n; i++ {
		out = append(out, r.addrs[(cons+i)&r.mask])
	}
	r.cachedCons = cons + n
	atomic.StoreUint32(r.consumer, r.cachedCons)
	return out
}

// produce appends up to free() descriptors and publishes them.
func (r *descRing) produce(descs []Desc) uint32 {
	n := r.free(uint32(len(descs)))
	if n > uint32(len(descs)) {
		n = uint32(len(descs))
	}
	if n == 0 {
		return 0
	}
	prod := r.cachedProd
	for i := uint32(0); i < n; i++ {
		r.descs[(prod+i)&r.mask] = descs[i]
	}
	r.cachedProd = prod + n
	atomic.StoreUint32(r.producer, r.cachedProd)
	return n
}

// consume appends up to cap(out)-len(out) descriptors and releases them.
func (r *descRing) consume(out []Desc) []Desc {
	n := r.avail(uint32(cap(out) - len(out)))
	if n == 0 {
		return out
	}
	cons := r.cachedCons
	for i := uint32(0); i < n; i++ {
		out = append(out, r.descs[(cons+i)&r.mask])
	}
	r.cachedCons = cons + n
	atomic.StoreUint32(r.consumer, r.cachedCons)
	return out
}

// mapRing points a ring at its mmap'd region. entry is the entry size.
func (r *ring) mapRing(mem []byte, producer, consumer, flags uint64, size uint32) {
	base := unsafe.Pointer(&mem[0])
	r.producer = (*uint32)(unsafe.Add(base, producer))
	r.consumer = (*uint32)(unsafe.Add(base, consumer))
	r.flags = (*uint32)(unsafe.Add(base, flags))
	r.size = size
	r.mask = size - 1
	r.mem = mem
	r.cachedProd = atomic.LoadUint32(r.producer)
	r.cachedCons = atomic.LoadUint32(r.consumer)
}

func (r *addrRing) mapAddrs(mem []byte, desc uint64) {
	r.addrs = unsafe.Slice((*uint64)(unsafe.Add(unsafe.Pointer(&mem[0]), desc)), r.size)
}

func (r *descRing) mapDescs(mem []byte, desc uint64) {
	r.descs = unsafe.Slice((*Desc)(unsafe.Add(unsafe.Pointer(&mem[0]), desc)), r.size)
}
