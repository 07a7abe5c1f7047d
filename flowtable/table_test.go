package flowtable

import (
	"math/rand/v2"
	"testing"
	"unsafe"
)

const sec = int64(1e9)

func tcpKey(src uint32, sport uint16, dst uint32, dport uint16) Key {
	return Key{Src: src, Dst: dst, SrcPort: sport, DstPort: dport, Proto: 6}
}

// check verifies the table's invariants: every slot is reachable from its
// home without crossing an empty slot and points at a live entry whose key
// has that hash; every live entry is indexed under its keys and sits in
// exactly one class list; counts agree.
func check(t testing.TB, tb *Table) {
	t.Helper()
	keys := 0
	for i, s := range tb.slots {
		if s == 0 {
			continue
		}
		keys++
		v := uint32(s)
		idx, dir := v>>1, v&1
		e := &tb.entries[idx]
		if !e.live() {
			t.Fatalf("slot %d points at free entry %d", i, idx)
		}
		k := &e.Orig
		if dir == 1 {
			k = &e.Reply
		}
		h := k.hash(tb.s0, tb.s1)
		if uint32(h) != uint32(s>>32) {
			t.Fatalf("slot %d: tag mismatch", i)
		}
		for j := uint32(h) & tb.mask; j != uint32(i); j = (j + 1) & tb.mask {
			if tb.slots[j] == 0 {
				t.Fatalf("slot %d unreachable from home %d (hole at %d)", i, uint32(h)&tb.mask, j)
			}
		}
		if got, gdir, ok := tb.Lookup(k); !ok || got != idx || gdir != uint8(dir) {
			t.Fatalf("lookup of slot %d key: %d %d %v, want %d %d", i, got, gdir, ok, idx, dir)
		}
	}
	live, want := 0, 0
	for c := range tb.head {
		n := 0
		prev := uint32(0)
		for idx := tb.head[c]; idx != 0; idx = tb.entries[idx].next {
			e := &tb.entries[idx]
			if int(e.Class()) != c || e.prev&idxMask != prev {
				t.Fatalf("class %d list broken at %d", c, idx)
			}
			if e.enqueued > e.LastSeen {
				t.Fatalf("entry %d enqueued %d after LastSeen %d", idx, e.enqueued, e.LastSeen)
			}
			want += 2
			if e.Orig == e.Reply {
				want--
			}
			prev = idx
			n++
		}
		if prev != tb.tail[c] || n != tb.count[c] {
			t.Fatalf("class %d: tail %d/%d count %d/%d", c, prev, tb.tail[c], n, tb.count[c])
		}
		live += n
	}
	if live != tb.live || keys != want {
		t.Fatalf("live %d/%d keys %d/%d", live, tb.live, keys, want)
	}
}

func TestEntrySize(t *testing.T) {
	if s := unsafe.Sizeof(Entry{}); s != 64 {
		t.Fatalf("Entry is %d bytes, want 64 (one cache line)", s)
	}
	if s := unsafe.Sizeof(Key{}); s != 16 {
		t.Fatalf("Key is %d bytes, want 16", s)
	}
}

func TestKeyReverse(t *testing.T) {
	k := tcpKey(0x0a0a0a05, 1025, 0xac160101, 25)
	r := k.Reverse()
	want := tcpKey(0xac160101, 25, 0x0a0a0a05, 1025)
	if r != want || r.Reverse() != k {
		t.Fatalf("Reverse = %+v, want %+v", r, want)
	}
}

