package dataplane

// Test-only views of private state, for the frame accounting of the
// concurrency test. Call them only while no worker runs.

// FreeFrames returns the worker's free UMEM frame addresses.
func (w *Worker) FreeFrames() []uint64 { return w.pool.free }

// FillFrames returns the addresses waiting in the queue's fill ring.
func (q *FakeQueue) FillFrames() []uint64 { return ringAddrs(q.fill) }

// InFlight counts the frames in the queue's receive, transmit and
// completion rings.
func (q *FakeQueue) InFlight() int { return q.rx.len() + q.tx.len() + q.done.len() }

// HeldFrames counts frames the worker holds outside its pool: waiting for
// ARP, or in hand-over rings towards it.
func (w *Worker) HeldFrames() int {
	n := w.pend.n
	for from, row := range w.dp.handoff {
		if from != w.ID {
			n += row[w.ID].len()
		}
	}
	return n
}

func ringAddrs(r *spsc[Desc]) []uint64 {
	var out []uint64
	for i := r.head.Load(); i != r.tail.Load(); i++ {
		out = append(out, r.ring[i&r.mask].Addr)
	}
	return out
}
