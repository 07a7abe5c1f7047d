// Package tcpstream keeps the bytes an inspected TCP session delivers to
// the server identical to the bytes the inspector judged (docs/behaviour.md,
// "Stream consistency").
//
// An inspector that looks at each segment on its own can be fooled: the
// client sends "HELO x" (judged legal), then retransmits "EXPN x" at the
// same sequence numbers; if the first copy was lost after the firewall,
// the server takes the second. A Guard per inspected direction
// (client->server) closes that hole:
//
//   - bytes are inspected in order: a segment starting beyond the next
//     expected sequence number is dropped, the sender retransmits it;
//   - bytes forwarded once are forwarded the same way every time: the
//     Guard keeps a copy of forwarded but not yet acknowledged bytes (after
//     rewrites) and writes it over any retransmission of them, raising
//     Differs when the retransmission did not match (an alert);
//   - the copy is bounded by a caller-provided ring buffer; new bytes that
//     do not fit are dropped until the server's ACKs free room.
//
// Differs compares a retransmission with what was inspected, not with
// what was rewritten: a kept byte equal to RewriteByte matches any byte,
// since the inspector turns illegal bytes into RewriteByte and a faithful
// retransmission of a rewritten line ("EXPN" over the kept "xxxx") is not an
// evasion attempt. Such a byte is still restored.
//
// Kept bytes may also be held by reference instead of by copy (Hold): the
// caller leaves them where they are, in memory it does not reuse until
// Unhold gives the reference back (the dataplane holds the UMEM frame it
// forwarded the segment in, until the server's ACK, which saves the copy;
// a kept range costs the same ring room either way, so Free and the
// window a caller derives from it do not depend on how bytes are kept).
//
// Bytes below base (already acknowledged by the server, no longer kept) are
// forwarded unchanged: the server has received them, so they lie below its
// RCV.NXT and its TCP discards them as duplicates (RFC 793 3.3, "segments
// with sequence numbers below RCV.NXT are acknowledged and dropped"); what
// they contain never reaches the application.
//
// Guard never allocates. All sequence arithmetic is modulo 2^32.
package tcpstream

import "bytes"

// RewriteByte is the byte the SMTP inspector writes over an illegal
// command (docs/behaviour.md "SMTP inspection").
const RewriteByte = 'x'

// Action says what the caller does with a segment.
type Action uint8

const (
	// Forward: every byte is new. Inspect payload[newStart:] (newStart is
	// 0), then Commit the final bytes.
	Forward Action = iota
	// Replay: payload[:newStart] was forwarded before; Segment has
	// restored it in place from the kept copy (bytes below base are left
	// as they are). Inspect payload[newStart:] and Commit it.
	Replay
	// Drop: the segment starts beyond the next expected byte (out of
	// order), or its new bytes do not fit the buffer until the server
	// acknowledges more. The payload is untouched.
	Drop
	numActions
)

var actionNames = [numActions]string{Forward: "forward", Replay: "replay", Drop: "drop"}

func (a Action) String() string {
	if a < numActions {
		return actionNames[a]
	}
	return "unknown"
}

// Guard is the stream state of one inspected direction.
//
// Bytes in [base, next) are kept in buf, base at index off; next-base is at
// most len(buf).
type Guard struct {
	buf  []byte
	base uint32 // sequence number of the oldest kept byte
	next uint32 // sequence number of the next new byte
	off  uint32 // index in buf of the byte at base

	// Held ranges, oldest first: a FIFO of MaxHeld in held[first:].
	mem   []byte
	held  [MaxHeld]heldRange
	first uint8
	nheld uint8
}

// MaxHeld is how many ranges a Guard holds by reference at most.
const MaxHeld = 128

// heldRange is n kept bytes from sequence number seq, at mem[off:].
type heldRange struct {
	seq uint32
	n   uint32
	off uint64
}

func seqBefore(a, b uint32) bool { return int32(a-b) < 0 }
func seqAfter(a, b uint32) bool  { return int32(b-a) < 0 }

// Init starts a stream whose first payload byte has sequence number isn
// (the SYN's sequence number + 1). buf is the replay buffer, typically
// from a pool; its length is the capacity (an empty buf keeps nothing and
// drops every new byte). The Guard owns buf until it is reset.
//
// Init is not inlined: a Guard literal is 2 KiB, and its caller's stack
// frame would hold one.
//
//go:noinline
func (g *Guard) Init(isn uint32, buf []byte) {
	*g = Guard{buf: buf, base: isn, next: isn}
}

