package flowtable

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// Classes used by the expiry tests, after the seed's timers.
const (
	synwait = iota
	finwait
	idle
)

var seedTimeouts = []int64{30 * sec, 5 * sec, 3600 * sec}

func insert(t *testing.T, tb *Table, i uint32, now int64, class uint8) (uint32, Key) {
	t.Helper()
	k := tcpKey(0x0a0a0a00+i, uint16(1024+i), 0xac160101, 25)
	r := k.Reverse()
	idx, st := tb.Insert(&k, &r, now, class)
	if st != OK {
		t.Fatalf("Insert %d: %v", i, st)
	}
	return idx, k
}

func TestExpireExactlyAtTimeout(t *testing.T) {
	tb := New(8, seedTimeouts, 1)
	idx, k := insert(t, tb, 1, 1000, synwait)
	out := tb.Expire(1000+30*sec-1, 100, nil)
	if len(out) != 0 || !tb.Live(idx) {
		t.Fatalf("expired 1 ns early: %v", out)
	}
	out = tb.Expire(1000+30*sec, 100, nil)
	if !slices.Equal(out, []uint32{idx}) {
		t.Fatalf("Expire at deadline = %v, want [%d]", out, idx)
	}
	if _, _, ok := tb.Lookup(&k); ok || tb.Live(idx) || tb.Len() != 0 || tb.LenClass(synwait) != 0 {
		t.Fatal("expired session still indexed")
	}
	if e := tb.Entry(idx); e.Orig != k || e.LastSeen != 1000 {
		t.Fatal("expired entry not readable for the caller's finalization")
	}
	check(t, tb)
}

func TestTouchPostpones(t *testing.T) {
	tb := New(8, seedTimeouts, 1)
	a, _ := insert(t, tb, 1, 0, synwait)
	b, _ := insert(t, tb, 2, sec, synwait)
	tb.Touch(a, 10*sec)
	// At 30 s, a would have expired without the touch: it moves behind b.
	if out := tb.Expire(30*sec, 100, nil); len(out) != 0 {
		t.Fatalf("Expire(30s) = %v", out)
	}
	if o, _ := tb.Oldest(synwait); o != b {
		t.Fatalf("Oldest = %d, want %d (a moved to the tail)", o, b)
	}
	if out := tb.Expire(31*sec, 100, nil); !slices.Equal(out, []uint32{b}) {
		t.Fatalf("Expire(31s) = %v, want [%d]", out, b)
	}
	if out := tb.Expire(40*sec-1, 100, nil); len(out) != 0 {
		t.Fatalf("touched session expired early: %v", out)
	}
	if out := tb.Expire(40*sec, 100, nil); !slices.Equal(out, []uint32{a}) {
		t.Fatalf("Expire(40s) = %v, want [%d]", out, a)
	}
	check(t, tb)
}

func TestSetClass(t *testing.T) {
	tb := New(8, seedTimeouts, 1)
	idx, _ := insert(t, tb, 1, 0, idle)
	tb.SetClass(idx, finwait, 100*sec) // both FINs seen at 100 s
	if tb.Entry(idx).Class() != finwait || tb.LenClass(idle) != 0 || tb.LenClass(finwait) != 1 {
		t.Fatal("class not changed")
	}
	if out := tb.Expire(105*sec-1, 100, nil); len(out) != 0 {
		t.Fatalf("expired early: %v", out)
	}
	if out := tb.Expire(105*sec, 100, nil); !slices.Equal(out, []uint32{idx}) {
		t.Fatalf("Expire(105s) = %v", out)
	}
	tb.SetClass(idx, idle, 200*sec) // on a freed index: no-op
	if tb.Len() != 0 || tb.LenClass(idle) != 0 {
		t.Fatal("SetClass revived a freed session")
	}
	check(t, tb)
}

