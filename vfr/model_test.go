package vfr

import (
	"math/rand/v2"
	"slices"
	"testing"

	"cbac/packet"
)

// model is the reference: docs/behaviour.md "Virtual reassembly" written the plain way, a map of
// datagrams holding fragment lists in arrival order, searched linearly.
type model struct {
	maxD, maxF int
	timeout    int64
	dgs        map[Key]*modelDatagram
	seq        int
}

type modelDatagram struct {
	poisoned bool
	deadline int64
	seq      int // when created (live) or poisoned
	frags    []Frag
}

func newModel(maxD, maxF int, timeout int64) *model {
	return &model{maxD: maxD, maxF: maxF, timeout: timeout, dgs: map[Key]*modelDatagram{}}
}

func byOffset(fs []Frag) []Frag {
	fs = slices.Clone(fs)
	slices.SortFunc(fs, func(a, b Frag) int { return int(a.Offset) - int(b.Offset) })
	return fs
}

func headerLen(f Frag) int { return max(20, int(f.HdrLen)) }

func (m *model) add(now int64, k Key, f Frag, l4 []byte) (Status, []Frag) {
	end := f.End()
	bad := Held
	switch {
	case f.Len == 0, f.More && f.Len%8 != 0:
		bad = DropMalformed
	case k.Proto == packet.ProtoTCP && f.Offset == 8:
		bad = DropOffset8
	case f.Offset == 0 && k.Proto == packet.ProtoTCP && (len(l4) < 20 || len(l4) < int(l4[12]>>4)*4):
		bad = DropTiny
	case f.Offset == 0 && (k.Proto == packet.ProtoUDP || k.Proto == packet.ProtoICMP) && len(l4) < 8:
		bad = DropTiny
	case f.Offset == 0 && end+headerLen(f) > 65535, end+20 > 65535:
		bad = DropTooLarge
	}
	d := m.dgs[k]
	if d != nil && d.deadline <= now {
		delete(m.dgs, k)
		if !d.poisoned {
			return DropTimeout, byOffset(d.frags)
		}
		d = nil
	}
	if d != nil && d.poisoned {
		return DropPoisoned, nil
	}
	if bad != Held {
		return m.dropWhole(now, k, d, bad)
	}
	if d == nil {
		if d = m.create(now, k); d == nil {
			return DropTableFull, nil
		}
	}
	last, maxEnd, hdr, sum := -1, end, headerLen(f), int(f.Len)
	if f.Offset != 0 {
		hdr = 20
	}
	for _, h := range d.frags {
		if h.Offset == f.Offset && h.Len == f.Len && h.More == f.More {
			return DropDuplicate, nil
		}
	}
	for _, h := range d.frags {
		if int(h.Offset) < end && int(f.Offset) < h.End() {
			return m.dropWhole(now, k, d, DropOverlap)
		}
	}
	for _, h := range d.frags {
		if !h.More {
			last = h.End()
		}
		if h.Offset == 0 {
			hdr = headerLen(h)
		}
		maxEnd = max(maxEnd, h.End())
		sum += int(h.Len)
	}
	if !f.More && (last >= 0 || maxEnd > end) || f.More && last >= 0 && end > last {
		return m.dropWhole(now, k, d, DropMalformed)
	}
	if maxEnd+hdr > 65535 {
		return m.dropWhole(now, k, d, DropTooLarge)
	}
	if len(d.frags) == m.maxF {
		return m.dropWhole(now, k, d, DropTooMany)
	}
	d.frags = append(d.frags, f)
	if !f.More {
		last = end
	}
	if last >= 0 && sum == last {
		delete(m.dgs, k)
		return Complete, byOffset(d.frags)
	}
	return Held, nil
}

// create admits a live datagram, forgetting the oldest poisoned key if the
// table is full; nil if it is full of live ones.
func (m *model) create(now int64, k Key) *modelDatagram {
	if len(m.dgs) == m.maxD {
		var oldest *Key
		for ok, d := range m.dgs {
			if d.poisoned && (oldest == nil || d.seq < m.dgs[*oldest].seq) {
				oldest = &ok
			}
		}
		if oldest == nil {
			return nil
		}
		delete(m.dgs, *oldest)
	}
	m.seq++
	d := &modelDatagram{deadline: now + m.timeout, seq: m.seq}
	m.dgs[k] = d
	return d
}

func (m *model) dropWhole(now int64, k Key, d *modelDatagram, s Status) (Status, []Frag) {
	if d == nil {
		if d = m.create(now, k); d == nil {
			return s, nil
		}
	}
	held := byOffset(d.frags)
	m.seq++
	*d = modelDatagram{poisoned: true, deadline: now + m.timeout, seq: m.seq}
	return s, held
}

// expire returns the fragments of the timed-out datagrams, oldest datagram
// first (the order for a monotonic clock).
func (m *model) expire(now int64) []Frag {
	var gone []*modelDatagram
	for k, d := range m.dgs {
		if d.deadline <= now {
			delete(m.dgs, k)
			if !d.poisoned {
				gone = append(gone, d)
			}
		}
	}
	slices.SortFunc(gone, func(a, b *modelDatagram) int { return a.seq - b.seq })
	var out []Frag
	for _, d := range gone {
		out = append(out, byOffset(d.frags)...)
	}
	return out
}

