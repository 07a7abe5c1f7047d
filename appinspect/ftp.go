package appinspect

import (
	"cbac/ftpfsm"
	"cbac/packet"
)

// FTP inspection of a control connection (IOS "ip inspect name N ftp"):
// ftpfsm's machines judge the commands and replies; this inspector turns
// their results into verdicts on segments.
//
//   - Announcements: each accepted PORT, EPRT, 227 and 229 becomes one
//     Expect (the data connection to admit) and, when static NAT
//     translates the announced address (the client's for PORT and EPRT,
//     the server's for 227), a rewrite of its text to the address the
//     peer must use.
//   - Held bytes: a line that may still announce something is held back
//     (ftpfsm's Result.Hold, at most ftpfsm.MaxHold bytes) and sent in
//     front of the bytes that complete it; the segment that brought them
//     is sent without them.
//   - Sequence numbers: a rewrite that changes the text's length shifts
//     every later byte of its direction; Segment maps the direction's
//     sequence numbers forward, MapAck the other direction's
//     acknowledgements and SACK blocks back (ftpfsm.Shift), for the life
//     of the connection.
//   - Retransmissions: bytes before the held ones were sent already; a
//     retransmission of them is sent with the rewrites the first copy got
//     (the replacement texts of the last ftpfsm.MaxShifts rewrites are
//     kept; a retransmission reaching before them is dropped).
//   - Refusals: a PORT or EPRT that ftpfsm refuses (not logged in, bounce,
//     privileged port, malformed) and any command line it would rewrite
//     (longer than 512 octets, bare CR) end the session: Reset, the
//     segment is not sent. A 227 or 229 it does not trust is sent as it is
//     with an alert, and opens nothing.
//   - AUTH answered 234: the rest of the connection is TLS, forwarded with
//     the shifts so far and not parsed.
type FTP struct {
	fsm         ftpfsm.Session
	cliIn       uint32 // the client's address as its packets arrive
	cliOut      uint32 // the client's address as the server sees it (after NAT)
	srvIn       uint32 // the server's address as its packets arrive
	srvOut      uint32 // the server's address as the client addresses it
	passthrough bool
	dir         [2]ftpStream
}

// ftpStream is one direction's stream state, in the sender's original
// numbering.
type ftpStream struct {
	next    uint32 // the next byte to parse
	known   bool   // next is set (the direction's SYN was seen)
	shifted bool   // shift holds a length change
	nheld   uint8
	held    [ftpfsm.MaxHold]byte // bytes [next-nheld, next): not sent yet
	shift   ftpfsm.Shift
	nrw     uint8
	rwLost  bool   // rewrites were forgotten: bytes before rwFloor cannot be replayed
	rwFloor uint32 // end of the last forgotten rewrite
	rw      [ftpfsm.MaxShifts]ftpRewrite
}

// ftpRewrite is one announcement text replaced in a direction: oldLen
// bytes at start became text[:n].
type ftpRewrite struct {
	start  uint32
	oldLen uint8
	n      uint8
	text   [ftpfsm.MaxText]byte
}

// Init prepares f for a control connection whose client's SYN had
// sequence number isn: cliIn and srvIn are the client's and the server's
// addresses as their packets reach the firewall, cliOut the client's
// address as the server sees it and srvOut the server's as the client
// addresses it (static NAT; equal when nothing is translated).
func (f *FTP) Init(cliIn, cliOut, srvIn, srvOut, isn uint32) {
	*f = FTP{cliIn: cliIn, cliOut: cliOut, srvIn: srvIn, srvOut: srvOut}
	f.fsm.Init(cliIn, srvIn)
	f.dir[0].known, f.dir[0].next = true, isn+1
}

// ServerSYN sets the server's initial sequence number when its SYN/ACK
// does not pass through Segment (TCP intercept joins the halves itself).
func (f *FTP) ServerSYN(isn uint32) {
	if st := &f.dir[1]; !st.known {
		st.known, st.next = true, isn+1
	}
}

