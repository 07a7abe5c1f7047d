package tcpstream

import (
	"bytes"
	"testing"
)

// op is one event in a stream test: a client segment (seg != "") or a
// server ACK. For a segment, want* are the expected results and out the
// payload after Segment; rewrite, when set, replaces the new bytes before
// Commit (what the inspector forwards).
type op struct {
	ack     uint32 // server ACK, as offset from isn (seg == "")
	seq     uint32 // offset from isn
	seg     string
	want    Action
	start   int
	differs bool
	out     string
	rewrite string
}

func runOps(t *testing.T, isn uint32, size int, ops []op) *Guard {
	t.Helper()
	var g Guard
	g.Init(isn, make([]byte, size))
	for i, o := range ops {
		if o.seg == "" {
			g.Ack(isn + o.ack)
			continue
		}
		p := []byte(o.seg)
		nextBefore := g.Next()
		act, start, differs := g.Segment(isn+o.seq, p)
		if act != o.want || start != o.start || differs != o.differs {
			t.Fatalf("op %d %q at +%d: got %v %d %v, want %v %d %v",
				i, o.seg, o.seq, act, start, differs, o.want, o.start, o.differs)
		}
		if string(p) != o.out {
			t.Fatalf("op %d: payload %q, want %q", i, p, o.out)
		}
		if act == Drop {
			if g.Next() != nextBefore {
				t.Fatalf("op %d: drop moved next", i)
			}
			continue
		}
		if o.rewrite != "" {
			copy(p[start:], o.rewrite)
		}
		if !g.Commit(p[start:]) {
			t.Fatalf("op %d: Commit refused %d bytes (free %d)", i, len(p)-start, g.Free())
		}
		if g.Next() != isn+o.seq+uint32(len(p)) && start < len(p) {
			t.Fatalf("op %d: next %d, want %d", i, g.Next()-isn, o.seq+uint32(len(p)))
		}
	}
	return &g
}

