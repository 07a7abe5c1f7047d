package flowtable

import (
	"math/bits"

	"cbac/internal/hugepage"
)

// MaxCapacity is the largest number of sessions one Table can hold: an
// index needs 24 bits because the top byte of a list link carries the
// expiry class (that keeps Entry at 64 bytes, one cache line).
const MaxCapacity = 1<<24 - 1

// MaxClasses is the number of expiry classes a Table supports; class 255
// marks a free entry.
const MaxClasses = 255

const (
	idxMask   = 1<<24 - 1
	classFree = 0xff
)

// Status is the result of Insert.
type Status uint8

const (
	// OK: the session was inserted.
	OK Status = iota
	// Full: the table holds Capacity() sessions. The new session is refused
	// (the caller counts it); existing sessions keep working (docs/behaviour.md "Sessions and timers").
	Full
	// Exists: one of the two keys already belongs to a session, whose index
	// is returned.
	Exists
)

func (s Status) String() string {
	switch s {
	case OK:
		return "ok"
	case Full:
		return "full"
	case Exists:
		return "exists"
	}
	return "unknown"
}

// Entry is one session: 64 bytes, one cache line (the slab is page aligned).
// Orig is the key of the initiator's packets at ingress, Reply the key of the
// responder's packets at ingress (reversed and NAT-translated by the caller).
// Times are the caller's int64 nanoseconds.
type Entry struct {
	Orig, Reply Key
	Created     int64
	LastSeen    int64
	enqueued    int64  // LastSeen when the entry was appended to its class list
	prev        uint32 // class<<24 | previous index in the class list
	next        uint32 // next index in the class list, or in the free list
}

// Class is the entry's expiry class (an index into the timeouts of New).
func (e *Entry) Class() uint8 { return uint8(e.prev >> 24) }

func (e *Entry) live() bool { return e.prev>>24 != classFree }

// Table is one worker's session table. It is not safe for concurrent use:
// only the owning worker calls it (the control plane goes through the
// worker's mailbox).
type Table struct {
	entries []Entry  // [0] is unused: index 0 means "none"
	slots   []uint64 // tag<<32 | index<<1 | dir; 0 = empty
	mask    uint32
	s0, s1  uint64

	free     uint32 // head of the free list (linked by next), 0 = empty
	fresh    uint32 // next never-used index
	live     int
	capacity int

	timeout    []int64 // per class
	head, tail []uint32
	count      []int
	expireFrom int // class where the next Expire starts (round robin)

	warm uint32 // sink for Warm's loads
}

// New preallocates a table for capacity sessions with one FIFO expiry list
// per entry of classTimeouts (nanoseconds, > 0). seed keys the hash (use a
// random value per table). It panics on a capacity outside
// [1, MaxCapacity], no class or more than MaxClasses, or a timeout <= 0:
// those are configuration errors to catch before.
func New(capacity int, classTimeouts []int64, seed uint64) *Table {
	if capacity < 1 || capacity > MaxCapacity {
		panic("flowtable: capacity out of range")
	}
	if len(classTimeouts) == 0 || len(classTimeouts) > MaxClasses {
		panic("flowtable: number of expiry classes out of range")
	}
	for _, to := range classTimeouts {
		if to <= 0 {
			panic("flowtable: expiry class timeout must be positive")
		}
	}
	// Two keys per session, load factor <= 0.5.
	nslots := 1 << bits.Len(uint(4*capacity-1))
	n := len(classTimeouts)
	t := &Table{
		entries:  make([]Entry, capacity+1),
		slots:    make([]uint64, nslots),
		mask:     uint32(nslots - 1),
		fresh:    1,
		capacity: capacity,
		timeout:  append([]int64(nil), classTimeouts...),
		head:     make([]uint32, n),
		tail:     make([]uint32, n),
		count:    make([]int, n),
	}
	t.s0 = splitmix64(&seed)
	t.s1 = splitmix64(&seed)
	// Huge pages for the slab and the index, advised before their first
	// touch: a lookup in a large table then misses the caches but not
	// the TLB. Only a hint: the table works the same without.
	_ = hugepage.Advise(t.entries)
	_ = hugepage.Advise(t.slots)
	// Entries not yet handed out read as free, so Delete and Live on them
	// are safe. Pages of the slab are touched here, once.
	for i := range t.entries {
		t.entries[i].prev = classFree << 24
	}
	return t
}

