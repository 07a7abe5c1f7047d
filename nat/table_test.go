package nat

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func ip4(a, b, c, d byte) uint32 { return uint32(a)<<24 | uint32(b)<<16 | uint32(c)<<8 | uint32(d) }

// The seed configuration: ip nat inside source static 10.10.10.2 172.22.1.110
// and 10.10.10.5 172.22.1.111.
var seedPairs = []Static{
	{InsideLocal: ip4(10, 10, 10, 2), InsideGlobal: ip4(172, 22, 1, 110)},
	{InsideLocal: ip4(10, 10, 10, 5), InsideGlobal: ip4(172, 22, 1, 111)},
}

func TestNewTableErrors(t *testing.T) {
	tests := []struct {
		name    string
		pairs   []Static
		err     error
		message string
	}{
		{"empty", nil, nil, ""},
		{"seed", seedPairs, nil, ""},
		{"local twice", []Static{seedPairs[0], {ip4(10, 10, 10, 2), ip4(172, 22, 1, 112)}},
			ErrDuplicateInsideLocal, "static nat 1 (10.10.10.2 -> 172.22.1.112): 10.10.10.2 is already translated to 172.22.1.110"},
		{"global twice", []Static{seedPairs[0], seedPairs[1], {ip4(10, 10, 10, 9), ip4(172, 22, 1, 110)}},
			ErrDuplicateInsideGlobal, "static nat 2 (10.10.10.9 -> 172.22.1.110): 172.22.1.110 is already the global address of 10.10.10.2"},
		{"same pair twice", []Static{seedPairs[0], seedPairs[0]}, ErrDuplicateInsideLocal, "static nat 1"},
		{"zero local", []Static{{0, ip4(172, 22, 1, 110)}}, ErrInvalidAddress, "inside local"},
		{"multicast global", []Static{{ip4(10, 0, 0, 1), ip4(224, 0, 0, 5)}}, ErrInvalidAddress, "inside global"},
		{"broadcast global", []Static{{ip4(10, 0, 0, 1), ip4(255, 255, 255, 255)}}, ErrInvalidAddress, "inside global"},
		{"local of one is global of other", []Static{{ip4(10, 0, 0, 1), ip4(10, 0, 0, 2)}, {ip4(10, 0, 0, 2), ip4(10, 0, 0, 3)}}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, err := NewTable(tt.pairs)
			if tt.err == nil {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				if !slices.Equal(tab.Pairs(), tt.pairs) || tab.Len() != len(tt.pairs) {
					t.Fatalf("pairs %v, want %v", tab.Pairs(), tt.pairs)
				}
				return
			}
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %q does not contain %q", err, tt.message)
			}
		})
	}
}

func TestLookups(t *testing.T) {
	tab, err := NewTable(seedPairs)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		f    func(uint32) (uint32, bool)
		in   uint32
		out  uint32
		ok   bool
	}{
		{"l2g mail", tab.LocalToGlobal, ip4(10, 10, 10, 2), ip4(172, 22, 1, 110), true},
		{"l2g host", tab.LocalToGlobal, ip4(10, 10, 10, 5), ip4(172, 22, 1, 111), true},
		{"l2g unmapped", tab.LocalToGlobal, ip4(10, 10, 10, 3), 0, false},
		{"l2g global is not local", tab.LocalToGlobal, ip4(172, 22, 1, 110), 0, false},
		{"l2g zero", tab.LocalToGlobal, 0, 0, false},
		{"g2l mail", tab.GlobalToLocal, ip4(172, 22, 1, 110), ip4(10, 10, 10, 2), true},
		{"g2l host", tab.GlobalToLocal, ip4(172, 22, 1, 111), ip4(10, 10, 10, 5), true},
		{"g2l interface", tab.GlobalToLocal, ip4(172, 22, 1, 16), 0, false},
		{"g2l local is not global", tab.GlobalToLocal, ip4(10, 10, 10, 2), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, ok := tt.f(tt.in)
			if out != tt.out || ok != tt.ok {
				t.Errorf("got %#x %v, want %#x %v", out, ok, tt.out, tt.ok)
			}
		})
	}
	o := tab.Outbound(ip4(10, 10, 10, 2), ip4(8, 8, 8, 8))
	if old, nw := o.Src(); old != ip4(10, 10, 10, 2) || nw != ip4(172, 22, 1, 110) {
		t.Errorf("Outbound src %#x -> %#x", old, nw)
	}
	if old, nw := o.Dst(); old != nw {
		t.Error("Outbound changes dst")
	}
	if r := tab.Outbound(ip4(10, 10, 10, 3), ip4(8, 8, 8, 8)); !r.IsIdentity() {
		t.Error("unmapped source translated")
	}
	i := tab.Inbound(ip4(8, 8, 8, 8), ip4(172, 22, 1, 111))
	if old, nw := i.Dst(); old != ip4(172, 22, 1, 111) || nw != ip4(10, 10, 10, 5) {
		t.Errorf("Inbound dst %#x -> %#x", old, nw)
	}
	if r := tab.Inbound(ip4(8, 8, 8, 8), ip4(172, 22, 1, 16)); !r.IsIdentity() {
		t.Error("unmapped destination translated")
	}
}

