package dataplane

import "sync/atomic"

// Desc is one frame in the UMEM: its offset and length, and (on the packet
// path) the port it arrived on or leaves by. Same first two fields as
// struct xdp_desc.
type Desc struct {
	Addr uint64
	Len  uint32
	Port uint8
	// Group, on a hand-over ring, says that the next Group descriptors are
	// the other fragments of this (first) fragment's datagram.
	Group uint8
	_     [2]byte
}

// Queue is one RX/TX queue pair of one device as one worker sees it: an
// AF_XDP socket (xdp.go), an in-memory ring (FakeQueue) or a capture
// (replay.go). Its methods are called once per batch, never per packet.
type Queue interface {
	// Receive appends received frames to out (up to cap(out)).
	Receive(out []Desc) []Desc
	// Transmit queues frames for sending and returns how many it took;
	// the rest stay the caller's.
	Transmit(descs []Desc) int
	// Complete appends the addresses of frames whose transmission finished.
	Complete(out []uint64) []uint64
	// Fill gives free frames to the receive side; returns how many it took.
	Fill(addrs []uint64) int
}

// framePool is a worker's stack of free UMEM frame addresses. Frames move
// between workers with hand-over, so every pool can hold all frames.
type framePool struct {
	free []uint64
	mask uint64 // clears the offset inside a frame (frame size is a power of two)
}

func (p *framePool) get() (uint64, bool) {
	n := len(p.free)
	if n == 0 {
		return 0, false
	}
	a := p.free[n-1]
	p.free = p.free[:n-1]
	return a, true
}

// put returns a frame; a descriptor may point inside its frame (AF_XDP
// copy mode leaves headroom), so the address is rounded to the frame start.
func (p *framePool) put(a uint64) {
	if len(p.free) < cap(p.free) {
		p.free = append(p.free, a&p.mask)
	}
}

// spsc is a bounded single-producer single-consumer ring: the hand-over
// path between two workers, the event path to the control plane and the
// in-memory test rings. Indices are free-running; the producer owns tail,
// the consumer head.
type spsc[T any] struct {
	head atomic.Uint64
	_    [56]byte
	tail atomic.Uint64
	_    [56]byte
	mask uint64
	ring []T
}

func newSPSC[T any](size int) *spsc[T] {
	n := 1
	for n < size {
		n <<= 1
	}
	return &spsc[T]{mask: uint64(n - 1), ring: make([]T, n)}
}

// push appends as many of xs as fit; returns the count.
func (r *spsc[T]) push(xs []T) int {
	t := r.tail.Load()
	free := uint64(len(r.ring)) - (t - r.head.Load())
	n := uint64(len(xs))
	if n > free {
		n = free
	}
	for i := uint64(0); i < n; i++ {
		r.ring[(t+i)&r.mask] = xs[i]
	}
	r.tail.Store(t + n)
	return int(n)
}

// push1 appends one element; false when full.
func (r *spsc[T]) push1(x *T) bool {
	t := r.tail.Load()
	if t-r.head.Load() >= uint64(len(r.ring)) {
		return false
	}
	r.ring[t&r.mask] = *x
	r.tail.Store(t + 1)
	return true
}

// pop appends up to cap(out)-len(out) elements to out.
func (r *spsc[T]) pop(out []T) []T {
	h := r.head.Load()
	avail := r.tail.Load() - h
	room := uint64(cap(out) - len(out))
	if avail > room {
		avail = room
	}
	for i := uint64(0); i < avail; i++ {
		out = append(out, r.ring[(h+i)&r.mask])
	}
	r.head.Store(h + avail)
	return out
}

func (r *spsc[T]) len() int { return int(r.tail.Load() - r.head.Load()) }

// free is the room for push (exact for the producer).
func (r *spsc[T]) free() int { return len(r.ring) - r.len() }

// FramesFree returns the number of UMEM frames in w's free pool and the
// UMEM's frame count (what every pool can hold). Frames in neither the
// pools nor the fill rings are held by packets in flight or leaked.
func (w *Worker) FramesFree() (free, total int) { return len(w.pool.free), cap(w.pool.free) }