func TestInsertLookupDelete(t *testing.T) {
	tb := New(16, []int64{30 * sec, 3600 * sec}, 1)
	// 10.10.10.5:1025 -> 172.22.1.1:25 leaving inside; replies arrive on the
	// outside addressed to the inside global 172.22.1.111.
	orig := tcpKey(0x0a0a0a05, 1025, 0xac160101, 25)
	reply := tcpKey(0xac160101, 25, 0xac16016f, 1025)
	idx, st := tb.Insert(&orig, &reply, 100, 0)
	if st != OK || idx == 0 {
		t.Fatalf("Insert = %d, %v", idx, st)
	}
	tests := []struct {
		name string
		k    Key
		dir  uint8
		ok   bool
	}{
		{"orig", orig, 0, true},
		{"reply", reply, 1, true},
		{"orig reversed (untranslated reply)", orig.Reverse(), 0, false},
		{"other proto", Key{Src: orig.Src, Dst: orig.Dst, SrcPort: 1025, DstPort: 25, Proto: 17}, 0, false},
		{"other port", tcpKey(0x0a0a0a05, 1026, 0xac160101, 25), 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, dir, ok := tb.Lookup(&tc.k)
			if ok != tc.ok || (ok && (got != idx || dir != tc.dir)) {
				t.Fatalf("Lookup = %d, %d, %v; want %d, %d, %v", got, dir, ok, idx, tc.dir, tc.ok)
			}
		})
	}
	e := tb.Entry(idx)
	if e.Orig != orig || e.Reply != reply || e.Created != 100 || e.LastSeen != 100 || e.Class() != 0 {
		t.Fatalf("entry = %+v", *e)
	}
	if tb.Len() != 1 || tb.LenClass(0) != 1 || tb.LenClass(1) != 0 {
		t.Fatalf("Len %d LenClass %d/%d", tb.Len(), tb.LenClass(0), tb.LenClass(1))
	}
	if got, st := tb.Insert(&reply, &orig, 101, 0); st != Exists || got != idx {
		t.Fatalf("duplicate Insert = %d, %v", got, st)
	}
	other := tcpKey(1, 2, 3, 4)
	if got, st := tb.Insert(&other, &reply, 101, 0); st != Exists || got != idx {
		t.Fatalf("Insert with taken reply key = %d, %v", got, st)
	}
	if _, _, ok := tb.Lookup(&other); ok {
		t.Fatal("failed Insert left its orig key behind")
	}
	check(t, tb)

	tb.Delete(idx)
	if _, _, ok := tb.Lookup(&orig); ok {
		t.Fatal("orig found after Delete")
	}
	if _, _, ok := tb.Lookup(&reply); ok {
		t.Fatal("reply found after Delete")
	}
	if tb.Len() != 0 || tb.LenClass(0) != 0 || tb.Live(idx) {
		t.Fatal("deleted session still counted")
	}
	if tb.Entry(idx).Orig != orig {
		t.Fatal("freed entry not readable until reuse")
	}
	tb.Delete(idx) // double delete is a no-op
	check(t, tb)

	// Reuse: the freed index serves the next session.
	idx2, st := tb.Insert(&other, &other, 200, 1)
	if st != OK || idx2 != idx {
		t.Fatalf("reuse Insert = %d, %v; want %d", idx2, st, idx)
	}
	if got, dir, ok := tb.Lookup(&other); !ok || got != idx2 || dir != 0 {
		t.Fatalf("same-key session lookup = %d %d %v", got, dir, ok)
	}
	check(t, tb)
	tb.Delete(idx2)
	check(t, tb)
}