func (m *model) counts() (live, poisoned, held int) {
	for _, d := range m.dgs {
		if d.poisoned {
			poisoned++
		} else {
			live++
			held += len(d.frags)
		}
	}
	return
}

// event is one input: a fragment to Add or, with expire set, an Expire.
type event struct {
	at     int64
	expire bool
	k      Key
	f      Frag
	l4     []byte
}

// genStream fragments random datagrams, some of them mangled (duplicates,
// overlaps, tiny first fragments, offset-8 fragments, lost fragments,
// oversize), shuffles and interleaves them, advancing a monotonic clock.
func genStream(r *rand.Rand, ndatagrams int, mangle bool) []event {
	var perDg [][]event
	var handle uint64
	ids := uint16(4 + r.IntN(60))
	protos := []uint8{packet.ProtoTCP, packet.ProtoUDP, packet.ProtoICMP, 47}
	for range ndatagrams {
		k := Key{Src: 0x0a000000 | uint32(r.IntN(2)), Dst: 0xac160001, ID: uint16(r.IntN(int(ids))), Proto: protos[r.IntN(len(protos))]}
		size := 9 + r.IntN(4000)
		if r.IntN(20) == 0 {
			size = 65400 + r.IntN(200)
		}
		hdr := uint8(20)
		if r.IntN(10) == 0 {
			hdr = 24
		}
		var fs []Frag
		for off := 0; off < size; {
			n := 8 * (1 + r.IntN(185))
			if off == 0 {
				n = max(n, 64) // a whole transport header
			}
			if off+n >= size {
				n = size - off
			}
			handle++
			fs = append(fs, Frag{Handle: handle, Aux: uint32(handle), Offset: uint16(off), Len: uint16(n), More: off+n < size, HdrLen: hdr})
			off += n
		}
		if mangle {
			switch r.IntN(12) {
			case 0: // duplicate
				d := fs[r.IntN(len(fs))]
				handle++
				d.Handle, d.Aux = handle, uint32(handle)
				fs = append(fs, d)
			case 1: // overlap
				o := fs[r.IntN(len(fs))]
				handle++
				fs = append(fs, Frag{Handle: handle, Aux: uint32(handle), Offset: o.Offset &^ 7, Len: o.Len + 8, More: true})
			case 2: // tiny first fragment
				fs[0].Len = 8
			case 3: // offset 8
				handle++
				fs = append(fs, Frag{Handle: handle, Aux: uint32(handle), Offset: 8, Len: 16, More: true})
			case 4: // lost fragment
				if len(fs) > 1 {
					i := r.IntN(len(fs))
					fs = slices.Delete(fs, i, i+1)
				}
			case 5: // unaligned
				fs[0].Len -= 3
			}
		}
		r.Shuffle(len(fs), func(i, j int) {
			if r.IntN(3) == 0 {
				fs[i], fs[j] = fs[j], fs[i]
			}
		})
		var evs []event
		for _, f := range fs {
			var l4 []byte
			if f.Offset == 0 {
				l4 = tcpHeader(int(f.Len), 5)
				if r.IntN(30) == 0 {
					l4 = tcpHeader(int(f.Len), 15) // needs 60 bytes
				}
			}
			evs = append(evs, event{k: k, f: f, l4: l4})
		}
		perDg = append(perDg, evs)
	}
	// Interleave: a few datagrams in flight at a time.
	var out []event
	var now int64
	for len(perDg) > 0 {
		i := r.IntN(min(len(perDg), 6))
		out = append(out, perDg[i][0])
		perDg[i] = perDg[i][1:]
		if len(perDg[i]) == 0 {
			perDg = slices.Delete(perDg, i, i+1)
		}
		now += int64(r.IntN(1 << r.IntN(31)))
		out[len(out)-1].at = now
		if r.IntN(8) == 0 {
			out = append(out, event{at: now, expire: true})
		}
	}
	return out
}

