package dataplane

import (
	"cbac/flowtable"
	"cbac/packet"
	"cbac/tcpstate"
)

// Resets of half-open TCP sessions that CBAC deletes. IOS sends a reset to
// both ends of every session it drops, so that each end releases its
// incomplete connection instead of waiting for segments that will never
// pass: the responder leaves SYN-RECEIVED, the initiator's connect fails
// (SYN-SENT) or, if the SYN/ACK had passed, its ESTABLISHED connection
// closes instead of waiting forever for a server that speaks first.
//
// A session that expires half-open (synwait) is dropped too and is reset
// the same way, from the expiry loop between batches.

// ResetCause says why a half-open session was deleted and reset.
type ResetCause uint8

const (
	// ResetAggressive: aggressive mode (max-incomplete or one-minute).
	ResetAggressive ResetCause = iota
	// ResetHostOldest: tcp max-incomplete host with block-time 0 deleted
	// the host's oldest half-open session.
	ResetHostOldest
	// ResetHostBlocked: tcp max-incomplete host with block-time > 0
	// deleted all of the host's half-open sessions.
	ResetHostBlocked
	// ResetSynWait: the handshake did not complete within synwait-time.
	ResetSynWait
	// ResetInterceptAggressive: TCP intercept's aggressive mode deleted
	// an incomplete connection (drop-mode oldest or random).
	ResetInterceptAggressive
	// ResetWatchTimeout: a connection watched by TCP intercept was not
	// established within watch-timeout.
	ResetWatchTimeout
	NumResetCauses
)

var resetCauseNames = [NumResetCauses]string{"aggressive mode", "host oldest half-open", "host blocked", "synwait expired",
	"intercept aggressive mode", "watch-timeout expired"}

func (c ResetCause) String() string {
	if c < NumResetCauses {
		return resetCauseNames[c]
	}
	return "unknown"
}

// resetHalfOpen resets both ends of session idx if it is a half-open TCP
// session, before the caller deletes it; the keys must still be readable
// (live, or just expired). RFC 793 3.4 (and RFC 5961 3.2) decide what each
// end accepts:
//   - to the responder, from the initiator as the responder sees it: seq =
//     the initiator's next sequence number, which a responder in
//     SYN-RECEIVED holds as RCV.NXT; with ACK = the responder's next
//     sequence number if its SYN/ACK was seen (Linux checks it then).
//   - to the initiator, RST|ACK with ack = its ISN+1 (NextSeq(0) while
//     half-open), which SYN-SENT requires, and seq = the responder's next
//     sequence number if the SYN/ACK passed (the initiator may be
//     ESTABLISHED and accepts an RST at RCV.NXT), else 0 (SYN-SENT ignores
//     it).
//
// A frame that cannot be had is counted as DropNoFrame by newFrame; the
// session is deleted all the same.
func (w *Worker) resetHalfOpen(idx uint32, cause ResetCause) {
	s := &w.sess[idx]
	if s.flags&(sfTCP|sfHalfOpen) != sfTCP|sfHalfOpen || !s.tcp.HalfOpen() {
		return
	}
	if s.splice != 0 {
		// TCP intercept: the client's handshake is complete (intercept.go).
		if w.resetWaiting(idx, s) {
			w.Stats.HalfOpenResets[cause]++
		}
		return
	}
	e := w.table.Entry(idx)
	c := &s.tcp
	synAck := c.State() == tcpstate.SynRecv
	var seq1, ack0 uint32
	flags0 := uint8(packet.RST)
	if synAck {
		seq1, ack0 = c.NextSeq(1), c.NextSeq(1)
		flags0 |= packet.ACK
	}
	w.sendRST(s, 0, &e.Orig, c.NextSeq(0), ack0, flags0)
	w.sendRST(s, 1, &e.Reply, seq1, c.NextSeq(0), packet.RST|packet.ACK)
	w.Stats.HalfOpenResets[cause]++
}

