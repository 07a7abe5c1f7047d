package dataplane_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"cbac/control"
	"cbac/dataplane"
	"cbac/flowtable"
	"cbac/packet"
)

// Checksum verification (docs/behaviour.md "Checksums"): every received frame's IPv4 header
// checksum and TCP, UDP (when non-zero) and ICMP checksum is verified before
// the frame changes any state; a failure is dropped and counted under its
// own reason, and an unfinished checksum a sender left for offload
// hardware under "checksum partial".

// ckConfig is the seed with ACL 101 also letting uninspected TCP, UDP and
// ICMP reach the mail server's global address (OUT-IN inspects SMTP only),
// so that every protocol has a stateless path too.
func ckConfig(t testing.TB, extra string, repl ...string) []byte {
	return seedVariant(t, smallTable+extra, append([]string{seedACL101, seedACL101 + `
  "permit tcp any host 172.22.1.110 eq 80",
  "permit udp any host 172.22.1.110 eq 53",
  "permit icmp any host 172.22.1.110",`}, repl...)...)
}

// writeICMP writes an Ethernet/IPv4/ICMP frame for f into b: type typ,
// code 0, identifier f.sport, sequence 1, and payload; checksums in full.
func writeICMP(b []byte, f *flow, typ uint8, payload []byte) []byte {
	const hl = packet.EthernetHeaderLen + 20 + 8
	b = b[:hl+len(payload)]
	e := packet.Ethernet(b)
	e.SetDst(f.dstMAC)
	e.SetSrc(f.srcMAC)
	e.SetType(packet.EtherTypeIPv4)
	packet.WriteIPv4Header(b[14:], f.src, f.dst, packet.ProtoICMP, 64, 8+len(payload), 1)
	m := packet.ICMPv4(b[34:])
	clear(m[:8])
	m.SetType(typ)
	m.SetIdent(f.sport)
	m.SetSeq(1)
	copy(m[8:], payload)
	m.SetChecksum(m.CalculateChecksum())
	return b
}

// l4Field is the offset in an Ethernet frame of its L4 checksum field.
func l4Field(f []byte) int {
	ip := packet.IPv4(f[14:])
	switch ip.Protocol() {
	case packet.ProtoTCP:
		return 14 + ip.HeaderLength() + 16
	case packet.ProtoUDP:
		return 14 + ip.HeaderLength() + 6
	}
	return 14 + ip.HeaderLength() + 2
}

// Damage to a valid frame, as on the wire or by a forger.
type damage int

const (
	damageIP      damage = iota // IPv4 header checksum wrong (one header bit flipped)
	damageL4                    // L4 checksum wrong (one field bit flipped, never to 0)
	damagePartial               // L4 checksum holds the pseudo-header sum only (CHECKSUM_PARTIAL)
)

func (d damage) String() string { return [...]string{"IP", "L4", "partial"}[d] }

// apply damages frame f in place and returns the reason it must be
// dropped under.
func (d damage) apply(f []byte) dataplane.Reason {
	ip := packet.IPv4(f[14:])
	switch d {
	case damageIP:
		f[14+4] ^= 0x01 // Identification
		return dataplane.DropIPChecksum
	case damagePartial:
		l4 := ip.Payload()
		n := uint16(len(l4))
		if ip.Protocol() == packet.ProtoUDP {
			n = packet.UDP(l4).Length()
		}
		ph := ^packet.Fold(packet.PseudoHeaderChecksum(ip.Src(), ip.Dst(), ip.Protocol(), n))
		binary.BigEndian.PutUint16(f[l4Field(f):], ph)
		return dataplane.DropChecksumPartial
	}
	o := l4Field(f)
	f[o+1] ^= 0x10
	if f[o] == 0 && f[o+1] == 0 {
		f[o] = 0x80 // a UDP field of 0 means no checksum
	}
	switch ip.Protocol() {
	case packet.ProtoTCP:
		return dataplane.DropTCPChecksum
	case packet.ProtoUDP:
		return dataplane.DropUDPChecksum
	}
	return dataplane.DropICMPChecksum
}