// Client returns the client's address as its packets arrive and the
// server's as the server's packets arrive (for messages).
func (f *FTP) Client() uint32 { return f.cliIn }
func (f *FTP) Server() uint32 { return f.srvIn }

// LoggedIn reports whether the server accepted a login.
func (f *FTP) LoggedIn() bool { return f.fsm.LoggedIn() }

func before(a, b uint32) bool { return int32(a-b) < 0 }

// MapAck maps the acknowledgement number and the SACK blocks of a segment
// travelling in direction dir (TCP header t, checksum updated) from the
// numbering its sender received the other direction in back to that
// direction's original numbering, before TCP tracking sees the segment.
// It reports false when a number lies before a forgotten rewrite: the
// caller drops the segment.
func (f *FTP) MapAck(dir uint8, t packet.TCP) bool {
	o := &f.dir[(dir&1)^1]
	if !o.shifted || t.Flags()&packet.ACK == 0 {
		return true
	}
	ack := t.Ack()
	a, ok := o.shift.Back(ack)
	if !ok {
		return false
	}
	if a != ack {
		t.SetAckWithChecksum(a)
	}
	o.shift.Acked(a)
	off, l := t.FindOption(packet.TCPOptSACK)
	if off < 0 || l < 10 || (l-2)%8 != 0 {
		return true
	}
	for i := off + 2; i+8 <= off+l; i += 8 {
		left, right := t.Uint32At(i), t.Uint32At(i+4)
		nl, nr, ok := o.shift.SACKBack(left, right)
		if !ok {
			nl, nr = a, a // nothing of the block is left: an empty block, which receivers ignore
		}
		if nl != left {
			t.SetUint32AtWithChecksum(i, nl)
		}
		if nr != right {
			t.SetUint32AtWithChecksum(i+4, nr)
		}
	}
	return true
}

// ScratchLen is the length Segment needs its buf to have for a payload of
// n bytes: room for the held bytes and for every text grown by a rewrite.
func ScratchLen(n int) int { return 4*n + 512 }

// ftpAnn is an accepted announcement at original sequence numbers
// [at, end) of its direction.
type ftpAnn struct {
	a       ftpfsm.Announcement
	at, end uint32
}

// maxSegmentAnn is how many accepted announcements one segment may carry;
// a segment with more resets the session (16 data connections announced
// at once is no client's behaviour).
const maxSegmentAnn = 16

