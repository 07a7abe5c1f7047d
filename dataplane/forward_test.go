package dataplane_test

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"cbac/dataplane"
)

func ipOf(p gopacket.Packet) *layers.IPv4 { return p.Layer(layers.LayerTypeIPv4).(*layers.IPv4) }
func tcpOf(p gopacket.Packet) *layers.TCP { return p.Layer(layers.LayerTypeTCP).(*layers.TCP) }

// The seed's inbound SMTP: outside client to 172.22.1.110:25 reaches
// 10.10.10.2:25, and the reply comes back translated, through ACL 101 by
// the session.
func TestSeedInboundSMTP(t *testing.T) {
	h := newHarness(t, compile(t, seedWithNeighbours(t, true)))
	syn := seg{src: "172.22.1.100", dst: "172.22.1.110", sport: 40000, dport: 25, seq: 1000, syn: true,
		srcMAC: macClient, dstMAC: macOut0, ttl: 64}
	out := h.send(portOut, tcpFrame(t, syn))
	if len(out[portIn]) != 1 {
		t.Fatalf("SYN not forwarded to inside: out=%d in=%d drops=%v", len(out[portOut]), len(out[portIn]), h.w.Stats.Drops)
	}
	p := decode(t, out[portIn][0])
	e := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	if !bytes.Equal(e.DstMAC, macMail) || !bytes.Equal(e.SrcMAC, macIn0) {
		t.Errorf("MACs %v -> %v, want %v -> %v", e.SrcMAC, e.DstMAC, macIn0, macMail)
	}
	ip := ipOf(p)
	if ip.DstIP.String() != "10.10.10.2" || ip.SrcIP.String() != "172.22.1.100" || ip.TTL != 63 {
		t.Errorf("forwarded %v -> %v ttl %d", ip.SrcIP, ip.DstIP, ip.TTL)
	}
	// SYN/ACK from the mail server: passes and is translated back.
	synack := seg{src: "10.10.10.2", dst: "172.22.1.100", sport: 25, dport: 40000, seq: 5000, ack: 1001, syn: true, ackf: true,
		srcMAC: macMail, dstMAC: macIn0}
	out = h.send(portIn, tcpFrame(t, synack))
	if len(out[portOut]) != 1 {
		t.Fatalf("SYN/ACK not forwarded: drops=%v", h.w.Stats.Drops)
	}
	p = decode(t, out[portOut][0])
	if ip := ipOf(p); ip.SrcIP.String() != "172.22.1.110" || ip.DstIP.String() != "172.22.1.100" {
		t.Errorf("reply %v -> %v, want 172.22.1.110 -> 172.22.1.100", ip.SrcIP, ip.DstIP)
	}
	if e := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet); !bytes.Equal(e.DstMAC, macClient) {
		t.Errorf("reply to MAC %v, want the client's %v", e.DstMAC, macClient)
	}
	ack := seg{src: "172.22.1.100", dst: "172.22.1.110", sport: 40000, dport: 25, seq: 1001, ack: 5001, ackf: true,
		srcMAC: macClient, dstMAC: macOut0}
	if out = h.send(portOut, tcpFrame(t, ack)); len(out[portIn]) != 1 {
		t.Fatalf("ACK not forwarded: drops=%v", h.w.Stats.Drops)
	}
	live, half := h.w.SessionCount()
	if live != 1 || half != 0 {
		t.Errorf("sessions %d live %d half-open, want 1 and 0", live, half)
	}
}

