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
// to parse. The dataplane's smtp.go drives the client side (it decides
// whether a data segment's frame is held rather than copied, which needs
// its frame memory); Reply and ClampWindow are the server side.
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