func TestExpireBudget(t *testing.T) {
	tb := New(256, seedTimeouts, 1)
	for i := range uint32(100) {
		insert(t, tb, i, 0, synwait)
	}
	out := make([]uint32, 0, 100)
	out = tb.Expire(30*sec, 10, out)
	if len(out) != 10 || tb.Len() != 90 {
		t.Fatalf("budget 10 expired %d, Len %d", len(out), tb.Len())
	}
	// Touched heads count against the budget too.
	for i := range uint32(100) {
		idx := uint32(i + 1)
		if tb.Live(idx) {
			tb.Touch(idx, 20*sec)
		}
	}
	out = tb.Expire(30*sec, 7, out[:0])
	if len(out) != 0 || tb.Len() != 90 {
		t.Fatalf("moves: expired %d, Len %d", len(out), tb.Len())
	}
	for n := 0; tb.Len() > 0; n++ {
		if n > 100 {
			t.Fatal("Expire does not make progress")
		}
		out = tb.Expire(50*sec, 10, out[:0])
		if len(out) > 10 {
			t.Fatalf("budget exceeded: %d", len(out))
		}
	}
	check(t, tb)
}

func TestExpireRoundRobin(t *testing.T) {
	tb := New(16, []int64{sec, sec}, 1)
	for i := range uint32(4) {
		insert(t, tb, i, 0, uint8(i%2))
	}
	var classes []uint8
	for range 4 {
		out := tb.Expire(sec, 1, nil)
		if len(out) != 1 {
			t.Fatalf("Expire = %v", out)
		}
		classes = append(classes, uint8((tb.Entry(out[0]).Orig.Src-0x0a0a0a00)%2))
	}
	if !slices.Equal(classes, []uint8{0, 1, 0, 1}) {
		t.Fatalf("classes served %v, want alternating", classes)
	}
}

func TestOldestNewerForEach(t *testing.T) {
	tb := New(16, seedTimeouts, 1)
	var half []uint32
	for i := range uint32(5) {
		idx, _ := insert(t, tb, i, int64(i), synwait)
		half = append(half, idx)
	}
	est, _ := insert(t, tb, 10, 0, idle)
	tb.Delete(half[2])
	var walk []uint32
	for idx, ok := tb.Oldest(synwait); ok; idx, ok = tb.Newer(idx) {
		walk = append(walk, idx)
	}
	want := []uint32{half[0], half[1], half[3], half[4]}
	if !slices.Equal(walk, want) {
		t.Fatalf("walk = %v, want %v", walk, want)
	}
	if _, ok := tb.Oldest(finwait); ok {
		t.Fatal("Oldest of an empty class")
	}
	if _, ok := tb.Oldest(200); ok {
		t.Fatal("Oldest of an unknown class")
	}
	var seen []uint32
	tb.ForEach(func(idx uint32, e *Entry) bool {
		if !tb.Live(idx) {
			t.Fatalf("ForEach visited free %d", idx)
		}
		seen = append(seen, idx)
		return true
	})
	if !slices.Equal(seen, append(want, est)) {
		t.Fatalf("ForEach = %v", seen)
	}
	n := 0
	tb.ForEach(func(uint32, *Entry) bool { n++; return n < 2 })
	if n != 2 {
		t.Fatalf("ForEach did not stop: %d", n)
	}
}

// modelSession is the reference model's view of a session.
type modelSession struct {
	orig, reply Key
	lastSeen    int64
	class       uint8
	exact       bool // untouched since Insert/SetClass: must expire exactly on time
}

