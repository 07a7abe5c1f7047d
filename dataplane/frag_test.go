package dataplane_test

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"cbac/dataplane"
	"cbac/packet"
)

// fragment splits an Ethernet+IPv4 frame into fragments whose payloads
// start at the given byte offsets (multiples of 8), fixing each header.
func fragment(t *testing.T, frame []byte, cuts ...int) [][]byte {
	t.Helper()
	ip := packet.IPv4(frame[14:])
	hl := ip.HeaderLength()
	payload := ip.Payload()
	bounds := append(append([]int{0}, cuts...), len(payload))
	var out [][]byte
	for i := 0; i+1 < len(bounds); i++ {
		a, b := bounds[i], bounds[i+1]
		f := append([]byte(nil), frame[:14+hl]...)
		f = append(f, payload[a:b]...)
		h := packet.IPv4(f[14:])
		binary.BigEndian.PutUint16(h[2:], uint16(hl+b-a))
		ff := uint16(a / 8)
		if i+2 < len(bounds) {
			ff |= 0x2000 // MF
		}
		binary.BigEndian.PutUint16(h[6:], ff)
		h.SetChecksum(0)
		h.SetChecksum(h.CalculateChecksum())
		out = append(out, f)
	}
	return out
}

func udpFrame(t *testing.T, src, dst string, sport, dport uint16, payload []byte, srcMAC, dstMAC []byte) []byte {
	ip := ipv4(src, dst, layers.IPProtocolUDP)
	ip.Id = 0x4321
	return build(t, eth(srcMAC, dstMAC, layers.EthernetTypeIPv4), ip,
		&layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}, gopacket.Payload(payload))
}

// Virtual reassembly: the fragments of an inside host's UDP datagram are
// held until the datagram is complete, then all leave translated, as the
// original fragments, whatever order they came in.
func TestVirtualReassemblyForwards(t *testing.T) {
	for _, order := range [][]int{{0, 1, 2}, {2, 0, 1}, {1, 2, 0}} {
		h := newHarness(t, compile(t, seedWithNeighbours(t, true)))
		body := make([]byte, 3000)
		for i := range body {
			body[i] = byte(i)
		}
		frags := fragment(t, udpFrame(t, "10.10.10.5", "203.0.113.1", 5000, 9000, body, macHost, macIn0), 1480, 2960)
		var got [][]byte
		for k, i := range order {
			out := h.send(portIn, frags[i])
			if k < len(order)-1 && len(out[portOut]) != 0 {
				t.Fatalf("order %v: fragment %d left before the datagram was complete", order, i)
			}
			got = append(got, out[portOut]...)
		}
		if len(got) != 3 {
			t.Fatalf("order %v: %d fragments forwarded, want 3 (drops %v)", order, len(got), h.w.Stats.Drops)
		}
		total := 0
		for _, f := range got {
			ip := packet.IPv4(f[14:])
			if !ip.ChecksumValid() || packet.IPString(ip.Src()) != "172.22.1.111" || ip.TTL() != 63 || ip.ID() != 0x4321 {
				t.Errorf("order %v: fragment %s -> %s ttl %d id %#x checksum ok %v", order,
					packet.IPString(ip.Src()), packet.IPString(ip.Dst()), ip.TTL(), ip.ID(), ip.ChecksumValid())
			}
			total += len(ip.Payload())
		}
		if total != 8+len(body) {
			t.Errorf("order %v: %d payload bytes forwarded, want %d", order, total, 8+len(body))
		}
		// The UDP checksum in the first fragment covers the whole datagram:
		// reassemble and verify it.
		whole := make([]byte, 8+len(body))
		for _, f := range got {
			ip := packet.IPv4(f[14:])
			copy(whole[ip.FragmentOffset():], ip.Payload())
		}
		sum := packet.PseudoHeaderChecksum(packet.IPv4(got[0][14:]).Src(), packet.IPv4(got[0][14:]).Dst(), packet.ProtoUDP, uint16(len(whole)))
		if packet.Fold(packet.Checksum(whole, sum)) != 0 {
			t.Errorf("order %v: reassembled UDP checksum wrong after NAT", order)
		}
	}
}

