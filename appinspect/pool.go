package appinspect

// poolChunk is how many states a Pool adds at a time.
const poolChunk = 256

// Pool is a slab of inspector states of type T addressed by handles (1 +
// index; 0 means none). It grows in chunks of 256 states by Stock, which
// allocates and is called between batches, so that Alloc on the packet
// path never allocates: Stock keeps at least slack states free, up to max
// states in all. Freed states are reused most recently freed first. T
// should hold no pointers (a slab of them costs the garbage collector
// nothing).
type Pool[T any] struct {
	chunks   []*[poolChunk]T
	freeList []uint32 // free handles - 1, the most recently freed last
	inUse    int
	slack    int
}

// Init sets the pool up for at most max states, slack of which Stock keeps
// free, and stocks it.
func (p *Pool[T]) Init(max, slack int) {
	p.slack = min(slack, max)
	p.chunks = make([]*[poolChunk]T, 0, (max+poolChunk-1)/poolChunk)
	p.freeList = make([]uint32, 0, cap(p.chunks)*poolChunk)
	p.Stock()
}

// Stock adds chunks until slack states are free or the pool is at its
// maximum. It allocates: call it between batches.
func (p *Pool[T]) Stock() {
	for len(p.freeList) < p.slack && len(p.chunks) < cap(p.chunks) {
		c := len(p.chunks)
		p.chunks = append(p.chunks, new([poolChunk]T))
		n := len(p.freeList)
		free := p.freeList[:n+poolChunk]
		copy(free[poolChunk:], free[:n])
		for i := 0; i < poolChunk; i++ {
			free[i] = uint32((c+1)*poolChunk - 1 - i)
		}
		p.freeList = free
	}
}

// Alloc takes a free state (zeroed) and returns its handle, or false when
// none is free.
func (p *Pool[T]) Alloc() (uint32, bool) {
	n := len(p.freeList)
	if n == 0 {
		return 0, false
	}
	i := p.freeList[n-1]
	p.freeList = p.freeList[:n-1]
	p.inUse++
	var zero T
	*p.Get(i + 1) = zero
	return i + 1, true
}

// Get returns the state of handle h (h != 0, allocated).
func (p *Pool[T]) Get(h uint32) *T { return &p.chunks[(h-1)/poolChunk][(h-1)%poolChunk] }

// Free returns the state of handle h to the pool.
func (p *Pool[T]) Free(h uint32) {
	p.freeList = append(p.freeList, h-1) // within capacity: every handle is free once
	p.inUse--
}

// InUse returns how many states are allocated to sessions; Allocated how
// many the pool holds (in use or free).
func (p *Pool[T]) InUse() int     { return p.inUse }
func (p *Pool[T]) Allocated() int { return len(p.chunks) * poolChunk }
