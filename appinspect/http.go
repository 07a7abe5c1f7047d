package appinspect

import (
	"cbac/httpfsm"
	"cbac/packet"
)

// HTTP inspection (IOS "ip inspect name N http [java-list ACL]", Java
// blocking): httpfsm's machines read the requests and the responses; this
// inspector turns an applet into a Reset. The caller creates one only for
// a session whose server the java-list does not trust: a trusted server's
// session needs no inspection at all.
//
//   - Order: each direction's new bytes are read once and in order; a
//     segment beginning beyond the next expected byte is dropped
//     (WhyOutOfOrder; its sender retransmits it), a retransmission of
//     bytes already read is forwarded as it comes, unread.
//   - Applet: the response segment in which httpfsm finds an applet is
//     not sent; Reset, at the next byte the client expects from the
//     server (RSTSeq, RSTAck: nothing is rewritten, the numberings are
//     one). Applet tells the cause for the message.
//   - Tunnel (101, 2xx to CONNECT): the rest of the connection is
//     forwarded unread.
//
// Nothing is rewritten, so MapAck has nothing to do and there is none.
type HTTP struct {
	fsm    httpfsm.Session
	next   [2]uint32 // per direction: the next byte to read
	known  [2]bool   // next is set (the direction's SYN was seen)
	tunnel bool
	cause  httpfsm.Cause
	// Archives counts responses that began with a zip header (applets
	// IOS cannot see, passed).
	Archives uint32
}

// Init prepares h for a connection whose client's SYN had sequence
// number isn.
func (h *HTTP) Init(isn uint32) {
	*h = HTTP{}
	h.fsm.Reset()
	h.known[0], h.next[0] = true, isn+1
}

// ServerSYN sets the server's initial sequence number when its SYN/ACK
// does not pass through Segment (TCP intercept joins the halves itself).
func (h *HTTP) ServerSYN(isn uint32) {
	if !h.known[1] {
		h.known[1], h.next[1] = true, isn+1
	}
}

// Applet returns why the last Reset refused a response (CauseNone if
// none did).
func (h *HTTP) Applet() httpfsm.Cause { return h.cause }

// Segment reads one segment of direction dir (0: client to server) with
// sequence number seq, TCP flags and payload, and returns what to do.
// The Verdict is Forward, Drop or Reset; Seq is always seq.
func (h *HTTP) Segment(dir uint8, seq uint32, flags uint8, payload []byte) (v Verdict) {
	dir &= 1
	v.Seq = seq
	if flags&packet.RST != 0 {
		return v
	}
	if flags&packet.SYN != 0 {
		if len(payload) > 0 {
			v.Action, v.Why = Drop, WhyInvalid
			return v
		}
		if !h.known[dir] {
			h.known[dir], h.next[dir] = true, seq+1
		}
		return v
	}
	n := uint32(len(payload))
	if n == 0 {
		return v // a bare ACK or FIN: nothing to read
	}
	if !h.known[dir] {
		v.Action, v.Why = Drop, WhyInvalid
		return v
	}
	next := h.next[dir]
	if before(next, seq) {
		v.Action, v.Why = Drop, WhyOutOfOrder
		return v
	}
	end := seq + n
	if !before(next, end) {
		return v // a retransmission: read already
	}
	h.next[dir] = end
	if h.tunnel {
		return v
	}
	nb := payload[next-seq:]
	var r httpfsm.Result
	if dir == 0 {
		r = h.fsm.Request(nb)
	} else {
		r = h.fsm.Response(nb)
		h.Archives += uint32(r.Archives)
	}
	if r.Tunnel {
		h.tunnel = true
	}
	if r.Applet {
		h.next[dir] = next // nothing of this segment is sent
		h.cause = r.Cause
		v.Action = Reset
		v.RSTSeq, v.RSTAck = next, next
	}
	return v
}
