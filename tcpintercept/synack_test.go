package tcpintercept

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"cbac/packet"
)

// goldenSYNACK answers testSYN (198.51.100.7:51515 -> 172.22.1.110:25, ISN
// 0xfffffff0, MSS 1460, SACK-permitted, TSval 0x01020304, wscale 7) at tick
// 4242 under testMaster, advertising MSS 1460 and wscale 7:
//
//	0019 c93b          ports 25 -> 51515
//	b98bab46           seq: the cookie
//	fffffff1           ack: client ISN + 1
//	a0 12              data offset 10 (40 bytes), SYN|ACK
//	0000               window 0 (no data before the server answered)
//	5a1e 0000          checksum, urgent pointer
//	020405b4           MSS 1460
//	0402 080a          SACK-permitted folded with Timestamps (Linux layout)
//	b3dc3017 01020304  TSval (low 6 bits 0x17: SACK | wscale 7), TSecr = client's TSval
//	01 030307          NOP, window scale 7
const goldenSYNACK = "0019c93bb98bab46fffffff1a01200005a1e0000020405b40402080ab3dc30170102030401030307"

// goldenServerSYN is the SYN to the server once the ACK (TSval 0x01020305)
// opened that cookie, with the client's ACK window 502 at wscale 7:
//
//	c93b 0019          ports 51515 -> 25
//	fffffff0           seq: the client's ISN
//	00000000           ack 0
//	a0 02              data offset 10, SYN
//	fb00               window 64256 = 502 << 7 (a SYN's window is unscaled)
//	a7f3 0000          checksum, urgent pointer
//	020405b4           MSS 1460
//	0402 080a          SACK-permitted, Timestamps
//	01020305 00000000  TSval = the client's, TSecr 0 (no ACK bit)
//	01 030307          NOP, window scale 7 (the client's)
const goldenServerSYN = "c93b0019fffffff000000000a002fb00a7f30000020405b40402080a010203050000000001030307"

func decodeTCP(t *testing.T, b []byte) *layers.TCP {
	t.Helper()
	var tcp layers.TCP
	if err := tcp.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
		t.Fatalf("gopacket: %v", err)
	}
	return &tcp
}

func TestGoldenSYNACK(t *testing.T) {
	jar := NewJar(testMaster)
	s := testSYN()
	now := int64(4242)*tickNS + 123456789
	c := jar.Make(now, &s)
	var b [SYNACKLen]byte
	n := WriteSYNACK(b[:], &s, &c, 1460, 7)
	want, _ := hex.DecodeString(goldenSYNACK)
	if !bytes.Equal(b[:n], want) {
		t.Fatalf("SYN/ACK\n got %x\nwant %x", b[:n], want)
	}
	seg := packet.TCP(b[:n])
	if !seg.IsValid() || !seg.ChecksumValid(s.Dst, s.Src) {
		t.Fatal("SYN/ACK checksum invalid")
	}
	// Decoded independently by gopacket.
	g := decodeTCP(t, b[:n])
	if !g.SYN || !g.ACK || g.FIN || g.RST || g.Seq != c.ISN || g.Ack != s.ISN+1 || g.Window != 0 ||
		g.SrcPort != 25 || g.DstPort != 51515 {
		t.Fatalf("gopacket sees %+v", g)
	}
	var kinds []layers.TCPOptionKind
	for _, o := range g.Options {
		kinds = append(kinds, o.OptionType)
		switch o.OptionType {
		case layers.TCPOptionKindMSS:
			if binary.BigEndian.Uint16(o.OptionData) != 1460 {
				t.Fatalf("MSS %x", o.OptionData)
			}
		case layers.TCPOptionKindTimestamps:
			if binary.BigEndian.Uint32(o.OptionData) != c.TSval || binary.BigEndian.Uint32(o.OptionData[4:]) != s.TSval {
				t.Fatalf("timestamps %x", o.OptionData)
			}
		case layers.TCPOptionKindWindowScale:
			if o.OptionData[0] != 7 {
				t.Fatalf("wscale %x", o.OptionData)
			}
		}
	}
	wantKinds := []layers.TCPOptionKind{layers.TCPOptionKindMSS, layers.TCPOptionKindSACKPermitted,
		layers.TCPOptionKindTimestamps, layers.TCPOptionKindNop, layers.TCPOptionKindWindowScale}
	if len(kinds) != len(wantKinds) {
		t.Fatalf("options %v, want %v", kinds, wantKinds)
	}
	for i := range kinds {
		if kinds[i] != wantKinds[i] {
			t.Fatalf("options %v, want %v", kinds, wantKinds)
		}
	}

	o, ok := jar.Check(now, &ACK{Tuple: s.Tuple, Seq: s.ISN + 1, Ack: c.ISN + 1, TS: true, TSval: s.TSval + 1, TSecr: c.TSval})
	if !ok {
		t.Fatal("ACK rejected")
	}
	n = WriteServerSYN(b[:], &s.Tuple, &o, 502)
	want, _ = hex.DecodeString(goldenServerSYN)
	if !bytes.Equal(b[:n], want) {
		t.Fatalf("server SYN\n got %x\nwant %x", b[:n], want)
	}
	if seg := packet.TCP(b[:n]); !seg.ChecksumValid(s.Src, s.Dst) {
		t.Fatal("server SYN checksum invalid")
	}
	if g := decodeTCP(t, b[:n]); !g.SYN || g.ACK || g.Seq != s.ISN || g.Window != 502<<7 {
		t.Fatalf("gopacket sees %+v", g)
	}
}

