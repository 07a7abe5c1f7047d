package xsk

// Ring logic against in-memory rings: the test plays the kernel's side of
// each ring (consumer of fill/tx, producer of rx/completion). Needs no root.

import (
	"sync/atomic"
	"testing"
)

// fakeIdx is the shared part of a ring: the two indices and the flags word.
type fakeIdx struct{ prod, cons, flags uint32 }

// fakeSocket is a Socket whose rings live in Go memory.
type fakeSocket struct {
	s                  *Socket
	fill, comp, rx, tx *fakeIdx
	fillQ, compQ       []uint64
	rxQ, txQ           []Desc
}

func newFakeSocket(size uint32) *fakeSocket {
	f := &fakeSocket{fill: &fakeIdx{}, comp: &fakeIdx{}, rx: &fakeIdx{}, tx: &fakeIdx{},
		fillQ: make([]uint64, size), compQ: make([]uint64, size),
		rxQ: make([]Desc, size), txQ: make([]Desc, size)}
	s := &Socket{fd: -1, needWakeup: true}
	set := func(r *ring, x *fakeIdx) {
		r.producer, r.consumer, r.flags = &x.prod, &x.cons, &x.flags
		r.size, r.mask = size, size-1
	}
	set(&s.fill.ring, f.fill)
	set(&s.comp.ring, f.comp)
	set(&s.rx.ring, f.rx)
	set(&s.tx.ring, f.tx)
	s.fill.addrs, s.comp.addrs, s.rx.descs, s.tx.descs = f.fillQ, f.compQ, f.rxQ, f.txQ
	f.s = s
	return f
}

// kernelTake consumes up to n entries from a producer ring (fill/tx).
func kernelTakeAddrs(x *fakeIdx, q []uint64, n int) []uint64 {
	var out []uint64
	for i := 0; i < n && x.cons != atomic.LoadUint32(&x.prod); i++ {
		out = append(out, q[x.cons&uint32(len(q)-1)])
		x.cons++
	}
	return out
}

func kernelTakeDescs(x *fakeIdx, q []Desc, n int) []Desc {
	var out []Desc
	for i := 0; i < n && x.cons != atomic.LoadUint32(&x.prod); i++ {
		out = append(out, q[x.cons&uint32(len(q)-1)])
		x.cons++
	}
	return out
}

// kernelPut produces entries on a consumer ring (rx/completion).
func kernelPutDescs(x *fakeIdx, q []Desc, ds ...Desc) int {
	n := 0
	for _, d := range ds {
		if x.prod-atomic.LoadUint32(&x.cons) == uint32(len(q)) {
			break
		}
		q[x.prod&uint32(len(q)-1)] = d
		x.prod++
		n++
	}
	return n
}

func kernelPutAddrs(x *fakeIdx, q []uint64, as ...uint64) int {
	n := 0
	for _, a := range as {
		if x.prod-atomic.LoadUint32(&x.cons) == uint32(len(q)) {
			break
		}
		q[x.prod&uint32(len(q)-1)] = a
		x.prod++
		n++
	}
	return n
}

func TestFillWrapsAndStopsWhenFull(t *testing.T) {
	f := newFakeSocket(8)
	addrs := []uint64{0, 2048, 4096, 6144, 8192, 10240, 12288, 14336, 16384, 18432}
	if n := f.s.Fill(addrs[:5]); n != 5 {
		t.Fatalf("Fill 5 into empty ring of 8 = %d", n)
	}
	if n := f.s.Fill(addrs[5:]); n != 3 {
		t.Fatalf("Fill 5 into ring with 3 free = %d, want 3", n)
	}
	if got := kernelTakeAddrs(f.fill, f.fillQ, 6); len(got) != 6 || got[0] != 0 || got[5] != 10240 {
		t.Fatalf("kernel took %v", got)
	}
	// Six free again; the producer must reload the consumer index to see it.
	if n := f.s.Fill(addrs[8:]); n != 2 {
		t.Fatalf("Fill after kernel consumed = %d, want 2", n)
	}
	got := kernelTakeAddrs(f.fill, f.fillQ, 100)
	want := []uint64{12288, 14336, 16384, 18432}
	if len(got) != len(want) {
		t.Fatalf("kernel took %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("entry %d = %d, want %d (order across wrap)", i, got[i], want[i])
		}
	}
	if f.fill.prod != 10 {
		t.Fatalf("producer index = %d, want 10", f.fill.prod)
	}
}