// Fragments of a datagram the ACL denies are all dropped; a lone
// non-initial fragment waits 3 s and is then dropped, its frame returned.
func TestVirtualReassemblyDrops(t *testing.T) {
	h := newHarness(t, compile(t, seedWithNeighbours(t, true)))
	frags := fragment(t, udpFrame(t, "172.22.1.100", "172.22.1.110", 5000, 53, make([]byte, 2000), macClient, macOut0), 1480)
	for _, f := range frags {
		if out := h.send(portOut, f); len(out[portIn]) != 0 {
			t.Fatal("fragment of a denied datagram forwarded")
		}
	}
	if h.drops(dataplane.DropACLIn) != 1 || h.drops(dataplane.DropFragment) != 1 {
		t.Errorf("ACL drops %d, fragment drops %d; want 1 and 1 (the first fragment by the ACL, the other with it)",
			h.drops(dataplane.DropACLIn), h.drops(dataplane.DropFragment))
	}
	lone := fragment(t, udpFrame(t, "10.10.10.5", "203.0.113.1", 5000, 9000, make([]byte, 2000), macHost, macIn0), 1480)[1]
	h.send(portIn, lone)
	h.advance(2900 * time.Millisecond)
	if h.drops(dataplane.DropFragment) != 1 {
		t.Fatalf("lone fragment dropped before the 3 s timeout")
	}
	h.advance(200 * time.Millisecond)
	if h.drops(dataplane.DropFragment) != 2 {
		t.Errorf("lone fragment not dropped after 3 s (drops %v)", h.w.Stats.Drops)
	}
}

// RFC 1858: a TCP fragment at offset 8 (it would overwrite the flags of
// the TCP header) drops the whole datagram; a tiny first fragment too.
func TestVirtualReassemblyAttacks(t *testing.T) {
	h := newHarness(t, compile(t, seedWithNeighbours(t, true)))
	syn := tcpFrame(t, seg{src: "172.22.1.100", dst: "172.22.1.110", sport: 1, dport: 25, seq: 1, syn: true,
		payload: make([]byte, 40), srcMAC: macClient, dstMAC: macOut0})
	for name, cuts := range map[string][]int{"offset 8": {8, 16}, "tiny first": {16}} {
		frags := fragment(t, syn, cuts...)
		if name == "offset 8" {
			// An overlapping rewrite of the header from offset 8.
			frags = frags[:2]
			frags[1] = fragment(t, syn, 8)[1]
		}
		for _, f := range frags {
			if out := h.send(portOut, f); len(out[portIn]) != 0 {
				t.Errorf("%s: fragment forwarded", name)
			}
		}
	}
	if h.drops(dataplane.DropFragment) != 4 || h.drops(dataplane.DropL4Invalid) != 0 {
		t.Errorf("attack fragments: %d fragment drops, %d L4 drops; want 4 and 0 (%v)",
			h.drops(dataplane.DropFragment), h.drops(dataplane.DropL4Invalid), h.w.Stats.Drops)
	}
}

// With two workers, a datagram reassembled on the worker that does not own
// its flow is handed over whole, and all its fragments leave.
func TestVirtualReassemblyHandOver(t *testing.T) {
	rs := compile(t, seedWithNeighbours(t, true))
	dp, qs := twoWorkers(t, rs)
	now := int64(time.Hour)
	forwarded := 0
	const flows = 16
	for f := 0; f < flows; f++ {
		frags := fragment(t, udpFrame(t, "10.10.10.5", "203.0.113.1", uint16(6000+f), 9000, make([]byte, 2500), macHost, macIn0), 1480)
		for _, fr := range frags {
			if !qs[0][portIn].Inject(fr) {
				t.Fatal("inject")
			}
		}
		for i := 0; i < 4; i++ {
			now += int64(time.Millisecond)
			dp.Workers[0].Step(now)
			dp.Workers[1].Step(now)
		}
		for w := 0; w < 2; w++ {
			qs[w][portOut].Drain(func([]byte) { forwarded++ })
		}
	}
	if forwarded != 2*flows {
		t.Errorf("%d fragments forwarded, want %d", forwarded, 2*flows)
	}
	if dp.Workers[0].Stats.HandedOver == 0 {
		t.Errorf("no datagram was handed over: the test did not exercise groups")
	}
}
