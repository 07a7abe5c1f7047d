package dataplane

import (
	"math/bits"

	"cbac/appinspect"
)

// Holding forwarded frames: the zero-copy replay copy.
//
// An inspected SMTP session keeps every byte it forwarded to the server
// until the server acknowledges it, so that a retransmission is forwarded
// as the first copy was (tcpstream, docs/behaviour.md "Stream consistency"). For
// message data the worker keeps the bytes where they already are: in the
// UMEM frame it forwarded them in. The frame is transmitted as usual; when
// its transmission completes (or it is dropped after inspection), it is
// parked instead of going back to the pool, until the session's guard
// lets it go (the server's ACK covers it, or the session ends). That saves
// copying each 1460-byte segment into the session's ring, the one cost of
// data inspection beyond the scan.
//
// Bounds: only data segments of at least holdMin bytes are held (a frame
// costs frameSize bytes of UMEM; small segments are cheaper to copy), a
// guard holds at most tcpstream.MaxHeld ranges, a worker holds at most a
// quarter of its frames, and a frame is held only when this worker
// transmits it itself (its completion comes back here). Otherwise the
// bytes are copied into the ring as before; both kinds of kept bytes cost
// the same ring room, so the window clamp is unchanged.
//
// A frame's hold state, indexed by frame number, moves:
//
//	free --hold--> held --transmitted or dropped--> parked --let go--> free (pool)
//	               held --let go--> letGo --transmitted or dropped--> free (pool)

const (
	frameFree   uint8 = iota // not held
	frameHeld                // held by a guard; transmission not finished
	frameParked              // held by a guard; in no ring, not in the pool
	frameLetGo               // no longer held; transmission not finished
)

// holdMin is the smallest data segment held rather than copied.
const holdMin = 512

// frameHolds is a worker's record of the frames its guards hold.
type frameHolds struct {
	state  []uint8 // per UMEM frame
	shift  uint    // log2 of the frame size
	held   int     // frames in state held or parked
	parked int     // frames in state parked
	max    int     // held stays at most this
	total  uint64  // frames ever held
}

func (h *frameHolds) init(frames, frameSize, max int) {
	h.state = make([]uint8, frames)
	h.shift = uint(bits.TrailingZeros(uint(frameSize)))
	h.max = max
}

// recycle takes back a frame whose transmission is over, or which is
// dropped: to the pool, unless a guard holds it.
func (w *Worker) recycle(a uint64) {
	f := a >> w.holds.shift
	if f >= uint64(len(w.holds.state)) {
		w.pool.put(a) // not a UMEM frame: as before holding existed
		return
	}
	st := &w.holds.state[f]
	switch *st {
	case frameHeld:
		*st = frameParked
		w.holds.parked++
		return
	case frameLetGo:
		*st = frameFree
	}
	w.pool.put(a)
}

// holdAt says where the payload of the inspected segment in d lies in the
// UMEM if its frame may be held by reference rather than copied
// (appinspect.HoldAt), else nothing.
func (w *Worker) holdAt(d *Desc, s *Session, payload []byte) appinspect.HoldAt {
	if len(payload) < holdMin || w.holds.held >= w.holds.max || w.queues[s.port[0]] == nil {
		return appinspect.HoldAt{}
	}
	// The payload is the tail of the frame (trimmed to its IP datagram).
	off := d.Addr + uint64(d.Len) - uint64(len(payload))
	if off >= uint64(len(w.umem)) || &w.umem[off] != &payload[0] || w.holds.state[off>>w.holds.shift] != frameFree {
		return appinspect.HoldAt{}
	}
	return appinspect.HoldAt{Mem: w.umem, Off: off, Min: holdMin}
}

// hold records that a guard holds the frame at offset off (holdAt
// offered it).
func (w *Worker) hold(off uint64) {
	w.holds.state[off>>w.holds.shift] = frameHeld
	w.holds.held++
	w.holds.total++
}

// letGo ends the hold on the frame at offset off.
func (w *Worker) letGo(off uint64) {
	st := &w.holds.state[off>>w.holds.shift]
	switch *st {
	case frameParked:
		*st = frameFree
		w.holds.parked--
		w.pool.put(off)
	case frameHeld:
		*st = frameLetGo
	default:
		return // not held: nothing to undo
	}
	w.holds.held--
}

// FramesHeld reports how many UMEM frames the worker's SMTP guards hold,
// and how many of those are transmitted and wait only for the server's
// ACK (`show ip inspect statistics`; call it through Dataplane.Do).
func (w *Worker) FramesHeld() (held, parked int) { return w.holds.held, w.holds.parked }