func TestReceiveAppendsWithinCapacity(t *testing.T) {
	f := newFakeSocket(4)
	out := make([]Desc, 1, 3)
	out[0] = Desc{Addr: 999}
	if got := f.s.Receive(out); len(got) != 1 {
		t.Fatalf("Receive on empty ring returned %d descs", len(got))
	}
	kernelPutDescs(f.rx, f.rxQ, Desc{Addr: 256, Len: 60}, Desc{Addr: 2304, Len: 1514}, Desc{Addr: 4352, Len: 42})
	got := f.s.Receive(out)
	if len(got) != 3 || got[0].Addr != 999 || got[1].Addr != 256 || got[2].Len != 1514 {
		t.Fatalf("Receive = %+v", got)
	}
	if f.rx.cons != 2 {
		t.Fatalf("consumer index = %d, want 2 (third entry stays)", f.rx.cons)
	}
	got = f.s.Receive(make([]Desc, 0, 8))
	if len(got) != 1 || got[0].Addr != 4352 {
		t.Fatalf("second Receive = %+v", got)
	}
	// Wrap: indices past the ring size.
	for round := 0; round < 10; round++ {
		kernelPutDescs(f.rx, f.rxQ, Desc{Addr: uint64(round)}, Desc{Addr: uint64(round) + 100})
		got = f.s.Receive(got[:0])
		if len(got) != 2 || got[0].Addr != uint64(round) || got[1].Addr != uint64(round)+100 {
			t.Fatalf("round %d: %+v", round, got)
		}
	}
}

func TestTransmitCompleteAndKick(t *testing.T) {
	f := newFakeSocket(4)
	descs := []Desc{{Addr: 1}, {Addr: 2}, {Addr: 3}, {Addr: 4}, {Addr: 5}}
	if n := f.s.Transmit(descs); n != 4 {
		t.Fatalf("Transmit 5 into ring of 4 = %d", n)
	}
	if c := f.s.Counters(); c.TxKicks != 0 {
		t.Fatalf("kicked %d times without need_wakeup", c.TxKicks)
	}
	sent := kernelTakeDescs(f.tx, f.txQ, 2)
	kernelPutAddrs(f.comp, f.compQ, sent[0].Addr, sent[1].Addr)
	comp := f.s.Complete(make([]uint64, 0, 8))
	if len(comp) != 2 || comp[0] != 1 || comp[1] != 2 {
		t.Fatalf("Complete = %v", comp)
	}
	// The kernel asks for a wakeup: one kick per Transmit with work.
	atomic.StoreUint32(&f.tx.flags, ringNeedWakeup)
	if n := f.s.Transmit(descs[4:]); n != 1 {
		t.Fatalf("Transmit into 2 free = %d", n)
	}
	if c := f.s.Counters(); c.TxKicks != 1 || c.TxKickErrors != 1 {
		t.Fatalf("counters after kick on fd -1: %+v (want 1 kick, failed EBADF)", c)
	}
	// Transmit(nil) flushes what is still queued.
	f.s.Transmit(nil)
	if c := f.s.Counters(); c.TxKicks != 2 {
		t.Fatalf("Transmit(nil) with queued descs did not kick: %+v", c)
	}
	kernelTakeDescs(f.tx, f.txQ, 100)
	f.s.Transmit(nil)
	if c := f.s.Counters(); c.TxKicks != 2 {
		t.Fatalf("Transmit(nil) on drained ring kicked: %+v", c)
	}
}

