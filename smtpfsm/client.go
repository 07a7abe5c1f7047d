package smtpfsm

import "bytes"

// maxCommandLine is the longest legal command line, CRLF included (RFC 5321
// section 4.5.3.1.4). Octets from number 513 on are rewritten.
const maxCommandLine = 512

// Client inspects client-to-server bytes and rewrites b in place: from the
// first byte at which a command line is known to be illegal to the end of
// that line, every byte except CR and LF becomes 'x' (SPEC 5). The length
// never changes. Bytes passed in an earlier call are not recalled.
//
// Consequences of "known", written down because they surprise:
//   - under smtp, `EHLO a` becomes `xxxxxx`: no smtp verb begins with E;
//   - under esmtp, `EXPN root` becomes `Exxxxxxxx`: E may begin EHLO or ETRN,
//     so the E passes and the line is known illegal at X;
//   - typed one byte per call, `QZZZ` becomes `Qxxx`.
//
// Bytes the client sends after DATA but before the server's 354 are read as
// commands (a legal client waits for 354, RFC 5321 section 4.1.1.4), so a
// client that streams its body early gets illegal lines rewritten. This
// cannot desynchronise the end of data: a line starting with "." is always
// illegal as a command, and a "." after a bare CR inside a line is
// rewritten with the rest of that line (AlertBareCR), so the server can
// never see an early end marker.
//
//go:noinline
func (s *Session) Client(p *Policy, b []byte, tr *Trace) (r Result) {
	// r is the named result so that it is written in place, not copied on
	// return (a 40-byte copy of freshly written bytes stalls store
	// forwarding, as much as scanning a data segment); inlined, Client
	// would hand r to its caller as a copy.
	s.client(p, b, -1, tr, &r)
	return r
}

// ClientLineDot is Client for a caller that has already looked for the
// first line-start dot of b: dot must be scan.LineDot(b), the index of the
// first "." in b that follows a CR or a LF, or len(b). Data mode then goes
// straight to it instead of scanning b (the dataplane finds it while
// copying b into the replay copy). What Client would return goes to *r, which the caller
// zeroes: a result written in place, never copied, costs nothing on the
// path of a data segment, where the machine has little else to do.
func (s *Session) ClientLineDot(p *Policy, b []byte, dot int, tr *Trace, r *Result) {
	if dot == len(b) && s.SkipData(p, b) {
		return
	}
	if dot < 0 || dot > len(b) {
		dot = -1 // not a valid hint: scan
	}
	s.client(p, b, dot, tr, r)
}

// SkipData is ClientLineDot's common case on its own, for a b with no
// line-start dot (scan.LineDot(b) == len(b)): in data mode inside
// a line, all of b is message data, and only its last bytes tell the
// state after it (what data does for such a b, without the call). It
// counts b and returns true, or, in any other case (another mode, a line
// start, a "." right after a CR that ended the last segment, quarantine,
// max-data reached, fewer than two bytes), changes nothing and returns
// false.
func (s *Session) SkipData(p *Policy, b []byte) bool {
	n := uint64(len(b))
	if n < 2 || s.mode != ModeData || !s.inLine(b[0]) || (p.MaxData != 0 && s.dataBytes+n > p.MaxData) {
		return false
	}
	s.dstate = lastState(b[n-2], b[n-1])
	s.dataBytes += n
	return true
}

// client is Client; dot is scan.LineDot(b), or -1 if unknown.
func (s *Session) client(p *Policy, b []byte, dot int, tr *Trace, r *Result) {
	switch s.mode {
	case ModePassthrough:
		r.Passthrough = true
		return
	case ModeClosed:
		r.Reset = true
		return
	}
	var c call
	c.legal = p.legal(s.ext)
	c.start = s.lineLen
	i := 0
	for i < len(b) && !r.Reset {
		switch s.mode {
		case ModeData:
			i = s.data(p, b, i, dot, r)
			c.start = 0
			if s.mode == ModeCommand && p.ESMTP && !s.ext.Has(ExtPIPELINING) {
				c.closed = true // the end of data is a command awaiting its reply
			}
		case ModeAuth:
			i = s.authLine(b, i, r)
			c.start = 0
		default:
			i = s.commands(p, &c, b, i, r, tr)
		}
	}
	if tr != nil && s.mode == ModeCommand && s.lineLen > c.start {
		s.traceProgress(tr, c.start, s.lineLen, false)
	}
}

