package vfr

import (
	"slices"
	"testing"
	"time"

	"cbac/packet"
)

const sec = int64(time.Second)

// step is one event of a rule test: a fragment offered to Add (handle =
// step number + 1), or an Expire call.
type step struct {
	id     uint16 // datagram: Key.ID (0 means 1)
	off, n int    // fragment offset and length
	more   bool
	l4     []byte // first fragment's transport bytes; nil: a valid header
	hdr    uint8  // IP header length; 0: 20
	at     int64  // time
	expire bool   // call Expire(at) instead of Add

	want Status
	out  []uint64 // handles expected in out, in order
}

type ruleCase struct {
	name   string
	proto  uint8 // 0: TCP
	maxD   int   // 0: 16
	maxF   int   // 0: 32
	steps  []step
	live   int // Len after the last step
	poison int // Poisoned after the last step
}

// tcpHeader returns n bytes starting with a TCP header whose Data Offset
// is doff words.
func tcpHeader(n, doff int) []byte {
	b := make([]byte, n)
	if n > 12 {
		b[12] = byte(doff << 4)
	}
	return b
}

func TestRules(t *testing.T) {
	udp := packet.ProtoUDP
	cases := []ruleCase{
		{name: "in order", steps: []step{
			{off: 0, n: 24, more: true},
			{off: 24, n: 16, more: true},
			{off: 40, n: 5, want: Complete, out: []uint64{1, 2, 3}},
		}},
		{name: "reverse order", steps: []step{
			{off: 40, n: 5},
			{off: 24, n: 16, more: true},
			{off: 0, n: 24, more: true, want: Complete, out: []uint64{3, 2, 1}},
		}},
		{name: "first fragment last", steps: []step{
			{off: 24, n: 16, more: true},
			{off: 40, n: 5},
			{off: 0, n: 24, more: true, want: Complete, out: []uint64{3, 1, 2}},
		}},
		{name: "middle last", steps: []step{
			{off: 40, n: 5},
			{off: 0, n: 24, more: true},
			{off: 24, n: 16, more: true, want: Complete, out: []uint64{2, 3, 1}},
		}},
		{name: "two datagrams interleaved", steps: []step{
			{id: 1, off: 0, n: 24, more: true},
			{id: 2, off: 24, n: 8},
			{id: 2, off: 0, n: 24, more: true, want: Complete, out: []uint64{3, 2}},
			{id: 1, off: 24, n: 8, want: Complete, out: []uint64{1, 4}},
		}},
		{name: "duplicate dropped alone", steps: []step{
			{off: 0, n: 24, more: true},
			{off: 0, n: 24, more: true, want: DropDuplicate},
			{off: 24, n: 8, want: Complete, out: []uint64{1, 3}},
		}},
		{name: "duplicate last", steps: []step{
			{off: 24, n: 8},
			{off: 24, n: 8, want: DropDuplicate},
			{off: 0, n: 24, more: true, want: Complete, out: []uint64{3, 1}},
		}},
		{name: "duplicate after complete starts a new datagram", steps: []step{
			{off: 0, n: 24, more: true},
			{off: 24, n: 8, want: Complete, out: []uint64{1, 2}},
			{off: 24, n: 8},
		}, live: 1},
		{name: "overlap at start", steps: []step{
			{off: 0, n: 24, more: true},
			{off: 0, n: 32, more: true, want: DropOverlap, out: []uint64{1}},
			{off: 32, n: 8, want: DropPoisoned},
		}, poison: 1},
		{name: "overlap same offset and length but MF differs", steps: []step{
			{off: 16, n: 8, more: true},
			{off: 16, n: 8, want: DropOverlap, out: []uint64{1}},
		}, poison: 1},
		{name: "overlap in the middle", steps: []step{
			{off: 0, n: 24, more: true},
			{off: 48, n: 16, more: true},
			{off: 40, n: 16, more: true, want: DropOverlap, out: []uint64{1, 2}},
			{off: 24, n: 16, more: true, want: DropPoisoned},
		}, poison: 1},
		{name: "overlap with the previous fragment", steps: []step{
			{off: 0, n: 24, more: true},
			{off: 16, n: 16, more: true, want: DropOverlap, out: []uint64{1}},
		}, poison: 1},
		{name: "overlap at end", steps: []step{
			{off: 0, n: 24, more: true},
			{off: 32, n: 16},
			{off: 40, n: 8, want: DropOverlap, out: []uint64{1, 2}},
		}, poison: 1},
		{name: "overlap inside a held fragment", steps: []step{
			{off: 0, n: 48, more: true},
			{off: 16, n: 8, more: true, want: DropOverlap, out: []uint64{1}},
		}, poison: 1},
		{name: "data past the end", steps: []step{
			{off: 32, n: 8},
			{off: 48, n: 8, more: true, want: DropMalformed, out: []uint64{1}},
		}, poison: 1},
		{name: "last before held data", steps: []step{
			{off: 40, n: 8, more: true},
			{off: 24, n: 8, want: DropMalformed, out: []uint64{1}},
		}, poison: 1},
		{name: "second last with another end", steps: []step{
			{off: 40, n: 8},
			{off: 56, n: 8, want: DropMalformed, out: []uint64{1}},
		}, poison: 1},
		{name: "unaligned non-last fragment", steps: []step{
			{off: 0, n: 13, more: true, want: DropMalformed},
			{off: 16, n: 8, want: DropPoisoned},
		}, poison: 1},
		{name: "empty fragment", steps: []step{
			{off: 32, n: 8},
			{off: 16, n: 0, more: true, want: DropMalformed, out: []uint64{1}},
		}, poison: 1},
		{name: "tiny TCP first fragment", steps: []step{
			{off: 0, n: 16, more: true, want: DropTiny},
			{off: 16, n: 8, want: DropPoisoned},
		}, poison: 1},
		{name: "tiny TCP first fragment arriving last", steps: []step{
			{off: 16, n: 16, more: true},
			{off: 32, n: 8},
			{off: 0, n: 16, more: true, want: DropTiny, out: []uint64{1, 2}},
		}, poison: 1},
		{name: "TCP first fragment shorter than its data offset", steps: []step{
			{off: 0, n: 24, more: true, l4: tcpHeader(24, 8), want: DropTiny},
		}, poison: 1},
		{name: "TCP first fragment holding its options", steps: []step{
			{off: 0, n: 32, more: true, l4: tcpHeader(32, 8)},
			{off: 32, n: 1, want: Complete, out: []uint64{1, 2}},
		}},
		{name: "TCP first fragment of exactly 20 bytes", steps: []step{
			{off: 24, n: 8},
			{off: 0, n: 24, more: true, l4: tcpHeader(20, 5), want: Complete, out: []uint64{2, 1}},
		}},
		{name: "UDP first fragment under 8 bytes", proto: udp, steps: []step{
			{off: 16, n: 8},
			{off: 0, n: 8, more: true, l4: make([]byte, 7), want: DropTiny, out: []uint64{1}},
		}, poison: 1},
		{name: "ICMP first fragment under 8 bytes", proto: packet.ProtoICMP, steps: []step{
			{off: 0, n: 8, more: true, l4: make([]byte, 4), want: DropTiny},
		}, poison: 1},
		{name: "UDP first fragment of 8 bytes", proto: udp, steps: []step{
			{off: 0, n: 8, more: true},
			{off: 8, n: 8, want: Complete, out: []uint64{1, 2}},
		}},
		{name: "TCP fragment at offset 8 before the first", steps: []step{
			{off: 8, n: 16, more: true, want: DropOffset8},
			{off: 0, n: 24, more: true, want: DropPoisoned},
		}, poison: 1},
		{name: "TCP fragment at offset 8 after the first", steps: []step{
			{off: 0, n: 24, more: true},
			{off: 8, n: 16, more: true, want: DropOffset8, out: []uint64{1}},
			{off: 24, n: 8, want: DropPoisoned},
		}, poison: 1},
		{name: "8-byte TCP first fragment", steps: []step{
			{off: 32, n: 8},
			{off: 0, n: 8, more: true, l4: tcpHeader(8, 5), want: DropTiny, out: []uint64{1}},
		}, poison: 1},
		{name: "TCP fragment at offset 8 rewriting flags", steps: []step{
			{off: 24, n: 8},
			{off: 8, n: 16, more: true, want: DropOffset8, out: []uint64{1}},
		}, poison: 1},
		{name: "UDP fragment at offset 8 is fine", proto: udp, steps: []step{
			{off: 8, n: 8},
			{off: 0, n: 8, more: true, want: Complete, out: []uint64{2, 1}},
		}},
		{name: "largest datagram", proto: udp, steps: []step{
			{off: 65512, n: 3},
		}, live: 1},
		{name: "one byte too large", proto: udp, steps: []step{
			{off: 65512, n: 4, want: DropTooLarge},
		}, poison: 1},
		{name: "ping of death", proto: packet.ProtoICMP, steps: []step{
			{off: 0, n: 1480, more: true},
			{off: 65528, n: 1480, want: DropTooLarge, out: []uint64{1}},
			{off: 1480, n: 1480, more: true, want: DropPoisoned},
		}, poison: 1},
		{name: "too large once the first fragment's options are known", proto: udp, steps: []step{
			{off: 65512, n: 3},
			{off: 0, n: 8, more: true, hdr: 24, want: DropTooLarge, out: []uint64{1}},
		}, poison: 1},
		{name: "first fragment with options too large alone", proto: udp, steps: []step{
			{off: 0, n: 65496, hdr: 40, want: DropTooLarge},
		}, poison: 1},
		{name: "exactly max fragments", proto: udp, maxF: 3, steps: []step{
			{off: 0, n: 8, more: true},
			{off: 16, n: 8},
			{off: 8, n: 8, more: true, want: Complete, out: []uint64{1, 3, 2}},
		}},
		{name: "too many fragments", proto: udp, maxF: 3, steps: []step{
			{off: 0, n: 8, more: true},
			{off: 8, n: 8, more: true},
			{off: 16, n: 8, more: true},
			{off: 16, n: 8, more: true, want: DropDuplicate},
			{off: 24, n: 8, more: true, want: DropTooMany, out: []uint64{1, 2, 3}},
			{off: 32, n: 8, want: DropPoisoned},
		}, poison: 1},
		{name: "table full", maxD: 2, steps: []step{
			{id: 1, off: 0, n: 24, more: true},
			{id: 2, off: 0, n: 24, more: true},
			{id: 3, off: 0, n: 24, more: true, want: DropTableFull},
			{id: 1, off: 24, n: 8, want: Complete, out: []uint64{1, 4}},
			{id: 3, off: 0, n: 24, more: true},
		}, live: 2},
		{name: "table full of live datagrams: a drop is not remembered", maxD: 2, steps: []step{
			{id: 1, off: 0, n: 24, more: true},
			{id: 2, off: 0, n: 24, more: true},
			{id: 3, off: 8, n: 8, more: true, want: DropOffset8},
			{id: 3, off: 0, n: 24, more: true, want: DropTableFull},
		}, live: 2},
		{name: "oldest poisoned key makes room", maxD: 2, steps: []step{
			{id: 1, off: 8, n: 8, more: true, want: DropOffset8},
			{id: 2, off: 8, n: 8, more: true, want: DropOffset8},
			{id: 3, off: 0, n: 24, more: true},
			{id: 2, off: 24, n: 8, want: DropPoisoned},
			{id: 1, off: 24, n: 8},
		}, live: 2},
		{name: "timeout exactly at 3 s", steps: []step{
			{off: 0, n: 24, more: true, at: 0},
			{off: 40, n: 8, at: sec},
			{expire: true, at: 3*sec - 1},
			{expire: true, at: 3 * sec, out: []uint64{1, 2}},
			{off: 24, n: 16, more: true, at: 3 * sec},
		}, live: 1},
		{name: "late fragment before Expire ran", steps: []step{
			{off: 0, n: 24, more: true, at: 0},
			{off: 24, n: 8, at: 3 * sec, want: DropTimeout, out: []uint64{1}},
			{off: 24, n: 8, at: 3 * sec},
		}, live: 1},
		{name: "completion just before the timeout", steps: []step{
			{off: 0, n: 24, more: true, at: 0},
			{off: 24, n: 8, at: 3*sec - 1, want: Complete, out: []uint64{1, 2}},
		}},
		{name: "poison lasts the timeout after the drop", steps: []step{
			{off: 0, n: 24, more: true, at: 0},
			{off: 0, n: 32, more: true, at: sec, want: DropOverlap, out: []uint64{1}},
			{off: 24, n: 8, at: 4*sec - 1, want: DropPoisoned},
			{off: 24, n: 8, at: 4 * sec},
		}, live: 1},
		{name: "Expire forgets poisoned keys", steps: []step{
			{off: 8, n: 8, more: true, at: 0, want: DropOffset8},
			{expire: true, at: 3*sec - 1},
			{off: 24, n: 8, at: 3*sec - 1, want: DropPoisoned},
			{expire: true, at: 3 * sec},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { runRuleCase(t, &c) })
	}
}

func runRuleCase(t *testing.T, c *ruleCase) {
	proto := c.proto
	if proto == 0 {
		proto = packet.ProtoTCP
	}
	maxD, maxF := c.maxD, c.maxF
	if maxD == 0 {
		maxD = 16
	}
	if maxF == 0 {
		maxF = 32
	}
	tb := New(maxD, maxF, 3*sec, 1)
	owned := map[uint64]bool{} // handles given back to the caller
	out := make([]Frag, 0, maxF)
	for si, s := range c.steps {
		out = out[:0]
		if s.expire {
			out = tb.Expire(s.at, out)
			if got := handles(out); !slices.Equal(got, s.out) {
				t.Fatalf("step %d: Expire(%d) returned %v, want %v", si, s.at, got, s.out)
			}
		} else {
			id := s.id
			if id == 0 {
				id = 1
			}
			k := Key{Src: 0x0a000001, Dst: 0xac160164, ID: id, Proto: proto}
			f := Frag{Handle: uint64(si + 1), Aux: uint32(1000 + si), Offset: uint16(s.off), Len: uint16(s.n), More: s.more, HdrLen: s.hdr}
			l4 := s.l4
			if l4 == nil && s.off == 0 {
				l4 = tcpHeader(s.n, 5)
			}
			var st Status
			st, out = tb.Add(s.at, k, f, l4, out)
			if st != s.want || !slices.Equal(handles(out), s.out) {
				t.Fatalf("step %d: Add(%d, off %d len %d more %v) = %v %v, want %v %v",
					si, s.at, s.off, s.n, s.more, st, handles(out), s.want, s.out)
			}
			if st.Dropped() {
				owned[f.Handle] = true
			}
			if st == Complete {
				checkDatagram(t, out)
			}
		}
		for _, f := range out {
			if owned[f.Handle] {
				t.Fatalf("step %d: handle %d handed back twice", si, f.Handle)
			}
			if f.Aux != uint32(1000+f.Handle-1) {
				t.Fatalf("step %d: handle %d came back with aux %d", si, f.Handle, f.Aux)
			}
			owned[f.Handle] = true
		}
	}
	if tb.Len() != c.live || tb.Poisoned() != c.poison {
		t.Errorf("Len %d Poisoned %d, want %d %d", tb.Len(), tb.Poisoned(), c.live, c.poison)
	}
	// Nothing leaks: every handle was handed back once, or is still held.
	for _, f := range tb.Flush(nil) {
		if owned[f.Handle] {
			t.Fatalf("flush: handle %d handed back twice", f.Handle)
		}
		owned[f.Handle] = true
	}
	for si, s := range c.steps {
		if !s.expire && !owned[uint64(si+1)] {
			t.Errorf("handle %d leaked", si+1)
		}
	}
	if tb.Len() != 0 || tb.Poisoned() != 0 || tb.Held() != 0 {
		t.Errorf("after Flush: Len %d Poisoned %d Held %d", tb.Len(), tb.Poisoned(), tb.Held())
	}
}

func handles(fs []Frag) []uint64 {
	var h []uint64
	for _, f := range fs {
		h = append(h, f.Handle)
	}
	return h
}

// checkDatagram checks that a completed datagram's fragments tile [0, end)
// in order, only the last without MF.
func checkDatagram(t testing.TB, fs []Frag) {
	t.Helper()
	next := 0
	for i, f := range fs {
		if int(f.Offset) != next {
			t.Fatalf("fragment %d at offset %d, want %d (%+v)", i, f.Offset, next, fs)
		}
		if f.More != (i < len(fs)-1) {
			t.Fatalf("fragment %d MF %v (%+v)", i, f.More, fs)
		}
		next = f.End()
	}
}

func TestStats(t *testing.T) {
	tb := New(16, 32, 3*sec, 7)
	k := Key{Src: 1, Dst: 2, ID: 3, Proto: packet.ProtoUDP}
	out := make([]Frag, 0, 32)
	tb.Add(0, k, Frag{Handle: 1, Offset: 0, Len: 8, More: true}, make([]byte, 8), out)
	tb.Add(0, k, Frag{Handle: 2, Offset: 0, Len: 8, More: true}, make([]byte, 8), out)
	tb.Add(0, k, Frag{Handle: 3, Offset: 8, Len: 8}, nil, out)
	k.ID++
	tb.Add(0, k, Frag{Handle: 4, Offset: 8, Len: 8, More: true}, nil, out)
	tb.Add(0, k, Frag{Handle: 5, Offset: 12, Len: 8}, nil, out)
	k.ID++
	tb.Add(0, k, Frag{Handle: 6, Offset: 8, Len: 8}, nil, out)
	tb.Expire(3*sec, out)
	s := tb.Stats()
	want := Stats{Reassembled: 1, Dropped: 1, DroppedHeld: 1, TimedOut: 1, TimedOutHeld: 1}
	want.Fragments[Held] = 3
	want.Fragments[DropDuplicate] = 1
	want.Fragments[Complete] = 1
	want.Fragments[DropOverlap] = 1
	if s != want {
		t.Errorf("Stats = %+v, want %+v", s, want)
	}
}

func TestStatusString(t *testing.T) {
	seen := map[string]bool{}
	for s := Held; s < NumStatus; s++ {
		n := s.String()
		if n == "" || n == "unknown" || seen[n] {
			t.Errorf("Status(%d).String() = %q", s, n)
		}
		seen[n] = true
		if s.DropsWhole() && !s.Dropped() {
			t.Errorf("%v drops whole but not dropped", s)
		}
	}
	if NumStatus.String() != "unknown" {
		t.Errorf("NumStatus.String() = %q", NumStatus.String())
	}
}

func TestFragOf(t *testing.T) {
	// 45 00 0020 1234 2003 40 06 0000 0a000001 0a000002 + 12 payload bytes:
	// IHL 5, total 32, ID 0x1234, MF, offset 3*8=24, TCP.
	ip := packet.IPv4{0x45, 0, 0, 32, 0x12, 0x34, 0x20, 0x03, 64, 6, 0, 0,
		10, 0, 0, 1, 10, 0, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	k, f, l4 := FragOf(ip, 99, 7)
	wantK := Key{Src: 0x0a000001, Dst: 0x0a000002, ID: 0x1234, Proto: 6}
	wantF := Frag{Handle: 99, Aux: 7, Offset: 24, Len: 12, More: true, HdrLen: 20}
	if k != wantK || f != wantF || l4 != nil {
		t.Fatalf("FragOf = %+v %+v %v, want %+v %+v nil", k, f, l4, wantK, wantF)
	}
	ip[6], ip[7] = 0x20, 0 // first fragment
	_, f, l4 = FragOf(ip, 99, 7)
	if f.Offset != 0 || len(l4) != 12 || l4[0] != 1 {
		t.Fatalf("first fragment: %+v l4 %v", f, l4)
	}
}

func TestNewPanics(t *testing.T) {
	for _, c := range []struct {
		d, f int
		to   int64
	}{{0, 32, sec}, {MaxDatagrams + 1, 32, sec}, {16, 0, sec}, {16, MaxFragments + 1, sec}, {16, 32, 0}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New(%d, %d, %d) did not panic", c.d, c.f, c.to)
				}
			}()
			New(c.d, c.f, c.to, 0)
		}()
	}
}