func TestGuard(t *testing.T) {
	const isn = 1000
	tests := []struct {
		name string
		isn  uint32
		size int
		ops  []op
		// Final Next, Base (offsets from isn).
		next, base uint32
	}{
		{"in-order stream", isn, 64, []op{
			{seq: 0, seg: "EHLO a\r\n", want: Forward, out: "EHLO a\r\n"},
			{seq: 8, seg: "MAIL FROM:<a@b>\r\n", want: Forward, out: "MAIL FROM:<a@b>\r\n"},
			{ack: 8},
			{seq: 25, seg: "RCPT TO:<c@d>\r\n", want: Forward, out: "RCPT TO:<c@d>\r\n"},
		}, 40, 8},
		{"retransmission identical", isn, 64, []op{
			{seq: 0, seg: "HELO a\r\n", want: Forward, out: "HELO a\r\n"},
			{seq: 0, seg: "HELO a\r\n", want: Replay, start: 8, out: "HELO a\r\n"},
		}, 8, 0},
		{"retransmission of a rewritten line gets the rewrite again", isn, 64, []op{
			{seq: 0, seg: "EXPN root\r\n", want: Forward, out: "EXPN root\r\n", rewrite: "xxxxxxxxx"},
			{seq: 0, seg: "EXPN root\r\n", want: Replay, start: 11, out: "xxxxxxxxx\r\n"},
			{seq: 2, seg: "PN r", want: Replay, start: 4, out: "xxxx"},
		}, 11, 0},
		{"retransmission differing", isn, 64, []op{
			{seq: 0, seg: "HELO x\r\n", want: Forward, out: "HELO x\r\n"},
			{seq: 0, seg: "EXPN x\r\n", want: Replay, start: 8, differs: true, out: "HELO x\r\n"},
			{seq: 4, seg: "y", want: Replay, start: 1, differs: true, out: " "},
			// A kept RewriteByte matches anything (see Differs); the
			// kept byte is restored all the same.
			{seq: 5, seg: "y", want: Replay, start: 1, differs: false, out: "x"},
		}, 8, 0},
		{"differing over a rewritten line", isn, 64, []op{
			{seq: 0, seg: "EXPN root\r\n", want: Forward, out: "EXPN root\r\n", rewrite: "xxxxxxxxx"},
			// Only the CR LF were kept as they were: changing them is
			// a difference.
			{seq: 0, seg: "VRFY root\n\n", want: Replay, start: 11, differs: true, out: "xxxxxxxxx\r\n"},
		}, 11, 0},
		{"partial overlap", isn, 64, []op{
			{seq: 0, seg: "HELO a\r\n", want: Forward, out: "HELO a\r\n"},
			{seq: 4, seg: " a\r\nQUIT\r\n", want: Replay, start: 4, out: " a\r\nQUIT\r\n"},
			{seq: 10, seg: "XXXX\r\nNOOP\r\n", want: Replay, start: 4, differs: true, out: "IT\r\n\r\nNOOP\r\n"},
		}, 22, 0},
		{"out of order dropped", isn, 64, []op{
			{seq: 0, seg: "HELO a\r\n", want: Forward, out: "HELO a\r\n"},
			{seq: 9, seg: "QUIT\r\n", want: Drop, out: "QUIT\r\n"},
			{seq: 8, seg: "QUIT\r\n", want: Forward, out: "QUIT\r\n"},
		}, 14, 0},
		{"buffer full until acked", isn, 16, []op{
			{seq: 0, seg: "0123456789", want: Forward, out: "0123456789"},
			{seq: 10, seg: "abcdefg", want: Drop, out: "abcdefg"},
			// Replay part plus new bytes that do not fit: whole drop,
			// nothing restored.
			{seq: 8, seg: "ZZabcdefg", want: Drop, out: "ZZabcdefg"},
			{ack: 5},
			{seq: 8, seg: "ZZabcdefg", want: Replay, start: 2, differs: true, out: "89abcdefg"},
			{seq: 17, seg: "hijkl", want: Drop, out: "hijkl"}, // 12 kept, 4 free
			{ack: 17},
			{seq: 17, seg: "hijklmnopqrstuvw", want: Forward, out: "hijklmnopqrstuvw"},
		}, 33, 17},
		{"acked data forwarded unchanged", isn, 64, []op{
			{seq: 0, seg: "HELO a\r\n", want: Forward, out: "HELO a\r\n"},
			{ack: 8},
			{seq: 0, seg: "EXPN a\r\n", want: Replay, start: 8, out: "EXPN a\r\n"},
		}, 8, 8},
		{"partly acked retransmission", isn, 64, []op{
			{seq: 0, seg: "HELO a\r\n", want: Forward, out: "HELO a\r\n"},
			{ack: 4},
			{seq: 0, seg: "EXPN b\r\nQUIT\r\n", want: Replay, start: 8, differs: true, out: "EXPN a\r\nQUIT\r\n"},
		}, 14, 4},
		{"ACKs outside [base, next] ignored", isn, 64, []op{
			{seq: 0, seg: "HELO a\r\n", want: Forward, out: "HELO a\r\n"},
			{ack: 9},
			{ack: 4},
			{ack: 3},
			{ack: 0xFFFFFFFF}, // isn - 1
			{seq: 4, seg: "?a\r\n", want: Replay, start: 4, differs: true, out: " a\r\n"},
		}, 8, 4},
		{"sequence wraparound", 0xFFFFFFF8, 16, []op{
			{seq: 0, seg: "0123456789", want: Forward, out: "0123456789"}, // crosses 2^32
			{ack: 6},
			{seq: 4, seg: "45ABCDEF", want: Replay, start: 6, differs: true, out: "456789EF"},
			{seq: 13, seg: "xyz", want: Drop, out: "xyz"}, // out of order, past the wrap
			{ack: 12},
			{seq: 12, seg: "GHIJKLMNOPQRSTUV", want: Forward, out: "GHIJKLMNOPQRSTUV"}, // ring wraps too
			{seq: 10, seg: "EFGHIJKLMNOPQRSTUV", want: Replay, start: 18, differs: false, out: "EFGHIJKLMNOPQRSTUV"},
			{seq: 11, seg: "fghijklmnopqrstuv", want: Replay, start: 17, differs: true, out: "fGHIJKLMNOPQRSTUV"}, // 'f' is below base
		}, 28, 12},
		{"empty segment", isn, 64, []op{
			{seq: 50, seg: "", want: Forward},
		}, 0, 0},
		{"no buffer drops new bytes", isn, 0, []op{
			{seq: 0, seg: "HELO", want: Drop, out: "HELO"},
		}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := runOps(t, tt.isn, tt.size, tt.ops)
			if g.Next() != tt.isn+tt.next || g.Base() != tt.isn+tt.base {
				t.Fatalf("next +%d base +%d, want +%d +%d", g.Next()-tt.isn, g.Base()-tt.isn, tt.next, tt.base)
			}
			if g.Kept() != int(tt.next-tt.base) || g.Free() != tt.size-g.Kept() {
				t.Fatalf("kept %d free %d", g.Kept(), g.Free())
			}
		})
	}
}

