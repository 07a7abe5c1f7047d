package ftpfsm

import (
	"math/rand/v2"
	"testing"
)

// refShift is the naive reference for Shift: rewrites on a linear (64-bit)
// stream, every number computed from the whole list.
type refShift struct {
	start, oldLen, newLen []int64
}

func (r *refShift) sumBefore(i int) int64 {
	var d int64
	for j := 0; j < i; j++ {
		d += r.newLen[j] - r.oldLen[j]
	}
	return d
}

func (r *refShift) forward(x int64) int64 {
	var d int64
	for i := range r.start {
		end := r.start[i] + r.oldLen[i]
		if x >= r.start[i] && x < end {
			return r.start[i] + r.sumBefore(i)
		}
		if end <= x {
			d += r.newLen[i] - r.oldLen[i]
		}
	}
	return x + d
}

func (r *refShift) back(y int64, up bool) int64 {
	var d int64
	for i := range r.start {
		ns := r.start[i] + r.sumBefore(i)
		ne := ns + r.newLen[i]
		if y >= ns && y < ne {
			if up && y != ns {
				return r.start[i] + r.oldLen[i]
			}
			return r.start[i]
		}
		if ne <= y {
			d += r.newLen[i] - r.oldLen[i]
		}
	}
	return y - d
}

// randomShifts builds n rewrites at random places after isn.
func randomShifts(rng *rand.Rand, isn uint32, n int) (*Shift, *refShift, int64) {
	var t Shift
	var ref refShift
	pos := int64(rng.IntN(50))
	for k := 0; k < n; k++ {
		oldLen := int64(1 + rng.IntN(25))
		newLen := int64(rng.IntN(26))
		if k%5 == 4 {
			newLen = oldLen // kept length: not recorded, shifts nothing
		}
		if !t.Add(isn+uint32(pos), int(oldLen), int(newLen)) {
			panic("Add refused an in-order rewrite")
		}
		if newLen != oldLen {
			ref.start = append(ref.start, pos)
			ref.oldLen = append(ref.oldLen, oldLen)
			ref.newLen = append(ref.newLen, newLen)
		}
		pos += oldLen + int64(rng.IntN(40))
	}
	return &t, &ref, pos
}

func TestShiftAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 3000; iter++ {
		isn := rng.Uint32()
		if iter%3 == 0 {
			isn = ^uint32(0) - uint32(rng.IntN(300)) // rewrites across the 2^32 wrap
		}
		n := rng.IntN(MaxShifts + 6)
		sh, ref, end := randomShifts(rng, isn, n)
		// With more rewrites than MaxShifts, the oldest recorded ones are
		// forgotten: numbers before floor are unknown.
		floor := int64(-1 << 40)
		recorded := 0
		for i := len(ref.start) - 1; i >= 0; i-- {
			recorded++
			if recorded > MaxShifts {
				floor = ref.start[i] + ref.oldLen[i]
				break
			}
		}
		for x := int64(-60); x < end+60; x++ {
			got, ok := sh.Forward(isn + uint32(x))
			if x < floor {
				if ok {
					t.Fatalf("Forward(%d) ok before forgotten rewrite ending %d", x, floor)
				}
				continue
			}
			if want := isn + uint32(ref.forward(x)); !ok || got != want {
				t.Fatalf("iter %d isn %d: Forward(%d) = %d %v, want %d", iter, isn, x, got-isn, ok, want-isn)
			}
		}
		newFloor := floor + ref.sumBefore(len(ref.start))
		if floor > -1<<40 {
			// the new-space floor: the forgotten rewrite's end in new numbering
			for i := range ref.start {
				if ref.start[i]+ref.oldLen[i] == floor {
					newFloor = floor + ref.sumBefore(i+1)
				}
			}
		}
		total := end + ref.sumBefore(len(ref.start))
		for y := int64(-60); y < total+60; y++ {
			for _, up := range []bool{false, true} {
				got, ok := sh.back(isn+uint32(y), up)
				if y < newFloor {
					if ok {
						t.Fatalf("back(%d) ok before the forgotten rewrite", y)
					}
					continue
				}
				if want := isn + uint32(ref.back(y, up)); !ok || got != want {
					t.Fatalf("iter %d: back(%d, up=%v) = %d %v, want %d", iter, y, up, got-isn, ok, want-isn)
				}
			}
		}
		for k := 0; k < 50; k++ {
			l := newFloor + int64(rng.IntN(int(total-newFloor)+60))
			if l < -60 {
				l = -60
			}
			r := l + int64(rng.IntN(60))
			gl, gr, ok := sh.SACKBack(isn+uint32(l), isn+uint32(r))
			wl, wr := ref.back(l, true), ref.back(r, false)
			if wantOK := wl < wr; ok != wantOK || ok && (gl != isn+uint32(wl) || gr != isn+uint32(wr)) {
				t.Fatalf("SACKBack(%d,%d) = %d,%d %v, want %d,%d %v", l, r, gl-isn, gr-isn, ok, wl, wr, wantOK)
			}
		}
	}
}

func TestShiftAddOrder(t *testing.T) {
	var s Shift
	if !s.Add(1000, 10, 14) || s.Delta() != 4 {
		t.Fatalf("first Add: delta %d", s.Delta())
	}
	if s.Add(1005, 3, 3) || s.Add(900, 5, 1) {
		t.Fatal("Add accepted a rewrite before the end of the last")
	}
	if !s.Add(1010, 5, 1) || s.Delta() != 0 {
		t.Fatalf("second Add: delta %d", s.Delta())
	}
	if s.Add(1020, -1, 3) || s.Add(1020, 1, 1<<17) {
		t.Fatal("Add accepted a bad length")
	}
}

func TestShiftAckedForgetsOld(t *testing.T) {
	var s Shift
	s.Add(100, 10, 15)
	s.Add(200, 10, 15)
	s.Acked(100 + 1<<30) // both ends 2^30 behind? only the first
	if s.n != 2 {
		t.Fatalf("forgot at exactly 2^30 - 110 behind: n=%d", s.n)
	}
	s.Acked(120 + 1<<30)
	// Forgotten 2^30 behind the acknowledged point: older numbers are
	// ancient, and the floor too is dropped rather than left to wrap.
	if s.n != 1 || s.lost || s.base != 5 {
		t.Fatalf("after Acked: n=%d lost=%v base=%d", s.n, s.lost, s.base)
	}
	if got, ok := s.Forward(300); !ok || got != 310 {
		t.Fatalf("Forward(300) = %d %v, want 310", got, ok)
	}
	// Far along, without Acked, a number 2^31 past the last rewrite would
	// compare as before it; with Acked it maps by the kept delta.
	s.Acked(220 + 1<<30 + 1)
	far := uint32(220 + 1<<31 + 5)
	if got, ok := s.Forward(far); !ok || got != far+10 {
		t.Fatalf("Forward(far) = %d %v, want %d", got, ok, far+10)
	}
}

func TestShiftAllocs(t *testing.T) {
	var s Shift
	if n := testing.AllocsPerRun(100, func() {
		s = Shift{}
		for k := 0; k < 2*MaxShifts; k++ {
			s.Add(uint32(k*100), 10, 12)
		}
		s.Forward(50)
		s.Back(50)
		s.SACKBack(10, 90)
	}); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}