// sendRST sends an RST travelling in direction dir of session s (0:
// initiator to responder) in a new frame: written with k's addresses and
// ports (the direction's key as seen at ingress), then translated and
// routed as that direction's packets are.
func (w *Worker) sendRST(s *Session, dir uint8, k *flowtable.Key, seq, ack uint32, flags uint8) {
	d, buf, ok := w.newFrame()
	if !ok {
		return
	}
	n := writeRST(buf, k.Src, k.Dst, k.SrcPort, k.DstPort, seq, ack, flags)
	d.Len = uint32(n)
	s.xlate[dir].Apply(packet.IPv4(buf[packet.EthernetHeaderLen:n]))
	w.send(&d, buf[:n], int(s.port[dir]), s.nextHop[dir])
}

// writeRST writes an Ethernet+IPv4+TCP segment with the given flags (RST,
// RST|ACK) into b and returns its length. The Ethernet addresses are left
// to send.
func writeRST(b []byte, src, dst uint32, sport, dport uint16, seq, ack uint32, flags uint8) int {
	const l = packet.EthernetHeaderLen + 20 + 20
	packet.Ethernet(b).SetType(packet.EtherTypeIPv4)
	ip := packet.IPv4(b[packet.EthernetHeaderLen:l])
	packet.WriteIPv4Header(ip, src, dst, packet.ProtoTCP, 64, 20, 0)
	t := packet.TCP(b[packet.EthernetHeaderLen+20 : l])
	for i := range t {
		t[i] = 0
	}
	t.SetSrcPort(sport)
	t.SetDstPort(dport)
	t.SetSeq(seq)
	t.SetAck(ack)
	t.SetDataOffset(20)
	t.SetFlags(flags)
	t.SetChecksum(t.CalculateChecksum(src, dst))
	return l
}

// resetRefused ends session idx on an inspector's refusal of segment p,
// travelling in direction dir: the segment becomes the RST to its receiver
// at rstSeq (the next byte the receiver expects: every byte before it was
// forwarded), a new frame carries the RST to its sender at the sequence
// number the sender acknowledged (the segment's ACK field, in the
// receiver's own numbering), acknowledging rstAck; the drop is counted
// under reason and the session deleted.
func (w *Worker) resetRefused(d *Desc, frame []byte, p *pkt, s *Session, idx uint32, dir uint8, rstSeq, rstAck uint32, reason Reason) {
	ack := packet.TCP(p.l4).Ack()
	e := w.table.Entry(idx)
	keys := [2]*flowtable.Key{&e.Orig, &e.Reply}
	back := dir ^ 1
	if nd, buf, ok := w.newFrame(); ok {
		k := keys[back]
		n := writeRST(buf, k.Src, k.Dst, k.SrcPort, k.DstPort, ack, rstAck, packet.RST|packet.ACK)
		nd.Len = uint32(n)
		w.sendRSTFrame(&nd, buf[:n], s, back)
	}
	n := writeRST(frame, p.src, p.dst, p.sport, p.dport, rstSeq, ack, packet.RST|packet.ACK)
	d.Len = uint32(n)
	w.sendRSTFrame(d, frame[:n], s, dir)
	w.Stats.Drops[reason]++
	w.deleteSession(idx)
}

// sendRSTFrame translates an RST written with the addresses of direction
// dir as they arrive (and, towards an intercepted session's server, its
// sequence space) and sends it.
func (w *Worker) sendRSTFrame(d *Desc, frame []byte, s *Session, dir uint8) {
	ip := packet.IPv4(frame[packet.EthernetHeaderLen:])
	if dir == 0 && s.splice != 0 {
		w.splices.get(s.splice).splice.ClientToServer(ip.Payload())
	}
	s.xlate[dir].Apply(ip)
	w.send(d, frame, int(s.port[dir]), s.nextHop[dir])
}
