package flowtable

import (
	"math/rand/v2"
	"runtime"
	"testing"
)

// benchKeys returns n distinct sessions: orig from an inside host, reply as
// it arrives on the outside addressed to the inside global (static NAT).
func benchKeys(n int) (orig, reply []Key) {
	orig = make([]Key, n)
	reply = make([]Key, n)
	for i := range n {
		o := Key{Src: 0x0a000000 | uint32(i>>12), Dst: 0xc0000000 | uint32(i&0xfff), SrcPort: uint16(1024 + i%50000), DstPort: 443, Proto: 6}
		r := o.Reverse()
		r.Dst = 0xac160000 | o.Src&0xffff
		orig[i], reply[i] = o, r
	}
	return orig, reply
}

func TestZeroAllocs(t *testing.T) {
	tb := New(1024, seedTimeouts, 42)
	orig, reply := benchKeys(1024)
	for i := range 512 {
		tb.Insert(&orig[i], &reply[i], 0, idle)
	}
	out := make([]uint32, 0, 64)
	now := int64(0)
	i := 512
	cases := []struct {
		name string
		fn   func()
	}{
		{"Lookup", func() { tb.Lookup(&reply[100]) }},
		{"LookupMiss", func() { tb.Lookup(&orig[900]) }},
		{"Match", func() { tb.Match(7, &reply[100]) }},
		{"InsertDelete", func() {
			idx, _ := tb.Insert(&orig[i], &reply[i], now, synwait)
			tb.Delete(idx)
		}},
		{"Touch", func() { now++; tb.Touch(7, now) }},
		{"SetClass", func() { tb.SetClass(8, finwait, now) }},
		{"Expire", func() {
			now += sec
			out = tb.Expire(now, 32, out[:0])
			for _, idx := range out { // keep the table populated
				e := tb.Entry(idx)
				o, r := e.Orig, e.Reply
				tb.Insert(&o, &r, now, idle)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if a := testing.AllocsPerRun(200, tc.fn); a != 0 {
				t.Fatalf("%s: %v allocs/op", tc.name, a)
			}
		})
	}
}

// TestMemoryPerSession reports the Go heap of a preallocated table for 1M
// sessions: 64 B Entry + 4 slots of 8 B (two keys at load 0.5) = 96 B.
func TestMemoryPerSession(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	tb := New(1<<20, seedTimeouts, 1)
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / float64(tb.Capacity())
	t.Logf("heap per session after New(1<<20): %.1f bytes", per)
	if per > 100 {
		t.Fatalf("%.1f bytes per session, want <= 100", per)
	}
	runtime.KeepAlive(tb)
}

var sinkIdx uint32

func fill(b *testing.B, n int) (*Table, []Key, []Key) {
	tb := New(n, seedTimeouts, 0x1234)
	orig, reply := benchKeys(n)
	for i := range n {
		if _, st := tb.Insert(&orig[i], &reply[i], 0, idle); st != OK {
			b.Fatalf("fill %d: %v", i, st)
		}
	}
	return tb, orig, reply
}

// BenchmarkLookupHit1M: 1M sessions (2M keys). "sequential" looks keys up
// in insertion order (entries are then visited in slab order, like the
// locality of real traffic bursts); "random" is a worst case where slot and
// entry are both cache misses.
func BenchmarkLookupHit1M(b *testing.B) {
	const n = 1 << 20
	tb, orig, reply := fill(b, n)
	keys := make([]Key, 0, 2*n)
	for i := range n {
		keys = append(keys, orig[i], reply[i])
	}
	b.Run("sequential", func(b *testing.B) {
		b.ReportAllocs()
		j := 0
		for b.Loop() {
			idx, _, _ := tb.Lookup(&keys[j])
			sinkIdx += idx
			j++
			if j == len(keys) {
				j = 0
			}
		}
	})
	perm := make([]Key, len(keys))
	r := rand.New(rand.NewPCG(1, 1))
	for i, p := range r.Perm(len(keys)) {
		perm[i] = keys[p]
	}
	b.Run("random", func(b *testing.B) {
		b.ReportAllocs()
		j := 0
		for b.Loop() {
			idx, _, _ := tb.Lookup(&perm[j])
			sinkIdx += idx
			j++
			if j == len(perm) {
				j = 0
			}
		}
	})
	b.Run("hot", func(b *testing.B) { // a few busy flows: everything cached
		b.ReportAllocs()
		j := 0
		for b.Loop() {
			idx, _, _ := tb.Lookup(&perm[j&1023])
			sinkIdx += idx
			j++
		}
	})
}

// BenchmarkInsertDeleteChurn: a table holding 512k sessions; each op creates
// a session and deletes the oldest one (new-session rate per core).
func BenchmarkInsertDeleteChurn(b *testing.B) {
	const n = 1 << 20
	tb := New(n, seedTimeouts, 0x1234)
	orig, reply := benchKeys(n)
	for i := range n / 2 {
		tb.Insert(&orig[i], &reply[i], 0, synwait)
	}
	b.ReportAllocs()
	j := n / 2
	for b.Loop() {
		idx, st := tb.Insert(&orig[j], &reply[j], 0, synwait)
		if st != OK {
			b.Fatalf("insert: %v", st)
		}
		old, _ := tb.Oldest(synwait)
		tb.Delete(old)
		sinkIdx += idx
		j++
		if j == n {
			j = 0
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sessions/s")
}

// BenchmarkExpire: 1M idle sessions expiring, budget 256 per call.
func BenchmarkExpire(b *testing.B) {
	const n = 1 << 20
	tb, orig, reply := fill(b, n)
	out := make([]uint32, 0, 256)
	now := 3600 * sec
	b.ReportAllocs()
	expired := 0
	for b.Loop() {
		out = tb.Expire(now, 256, out[:0])
		expired += len(out)
		for _, idx := range out { // refill so the loop never runs dry
			e := tb.Entry(idx)
			o, r := e.Orig, e.Reply
			tb.Insert(&o, &r, now, idle)
		}
		now++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(max(expired, 1)), "ns/expired")
	_, _ = orig, reply
}

// Warm points at the entry of every key present (its home slot holds it:
// the table is sparse), and only at such entries; out[i] is keys[i]'s
// (0 for a missing key and beyond WarmMax). It changes nothing and
// allocates nothing.
func TestWarm(t *testing.T) {
	tb := New(4096, seedTimeouts, 5)
	orig, reply := benchKeys(4096)
	for i := 0; i < 4096; i += 2 {
		tb.Insert(&orig[i], &reply[i], 0, idle)
	}
	keys := make([]Key, 0, WarmMax+10)
	for i := range (WarmMax + 10) / 2 {
		keys = append(keys, orig[i*7%4096], reply[i*13%4096])
	}
	type result struct {
		idx uint32
		dir uint8
		ok  bool
	}
	before := make([]result, len(keys))
	for i := range keys {
		idx, dir, ok := tb.Lookup(&keys[i])
		before[i] = result{idx, dir, ok}
	}
	out := make([]uint32, len(keys)+3)
	for i := range out {
		out[i] = 0xdead // Warm overwrites every out[i] of a key
	}
	tb.Warm(keys, out)
	hits := 0
	for i := range keys {
		idx, dir, ok := tb.Lookup(&keys[i])
		if (result{idx, dir, ok}) != before[i] {
			t.Fatalf("key %d: Lookup %v after Warm, %v before", i, result{idx, dir, ok}, before[i])
		}
		switch {
		case i >= WarmMax:
			if out[i] != 0 {
				t.Errorf("key %d beyond WarmMax: out %d, want 0", i, out[i])
			}
		case ok:
			hits++
			if out[i] != idx {
				t.Errorf("key %d: out %d, Lookup %d", i, out[i], idx)
			}
		case out[i] != 0:
			// A missing key's tag could match another key's (1 in 2^32):
			// not with these keys.
			t.Errorf("key %d is missing: out %d, want 0", i, out[i])
		}
	}
	if hits == 0 || hits == WarmMax {
		t.Fatalf("hits %d of %d: want a mix", hits, WarmMax)
	}
	for i := len(keys); i < len(out); i++ {
		if out[i] != 0xdead {
			t.Fatalf("out[%d] beyond the keys written: %d", i, out[i])
		}
	}
	check(t, tb)
	if a := testing.AllocsPerRun(100, func() { tb.Warm(keys, out) }); a != 0 {
		t.Fatalf("Warm: %v allocs", a)
	}
}

// BenchmarkWarmLookup1M: random order, batches of 32 keys warmed then
// looked up, in two ways: "lookup" runs Lookup on each key after Warm,
// "match" confirms Warm's hint with Match (Lookup when it fails), as the
// dataplane does. ns/key per key. Compare with BenchmarkLookupHit1M/random.
func BenchmarkWarmLookup1M(b *testing.B) {
	const n = 1 << 20
	tb, orig, reply := fill(b, n)
	keys := make([]Key, 0, 2*n)
	r := rand.New(rand.NewPCG(1, 1))
	for _, p := range r.Perm(n) {
		keys = append(keys, orig[p], reply[p])
	}
	out := make([]uint32, 32)
	for _, match := range []bool{false, true} {
		name := "lookup"
		if match {
			name = "match"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			j := 0
			for b.Loop() {
				if j+32 > len(keys) {
					j = 0
				}
				batch := keys[j : j+32]
				tb.Warm(batch, out)
				for i := range batch {
					if match {
						if _, ok := tb.Match(out[i], &batch[i]); ok {
							sinkIdx += out[i]
							continue
						}
					}
					idx, _, _ := tb.Lookup(&batch[i])
					sinkIdx += idx
				}
				j += 32
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(32*b.N), "ns/key")
		})
	}
}
