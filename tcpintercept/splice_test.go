package tcpintercept

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"cbac/packet"
)

// mod32 reduces an int64 to [0, 2^32): the naive reference does sequence
// arithmetic in int64 and reduces once, instead of relying on uint32 wrap.
func mod32(v int64) uint32 {
	const m = int64(1) << 32
	return uint32(((v % m) + m) % m)
}

// naiveWindow is the reference rescaling: the window in bytes is
// w * 2^from; the receiver applying shift `to` must see floor(bytes / 2^to),
// capped at 65535.
func naiveWindow(w uint16, from, to int) uint16 {
	bytes := uint64(w) * (uint64(1) << from)
	v := bytes / (uint64(1) << to)
	if v > 65535 {
		v = 65535
	}
	return uint16(v)
}

// builtSeg is a random segment and where its options sit.
type builtSeg struct {
	seg     packet.TCP
	tsOff   int // offset of the Timestamps option, -1 if none
	sackOff int // offset of the SACK option, -1 if none
	sackN   int // SACK blocks
	src     uint32
	dst     uint32
}

// randomSeg builds a checksummed segment with NOPs at random, a Timestamps
// option and a SACK option (1-4 blocks) at random (possibly odd) offsets,
// EOL padding, and a random payload.
func randomSeg(r *rand.Rand, seqBase uint32) builtSeg {
	var opts []byte
	bs := builtSeg{tsOff: -1, sackOff: -1, src: r.Uint32(), dst: r.Uint32()}
	for n := r.IntN(4); n > 0; n-- {
		opts = append(opts, packet.TCPOptNOP)
	}
	if r.IntN(10) < 7 {
		bs.tsOff = packet.TCPMinHeaderLen + len(opts)
		opts = append(opts, packet.TCPOptTS, packet.TCPOptTSLen)
		opts = binary.BigEndian.AppendUint32(opts, r.Uint32())
		opts = binary.BigEndian.AppendUint32(opts, r.Uint32())
	}
	if r.IntN(2) == 0 {
		if r.IntN(2) == 0 {
			opts = append(opts, packet.TCPOptNOP)
		}
		room := (40 - len(opts) - 2) / 8
		if room > 4 {
			room = 4
		}
		if room >= 1 {
			bs.sackN = 1 + r.IntN(room)
			bs.sackOff = packet.TCPMinHeaderLen + len(opts)
			opts = append(opts, packet.TCPOptSACK, byte(2+8*bs.sackN))
			for i := 0; i < 2*bs.sackN; i++ {
				opts = binary.BigEndian.AppendUint32(opts, seqBase+uint32(r.IntN(1<<20))-1<<19)
			}
		}
	}
	for len(opts)%4 != 0 {
		opts = append(opts, packet.TCPOptEOL)
	}
	hl := packet.TCPMinHeaderLen + len(opts)
	seg := make(packet.TCP, hl+r.IntN(100))
	for i := range seg {
		seg[i] = byte(r.Uint32())
	}
	copy(seg[packet.TCPMinHeaderLen:], opts)
	seg[12] = 0
	seg.SetDataOffset(hl)
	flags := uint8(r.Uint32()) &^ (packet.SYN)
	if r.IntN(10) != 0 {
		flags |= packet.ACK
	}
	seg.SetFlags(flags)
	seg.SetSeq(seqBase + uint32(r.IntN(1<<20)) - 1<<19)
	seg.SetAck(seqBase + uint32(r.IntN(1<<20)) - 1<<19)
	seg.SetChecksum(seg.CalculateChecksum(bs.src, bs.dst))
	bs.seg = seg
	return bs
}

