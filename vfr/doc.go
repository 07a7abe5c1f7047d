// Package vfr is IP virtual fragment reassembly (docs/behaviour.md "Virtual reassembly", IOS
// "ip virtual-reassembly"): the fragments of a datagram are collected so
// that the ACL, session and SMTP checks see its whole headers and payload,
// and are then forwarded as the original fragments; nothing is reassembled
// on the wire.
//
// A Table belongs to one worker (no locks) and holds, in arrays allocated
// by New, up to maxDatagrams datagrams of up to maxFragments fragments each.
// It never sees the frames: a fragment is a Frag carrying the caller's
// frame Handle and the offset, length and MF flag of its payload. Add
// offers one fragment and says what became of it (Status); on Complete it
// hands back every fragment of the datagram in offset order. Dropped:
//
//   - alone: an exact duplicate of a held fragment (DropDuplicate), a
//     fragment of a new datagram when the table is full (DropTableFull), a
//     later fragment of a datagram dropped whole (DropPoisoned);
//   - whole, with every fragment already held, and poisoned (its key is
//     remembered until the timeout, so that its later fragments are dropped
//     too): overlapping fragments (DropOverlap), a first fragment too short
//     for the transport header (DropTiny, RFC 1858 section 3), a TCP
//     fragment at offset 8 (DropOffset8, RFC 1858 section 4, RFC 3128),
//     a datagram over 65535 bytes (DropTooLarge), an invalid fragment length
//     (DropMalformed), more than maxFragments fragments (DropTooMany);
//   - whole on timeout: a datagram still incomplete timeout ns after its
//     first fragment arrived (Expire; DropTimeout in Add).
//
// Poisoned keys occupy datagram slots but hold no fragments; when the
// table is full, the oldest poisoned key is forgotten to admit a new
// datagram, so poison never denies reassembly to live traffic.
//
// Per fragment: no allocation (given out with room), O(1) expected lookup,
// O(maxFragments) insertion.
//
// How the dataplane uses it (one Table per worker, fragments of one
// datagram steered to one worker):
//
//	k, f, l4 := vfr.FragOf(ip, d.Addr, d.Len<<8|uint32(d.Port))
//	st, out := w.vfr.Add(now, k, f, l4, w.fragOut[:0])
//	switch {
//	case st == vfr.Held:
//		// the table owns the frame until Complete, a drop or Expire
//	case st == vfr.Complete:
//		// out[0] is the first fragment: run it through the pipeline
//		// (session, ACL, NAT, inspection); give out[1:] the same verdict
//		// and rewrite their IP header only; for an inspected TCP session
//		// feed each fragment's payload in order (out is in offset order)
//	default:
//		// drop f and every fragment in out, count st; log
//		// %IP_VFR-4-FRAG_TABLE_OVERFLOW on DropTableFull and
//		// %IP_VFR-4-TOO_MANY_FRAGMENTS on DropTooMany (rate limited)
//	}
//
// and between batches, w.fragOut = w.vfr.Expire(now, w.fragOut[:0]),
// dropping what it returns.
package vfr
