package ftpfsm

// Shift records, for one direction of a control connection, where
// rewritten address-and-port texts changed the length of the stream, so
// that sequence numbers of the rewritten direction can be mapped forward
// (original numbering -> numbering the receiver sees) and acknowledgement
// numbers and SACK blocks of the other direction mapped back, for the rest
// of the connection's life. Comparisons are modulo 2^32 (RFC 793 section
// 3.3): numbers compared must lie within 2^31 of each other, which the
// recorded positions do, Acked forgetting those 2^30 behind.
//
// It keeps the last MaxShifts rewrites. When an older one is forgotten,
// numbers before its end are no longer known: the map functions report
// them as not ok and the caller drops the segment (it can only be a stale
// retransmission: the rewrites after it were in data sent later).
//
// The zero value shifts nothing.
type Shift struct {
	n     uint8
	lost  bool   // entries were forgotten: numbers before floor are unknown
	floor uint32 // original number just past the last forgotten text
	base  int32  // cumulative delta of the forgotten rewrites
	start [MaxShifts]uint32
	end   [MaxShifts]uint32 // original number just past rewritten text i
	cum   [MaxShifts]int32  // cumulative delta for octets at or after end[i]
}

// MaxShifts is how many rewrites a Shift remembers.
const MaxShifts = 8

func before(a, b uint32) bool { return int32(a-b) < 0 }

// Delta returns the cumulative length change of all rewrites so far.
func (t *Shift) Delta() int32 {
	if t.n == 0 {
		return t.base
	}
	return t.cum[t.n-1]
}

// prev returns the cumulative delta before rewrite i.
func (t *Shift) prev(i int) int32 {
	if i == 0 {
		return t.base
	}
	return t.cum[i-1]
}

// Add records that the oldLen octets at original sequence number seq were
// replaced by newLen octets. Rewrites are added in stream order; one that
// begins before the end of the last is refused (false). A rewrite that
// keeps the length is not recorded.
func (t *Shift) Add(seq uint32, oldLen, newLen int) bool {
	if oldLen < 0 || newLen < 0 || oldLen > 1<<16 || newLen > 1<<16 {
		return false
	}
	if t.n > 0 && before(seq, t.end[t.n-1]) || t.lost && before(seq, t.floor) {
		return false
	}
	if oldLen == newLen {
		return true
	}
	if int(t.n) == MaxShifts {
		t.forget(1)
	}
	d := t.Delta() + int32(newLen-oldLen)
	t.start[t.n] = seq
	t.end[t.n] = seq + uint32(oldLen)
	t.cum[t.n] = d
	t.n++
	return true
}

// forget drops the k oldest rewrites.
func (t *Shift) forget(k int) {
	t.lost = true
	t.floor = t.end[k-1]
	t.base = t.cum[k-1]
	n := int(t.n)
	copy(t.start[:], t.start[k:n])
	copy(t.end[:], t.end[k:n])
	copy(t.cum[:], t.cum[k:n])
	t.n = uint8(n - k)
}

// Acked tells the Shift that the receiver acknowledged everything before
// original number seq: rewrites (and the floor of forgotten ones) more than
// 2^30 octets behind it are forgotten, so that no recorded number drifts
// out of comparison range. The caller calls it as acknowledgements arrive.
func (t *Shift) Acked(seq uint32) {
	k := 0
	for k < int(t.n) && int32(seq-t.end[k]) > 1<<30 {
		k++
	}
	if k > 0 {
		t.forget(k)
	}
	if t.lost && int32(seq-t.floor) > 1<<30 {
		t.lost = false // the floor would drift out of comparison range too
	}
}

// Forward maps the original sequence number seq of the rewritten direction
// to the receiver's numbering. A number inside a rewritten text maps to the
// first octet of its replacement. ok is false for a number before a
// forgotten rewrite.
func (t *Shift) Forward(seq uint32) (uint32, bool) {
	if t.lost && before(seq, t.floor) {
		return seq, false
	}
	for i := int(t.n) - 1; i >= 0; i-- {
		if !before(seq, t.end[i]) {
			return seq + uint32(t.cum[i]), true
		}
		if !before(seq, t.start[i]) {
			return t.start[i] + uint32(t.prev(i)), true
		}
	}
	return seq + uint32(t.base), true
}

// Back maps an acknowledgement number (the receiver's numbering) of the
// rewritten direction's data back to the original numbering, rounding
// down: an ack inside a replacement acknowledges only up to the first
// octet of the text it replaced. ok as for Forward.
func (t *Shift) Back(ack uint32) (uint32, bool) {
	return t.back(ack, false)
}

// SACKBack maps a SACK block [left, right) (RFC 2018) of the rewritten
// direction's data back to the original numbering, shrinking it to whole
// original octets. ok is false if nothing of it is left or a number is
// unknown.
func (t *Shift) SACKBack(left, right uint32) (uint32, uint32, bool) {
	l, ok1 := t.back(left, true)
	r, ok2 := t.back(right, false)
	if !ok1 || !ok2 || !before(l, r) {
		return left, right, false
	}
	return l, r, true
}

// back maps a receiver-side number back; up rounds a number inside a
// replacement up to the end of the text it replaced (a SACK left edge).
func (t *Shift) back(a uint32, up bool) (uint32, bool) {
	if t.lost && before(a, t.floor+uint32(t.base)) {
		return a, false
	}
	for i := int(t.n) - 1; i >= 0; i-- {
		if !before(a, t.end[i]+uint32(t.cum[i])) {
			return a - uint32(t.cum[i]), true
		}
		newStart := t.start[i] + uint32(t.prev(i))
		if !before(a, newStart) {
			if up && a != newStart {
				return t.end[i], true
			}
			return t.start[i], true
		}
	}
	return a - uint32(t.base), true
}
