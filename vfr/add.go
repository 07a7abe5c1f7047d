package vfr

import "cbac/packet"

// maxDatagramLen is the largest IPv4 datagram, header included (RFC 791
// Total Length is 16 bits).
const maxDatagramLen = 65535

// Add offers one fragment f of datagram k, received at now. l4 is the
// first fragment's payload (its transport header, for the tiny-fragment
// check; FragOf gives it) and is ignored for later fragments.
//
// The returned Status says what became of f, and out (appended to) what
// the caller now owns:
//   - Held: f is kept; out is unchanged.
//   - Complete: out receives every fragment of the datagram, f included,
//     in offset order (the first fragment first); the datagram left the
//     table.
//   - any Drop status: the caller frees f and every fragment appended to
//     out (the held fragments of a datagram dropped whole, see
//     Status.DropsWhole, or timed out).
//
// It does not allocate when cap(out)-len(out) >= MaxFragments().
func (t *Table) Add(now int64, k Key, f Frag, l4 []byte, out []Frag) (Status, []Frag) {
	s, out := t.add(now, &k, &f, l4, out)
	t.stats.Fragments[s]++
	return s, out
}

func (t *Table) add(now int64, k *Key, f *Frag, l4 []byte, out []Frag) (Status, []Frag) {
	end := f.End()
	hdr := 20
	if f.HdrLen > 20 {
		hdr = int(f.HdrLen)
	}

	// The checks on the fragment alone.
	bad := Held
	switch {
	case f.Len == 0 || (f.More && f.Len%8 != 0):
		bad = DropMalformed // RFC 791: only the last fragment may end unaligned
	case k.Proto == packet.ProtoTCP && f.Offset == 8:
		bad = DropOffset8 // RFC 1858 section 4: "if FO=1 and PROTOCOL=TCP then drop"
	case f.Offset == 0 && tiny(k.Proto, l4):
		bad = DropTiny
	case f.Offset == 0 && end+hdr > maxDatagramLen, end+20 > maxDatagramLen:
		bad = DropTooLarge
	}

	i := t.lookup(k)
	if i != none {
		d := &t.slots[i]
		switch {
		case d.deadline <= now && d.state == slotPoisoned:
			t.release(i) // poison over: a new datagram
			i = none
		case d.deadline <= now:
			t.stats.TimedOut++
			t.stats.TimedOutHeld += uint64(d.n)
			out = t.appendHeld(i, out)
			t.release(i)
			return DropTimeout, out
		case d.state == slotPoisoned:
			return DropPoisoned, out
		}
	}
	if bad != Held {
		return t.dropWhole(now, k, i, bad, out)
	}
	if i == none {
		if i = t.alloc(k, now); i == none {
			return DropTableFull, out
		}
	}

	d := &t.slots[i]
	n := int(d.n)
	base := int(i) * t.maxFrag
	fs := t.frags[base : base+n]
	// p: where f goes, the first held fragment at or after its offset.
	// Scanning from the end makes in-order arrival O(1).
	p := n
	for p > 0 && fs[p-1].Offset >= f.Offset {
		p--
	}
	if p < n && fs[p].Offset == f.Offset && fs[p].Len == f.Len && fs[p].More == f.More {
		return DropDuplicate, out
	}
	if (p > 0 && fs[p-1].End() > int(f.Offset)) || (p < n && int(fs[p].Offset) < end) {
		return t.dropWhole(now, k, i, DropOverlap, out)
	}
	if !f.More {
		// A second, different last fragment, or data past the end.
		if d.hasLast || int(d.maxEnd) > end {
			return t.dropWhole(now, k, i, DropMalformed, out)
		}
	} else if d.hasLast && end > int(d.total) {
		return t.dropWhole(now, k, i, DropMalformed, out)
	}
	maxEnd := max(int(d.maxEnd), end)
	h := int(d.hdrLen)
	if f.Offset == 0 {
		h = hdr
	}
	if maxEnd+h > maxDatagramLen {
		return t.dropWhole(now, k, i, DropTooLarge, out)
	}
	if n == t.maxFrag {
		return t.dropWhole(now, k, i, DropTooMany, out)
	}

	fs = t.frags[base : base+n+1]
	copy(fs[p+1:], fs[p:n])
	fs[p] = *f
	d.n++
	t.nHeld++
	d.bytes += uint32(f.Len)
	d.maxEnd = uint32(maxEnd)
	d.hdrLen = uint16(h)
	if !f.More {
		d.hasLast = true
		d.total = uint32(end)
	}
	// Held fragments lie in [0, total) without overlapping: they cover it
	// exactly when their lengths add up to it.
	if d.hasLast && d.bytes == d.total {
		t.stats.Reassembled++
		out = t.appendHeld(i, out)
		t.release(i)
		return Complete, out
	}
	return Held, out
}

// dropWhole drops datagram k for reason s: its held fragments (slot i, or
// none if it has no slot yet) go to out, and its key is poisoned until now
// + timeout so that its later fragments are dropped too. A datagram with no
// slot is poisoned only if a slot is free or holds an older poisoned key.
func (t *Table) dropWhole(now int64, k *Key, i int32, s Status, out []Frag) (Status, []Frag) {
	t.stats.Dropped++
	if i == none {
		if i = t.alloc(k, now); i == none {
			return s, out
		}
	}
	t.stats.DroppedHeld += uint64(t.slots[i].n)
	out = t.appendHeld(i, out)
	t.poison(i, now)
	return s, out
}

// tiny reports whether a first fragment's payload l4 is too short for the
// transport header (RFC 1858 section 3.2, RFC 3128): TCP needs its whole
// header (20 bytes, more with options as its Data Offset says), UDP and
// ICMP 8 bytes (ports or type, code and identifier).
func tiny(proto uint8, l4 []byte) bool {
	switch proto {
	case packet.ProtoTCP:
		need := 20
		if len(l4) > 12 {
			need = max(need, int(l4[12]>>4)*4)
		}
		return len(l4) < need
	case packet.ProtoUDP, packet.ProtoICMP:
		return len(l4) < 8
	}
	return false
}