// ckFlows are the conversations of the tests: the initiator's side as it
// arrives on its port.
var (
	ckInsideOut = flow{srcMAC: pmac(macHost), dstMAC: pmac(macIn0), src: ip4("10.10.10.5"), dst: ip4("198.51.100.7"), sport: 33000, dport: 443}
	ckOutsideIn = flow{srcMAC: pmac(macClient), dstMAC: pmac(macOut0), src: ip4("172.22.1.100"), dst: ip4("172.22.1.110"), sport: 40000, dport: 25}
)

// at returns f with other ports.
func (f flow) at(sport, dport uint16) flow { f.sport, f.dport = sport, dport; return f }

// expectDropped checks that the last step sent nothing, counted one drop
// under want and nothing else since before.
func expectDropped(t *testing.T, r *run, out [][][]byte, before [dataplane.NumReasons]uint64, want dataplane.Reason) {
	t.Helper()
	if len(out[portIn])+len(out[portOut]) != 0 {
		t.Errorf("damaged frame forwarded or answered (%d in, %d out)", len(out[portIn]), len(out[portOut]))
	}
	for i, n := range r.w.Stats.Drops {
		d := n - before[i]
		w := uint64(0)
		if dataplane.Reason(i) == want {
			w = 1
		}
		if d != w {
			t.Errorf("drop counter %q +%d, want +%d", dataplane.Reason(i), d, w)
		}
	}
}

// A damaged first packet of a new flow, inspected or not, and one for the
// router itself, is dropped under its reason and creates nothing: no
// session, no half-open count; the same frame undamaged then passes.
func TestChecksumNewFlow(t *testing.T) {
	type mk func(b []byte) []byte
	cases := []struct {
		name      string
		port      int
		frame     mk
		inspected bool
		local     bool // answered by the router on the same port
	}{
		{"tcp SYN inspected", portIn, func(b []byte) []byte { f := ckInsideOut; return writeTCP(b, &f, 1000, 0, packet.SYN, nil) }, true, false},
		{"tcp SYN smtp inspected", portOut, func(b []byte) []byte { f := ckOutsideIn; return writeTCP(b, &f, 1000, 0, packet.SYN, nil) }, true, false},
		{"udp inspected", portIn, func(b []byte) []byte { f := ckInsideOut.at(5000, 9000); return writeUDP(b, &f, []byte("query")) }, true, false},
		{"icmp echo inspected", portIn, func(b []byte) []byte {
			f := ckInsideOut.at(77, 77)
			return writeICMP(b, &f, packet.Echo, []byte("ping"))
		}, true, false},
		{"tcp not inspected", portOut, func(b []byte) []byte {
			f := ckOutsideIn.at(40000, 80)
			return writeTCP(b, &f, 1000, 0, packet.SYN, []byte("x"))
		}, false, false},
		{"udp not inspected", portOut, func(b []byte) []byte { f := ckOutsideIn.at(5000, 53); return writeUDP(b, &f, []byte("query")) }, false, false},
		{"icmp not inspected", portOut, func(b []byte) []byte { f := ckOutsideIn.at(9, 9); return writeICMP(b, &f, packet.Echo, []byte("ping")) }, false, false},
		{"icmp echo to the router", portOut, func(b []byte) []byte {
			f := ckOutsideIn.at(9, 9)
			f.dst = ip4("172.22.1.16")
			return writeICMP(b, &f, packet.Echo, []byte("ping"))
		}, false, true},
	}
	for _, c := range cases {
		for _, d := range []damage{damageIP, damageL4, damagePartial} {
			proto := packet.IPv4(c.frame(make([]byte, 2048))[14:]).Protocol()
			if d == damagePartial && proto == packet.ProtoICMP {
				continue // ICMP has no pseudo-header and no offload
			}
			t.Run(fmt.Sprintf("%s/%v", c.name, d), func(t *testing.T) {
				r := newRun(t, ckConfig(t, ""))
				f := c.frame(make([]byte, 2048))
				want := d.apply(f)
				before := r.w.Stats.Drops
				expectDropped(t, r, r.send(c.port, f), before, want)
				if live, half := r.w.SessionCount(); live != 0 || half != 0 || r.w.Stats.SessionsCreated != 0 {
					t.Errorf("damaged frame created state: %d sessions, %d half-open, %d created", live, half, r.w.Stats.SessionsCreated)
				}
				out := r.send(c.port, c.frame(make([]byte, 2048)))
				switch {
				case c.local && len(out[c.port]) != 1:
					t.Errorf("router did not answer the undamaged echo (drops %v)", nonZero(r.w.Stats.Drops[:]))
				case !c.local && len(out[1-c.port]) != 1:
					t.Errorf("undamaged frame not forwarded (drops %v)", nonZero(r.w.Stats.Drops[:]))
				}
				if created := r.w.Stats.SessionsCreated; (created == 1) != c.inspected {
					t.Errorf("undamaged frame: %d sessions created, inspected %v", created, c.inspected)
				}
			})
		}
	}
}

