package appinspect

import (
	"cbac/internal/scan"
	"cbac/packet"
	"cbac/smtpfsm"
	"cbac/tcpstream"
)

// SMTP is the inspection state of one SMTP or ESMTP session (IOS "ip
// inspect name N smtp"): the command and reply machines (smtpfsm), the
// client stream's guard with its replay copy (tcpstream: a retransmission
// is forwarded as the first copy was), and the server stream's next byte
// to parse. Data and Client are the client side, Reply and ClampWindow the
// server side.
//
// Client segments, after TCP tracking accepted them:
//
//	out of order -> Drop WhyOutOfOrder; no room in the guard -> Drop
//	WhyBufferFull; data on a SYN -> Drop WhyInvalid
//	retransmitted bytes restored in place from the kept copy (the first
//	copy wins, rewrites included): Rewrite, Differs if they differed
//	the command machine on the new bytes: illegal lines become x in place
//	(Rewrite); max-data -> Reset, nothing kept
//	the new bytes, as forwarded, are kept until the server ACKs them
//
// In data mode the new bytes of a segment that the caller can leave in
// place (HoldAt) are kept by reference (HoldFrame) after one scan for the
// line-start dots, a "." after CR or LF (internal/scan), which the data
// machine then steps through; otherwise the copy comes first and finds the
// dots on the way (KeepLineDot), and a segment with bytes rewritten is
// copied again. The common case of message data, in order with no
// line-start dot, is Data alone (the scan, the data machine's SkipData,
// the hold), which the caller tries before Client.
type SMTP struct {
	FSM         smtpfsm.Session
	Policy      smtpfsm.Policy
	Guard       tcpstream.Guard
	SrvNext     uint32 // sequence number of the next reply byte to parse
	SrvKnown    bool   // SrvNext is set (the SYN/ACK was seen)
	Passthrough bool   // STARTTLS accepted: bytes are no longer parsed
}

// Init prepares s for a session of policy pol whose client stream starts
// at isn, its replay copy in buf.
func (s *SMTP) Init(pol *smtpfsm.Policy, isn uint32, buf []byte) {
	*s = SMTP{Policy: *pol}
	s.FSM.Reset()
	s.Guard.Init(isn, buf)
}

// HoldAt says where a client segment's payload lies in memory that the
// caller can leave untouched, once the segment is sent, until the guard
// gives its offset back (tcpstream.Guard.Hold, Unhold, Release): payload
// is Mem[Off:Off+len(payload)]; Min is the fewest new bytes worth keeping
// so (fewer are copied). The zero HoldAt (Mem nil): copy.
type HoldAt struct {
	Mem []byte
	Off uint64
	Min int
}

// Data is Client's common case, message data: a segment without SYN, in
// order, with room, in data mode inside a line, whose new bytes can be
// held (at), with no line-start dot. It keeps the payload by reference
// after one scan and reports true: the caller forwards the segment as it
// came and holds its memory (HoldFrame). Otherwise it changes nothing and
// reports false, with dot the scan's result (scan.LineDot(payload)) if it
// scanned, else -1, for Client.
func (s *SMTP) Data(seq uint32, flags uint8, payload []byte, at *HoldAt) (held bool, dot int) {
	if at.Mem == nil || len(payload) < at.Min || seq != s.Guard.Next() || flags&packet.SYN != 0 ||
		!s.Guard.CanHold(len(payload)) || s.Passthrough || s.FSM.Mode() != smtpfsm.ModeData {
		return false, -1
	}
	dot = scan.LineDot(payload)
	if dot != len(payload) || !s.FSM.SkipData(&s.Policy, payload) {
		return false, dot
	}
	s.Guard.Hold(at.Mem, at.Off, len(payload)) // CanHold said yes
	return true, dot
}

// Client reads a client segment (sequence number seq, TCP flags, payload)
// that TCP tracking accepted, after Data, whose dot it takes (-1 if Data
// did not scan); at is where the payload may be held. The Verdict is
// Forward or Rewrite (the payload rewritten in place: Out is payload),
// HoldFrame when the new bytes were kept by reference, Differs when
// restored bytes differed; Drop (WhyOutOfOrder, WhyBufferFull,
// WhyInvalid); or Reset (max-data: nothing of the segment is kept, RSTSeq
// and RSTAck are the next byte the server expects). The machine's alerts,
// rewrites and passthrough are in *res, its trace lines in tr (nil: none).
func (s *SMTP) Client(seq uint32, flags uint8, payload []byte, at *HoldAt, dot int, tr *smtpfsm.Trace, res *smtpfsm.Result) (v Verdict) {
	v.Seq = seq
	g := &s.Guard
	if flags&packet.SYN != 0 {
		if len(payload) > 0 {
			// Data on a SYN would bypass the command machine (as at
			// session creation).
			v.Action, v.Why = Drop, WhyInvalid
			return v
		}
		if g.Next() == g.Base() && g.Next() != seq+1 {
			// A new SYN with a later ISN before any data (tcpstate
			// accepts it while the handshake is open): the stream
			// starts after it.
			g.Restart(seq + 1)
		}
		return v
	}
	if len(payload) == 0 {
		return v
	}
	act, start, differs := g.Segment(seq, payload)
	if act == tcpstream.Drop {
		v.Action, v.Why = Drop, WhyBufferFull
		if int32(seq-g.Next()) > 0 {
			v.Why = WhyOutOfOrder
		}
		return v
	}
	v.Differs = differs
	if act == tcpstream.Replay {
		// A retransmission restored in place from the kept copy (the
		// first copy wins, rewrites included).
		v.Action, v.Out = Rewrite, payload
	}
	if start != 0 {
		dot = -1 // Data scanned the whole payload, if anything
	}
	b := payload[start:]
	if len(b) == 0 {
		return v
	}
	if s.Passthrough {
		g.Commit(b)
		return v
	}
	if s.FSM.Mode() != smtpfsm.ModeData {
		*res = s.FSM.Client(&s.Policy, b, tr)
		if res.Reset {
			s.maxData(&v)
			return v
		}
		g.Commit(b)
	} else if at.Mem != nil && len(b) >= at.Min {
		// Message data kept by reference: the memory, final bytes
		// included, is held until the server ACKs it, so only the scan
		// touches b.
		if dot < 0 {
			dot = scan.LineDot(b)
		}
		s.FSM.ClientLineDot(&s.Policy, b, dot, tr, res)
		if res.Reset {
			s.maxData(&v) // nothing kept, nothing held
			return v
		}
		if g.Hold(at.Mem, at.Off+uint64(start), len(b)) {
			v.HoldFrame = true
		} else {
			g.Commit(b)
		}
	} else {
		// Message data copied: into the replay copy, finding its first
		// line-start dot in the same pass, so that the data machine need
		// not scan b again. Bytes it rewrites (rare in data mode) are
		// kept by a second copy.
		dot := KeepLineDot(g, b)
		s.FSM.ClientLineDot(&s.Policy, b, dot, tr, res)
		if res.Reset {
			s.maxData(&v) // nothing kept: Advance not called
			return v
		}
		if res.Rewritten > 0 {
			g.Commit(b)
		} else {
			g.Advance(len(b))
		}
	}
	if res.Rewritten > 0 {
		v.Action, v.Out = Rewrite, payload
	}
	if res.Passthrough {
		s.Passthrough = true
	}
	return v
}