// Seed case 3 (docs/behaviour.md): 172.22.1.110:80 and 172.22.1.111:25 are blocked by ACL 101.
func TestSeedBlocked(t *testing.T) {
	h := newHarness(t, compile(t, seedWithNeighbours(t, true)))
	for _, c := range []struct {
		name string
		dst  string
		port uint16
	}{
		{"mail server www", "172.22.1.110", 80},
		{"host smtp", "172.22.1.111", 25},
		{"router itself ssh", "172.22.1.16", 22},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := h.drops(dataplane.DropACLIn) + h.drops(dataplane.DropToUs)
			out := h.send(portOut, tcpFrame(t, seg{src: "172.22.1.100", dst: c.dst, sport: 40001, dport: c.port, seq: 1, syn: true,
				srcMAC: macClient, dstMAC: macOut0}))
			if len(out[portIn])+len(out[portOut]) != 0 {
				t.Fatalf("forwarded a packet that ACL 101 denies")
			}
			if h.drops(dataplane.DropACLIn)+h.drops(dataplane.DropToUs) != before+1 {
				t.Errorf("drop not counted")
			}
		})
	}
	// The implicit deny is counted on ACL 101's last line.
	if got := h.w.Stats.ACLHits[0][1]; got != 2 {
		t.Errorf("implicit deny matched %d times, want 2", got)
	}
}

// Seed case 4 (docs/behaviour.md): from 10.10.10.5, TCP and ping to the outside work, appear
// as 172.22.1.111, and their return traffic passes ACL 101 by session.
func TestSeedInsideOut(t *testing.T) {
	h := newHarness(t, compile(t, seedWithNeighbours(t, true)))
	out := h.send(portIn, tcpFrame(t, seg{src: "10.10.10.5", dst: "198.51.100.7", sport: 33000, dport: 443, seq: 77, syn: true,
		srcMAC: macHost, dstMAC: macIn0}))
	if len(out[portOut]) != 1 {
		t.Fatalf("inside SYN not forwarded: drops=%v", h.w.Stats.Drops)
	}
	p := decode(t, out[portOut][0])
	if ip := ipOf(p); ip.SrcIP.String() != "172.22.1.111" {
		t.Errorf("source %v, want 172.22.1.111", ip.SrcIP)
	}
	if e := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet); !bytes.Equal(e.DstMAC, macUpstream) {
		t.Errorf("next hop MAC %v, want the default route's 172.22.1.1 %v", e.DstMAC, macUpstream)
	}
	out = h.send(portOut, tcpFrame(t, seg{src: "198.51.100.7", dst: "172.22.1.111", sport: 443, dport: 33000, seq: 9, ack: 78,
		syn: true, ackf: true, srcMAC: macUpstream, dstMAC: macOut0}))
	if len(out[portIn]) != 1 {
		t.Fatalf("SYN/ACK did not come back through ACL 101: drops=%v", h.w.Stats.Drops)
	}
	if ip := ipOf(decode(t, out[portIn][0])); ip.DstIP.String() != "10.10.10.5" {
		t.Errorf("return to %v, want 10.10.10.5", ip.DstIP)
	}

	// Ping.
	icmp := func(src, dst string, typ uint8, srcMAC, dstMAC net.HardwareAddr) []byte {
		return build(t, eth(srcMAC, dstMAC, layers.EthernetTypeIPv4), ipv4(src, dst, layers.IPProtocolICMPv4),
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0), Id: 0x4242, Seq: 1}, gopacket.Payload([]byte("ping")))
	}
	out = h.send(portIn, icmp("10.10.10.5", "198.51.100.7", layers.ICMPv4TypeEchoRequest, macHost, macIn0))
	if len(out[portOut]) != 1 {
		t.Fatalf("echo request not forwarded: drops=%v", h.w.Stats.Drops)
	}
	p = decode(t, out[portOut][0])
	if ip := ipOf(p); ip.SrcIP.String() != "172.22.1.111" {
		t.Errorf("echo source %v", ip.SrcIP)
	}
	ic := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if ic.Checksum != icmpChecksum(t, p) {
		t.Errorf("ICMP checksum wrong")
	}
	out = h.send(portOut, icmp("198.51.100.7", "172.22.1.111", layers.ICMPv4TypeEchoReply, macUpstream, macOut0))
	if len(out[portIn]) != 1 {
		t.Fatalf("echo reply not let back in: drops=%v", h.w.Stats.Drops)
	}
	if ip := ipOf(decode(t, out[portIn][0])); ip.DstIP.String() != "10.10.10.5" {
		t.Errorf("echo reply to %v", ip.DstIP)
	}
	// An unsolicited echo reply (other id) is denied by ACL 101.
	f := build(t, eth(macUpstream, macOut0, layers.EthernetTypeIPv4), ipv4("198.51.100.8", "172.22.1.111", layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoReply, 0), Id: 7, Seq: 1})
	if out = h.send(portOut, f); len(out[portIn]) != 0 {
		t.Errorf("unsolicited echo reply passed")
	}
}