// A UDP checksum of 0 means none (RFC 768): such a datagram passes.
func TestChecksumUDPNone(t *testing.T) {
	r := newRun(t, ckConfig(t, ""))
	for _, c := range []struct {
		port int
		f    flow
	}{{portIn, ckInsideOut.at(5000, 9000)}, {portOut, ckOutsideIn.at(5000, 53)}} {
		fr := writeUDP(make([]byte, 2048), &c.f, []byte("no checksum"))
		binary.BigEndian.PutUint16(fr[l4Field(fr):], 0)
		if out := r.send(c.port, fr); len(out[1-c.port]) != 1 {
			t.Errorf("UDP without checksum from port %d not forwarded (drops %v)", c.port, nonZero(r.w.Stats.Drops[:]))
		}
	}
}

// stateOf is the worker's state of the session whose initiator side is f.
func stateOf(t *testing.T, r *run, f flow, proto uint8) dataplane.SessionState {
	t.Helper()
	st, ok := r.w.StateOf(flowtable.Key{Src: f.src, Dst: f.dst, SrcPort: f.sport, DstPort: f.dport, Proto: proto})
	if !ok {
		t.Fatalf("no session for %s:%d -> %s:%d", packet.IPString(f.src), f.sport, packet.IPString(f.dst), f.dport)
	}
	return st
}

