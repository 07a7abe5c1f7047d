package dataplane

// Frames given back after a hand-over. A frame that worker A receives for
// a session that worker B owns is handed to B, which transmits it; the
// transmit completion returns the frame to B's pool. Without more, every
// hand-over moves a frame from A's pool to B's for good: with traffic
// received on A's queues for B's sessions (one direction of a bulk
// transfer, say), A's pool falls to its reserve, its fill rings run dry and
// the kernel drops every frame on A's queues, for every flow that hashes
// there, until A happens to transmit frames handed to it. So B owes A one
// free frame for each frame A handed it, and pays between batches from
// what it has above its reserve, through a single-producer single-consumer
// ring per ordered pair; A takes them into its pool before it stocks its
// fill rings. A debt waits while B is short (its own completions refill
// it).

// settleFrames takes the frames the other workers gave back and pays what
// w owes them.
func (w *Worker) settleFrames() {
	for from, row := range w.dp.giveback {
		if from == w.ID {
			continue
		}
		r := row[w.ID]
		for r.len() > 0 {
			got := r.pop(w.completed[:0])
			for _, a := range got {
				w.pool.put(a)
			}
		}
	}
	for to, debt := range w.owed {
		if debt == 0 {
			continue
		}
		spare := len(w.pool.free) - w.reserve
		if spare <= 0 {
			return
		}
		n := min(debt, spare)
		top := w.pool.free[len(w.pool.free)-n:]
		paid := w.dp.giveback[w.ID][to].push(top)
		// push took top[:paid]; keep the rest.
		copy(top, top[paid:])
		w.pool.free = w.pool.free[:len(w.pool.free)-paid]
		w.owed[to] -= paid
		w.Stats.FramesGivenBack += uint64(paid)
	}
}