// Capacity is the maximum number of sessions. Indices are in
// [1, Capacity()] and stable for the life of a session, so a parallel slab
// of Capacity()+1 elements can hold the caller's per-session payload.
func (t *Table) Capacity() int { return t.capacity }

// Len is the number of live sessions.
func (t *Table) Len() int { return t.live }

// Entry returns the session at idx. After Expire or Delete freed idx, the
// entry stays readable (keys, times) until the next Insert reuses it.
func (t *Table) Entry(idx uint32) *Entry { return &t.entries[idx] }

// Live reports whether idx is a live session.
func (t *Table) Live(idx uint32) bool {
	return idx != 0 && int(idx) <= t.capacity && t.entries[idx].live()
}

// Lookup finds the session of a packet and its direction: dir 0 when k is
// the session's Orig key (initiator to responder), 1 when it is Reply.
func (t *Table) Lookup(k *Key) (idx uint32, dir uint8, ok bool) {
	return t.find(k, k.hash(t.s0, t.s1))
}

// Match reports whether k is a key of the live session idx, and its
// direction as Lookup gives it: dir 0 when k is Orig, 1 when it is Reply.
// A key belongs to at most one live session (Insert refuses a second), so
// when Match says ok, Lookup(k) would return (idx, dir, true): a caller
// holding a probable index (a hint from Warm) confirms it with one entry
// read instead of a hash and a probe, and falls back to Lookup otherwise.
// Any idx is accepted (0, out of range and free entries do not match).
func (t *Table) Match(idx uint32, k *Key) (dir uint8, ok bool) {
	if idx == 0 || int(idx) > t.capacity {
		return 0, false
	}
	e := &t.entries[idx]
	if !e.live() {
		return 0, false
	}
	if e.Orig == *k {
		return 0, true
	}
	if e.Reply == *k {
		return 1, true
	}
	return 0, false
}

// WarmMax is the largest batch Warm takes at once.
const WarmMax = 64

// warmProbes bounds Warm's probe per key: at load <= 0.5 nearly every key
// lies within 4 slots of its home, mostly in the home's cache line.
const warmProbes = 4

// Warm prepares the lookups of a batch of packets: it loads the index
// slots of keys, then the entries their tags point to, so that the CPU
// overlaps the cache misses of independent keys (VPP-style pipelining,
// with loads instead of prefetch instructions, which Go does not have)
// before the caller looks each key up, in order, from the cache. With a
// million sessions each lookup costs two dependent misses; a batch of 64
// waits for them about twice instead of 128 times.
//
// It sets out[i] to the index of the entry keys[i]'s probe points to with
// a matching tag (a probable hit), or to 0 when there is none, so that the
// caller can warm its own per-session payload too and confirm the hint
// with Match instead of running Lookup (the hint is only probable: a tag
// collision, or a session deleted or created after Warm, make it wrong,
// and Match then says no). out must be at least as long as keys. Keys
// beyond WarmMax are not warmed: their out is 0. Warm changes nothing in
// the table.
func (t *Table) Warm(keys []Key, out []uint32) {
	out = out[:len(keys)]
	if len(keys) > WarmMax {
		clear(out[WarmMax:])
		keys, out = keys[:WarmMax], out[:WarmMax]
	}
	var warm uint32
	for i := range keys { // the home slots; out holds the tags meanwhile
		tag := uint32(keys[i].hash(t.s0, t.s1))
		out[i] = tag
		warm += uint32(t.slots[tag&t.mask])
	}
	for i := range out { // the entries of tag hits, probing as find does
		tag := out[i]
		out[i] = 0
		for j, n := tag&t.mask, 0; n < warmProbes; j, n = (j+1)&t.mask, n+1 {
			s := t.slots[j]
			if s == 0 {
				break
			}
			if uint32(s>>32) == tag {
				v := uint32(s) >> 1
				warm += t.entries[v].Orig.Src
				out[i] = v
				break
			}
		}
	}
	t.warm = warm
}