// A damaged packet of an established session, either direction, inspected
// as TCP, UDP, ICMP or SMTP, is dropped under its reason and changes
// nothing in the session (windows, timers, byte counts, the SMTP machines
// and stream guard), even with the clock moved on; the undamaged packet then
// passes.
func TestChecksumEstablished(t *testing.T) {
	type setup struct {
		name  string
		proto uint8
		init  flow // the initiator's side, for StateOf
		// open establishes the session and returns the frame to damage
		// and the port it arrives on.
		open func(t *testing.T, r *run) ([]byte, int)
	}
	tcpOpen := func(t *testing.T, r *run, fromB bool) ([]byte, int) {
		c := insideOut(r, 33000, "198.51.100.7", 443)
		c.open()
		c.fromA(packet.ACK|packet.PSH, []byte("hello"))
		if fromB {
			return writeTCP(make([]byte, 2048), &c.b, c.nb, c.na, packet.ACK|packet.PSH, []byte("reply")), c.pb
		}
		return writeTCP(make([]byte, 2048), &c.a, c.na, c.nb, packet.ACK|packet.PSH, []byte("more")), c.pa
	}
	smtpOpen := func(t *testing.T, r *run, fromB bool) ([]byte, int) {
		c := outsideIn(r, 40000)
		c.open()
		c.fromB(packet.ACK|packet.PSH, []byte("220 mail.example.com ESMTP\r\n"))
		if fromB {
			c.fromA(packet.ACK|packet.PSH, []byte("HELO client.example.org\r\n"))
			return writeTCP(make([]byte, 2048), &c.b, c.nb, c.na, packet.ACK|packet.PSH, []byte("250 mail.example.com\r\n")), c.pb
		}
		return writeTCP(make([]byte, 2048), &c.a, c.na, c.nb, packet.ACK|packet.PSH, []byte("HELO client.example.org\r\n")), c.pa
	}
	udpFlow := ckInsideOut.at(5000, 9000)
	udpReply := udpFlow.reverse(udpFlow.dst, ip4("172.22.1.111"), pmac(macUpstream), pmac(macOut0))
	icmpFlow := ckInsideOut.at(77, 77)
	icmpReply := icmpFlow.reverse(icmpFlow.dst, ip4("172.22.1.111"), pmac(macUpstream), pmac(macOut0))
	setups := []setup{
		{"tcp initiator", packet.ProtoTCP, insideOutFlow(), func(t *testing.T, r *run) ([]byte, int) { return tcpOpen(t, r, false) }},
		{"tcp responder", packet.ProtoTCP, insideOutFlow(), func(t *testing.T, r *run) ([]byte, int) { return tcpOpen(t, r, true) }},
		{"smtp client", packet.ProtoTCP, outsideInFlow(), func(t *testing.T, r *run) ([]byte, int) { return smtpOpen(t, r, false) }},
		{"smtp server", packet.ProtoTCP, outsideInFlow(), func(t *testing.T, r *run) ([]byte, int) { return smtpOpen(t, r, true) }},
		{"udp reply", packet.ProtoUDP, udpFlow, func(t *testing.T, r *run) ([]byte, int) {
			if out := r.send(portIn, writeUDP(make([]byte, 2048), &udpFlow, []byte("query"))); len(out[portOut]) != 1 {
				t.Fatal("UDP query not forwarded")
			}
			return writeUDP(make([]byte, 2048), &udpReply, []byte("answer")), portOut
		}},
		{"icmp echo reply", packet.ProtoICMP, icmpFlow, func(t *testing.T, r *run) ([]byte, int) {
			if out := r.send(portIn, writeICMP(make([]byte, 2048), &icmpFlow, packet.Echo, []byte("ping"))); len(out[portOut]) != 1 {
				t.Fatal("echo not forwarded")
			}
			return writeICMP(make([]byte, 2048), &icmpReply, packet.EchoReply, []byte("ping")), portOut
		}},
		{"icmp error about tcp", packet.ProtoTCP, insideOutFlow(), func(t *testing.T, r *run) ([]byte, int) {
			tcpOpen(t, r, false)
			return icmpUnreachable(ip4("198.51.100.7"), ip4("172.22.1.111"), 33000, 443), portOut
		}},
	}
	for _, s := range setups {
		for _, d := range []damage{damageIP, damageL4, damagePartial} {
			t.Run(fmt.Sprintf("%s/%v", s.name, d), func(t *testing.T) {
				r := newRun(t, ckConfig(t, ""))
				good, port := s.open(t, r)
				if d == damagePartial && packet.IPv4(good[14:]).Protocol() == packet.ProtoICMP {
					t.Skip("ICMP has no pseudo-header and no offload")
				}
				r.now += int64(time.Second) // a touched timer would show
				before := stateOf(t, r, s.init, s.proto)
				drops := r.w.Stats.Drops
				bad := append([]byte(nil), good...)
				want := d.apply(bad)
				expectDropped(t, r, r.send(port, bad), drops, want)
				if after := stateOf(t, r, s.init, s.proto); after != before {
					t.Errorf("damaged frame changed the session:\nbefore %+v\nafter  %+v", before, after)
				}
				if out := r.send(port, good); len(out[1-port]) != 1 {
					t.Errorf("undamaged frame not forwarded (drops %v)", nonZero(r.w.Stats.Drops[:]))
				}
			})
		}
	}
}

func insideOutFlow() flow { return ckInsideOut }

func outsideInFlow() flow {
	f := ckOutsideIn
	f.dst = ip4("172.22.1.110")
	return f
}

