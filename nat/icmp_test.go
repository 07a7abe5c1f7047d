package nat

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"cbac/packet"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// buildICMPError returns an IPv4 ICMP error from src to dst quoting the
// first quoteLen bytes of datagram (all of it if shorter), built and
// checksummed by gopacket.
func buildICMPError(r *rand.Rand, src, dst uint32, typ, code uint8, datagram []byte, quoteLen int) []byte {
	q := datagram[:min(quoteLen, len(datagram))]
	ip := &layers.IPv4{Version: 4, TTL: 64, Id: uint16(r.Uint32()), Protocol: layers.IPProtocolICMPv4,
		SrcIP: netIP(src), DstIP: netIP(dst)}
	icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code)}
	if typ == packet.DestUnreachable && code == packet.CodeFragmentationNeeded {
		icmp.Seq = 1400 // Next-Hop MTU
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true},
		ip, icmp, gopacket.Payload(q)); err != nil {
		panic(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

var errorTypes = []struct {
	name       string
	typ, code  uint8
	quoteLimit int // bytes of the datagram quoted: RFC 792 (28+), RFC 1812 (more)
}{
	{"port unreachable", packet.DestUnreachable, packet.CodePortUnreachable, 548},
	{"fragmentation needed", packet.DestUnreachable, packet.CodeFragmentationNeeded, 28},
	{"time exceeded", packet.TimeExceeded, packet.CodeTTLExceeded, 36},
	{"admin prohibited", packet.DestUnreachable, packet.CodeAdminProhibited, 40},
	{"parameter problem", packet.ParamProblem, 0, 576},
	{"source quench", packet.SourceQuench, 0, 28},
}

// checkICMPChecksums compares every checksum of an ICMP error with a full
// recomputation: outer IP header and ICMP message by gopacket, quoted IP
// header by packet.
func checkICMPChecksums(t *testing.T, b []byte) {
	t.Helper()
	ip := packet.IPv4(b)
	if got, want := ip.HeaderChecksum(), gopacketIPChecksum(t, b); got != want {
		t.Fatalf("outer ip checksum %#x, gopacket %#x", got, want)
	}
	if got, ok := gopacketL4Checksum(t, b); !ok || got != packet.ICMPv4(ip.Payload()).Checksum() {
		t.Fatalf("icmp checksum %#x, gopacket %#x", packet.ICMPv4(ip.Payload()).Checksum(), got)
	}
	q := packet.ICMPv4(ip.Payload()).InnerIPv4()
	if q == nil || !q.ChecksumValid() {
		t.Fatalf("quoted ip checksum invalid")
	}
}

// TestInboundICMPError: inside host L sends to outside O; the packet leaves
// translated (G -> O); a router R on the outside returns an error quoting
// it. After InboundICMPError the error is addressed to L and the quote is,
// byte for byte, the start of the packet L sent.
func TestInboundICMPError(t *testing.T) {
	tab, _ := NewTable(seedPairs)
	r := rand.New(rand.NewPCG(51, 52))
	L, G := seedPairs[0].InsideLocal, seedPairs[0].InsideGlobal
	for _, et := range errorTypes {
		t.Run(et.name, func(t *testing.T) {
			for i := 0; i < 300; i++ {
				kind := r.IntN(numKinds)
				O := r.Uint32()
				R := O
				if r.IntN(2) == 0 {
					R = r.Uint32() // a router on the path, not the peer
				}
				sent := buildIPv4(r, kind, L, O, 0, randBytes(r, r.IntN(600)))
				out := append([]byte(nil), sent...)
				rw := tab.Outbound(L, O)
				if !rw.Apply(packet.IPv4(out)) {
					t.Fatal("outbound translation failed")
				}
				quoteLen := packet.IPv4(out).HeaderLength() + 8 + r.IntN(et.quoteLimit)
				if kind == kindTCP && quoteLen == packet.IPv4(out).HeaderLength()+17 {
					quoteLen++ // half a checksum field: TestICMPErrorCutChecksum
				}
				b := buildICMPError(r, R, G, et.typ, et.code, out, quoteLen)
				before := append([]byte(nil), b...)
				ip := packet.IPv4(b)
				if !tab.InboundICMPError(ip) {
					t.Fatalf("#%d kind %d: InboundICMPError refused", i, kind)
				}
				if len(b) != len(before) {
					t.Fatal("length changed")
				}
				if ip.Src() != R || ip.Dst() != L {
					t.Fatalf("outer %#x -> %#x, want %#x -> %#x", ip.Src(), ip.Dst(), R, L)
				}
				m := packet.ICMPv4(ip.Payload())
				if m.Type() != et.typ || m.Code() != et.code {
					t.Fatal("type/code changed")
				}
				if quote := m.Payload(); !bytes.Equal(quote, sent[:len(quote)]) {
					t.Fatalf("#%d kind %d quote %d bytes:\n%x\nwant\n%x", i, kind, len(quote), quote, sent[:len(quote)])
				}
				checkICMPChecksums(t, b)
			}
		})
	}
}

// TestOutboundICMPError: outside host O sends to G; the packet arrives
// translated (O -> L); L answers with an error quoting it. After
// OutboundICMPError the error comes from G and the quote is the start of
// the packet O sent.
func TestOutboundICMPError(t *testing.T) {
	tab, _ := NewTable(seedPairs)
	r := rand.New(rand.NewPCG(53, 54))
	L, G := seedPairs[1].InsideLocal, seedPairs[1].InsideGlobal
	for _, et := range errorTypes {
		t.Run(et.name, func(t *testing.T) {
			for i := 0; i < 300; i++ {
				kind := r.IntN(numKinds)
				O := r.Uint32()
				sent := buildIPv4(r, kind, O, G, 0, randBytes(r, r.IntN(600)))
				in := append([]byte(nil), sent...)
				rw := tab.Inbound(O, G)
				if !rw.Apply(packet.IPv4(in)) {
					t.Fatal("inbound translation failed")
				}
				quoteLen := packet.IPv4(in).HeaderLength() + 8 + r.IntN(et.quoteLimit)
				if kind == kindTCP && quoteLen == packet.IPv4(in).HeaderLength()+17 {
					quoteLen++ // half a checksum field: TestICMPErrorCutChecksum
				}
				b := buildICMPError(r, L, O, et.typ, et.code, in, quoteLen)
				ip := packet.IPv4(b)
				if !tab.OutboundICMPError(ip) {
					t.Fatalf("#%d: OutboundICMPError refused", i)
				}
				if ip.Src() != G || ip.Dst() != O {
					t.Fatalf("outer %#x -> %#x, want %#x -> %#x", ip.Src(), ip.Dst(), G, O)
				}
				if quote := packet.ICMPv4(ip.Payload()).Payload(); !bytes.Equal(quote, sent[:len(quote)]) {
					t.Fatalf("#%d kind %d quote:\n%x\nwant\n%x", i, kind, quote, sent[:len(quote)])
				}
				checkICMPChecksums(t, b)
			}
		})
	}
}

// TestICMPErrorUnmapped: errors that refer to no mapped address pass
// unchanged; non-errors and malformed errors are refused unchanged.
func TestICMPErrorUnmapped(t *testing.T) {
	tab, _ := NewTable(seedPairs)
	r := rand.New(rand.NewPCG(55, 56))
	other := ip4(10, 10, 10, 9)
	dgram := buildIPv4(r, kindUDP, other, ip4(8, 8, 8, 8), 0, []byte("query"))
	shortQuote := buildICMPError(r, ip4(8, 8, 8, 8), ip4(172, 22, 1, 110), packet.DestUnreachable, packet.CodePortUnreachable, dgram, 19)
	echo := buildIPv4(r, kindICMPEcho, ip4(8, 8, 8, 8), ip4(172, 22, 1, 110), 0, []byte("ping"))
	tests := []struct {
		name string
		b    []byte
		ok   bool
		same bool
	}{
		{"unmapped quote and outer", buildICMPError(r, ip4(8, 8, 8, 8), ip4(172, 22, 1, 16), packet.DestUnreachable, 3, dgram, 100), true, true},
		{"echo is not an error", echo, false, true},
		{"quote shorter than an ip header", shortQuote, false, true},
		{"udp is not icmp", dgram, false, true},
		{"only outer mapped", buildICMPError(r, ip4(8, 8, 8, 8), ip4(172, 22, 1, 110), packet.DestUnreachable, 3, dgram, 100), true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := append([]byte(nil), tt.b...)
			ip := packet.IPv4(tt.b)
			if got := tab.InboundICMPError(ip); got != tt.ok {
				t.Fatalf("InboundICMPError = %v, want %v", got, tt.ok)
			}
			if same := bytes.Equal(tt.b, orig); same != tt.same {
				t.Fatalf("unchanged = %v, want %v", same, tt.same)
			}
			if !tt.same {
				if ip.Dst() != ip4(10, 10, 10, 2) {
					t.Errorf("outer dst %#x", ip.Dst())
				}
				checkICMPChecksums(t, tt.b)
			}
		})
	}
}

// TestICMPErrorCutChecksum: a quote ending after the first byte of the TCP
// checksum leaves that byte alone; everything else is translated and every
// checksum stays valid.
func TestICMPErrorCutChecksum(t *testing.T) {
	tab, _ := NewTable(seedPairs)
	r := rand.New(rand.NewPCG(63, 64))
	L, G, O := seedPairs[0].InsideLocal, seedPairs[0].InsideGlobal, ip4(8, 8, 8, 8)
	for i := 0; i < 50; i++ {
		sent := buildIPv4(r, kindTCP, L, O, 0, randBytes(r, 10))
		out := append([]byte(nil), sent...)
		rw := tab.Outbound(L, O)
		rw.Apply(packet.IPv4(out))
		hl := packet.IPv4(out).HeaderLength()
		b := buildICMPError(r, O, G, packet.DestUnreachable, packet.CodeHostUnreachable, out, hl+17)
		ip := packet.IPv4(b)
		if !tab.InboundICMPError(ip) {
			t.Fatal("refused")
		}
		quote := packet.ICMPv4(ip.Payload()).Payload()
		if len(quote) != hl+17 {
			t.Fatalf("quote length %d", len(quote))
		}
		if !bytes.Equal(quote[:hl+16], sent[:hl+16]) || quote[hl+16] != out[hl+16] {
			t.Fatalf("quote:\n%x\nsent\n%x\nout\n%x", quote, sent[:hl+17], out[:hl+17])
		}
		checkICMPChecksums(t, b)
	}
}

// TestTranslateICMPErrorFields: each address field is translated only if it
// holds the rewrite's old value; the flow rewrite and its Quoted() form
// translate an error travelling in the flow's direction.
func TestTranslateICMPErrorFields(t *testing.T) {
	r := rand.New(rand.NewPCG(57, 58))
	L, G, O, R := ip4(10, 10, 10, 2), ip4(172, 22, 1, 110), ip4(8, 8, 8, 8), ip4(172, 22, 1, 1)
	reply := NewRewrite(O, O, G, L) // the flow's outside -> inside direction
	quoted := reply.Quoted()
	if oS, nS, oD, nD := quoted.Addrs(); oS != G || nS != L || oD != O || nD != O {
		t.Fatalf("Quoted addrs %#x %#x %#x %#x", oS, nS, oD, nD)
	}
	tests := []struct {
		name             string
		outerSrc         uint32
		outerDst         uint32
		quoteSrc         uint32
		wantDst, wantQSr uint32
		changed          bool
	}{
		{"from the peer", O, G, G, L, L, true},
		{"from a router on the path", R, G, G, L, L, true},
		{"quote not translated", O, G, ip4(172, 22, 1, 111), L, ip4(172, 22, 1, 111), true},
		{"outer to another address", O, ip4(172, 22, 1, 16), G, ip4(172, 22, 1, 16), L, true},
		{"nothing matches", O, ip4(172, 22, 1, 16), ip4(172, 22, 1, 16), ip4(172, 22, 1, 16), ip4(172, 22, 1, 16), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dgram := buildIPv4(r, kindTCP, tt.quoteSrc, O, 0, []byte("hello"))
			b := buildICMPError(r, tt.outerSrc, tt.outerDst, packet.DestUnreachable, packet.CodeHostUnreachable, dgram, 100)
			orig := append([]byte(nil), b...)
			ip := packet.IPv4(b)
			if !TranslateICMPError(ip, &reply, &quoted) {
				t.Fatal("refused")
			}
			q := packet.ICMPv4(ip.Payload()).InnerIPv4()
			if ip.Src() != tt.outerSrc || ip.Dst() != tt.wantDst || q.Src() != tt.wantQSr || q.Dst() != O {
				t.Errorf("outer %#x -> %#x, quote %#x -> %#x", ip.Src(), ip.Dst(), q.Src(), q.Dst())
			}
			if changed := !bytes.Equal(b, orig); changed != tt.changed {
				t.Errorf("changed = %v, want %v", changed, tt.changed)
			}
			checkICMPChecksums(t, b)
		})
	}
}