// Restart starts the stream again at isn with the same replay buffer (a
// new SYN with a later ISN before any data was kept).
func (g *Guard) Restart(isn uint32) { g.Init(isn, g.buf) }

// Next is the sequence number of the next new byte.
func (g *Guard) Next() uint32 { return g.next }

// Base is the sequence number of the oldest kept byte.
func (g *Guard) Base() uint32 { return g.base }

// Kept is the number of forwarded bytes not yet acknowledged.
func (g *Guard) Kept() int { return int(g.next - g.base) }

// Free is how many new bytes fit before the server acknowledges more. A
// caller may clamp the window the server advertises to this, so the client
// does not send what would be dropped.
func (g *Guard) Free() int { return len(g.buf) - g.Kept() }

// Segment classifies a segment carrying payload at sequence number seq and,
// for a retransmission, restores the already forwarded part in place.
// newStart is the index of the first new byte (len(payload) when none is
// new); differs is true when a restored byte differed from what had been
// forwarded. A segment without payload is forwarded.
func (g *Guard) Segment(seq uint32, payload []byte) (act Action, newStart int, differs bool) {
	if seq == g.next && uint32(len(payload)) <= uint32(len(g.buf))-(g.next-g.base) {
		return Forward, 0, false // in order, all new, room for it: the common case
	}
	return g.segment(seq, payload)
}

// segment is Segment past its common case.
func (g *Guard) segment(seq uint32, payload []byte) (act Action, newStart int, differs bool) {
	n := uint32(len(payload))
	if seq == g.next {
		return Drop, 0, false // no room
	}
	if n == 0 {
		return Forward, 0, false
	}
	if seqAfter(seq, g.next) {
		return Drop, 0, false // a gap: bytes in order only
	}
	old := g.next - seq // bytes already forwarded (seq <= next)
	if old > n {
		old = n
	}
	if n-old > uint32(g.Free()) {
		return Drop, 0, false
	}
	if old == 0 {
		return Forward, 0, false
	}
	// Kept part: [max(seq, base), seq+old).
	skip := uint32(0)
	if seqBefore(seq, g.base) {
		skip = g.base - seq
		if skip > old {
			skip = old
		}
	}
	if skip < old {
		differs = g.restore(seq+skip, payload[skip:old])
	}
	return Replay, int(old), differs
}

// restore overwrites p (bytes at seq, all kept) with the kept copy and
// reports whether anything changed.
func (g *Guard) restore(seq uint32, p []byte) bool {
	differs := false
	for len(p) > 0 {
		kept := g.keptAt(seq, len(p))
		if !bytes.Equal(kept, p[:len(kept)]) {
			if !differs {
				differs = changed(kept, p)
			}
			copy(p, kept)
		}
		p = p[len(kept):]
		seq += uint32(len(kept))
	}
	return differs
}

// keptAt returns the longest run, at most n bytes, of the kept copy from
// sequence number seq (base <= seq < next): in a held range, or in the
// ring up to its end or to the next held range.
func (g *Guard) keptAt(seq uint32, n int) []byte {
	end := seq + uint32(n)
	for k := uint8(0); k < g.nheld; k++ {
		h := &g.held[(g.first+k)%MaxHeld]
		if seqBefore(seq, h.seq) {
			if seqBefore(h.seq, end) {
				end = h.seq // the ring part stops where this range starts
			}
			break
		}
		if seqBefore(seq, h.seq+h.n) {
			i := h.off + uint64(seq-h.seq)
			m := min(uint64(n), uint64(h.seq+h.n-seq))
			return g.mem[i : i+m]
		}
	}
	size := uint32(len(g.buf))
	i := g.off + (seq - g.base)
	if i >= size {
		i -= size
	}
	m := min(end-seq, size-i)
	return g.buf[i : i+m]
}

// changed reports whether p differs from kept anywhere kept does not hold
// a rewritten byte.
func changed(kept, p []byte) bool {
	for i, k := range kept {
		if k != p[i] && k != RewriteByte {
			return true
		}
	}
	return false
}

