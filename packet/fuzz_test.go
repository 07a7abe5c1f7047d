package packet

import (
	"testing"
)

// touchAll reads every accessor of every view that passes its gate; the test
// fails by panicking if a gate lets an out-of-bounds view through.
func touchAll(b []byte) int {
	n := 0
	if e := Ethernet(b); e.IsValid() {
		n += int(e.Type()) + int(e.Src()[0]) + int(e.Dst()[5]) + len(e.Payload())
		if a := ARP(e.Payload()); a.IsValid() {
			n += int(a.Op()) + int(a.SenderIP()) + int(a.TargetIP()) + int(a.SenderMAC()[5]) + int(a.TargetMAC()[5])
		}
	}
	if a := ARP(b); a.IsValid() {
		n += int(a.Op()) + int(a.SenderIP()) + int(a.TargetIP()) + int(a.SenderMAC()[5]) + int(a.TargetMAC()[5])
	}
	ip := IPv4(b)
	if ip.IsValidHeader() {
		n += int(ip.Src()) + int(ip.Dst()) + len(ip.Options()) + len(ip.Header()) + len(ip.TruncatedPayload()) +
			int(ip.CalculateChecksum()) + int(ip.FragmentOffset())
		if ip.ChecksumValid() {
			n++
		}
	}
	if ip.IsValid() {
		if !ip.IsValidHeader() {
			panic("IsValid without IsValidHeader")
		}
		n += len(ip.Payload()) + int(ip.TotalLength()) + int(ip.ID()) + int(ip.TTL()) + int(ip.Protocol())
		if ip.IsFragment() || ip.MoreFragments() || ip.DontFragment() {
			n++
		}
		n += touchL4(ip.Payload(), ip.Src(), ip.Dst())
	}
	return n + touchL4(b, 1, 2)
}

func touchL4(b []byte, src, dst uint32) int {
	n := 0
	if t := TCP(b); t.IsValid() {
		ws, mss, _ := t.ParseOptions()
		if ws < -1 || ws > 14 {
			panic("wscale out of range")
		}
		n += int(t.SrcPort()) + int(t.DstPort()) + int(t.Seq()) + int(t.Ack()) + t.DataOffset() + int(t.Flags()) +
			int(t.Window()) + int(t.Checksum()) + int(t.UrgentPointer()) + len(t.Options()) + len(t.Payload()) +
			int(mss) + int(t.CalculateChecksum(src, dst))
	}
	if u := UDP(b); u.IsValid() {
		n += int(u.SrcPort()) + int(u.DstPort()) + int(u.Length()) + int(u.Checksum()) + len(u.Payload()) +
			int(u.CalculateChecksum(src, dst))
	}
	if m := ICMPv4(b); m.IsValid() {
		n += int(m.Type()) + int(m.Code()) + int(m.Checksum()) + int(m.Ident()) + int(m.Seq()) + len(m.Payload()) +
			int(m.CalculateChecksum()) + int(m.NextHopMTU())
		if inner := m.InnerIPv4(); inner != nil {
			n += int(inner.Src()) + int(inner.Dst()) + len(inner.TruncatedPayload())
		}
	}
	return n
}

func FuzzViews(f *testing.F) {
	for _, g := range [][]byte{goldenTCPSyn, goldenUDP, goldenICMPEcho, goldenARPRequest, nil, {0x45}} {
		f.Add(g)
		f.Add(g[min(len(g), EthernetHeaderLen):])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		orig := string(b)
		touchAll(b)
		if string(b) != orig {
			t.Fatal("accessors modified the buffer")
		}
	})
}

