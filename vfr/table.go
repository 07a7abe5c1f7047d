package vfr

import "math/bits"

// Bounds of New's arguments: IOS "ip virtual-reassembly max-reassemblies
// 1-4096 max-fragments 1-64".
const (
	MaxDatagrams = 4096
	MaxFragments = 64
)

// Slot states.
const (
	slotFree     uint8 = iota
	slotLive           // in reassembly: holds fragments, on the live list
	slotPoisoned       // dropped whole: holds no fragment, on the poisoned list
)

const none = -1 // no slot (list ends, lookups that fail)

// datagram is one slot: a datagram in reassembly or a poisoned key. Its
// fragments are t.frags[i*maxFragments:][:n], sorted by offset, never
// overlapping.
type datagram struct {
	key      Key
	home     uint32 // bucket the key hashes to
	deadline int64  // live: first fragment + timeout; poisoned: drop + timeout
	prev     int32  // live or poisoned list, in deadline order
	next     int32  // (the free list uses next only)
	n        uint16 // fragments held
	hdrLen   uint16 // first fragment's IP header length (20 until it arrives)
	maxEnd   uint32 // largest fragment end seen
	total    uint32 // payload length, known once the last fragment arrived
	bytes    uint32 // payload bytes held (fragments never overlap)
	state    uint8
	hasLast  bool
}

// list is a doubly linked list of slots threaded through prev/next.
type list struct{ head, tail int32 }

// Table is one worker's virtual reassembly state. Not safe for concurrent
// use.
type Table struct {
	slots   []datagram
	frags   []Frag   // maxDatagrams*maxFragments, slot i from i*maxFragments
	buckets []uint32 // open addressing, linear probing: slot index+1, 0 = empty
	mask    uint32
	seed    uint64
	maxFrag int
	timeout int64

	live     list // slotLive, oldest first (expiry order)
	poisoned list // slotPoisoned, oldest first
	free     int32
	nLive    int
	nPoison  int
	nHeld    int

	stats Stats
}

// New returns a table for maxDatagrams datagrams of maxFragments fragments
// each, dropping a datagram still incomplete timeout ns after its first
// fragment, with everything allocated here. seed keys the hash (pick it at
// random: it keeps crafted keys from colliding). It panics if maxDatagrams
// or maxFragments is outside 1..MaxDatagrams, 1..MaxFragments or timeout is
// not positive: the configuration checks these first.
func New(maxDatagrams, maxFragments int, timeout int64, seed uint64) *Table {
	if maxDatagrams < 1 || maxDatagrams > MaxDatagrams {
		panic("vfr: maxDatagrams out of range")
	}
	if maxFragments < 1 || maxFragments > MaxFragments {
		panic("vfr: maxFragments out of range")
	}
	if timeout <= 0 {
		panic("vfr: timeout must be positive")
	}
	nb := 1 << bits.Len(uint(2*maxDatagrams-1)) // load factor <= 0.5
	t := &Table{
		slots:    make([]datagram, maxDatagrams),
		frags:    make([]Frag, maxDatagrams*maxFragments),
		buckets:  make([]uint32, nb),
		mask:     uint32(nb - 1),
		seed:     seed,
		maxFrag:  maxFragments,
		timeout:  timeout,
		live:     list{none, none},
		poisoned: list{none, none},
	}
	for i := range t.slots {
		t.slots[i].next = int32(i + 1)
	}
	t.slots[maxDatagrams-1].next = none
	return t
}

// Len returns the number of datagrams in reassembly.
func (t *Table) Len() int { return t.nLive }

// Poisoned returns the number of poisoned keys remembered.
func (t *Table) Poisoned() int { return t.nPoison }

// Held returns the number of fragments held.
func (t *Table) Held() int { return t.nHeld }

// MaxFragments returns the per-datagram fragment limit: give Add and Expire
// an out with at least this much room so they never allocate.
func (t *Table) MaxFragments() int { return t.maxFrag }

// Stats returns the counters.
func (t *Table) Stats() Stats { return t.stats }

// Expire drops whole the datagrams whose timeout has passed (first
// fragment at or before now - timeout), appending their fragments to out
// for the caller to free, and forgets the poisoned keys whose timeout has
// passed. The work is bounded by out: it stops before a datagram whose
// fragments would not fit in cap(out) (unless out is empty), leaving it for
// the next call.
func (t *Table) Expire(now int64, out []Frag) []Frag {
	for t.live.head != none {
		i := t.live.head
		d := &t.slots[i]
		if d.deadline > now {
			break
		}
		if len(out) > 0 && len(out)+int(d.n) > cap(out) {
			break
		}
		t.stats.TimedOut++
		t.stats.TimedOutHeld += uint64(d.n)
		out = t.appendHeld(i, out)
		t.release(i)
	}
	for t.poisoned.head != none && t.slots[t.poisoned.head].deadline <= now {
		t.release(t.poisoned.head)
	}
	return out
}