// call is the per-call state of the command machine.
type call struct {
	legal  VerbSet
	start  uint32 // lineLen when the current trace phase began in this call
	closed bool   // esmtp: a command ended in this call that forbids another (RFC 2920)
}

// commands runs the command machine from b[i] until the end of b or a mode
// change, and returns the index of the next unread byte.
func (s *Session) commands(p *Policy, c *call, b []byte, i int, r *Result, tr *Trace) int {
	for ; i < len(b); i++ {
		if s.phase == phArgs && !s.params && !s.bad && !s.cr {
			i = s.skipArgs(b, i)
			if i == len(b) {
				break
			}
		}
		ch := b[i]
		if s.lineLen == 0 && c.closed && !s.bad {
			// RFC 2920: without PIPELINING one command per segment; with it,
			// nothing may follow EHLO, DATA, VRFY, QUIT, NOOP, STARTTLS...
			s.bad = true
			r.alert(AlertPipelining)
		}
		if s.lineLen != ^uint32(0) {
			s.lineLen++
		}
		if ch == '\n' {
			if s.lineLen > maxCommandLine && !s.long {
				r.alert(AlertLongLine) // the LF is octet 513: nothing left to rewrite
			}
			s.endCommandLine(p, c, r, tr)
			continue
		}
		if s.cr && !s.bad {
			s.bad = true // bare CR: RFC 5321 section 2.3.8
			r.alert(AlertBareCR)
		}
		s.cr = ch == '\r'
		if s.lineLen > maxCommandLine && !s.long {
			s.long = true
			s.bad = true
			r.alert(AlertLongLine)
		}
		if s.phase == phVerb {
			if ch == ' ' || ch == '\r' {
				if tr != nil {
					s.traceProgress(tr, c.start, s.lineLen-1, false)
					c.start = s.lineLen - 1
				}
				s.verbEnd(p, c.legal, r, tr)
			} else {
				s.verbByte(ch, c.legal, r)
			}
		} else if s.params && !s.bad {
			s.paramByte(p, ch, r)
		}
		if s.bad && ch != '\r' {
			b[i] = 'x'
			r.Rewritten++
		}
	}
	return i
}

// skipArgs is the fast path over argument text that nothing parses: it
// passes bytes up to the line's LF (or its final CR) while the line stays
// within 512 octets and holds no CR, and returns the index of the first byte
// the byte loop must see.
func (s *Session) skipArgs(b []byte, i int) int {
	rest := b[i:]
	if j := bytes.IndexByte(rest, '\n'); j >= 0 {
		rest = rest[:j]
	}
	if j := bytes.IndexByte(rest, '\r'); j >= 0 {
		rest = rest[:j]
	}
	n := len(rest)
	if room := int(maxCommandLine) - int(s.lineLen); n > room {
		n = max(room, 0)
	}
	s.lineLen += uint32(n)
	return i + n
}

// verbByte feeds one verb character.
func (s *Session) verbByte(ch byte, legal VerbSet, r *Result) {
	node := s.node
	if s.verbLen == 0 {
		node = trieRoot
	}
	node = trieStep(node, ch)
	s.node = node
	if int(s.verbN) < len(s.verbBuf) {
		if ch < 0x20 || ch > 0x7e {
			ch = '?' // the alert text goes to logs: printable ASCII only
		}
		s.verbBuf[s.verbN] = ch
		s.verbN++
	}
	if s.verbLen != ^uint16(0) {
		s.verbLen++
	}
	if !s.verbBad && trieUnder[node]&legal == 0 {
		// No legal verb begins so: illegal from this byte on.
		s.verbBad = true
		s.bad = true
	}
	if s.verbBad && !s.alerted && int(s.verbLen) > len(s.verbBuf) {
		// Longer than any verb and than the alert text: report it now,
		// truncated, rather than at a line end that may never come.
		s.alerted = true
		s.invalidVerb(r)
	}
}