// FuzzSetters checks that the checksum-fixing setters keep checksums valid
// on any packet that passes the gates.
func FuzzSetters(f *testing.F) {
	for _, g := range [][]byte{goldenTCPSyn, goldenUDP, goldenICMPEcho} {
		f.Add(g[EthernetHeaderLen:], uint32(0x0a0a0a02), uint16(1234))
	}
	f.Fuzz(func(t *testing.T, b []byte, addr uint32, port uint16) {
		ip := IPv4(b)
		if !ip.IsValid() {
			return
		}
		ip.SetChecksum(ip.CalculateChecksum())
		ip.SetSrcWithChecksum(addr)
		ip.SetDstWithChecksum(^addr)
		ip.DecTTLWithChecksum()
		if !ip.ChecksumValid() {
			t.Fatalf("ip checksum invalid after setters")
		}
		switch pl := ip.Payload(); ip.Protocol() {
		case ProtoTCP:
			if tc := TCP(pl); tc.IsValid() {
				tc.SetChecksum(tc.CalculateChecksum(ip.Src(), ip.Dst()))
				tc.SetSrcPortWithChecksum(port)
				tc.SetDstPortWithChecksum(^port)
				if !tc.ChecksumValid(ip.Src(), ip.Dst()) {
					t.Fatal("tcp checksum invalid after setters")
				}
			}
		case ProtoUDP:
			if u := UDP(pl); u.IsValid() {
				u.SetChecksum(u.CalculateChecksum(ip.Src(), ip.Dst()))
				u.SetSrcPortWithChecksum(port)
				u.SetDstPortWithChecksum(^port)
				if !u.ChecksumValid(ip.Src(), ip.Dst()) || u.Checksum() == 0 {
					t.Fatal("udp checksum invalid after setters")
				}
			}
		}
	})
}

func TestSettersDoNotAllocate(t *testing.T) {
	frame := append([]byte(nil), goldenTCPSyn...)
	ip := IPv4(Ethernet(frame).Payload())
	tc := TCP(ip.Payload())
	udpFrame := append([]byte(nil), goldenUDP...)
	u := UDP(IPv4(Ethernet(udpFrame).Payload()).Payload())
	arpFrame := append([]byte(nil), goldenARPRequest...)
	var out [64]byte
	allocs := testing.AllocsPerRun(1000, func() {
		ip.SetSrcWithChecksum(ip.Src() + 1)
		ip.SetDstWithChecksum(ip.Dst() + 1)
		ip.DecTTLWithChecksum()
		tc.SetSrcPortWithChecksum(tc.SrcPort() + 1)
		tc.SetDstPortWithChecksum(tc.DstPort() + 1)
		tc.SetChecksum(tc.CalculateChecksum(ip.Src(), ip.Dst()))
		tc.ParseOptions()
		u.SetSrcPortWithChecksum(u.SrcPort() + 1)
		arpFrame[21] = 1 // back to a request
		BuildARPReply(arpFrame, MAC{2, 0, 0, 0, 0, 1})
		WriteARPRequest(out[:], MAC{2}, 1, 2)
		WriteIPv4Header(out[:], 1, 2, ProtoTCP, 64, 20, 1)
	})
	if allocs != 0 {
		t.Errorf("setters allocate: %v per run", allocs)
	}
}

func BenchmarkSetters(b *testing.B) {
	frame := append([]byte(nil), goldenTCPSyn...)
	ip := IPv4(Ethernet(frame).Payload())
	tc := TCP(ip.Payload())
	b.Run("IPv4.SetSrcWithChecksum", func(b *testing.B) {
		b.ReportAllocs()
		for i := uint32(0); b.Loop(); i++ {
			ip.SetSrcWithChecksum(i)
		}
	})
	b.Run("IPv4.DecTTLWithChecksum", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ip.DecTTLWithChecksum()
		}
	})
	b.Run("TCP.SetSrcPortWithChecksum", func(b *testing.B) {
		b.ReportAllocs()
		for i := uint16(0); b.Loop(); i++ {
			tc.SetSrcPortWithChecksum(i)
		}
	})
	b.Run("TCP.ParseOptions", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tc.ParseOptions()
		}
	})
	b.Run("IPv4.IsValid+TCP.IsValid", func(b *testing.B) {
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			if ip.IsValid() && TCP(ip.Payload()).IsValid() {
				n++
			}
		}
		sink32 = uint32(n)
	})
}
