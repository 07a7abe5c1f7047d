// Package tcpstate tracks TCP connections for CBAC sessions (docs/behaviour.md
// "TCP tracking"): the three-way handshake, both directions' sequence windows
// with the van Rooij rules as Linux implements them
// (net/netfilter/nf_conntrack_proto_tcp.c, tcp_in_window), RFC 5961 RST
// checks, FIN/ACK teardown and the IOS timer class of each state.
//
// The state diagram is in STATES.md beside this file.
//
// Direction 0 is the initiator (sender of the first SYN) to the responder,
// direction 1 the reply. A Conn is a fixed-size value that lives in the
// dataplane's session slab; Init and Step never allocate.
package tcpstate

// side is what one direction has sent, the Linux ip_ct_tcp_state.
type side struct {
	isn    uint32 // sequence number of this side's SYN
	end    uint32 // td_end: highest seq+len sent (SYN and FIN count one)
	maxend uint32 // td_maxend: highest seq the peer allows, max(peer ack + peer window)
	maxwin uint32 // td_maxwin: largest window this side advertised, scaled, at least 1
	maxack uint32 // td_maxack: highest ACK this side sent (valid with sideMaxAck)
	scale  uint8  // td_scale: shift applied to this side's window field
	flags  uint8  // side* bits
}

const (
	sideWScale   uint8 = 1 << iota // window scale option in this side's SYN
	sideSACKPerm                   // SACK-permitted option in this side's SYN
	sideMaxAck                     // maxack is valid
	sideFIN                        // this side sent a FIN; end is the FIN's sequence + 1
	sideFINAcked                   // the peer acknowledged this side's FIN
)

// maxWScale is the largest window shift (RFC 7323 section 2.3: a larger
// value MUST be treated as 14).
const maxWScale = 14

// Handshake phases; the closing states are derived from side flags.
const (
	phaseNone uint8 = iota
	phaseSynSent
	phaseSynRecv
	phaseEstablished
)

// Conn is the tracking state of one TCP connection (52 bytes).
type Conn struct {
	side  [2]side
	phase uint8
	reset bool // an RST was accepted
}

// Init starts tracking with the session's first segment, which must be a
// SYN without ACK travelling in direction 0. On any other verdict than
// Accept the Conn stays unusable (State None) and the session must not be
// created.
func (c *Conn) Init(seg *Segment) Verdict {
	*c = Conn{}
	if !validFlags[seg.Flags&flagMask] {
		return BadFlags
	}
	if seg.Flags&(SYN|ACK|RST) != SYN {
		return NotSyn
	}
	c.side[0].open(seg)
	c.phase = phaseSynSent
	return Accept
}

// open records a side's SYN: its initial sequence number, its first
// window (never scaled in a SYN, RFC 7323 2.2) and its options.
func (s *side) open(seg *Segment) {
	s.isn = seg.Seq
	s.end = seg.end()
	s.maxend = s.end
	s.maxwin = uint32(seg.Window)
	if s.maxwin == 0 {
		s.maxwin = 1
	}
	s.scale = 0
	s.flags = 0
	if seg.WScale >= 0 {
		s.flags |= sideWScale
		s.scale = uint8(min(seg.WScale, maxWScale))
	}
	if seg.SACKPerm {
		s.flags |= sideSACKPerm
	}
}

// Step checks one segment after the first SYN and updates the state when
// it is accepted. dir is 0 for initiator->responder, 1 for the reply. A
// dropped segment leaves the Conn unchanged.
//
// A SYN on a session that is Closed() is refused (SynOnEstablished or
// AfterReset); the caller may delete the session and create a new one from
// that SYN (RFC 1122 4.2.2.13 lets a TIME-WAIT connection be reopened).
func (c *Conn) Step(dir uint8, seg *Segment) Verdict {
	if c.phase == phaseNone {
		return NotSyn
	}
	if !validFlags[seg.Flags&flagMask] {
		return BadFlags
	}
	d := dir & 1
	if c.reset {
		return c.afterReset(d, seg)
	}
	if seg.Flags&SYN != 0 {
		return c.syn(d, seg)
	}
	if seg.Flags&RST != 0 {
		return c.rst(d, seg)
	}
	// Every valid segment without SYN or RST carries an ACK.
	switch c.phase {
	case phaseSynSent:
		if d == 0 {
			// The responder has sent nothing the initiator could ACK.
			return AckUnseen
		}
		// Only a SYN/ACK or an RST may answer a SYN.
		return BadHandshake
	case phaseSynRecv:
		if d == 1 {
			// The responder sends nothing but SYN/ACKs until the
			// initiator's ACK completes the handshake (RFC 793 3.4).
			return BadHandshake
		}
		if !seqAfter(seg.Ack, c.side[1].isn) {
			// The third segment must acknowledge the SYN/ACK.
			return BadHandshake
		}
	}
	if v := c.window(d, seg); v != Accept {
		return v
	}
	if c.phase == phaseSynRecv {
		c.phase = phaseEstablished
	}
	return Accept
}