func TestCommitTooLong(t *testing.T) {
	var g Guard
	g.Init(7, make([]byte, 4))
	if g.Commit([]byte("12345")) {
		t.Fatal("Commit accepted more than the buffer holds")
	}
	if g.Next() != 7 || g.Kept() != 0 {
		t.Fatal("refused Commit changed the Guard")
	}
	if !g.Commit([]byte("1234")) || g.Free() != 0 {
		t.Fatal("Commit of exactly the capacity")
	}
}

// Reserve hands out the ring where Commit would write, split where it
// wraps; Advance then keeps those bytes as Commit would.
func TestReserveAdvance(t *testing.T) {
	var g Guard
	g.Init(100, make([]byte, 8))
	if !g.Commit([]byte("abcde")) {
		t.Fatal("Commit")
	}
	g.Ack(104) // kept: "e" at index 4
	first, second := g.Reserve(6)
	if len(first) != 3 || len(second) != 3 {
		t.Fatalf("Reserve(6) = %d+%d bytes, want 3+3", len(first), len(second))
	}
	copy(first, "FGH")
	copy(second, "IJK")
	if !g.Advance(6) || g.Next() != 111 || g.Kept() != 7 {
		t.Fatalf("Advance: next %d kept %d", g.Next()-100, g.Kept())
	}
	// A retransmission of all of it is restored from what was written.
	p := []byte("xxxxxxx")
	if act, start, _ := g.Segment(104, p); act != Replay || start != 7 || string(p) != "eFGHIJK" {
		t.Fatalf("replay: %v %d %q", act, start, p)
	}
	if f, s := g.Reserve(2); f != nil || s != nil {
		t.Fatal("Reserve of more than Free")
	}
	if g.Advance(2) || g.Next() != 111 {
		t.Fatal("Advance of more than Free")
	}
	first, second = g.Reserve(1)
	if len(first) != 1 || second != nil {
		t.Fatalf("Reserve(1) = %d+%d bytes", len(first), len(second))
	}
	// Up to the end of the buffer exactly: no second part.
	g.Ack(111)
	first, second = g.Reserve(5)
	if len(first) != 5 || len(second) != 0 || cap(first) != 5 {
		t.Fatalf("Reserve(5) at index 3 = %d+%d bytes, cap %d", len(first), len(second), cap(first))
	}
	var empty Guard
	empty.Init(1, nil)
	if f, s := empty.Reserve(1); f != nil || s != nil || empty.Advance(1) || !empty.Advance(0) {
		t.Fatal("empty buffer")
	}
}

func TestActionString(t *testing.T) {
	for a := Action(0); a < numActions; a++ {
		if a.String() == "unknown" {
			t.Errorf("action %d has no name", a)
		}
	}
	if numActions.String() != "unknown" {
		t.Error("out of range action")
	}
}