// Match confirms an index for a key: a live session whose Orig (dir 0)
// or Reply (dir 1) is the key; not a freed index, nor one reused by
// another session, nor 0 or an index out of range.
func TestMatch(t *testing.T) {
	tb := New(4, []int64{sec}, 9)
	orig := tcpKey(0x0a0a0a05, 1025, 0xac160101, 25)
	reply := tcpKey(0xac160101, 25, 0xac16016f, 1025)
	other := tcpKey(0x0a0a0a06, 1026, 0xac160101, 25)
	otherRev := other.Reverse()
	land := tcpKey(7, 7, 7, 7) // orig == reply: indexed once, found as dir 0
	idx, _ := tb.Insert(&orig, &reply, 0, 0)
	landIdx, _ := tb.Insert(&land, &land, 0, 0)
	type want struct {
		dir uint8
		ok  bool
	}
	expect := func(name string, idx uint32, k Key, w want) {
		t.Helper()
		dir, ok := tb.Match(idx, &k)
		if ok != w.ok || dir != w.dir {
			t.Errorf("%s: Match(%d) = %d, %v; want %d, %v", name, idx, dir, ok, w.dir, w.ok)
		}
		// The contract: a Match is what Lookup says.
		if li, ld, lok := tb.Lookup(&k); ok && (!lok || li != idx || ld != dir) {
			t.Errorf("%s: Match(%d) = %d but Lookup = %d, %d, %v", name, idx, dir, li, ld, lok)
		}
	}
	expect("orig", idx, orig, want{0, true})
	expect("reply", idx, reply, want{1, true})
	expect("orig reversed", idx, orig.Reverse(), want{0, false})
	expect("other key", idx, other, want{0, false})
	// Keys one bit off in one field, the bit also set in other fields (a
	// comparison folding the fields together must not cancel it out).
	for _, off := range []Key{
		{Src: 1}, {Dst: 1}, {SrcPort: 1}, {DstPort: 1}, {Proto: 2},
	} { // the bits to flip
		for _, base := range []Key{orig, reply} {
			k := base
			k.Src, k.Dst, k.SrcPort, k.DstPort, k.Proto = base.Src^off.Src, base.Dst^off.Dst,
				base.SrcPort^off.SrcPort, base.DstPort^off.DstPort, base.Proto^off.Proto
			expect("one bit off", idx, k, want{0, false})
		}
	}
	expect("land", landIdx, land, want{0, true})
	expect("wrong index", landIdx, orig, want{0, false})
	expect("zero", 0, orig, want{0, false})
	expect("never used", 3, orig, want{0, false})
	expect("out of range", 5, orig, want{0, false})
	expect("far out of range", 1<<24-1, orig, want{0, false})

	tb.Delete(idx)
	expect("freed orig", idx, orig, want{0, false})
	expect("freed reply", idx, reply, want{0, false})
	idx2, st := tb.Insert(&other, &otherRev, 0, 0)
	if st != OK || idx2 != idx {
		t.Fatalf("reuse Insert = %d, %v; want index %d", idx2, st, idx)
	}
	expect("reused: old orig", idx, orig, want{0, false})
	expect("reused: old reply", idx, reply, want{0, false})
	expect("reused: new orig", idx, other, want{0, true})
	expect("reused: new reply", idx, otherRev, want{1, true})
}

// Match with Warm's hint, falling back to Lookup, gives what Lookup gives,
// for keys present, missing, deleted and reinserted at other indices
// between Warm and the lookup (the dataplane warms a chunk of frames, then
// processes them one by one, creating and deleting sessions as it goes),
// in a table dense enough for clusters and displaced slots.
func TestMatchOrLookup(t *testing.T) {
	const n = 512
	tb := New(n, []int64{sec}, 11)
	orig, reply := benchKeys(2 * n)
	r := rand.New(rand.NewPCG(3, 4))
	live := map[int]uint32{} // session number -> index
	keys := make([]Key, 32)
	nums := make([]int, 32)
	out := make([]uint32, 32)
	hinted, missed := 0, 0
	for range 4000 {
		for i := range keys {
			nums[i] = r.IntN(2 * n)
			keys[i] = orig[nums[i]]
			if r.IntN(2) == 0 {
				keys[i] = reply[nums[i]]
			}
		}
		tb.Warm(keys, out)
		for i := range keys {
			// Churn between Warm and the lookup: delete or create a
			// random session (often this key's own).
			s := nums[i]
			if r.IntN(4) != 0 {
				s = r.IntN(2 * n)
			}
			if idx, ok := live[s]; ok {
				tb.Delete(idx)
				delete(live, s)
			} else if idx, st := tb.Insert(&orig[s], &reply[s], 0, 0); st == OK {
				live[s] = idx
			}
			wi, wd, wok := tb.Lookup(&keys[i])
			gi, gd, gok := uint32(0), uint8(0), false
			if d, ok := tb.Match(out[i], &keys[i]); ok {
				gi, gd, gok = out[i], d, true
				hinted++
			} else {
				gi, gd, gok = tb.Lookup(&keys[i])
				if wok {
					missed++
				}
			}
			if gi != wi || gd != wd || gok != wok {
				t.Fatalf("key %+v: hint %d gives %d %d %v, Lookup %d %d %v", keys[i], out[i], gi, gd, gok, wi, wd, wok)
			}
		}
	}
	check(t, tb)
	if hinted < 1000 || missed < 100 {
		t.Fatalf("%d lookups answered by the hint, %d found by Lookup only: want many of both", hinted, missed)
	}
	t.Logf("%d answered by the hint, %d by Lookup after a stale hint", hinted, missed)
}

