package vfr

import (
	"testing"

	"cbac/packet"
)

// cycle offers one datagram of three fragments out of order, a duplicate
// and an overlapping datagram, and expires an incomplete one.
func cycle(tb *Table, now int64, id uint16, l4 []byte, out []Frag) []Frag {
	k := Key{Src: 0x0a000001, Dst: 0xac160164, ID: id, Proto: packet.ProtoTCP}
	tb.Add(now, k, Frag{Handle: 2, Offset: 1480, Len: 1480, More: true}, nil, out[:0])
	tb.Add(now, k, Frag{Handle: 3, Offset: 2960, Len: 100}, nil, out[:0])
	tb.Add(now, k, Frag{Handle: 3, Offset: 2960, Len: 100}, nil, out[:0])
	_, out = tb.Add(now, k, Frag{Handle: 1, Offset: 0, Len: 1480, More: true}, l4, out[:0])
	k.ID++
	tb.Add(now, k, Frag{Handle: 4, Offset: 0, Len: 1480, More: true}, l4, out[:0])
	tb.Add(now, k, Frag{Handle: 5, Offset: 8, Len: 16, More: true}, nil, out[:0])
	tb.Add(now, k, Frag{Handle: 6, Offset: 16, Len: 16, More: true}, nil, out[:0])
	k.ID++
	tb.Add(now, k, Frag{Handle: 7, Offset: 0, Len: 1480, More: true}, l4, out[:0])
	return tb.Expire(now+3*sec, out[:0])
}

func TestZeroAllocs(t *testing.T) {
	tb := New(16, 32, 3*sec, 1)
	out := make([]Frag, 0, 2*tb.MaxFragments())
	l4 := tcpHeader(1480, 5)
	var now int64
	var id uint16
	allocs := testing.AllocsPerRun(1000, func() {
		now += 4 * sec
		id += 3
		out = cycle(tb, now, id, l4, out)
	})
	if allocs != 0 {
		t.Errorf("Add/Expire allocate: %v per cycle", allocs)
	}
	if s := tb.Stats(); s.Reassembled < 1000 || s.Fragments[DropDuplicate] < 1000 ||
		s.Fragments[DropOffset8] < 1000 || s.Fragments[DropPoisoned] < 1000 || s.TimedOut < 1000 {
		t.Errorf("the cycle did not take every path: %+v", s)
	}
}

// BenchmarkAdd: datagrams of three 1480-byte fragments, the last first,
// with 8 others in flight in the table.
func BenchmarkAdd(b *testing.B) {
	for _, maxD := range []int{16, 4096} {
		b.Run(map[int]string{16: "16", 4096: "4096"}[maxD], func(b *testing.B) {
			tb := New(maxD, 32, 3*sec, 1)
			out := make([]Frag, 0, 32)
			l4 := tcpHeader(1480, 5)
			k := Key{Src: 0x0a000001, Dst: 0xac160164, Proto: packet.ProtoTCP}
			for i := range min(maxD/2, 8) {
				k.ID = uint16(60000 + i)
				tb.Add(0, k, Frag{Handle: 1, Offset: 0, Len: 1480, More: true}, l4, out[:0])
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				k.ID = uint16(i % 50000)
				tb.Add(1, k, Frag{Handle: 3, Offset: 2960, Len: 100}, nil, out[:0])
				tb.Add(1, k, Frag{Handle: 1, Offset: 0, Len: 1480, More: true}, l4, out[:0])
				if s, _ := tb.Add(1, k, Frag{Handle: 2, Offset: 1480, Len: 1480, More: true}, nil, out[:0]); s != Complete {
					b.Fatal(s)
				}
			}
			b.ReportMetric(float64(3*b.N)/b.Elapsed().Seconds(), "frags/s")
		})
	}
}

// BenchmarkExpire: a full table of three-fragment datagrams timing out.
func BenchmarkExpire(b *testing.B) {
	tb := New(16, 32, 3*sec, 1)
	out := make([]Frag, 0, 64)
	l4 := tcpHeader(1480, 5)
	k := Key{Src: 0x0a000001, Dst: 0xac160164, Proto: packet.ProtoTCP}
	b.ReportAllocs()
	var now int64
	for b.Loop() {
		for i := range 16 {
			k.ID = uint16(i)
			tb.Add(now, k, Frag{Handle: 1, Offset: 0, Len: 1480, More: true}, l4, out[:0])
			tb.Add(now, k, Frag{Handle: 2, Offset: 1480, Len: 1480, More: true}, nil, out[:0])
		}
		now += 3 * sec
		for tb.Len() > 0 {
			out = tb.Expire(now, out[:0])
		}
	}
}
