package smtpfsm

// The reply machine. A reply is zero or more "ddd-text" continuation lines
// and one "ddd text" (or "ddd") final line, all with the same code (RFC 5321
// section 4.2; first digit 2-5, second 0-5, third 0-9). A malformed line
// raises AlertBadReply, is forwarded, and counts for nothing: it neither
// continues nor ends a reply, so it can change no mode.
//
// Replies answer commands in order (RFC 2920 keeps the order when
// pipelining): command k is answered by reply k+1, reply 1 being the
// greeting. The replies to DATA, AUTH, STARTTLS, EHLO and HELO change the
// session; the Session remembers which outstanding commands those are.

// Reply trace match ids (the seed shows 13 and 10; ours are documented in
// STATES.md).
const (
	replyMatchLine  = 13 // a well-formed reply line
	replyMatchFinal = 10 // the line ends a reply
	paramMatchEOL   = 6  // CMD PARAM match id at a command line's end
)

// EHLO keyword parser states.
const (
	kwWord uint8 = iota
	kwSizeSP
	kwSizeDigits
	kwDone
)

// Server follows server-to-client bytes. It never modifies b.
func (s *Session) Server(p *Policy, b []byte, tr *Trace) Result {
	var r Result
	switch s.mode {
	case ModePassthrough:
		r.Passthrough = true
		return r
	case ModeClosed:
		r.Reset = true
		return r
	}
	start := s.rLen
	for i := 0; i < len(b); i++ {
		ch := b[i]
		if s.rLen == 0 {
			s.replyLineStart(tr)
		}
		if s.rLen != ^uint32(0) {
			s.rLen++
		}
		if ch == '\n' {
			s.endReplyLine(&r, tr, start)
			start = 0
			if s.mode == ModePassthrough {
				// STARTTLS accepted: what follows is TLS.
				r.Passthrough = true
				return r
			}
			continue
		}
		switch {
		case s.rBad:
		case s.rPos < 3:
			d := ch - '0'
			if d > 9 || (s.rPos == 0 && (d < 2 || d > 5)) || (s.rPos == 1 && d > 5) {
				s.badReply(&r)
				continue
			}
			s.rCode = s.rCode*10 + uint16(d)
			s.rPos++
		case s.rPos == 3:
			switch ch {
			case '-':
			case ' ', '\r':
				s.rFinal = true
			default:
				s.badReply(&r)
				continue
			}
			if s.rInReply && s.rCode != s.rFirst {
				s.badReply(&r) // a continuation with another code
				continue
			}
			s.rPos = 4
			s.rKwState = kwDone
			if s.rInReply && s.rKind == specEHLO && s.rCode == 250 && ch != '\r' {
				s.rKwState = kwWord
				s.rCand = 1<<numExts - 1
				s.rKwPos = 0
			}
		default:
			if s.rKwState != kwDone {
				s.keywordByte(ch)
			}
		}
	}
	if tr != nil && s.rLen > start {
		s.traceReply(tr, start)
	}
	return r
}

// replyLineStart begins a reply line; on a reply's first line it decides
// which command the reply answers.
func (s *Session) replyLineStart(tr *Trace) {
	s.rPos = 0
	s.rCode = 0
	s.rBad = false
	s.rFinal = false
	s.rKwState = kwDone
	s.rNum = 0
	if !s.rInReply {
		s.rKind = specNone
		s.rCounted = s.replySeq != s.cmdSeq+1
		if s.rCounted && s.specN > 0 && s.specSeq[s.specHead] == s.replySeq {
			s.rKind = s.specKind[s.specHead]
		}
		if s.rKind == specEHLO || s.rKind == specHELO {
			// A new greeting command starts a new set of extensions.
			s.ext = 0
			s.extSize = 0
		}
	}
	if tr != nil {
		tr.add(Event{Kind: EvReplyType, ReplyType: replyTypes[s.rKind]})
	}
}

func (s *Session) badReply(r *Result) {
	s.rBad = true
	r.alert(AlertBadReply)
}