// TestLookupsRandom compares a large table against a Go map.
func TestLookupsRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 3, 7, 100, 5000} {
		l2g := map[uint32]uint32{}
		g2l := map[uint32]uint32{}
		var pairs []Static
		for len(pairs) < n {
			l, g := r.Uint32()&0xdfffffff|1, r.Uint32()&0xdfffffff|1
			if _, dup := l2g[l]; dup {
				continue
			}
			if _, dup := g2l[g]; dup {
				continue
			}
			l2g[l], g2l[g] = g, l
			pairs = append(pairs, Static{l, g})
		}
		tab, err := NewTable(pairs)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pairs {
			if g, ok := tab.LocalToGlobal(p.InsideLocal); !ok || g != p.InsideGlobal {
				t.Fatalf("n=%d LocalToGlobal(%#x) = %#x %v", n, p.InsideLocal, g, ok)
			}
			if l, ok := tab.GlobalToLocal(p.InsideGlobal); !ok || l != p.InsideLocal {
				t.Fatalf("n=%d GlobalToLocal(%#x) = %#x %v", n, p.InsideGlobal, l, ok)
			}
		}
		for i := 0; i < 10000; i++ {
			a := r.Uint32()
			g, ok := tab.LocalToGlobal(a)
			wg, wok := l2g[a]
			l, ok2 := tab.GlobalToLocal(a)
			wl, wok2 := g2l[a]
			if g != wg || ok != wok || l != wl || ok2 != wok2 {
				t.Fatalf("n=%d lookup %#x disagrees with map", n, a)
			}
		}
	}
}

func TestLookupsDoNotAllocate(t *testing.T) {
	tab, _ := NewTable(seedPairs)
	var sink uint32
	allocs := testing.AllocsPerRun(1000, func() {
		g, _ := tab.LocalToGlobal(ip4(10, 10, 10, 2))
		l, _ := tab.GlobalToLocal(ip4(172, 22, 1, 111))
		r := tab.Outbound(ip4(10, 10, 10, 2), ip4(8, 8, 8, 8))
		sink += g + l + r.srcDelta
	})
	if allocs != 0 {
		t.Errorf("lookups allocate %v per run", allocs)
	}
	_ = sink
}

func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{2, 1000} {
		r := rand.New(rand.NewPCG(3, 4))
		pairs := append([]Static(nil), seedPairs...)
		for len(pairs) < n {
			pairs = append(pairs, Static{ip4(10, 20, 0, 0) + uint32(len(pairs)), ip4(100, 64, 0, 0) + uint32(len(pairs))})
		}
		tab, err := NewTable(pairs)
		if err != nil {
			b.Fatal(err)
		}
		keys := make([]uint32, 1024)
		for i := range keys {
			if i%2 == 0 {
				keys[i] = pairs[r.IntN(len(pairs))].InsideLocal
			} else {
				keys[i] = r.Uint32()
			}
		}
		b.Run("LocalToGlobal/"+itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			var s uint32
			for i := 0; b.Loop(); i++ {
				g, _ := tab.LocalToGlobal(keys[i&1023])
				s += g
			}
			sinkU32 = s
		})
	}
}

var sinkU32 uint32

func itoa(n int) string {
	s := ""
	for {
		s = string(rune('0'+n%10)) + s
		n /= 10
		if n == 0 {
			return s
		}
	}
}
