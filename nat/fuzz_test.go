package nat

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"cbac/packet"
)

// FuzzTranslate runs Apply and the ICMP error translations over arbitrary
// packets that pass IsValid. Invariants: no panic, the length never
// changes, a refusal leaves the packet unchanged, and every checksum that
// was valid before is valid after.
func FuzzTranslate(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 1))
	L, G, O := seedPairs[0].InsideLocal, seedPairs[0].InsideGlobal, ip4(8, 8, 8, 8)
	for kind := 0; kind < numKinds; kind++ {
		f.Add(buildIPv4(r, kind, L, O, 0, []byte("seed")), uint32(0))
		dgram := buildIPv4(r, kind, G, O, 0, []byte("seed"))
		f.Add(buildICMPError(r, O, G, packet.DestUnreachable, packet.CodePortUnreachable, dgram, 60), uint32(1))
	}
	tab, _ := NewTable(seedPairs)
	f.Fuzz(func(t *testing.T, b []byte, newAddr uint32) {
		ip := packet.IPv4(b)
		if !ip.IsValid() {
			return
		}
		ip.SetChecksum(ip.CalculateChecksum())
		icmpValid, quoteValid := false, false
		if ip.Protocol() == packet.ProtoICMP && ip.FragmentOffset() == 0 {
			if m := packet.ICMPv4(ip.Payload()); m.IsValid() {
				icmpValid = m.ChecksumValid()
				if q := m.InnerIPv4(); q != nil {
					quoteValid = q.ChecksumValid()
				}
			}
		}
		check := func(name string, ok bool, before []byte) {
			if len(b) != len(before) {
				t.Fatalf("%s changed the length", name)
			}
			if !ok {
				if !bytes.Equal(b, before) {
					t.Fatalf("%s refused but modified the packet", name)
				}
				return
			}
			if !ip.ChecksumValid() {
				t.Fatalf("%s broke the ip checksum", name)
			}
			if m := packet.ICMPv4(ip.Payload()); ip.Protocol() == packet.ProtoICMP && ip.FragmentOffset() == 0 && m.IsValid() {
				if icmpValid && !m.ChecksumValid() {
					t.Fatalf("%s broke the icmp checksum", name)
				}
				if q := m.InnerIPv4(); quoteValid && q != nil && !q.ChecksumValid() {
					t.Fatalf("%s broke the quoted ip checksum", name)
				}
			}
		}
		before := append([]byte(nil), b...)
		check("InboundICMPError", tab.InboundICMPError(ip), before)
		before = append(before[:0], b...)
		check("OutboundICMPError", tab.OutboundICMPError(ip), before)
		rw := NewRewrite(ip.Src(), newAddr, ip.Dst(), ^newAddr)
		before = append(before[:0], b...)
		check("Apply", rw.Apply(ip), before)
	})
}
