package packet

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestSetUint32AtAgainstFullRecompute writes random values at every offset,
// odd and even, of random segments and compares the incrementally updated
// checksum with a full recomputation.
func TestSetUint32AtAgainstFullRecompute(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 20000; i++ {
		n := TCPMinHeaderLen + r.IntN(60)
		seg := TCP(randBytes(r, n))
		seg[tcpDataOff] = 5 << 4
		src, dst := r.Uint32(), r.Uint32()
		seg.SetChecksum(seg.CalculateChecksum(src, dst))
		off := r.IntN(n - 3)
		if off+3 >= tcpChecksum && off <= tcpChecksum+1 {
			continue // the field itself overlaps the checksum
		}
		v := r.Uint32()
		if i%7 == 0 {
			v = 0
		}
		seg.SetUint32AtWithChecksum(off, v)
		if seg.Uint32At(off) != v {
			t.Fatalf("off %d: wrote %#x, read %#x", off, v, seg.Uint32At(off))
		}
		if !seg.ChecksumValid(src, dst) {
			t.Fatalf("len %d off %d v %#x: checksum %#04x, full %#04x", n, off, v, seg.Checksum(), seg.CalculateChecksum(src, dst))
		}
	}
}

// TestWriteSynOptionsLayout checks every option combination: the bytes are
// Linux's layout and they parse back to the same values.
func TestWriteSynOptionsLayout(t *testing.T) {
	for mask := 0; mask < 16; mask++ {
		o := SynOptions{WScale: -1, TSval: 0x11223344, TSecr: 0x55667788}
		if mask&1 != 0 {
			o.MSS = 1460
		}
		if mask&2 != 0 {
			o.WScale = int8(mask) % 15
		}
		o.SACKPerm = mask&4 != 0
		o.TS = mask&8 != 0
		var b [TCPMaxHeaderLen]byte
		n := WriteSynOptions(b[TCPMinHeaderLen:], &o)
		if n != o.Len() || n%4 != 0 || n > 20 {
			t.Fatalf("mask %d: wrote %d, Len %d", mask, n, o.Len())
		}
		seg := TCP(b[:TCPMinHeaderLen+n])
		seg.SetDataOffset(TCPMinHeaderLen + n)
		ws, mss, sack := seg.ParseOptions()
		if ws != o.WScale || mss != o.MSS || sack != o.SACKPerm {
			t.Fatalf("mask %d: parsed ws %d mss %d sack %v, wrote %+v", mask, ws, mss, sack, o)
		}
		tsval, tsecr, ok := seg.Timestamps()
		if ok != o.TS || ok && (tsval != o.TSval || tsecr != o.TSecr) {
			t.Fatalf("mask %d: timestamps %v %#x %#x", mask, ok, tsval, tsecr)
		}
		if o.TS {
			off, _ := seg.FindOption(TCPOptTS)
			if (off+2)%4 != 0 {
				t.Fatalf("mask %d: TSval at offset %d, not 4-byte aligned", mask, off+2)
			}
		}
	}
	// All four: MSS, SACK-permitted folded into the timestamps word, wscale.
	o := SynOptions{MSS: 1460, WScale: 7, SACKPerm: true, TS: true, TSval: 1, TSecr: 2}
	var b [20]byte
	WriteSynOptions(b[:], &o)
	want := []byte{2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 3, 3, 7}
	if !bytes.Equal(b[:], want) {
		t.Fatalf("got % x\nwant % x", b[:], want)
	}
}

func TestFindOption(t *testing.T) {
	tests := []struct {
		name     string
		opts     []byte
		kind     uint8
		off, len int
	}{
		{"sack after nops", []byte{1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2}, TCPOptSACK, 22, 10},
		{"absent", []byte{1, 1, 1, 0}, TCPOptTS, -1, 0},
		{"after eol", []byte{0, 8, 10, 0}, TCPOptTS, -1, 0},
		{"malformed length stops", []byte{2, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0}, TCPOptTS, -1, 0},
		{"past the end", []byte{1, 1, 8, 10}, TCPOptTS, -1, 0},
		{"odd offset", []byte{1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 0}, TCPOptTS, 21, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seg := make(TCP, TCPMinHeaderLen+len(tc.opts))
			copy(seg[TCPMinHeaderLen:], tc.opts)
			seg.SetDataOffset(len(seg))
			off, l := seg.FindOption(tc.kind)
			if off != tc.off || l != tc.len {
				t.Fatalf("FindOption = %d, %d; want %d, %d", off, l, tc.off, tc.len)
			}
		})
	}
}