func TestGuardAllocs(t *testing.T) {
	var g Guard
	g.Init(1, make([]byte, 16<<10))
	p := bytes.Repeat([]byte("MAIL FROM:<a@b>\r\n"), 80)
	seq := uint32(1)
	allocs := testing.AllocsPerRun(1000, func() {
		act, start, _ := g.Segment(seq, p)
		if act == Drop {
			panic("drop")
		}
		g.Commit(p[start:])
		// Retransmit the same segment, then acknowledge it.
		g.Segment(seq, p)
		seq += uint32(len(p))
		g.Ack(seq)
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per run", allocs)
	}
}

func BenchmarkGuard(b *testing.B) {
	for _, bc := range []struct {
		name       string
		retransmit bool
	}{{"new", false}, {"new+retransmit", true}} {
		b.Run(bc.name, func(b *testing.B) {
			var g Guard
			g.Init(1, make([]byte, 16<<10))
			p := bytes.Repeat([]byte("0123456789abcdef"), 1448/16)
			seq := uint32(1)
			b.SetBytes(int64(len(p)))
			b.ReportAllocs()
			for b.Loop() {
				act, start, _ := g.Segment(seq, p)
				if act == Drop {
					b.Fatal("drop")
				}
				g.Commit(p[start:])
				if bc.retransmit {
					g.Segment(seq, p)
				}
				seq += uint32(len(p))
				g.Ack(seq)
			}
		})
	}
}

// Held ranges and copies mix: a retransmission spanning both is restored
// from each, Unhold gives back only ranges acknowledged entirely, and a
// Guard holds at most MaxHeld ranges.
func TestHold(t *testing.T) {
	var g Guard
	g.Init(100, make([]byte, 64))
	mem := []byte("....HELO a\r\n....EXPN b\r\n....")
	if act, _, _ := g.Segment(100, []byte("HELO a\r\n")); act != Forward || !g.Hold(mem, 4, 8) {
		t.Fatal("first segment not held")
	}
	if act, _, _ := g.Segment(108, []byte("NOOP\r\n")); act != Forward || !g.Commit([]byte("NOOP\r\n")) {
		t.Fatal("second segment not kept")
	}
	if act, _, _ := g.Segment(114, []byte("xxxx b\r\n")); act != Forward || !g.Hold(mem, 16, 8) {
		t.Fatal("third segment not held")
	}
	if g.Kept() != 22 || g.Free() != 64-22 || g.Held() != 2 {
		t.Fatalf("kept %d free %d held %d", g.Kept(), g.Free(), g.Held())
	}
	// The client retransmits everything, with other bytes.
	p := []byte("HELO z\r\nNOOQ\r\nEXPN b\r\n")
	act, start, differs := g.Segment(100, p)
	if act != Replay || start != len(p) || !differs {
		t.Fatalf("replay: %v %d %v", act, start, differs)
	}
	// The third range is what mem[16:24] holds: the final bytes the
	// inspector forwarded ("EXPN b" as mem has it here).
	if string(p) != "HELO a\r\nNOOP\r\nEXPN b\r\n" {
		t.Fatalf("restored %q", p)
	}
	g.Ack(110) // inside the copied range
	if off, ok := g.Unhold(); !ok || off != 4 {
		t.Fatalf("Unhold after ACK 110: %d %v", off, ok)
	}
	if off, ok := g.Unhold(); ok {
		t.Fatalf("second Unhold after ACK 110: %d", off)
	}
	g.Ack(120) // inside the second held range
	if off, ok := g.Unhold(); ok {
		t.Fatalf("Unhold after ACK 120: %d", off)
	}
	if off, ok := g.Release(); !ok || off != 16 || g.Held() != 0 {
		t.Fatalf("Release: %d %v", off, ok)
	}
	if off, ok := g.Release(); ok {
		t.Fatalf("second Release: %d", off)
	}

	g.Init(0, make([]byte, 1000))
	for i := range MaxHeld {
		g.Segment(uint32(i), []byte{'a'})
		if !g.Hold(mem, uint64(i%4), 1) {
			t.Fatalf("Hold %d refused", i)
		}
	}
	g.Segment(MaxHeld, []byte{'a'})
	if g.Hold(mem, 0, 1) || g.Held() != MaxHeld || g.Next() != MaxHeld {
		t.Fatal("Hold beyond MaxHeld taken")
	}
	if g.Hold(mem, uint64(len(mem)), 1) {
		t.Fatal("Hold outside mem taken")
	}
}