// syn handles segments with SYN set: the initiator's SYN (retransmitted)
// and the responder's SYN/ACK. Simultaneous open (a SYN without ACK from
// the responder) is not modelled and dropped as BadHandshake.
func (c *Conn) syn(d uint8, seg *Segment) Verdict {
	ini := &c.side[0]
	resp := &c.side[1]
	if seg.Flags&ACK == 0 {
		if c.phase == phaseEstablished {
			return SynOnEstablished
		}
		if d == 1 {
			return BadHandshake // simultaneous open
		}
		switch {
		case c.phase == phaseSynSent && seqLE(ini.isn, seg.Seq):
			// Retransmitted SYN, or a new one with a later ISN
			// (RFC 793: a reinitialized TCP uses larger sequence
			// numbers, Linux tcp_in_window does the same). Options
			// are read again: some stacks drop them on retries and
			// the responder answers the last SYN it got.
			ini.open(seg)
			return Accept
		case c.phase == phaseSynRecv && seg.Seq == ini.isn && seg.end() == ini.end:
			// The SYN/ACK was lost after us; the responder answers
			// this retransmission with its SYN/ACK again.
			return Accept
		}
		return BadHandshake
	}

	// SYN/ACK.
	if d == 0 {
		if c.phase == phaseEstablished {
			return SynOnEstablished
		}
		return BadHandshake
	}
	// It must acknowledge the initiator's SYN: ISN+1, or up to the end of
	// data carried on the SYN (TCP Fast Open).
	synAcked := seqAfter(seg.Ack, ini.isn) && seqLE(seg.Ack, ini.end)
	switch c.phase {
	case phaseSynSent:
		if !synAcked {
			return BadHandshake
		}
		resp.open(seg)
		// RFC 7323 2.2: scaling is used only if both SYNs carry the
		// option; otherwise neither direction scales.
		if ini.flags&resp.flags&sideWScale == 0 {
			ini.scale = 0
			resp.scale = 0
		}
		resp.maxack = seg.Ack
		resp.flags |= sideMaxAck
		// The responder's window bounds what the initiator may send
		// (not scaled in a SYN).
		win := uint32(seg.Window)
		if seqAfter(seg.Ack+win, ini.maxend-1) {
			ini.maxend = seg.Ack + win
			if win == 0 {
				ini.maxend++
			}
		}
		c.phase = phaseSynRecv
		return Accept
	case phaseSynRecv:
		if synAcked && seg.Seq == resp.isn && seqLE(seg.end(), resp.end) {
			return Accept // retransmitted SYN/ACK
		}
		return BadHandshake
	}
	// Established or closing. A SYN/ACK repeating the original exactly,
	// while the responder has sent nothing after it, is a retransmission:
	// the initiator's ACK was lost beyond us. Passing it lets the
	// initiator ACK again; dropping it would leave a server-speaks-first
	// protocol such as SMTP stuck until the responder gives up.
	if synAcked && seg.Seq == resp.isn && seg.end() == resp.end && resp.flags&sideFIN == 0 {
		return Accept
	}
	return SynOnEstablished
}

// closing reports whether either direction has sent a FIN.
func (c *Conn) closing() bool {
	return (c.side[0].flags|c.side[1].flags)&sideFIN != 0
}