// keywordByte parses the first word of an EHLO reply line after the first
// (RFC 5321 section 4.1.1.1 ehlo-line) and SIZE's argument (RFC 1870).
func (s *Session) keywordByte(ch byte) {
	switch s.rKwState {
	case kwWord:
		if ch == ' ' || ch == '\r' || ch == '=' {
			s.keywordEnd(ch == ' ')
			return
		}
		s.rCand = wordStep(extNames[:], s.rCand, s.rKwPos, ch)
		s.rKwPos++
		if s.rCand == 0 {
			s.rKwState = kwDone
		}
	case kwSizeSP, kwSizeDigits:
		if ch >= '0' && ch <= '9' {
			if s.rNum <= (^uint64(0)-9)/10 {
				s.rNum = s.rNum*10 + uint64(ch-'0')
			} else {
				s.rNum = ^uint64(0)
			}
			s.rKwState = kwSizeDigits
			return
		}
		s.sizeEnd()
	}
}

func (s *Session) keywordEnd(argFollows bool) {
	k := wordEnd(extNames[:], s.rCand, s.rKwPos)
	s.rKwState = kwDone
	if k == 0 {
		return
	}
	s.ext |= ExtSet(k)
	if ExtSet(k).Has(ExtSIZE) && argFollows {
		s.rKwState = kwSizeSP
		s.rNum = 0
	}
}

func (s *Session) sizeEnd() {
	if s.rKwState == kwSizeDigits {
		s.extSize = s.rNum
	}
	s.rKwState = kwDone
}

// endReplyLine closes a reply line at its LF.
func (s *Session) endReplyLine(r *Result, tr *Trace, start uint32) {
	if !s.rBad && s.rPos < 3 {
		s.badReply(r) // too short to hold a code
	}
	if !s.rBad && s.rPos == 3 {
		// "250" LF: a final line without text.
		s.rFinal = true
		if s.rInReply && s.rCode != s.rFirst {
			s.badReply(r)
		}
	}
	if !s.rBad {
		switch s.rKwState {
		case kwWord:
			s.keywordEnd(false)
		case kwSizeSP, kwSizeDigits:
			s.sizeEnd()
		}
	}
	if tr != nil {
		s.traceReply(tr, start)
		if !s.rBad {
			tr.add(Event{Kind: EvReplyMatch, MatchID: replyMatchLine})
			if s.rFinal {
				tr.add(Event{Kind: EvReplyMatch, MatchID: replyMatchFinal})
			}
		}
		tr.add(Event{Kind: EvEndReply, Index: s.rIndex, Len: s.rLen})
	}
	if s.rIndex != ^uint32(0) {
		s.rIndex++
	}
	s.rLen = 0
	if s.rBad {
		return
	}
	if !s.rInReply {
		s.rFirst = s.rCode
	}
	if !s.rFinal {
		s.rInReply = true
		return
	}
	s.rInReply = false
	s.finishReply(s.rCode)
}

// finishReply accounts for a complete reply and applies its effect.
func (s *Session) finishReply(code uint16) {
	if !s.rCounted {
		return // unsolicited (nothing outstanding): changes nothing
	}
	s.replySeq++
	kind := s.rKind
	if kind == specNone {
		return
	}
	s.specHead = (s.specHead + 1) % maxSpecials
	s.specN--
	if s.mode != ModeCommand {
		return
	}
	switch kind {
	case specData:
		if code == 354 {
			s.enterData()
		}
	case specAuth:
		// 334: the next client line is a base64 response (RFC 4954 section
		// 4), but only if the client has sent nothing since the AUTH line:
		// otherwise the server takes those bytes, already inspected as
		// commands, for the response, and the session stays in command
		// mode (fail closed).
		if code == 334 && s.cmdSeq == s.replySeq-1 && s.lineLen == 0 {
			s.mode = ModeAuth
		}
	case specTLS:
		if code == 220 {
			s.mode = ModePassthrough
		}
	}
}