func icmpChecksum(t testing.TB, p gopacket.Packet) uint16 {
	ic := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	b := append(append([]byte(nil), ic.Contents...), ic.Payload...)
	b[2], b[3] = 0, 0
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// ARP: cbacd answers for its interface addresses and, on the outside, for
// the NAT inside-global addresses; it ignores other targets.
func TestARPAnswers(t *testing.T) {
	h := newHarness(t, compile(t, seedWithNeighbours(t, false)))
	req := func(target string, port int, srcIP string, srcMAC net.HardwareAddr) []byte {
		return build(t, eth(srcMAC, layers.EthernetBroadcast, layers.EthernetTypeARP), &layers.ARP{
			AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: srcMAC, SourceProtAddress: net.ParseIP(srcIP).To4(),
			DstHwAddress: make([]byte, 6), DstProtAddress: net.ParseIP(target).To4()})
	}
	for _, c := range []struct {
		target string
		port   int
		src    string
		mac    net.HardwareAddr
		answer bool
	}{
		{"172.22.1.16", portOut, "172.22.1.1", macUpstream, true},
		{"172.22.1.110", portOut, "172.22.1.1", macUpstream, true},
		{"172.22.1.111", portOut, "172.22.1.100", macClient, true},
		{"172.22.1.112", portOut, "172.22.1.100", macClient, false},
		{"10.10.10.1", portIn, "10.10.10.5", macHost, true},
		{"10.10.10.2", portIn, "10.10.10.5", macHost, false}, // a host answers for itself
		{"172.22.1.110", portIn, "10.10.10.5", macHost, false},
	} {
		out := h.send(c.port, req(c.target, c.port, c.src, c.mac))
		if got := len(out[c.port]) == 1; got != c.answer {
			t.Errorf("who-has %s on port %d: answered %v, want %v", c.target, c.port, got, c.answer)
			continue
		}
		if !c.answer {
			continue
		}
		p := decode(t, out[c.port][0])
		a := p.Layer(layers.LayerTypeARP).(*layers.ARP)
		want := macOut0
		if c.port == portIn {
			want = macIn0
		}
		if a.Operation != layers.ARPReply || !bytes.Equal(a.SourceHwAddress, want) ||
			net.IP(a.SourceProtAddress).String() != c.target || !bytes.Equal(a.DstHwAddress, c.mac) {
			t.Errorf("bad reply %+v", a)
		}
	}
}

// ARP resolution: a packet to an unresolved next hop waits while cbacd asks
// (bounded), and leaves when the answer comes.
func TestARPResolve(t *testing.T) {
	h := newHarness(t, compile(t, seedWithNeighbours(t, false)))
	// 10.10.10.5 must be resolved for the SYN/ACK; first it asks who has 172.22.1.1.
	// The host's own ARP request teaches us its MAC (it asks for the gateway).
	out := h.send(portIn, tcpFrame(t, seg{src: "10.10.10.5", dst: "198.51.100.7", sport: 33001, dport: 80, seq: 1, syn: true,
		srcMAC: macHost, dstMAC: macIn0}))
	if len(out[portOut]) != 1 {
		t.Fatalf("want one ARP request on out0, got %d frames", len(out[portOut]))
	}
	a, ok := decode(t, out[portOut][0]).Layer(layers.LayerTypeARP).(*layers.ARP)
	if !ok || a.Operation != layers.ARPRequest || net.IP(a.DstProtAddress).String() != "172.22.1.1" ||
		net.IP(a.SourceProtAddress).String() != "172.22.1.16" {
		t.Fatalf("not an ARP request for 172.22.1.1 from 172.22.1.16: %+v", a)
	}
	// Within the retry interval no second request.
	h.advance(100 * time.Millisecond)
	if len(h.out[portOut]) != 0 {
		t.Fatalf("asked again too soon")
	}
	reply := build(t, eth(macUpstream, macOut0, layers.EthernetTypeARP), &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: layers.ARPReply, SourceHwAddress: macUpstream, SourceProtAddress: net.ParseIP("172.22.1.1").To4(),
		DstHwAddress: macOut0, DstProtAddress: net.ParseIP("172.22.1.16").To4()})
	out = h.send(portOut, reply)
	if len(out[portOut]) != 1 {
		t.Fatalf("held packet not sent after the ARP reply (drops %v)", h.w.Stats.Drops)
	}
	if e := decode(t, out[portOut][0]).Layer(layers.LayerTypeEthernet).(*layers.Ethernet); !bytes.Equal(e.DstMAC, macUpstream) {
		t.Errorf("sent to %v", e.DstMAC)
	}
	// A next hop that never answers: three requests, then the drop.
	h2 := newHarness(t, compile(t, seedWithNeighbours(t, false)))
	h2.send(portIn, tcpFrame(t, seg{src: "10.10.10.5", dst: "198.51.100.7", sport: 33002, dport: 80, seq: 1, syn: true,
		srcMAC: macHost, dstMAC: macIn0}))
	reqs := 1
	for i := 0; i < 40; i++ {
		h2.advance(100 * time.Millisecond)
		reqs += len(h2.out[portOut])
	}
	if reqs != 3 {
		t.Errorf("%d ARP requests, want 3", reqs)
	}
	if h2.drops(dataplane.DropARPUnresolved) != 1 {
		t.Errorf("unresolved drop not counted: %v", h2.w.Stats.Drops)
	}
}

