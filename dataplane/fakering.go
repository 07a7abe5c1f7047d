package dataplane

import "sync/atomic"

// FakeQueue is an in-memory Queue over a UMEM byte slice, so the whole
// pipeline runs in plain `go test` and in replay without the kernel
// (wireguard-go tun/tuntest). A test injects frames with Inject (from one
// goroutine) and collects transmitted ones with Drain (from one goroutine);
// the worker owns the other ends.
type FakeQueue struct {
	UMEM      []byte
	FrameSize int
	rx        *spsc[Desc] // injected frames waiting for the worker
	tx        *spsc[Desc] // frames the worker transmitted
	fill      *spsc[Desc] // free frames given by the worker for receiving
	done      *spsc[Desc] // transmitted frames the test has drained (completions)
	TxLimit   int         // if > 0, at most this many frames accepted per Transmit
	dropped   atomic.Uint64
}

// NewFakeQueue makes a queue over umem with rings of the given size.
func NewFakeQueue(umem []byte, frameSize, ringSize int) *FakeQueue {
	return &FakeQueue{
		UMEM: umem, FrameSize: frameSize,
		rx: newSPSC[Desc](ringSize), tx: newSPSC[Desc](ringSize),
		fill: newSPSC[Desc](ringSize * 2), done: newSPSC[Desc](ringSize * 2),
	}
}

// Inject copies frame into a frame the worker filled and queues it for
// receiving. It reports false (and counts a drop) when no fill frame or
// ring room is left, like a NIC whose fill ring is empty.
func (q *FakeQueue) Inject(frame []byte) bool {
	var one [1]Desc
	got := q.fill.pop(one[:0])
	if len(got) == 0 {
		q.dropped.Add(1)
		return false
	}
	d := got[0]
	if len(frame) > q.FrameSize {
		frame = frame[:q.FrameSize]
	}
	d.Len = uint32(copy(q.UMEM[d.Addr:d.Addr+uint64(q.FrameSize)], frame))
	if q.rx.push([]Desc{d}) == 0 {
		q.fill.push([]Desc{d})
		q.dropped.Add(1)
		return false
	}
	return true
}

// Drain calls fn with every transmitted frame (a view into the UMEM, valid
// during the call) and completes it.
func (q *FakeQueue) Drain(fn func(frame []byte)) int {
	var buf [64]Desc
	n := 0
	for {
		ds := q.tx.pop(buf[:0])
		if len(ds) == 0 {
			return n
		}
		for _, d := range ds {
			fn(q.UMEM[d.Addr : d.Addr+uint64(d.Len)])
		}
		n += len(ds)
		for len(ds) > 0 {
			k := q.done.push(ds)
			ds = ds[k:]
			if k == 0 {
				break // the worker is not completing; frames are lost to the test only
			}
		}
	}
}

// Dropped counts frames Inject could not queue.
func (q *FakeQueue) Dropped() uint64 { return q.dropped.Load() }

// Pending is the number of injected frames not yet received.
func (q *FakeQueue) Pending() int { return q.rx.len() }

func (q *FakeQueue) Receive(out []Desc) []Desc { return q.rx.pop(out) }

func (q *FakeQueue) Transmit(ds []Desc) int {
	if q.TxLimit > 0 && len(ds) > q.TxLimit {
		ds = ds[:q.TxLimit]
	}
	return q.tx.push(ds)
}

func (q *FakeQueue) Complete(out []uint64) []uint64 {
	var buf [64]Desc
	room := cap(out) - len(out)
	if room > len(buf) {
		room = len(buf)
	}
	for _, d := range q.done.pop(buf[:0:room]) {
		out = append(out, d.Addr)
	}
	return out
}

func (q *FakeQueue) Fill(addrs []uint64) int {
	var buf [64]Desc
	n := 0
	for n < len(addrs) {
		k := len(addrs) - n
		if k > len(buf) {
			k = len(buf)
		}
		for i := 0; i < k; i++ {
			buf[i] = Desc{Addr: addrs[n+i]}
		}
		p := q.fill.push(buf[:k])
		n += p
		if p < k {
			break
		}
	}
	return n
}