// icmpUnreachable is a host unreachable from src to dst quoting the TCP
// packet dst:sport -> src:dport, as it arrives on the outside port.
func icmpUnreachable(src, dst uint32, sport, dport uint16) []byte {
	b := make([]byte, 14+20+8+28)
	e := packet.Ethernet(b)
	e.SetDst(pmac(macOut0))
	e.SetSrc(pmac(macUpstream))
	e.SetType(packet.EtherTypeIPv4)
	packet.WriteIPv4Header(b[14:], src, dst, packet.ProtoICMP, 64, 8+28, 2)
	m := packet.ICMPv4(b[34:])
	m.SetType(packet.DestUnreachable)
	m.SetCode(packet.CodeHostUnreachable)
	packet.WriteIPv4Header(m[8:], dst, src, packet.ProtoTCP, 63, 8, 1)
	q := m[28:]
	binary.BigEndian.PutUint16(q[0:], sport)
	binary.BigEndian.PutUint16(q[2:], dport)
	binary.BigEndian.PutUint32(q[4:], 1001)
	m.SetChecksum(m.CalculateChecksum())
	return b
}

// The reported attack: a segment with the client's next sequence number,
// other bytes and a wrong TCP checksum (damaged on the wire or forged)
// arrives first; then the client's real segment. The server must receive
// the real bytes, in command mode and in data mode (where a large segment
// is kept by holding its frame), and the stream guard's next expected byte
// must not move for the bad one.
func TestChecksumSMTPFirstCopy(t *testing.T) {
	for _, data := range []bool{false, true} {
		t.Run(map[bool]string{false: "command", true: "data"}[data], func(t *testing.T) {
			h := newHarness(t, compile(t, smtpSeed(t, "")))
			c := openSMTP(t, h, 40100, -1)
			good := []byte("MAIL FROM:<alice@example.org>\r\n")
			forged := []byte("MAIL FROM:<mallory@evil.test>\r\n")
			if data {
				c.toData()
				good = bytes.Repeat([]byte("all good here, a line of the message body.\r\n"), 30)
				forged = bytes.Repeat([]byte("forged text: .\r\nRSET\r\nMAIL FROM:<x@evil>\r\n"), 60)[:len(good)]
			} else {
				c.reply("220 mail.example.com ESMTP\r\n")
				c.send("HELO client.example.org\r\n", "HELO client.example.org\r\n")
				c.reply("250 mail.example.com\r\n")
			}
			key := flowtable.Key{Src: smtpClientIP, Dst: smtpGlobalIP, SrcPort: c.sport, DstPort: 25, Proto: packet.ProtoTCP}
			before, ok := h.w.StateOf(key)
			if !ok {
				t.Fatal("no session")
			}
			f := c.fromClient(c.cseq, c.sseq, packet.ACK|packet.PSH, 65535, -1, good)
			copy(packet.TCP(packet.IPv4(f[14:]).Payload()).Payload(), forged) // checksum left as for good
			srv, cli := c.exchange(portOut, f)
			if len(srv)+len(cli) != 0 || h.drops(dataplane.DropTCPChecksum) != 1 {
				t.Fatalf("forged segment: %d frames to the server, %d to the client, %d TCP checksum drops",
					len(srv), len(cli), h.drops(dataplane.DropTCPChecksum))
			}
			if after, _ := h.w.StateOf(key); after != before {
				t.Errorf("forged segment changed the session (guard next %d -> %d)", before.GuardNext, after.GuardNext)
			}
			c.send(string(good), string(good))
		})
	}
}

// fragConfig is ckConfig, with virtual reassembly off on both interfaces
// when off.
func fragConfig(t testing.TB, off bool) []byte {
	if !off {
		return ckConfig(t, "")
	}
	return ckConfig(t, "",
		"virtual_reassembly = true   # ip virtual-reassembly", "virtual_reassembly = false",
		"# ip inspect IN-OUT in\nvirtual_reassembly = true", "# ip inspect IN-OUT in\nvirtual_reassembly = false")
}