// TestModel drives the table and a map-based model with random operation
// sequences under virtual time and compares them after every step.
func TestModel(t *testing.T) {
	timeouts := []int64{10 * sec, 30 * sec, 3 * sec}
	const maxStep = 2 * sec
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 99))
		capacity := 1 + r.IntN(64)
		tb := New(capacity, timeouts, seed)
		model := map[uint32]*modelSession{}
		byKey := map[Key]uint32{}
		now := int64(0)
		var out []uint32
		randKey := func() Key {
			return Key{Src: uint32(r.IntN(6)), Dst: uint32(r.IntN(3)), SrcPort: uint16(r.IntN(4)),
				DstPort: 25, Proto: uint8(6 + 11*r.IntN(2))}
		}
		liveIdx := func() (uint32, bool) {
			for idx := range model { // map order is random enough
				return idx, true
			}
			return 0, false
		}
		for step := range 3000 {
			switch op := r.IntN(10); {
			case op < 4: // insert
				orig := randKey()
				reply := orig.Reverse()
				if r.IntN(3) == 0 {
					reply.Dst ^= 0x100 // NAT translated
				}
				if r.IntN(50) == 0 {
					reply = orig
				}
				class := uint8(r.IntN(len(timeouts)))
				idx, st := tb.Insert(&orig, &reply, now, class)
				oi, oex := byKey[orig]
				ri, rex := byKey[reply]
				switch {
				case len(model) == capacity:
					if st != Full {
						t.Fatalf("seed %d step %d: want Full, got %v", seed, step, st)
					}
				case oex || rex:
					if st != Exists || (idx != oi && idx != ri) {
						t.Fatalf("seed %d step %d: want Exists, got %d %v", seed, step, idx, st)
					}
				default:
					if st != OK {
						t.Fatalf("seed %d step %d: want OK, got %v", seed, step, st)
					}
					if _, dup := model[idx]; dup {
						t.Fatalf("index %d handed out twice", idx)
					}
					model[idx] = &modelSession{orig: orig, reply: reply, lastSeen: now, class: class, exact: true}
					byKey[orig] = idx
					byKey[reply] = idx
				}
			case op < 5: // delete
				if idx, ok := liveIdx(); ok {
					tb.Delete(idx)
					m := model[idx]
					delete(byKey, m.orig)
					delete(byKey, m.reply)
					delete(model, idx)
				}
			case op < 7: // touch
				if idx, ok := liveIdx(); ok {
					tb.Touch(idx, now)
					if now > model[idx].lastSeen {
						model[idx].exact = false
					}
					model[idx].lastSeen = now
				}
			case op < 8: // set class
				if idx, ok := liveIdx(); ok {
					c := uint8(r.IntN(len(timeouts)))
					tb.SetClass(idx, c, now)
					m := model[idx]
					m.class, m.lastSeen, m.exact = c, now, true
				}
			default: // time passes, expire
				now += r.Int64N(maxStep)
				out = tb.Expire(now, 1<<30, out[:0])
				for _, idx := range out {
					m, ok := model[idx]
					if !ok {
						t.Fatalf("seed %d: expired unknown index %d", seed, idx)
					}
					if m.lastSeen+timeouts[m.class] > now {
						t.Fatalf("seed %d: %d expired early: lastSeen %d class %d now %d", seed, idx, m.lastSeen, m.class, now)
					}
					delete(byKey, m.orig)
					delete(byKey, m.reply)
					delete(model, idx)
				}
				for idx, m := range model {
					deadline := m.lastSeen + timeouts[m.class]
					if m.exact && deadline <= now {
						t.Fatalf("seed %d: untouched %d not expired at deadline %d (now %d)", seed, idx, deadline, now)
					}
					if deadline+timeouts[m.class]+maxStep <= now {
						t.Fatalf("seed %d: %d more than one timeout late", seed, idx)
					}
				}
			}
			if tb.Len() != len(model) {
				t.Fatalf("seed %d step %d: Len %d, model %d", seed, step, tb.Len(), len(model))
			}
			for k, idx := range byKey {
				got, dir, ok := tb.Lookup(&k)
				m := model[idx]
				wantDir := uint8(0)
				if k != m.orig {
					wantDir = 1
				}
				if !ok || got != idx || dir != wantDir {
					t.Fatalf("seed %d step %d: Lookup = %d %d %v, want %d %d", seed, step, got, dir, ok, idx, wantDir)
				}
			}
			for range 3 {
				k := randKey()
				if _, _, ok := tb.Lookup(&k); ok != (byKey[k] != 0) {
					t.Fatalf("seed %d step %d: Lookup(%v) = %v", seed, step, k, ok)
				}
			}
			if step%50 == 0 {
				check(t, tb)
			}
		}
		check(t, tb)
	}
}