// Commit stores the final (possibly rewritten) new bytes of the segment
// last passed to Segment, payload[newStart:], and advances Next. It
// returns false and stores nothing if b does not fit, which Segment rules
// out for bytes it accepted.
func (g *Guard) Commit(b []byte) bool {
	if len(b) > g.Free() {
		return false
	}
	size := uint32(len(g.buf))
	if size == 0 {
		return true // len(b) == 0
	}
	i := g.off + (g.next - g.base)
	if i >= size {
		i -= size
	}
	g.next += uint32(len(b))
	// Up to the end of buf, then the rest (if any) from its start.
	c := copy(g.buf[i:], b)
	copy(g.buf, b[c:])
	return true
}

// Reserve returns where Commit would store the next n new bytes in the
// kept copy: first, then second, which is empty unless the ring wraps. It
// lets a caller copy the bytes in its own pass over them (the SMTP data
// path copies and scans in one, see internal/scan) and then call
// Advance(n) instead of Commit. Both are empty if n bytes do not fit
// (Free). Bytes written there are not kept until Advance; a later Commit
// or Reserve writes at the same place.
func (g *Guard) Reserve(n int) (first, second []byte) {
	if n > g.Free() || n <= 0 {
		return nil, nil
	}
	size := uint32(len(g.buf))
	i := g.off + (g.next - g.base)
	if i >= size {
		i -= size
	}
	if end := int(i) + n; end <= int(size) {
		return g.buf[i:end:end], nil
	}
	return g.buf[i:], g.buf[:n-int(size-i)]
}

// Advance keeps the n bytes the caller wrote where Reserve(n) said, as
// Commit of those bytes would: they must be the final (possibly rewritten)
// new bytes of the segment last passed to Segment. It returns false and
// keeps nothing if n bytes do not fit.
func (g *Guard) Advance(n int) bool {
	if n > g.Free() || n < 0 {
		return false
	}
	g.next += uint32(n)
	return true
}

// Hold keeps the n new bytes of the segment last passed to Segment (its
// final bytes, after any rewrite) by reference: they are mem[off:off+n],
// and the caller must not change or reuse that memory until Unhold or
// Release returns off. mem must be the same for every Hold of a Guard's
// life. It returns false and keeps nothing if n bytes do not fit or
// MaxHeld ranges are held already; the caller then keeps a copy (Commit).
func (g *Guard) Hold(mem []byte, off uint64, n int) bool {
	if !g.CanHold(n) || off+uint64(n) > uint64(len(mem)) {
		return false
	}
	g.mem = mem
	g.held[(g.first+g.nheld)%MaxHeld] = heldRange{seq: g.next, n: uint32(n), off: off}
	g.nheld++
	g.next += uint32(n)
	return true
}

// CanHold reports whether Hold would keep n new bytes: they fit, and fewer
// than MaxHeld ranges are held.
func (g *Guard) CanHold(n int) bool {
	return n > 0 && n <= g.Free() && g.nheld < MaxHeld
}

// Held is the number of ranges held by reference.
func (g *Guard) Held() int { return int(g.nheld) }

// Unhold forgets the oldest held range if the server has acknowledged it
// entirely and returns its offset (as given to Hold), which the caller may
// reuse now; ok is false when there is no such range. Call it after Ack,
// until ok is false.
func (g *Guard) Unhold() (off uint64, ok bool) {
	if g.nheld == 0 {
		return 0, false
	}
	h := &g.held[g.first%MaxHeld]
	if seqBefore(g.base, h.seq+h.n) {
		return 0, false
	}
	g.first = (g.first + 1) % MaxHeld
	g.nheld--
	return h.off, true
}

// Release forgets the oldest held range, acknowledged or not, and returns
// its offset; ok is false when none is left. The stream ends: call it until
// ok is false, and Init the Guard again before any other use.
func (g *Guard) Release() (off uint64, ok bool) {
	if g.nheld == 0 {
		return 0, false
	}
	off = g.held[g.first%MaxHeld].off
	g.first = (g.first + 1) % MaxHeld
	g.nheld--
	return off, true
}

// Ack frees kept bytes below ack, an acknowledgement number from the
// server. ACKs outside [base, next] are ignored.
func (g *Guard) Ack(ack uint32) {
	if seqBefore(ack, g.base) || seqAfter(ack, g.next) {
		return
	}
	size := uint32(len(g.buf))
	if size == 0 {
		g.base = ack
		return
	}
	g.off += ack - g.base
	if g.off >= size {
		g.off -= size
	}
	g.base = ack
}