// Flush empties the table (a reconfiguration), appending every held
// fragment to out for the caller to free. Not counted in Stats.
func (t *Table) Flush(out []Frag) []Frag {
	for t.live.head != none {
		i := t.live.head
		out = t.appendHeld(i, out)
		t.release(i)
	}
	for t.poisoned.head != none {
		t.release(t.poisoned.head)
	}
	return out
}

// held returns slot i's fragments.
func (t *Table) held(i int32) []Frag {
	base := int(i) * t.maxFrag
	return t.frags[base : base+int(t.slots[i].n)]
}

// appendHeld appends slot i's fragments to out and forgets them.
func (t *Table) appendHeld(i int32, out []Frag) []Frag {
	out = append(out, t.held(i)...)
	t.nHeld -= int(t.slots[i].n)
	t.slots[i].n = 0
	return out
}

// hash mixes the key with the seed (murmur3 finalizer, twice).
func (t *Table) hash(k *Key) uint32 {
	h := (uint64(k.Src)<<32 | uint64(k.Dst)) ^ t.seed
	h = fmix64(h)
	h ^= (uint64(k.ID)<<8 | uint64(k.Proto)) * 0x9e3779b97f4a7c15
	return uint32(fmix64(h))
}

func fmix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// lookup returns the slot holding k, or none.
func (t *Table) lookup(k *Key) int32 {
	for b := t.hash(k) & t.mask; ; b = (b + 1) & t.mask {
		s := t.buckets[b]
		if s == 0 {
			return none
		}
		if t.slots[s-1].key == *k {
			return int32(s - 1)
		}
	}
}

// alloc takes a slot for k (not in the table) as a live datagram, forgetting
// the oldest poisoned key if no slot is free. It returns none if every slot
// is live.
func (t *Table) alloc(k *Key, now int64) int32 {
	if t.free == none {
		if t.poisoned.head == none {
			return none
		}
		t.release(t.poisoned.head)
		t.stats.PoisonEvicted++
	}
	i := t.free
	d := &t.slots[i]
	t.free = d.next
	*d = datagram{key: *k, home: t.hash(k) & t.mask, hdrLen: 20, state: slotLive,
		deadline: now + t.timeout}
	b := d.home
	for t.buckets[b] != 0 {
		b = (b + 1) & t.mask
	}
	t.buckets[b] = uint32(i + 1)
	t.push(&t.live, i)
	t.nLive++
	return i
}

// poison turns live slot i into a poisoned key remembered until now +
// timeout; its fragments must have been taken.
func (t *Table) poison(i int32, now int64) {
	t.unlink(&t.live, i)
	t.nLive--
	d := &t.slots[i]
	d.state = slotPoisoned
	d.deadline = now + t.timeout
	t.push(&t.poisoned, i)
	t.nPoison++
}

// release frees slot i (live with no fragment left, or poisoned): out of its
// list and out of the hash, with backward-shift deletion so that probe
// sequences stay unbroken.
func (t *Table) release(i int32) {
	d := &t.slots[i]
	t.nHeld -= int(d.n)
	d.n = 0
	if d.state == slotLive {
		t.unlink(&t.live, i)
		t.nLive--
	} else {
		t.unlink(&t.poisoned, i)
		t.nPoison--
	}
	d.state = slotFree
	b := d.home
	for t.buckets[b] != uint32(i+1) {
		b = (b + 1) & t.mask
	}
	for j := (b + 1) & t.mask; t.buckets[j] != 0; j = (j + 1) & t.mask {
		// Move j's entry into the hole at b unless its home lies
		// cyclically in (b, j]: then it is still reachable.
		h := t.slots[t.buckets[j]-1].home
		if (j-h)&t.mask >= (j-b)&t.mask {
			t.buckets[b] = t.buckets[j]
			b = j
		}
	}
	t.buckets[b] = 0
	d.next = t.free
	t.free = i
}

func (t *Table) push(l *list, i int32) {
	d := &t.slots[i]
	d.prev, d.next = l.tail, none
	if l.tail == none {
		l.head = i
	} else {
		t.slots[l.tail].next = i
	}
	l.tail = i
}

func (t *Table) unlink(l *list, i int32) {
	d := &t.slots[i]
	if d.prev == none {
		l.head = d.next
	} else {
		t.slots[d.prev].next = d.next
	}
	if d.next == none {
		l.tail = d.prev
	} else {
		t.slots[d.next].prev = d.prev
	}
	d.prev, d.next = none, none
}