// maxData turns v into the Reset of a client that exceeded max-data: the
// segment is not sent; every byte before the guard's Next was.
func (s *SMTP) maxData(v *Verdict) {
	v.Action, v.Out, v.HoldFrame = Reset, nil, false
	v.RSTSeq, v.RSTAck = s.Guard.Next(), s.Guard.Next()
}

// ServerSYN sets the server's initial sequence number when its SYN/ACK
// does not pass through Reply (TCP intercept joins the halves itself).
func (s *SMTP) ServerSYN(isn uint32) { s.SrvNext, s.SrvKnown = isn+1, true }

// Reply reads a server segment (sequence number seq, a SYN if syn, payload)
// that TCP tracking accepted: new reply bytes are parsed once and in order
// into *res (parsed reports that the machine ran); retransmitted ones pass
// unparsed; a segment beyond a gap is WhyOutOfOrder (dropped until the
// server fills it).
func (s *SMTP) Reply(seq uint32, syn bool, payload []byte, tr *smtpfsm.Trace, res *smtpfsm.Result) (parsed bool, why Why) {
	if syn {
		if !s.SrvKnown {
			s.SrvNext, s.SrvKnown = seq+1, true
		}
		seq++ // payload on a SYN/ACK follows the SYN
	}
	if len(payload) == 0 || !s.SrvKnown || s.Passthrough {
		return false, WhyNone
	}
	off := int32(s.SrvNext - seq)
	if off < 0 {
		return false, WhyOutOfOrder
	}
	if int(off) >= len(payload) {
		return false, WhyNone
	}
	b := payload[off:]
	*res = s.FSM.Server(&s.Policy, b, tr)
	s.SrvNext += uint32(len(b))
	if res.Passthrough {
		s.Passthrough = true
	}
	return true, WhyNone
}

// ClampWindow lowers the window a server segment advertises so that the
// client may send no more new bytes than the guard has room for: the right
// edge ack+window (scaled by the server's shift) is kept at or below
// Next+Free, the sequence number up to which the replay copy can hold the
// client's bytes. That edge only moves right as the server ACKs, so the
// window never shrinks because of the clamp (RFC 7323 2.4), and a client
// with everything acknowledged may still send a whole buffer. When the
// room is less than one window unit (a buffer smaller than 1<<scale) the
// window is one unit rather than zero, so the session cannot stall; the
// guard then drops what does not fit. The checksum is updated
// incrementally (RFC 1624).
func (s *SMTP) ClampWindow(t packet.TCP, scale uint8) { ClampWindow(t, &s.Guard, scale) }

// ClampWindow is SMTP.ClampWindow for a guard g.
func ClampWindow(t packet.TCP, g *tcpstream.Guard, scale uint8) {
	edge := g.Next() + uint32(g.Free())
	room := int32(edge - t.Ack())
	if room < 0 {
		room = 0
	}
	limit := uint32(room) >> scale
	if limit > 0xffff {
		limit = 0xffff
	}
	if limit == 0 && room > 0 {
		limit = 1
	}
	if uint32(t.Window()) > limit {
		t.SetWindowWithChecksum(uint16(limit))
	}
}

// KeepLineDot copies b, new bytes that Segment accepted, to where the
// guard keeps them (tcpstream.Guard.Reserve; Advance keeps them) and
// returns scan.LineDot(b), in one pass over b.
func KeepLineDot(g *tcpstream.Guard, b []byte) int {
	first, second := g.Reserve(len(b))
	if len(second) == 0 {
		if len(first) < len(b) {
			return scan.LineDot(b) // no room (Segment rules it out): Advance refuses
		}
		return scan.CopyLineDot(first, b)
	}
	// The ring wraps: two copies, and the pair that straddles them.
	c := len(first)
	dot := scan.CopyLineDot(first, b[:c]) // c if no dot in b[:c]
	if dot < c || ((b[c-1] == '\n' || b[c-1] == '\r') && b[c] == '.') {
		copy(second, b[c:])
		return dot
	}
	return c + scan.CopyLineDot(second, b[c:]) // len(b) if none
}