func randomHalves(r *rand.Rand) Halves {
	h := Halves{
		CookieISN: r.Uint32(), ServerISN: r.Uint32(),
		CookieTSval: r.Uint32(), ServerTSval: r.Uint32(),
		ClientTS: r.IntN(4) != 0, ServerTS: r.IntN(4) != 0,
		ClientWScale:     int8(r.IntN(16)) - 1,
		AdvertisedWScale: int8(r.IntN(15)),
		ServerWScale:     int8(r.IntN(16)) - 1,
	}
	switch r.IntN(4) { // put the two ISNs on either side of 2^32
	case 0:
		h.CookieISN, h.ServerISN = 0xffffffff-uint32(r.IntN(1000)), uint32(r.IntN(1000))
	case 1:
		h.CookieISN, h.ServerISN = uint32(r.IntN(1000)), 0xffffffff-uint32(r.IntN(1000))
	}
	if r.IntN(4) == 0 {
		h.CookieTSval, h.ServerTSval = 0xffffffff-uint32(r.IntN(1000)), uint32(r.IntN(1000))
	}
	return h
}

// scalingOf returns the shifts in force, the naive way: client side scaling
// iff the client offered it (cbacd then advertised); server side iff both
// cbacd's SYN (carrying the client's shift) and the server's SYN/ACK had it.
func scalingOf(h *Halves) (s2cFrom, s2cTo, c2sFrom, c2sTo int) {
	cli := h.ClientWScale >= 0
	srv := cli && h.ServerWScale >= 0
	if srv {
		s2cFrom, c2sTo = int(h.ServerWScale), int(h.ClientWScale)
	}
	if cli {
		s2cTo, c2sFrom = int(h.AdvertisedWScale), int(h.ClientWScale)
	}
	return
}

// TestSpliceAgainstNaive translates random segments both ways and compares
// every byte with the naive reference: fields recomputed in int64 and the
// checksum recomputed in full.
func TestSpliceAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for i := 0; i < 20000; i++ {
		h := randomHalves(r)
		sp := NewSplice(&h)
		ts := h.ClientTS && h.ServerTS
		tsOff := int64(h.ServerTSval) - int64(h.CookieTSval)
		s2cFrom, s2cTo, c2sFrom, c2sTo := scalingOf(&h)

		// Server to client.
		bs := randomSeg(r, h.ServerISN)
		got := append(packet.TCP(nil), bs.seg...)
		sp.ServerToClient(got)
		want := append(packet.TCP(nil), bs.seg...)
		want.SetSeq(mod32(int64(bs.seg.Seq()) - int64(h.ServerISN) + int64(h.CookieISN)))
		want.SetWindow(naiveWindow(bs.seg.Window(), s2cFrom, s2cTo))
		if ts && bs.tsOff >= 0 {
			binary.BigEndian.PutUint32(want[bs.tsOff+2:], mod32(int64(bs.seg.Uint32At(bs.tsOff+2))-tsOff))
		}
		want.SetChecksum(want.CalculateChecksum(bs.src, bs.dst))
		if !bytes.Equal(got, want) {
			t.Fatalf("server->client %d, halves %+v\n  in %x\n got %x\nwant %x", i, h, []byte(bs.seg), []byte(got), []byte(want))
		}

		// Client to server.
		bs = randomSeg(r, h.CookieISN)
		got = append(packet.TCP(nil), bs.seg...)
		sp.ClientToServer(got)
		want = append(packet.TCP(nil), bs.seg...)
		toServer := func(v uint32) uint32 { return mod32(int64(v) + int64(h.ServerISN) - int64(h.CookieISN)) }
		if bs.seg.Flags()&packet.ACK != 0 {
			want.SetAck(toServer(bs.seg.Ack()))
		}
		want.SetWindow(naiveWindow(bs.seg.Window(), c2sFrom, c2sTo))
		if ts && bs.tsOff >= 0 {
			binary.BigEndian.PutUint32(want[bs.tsOff+6:], mod32(int64(bs.seg.Uint32At(bs.tsOff+6))+tsOff))
		}
		for e := 0; bs.sackOff >= 0 && e < 2*bs.sackN; e++ {
			off := bs.sackOff + 2 + 4*e
			binary.BigEndian.PutUint32(want[off:], toServer(bs.seg.Uint32At(off)))
		}
		want.SetChecksum(want.CalculateChecksum(bs.src, bs.dst))
		if !bytes.Equal(got, want) {
			t.Fatalf("client->server %d, halves %+v\n  in %x\n got %x\nwant %x", i, h, []byte(bs.seg), []byte(got), []byte(want))
		}
	}
}