// Insert creates a session with both keys, Created = LastSeen = now, at the
// tail of class's expiry list. When orig == reply (a LAND-like packet the
// caller should have dropped) only one key is indexed and every packet is
// found as dir 0.
func (t *Table) Insert(orig, reply *Key, now int64, class uint8) (idx uint32, err Status) {
	_ = t.timeout[class] // a class out of range is a programming error: panic here, before any change
	if t.live == t.capacity {
		return 0, Full
	}
	ho := orig.hash(t.s0, t.s1)
	if i, _, ok := t.find(orig, ho); ok {
		return i, Exists
	}
	same := *orig == *reply
	var hr uint64
	if !same {
		hr = reply.hash(t.s0, t.s1)
		if i, _, ok := t.find(reply, hr); ok {
			return i, Exists
		}
	}
	idx = t.free
	if idx != 0 {
		t.free = t.entries[idx].next
	} else {
		idx = t.fresh
		t.fresh++
	}
	t.live++
	e := &t.entries[idx]
	e.Orig = *orig
	e.Reply = *reply
	e.Created = now
	e.LastSeen = now
	t.place(ho, idx<<1)
	if !same {
		t.place(hr, idx<<1|1)
	}
	t.pushTail(class, idx, now)
	return idx, OK
}

// Delete removes the session at idx: both keys, its list membership, and
// frees the index (reused by a later Insert). Deleting a free index is a
// no-op, so a caller may delete what Expire already freed.
func (t *Table) Delete(idx uint32) {
	if !t.Live(idx) {
		return
	}
	t.unlink(idx)
	t.release(idx)
}

// release removes the keys of a session already unlinked from its list and
// puts the index on the free list. Keys and times stay readable.
func (t *Table) release(idx uint32) {
	e := &t.entries[idx]
	t.unplace(e.Orig.hash(t.s0, t.s1), idx<<1)
	if e.Reply != e.Orig {
		t.unplace(e.Reply.hash(t.s0, t.s1), idx<<1|1)
	}
	e.prev = classFree << 24
	e.next = t.free
	t.free = idx
	t.live--
}

// find is Lookup with the hash already computed.
func (t *Table) find(k *Key, h uint64) (uint32, uint8, bool) {
	tag := uint32(h)
	for i := tag & t.mask; ; i = (i + 1) & t.mask {
		s := t.slots[i]
		if s == 0 {
			return 0, 0, false
		}
		if uint32(s>>32) != tag {
			continue
		}
		v := uint32(s)
		e := &t.entries[v>>1]
		if v&1 == 0 {
			if e.Orig == *k {
				return v >> 1, 0, true
			}
		} else if e.Reply == *k {
			return v >> 1, 1, true
		}
	}
}

// place stores v (index<<1|dir) in the first empty slot from the key's home.
// The load factor stays <= 0.5, so an empty slot exists.
func (t *Table) place(h uint64, v uint32) {
	tag := uint32(h)
	i := tag & t.mask
	for t.slots[i] != 0 {
		i = (i + 1) & t.mask
	}
	t.slots[i] = uint64(tag)<<32 | uint64(v)
}

// unplace removes the slot holding exactly (tag of h, v), then closes the
// hole with Knuth's algorithm R (TAOCP vol. 3, 6.4): every following slot of
// the cluster whose home is not cyclically in (hole, slot] moves back into
// the hole. No tombstones, so lookups never slow down with churn. The home
// of a slot is its tag & mask: the tag is the low 32 bits of the hash.
func (t *Table) unplace(h uint64, v uint32) {
	want := uint64(uint32(h))<<32 | uint64(v)
	i := uint32(h) & t.mask
	for t.slots[i] != want {
		if t.slots[i] == 0 {
			panic("flowtable: index corrupt: key not found on delete")
		}
		i = (i + 1) & t.mask
	}
	j := i
	for {
		j = (j + 1) & t.mask
		s := t.slots[j]
		if s == 0 {
			break
		}
		home := uint32(s>>32) & t.mask
		if (j-home)&t.mask < (j-i)&t.mask {
			continue // home in (i, j]: s must stay at or after its home
		}
		t.slots[i] = s
		i = j
	}
	t.slots[i] = 0
}
