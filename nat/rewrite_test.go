package nat

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"testing"

	"cbac/packet"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func netIP(a uint32) net.IP { return net.IP{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)} }

// kind of L4 in built packets
const (
	kindTCP = iota
	kindUDP
	kindUDPNoChecksum
	kindICMPEcho
	kindOther // GRE-like protocol 47 with raw payload
	numKinds
)

// buildIPv4 serializes an IPv4 packet (no Ethernet) with gopacket, checksums
// computed. frag: 0 none, 1 first fragment (MF), 2 non-first fragment.
func buildIPv4(r *rand.Rand, kind int, src, dst uint32, frag int, payload []byte) []byte {
	ip := &layers.IPv4{
		Version: 4, TOS: uint8(r.Uint32()), Id: uint16(r.Uint32()), TTL: uint8(1 + r.IntN(255)),
		SrcIP: netIP(src), DstIP: netIP(dst),
	}
	if r.IntN(4) == 0 {
		ip.Options = []layers.IPv4Option{{OptionType: 7, OptionLength: 7, OptionData: randBytes(r, 5)}, {OptionType: 0, OptionLength: 1}}
	}
	var ls []gopacket.SerializableLayer
	switch kind {
	case kindTCP:
		ip.Protocol = layers.IPProtocolTCP
		tcp := &layers.TCP{SrcPort: layers.TCPPort(r.Uint32()), DstPort: layers.TCPPort(r.Uint32()),
			Seq: r.Uint32(), Ack: r.Uint32(), ACK: true, PSH: r.IntN(2) == 0, Window: uint16(r.Uint32())}
		if r.IntN(2) == 0 {
			tcp.Options = []layers.TCPOption{{OptionType: 2, OptionLength: 4, OptionData: []byte{5, 0xb4}}}
		}
		tcp.SetNetworkLayerForChecksum(ip)
		ls = append(ls, tcp)
	case kindUDP, kindUDPNoChecksum:
		ip.Protocol = layers.IPProtocolUDP
		udp := &layers.UDP{SrcPort: layers.UDPPort(r.Uint32()), DstPort: layers.UDPPort(r.Uint32())}
		udp.SetNetworkLayerForChecksum(ip)
		ls = append(ls, udp)
	case kindICMPEcho:
		ip.Protocol = layers.IPProtocolICMPv4
		ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(packet.Echo, 0), Id: uint16(r.Uint32()), Seq: uint16(r.Uint32())})
	default:
		ip.Protocol = 47
	}
	ls = append(ls, gopacket.Payload(payload))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, ls...); err != nil {
		panic(err)
	}
	l4 := append([]byte(nil), buf.Bytes()...)
	if kind == kindUDPNoChecksum {
		binary.BigEndian.PutUint16(l4[6:], 0)
	}
	if frag == 2 {
		// A non-first fragment: bytes from the middle of a datagram that
		// happen to look like anything.
		l4 = randBytes(r, 8*(1+r.IntN(20)))
		ip.FragOffset = uint16(1 + r.IntN(100))
	}
	if frag == 1 {
		ip.Flags = layers.IPv4MoreFragments
		l4 = l4[:len(l4)&^7]
	}
	buf = gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, ip, gopacket.Payload(l4)); err != nil {
		panic(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// l4Checksum returns the TCP/UDP checksum of an unfragmented or
// first-fragment packet as computed by gopacket over the whole datagram
// (re-serializing its decoded layers with ComputeChecksums), and whether
// there is one to compare.
func gopacketL4Checksum(t *testing.T, b []byte) (uint16, bool) {
	t.Helper()
	p := gopacket.NewPacket(b, layers.LayerTypeIPv4, gopacket.Default)
	gip, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if !ok {
		t.Fatalf("gopacket cannot decode %x", b)
	}
	ipCopy := *gip
	var l gopacket.SerializableLayer
	var pay []byte
	var typ gopacket.LayerType
	switch x := p.Layer(layers.LayerTypeTCP).(type) {
	case *layers.TCP:
		c := *x
		c.SetNetworkLayerForChecksum(&ipCopy)
		l, pay, typ = &c, x.Payload, layers.LayerTypeTCP
	}
	if x, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok {
		c := *x
		c.SetNetworkLayerForChecksum(&ipCopy)
		l, pay, typ = &c, x.Payload, layers.LayerTypeUDP
	}
	if x, ok := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok {
		c := *x
		l, pay, typ = &c, x.Payload, layers.LayerTypeICMPv4
	}
	if l == nil {
		return 0, false
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, &ipCopy, l, gopacket.Payload(pay)); err != nil {
		t.Fatal(err)
	}
	re := gopacket.NewPacket(buf.Bytes(), layers.LayerTypeIPv4, gopacket.Default)
	switch x := re.Layer(typ).(type) {
	case *layers.TCP:
		return x.Checksum, true
	case *layers.UDP:
		return x.Checksum, true
	case *layers.ICMPv4:
		return x.Checksum, true
	}
	t.Fatal("re-decode lost the L4 layer")
	return 0, false
}

// gopacketIPChecksum returns gopacket's recomputation of the header checksum.
func gopacketIPChecksum(t *testing.T, b []byte) uint16 {
	t.Helper()
	gip := gopacket.NewPacket(b, layers.LayerTypeIPv4, gopacket.Default).Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	ipCopy := *gip
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, &ipCopy, gopacket.Payload(gip.Payload)); err != nil {
		t.Fatal(err)
	}
	return binary.BigEndian.Uint16(buf.Bytes()[10:])
}

func TestApplyAgainstGopacket(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for i := 0; i < 4000; i++ {
		kind := r.IntN(numKinds)
		frag := 0
		if r.IntN(4) == 0 {
			frag = 1 + r.IntN(2)
		}
		src, dst := r.Uint32(), r.Uint32()
		b := buildIPv4(r, kind, src, dst, frag, randBytes(r, r.IntN(200)))
		orig := append([]byte(nil), b...)
		ip := packet.IPv4(b)
		if !ip.IsValid() {
			t.Fatalf("#%d built packet invalid", i)
		}
		newSrc, newDst := src, dst
		switch r.IntN(3) {
		case 0:
			newSrc = r.Uint32()
		case 1:
			newDst = r.Uint32()
		default:
			newSrc, newDst = r.Uint32(), r.Uint32()
		}
		rw := NewRewrite(src, newSrc, dst, newDst)
		if frag == 1 && len(ip.Payload()) < 20 && (kind == kindTCP) {
			if rw.Apply(ip) || !bytes.Equal(b, orig) {
				t.Fatalf("#%d truncated first fragment accepted or modified", i)
			}
			continue
		}
		if !rw.Apply(ip) {
			t.Fatalf("#%d kind %d frag %d: Apply failed", i, kind, frag)
		}
		if ip.Src() != newSrc || ip.Dst() != newDst {
			t.Fatalf("#%d addresses not rewritten", i)
		}
		if got, want := ip.HeaderChecksum(), gopacketIPChecksum(t, b); got != want || !ip.ChecksumValid() {
			t.Fatalf("#%d ip checksum %#x, gopacket %#x", i, got, want)
		}
		if frag == 0 {
			got := uint16(0)
			switch kind {
			case kindTCP:
				got = packet.TCP(ip.Payload()).Checksum()
			case kindUDP, kindUDPNoChecksum:
				got = packet.UDP(ip.Payload()).Checksum()
			case kindICMPEcho:
				got = packet.ICMPv4(ip.Payload()).Checksum()
			}
			want, ok := gopacketL4Checksum(t, b)
			switch {
			case kind == kindUDPNoChecksum:
				if got != 0 {
					t.Fatalf("#%d absent UDP checksum set to %#x", i, got)
				}
			case kind == kindOther:
				if ok {
					t.Fatal("gopacket found an L4 layer in protocol 47")
				}
			case !ok || got != want:
				t.Fatalf("#%d kind %d: l4 checksum %#x, gopacket %#x", i, kind, got, want)
			}
		}
		if frag == 1 {
			// The first fragment's L4 checksum covers the whole datagram:
			// check that the change equals the pseudo-header change.
			var off int
			switch kind {
			case kindTCP:
				off = 16
			case kindUDP:
				off = 6
			}
			if off != 0 {
				hl := ip.HeaderLength()
				old := binary.BigEndian.Uint16(orig[hl+off:])
				want := packet.ChecksumUpdate32(packet.ChecksumUpdate32(old, src, newSrc), dst, newDst)
				if kind == kindUDP && want == 0 {
					want = 0xffff
				}
				if got := binary.BigEndian.Uint16(b[hl+off:]); got != want {
					t.Fatalf("#%d first fragment l4 checksum %#x, want %#x", i, got, want)
				}
			}
		}
		// Only addresses and checksums changed; the inverse restores the
		// original bytes exactly.
		inv := rw.Inverse()
		if !inv.Apply(ip) {
			t.Fatalf("#%d inverse failed", i)
		}
		if !bytes.Equal(b, orig) {
			t.Fatalf("#%d kind %d frag %d: inverse did not restore:\n%x\n%x", i, kind, frag, b, orig)
		}
	}
}

func TestApplyRefuses(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	src, dst := ip4(10, 10, 10, 2), ip4(8, 8, 8, 8)
	tests := []struct {
		name  string
		b     []byte
		rw    Rewrite
		apply bool
	}{
		{"wrong source", buildIPv4(r, kindTCP, ip4(10, 10, 10, 3), dst, 0, nil), NewRewrite(src, ip4(172, 22, 1, 110), dst, dst), false},
		{"wrong destination", buildIPv4(r, kindUDP, src, dst, 0, nil), NewRewrite(src, src, ip4(8, 8, 4, 4), src), false},
		{"dst not checked when unchanged", buildIPv4(r, kindUDP, src, ip4(1, 1, 1, 1), 0, nil), NewRewrite(src, ip4(172, 22, 1, 110), dst, dst), true},
		{"tiny TCP first fragment", tinyFragment(r, packet.ProtoTCP, 16), NewRewrite(src, ip4(172, 22, 1, 110), dst, dst), false},
		{"tiny UDP first fragment", tinyFragment(r, packet.ProtoUDP, 0), NewRewrite(src, ip4(172, 22, 1, 110), dst, dst), false},
		{"tiny ICMP first fragment", tinyFragment(r, packet.ProtoICMP, 0), NewRewrite(src, ip4(172, 22, 1, 110), dst, dst), true},
		{"identity", buildIPv4(r, kindTCP, 1, 2, 0, nil), Rewrite{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := append([]byte(nil), tt.b...)
			ip := packet.IPv4(tt.b)
			if !ip.IsValid() {
				t.Fatal("test packet invalid")
			}
			if got := tt.rw.Apply(ip); got != tt.apply {
				t.Fatalf("Apply = %v, want %v", got, tt.apply)
			}
			if !tt.apply && !bytes.Equal(tt.b, orig) {
				t.Error("refused packet was modified")
			}
			if !ip.ChecksumValid() {
				t.Error("ip checksum broken")
			}
		})
	}
}

// tinyFragment returns a first fragment (MF) from 10.10.10.2 to 8.8.8.8 of
// protocol proto carrying n bytes.
func tinyFragment(r *rand.Rand, proto uint8, n int) []byte {
	b := make([]byte, 20+n)
	packet.WriteIPv4Header(b, ip4(10, 10, 10, 2), ip4(8, 8, 8, 8), proto, 64, n, 1)
	b[6] = 0x20
	ip := packet.IPv4(b)
	copy(ip.Payload(), randBytes(r, n))
	ip.SetChecksum(ip.CalculateChecksum())
	return b
}

func TestApplyDoesNotAllocate(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	b := buildIPv4(r, kindTCP, ip4(10, 10, 10, 2), ip4(8, 8, 8, 8), 0, make([]byte, 100))
	fwd := NewRewrite(ip4(10, 10, 10, 2), ip4(172, 22, 1, 110), ip4(8, 8, 8, 8), ip4(8, 8, 8, 8))
	back := fwd.Inverse()
	ip := packet.IPv4(b)
	allocs := testing.AllocsPerRun(1000, func() {
		if !fwd.Apply(ip) || !back.Apply(ip) {
			panic("apply failed")
		}
	})
	if allocs != 0 {
		t.Errorf("Apply allocates %v per run", allocs)
	}
}

func BenchmarkApply(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, k := range []struct {
		name string
		kind int
	}{{"TCP", kindTCP}, {"UDP", kindUDP}, {"ICMPEcho", kindICMPEcho}} {
		buf := buildIPv4(r, k.kind, ip4(10, 10, 10, 2), ip4(8, 8, 8, 8), 0, make([]byte, 64))
		ip := packet.IPv4(buf)
		fwd := NewRewrite(ip4(10, 10, 10, 2), ip4(172, 22, 1, 110), ip4(8, 8, 8, 8), ip4(8, 8, 8, 8))
		rws := [2]Rewrite{fwd, fwd.Inverse()}
		b.Run(k.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				rws[i&1].Apply(ip)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pps")
		})
	}
}