// With virtual reassembly, a fragmented datagram's L4 checksum is verified
// over the whole datagram before the pipeline runs: a wrong or partial one
// drops every fragment under its reason, with no session created or
// changed; the undamaged datagram passes. The damage is in the last
// fragment, which a per-fragment check could not see.
func TestChecksumReassembled(t *testing.T) {
	body := make([]byte, 3000)
	for i := range body {
		body[i] = byte(i * 7)
	}
	type kind struct {
		name  string
		port  int
		frame func(r *run) []byte // the whole datagram, valid
		init  flow
		proto uint8
		sess  bool // a session exists before (its state must not change)
	}
	kinds := []kind{
		{"udp new flow", portIn, func(r *run) []byte { f := ckInsideOut.at(5000, 9000); return writeUDP(make([]byte, 4096), &f, body) }, flow{}, 0, false},
		{"icmp echo new flow", portIn, func(r *run) []byte {
			f := ckInsideOut.at(7, 7)
			return writeICMP(make([]byte, 4096), &f, packet.Echo, body)
		}, flow{}, 0, false},
		{"udp not inspected", portOut, func(r *run) []byte { f := ckOutsideIn.at(5000, 53); return writeUDP(make([]byte, 4096), &f, body) }, flow{}, 0, false},
		{"tcp established", portIn, func(r *run) []byte {
			c := insideOut(r, 33000, "198.51.100.7", 443)
			c.open()
			return writeTCP(make([]byte, 4096), &c.a, c.na, c.nb, packet.ACK|packet.PSH, body)
		}, ckInsideOut, packet.ProtoTCP, true},
	}
	for _, k := range kinds {
		for _, d := range []damage{damageL4, damagePartial, -1} {
			name := "undamaged"
			if d >= 0 {
				name = d.String()
			}
			t.Run(k.name+"/"+name, func(t *testing.T) {
				r := newRun(t, fragConfig(t, false))
				whole := k.frame(r)
				proto := packet.IPv4(whole[14:]).Protocol()
				if d == damagePartial && proto == packet.ProtoICMP {
					t.Skip("ICMP has no pseudo-header and no offload")
				}
				want := dataplane.DropNone
				if d >= 0 {
					want = d.apply(whole)
				}
				if d == damageL4 {
					// Put the field back and damage the last bytes instead.
					d.apply(whole)
					whole[len(whole)-2] ^= 0x20
				}
				var before dataplane.SessionState
				if k.sess {
					r.now += int64(time.Second)
					before = stateOf(t, r, k.init, k.proto)
				}
				created := r.w.Stats.SessionsCreated
				drops := r.w.Stats.Drops
				frags := fragment(t, whole, 1480, 2960)
				fwd := 0
				for _, f := range frags {
					out := r.send(k.port, f)
					fwd += len(out[1-k.port])
				}
				if want == dataplane.DropNone {
					if fwd != len(frags) {
						t.Errorf("%d of %d fragments forwarded (drops %v)", fwd, len(frags), nonZero(r.w.Stats.Drops[:]))
					}
					return
				}
				if fwd != 0 {
					t.Errorf("%d fragments of a damaged datagram forwarded", fwd)
				}
				for i, n := range r.w.Stats.Drops {
					w := uint64(0)
					if dataplane.Reason(i) == want {
						w = uint64(len(frags))
					}
					if n-drops[i] != w {
						t.Errorf("drop counter %q +%d, want +%d", dataplane.Reason(i), n-drops[i], w)
					}
				}
				if r.w.Stats.SessionsCreated != created {
					t.Errorf("damaged datagram created a session")
				}
				if k.sess {
					if after := stateOf(t, r, k.init, k.proto); after != before {
						t.Errorf("damaged datagram changed the session:\nbefore %+v\nafter  %+v", before, after)
					}
				}
			})
		}
	}
}