func TestFullTableRefuses(t *testing.T) {
	tb := New(3, []int64{sec}, 7)
	var keys []Key
	for i := range 3 {
		k := tcpKey(uint32(i+1), 1000, 99, 80)
		r := k.Reverse()
		keys = append(keys, k)
		if _, st := tb.Insert(&k, &r, 0, 0); st != OK {
			t.Fatalf("insert %d: %v", i, st)
		}
	}
	k := tcpKey(50, 1000, 99, 80)
	r := k.Reverse()
	if idx, st := tb.Insert(&k, &r, 0, 0); st != Full || idx != 0 {
		t.Fatalf("Insert into full table = %d, %v", idx, st)
	}
	for _, k := range keys {
		if _, _, ok := tb.Lookup(&k); !ok {
			t.Fatal("existing session lost when full")
		}
	}
	idx, _, _ := tb.Lookup(&keys[1])
	tb.Delete(idx)
	if _, st := tb.Insert(&k, &r, 0, 0); st != OK {
		t.Fatalf("Insert after Delete = %v", st)
	}
	check(t, tb)
}

// TestCollisions forces dense clusters: 4 sessions (8 keys) in 16 slots,
// thousands of insert/delete rounds, so wraparound and algorithm R's moves
// are exercised.
func TestCollisions(t *testing.T) {
	tb := New(4, []int64{sec}, 3)
	if len(tb.slots) != 16 {
		t.Fatalf("slots = %d", len(tb.slots))
	}
	r := rand.New(rand.NewPCG(1, 2))
	live := map[Key]uint32{}
	for range 20000 {
		k := tcpKey(uint32(r.IntN(8)), uint16(r.IntN(3)), 7, 80)
		if idx, ok := live[k]; ok {
			tb.Delete(idx)
			delete(live, k)
		} else {
			rev := k.Reverse()
			idx, st := tb.Insert(&k, &rev, 0, 0)
			switch {
			case len(live) == 4 && st != Full:
				t.Fatalf("want Full, got %v", st)
			case len(live) < 4 && st != OK:
				t.Fatalf("want OK, got %v", st)
			}
			if st == OK {
				live[k] = idx
			}
		}
		check(t, tb)
	}
	// The index wrapped: some slot holds a key whose home is after it.
	if tb.Len() != len(live) {
		t.Fatalf("Len %d, model %d", tb.Len(), len(live))
	}
}

func TestStatusString(t *testing.T) {
	for st, want := range map[Status]string{OK: "ok", Full: "full", Exists: "exists", 9: "unknown"} {
		if st.String() != want {
			t.Errorf("%d.String() = %q", st, st.String())
		}
	}
}

func TestNewPanicsOnBadConfig(t *testing.T) {
	cases := []struct {
		name     string
		capacity int
		classes  []int64
	}{
		{"zero capacity", 0, []int64{1}},
		{"too large", MaxCapacity + 1, []int64{1}},
		{"no class", 1, nil},
		{"zero timeout", 1, []int64{0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			New(tc.capacity, tc.classes, 0)
		})
	}
}