// rst checks an RST before the session was reset.
//
// RFC 5961 3.2: an RST is accepted only when its sequence number is exactly
// the receiver's RCV.NXT. The tracker does not know RCV.NXT exactly; it lies
// between the highest ACK the receiver sent (Linux td_maxack) and the end
// of what the sender sent, and both are accepted: the first is the RST a
// stack sends in answer to a segment, the second the RST that follows the
// sender's own last segment. Once the session is closing, any RST inside
// the window is accepted (the endpoints' ACKs may be lost or crossing).
//
// In SYN-SENT the responder's RST is acceptable iff it acknowledges the SYN
// (RFC 793 3.4, "If the ACK bit is set ... the RST is acceptable"); its
// sequence number is usually 0 and is not checked.
func (c *Conn) rst(d uint8, seg *Segment) Verdict {
	snd := &c.side[d]
	rcv := &c.side[d^1]
	if c.phase == phaseSynSent {
		if d == 1 {
			if seg.Flags&ACK == 0 || !seqAfter(seg.Ack, rcv.isn) || seqAfter(seg.Ack, rcv.end) {
				return BadRST
			}
		} else if seg.Seq != snd.end {
			return BadRST
		}
		c.reset = true
		return Accept
	}
	if seg.Flags&ACK != 0 && seg.Ack != 0 {
		// An ACK on an RST is checked like any other; ack 0 is a
		// broken-stack habit Linux tolerates too.
		if v := ackBounds(snd, rcv, seg.Ack); v != Accept {
			return v
		}
	}
	if c.closing() {
		if !seqInWindow(snd, rcv, seg.Seq, seg.Seq+seg.PayloadLen) {
			return BadRST
		}
	} else if seg.Seq != snd.end && (rcv.flags&sideMaxAck == 0 || seg.Seq != rcv.maxack) {
		return BadRST
	}
	c.reset = true
	return Accept
}

// afterReset: once reset, only further RSTs inside the window pass (a
// retransmitted or crossing RST); everything else is dropped.
func (c *Conn) afterReset(d uint8, seg *Segment) Verdict {
	if seg.Flags&(RST|SYN) != RST || c.phase == phaseSynSent {
		return AfterReset
	}
	snd := &c.side[d]
	rcv := &c.side[d^1]
	if !seqInWindow(snd, rcv, seg.Seq, seg.Seq+seg.PayloadLen) {
		return AfterReset
	}
	return Accept
}

// seqInWindow applies van Rooij bounds I and II to a segment [seq, end)
// from snd to rcv:
//
//	I:  seq <= snd.maxend                 (not beyond the receiver's window)
//	II: end >= snd.end - rcv.maxwin       (not older than one window)
func seqInWindow(snd, rcv *side, seq, end uint32) bool {
	return seqLE(seq, snd.maxend) && seqAfter(end, snd.end-rcv.maxwin-1)
}

// maxAckWindow is Linux MAXACKWINDOW: how far below the peer's data an ACK
// may be (a delayed ACK); at least 66000 so that small windows still
// tolerate reordering.
func maxAckWindow(s *side) uint32 {
	if s.maxwin > 66000 {
		return s.maxwin
	}
	return 66000
}

// ackBounds applies van Rooij bounds III and IV to an ACK from snd:
//
//	III: ack <= rcv.end                       (acknowledges only sent data)
//	IV:  ack >= rcv.end - MAXACKWINDOW(snd)   (not an overly delayed ACK)
func ackBounds(snd, rcv *side, ack uint32) Verdict {
	if seqAfter(ack, rcv.end) {
		return AckUnseen
	}
	if !seqAfter(ack, rcv.end-maxAckWindow(snd)-1) {
		return AckTooOld
	}
	return Accept
}