func TestReadyAndPollShortCircuit(t *testing.T) {
	f := newFakeSocket(4)
	if f.s.ready() {
		t.Fatal("empty socket ready")
	}
	kernelPutAddrs(f.comp, f.compQ, 7)
	if !f.s.ready() {
		t.Fatal("completion pending but not ready")
	}
	// Poll must return without touching fd -1.
	if err := f.s.Poll(1000); err != nil {
		t.Fatalf("Poll with completions pending: %v", err)
	}
}

// TestPerPacketNoAllocs proves the batch path allocates nothing.
func TestPerPacketNoAllocs(t *testing.T) {
	f := newFakeSocket(64)
	rx := make([]Desc, 0, 32)
	comp := make([]uint64, 0, 32)
	addrs := make([]uint64, 32)
	in := make([]Desc, 32)
	for i := range in {
		in[i] = Desc{Addr: uint64(i) * 2048, Len: 60}
		addrs[i] = uint64(i) * 2048
	}
	allocs := testing.AllocsPerRun(200, func() {
		f.s.Fill(addrs)
		kernelRoundTrip(f, 32)
		rx = f.s.Receive(rx[:0])
		f.s.Transmit(rx)
		comp = f.s.Complete(comp[:0])
	})
	if allocs != 0 {
		t.Fatalf("allocs per batch = %v, want 0", allocs)
	}
}

// kernelRoundTrip moves n fill entries to rx and n tx entries to
// completion without allocating.
func kernelRoundTrip(f *fakeSocket, n int) {
	for i := 0; i < n && f.fill.cons != f.fill.prod; i++ {
		a := f.fillQ[f.fill.cons&uint32(len(f.fillQ)-1)]
		f.fill.cons++
		f.rxQ[f.rx.prod&uint32(len(f.rxQ)-1)] = Desc{Addr: a + 256, Len: 60}
		f.rx.prod++
	}
	for i := 0; i < n && f.tx.cons != f.tx.prod; i++ {
		d := f.txQ[f.tx.cons&uint32(len(f.txQ)-1)]
		f.tx.cons++
		f.compQ[f.comp.prod&uint32(len(f.compQ)-1)] = d.Addr
		f.comp.prod++
	}
}

func BenchmarkRingBatch(b *testing.B) {
	f := newFakeSocket(256)
	rx := make([]Desc, 0, 64)
	comp := make([]uint64, 0, 64)
	addrs := make([]uint64, 64)
	for i := range addrs {
		addrs[i] = uint64(i) * 2048
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f.s.Fill(addrs)
		kernelRoundTrip(f, 64)
		rx = f.s.Receive(rx[:0])
		f.s.Transmit(rx)
		comp = f.s.Complete(comp[:0])
	}
	b.ReportMetric(float64(b.N)*64/b.Elapsed().Seconds(), "frames/s")
}

func TestNewUMEMValidates(t *testing.T) {
	for _, c := range []struct {
		name          string
		frames, fsize int
		ok            bool
	}{
		{"2k", 16, 2048, true},
		{"4k", 16, 4096, true},
		{"odd size", 16, 3000, false},
		{"1k", 16, 1024, false},
		{"no frames", 0, 2048, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			u, err := NewUMEM(c.frames, c.fsize)
			if (err == nil) != c.ok {
				t.Fatalf("NewUMEM(%d, %d) err = %v", c.frames, c.fsize, err)
			}
			if err != nil {
				return
			}
			if len(u.Bytes()) != c.frames*c.fsize || u.FrameAddr(3) != uint64(3*c.fsize) ||
				u.FrameStart(u.FrameAddr(3)+256) != u.FrameAddr(3) {
				t.Fatalf("umem geometry wrong: len %d", len(u.Bytes()))
			}
			fr := u.Frame(Desc{Addr: u.FrameAddr(1) + 256, Len: 60})
			if len(fr) != 60 || cap(fr) != 60 {
				t.Fatalf("Frame len/cap = %d/%d", len(fr), cap(fr))
			}
			if err := u.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