// verbEnd closes the verb at its terminator (SP or CR; LF via
// endCommandLine).
func (s *Session) verbEnd(p *Policy, legal VerbSet, r *Result, tr *Trace) {
	s.phase = phArgs
	v := VerbNone
	if s.verbLen > 0 {
		v = trieVerb[s.node]
	}
	if v == VerbNone || !legal.Has(v) {
		if !s.verbBad {
			s.verbBad = true
			s.bad = true // empty verb, or a legal verb's strict prefix
		}
	}
	if s.verbBad {
		if !s.alerted {
			s.alerted = true
			if v == VerbETRN && p.ESMTP {
				s.violation(r, ParamETRN)
			} else {
				s.invalidVerb(r)
			}
		}
		return
	}
	if tr != nil {
		tr.add(Event{Kind: EvVerbMatch, MatchID: uint16(v)})
	}
	if s.bad {
		return // garbled before the verb ended (pipelining): the server sees no verb
	}
	s.verb = v
	if p.ESMTP && (v == VerbMAIL || v == VerbRCPT) {
		s.params = true
		s.pState = psWordStart
	}
}

func (s *Session) invalidVerb(r *Result) {
	if !r.Alerts.Has(AlertInvalidCommand) {
		r.VerbLen = s.verbN
		r.Verb = s.verbBuf
	}
	r.alert(AlertInvalidCommand)
}

// endCommandLine closes a command line at its LF.
func (s *Session) endCommandLine(p *Policy, c *call, r *Result, tr *Trace) {
	if s.phase == phVerb {
		if tr != nil {
			s.traceProgress(tr, c.start, s.lineLen-1, false)
			c.start = s.lineLen - 1
		}
		s.verbEnd(p, c.legal, r, tr)
	}
	if s.params && !s.bad {
		s.paramEnd(p, r)
	}
	if s.cmdIndex != ^uint32(0) {
		s.cmdIndex++
	}
	if tr != nil {
		s.traceProgress(tr, c.start, s.lineLen, true)
		tr.add(Event{Kind: EvParamMatch, MatchID: paramMatchEOL})
		tr.add(Event{Kind: EvEndCommand, Index: s.cmdIndex, Len: s.lineLen})
	}
	s.cmdSeq++
	v := s.verb
	switch v {
	case VerbDATA:
		s.pushSpecial(specData)
	case VerbAUTH:
		s.pushSpecial(specAuth)
	case VerbSTARTTLS:
		s.pushSpecial(specTLS)
	case VerbEHLO:
		s.pushSpecial(specEHLO)
	case VerbHELO:
		s.pushSpecial(specHELO)
	}
	if p.ESMTP && (!s.ext.Has(ExtPIPELINING) || batchEnders.Has(v)) {
		c.closed = true
	}
	s.lastCRLF = s.cr
	s.newLine()
	c.start = 0
}

// maxAuthLine is the longest AUTH response line, CRLF included (RFC 4954
// section 4: 12288 octets). Octets beyond it are rewritten, so that a server
// that cuts a longer line into pieces never reads an uninspected piece as a
// command.
const maxAuthLine = 12288

// authLine passes one base64 AUTH response line (RFC 4954 section 4) without
// inspecting it; its reply decides what the next line is.
func (s *Session) authLine(b []byte, i int, r *Result) int {
	end := len(b)
	j := bytes.IndexByte(b[i:], '\n')
	if j >= 0 {
		end = i + j
	}
	n := uint32(end - i)
	room := uint32(0)
	if s.lineLen < maxAuthLine {
		room = maxAuthLine - s.lineLen
	}
	if n > room {
		if !s.long {
			s.long = true
			r.alert(AlertLongLine)
		}
		for k := i + int(room); k < end; k++ {
			if b[k] != '\r' {
				b[k] = 'x'
				r.Rewritten++
			}
		}
	}
	if s.lineLen+n >= s.lineLen {
		s.lineLen += n
	} else {
		s.lineLen = ^uint32(0)
	}
	if j < 0 {
		s.cr = b[len(b)-1] == '\r'
		return len(b)
	}
	s.lastCRLF = (j > 0 && b[end-1] == '\r') || (j == 0 && s.cr)
	s.cmdSeq++
	s.pushSpecial(specAuth)
	s.mode = ModeCommand
	s.newLine()
	return end + 1
}

// violation marks the line illegal from the current byte for an ESMTP
// parameter (or ETRN) the server did not advertise or a malformed value.
func (s *Session) violation(r *Result, p Param) {
	s.bad = true
	s.params = false
	r.alert(AlertESMTPViolation)
	if r.Param == ParamNone {
		r.Param = p
	}
}