// Segment reads a segment that TCP tracking accepted, travelling in
// direction dir (0: client to server) with sequence number seq, TCP flags
// and payload, and returns what to send. A Rewrite's Out is built in buf
// (len(buf) >= ScratchLen(len(payload))) and is at most max bytes long:
// what does not fit is not sent (its sender retransmits it).
func (f *FTP) Segment(dir uint8, seq uint32, flags uint8, payload []byte, buf []byte, max int) (v Verdict) {
	dir &= 1
	st := &f.dir[dir]
	if flags&packet.RST != 0 {
		return st.forward(v, seq)
	}
	if flags&packet.SYN != 0 {
		if len(payload) > 0 {
			v.Action, v.Why = Drop, WhyInvalid
			return v
		}
		if !st.known {
			st.known, st.next = true, seq+1
		}
		return st.forward(v, seq)
	}
	n := uint32(len(payload))
	if !st.known || len(buf) < ScratchLen(len(payload)) {
		if n == 0 {
			return st.forward(v, seq)
		}
		v.Action, v.Why = Drop, WhyInvalid
		return v
	}
	end := seq + n
	oldNext := st.next
	h := oldNext - uint32(st.nheld)
	fin := flags&packet.FIN != 0
	if before(oldNext, seq) {
		if n == 0 && !fin {
			return st.forward(v, seq) // a bare ACK
		}
		v.Action, v.Why = Drop, WhyOutOfOrder
		return v
	}
	// The new bytes: those at or after next.
	var nb []byte
	if before(oldNext, end) {
		nb = payload[oldNext-seq:]
	}
	hold := int(st.nheld)
	var anns [maxSegmentAnn]ftpAnn
	nann := 0
	refuse := false
	if len(nb) > 0 && !f.passthrough {
		for i := 0; i < len(nb); {
			var r ftpfsm.Result
			if dir == 0 {
				r = f.fsm.Client(nb[i:])
			} else {
				r = f.fsm.Server(nb[i:])
			}
			at := oldNext + uint32(i)
			v.Alerts |= r.Alerts
			for k := 0; k < r.N; k++ {
				a := &r.Ann[k]
				if a.Refused != ftpfsm.AlertNone {
					if v.Refused.Kind == ftpfsm.KindNone {
						v.Refused = *a
					}
					if a.Kind.Client() {
						refuse = true
					}
					continue
				}
				if nann == maxSegmentAnn {
					refuse = true
					continue
				}
				anns[nann] = ftpAnn{a: *a, at: at + uint32(int32(a.Start)), end: at + uint32(int32(a.End))}
				nann++
			}
			if r.Rewritten > 0 || r.XHeld > 0 {
				refuse = true
			}
			hold = r.Hold
			if r.Passthrough {
				f.passthrough = true
				hold = 0
				break
			}
			if r.Next <= 0 {
				break
			}
			i += r.Next
		}
	} else if f.passthrough {
		hold = 0
	}
	if refuse {
		v.Action = Reset
		v.RSTSeq, _ = st.shift.Forward(h)
		v.RSTAck = h
		return v
	}
	if fin {
		hold = 0 // the line will never end: what is held goes with the FIN
	}
	newNext := oldNext
	if len(nb) > 0 {
		newNext = end
	}
	// Translations and related connections.
	rewrites := false
	for i := 0; i < nann; i++ {
		a := &anns[i].a
		switch a.Kind {
		case ftpfsm.KindPORT, ftpfsm.KindEPRT:
			v.expect(Expect{Src: f.srvIn, Dst: f.cliOut, Port: a.Port, From: 1, Kind: a.Kind})
			rewrites = rewrites || f.cliOut != a.Addr
		case ftpfsm.Kind227:
			v.expect(Expect{Src: f.cliIn, Dst: f.srvOut, Port: a.Port, From: 0, Kind: a.Kind})
			rewrites = rewrites || f.srvOut != a.Addr
		case ftpfsm.Kind229:
			v.expect(Expect{Src: f.cliIn, Dst: f.srvOut, Port: a.Port, From: 0, Kind: a.Kind})
		}
	}
	if st.nheld == 0 && hold == 0 && !rewrites && seq == oldNext {
		// The common case: the payload goes as it came.
		st.next = newNext
		return st.forward(v, seq)
	}
	// Build what is sent: retransmitted bytes before h (with the rewrites
	// their first copy got), then [h, newNext-hold) from the held bytes
	// and the new ones, announcement texts replaced.
	o := buf[:0]
	start := h
	if before(seq, h) {
		rend := n
		if before(h, end) {
			rend = h - seq
		}
		var ok bool
		if o, ok = st.replay(o, seq, payload[:rend]); !ok {
			v.Action, v.Why = Drop, WhyUnknown
			return v
		}
		start = seq
	}
	src := streamSrc{held: st.held[:st.nheld], h: h, nb: nb, nbAt: oldNext}
	pend := h
	for i := 0; i < nann; i++ {
		a := &anns[i]
		addr := a.a.Addr
		switch a.a.Kind {
		case ftpfsm.KindPORT, ftpfsm.KindEPRT:
			addr = f.cliOut
		case ftpfsm.Kind227:
			addr = f.srvOut
		}
		if a.a.Kind == ftpfsm.Kind229 || addr == a.a.Addr || before(a.at, pend) {
			continue
		}
		var tb [ftpfsm.MaxText]byte
		text, _ := ftpfsm.Replacement(&tb, &a.a, addr, a.a.Port)
		o = src.appendRange(o, pend, a.at)
		o = append(o, text...)
		oldLen := int(a.end - a.at)
		st.record(a.at, oldLen, text)
		pend = a.end
	}
	cut := newNext - uint32(hold)
	if before(cut, pend) {
		cut = pend
	}
	o = src.appendRange(o, pend, cut)
	var keep [ftpfsm.MaxHold]byte
	k := src.appendRange(keep[:0], cut, newNext)
	st.nheld = uint8(copy(st.held[:], k))
	st.next = newNext
	if len(o) > max {
		o = o[:max]
		v.ClearFIN = true
	} else if fin && st.nheld > 0 {
		v.ClearFIN = true
	}
	var ok bool
	if v.Seq, ok = st.shift.Forward(start); !ok {
		v.Action, v.Why = Drop, WhyUnknown
		return v
	}
	v.Action, v.Out = Rewrite, o
	return v
}