// TestSpliceWindowCases names the window-scale situations.
func TestSpliceWindowCases(t *testing.T) {
	tests := []struct {
		name                string
		client, adv, server int8
		s2cIn, s2cOut       uint16 // server's field -> client's field
		c2sIn, c2sOut       uint16 // client's field -> server's field
	}{
		{"server scale as advertised", 7, 7, 7, 1000, 1000, 500, 500},
		{"server scales more: shifted up", 7, 7, 9, 1000, 4000, 500, 500},
		{"server scales more: capped at 65535", 7, 7, 9, 20000, 65535, 500, 500},
		{"server scales less: rounded down", 7, 7, 2, 1000, 31, 500, 500},
		{"server scales less: small window rounds to 0", 7, 7, 2, 31, 0, 500, 500},
		{"server no scaling: client fields scaled up for it", 8, 7, -1, 1000, 7, 100, 25600},
		{"server no scaling: capped", 8, 7, -1, 65535, 511, 300, 65535},
		{"client no scaling: nothing to do", -1, 7, -1, 1000, 1000, 500, 500},
		{"client no scaling, server offers anyway: ignored", -1, 7, 9, 1000, 1000, 500, 500},
		{"advertised 0", 3, 0, 3, 1000, 8000, 70, 70},
		{"all 14", 14, 14, 14, 65535, 65535, 65535, 65535},
		{"advertised none is taken as 0", 2, -1, 2, 1000, 4000, 70, 70},
		{"advertised above 14 is taken as 14", 0, 20, 0, 65535, 3, 70, 70},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := Halves{ClientWScale: tc.client, AdvertisedWScale: tc.adv, ServerWScale: tc.server}
			sp := NewSplice(&h)
			seg := make(packet.TCP, packet.TCPMinHeaderLen)
			seg.SetDataOffset(packet.TCPMinHeaderLen)
			seg.SetFlags(packet.ACK)
			seg.SetWindow(tc.s2cIn)
			seg.SetChecksum(seg.CalculateChecksum(1, 2))
			sp.ServerToClient(seg)
			if seg.Window() != tc.s2cOut || !seg.ChecksumValid(1, 2) {
				t.Fatalf("server->client window %d -> %d, want %d", tc.s2cIn, seg.Window(), tc.s2cOut)
			}
			seg.SetWindow(tc.c2sIn)
			seg.SetChecksum(seg.CalculateChecksum(1, 2))
			sp.ClientToServer(seg)
			if seg.Window() != tc.c2sOut || !seg.ChecksumValid(1, 2) {
				t.Fatalf("client->server window %d -> %d, want %d", tc.c2sIn, seg.Window(), tc.c2sOut)
			}
		})
	}
	// The window update after the server's SYN/ACK (unscaled 64240) in the
	// client's view under advertised scale 7.
	h := Halves{ClientWScale: 7, AdvertisedWScale: 7, ServerWScale: 9}
	sp := NewSplice(&h)
	if w := sp.ClientWindow(64240); w != 501 {
		t.Fatalf("ClientWindow(64240) = %d, want 501", w)
	}
}

// TestSpliceServerSACKUntouched: SACK blocks from the server name the
// client's sequence numbers, which pass unchanged.
func TestSpliceServerSACKUntouched(t *testing.T) {
	h := Halves{CookieISN: 10, ServerISN: 0xfffffff0, ClientWScale: -1, ServerWScale: -1}
	sp := NewSplice(&h)
	seg := make(packet.TCP, 32)
	seg.SetDataOffset(32)
	copy(seg[20:], []byte{1, 1, 5, 10, 0, 0, 0, 100, 0, 0, 0, 200})
	seg.SetFlags(packet.ACK)
	seg.SetChecksum(seg.CalculateChecksum(1, 2))
	sp.ServerToClient(seg)
	if seg.Uint32At(24) != 100 || seg.Uint32At(28) != 200 || !seg.ChecksumValid(1, 2) {
		t.Fatalf("server SACK changed: %x", []byte(seg))
	}
}