// TestSYNACKOptionSets checks what is offered for each kind of SYN: without
// timestamps only the MSS; with them, what the SYN offered.
func TestSYNACKOptionSets(t *testing.T) {
	jar := NewJar(testMaster)
	now := int64(3) * tickNS
	for mask := 0; mask < 16; mask++ {
		s := testSYN()
		s.TS, s.SACKPerm, s.ECN = mask&1 != 0, mask&2 != 0, mask&8 != 0
		if mask&4 == 0 {
			s.WScale = -1
		}
		c := jar.Make(now, &s)
		var b [SYNACKLen]byte
		n := WriteSYNACK(b[:], &s, &c, 1400, 9)
		seg := packet.TCP(b[:n])
		if !seg.IsValid() || !seg.ChecksumValid(s.Dst, s.Src) {
			t.Fatalf("mask %d: invalid segment", mask)
		}
		ws, mss, sack := seg.ParseOptions()
		tsval, tsecr, ts := seg.Timestamps()
		wantWS := int8(-1)
		if s.TS && s.WScale >= 0 {
			wantWS = 9
		}
		if mss != 1400 || ws != wantWS || sack != (s.TS && s.SACKPerm) || ts != s.TS {
			t.Fatalf("mask %d: mss %d ws %d sack %v ts %v", mask, mss, ws, sack, ts)
		}
		if ts && (tsval != c.TSval || tsecr != s.TSval) {
			t.Fatalf("mask %d: timestamps %#x %#x", mask, tsval, tsecr)
		}
		if ece := seg.Flags()&packet.ECE != 0; ece != (s.TS && s.ECN) {
			t.Fatalf("mask %d: ECE %v", mask, ece)
		}
		if seg.Window() != 0 || seg.Flags()&(packet.SYN|packet.ACK) != packet.SYN|packet.ACK {
			t.Fatalf("mask %d: window %d flags %#x", mask, seg.Window(), seg.Flags())
		}
	}
}

