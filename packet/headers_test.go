package packet

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Golden frames, built once with gopacket (SerializeOptions{ComputeChecksums,
// FixLengths}); gopacket pads frames to 60 bytes.
var (
	// Ethernet 02:00:00:00:00:02 -> 02:00:00:00:00:01, IPv4
	// IPv4 10.10.10.5 -> 172.22.1.1, id 0x1c46, DF, ttl 64, TCP, total 52, csum 0x5d58
	// TCP 40000 -> 25, seq 0x01020304, ack 0, SYN, win 64240, csum 0x139c,
	//     options: MSS 1460, SACK-permitted, NOP, wscale 7, EOL EOL (data offset 32)
	goldenTCPSyn = mustHex("0200000000010200000000020800450000341c46400040065d580a0a0a05ac1601019c40001901020304000000008002faf0139c0000020405b40402010303070000")
	// Ethernet 02:00:00:00:00:02 -> 02:00:00:00:00:01, IPv4
	// IPv4 10.10.10.5 -> 172.22.1.1, id 0x1c46, ttl 64, UDP, total 32, csum 0x9d61
	// UDP 53000 -> 53, length 12, csum 0xaaac, payload "cbac"; 14 bytes padding
	goldenUDP = mustHex("0200000000010200000000020800450000201c46000040119d610a0a0a05ac160101cf080035000caaac636261630000000000000000000000000000")
	// Ethernet 02:00:00:00:00:02 -> 02:00:00:00:00:01, IPv4
	// IPv4 10.10.10.5 -> 172.22.1.1, id 0x1c46, ttl 64, ICMP, total 32, csum 0x9d71
	// ICMP echo request, code 0, csum 0xd6eb, id 0x4242, seq 1, data "ping"
	goldenICMPEcho = mustHex("0200000000010200000000020800450000201c46000040019d710a0a0a05ac1601010800d6eb4242000170696e670000000000000000000000000000")
	// Ethernet 02:00:00:00:00:02 -> ff:ff:ff:ff:ff:ff, ARP
	// ARP request: who-has 10.10.10.1 tell 10.10.10.5 (02:00:00:00:00:02)
	goldenARPRequest = mustHex("ffffffffffff020000000002080600010800060400010200000000020a0a0a050000000000000a0a0a01000000000000000000000000000000000000")
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func ip4(a, b, c, d byte) uint32 { return uint32(a)<<24 | uint32(b)<<16 | uint32(c)<<8 | uint32(d) }

func TestGoldenTCPSyn(t *testing.T) {
	e := Ethernet(goldenTCPSyn)
	if !e.IsValid() || e.Type() != EtherTypeIPv4 {
		t.Fatal("ethernet")
	}
	if e.Src() != (MAC{2, 0, 0, 0, 0, 2}) || e.Dst() != (MAC{2, 0, 0, 0, 0, 1}) {
		t.Errorf("macs %v %v", e.Src(), e.Dst())
	}
	if got := e.Src().String(); got != "02:00:00:00:00:02" {
		t.Errorf("MAC.String %q", got)
	}
	ip := IPv4(e.Payload())
	if !ip.IsValid() || !ip.ChecksumValid() {
		t.Fatal("ipv4 invalid")
	}
	checks := []struct {
		name      string
		got, want uint64
	}{
		{"version", uint64(ip.Version()), 4},
		{"ihl", uint64(ip.IHL()), 5},
		{"header length", uint64(ip.HeaderLength()), 20},
		{"total length", uint64(ip.TotalLength()), 52},
		{"payload length", uint64(len(ip.Payload())), 32},
		{"id", uint64(ip.ID()), 0x1c46},
		{"flags", uint64(ip.Flags()), IPv4FlagDontFragment},
		{"df", b2u(ip.DontFragment()), 1},
		{"fragment", b2u(ip.IsFragment()), 0},
		{"ttl", uint64(ip.TTL()), 64},
		{"protocol", uint64(ip.Protocol()), uint64(ProtoTCP)},
		{"checksum", uint64(ip.HeaderChecksum()), 0x5d58},
		{"computed checksum", uint64(ip.CalculateChecksum()), 0x5d58},
		{"src", uint64(ip.Src()), uint64(ip4(10, 10, 10, 5))},
		{"dst", uint64(ip.Dst()), uint64(ip4(172, 22, 1, 1))},
	}
	tcp := TCP(ip.Payload())
	if !tcp.IsValid() {
		t.Fatal("tcp invalid")
	}
	ws, mss, sack := tcp.ParseOptions()
	checks = append(checks, []struct {
		name      string
		got, want uint64
	}{
		{"sport", uint64(tcp.SrcPort()), 40000},
		{"dport", uint64(tcp.DstPort()), 25},
		{"seq", uint64(tcp.Seq()), 0x01020304},
		{"ack", uint64(tcp.Ack()), 0},
		{"data offset", uint64(tcp.DataOffset()), 32},
		{"flags", uint64(tcp.Flags()), uint64(SYN)},
		{"window", uint64(tcp.Window()), 64240},
		{"tcp checksum", uint64(tcp.Checksum()), 0x139c},
		{"tcp computed", uint64(tcp.CalculateChecksum(ip.Src(), ip.Dst())), 0x139c},
		{"urgent", uint64(tcp.UrgentPointer()), 0},
		{"options", uint64(len(tcp.Options())), 12},
		{"payload", uint64(len(tcp.Payload())), 0},
		{"wscale", uint64(ws), 7},
		{"mss", uint64(mss), 1460},
		{"sackperm", b2u(sack), 1},
	}...)
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
	if !tcp.ChecksumValid(ip.Src(), ip.Dst()) {
		t.Error("tcp checksum invalid")
	}
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func TestGoldenUDP(t *testing.T) {
	ip := IPv4(Ethernet(goldenUDP).Payload())
	if !ip.IsValid() || !ip.ChecksumValid() {
		t.Fatal("ipv4")
	}
	if len(ip) != 46 || len(ip.Payload()) != 12 {
		t.Fatalf("padding not excluded: len %d payload %d", len(ip), len(ip.Payload()))
	}
	u := UDP(ip.Payload())
	if !u.IsValid() {
		t.Fatal("udp")
	}
	if u.SrcPort() != 53000 || u.DstPort() != 53 || u.Length() != 12 || u.Checksum() != 0xaaac {
		t.Errorf("udp fields %d %d %d %#x", u.SrcPort(), u.DstPort(), u.Length(), u.Checksum())
	}
	if string(u.Payload()) != "cbac" {
		t.Errorf("payload %q", u.Payload())
	}
	if c := u.CalculateChecksum(ip.Src(), ip.Dst()); c != 0xaaac {
		t.Errorf("computed %#x", c)
	}
	if !u.ChecksumValid(ip.Src(), ip.Dst()) {
		t.Error("checksum invalid")
	}
}

func TestGoldenICMPEcho(t *testing.T) {
	ip := IPv4(Ethernet(goldenICMPEcho).Payload())
	if !ip.IsValid() {
		t.Fatal("ipv4")
	}
	m := ICMPv4(ip.Payload())
	if !m.IsValid() || m.IsError() {
		t.Fatal("icmp")
	}
	if m.Type() != Echo || m.Code() != 0 || m.Checksum() != 0xd6eb || m.Ident() != 0x4242 || m.Seq() != 1 {
		t.Errorf("icmp fields %d %d %#x %#x %d", m.Type(), m.Code(), m.Checksum(), m.Ident(), m.Seq())
	}
	if string(m.Payload()) != "ping" || m.CalculateChecksum() != 0xd6eb || !m.ChecksumValid() {
		t.Error("payload/checksum")
	}
	if m.InnerIPv4() != nil {
		t.Error("echo payload parsed as inner header")
	}
}

func TestGoldenARP(t *testing.T) {
	frame := append([]byte(nil), goldenARPRequest...)
	e := Ethernet(frame)
	a := ARP(e.Payload())
	if e.Type() != EtherTypeARP || !a.IsValid() {
		t.Fatal("arp")
	}
	if a.Op() != ARPRequest || a.SenderMAC() != (MAC{2, 0, 0, 0, 0, 2}) || a.SenderIP() != ip4(10, 10, 10, 5) ||
		a.TargetMAC() != (MAC{}) || a.TargetIP() != ip4(10, 10, 10, 1) {
		t.Errorf("arp fields")
	}
	// The request we would write is the golden one, up to padding.
	var req [64]byte
	n := WriteARPRequest(req[:], MAC{2, 0, 0, 0, 0, 2}, ip4(10, 10, 10, 5), ip4(10, 10, 10, 1))
	if n != ARPFrameLen || !bytes.Equal(req[:n], goldenARPRequest[:n]) {
		t.Errorf("WriteARPRequest:\n%x\n%x", req[:n], goldenARPRequest[:n])
	}
	if WriteARPRequest(req[:ARPFrameLen-1], MAC{}, 0, 0) != 0 {
		t.Error("short buffer accepted")
	}

	our := MAC{2, 0, 0, 0, 0, 1}
	if !BuildARPReply(frame, our) {
		t.Fatal("BuildARPReply refused a request")
	}
	if e.Dst() != (MAC{2, 0, 0, 0, 0, 2}) || e.Src() != our || e.Type() != EtherTypeARP {
		t.Errorf("ethernet of reply %v %v", e.Dst(), e.Src())
	}
	if a.Op() != ARPReply || a.SenderMAC() != our || a.SenderIP() != ip4(10, 10, 10, 1) ||
		a.TargetMAC() != (MAC{2, 0, 0, 0, 0, 2}) || a.TargetIP() != ip4(10, 10, 10, 5) {
		t.Errorf("reply fields")
	}
	// gopacket agrees.
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	ga, ok := p.Layer(layers.LayerTypeARP).(*layers.ARP)
	if !ok || ga.Operation != 2 || !bytes.Equal(ga.SourceHwAddress, our[:]) || !bytes.Equal(ga.DstProtAddress, []byte{10, 10, 10, 5}) {
		t.Errorf("gopacket decode of reply: %+v", ga)
	}
	if BuildARPReply(frame, our) {
		t.Error("BuildARPReply accepted a reply")
	}
	var rep [ARPFrameLen]byte
	if WriteARPReply(rep[:], our, ip4(10, 10, 10, 1), MAC{2, 0, 0, 0, 0, 2}, ip4(10, 10, 10, 5)) != ARPFrameLen ||
		!bytes.Equal(rep[:], frame[:ARPFrameLen]) {
		t.Errorf("WriteARPReply differs from BuildARPReply:\n%x\n%x", rep[:], frame[:ARPFrameLen])
	}
}

func TestIPString(t *testing.T) {
	for _, tt := range []struct {
		a    uint32
		want string
	}{{0, "0.0.0.0"}, {ip4(10, 10, 10, 2), "10.10.10.2"}, {ip4(172, 22, 1, 110), "172.22.1.110"}, {0xffffffff, "255.255.255.255"}} {
		if got := IPString(tt.a); got != tt.want {
			t.Errorf("IPString(%#x) = %q, want %q", tt.a, got, tt.want)
		}
	}
}

func TestWriteIPv4Header(t *testing.T) {
	var b [40]byte
	if WriteIPv4Header(b[:19], 1, 2, ProtoTCP, 64, 20, 7) != 0 {
		t.Error("short buffer accepted")
	}
	if WriteIPv4Header(b[:], 1, 2, ProtoTCP, 64, 65516, 7) != 0 {
		t.Error("oversized payload accepted")
	}
	n := WriteIPv4Header(b[:], ip4(172, 22, 1, 16), ip4(172, 22, 1, 1), ProtoTCP, 255, 20, 0xbeef)
	ip := IPv4(b[:])
	if n != 20 || !ip.IsValid() || !ip.ChecksumValid() {
		t.Fatal("invalid header written")
	}
	p := gopacket.NewPacket(b[:], layers.LayerTypeIPv4, gopacket.Default)
	g, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if !ok || g.TTL != 255 || g.Id != 0xbeef || g.Length != 40 || g.Protocol != layers.IPProtocolTCP ||
		!g.SrcIP.Equal(net.IP{172, 22, 1, 16}) || !g.DstIP.Equal(net.IP{172, 22, 1, 1}) {
		t.Errorf("gopacket sees %+v", g)
	}
}

// randomPacket builds a random Ethernet/IPv4 frame with gopacket (TCP, UDP
// or ICMP echo, random IP and TCP options, random payload, sometimes a
// fragment flag) and returns it with the decoded layers.
type builtPacket struct {
	frame []byte
	ip    *layers.IPv4
	tcp   *layers.TCP
	udp   *layers.UDP
	icmp  *layers.ICMPv4
	pay   []byte
}

func randomPacket(r *rand.Rand) builtPacket {
	eth := &layers.Ethernet{
		SrcMAC:       net.HardwareAddr(randBytes(r, 6)),
		DstMAC:       net.HardwareAddr(randBytes(r, 6)),
		EthernetType: layers.EthernetTypeIPv4,
	}
	ip := &layers.IPv4{
		Version: 4, TOS: uint8(r.Uint32()), Id: uint16(r.Uint32()), TTL: uint8(1 + r.IntN(255)),
		SrcIP: net.IP(randBytes(r, 4)), DstIP: net.IP(randBytes(r, 4)),
	}
	if r.IntN(2) == 0 {
		ip.Flags = layers.IPv4DontFragment
	}
	if r.IntN(3) == 0 {
		// Record-route style option padded to a multiple of 4.
		l := 3 + 4*r.IntN(3)
		ip.Options = []layers.IPv4Option{{OptionType: 7, OptionLength: uint8(l), OptionData: randBytes(r, l-2)}, {OptionType: 0, OptionLength: 1}}
	}
	pay := randBytes(r, r.IntN(300))
	bp := builtPacket{pay: pay}
	var l4 gopacket.SerializableLayer
	switch r.IntN(3) {
	case 0:
		ip.Protocol = layers.IPProtocolTCP
		tcp := &layers.TCP{
			SrcPort: layers.TCPPort(r.Uint32()), DstPort: layers.TCPPort(r.Uint32()),
			Seq: r.Uint32(), Ack: r.Uint32(), Window: uint16(r.Uint32()), Urgent: uint16(r.Uint32()),
			FIN: r.IntN(2) == 0, SYN: r.IntN(2) == 0, RST: r.IntN(2) == 0, PSH: r.IntN(2) == 0,
			ACK: r.IntN(2) == 0, URG: r.IntN(2) == 0, ECE: r.IntN(2) == 0, CWR: r.IntN(2) == 0,
		}
		if r.IntN(2) == 0 {
			tcp.Options = append(tcp.Options, layers.TCPOption{OptionType: 2, OptionLength: 4, OptionData: randBytes(r, 2)})
		}
		if r.IntN(2) == 0 {
			tcp.Options = append(tcp.Options, layers.TCPOption{OptionType: 1})
		}
		if r.IntN(2) == 0 {
			tcp.Options = append(tcp.Options, layers.TCPOption{OptionType: 3, OptionLength: 3, OptionData: []byte{byte(r.IntN(16))}})
		}
		if r.IntN(2) == 0 {
			tcp.Options = append(tcp.Options, layers.TCPOption{OptionType: 4, OptionLength: 2})
		}
		tcp.SetNetworkLayerForChecksum(ip)
		bp.tcp, l4 = tcp, tcp
	case 1:
		ip.Protocol = layers.IPProtocolUDP
		udp := &layers.UDP{SrcPort: layers.UDPPort(r.Uint32()), DstPort: layers.UDPPort(r.Uint32())}
		udp.SetNetworkLayerForChecksum(ip)
		bp.udp, l4 = udp, udp
	default:
		ip.Protocol = layers.IPProtocolICMPv4
		typ := Echo
		if r.IntN(2) == 0 {
			typ = EchoReply
		}
		icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0), Id: uint16(r.Uint32()), Seq: uint16(r.Uint32())}
		bp.icmp, l4 = icmp, icmp
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, l4, gopacket.Payload(pay)); err != nil {
		panic(err)
	}
	bp.frame = append([]byte(nil), buf.Bytes()...)
	bp.ip = ip
	return bp
}

func TestAccessorsAgainstGopacket(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for i := 0; i < 3000; i++ {
		bp := randomPacket(r)
		p := gopacket.NewPacket(bp.frame, layers.LayerTypeEthernet, gopacket.Default)
		geth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		gip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		e := Ethernet(bp.frame)
		if !e.IsValid() || e.Type() != uint16(geth.EthernetType) ||
			!bytes.Equal(e.Src().slice(), geth.SrcMAC) || !bytes.Equal(e.Dst().slice(), geth.DstMAC) {
			t.Fatalf("#%d ethernet mismatch", i)
		}
		ip := IPv4(e.Payload())
		if !ip.IsValid() || !ip.ChecksumValid() {
			t.Fatalf("#%d: ipv4 not valid: %x", i, ip)
		}
		if ip.IHL() != gip.IHL || ip.TOS() != gip.TOS || ip.TotalLength() != gip.Length || ip.ID() != gip.Id ||
			ip.Flags() != uint8(gip.Flags) || ip.FragmentOffset() != gip.FragOffset*8 || ip.TTL() != gip.TTL ||
			ip.Protocol() != uint8(gip.Protocol) || ip.HeaderChecksum() != gip.Checksum ||
			ip.CalculateChecksum() != gip.Checksum ||
			ip.Src() != binary.BigEndian.Uint32(gip.SrcIP.To4()) || ip.Dst() != binary.BigEndian.Uint32(gip.DstIP.To4()) ||
			!bytes.Equal(ip.Payload(), gip.Payload) {
			t.Fatalf("#%d: ipv4 mismatch %x vs %+v", i, ip, gip)
		}
		switch {
		case bp.tcp != nil:
			g := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
			tc := TCP(ip.Payload())
			if !tc.IsValid() {
				t.Fatalf("#%d tcp invalid", i)
			}
			if tc.SrcPort() != uint16(g.SrcPort) || tc.DstPort() != uint16(g.DstPort) || tc.Seq() != g.Seq || tc.Ack() != g.Ack ||
				tc.DataOffset() != int(g.DataOffset)*4 || tc.Window() != g.Window || tc.Checksum() != g.Checksum ||
				tc.UrgentPointer() != g.Urgent || tc.CalculateChecksum(ip.Src(), ip.Dst()) != g.Checksum ||
				!bytes.Equal(tc.Payload(), g.Payload) {
				t.Fatalf("#%d tcp mismatch", i)
			}
			var flags uint8
			for bit, set := range []bool{g.FIN, g.SYN, g.RST, g.PSH, g.ACK, g.URG, g.ECE, g.CWR} {
				if set {
					flags |= 1 << bit
				}
			}
			if tc.Flags() != flags {
				t.Fatalf("#%d flags %#x want %#x", i, tc.Flags(), flags)
			}
			ws, mss, sack := tc.ParseOptions()
			wantWS, wantMSS, wantSack := int8(-1), uint16(0), false
			for _, o := range g.Options {
				switch o.OptionType {
				case 2:
					wantMSS = binary.BigEndian.Uint16(o.OptionData)
				case 3:
					wantWS = min(int8(o.OptionData[0]), 14)
				case 4:
					wantSack = true
				}
			}
			if ws != wantWS || mss != wantMSS || sack != wantSack {
				t.Fatalf("#%d options %d %d %v want %d %d %v", i, ws, mss, sack, wantWS, wantMSS, wantSack)
			}
		case bp.udp != nil:
			g := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
			u := UDP(ip.Payload())
			if !u.IsValid() || u.SrcPort() != uint16(g.SrcPort) || u.DstPort() != uint16(g.DstPort) ||
				u.Length() != g.Length || u.Checksum() != g.Checksum || u.CalculateChecksum(ip.Src(), ip.Dst()) != g.Checksum ||
				!bytes.Equal(u.Payload(), g.Payload) {
				t.Fatalf("#%d udp mismatch", i)
			}
		default:
			g := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
			m := ICMPv4(ip.Payload())
			if !m.IsValid() || m.Type() != g.TypeCode.Type() || m.Code() != g.TypeCode.Code() || m.Checksum() != g.Checksum ||
				m.Ident() != g.Id || m.Seq() != g.Seq || m.CalculateChecksum() != g.Checksum || !bytes.Equal(m.Payload(), g.Payload) {
				t.Fatalf("#%d icmp mismatch", i)
			}
		}
	}
}

func (m MAC) slice() []byte { return m[:] }

// TestSettersAgainstFullRecompute applies every checksum-fixing setter to
// random packets and checks the result against a full recomputation (ours,
// itself checked against gopacket above) and against gopacket's decoding.
func TestSettersAgainstFullRecompute(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	for i := 0; i < 3000; i++ {
		bp := randomPacket(r)
		ip := IPv4(Ethernet(bp.frame).Payload())
		newSrc, newDst := r.Uint32(), r.Uint32()
		ip.SetSrcWithChecksum(newSrc)
		ip.SetDstWithChecksum(newDst)
		ip.DecTTLWithChecksum()
		ip.SetTotalLengthWithChecksum(ip.TotalLength())
		ip.SetTTLWithChecksum(ip.TTL() + 1)
		ip.DecTTLWithChecksum()
		if ip.HeaderChecksum() != ip.CalculateChecksum() || !ip.ChecksumValid() {
			t.Fatalf("#%d ip checksum %#x want %#x", i, ip.HeaderChecksum(), ip.CalculateChecksum())
		}
		if ip.Src() != newSrc || ip.Dst() != newDst || ip.TTL() != bp.ip.TTL-1 {
			t.Fatalf("#%d ip fields not set", i)
		}
		sp, dp := uint16(r.Uint32()), uint16(r.Uint32())
		switch ip.Protocol() {
		case ProtoTCP:
			tc := TCP(ip.Payload())
			// Fix the pseudo-header part first, as NAT does.
			tc.SetChecksum(tc.CalculateChecksum(ip.Src(), ip.Dst()))
			tc.SetSrcPortWithChecksum(sp)
			tc.SetDstPortWithChecksum(dp)
			tc.SetSeqWithChecksum(r.Uint32())
			tc.SetAckWithChecksum(r.Uint32())
			tc.SetWindowWithChecksum(uint16(r.Uint32()))
			if tc.Checksum() != tc.CalculateChecksum(ip.Src(), ip.Dst()) || !tc.ChecksumValid(ip.Src(), ip.Dst()) {
				t.Fatalf("#%d tcp checksum %#x want %#x", i, tc.Checksum(), tc.CalculateChecksum(ip.Src(), ip.Dst()))
			}
			if pl := tc.Payload(); len(pl) > 2 {
				off := r.IntN(len(pl) - 1)
				n := 1 + r.IntN(len(pl)-off)
				old := append([]byte(nil), pl[off:off+n]...)
				copy(pl[off:off+n], randBytes(r, n))
				tc.SetChecksum(ChecksumUpdateBytes(tc.Checksum(), tc.DataOffset()+off, old, pl[off:off+n]))
				if !tc.ChecksumValid(ip.Src(), ip.Dst()) {
					t.Fatalf("#%d ChecksumUpdateBytes at payload offset %d len %d", i, off, n)
				}
			}
			if tc.SrcPort() != sp || tc.DstPort() != dp {
				t.Fatal("ports not set")
			}
		case ProtoUDP:
			u := UDP(ip.Payload())
			if r.IntN(3) == 0 {
				u.SetChecksum(0)
				u.SetSrcPortWithChecksum(sp)
				u.SetDstPortWithChecksum(dp)
				if u.Checksum() != 0 {
					t.Fatalf("#%d absent UDP checksum became %#x", i, u.Checksum())
				}
			} else {
				u.SetChecksum(u.CalculateChecksum(ip.Src(), ip.Dst()))
				u.SetSrcPortWithChecksum(sp)
				u.SetDstPortWithChecksum(dp)
				if u.Checksum() != u.CalculateChecksum(ip.Src(), ip.Dst()) || !u.ChecksumValid(ip.Src(), ip.Dst()) {
					t.Fatalf("#%d udp checksum %#x want %#x", i, u.Checksum(), u.CalculateChecksum(ip.Src(), ip.Dst()))
				}
			}
		case ProtoICMP:
			m := ICMPv4(ip.Payload())
			m.SetIdentWithChecksum(sp)
			m.SetTypeWithChecksum(EchoReply + Echo - m.Type())
			m.SetCodeWithChecksum(uint8(r.Uint32()))
			if m.Checksum() != m.CalculateChecksum() || m.Ident() != sp {
				t.Fatalf("#%d icmp checksum", i)
			}
		}
		// gopacket re-decodes and agrees on the new checksums.
		p := gopacket.NewPacket(bp.frame, layers.LayerTypeEthernet, gopacket.Default)
		if err := p.ErrorLayer(); err != nil {
			t.Fatalf("#%d gopacket decode error %v", i, err.Error())
		}
		if ok, err := gopacketChecksumsMatch(p); !ok {
			t.Fatalf("#%d: %s", i, err)
		}
	}
}

// gopacketChecksumsMatch reserializes the decoded layers with
// ComputeChecksums and compares gopacket's checksums with the ones on the
// wire.
func gopacketChecksumsMatch(p gopacket.Packet) (bool, string) {
	gip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	ipCopy := *gip
	var l4 gopacket.SerializableLayer
	var l4Type gopacket.LayerType
	var wire uint16
	var pay []byte
	if l, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok {
		c := *l
		c.SetNetworkLayerForChecksum(&ipCopy)
		l4, l4Type, wire, pay = &c, layers.LayerTypeTCP, l.Checksum, l.Payload
	}
	if l, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok && l.Checksum != 0 {
		c := *l
		c.SetNetworkLayerForChecksum(&ipCopy)
		l4, l4Type, wire, pay = &c, layers.LayerTypeUDP, l.Checksum, l.Payload
	}
	if l, ok := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok {
		c := *l
		l4, l4Type, wire, pay = &c, layers.LayerTypeICMPv4, l.Checksum, l.Payload
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{ComputeChecksums: true}
	var err error
	if l4 != nil {
		err = gopacket.SerializeLayers(buf, opts, &ipCopy, l4, gopacket.Payload(pay))
	} else {
		err = gopacket.SerializeLayers(buf, opts, &ipCopy, gopacket.Payload(gip.Payload))
	}
	if err != nil {
		return false, err.Error()
	}
	re := gopacket.NewPacket(buf.Bytes(), layers.LayerTypeIPv4, gopacket.Default)
	if c := re.Layer(layers.LayerTypeIPv4).(*layers.IPv4).Checksum; c != gip.Checksum {
		return false, "ip checksum differs from gopacket"
	}
	if l4 == nil {
		return true, ""
	}
	var got uint16
	switch l := re.Layer(l4Type).(type) {
	case *layers.TCP:
		got = l.Checksum
	case *layers.UDP:
		got = l.Checksum
	case *layers.ICMPv4:
		got = l.Checksum
	}
	if got != wire {
		return false, "l4 checksum differs from gopacket"
	}
	return true, ""
}
