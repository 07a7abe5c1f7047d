package vfr

// Status is what Add did with one fragment. Held and Complete keep the
// fragment (in the table, or in out); every Drop status leaves the offered
// fragment to the caller to free, and for the statuses that drop the whole
// datagram out also receives the fragments that were held for it.
type Status uint8

const (
	// Held: the fragment is kept; the datagram is not complete yet.
	Held Status = iota
	// Complete: the fragment completed its datagram; out holds every
	// fragment of it in offset order and the datagram left the table.
	Complete
	// DropDuplicate: an exact duplicate (same offset, length and MF) of a
	// held fragment; dropped alone, the datagram stays.
	DropDuplicate
	// DropOverlap: the fragment overlaps a held one without being its
	// exact duplicate (RFC 1858 section 4, RFC 8200 section 4.5 rule);
	// datagram dropped whole and poisoned.
	DropOverlap
	// DropTiny: the first fragment cannot hold the transport header (RFC
	// 1858 section 3.2: TCP needs its whole header, UDP and ICMP 8 bytes);
	// datagram dropped whole and poisoned.
	DropTiny
	// DropOffset8: a TCP fragment at offset 8 bytes (FO=1), which can only
	// rewrite the TCP flags of the first fragment (RFC 1858 section 4,
	// RFC 3128); datagram dropped whole and poisoned.
	DropOffset8
	// DropTooLarge: the reassembled datagram would exceed 65535 bytes
	// (ping of death); datagram dropped whole and poisoned.
	DropTooLarge
	// DropMalformed: an empty fragment, a non-last fragment whose length
	// is not a multiple of 8 (RFC 791), or a last fragment that contradicts
	// the datagram's end (data beyond it, or a second, different last);
	// datagram dropped whole and poisoned.
	DropMalformed
	// DropTableFull: a fragment of a new datagram while maxDatagrams are in
	// reassembly; dropped alone. The caller logs
	// %IP_VFR-4-FRAG_TABLE_OVERFLOW (rate limited).
	DropTableFull
	// DropTooMany: the datagram would hold more than maxFragments
	// fragments; dropped whole and poisoned. The caller logs
	// %IP_VFR-4-TOO_MANY_FRAGMENTS (rate limited).
	DropTooMany
	// DropPoisoned: a fragment of a datagram already dropped whole, within
	// the timeout after the drop; dropped alone.
	DropPoisoned
	// DropTimeout: a fragment of a datagram whose timeout had passed before
	// Expire reclaimed it; the held fragments (in out) and this late one
	// are dropped, as Expire would have done.
	DropTimeout

	// NumStatus is the number of Status values (for per-status counters).
	NumStatus
)

var statusNames = [NumStatus]string{
	Held:          "held",
	Complete:      "complete",
	DropDuplicate: "duplicate fragment",
	DropOverlap:   "overlapping fragments",
	DropTiny:      "tiny first fragment",
	DropOffset8:   "TCP fragment at offset 8",
	DropTooLarge:  "datagram too large",
	DropMalformed: "invalid fragment length",
	DropTableFull: "reassembly table full",
	DropTooMany:   "too many fragments",
	DropPoisoned:  "fragment of a dropped datagram",
	DropTimeout:   "reassembly timeout",
}

// String returns a short lower-case description, for counters and logs.
func (s Status) String() string {
	if s < NumStatus {
		return statusNames[s]
	}
	return "unknown"
}

// Dropped reports whether the offered fragment was dropped (the caller
// frees it, and every fragment in out).
func (s Status) Dropped() bool { return s >= DropDuplicate && s < NumStatus }

// DropsWhole reports whether the status dropped the whole datagram and
// poisoned its key (DropTableFull, DropDuplicate and DropPoisoned drop the
// offered fragment alone; DropTimeout drops the datagram without poisoning).
func (s Status) DropsWhole() bool {
	switch s {
	case DropOverlap, DropTiny, DropOffset8, DropTooLarge, DropMalformed, DropTooMany:
		return true
	}
	return false
}

// Stats are one table's counters. Per worker; the caller sums them.
type Stats struct {
	// Fragments counts Add results, one per offered fragment, by Status.
	Fragments [NumStatus]uint64
	// Reassembled counts datagrams completed (equals Fragments[Complete]).
	Reassembled uint64
	// Dropped counts datagrams dropped whole by the checks (the DropsWhole
	// statuses), DroppedHeld the held fragments handed back for them.
	Dropped     uint64
	DroppedHeld uint64
	// TimedOut counts datagrams dropped on timeout (by Expire or by
	// Add's DropTimeout), TimedOutHeld the fragments handed back for them.
	TimedOut     uint64
	TimedOutHeld uint64
	// PoisonEvicted counts poisoned keys forgotten before their timeout to
	// make room for a new datagram.
	PoisonEvicted uint64
}