func TestParseSYNACK(t *testing.T) {
	// The golden SYN/ACK read back as if it were a SYN gives its options.
	b, _ := hex.DecodeString(goldenSYNACK)
	s := ParseSYN(1, 2, packet.TCP(b))
	if s.MSS != 1460 || s.WScale != 7 || !s.SACKPerm || !s.TS || s.TSval != 0xb3dc3017 || s.ISN != 0xb98bab46 || s.SrcPort != 25 {
		t.Fatalf("%+v", s)
	}
	a := ParseACK(1, 2, packet.TCP(b))
	if a.Seq != 0xb98bab46 || a.Ack != 0xfffffff1 || !a.TS || a.TSecr != 0x01020304 {
		t.Fatalf("%+v", a)
	}
}

// TestJoinACKs runs the whole exchange on numbers: cookie, server SYN, a
// server SYN/ACK near the 2^32 wrap with scale 9, then the two ACKs cbacd
// writes, and checks them field by field and through the splice.
func TestJoinACKs(t *testing.T) {
	jar := NewJar(testMaster)
	s := testSYN()
	now := int64(77) * tickNS
	c := jar.Make(now, &s)
	a := ackFor(&s, &c)
	o, ok := jar.Check(now, &a)
	if !ok {
		t.Fatal("ACK rejected")
	}
	h := Halves{
		CookieISN: c.ISN, ServerISN: 0xffffff00, CookieTSval: c.TSval, ServerTSval: 0x7ffffff0,
		ClientTS: o.TS, ServerTS: true, ClientWScale: o.WScale, AdvertisedWScale: 7, ServerWScale: 9,
	}
	sp := NewSplice(&h)
	var b [ACKLen]byte

	n := WriteServerACK(b[:], &s.Tuple, &o, &h, &sp, 502)
	seg := packet.TCP(b[:n])
	tsval, tsecr, ts := seg.Timestamps()
	if !seg.ChecksumValid(s.Src, s.Dst) || seg.Seq() != s.ISN+1 || seg.Ack() != 0xffffff01 || seg.Flags() != packet.ACK ||
		seg.Window() != 502 || !ts || tsval != a.TSval || tsecr != 0x7ffffff0 || seg.SrcPort() != s.SrcPort {
		t.Fatalf("server ACK %x", b[:n])
	}

	n = WriteClientACK(b[:], &s.Tuple, &o, &sp, 64240)
	seg = packet.TCP(b[:n])
	tsval, tsecr, ts = seg.Timestamps()
	if !seg.ChecksumValid(s.Dst, s.Src) || seg.Seq() != c.ISN+1 || seg.Ack() != s.ISN+1 || seg.Flags() != packet.ACK ||
		seg.Window() != 64240>>7 || !ts || tsval != c.TSval || tsecr != a.TSval || seg.SrcPort() != s.DstPort {
		t.Fatalf("client ACK %x", b[:n])
	}
	if g := decodeTCP(t, b[:n]); !g.ACK || g.SYN || g.Window != 501 {
		t.Fatalf("gopacket sees %+v", g)
	}

	// The server's first data segment (seq ISN+1, TSval +10) reaches the
	// client right after cbacd's window update: seq cookie+1, TSval +10.
	data := make(packet.TCP, 32+4)
	data.SetDataOffset(32)
	data.SetFlags(packet.ACK | packet.PSH)
	data.SetSeq(0xffffff01)
	data.SetAck(s.ISN + 1)
	data.SetWindow(200)
	copy(data[20:], []byte{1, 1, 8, 10, 0x80, 0, 0, 0, 0, 0, 0, 0})
	binary.BigEndian.PutUint32(data[28:], a.TSval)
	copy(data[32:], "220 ")
	data.SetChecksum(data.CalculateChecksum(s.Dst, s.Src))
	sp.ServerToClient(data)
	tsval, _, _ = data.Timestamps()
	if data.Seq() != c.ISN+1 || tsval != c.TSval+0x10 || data.Window() != 800 || !data.ChecksumValid(s.Dst, s.Src) {
		t.Fatalf("server data in the client's view: seq %#x TSval %#x window %d", data.Seq(), tsval, data.Window())
	}
}
