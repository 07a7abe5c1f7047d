package tcpstream

import (
	"encoding/binary"
	"testing"
)

// FuzzGuard runs random segments and ACKs through a Guard and checks it
// against a model that remembers the first forwarded byte at every stream
// offset. Invariants: no panic; a dropped segment is untouched and changes
// nothing; bytes at a kept sequence number are forwarded exactly as the
// first time; bytes already acknowledged are forwarded unchanged; Differs
// is set exactly when a kept, non-rewritten byte was restored; new bytes
// start at Next; Kept never exceeds the buffer.
//
// Input: isn (4 bytes), buffer size (1 byte), then 4-byte records:
// kind (bit 0: ACK; bit 1: Reserve and Advance; bit 2: Hold, in a memory
// arena standing for UMEM frames), offset (int8, from the oldest kept byte), length,
// content seed. The inspector in this test rewrites every 'E' of new bytes
// to RewriteByte, so replays of rewritten bytes are exercised.
func FuzzGuard(f *testing.F) {
	f.Add([]byte{0xFF, 0xFF, 0xFF, 0xF0, 16, 0, 0, 10, 'A', 0, 4, 10, 'B', 1, 6, 0, 0, 0, 0, 20, 'E'})
	f.Add([]byte{0, 0, 0, 1, 64, 0, 0, 30, 'E', 0, 0, 30, 'F', 1, 30, 0, 0, 0, 0, 40, 'G'})
	f.Add([]byte{0, 0, 0, 1, 50, 2, 0, 30, 'A', 2, 0, 30, 'E', 1, 40, 0, 0, 2, 0, 40, 'G', 1, 20, 0, 0, 2, 0, 30, 'B'})
	f.Add([]byte{0, 0, 0, 1, 200, 4, 0, 30, 'A', 4, 0, 30, 'E', 0, 0, 30, 'C', 4, 0, 20, 'D', 1, 40, 0, 0, 4, 0, 40, 'G', 0, 0, 100, 'H', 1, 70, 0, 0, 4, 0, 30, 'B'})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 5 {
			return
		}
		isn := binary.BigEndian.Uint32(data)
		size := int(data[4])
		data = data[5:]
		const span = 1 << 12 // model covers this many stream bytes
		var first [span]byte
		var g Guard
		g.Init(isn, make([]byte, size))
		var payload, orig [256]byte
		// Held ranges live in arena (bump allocation); a range the Guard
		// gives back with Unhold is overwritten at once, as a reused
		// frame would be, so reading it later would be caught.
		arena := make([]byte, 1<<16)
		used := uint64(0)
		holding := map[uint64]int{} // offset -> length, held now
		unhold := func() {
			for {
				o, more := g.Unhold()
				if !more {
					break
				}
				n, ok := holding[o]
				if !ok {
					t.Fatalf("Unhold gave %d, not held", o)
				}
				delete(holding, o)
				for i := range n {
					arena[o+uint64(i)] = 0xEE
				}
			}
		}
		for ; len(data) >= 4; data = data[4:] {
			base := g.Base() - isn
			next := g.Next() - isn
			off := int64(base) + int64(int8(data[1]))
			if off < 0 {
				off = 0
			}
			if data[0]&1 == 1 {
				// ACK anywhere near the kept range, even outside it.
				ack := isn + uint32(off)
				g.Ack(ack)
				if ack-isn >= base && ack-isn <= next {
					if g.Base() != ack {
						t.Fatalf("ACK %d in range not taken", ack-isn)
					}
				} else if g.Base()-isn != base {
					t.Fatalf("ACK %d outside [%d,%d] moved base", ack-isn, base, next)
				}
				unhold()
				if g.Held() != len(holding) {
					t.Fatalf("Held %d, the test holds %d", g.Held(), len(holding))
				}
				continue
			}
			n := int(data[2])
			if off+int64(n) >= span {
				continue
			}
			p := payload[:n]
			for i := range p {
				p[i] = data[3] + byte(i%7)
			}
			copy(orig[:], p)
			seq := isn + uint32(off)
			act, start, differs := g.Segment(seq, p)
			if act == Drop {
				if string(p) != string(orig[:n]) || g.Next()-isn != next || g.Base()-isn != base {
					t.Fatal("drop changed the payload or the Guard")
				}
				if n > 0 && uint32(off) <= next && n-int(next-uint32(off)) <= size-int(next-base) {
					t.Fatalf("dropped a segment that fits: off %d n %d next %d base %d", off, n, next, base)
				}
				continue
			}
			if n == 0 {
				continue
			}
			if uint32(off) > next {
				t.Fatalf("accepted a segment at %d beyond next %d", off, next)
			}
			if want := min(int(next-uint32(off)), n); start != want {
				t.Fatalf("newStart %d, want %d", start, want)
			}
			wantDiffers := false
			for i := 0; i < start; i++ {
				o := uint32(off) + uint32(i)
				if o < base {
					if p[i] != orig[i] {
						t.Fatalf("acked byte at %d changed", o)
					}
					continue
				}
				if p[i] != first[o] {
					t.Fatalf("byte at %d forwarded as %q, first time %q", o, p[i], first[o])
				}
				if orig[i] != first[o] && first[o] != RewriteByte {
					wantDiffers = true
				}
			}
			if differs != wantDiffers {
				t.Fatalf("differs %v, want %v", differs, wantDiffers)
			}
			// Inspect and rewrite the new bytes, then commit them. With
			// kind bit 1 they are copied into Reserve's slices before the
			// rewrite (as the SMTP data path does) and kept with Advance
			// when nothing was rewritten, with Commit otherwise.
			nb := p[start:]
			reserved := data[0]&2 != 0
			if reserved {
				r1, r2 := g.Reserve(len(nb))
				if len(r1)+len(r2) != len(nb) || (len(r2) > 0 && len(r1) == 0) {
					t.Fatalf("Reserve(%d) gave %d+%d bytes", len(nb), len(r1), len(r2))
				}
				copy(r2, nb[copy(r1, nb):])
			}
			rewritten := false
			for i := start; i < n; i++ {
				if p[i] == 'E' {
					p[i] = RewriteByte
					rewritten = true
				}
				first[uint32(off)+uint32(i)] = p[i]
			}
			held := false
			if data[0]&4 != 0 && len(nb) > 0 && used+uint64(len(nb)) <= uint64(len(arena)) {
				o := used
				copy(arena[o:], nb)
				if held = g.Hold(arena, o, len(nb)); held {
					holding[o] = len(nb)
					used += uint64(len(nb))
				} else if g.Held() < MaxHeld {
					t.Fatalf("Hold of %d bytes refused with %d held", len(nb), g.Held())
				}
			}
			switch {
			case held:
			case reserved && !rewritten:
				if !g.Advance(len(nb)) {
					t.Fatal("Advance refused bytes Segment accepted")
				}
			default:
				if !g.Commit(nb) {
					t.Fatal("Commit refused bytes Segment accepted")
				}
			}
			if g.Next()-isn != max(next, uint32(off)+uint32(n)) {
				t.Fatalf("next %d after segment [%d,%d)", g.Next()-isn, off, off+int64(n))
			}
			if g.Kept() > size || g.Kept() < 0 {
				t.Fatalf("kept %d of %d", g.Kept(), size)
			}
		}
		released := 0
		for {
			o, ok := g.Release()
			if !ok {
				break
			}
			if _, held := holding[o]; !held {
				t.Fatalf("Release gave %d, not held", o)
			}
			released++
		}
		if released != len(holding) || g.Held() != 0 {
			t.Fatalf("Release gave %d offsets, %d held", released, len(holding))
		}
	})
}