// roundTrip translates server segment s to the client, makes the client's
// answer that acknowledges and SACKs it and echoes its TSval, translates that
// to the server, and reports whether the server sees its own numbers back.
func roundTrip(sp *Splice, s packet.TCP, src, dst uint32) (ok bool, why string) {
	seq0 := s.Seq()
	tsval0, _, hasTS := s.Timestamps()
	sp.ServerToClient(s)
	if !s.ChecksumValid(src, dst) {
		return false, "server->client checksum"
	}
	seq1 := s.Seq()
	tsval1, _, _ := s.Timestamps()
	c := make(packet.TCP, 44)
	c.SetDataOffset(44)
	c.SetFlags(packet.ACK)
	c.SetAck(seq1)
	copy(c[20:], []byte{1, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 5, 10, 0, 0, 0, 0, 0, 0, 0, 0})
	binary.BigEndian.PutUint32(c[28:], tsval1)
	binary.BigEndian.PutUint32(c[36:], seq1)
	binary.BigEndian.PutUint32(c[40:], seq1+1000)
	c.SetChecksum(c.CalculateChecksum(dst, src))
	sp.ClientToServer(c)
	switch {
	case !c.ChecksumValid(dst, src):
		return false, "client->server checksum"
	case c.Ack() != seq0:
		return false, "ack does not map back to the server's seq"
	case c.Uint32At(36) != seq0 || c.Uint32At(40) != seq0+1000:
		return false, "SACK block does not map back"
	case hasTS && sp.ts && c.Uint32At(28) != tsval0:
		return false, "TSecr does not map back to the server's TSval"
	}
	return true, ""
}

func TestSpliceRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for i := 0; i < 20000; i++ {
		h := randomHalves(r)
		sp := NewSplice(&h)
		bs := randomSeg(r, h.ServerISN)
		if ok, why := roundTrip(&sp, bs.seg, bs.src, bs.dst); !ok {
			t.Fatalf("%d: %s (halves %+v)", i, why, h)
		}
	}
}

func TestSpliceNoAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	h := randomHalves(r)
	h.ClientTS, h.ServerTS, h.ClientWScale, h.ServerWScale = true, true, 7, 9
	sp := NewSplice(&h)
	bs := randomSeg(r, h.ServerISN)
	if n := testing.AllocsPerRun(1000, func() {
		sp.ServerToClient(bs.seg)
		sp.ClientToServer(bs.seg)
	}); n != 0 {
		t.Fatalf("%v allocations per translation pair", n)
	}
}

// The quoted-segment translations: a short quote (RFC 792's 8 bytes) has
// only its sequence number changed; a quote without ACK keeps its
// acknowledgement field; the delta returned accounts for every byte
// changed.
func TestSpliceQuoted(t *testing.T) {
	s := NewSplice(&Halves{CookieISN: 1000, ServerISN: 50000, ClientWScale: -1, ServerWScale: -1})
	q := make([]byte, 8)
	binary.BigEndian.PutUint32(q[4:], 1001)
	before := packet.Checksum(q, 0)
	d := s.QuotedServerToClient(q)
	if got := binary.BigEndian.Uint32(q[4:]); got != 50001 {
		t.Fatalf("seq %d, want 50001", got)
	}
	if packet.Fold(packet.Checksum(q, 0)) != packet.Fold(before+d) {
		t.Errorf("delta does not account for the change")
	}
	long := make([]byte, 20)
	binary.BigEndian.PutUint32(long[8:], 50010)
	if d := s.QuotedClientToServer(long); d != 0 || binary.BigEndian.Uint32(long[8:]) != 50010 {
		t.Errorf("quote without ACK changed: delta %d, ack %d", d, binary.BigEndian.Uint32(long[8:]))
	}
	long[13] = packet.ACK
	s.QuotedClientToServer(long)
	if got := binary.BigEndian.Uint32(long[8:]); got != 1010 {
		t.Errorf("ack %d, want 1010", got)
	}
	if s.QuotedServerToClient(q[:7]) != 0 {
		t.Error("a 7-byte quote was translated")
	}
}