// forward is a Forward verdict at sequence number seq mapped through the
// direction's shift.
func (st *ftpStream) forward(v Verdict, seq uint32) Verdict {
	s, ok := st.shift.Forward(seq)
	if !ok {
		v.Action, v.Why = Drop, WhyUnknown
		return v
	}
	v.Action, v.Seq = Forward, s
	return v
}

// record notes that oldLen bytes at start were replaced by text: in the
// shift (when the length changed) and in the rewrites replayed for
// retransmissions.
func (st *ftpStream) record(start uint32, oldLen int, text []byte) {
	if len(text) != oldLen {
		st.shift.Add(start, oldLen, len(text))
		st.shifted = true
	}
	if int(st.nrw) == len(st.rw) {
		st.rwLost = true
		st.rwFloor = st.rw[0].start + uint32(st.rw[0].oldLen)
		copy(st.rw[:], st.rw[1:])
		st.nrw--
	}
	r := &st.rw[st.nrw]
	r.start, r.oldLen = start, uint8(oldLen)
	r.n = uint8(copy(r.text[:], text))
	st.nrw++
}

// replay appends to o the bytes b, sent before at original numbers from
// seq on, with the replacement text of every rewrite they overlap (a text
// is sent whole even when b covers only part of what it replaced). It
// reports false when b begins before a forgotten rewrite.
func (st *ftpStream) replay(o []byte, seq uint32, b []byte) ([]byte, bool) {
	if st.rwLost && before(seq, st.rwFloor) {
		return o, false
	}
	pos, end := seq, seq+uint32(len(b))
	for i := 0; i < int(st.nrw); i++ {
		r := &st.rw[i]
		rEnd := r.start + uint32(r.oldLen)
		if !before(pos, rEnd) {
			continue
		}
		if !before(r.start, end) {
			break
		}
		if before(pos, r.start) {
			o = append(o, b[pos-seq:r.start-seq]...)
		}
		o = append(o, r.text[:r.n]...)
		pos = rEnd
		if !before(pos, end) {
			return o, true
		}
	}
	return append(o, b[pos-seq:]...), true
}

// streamSrc is the original bytes from h on: the held ones, then nb (at
// nbAt = h + len(held)).
type streamSrc struct {
	held []byte
	h    uint32
	nb   []byte
	nbAt uint32
}

// appendRange appends the original bytes [from, to) to o.
func (s *streamSrc) appendRange(o []byte, from, to uint32) []byte {
	if !before(from, to) {
		return o
	}
	if before(from, s.nbAt) {
		e := to
		if before(s.nbAt, e) {
			e = s.nbAt
		}
		o = append(o, s.held[from-s.h:e-s.h]...)
		from = e
	}
	if before(from, to) {
		o = append(o, s.nb[from-s.nbAt:to-s.nbAt]...)
	}
	return o
}