// window is Linux tcp_in_window for a segment with ACK and without SYN or
// RST: the four bounds, then the FIN rules, then the updates.
func (c *Conn) window(d uint8, seg *Segment) Verdict {
	snd := &c.side[d]
	rcv := &c.side[d^1]
	seq := seg.Seq
	end := seg.end()
	if seq == end {
		// No data and no FIN: only the ACK says something (Linux
		// treats it as at the sender's current end).
		seq = snd.end
		end = snd.end
	}
	if !seqInWindow(snd, rcv, seq, end) {
		return OutOfWindow
	}
	ack := seg.Ack
	if v := ackBounds(snd, rcv, ack); v != Accept {
		return v
	}
	// Nothing may follow a FIN, and a FIN cannot come before data
	// already sent.
	if snd.flags&sideFIN != 0 && seqAfter(end, snd.end) {
		return DataAfterFin
	}
	if seg.Flags&FIN != 0 && seqBefore(end, snd.end) {
		return DataAfterFin
	}

	// Accepted: update the sender.
	win := uint32(seg.Window) << snd.scale
	if snd.maxwin < win {
		snd.maxwin = win
	}
	if seqAfter(end, snd.end) {
		snd.end = end
	}
	if snd.flags&sideMaxAck == 0 || seqAfter(ack, snd.maxack) {
		snd.maxack = ack
		snd.flags |= sideMaxAck
	}
	if seg.Flags&FIN != 0 {
		snd.flags |= sideFIN
	}
	// Update the receiver: data beyond the window it advertised widens
	// its largest window (Linux), and this ACK plus window is how far
	// it may be sent to.
	if seqAfter(end, snd.maxend) {
		rcv.maxwin += end - snd.maxend
	}
	if seqAfter(ack+win, rcv.maxend-1) {
		rcv.maxend = ack + win
		if win == 0 {
			rcv.maxend++ // room for a zero-window probe
		}
	}
	if rcv.flags&sideFIN != 0 && ack == rcv.end {
		rcv.flags |= sideFINAcked
	}
	return Accept
}

// State returns the connection state (see STATES.md).
func (c *Conn) State() State {
	switch {
	case c.phase == phaseNone:
		return None
	case c.reset:
		return Closed
	case c.phase == phaseSynSent:
		return SynSent
	case c.phase == phaseSynRecv:
		return SynRecv
	}
	f0, f1 := c.side[0].flags, c.side[1].flags
	fin0, fin1 := f0&sideFIN != 0, f1&sideFIN != 0
	acked0, acked1 := f0&sideFINAcked != 0, f1&sideFINAcked != 0
	switch {
	case fin0 && fin1:
		if acked0 && acked1 {
			return TimeWait
		}
		return LastAck
	case fin0 || fin1:
		if acked0 || acked1 {
			return CloseWait
		}
		return FinWait
	}
	return Established
}

// HalfOpen reports whether the handshake is incomplete (IOS counts these
// against max-incomplete).
func (c *Conn) HalfOpen() bool {
	return !c.reset && (c.phase == phaseSynSent || c.phase == phaseSynRecv)
}

// Closed reports whether the connection is over: both FINs sent and
// acknowledged, or an RST accepted.
func (c *Conn) Closed() bool {
	if c.reset {
		return true
	}
	return c.side[0].flags&c.side[1].flags&sideFINAcked != 0
}

// SISName is the state as IOS prints it in "show ip inspect sessions".
func (c *Conn) SISName() string {
	switch {
	case c.reset || c.closing():
		return "SIS_CLOSING"
	case c.phase == phaseEstablished:
		return "SIS_OPEN"
	}
	return "SIS_OPENING"
}

// TimerClass is the IOS timeout that applies in the current state:
// synwait while half-open, finwait once both FINs or an RST were seen,
// idle otherwise.
func (c *Conn) TimerClass() Timer {
	switch {
	case c.reset:
		return TimerFinWait
	case c.phase != phaseEstablished:
		return TimerSynWait
	case c.side[0].flags&c.side[1].flags&sideFIN != 0:
		return TimerFinWait
	}
	return TimerIdle
}

// WindowScale returns the shift applied to dir's window field (0 when
// scaling was not negotiated).
func (c *Conn) WindowScale(dir uint8) uint8 { return c.side[dir&1].scale }

// SACKPermitted reports whether both SYNs carried SACK-permitted.
func (c *Conn) SACKPermitted() bool {
	return c.side[0].flags&c.side[1].flags&sideSACKPerm != 0
}

// NextSeq returns the sequence number after the last byte (or SYN/FIN)
// dir has sent, as far as the tracker saw: where an RST from dir must be.
func (c *Conn) NextSeq(dir uint8) uint32 { return c.side[dir&1].end }