// TTL: decremented on forward; a packet with TTL 1 is dropped and counted.
// Non-IPv4 frames are dropped and counted.
func TestTTLAndNonIPv4(t *testing.T) {
	h := newHarness(t, compile(t, seedWithNeighbours(t, true)))
	out := h.send(portIn, tcpFrame(t, seg{src: "10.10.10.5", dst: "198.51.100.7", sport: 33003, dport: 80, seq: 1, syn: true, ttl: 1,
		srcMAC: macHost, dstMAC: macIn0}))
	if len(out[portOut]) != 0 || h.drops(dataplane.DropTTLExpired) != 1 {
		t.Errorf("TTL 1 packet: forwarded %d, TTL drops %d", len(out[portOut]), h.drops(dataplane.DropTTLExpired))
	}
	v6 := build(t, eth(macHost, macIn0, layers.EthernetTypeIPv6), &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolNoNextHeader,
		HopLimit: 64, SrcIP: net.ParseIP("fe80::1"), DstIP: net.ParseIP("fe80::2")})
	if out := h.send(portIn, v6); len(out[portOut])+len(out[portIn]) != 0 || h.drops(dataplane.DropNonIPv4) != 1 {
		t.Errorf("IPv6 not dropped/counted")
	}
	if out := h.send(portIn, []byte{1, 2, 3}); len(out[portOut])+len(out[portIn]) != 0 || h.drops(dataplane.DropRunt) != 1 {
		t.Errorf("runt not dropped/counted")
	}
	// A corrupt IPv4 header checksum.
	f := tcpFrame(t, seg{src: "10.10.10.5", dst: "198.51.100.7", sport: 33004, dport: 80, seq: 1, syn: true, srcMAC: macHost, dstMAC: macIn0})
	f[14+10] ^= 0xff
	if out := h.send(portIn, f); len(out[portOut]) != 0 || h.drops(dataplane.DropIPChecksum) != 1 {
		t.Errorf("bad IP checksum not dropped")
	}
}