// Without virtual reassembly every fragment is dropped, the first one
// included: its L4 checksum covers data it does not carry, so it cannot be
// verified before it would create a session (and its followers are
// dropped, so the receiver could not use it).
func TestChecksumFragmentsWithoutReassembly(t *testing.T) {
	r := newRun(t, fragConfig(t, true))
	f := ckInsideOut.at(5000, 9000)
	frags := fragment(t, writeUDP(make([]byte, 4096), &f, make([]byte, 2000)), 1480)
	for i, fr := range frags {
		if out := r.send(portIn, fr); len(out[portOut]) != 0 {
			t.Errorf("fragment %d forwarded without virtual reassembly", i)
		}
	}
	if n := r.drops(dataplane.DropFragment); n != uint64(len(frags)) {
		t.Errorf("%d fragments dropped as such, want %d (drops %v)", n, len(frags), nonZero(r.w.Stats.Drops[:]))
	}
	if live, _ := r.w.SessionCount(); live != 0 || r.w.Stats.SessionsCreated != 0 {
		t.Errorf("a first fragment created a session without virtual reassembly")
	}
	// The same datagram unfragmented passes.
	if out := r.send(portIn, writeUDP(make([]byte, 4096), &f, make([]byte, 1000))); len(out[portOut]) != 1 {
		t.Errorf("whole datagram not forwarded (drops %v)", nonZero(r.w.Stats.Drops[:]))
	}
}

// With two workers, a damaged frame is dropped by the worker that receives
// it: it is never handed over to the flow's owner.
func TestChecksumBeforeHandOver(t *testing.T) {
	rs := compile(t, ckConfig(t, ""))
	dp, qs := twoWorkers(t, rs)
	now := int64(time.Hour)
	step := func() {
		now += int64(time.Millisecond)
		dp.Workers[0].Step(now)
		dp.Workers[1].Step(now)
		for w := 0; w < 2; w++ {
			for p := range qs[w] {
				qs[w][p].Drain(func([]byte) {})
			}
		}
	}
	const flows = 32
	for i := 0; i < flows; i++ {
		f := ckInsideOut.at(uint16(20000+i), 443)
		bad := writeTCP(make([]byte, 128), &f, 1000, 0, packet.SYN, nil)
		damageL4.apply(bad)
		qs[0][portIn].Inject(bad)
		step()
	}
	w0, w1 := &dp.Workers[0].Stats, &dp.Workers[1].Stats
	if w0.Drops[dataplane.DropTCPChecksum] != flows || w1.Drops[dataplane.DropTCPChecksum] != 0 || w0.HandedOver+w1.HandedOver != 0 {
		t.Errorf("worker 0 dropped %d, worker 1 %d, handed over %d; want %d, 0, 0",
			w0.Drops[dataplane.DropTCPChecksum], w1.Drops[dataplane.DropTCPChecksum], w0.HandedOver+w1.HandedOver, flows)
	}
	for i := 0; i < flows; i++ {
		f := ckInsideOut.at(uint16(20000+i), 443)
		qs[0][portIn].Inject(writeTCP(make([]byte, 128), &f, 1000, 0, packet.SYN, nil))
		step()
	}
	if w0.HandedOver == 0 {
		t.Errorf("no undamaged SYN was handed over: the flows did not exercise the hand-over")
	}
}

// `show ip inspect statistics` names each checksum drop reason.
func TestChecksumDropsShown(t *testing.T) {
	r := newRun(t, ckConfig(t, ""))
	f := ckInsideOut
	for _, d := range []damage{damageIP, damageL4, damagePartial} {
		fr := writeTCP(make([]byte, 128), &f, 1000, 0, packet.SYN, nil)
		d.apply(fr)
		r.send(portIn, fr)
	}
	u := ckInsideOut.at(5000, 9000)
	fr := writeUDP(make([]byte, 128), &u, []byte("q"))
	damageL4.apply(fr)
	r.send(portIn, fr)
	m := ckInsideOut.at(7, 7)
	fr = writeICMP(make([]byte, 128), &m, packet.Echo, []byte("p"))
	damageL4.apply(fr)
	r.send(portIn, fr)
	var out bytes.Buffer
	control.ShowStatistics(&out, r.dp, &r.w.Stats)
	for _, name := range []string{"IPv4 header checksum", "TCP checksum", "UDP checksum", "ICMP checksum", "checksum partial (sender offload)"} {
		if !bytes.Contains(out.Bytes(), []byte("  "+name+" ")) {
			t.Errorf("show ip inspect statistics lacks %q:\n%s", name, out.String())
		}
	}
}