// run feeds events to a table and the model in lockstep; it fails at the
// first difference in status or fragments handed back, checks that no
// handle leaks or comes back twice, and returns the table.
func run(t testing.TB, maxD, maxF int, evs []event) *Table {
	timeout := 3 * sec
	tb := New(maxD, maxF, timeout, 0x5eed)
	m := newModel(maxD, maxF, timeout)
	given := map[uint64]bool{}
	back := map[uint64]bool{}
	giveBack := func(fs []Frag, why string) {
		for _, f := range fs {
			if !given[f.Handle] || back[f.Handle] {
				t.Fatalf("%s: handle %d handed back unexpectedly (given %v, back %v)", why, f.Handle, given[f.Handle], back[f.Handle])
			}
			back[f.Handle] = true
		}
	}
	out := make([]Frag, 0, 2*maxF)
	for i, e := range evs {
		out = out[:0]
		if e.expire {
			// Expire is bounded by cap(out): call it until it is done.
			for {
				o := tb.Expire(e.at, make([]Frag, 0, 2*maxF))
				if len(o) == 0 {
					break
				}
				if len(o) > 2*maxF {
					t.Fatalf("event %d: Expire overran out: %d fragments", i, len(o))
				}
				out = append(out, o...)
			}
			want := m.expire(e.at)
			if !slices.Equal(out, want) {
				t.Fatalf("event %d: Expire(%d) = %v, model %v", i, e.at, handles(out), handles(want))
			}
			giveBack(out, "expire")
		} else {
			if given[e.f.Handle] {
				t.Fatalf("event %d: test reuses handle %d", i, e.f.Handle)
			}
			given[e.f.Handle] = true
			var st Status
			st, out = tb.Add(e.at, e.k, e.f, e.l4, out)
			wst, want := m.add(e.at, e.k, e.f, e.l4)
			if st != wst || !slices.Equal(out, want) {
				t.Fatalf("event %d: Add(%d, %+v, %+v) = %v %v, model %v %v", i, e.at, e.k, e.f, st, handles(out), wst, handles(want))
			}
			if st == Complete {
				checkDatagram(t, out)
			}
			if st.Dropped() {
				giveBack([]Frag{e.f}, "dropped")
			}
			giveBack(out, st.String())
		}
		live, poisoned, held := m.counts()
		if tb.Len() != live || tb.Poisoned() != poisoned || tb.Held() != held {
			t.Fatalf("event %d: table Len %d Poisoned %d Held %d, model %d %d %d", i, tb.Len(), tb.Poisoned(), tb.Held(), live, poisoned, held)
		}
		if live+poisoned > maxD || held > maxD*maxF {
			t.Fatalf("event %d: table over its bounds", i)
		}
	}
	giveBack(tb.Flush(nil), "flush")
	for h := range given {
		if !back[h] {
			t.Fatalf("handle %d leaked", h)
		}
	}
	return tb
}

// TestModel runs random mangled streams against the model, with tables
// small enough to overflow.
func TestModel(t *testing.T) {
	var seen Stats
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 1))
		evs := genStream(r, 1+r.IntN(60), true)
		maxD := 1 + r.IntN(16)
		maxF := 1 + r.IntN(MaxFragments)
		st := run(t, maxD, maxF, evs).Stats()
		for s, n := range st.Fragments {
			seen.Fragments[s] += n
		}
		seen.TimedOut += st.TimedOut
		seen.PoisonEvicted += st.PoisonEvicted
	}
	// The streams reach every rule.
	for s, n := range seen.Fragments {
		if n == 0 {
			t.Errorf("no fragment came out %v", Status(s))
		}
	}
	if seen.TimedOut == 0 || seen.PoisonEvicted == 0 {
		t.Errorf("TimedOut %d PoisonEvicted %d", seen.TimedOut, seen.PoisonEvicted)
	}
	t.Logf("%+v", seen)
}

// TestCleanStreams: well-formed datagrams, fragmented at random, arriving
// shuffled and interleaved within the timeout, each come out exactly once,
// whole and in offset order.
func TestCleanStreams(t *testing.T) {
	for seed := range uint64(100) {
		r := rand.New(rand.NewPCG(seed, 2))
		tb := New(MaxDatagrams, MaxFragments, 3*sec, seed)
		var evs []event
		var handle uint64
		wantDg := map[uint64][]uint64{} // first handle -> handles in offset order
		for d := range 200 {
			k := Key{Src: 0x0a000001, Dst: 0xac160164, ID: uint16(d), Proto: packet.ProtoUDP}
			size := 1 + r.IntN(8000)
			var fs []event
			var hs []uint64
			for off := 0; off < size; {
				n := min(8*(1+r.IntN(64)), size-off)
				if off == 0 {
					n = min(max(n, 8), size)
				}
				handle++
				hs = append(hs, handle)
				fs = append(fs, event{k: k, f: Frag{Handle: handle, Offset: uint16(off), Len: uint16(n), More: off+n < size}, l4: make([]byte, n)})
				off += n
			}
			if len(fs) == 1 {
				continue // not a fragmented datagram
			}
			wantDg[hs[0]] = hs
			r.Shuffle(len(fs), func(i, j int) { fs[i], fs[j] = fs[j], fs[i] })
			evs = append(evs, fs...)
		}
		r.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
		out := make([]Frag, 0, MaxFragments)
		got := 0
		for i, e := range evs {
			var st Status
			st, out = tb.Add(int64(i), e.k, e.f, e.l4, out[:0])
			switch st {
			case Held:
			case Complete:
				checkDatagram(t, out)
				want, ok := wantDg[out[0].Handle]
				if !ok || !slices.Equal(handles(out), want) {
					t.Fatalf("seed %d: completed %v, want %v", seed, handles(out), want)
				}
				delete(wantDg, out[0].Handle)
				got++
			default:
				t.Fatalf("seed %d: clean fragment %+v: %v", seed, e.f, st)
			}
		}
		if len(wantDg) != 0 || tb.Len() != 0 || tb.Held() != 0 {
			t.Fatalf("seed %d: %d datagrams never completed, Len %d Held %d", seed, len(wantDg), tb.Len(), tb.Held())
		}
	}
}