func TestICMPErrorDoesNotAllocate(t *testing.T) {
	tab, _ := NewTable(seedPairs)
	r := rand.New(rand.NewPCG(59, 60))
	L, G, O := seedPairs[0].InsideLocal, seedPairs[0].InsideGlobal, ip4(8, 8, 8, 8)
	dgram := buildIPv4(r, kindTCP, G, O, 0, make([]byte, 40))
	b := buildICMPError(r, O, G, packet.DestUnreachable, packet.CodePortUnreachable, dgram, 100)
	ip := packet.IPv4(b)
	outer := NewRewrite(O, O, G, L)
	inner := NewRewrite(G, L, O, O)
	outerBack, innerBack := outer.Inverse(), inner.Inverse()
	allocs := testing.AllocsPerRun(1000, func() {
		if !TranslateICMPError(ip, &outer, &inner) || !TranslateICMPError(ip, &outerBack, &innerBack) {
			panic("translate failed")
		}
		if !tab.InboundICMPError(ip) {
			panic("inbound failed")
		}
		// back to the outside view for the next run
		if !TranslateICMPError(ip, &outerBack, &innerBack) {
			panic("translate back failed")
		}
	})
	if allocs != 0 {
		t.Errorf("ICMP error translation allocates %v per run", allocs)
	}
}

func BenchmarkInboundICMPError(b *testing.B) {
	tab, _ := NewTable(seedPairs)
	r := rand.New(rand.NewPCG(61, 62))
	L, G, O := seedPairs[0].InsideLocal, seedPairs[0].InsideGlobal, ip4(8, 8, 8, 8)
	dgram := buildIPv4(r, kindTCP, G, O, 0, make([]byte, 40))
	buf := buildICMPError(r, O, G, packet.DestUnreachable, packet.CodePortUnreachable, dgram, 100)
	ip := packet.IPv4(buf)
	back := [2]Rewrite{NewRewrite(O, O, L, G), NewRewrite(L, G, O, O)}
	b.ReportAllocs()
	for b.Loop() {
		tab.InboundICMPError(ip)
		TranslateICMPError(ip, &back[0], &back[1])
	}
}
