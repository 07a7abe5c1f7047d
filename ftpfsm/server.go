package ftpfsm

import "bytes"

// The reply machine. A reply is one line "ddd text" or, multi-line, a
// first line "ddd-text", any lines of text, and a last line "ddd text" with
// the same code (RFC 959 section 4.2). Lines between the first and the last
// are text whatever they begin with: a "227 (...)" inside a 230 reply
// announces nothing. A line that does not begin a reply and is not inside
// one is not a reply; it is forwarded and counts for nothing.
//
// The first line of a 227 or 229 reply is scanned for its address and
// port: 227 from its first digit (RFC 1123 section 4.1.2.6: the
// parentheses are optional; "227 =h1,...,p2" and "227 Entering Passive
// Mode (h1,...,p2)." both parse; the numbers end at any octet that is not
// a digit or comma), 229 from the octet after its first "(".

// Announcement scan states of a reply line.
const (
	scanNone  uint8 = iota
	scanDigit       // 227: looking for the first digit
	scanParen       // 229: looking for "("
	scanText        // reading the text
)

// Server follows server-to-client bytes. It never modifies b.
func (s *Session) Server(b []byte) (r Result) {
	r.Next = len(b)
	if s.mode == ModePassthrough {
		r.Passthrough = true
		return r
	}
	for i := 0; i < len(b); i++ {
		if s.rLen > 0 && (s.rBad || s.rText || s.rPos == 4 && s.rScan == scanNone) {
			// Fast path: the rest of the line is text nothing parses.
			j := bytes.IndexByte(b[i:], '\n')
			if j < 0 {
				s.rLen = addSat(s.rLen, len(b)-i)
				break
			}
			s.rLen = addSat(s.rLen, j)
			i += j
		}
		c := b[i]
		if s.rLen == 0 {
			s.rPos, s.rCode = 0, 0
			s.rBad, s.rFinal, s.rText = false, false, false
			s.rScan = scanNone
		}
		if s.rLen != ^uint32(0) {
			s.rLen++
		}
		if c == '\n' {
			s.endReplyLine(i, &r)
			if s.mode == ModePassthrough {
				r.Passthrough = true // what follows is TLS
				r.Next = i + 1
				break
			}
			if r.N == MaxAnnouncements {
				r.Next = i + 1
				break
			}
			continue
		}
		switch {
		case s.rBad || s.rText:
		case s.rPos < 3:
			d := c - '0'
			if d > 9 || (s.rPos == 0 && (d < 1 || d > 5)) || (s.rPos == 1 && d > 5) {
				if s.rInReply {
					s.rText = true
				} else {
					s.rBad = true
				}
				continue
			}
			s.rCode = s.rCode*10 + uint16(d)
			s.rPos++
		case s.rPos == 3:
			s.rPos = 4
			final := c == ' ' || c == '\r'
			if s.rInReply {
				if s.rCode != s.rFirst || !final {
					s.rText = true
				} else {
					s.rFinal = true
				}
				continue
			}
			if !final && c != '-' {
				s.rBad = true
				continue
			}
			s.rFinal = final
			switch {
			case c == '\r':
			case s.rCode == 227:
				s.rScan = scanDigit
			case s.rCode == 229:
				s.rScan = scanParen
			}
		default:
			if s.rScan != scanNone && s.scanByte(i, c, &r) && r.N == MaxAnnouncements {
				r.Next = i + 1
				return r
			}
		}
	}
	if r.Next == len(b) && s.rScan == scanText {
		r.Hold = int(s.rLen - s.rStart)
	}
	return r
}

// scanByte feeds one text octet of a 227 or 229 line to the announcement
// scan; it reports whether an announcement was made.
func (s *Session) scanByte(i int, c byte, r *Result) bool {
	switch s.rScan {
	case scanDigit:
		if c < '0' || c > '9' {
			return false
		}
		s.rp.init(fmtNumbers)
		s.rStart = s.rLen - 1
		s.rScan = scanText
	case scanParen:
		if c == '(' {
			s.rp.init(fmt229)
			s.rStart = s.rLen
			s.rScan = scanText
		}
		return false
	}
	switch s.rp.step(c) {
	case pMore:
		return false
	case pDone:
		s.announceReply(i, s.rLen-1, r)
		return true
	case pDoneIncl:
		s.announceReply(i, s.rLen, r)
		return true
	}
	s.rScan = scanNone // malformed: no announcement
	return false
}

// announceReply reports the 227 or 229 text that ends at line offset end;
// b[i] is the line's octet at offset rLen-1.
func (s *Session) announceReply(i int, end uint32, r *Result) {
	s.rScan = scanNone
	a := Announcement{Kind: Kind227, Addr: s.rp.addr, Port: s.rp.port}
	if s.rp.format == fmt229 {
		a = Announcement{Kind: Kind229, Delim: s.rp.delim, Port: s.rp.port}
	}
	switch {
	case !s.loggedIn:
		a.Refused = AlertNotAuthenticated
	case a.Kind == Kind227 && a.Addr != s.server:
		a.Refused = AlertNonMatchingAddr
	}
	if a.Refused != AlertNone {
		r.alert(a.Refused)
		a.Addr = s.rp.addr
	} else {
		base := i - (int(s.rLen) - 1)
		a.Start = base + int(s.rStart)
		a.End = base + int(end)
	}
	s.announce(r, a)
}

// endReplyLine closes a reply line at its LF, b[i].
func (s *Session) endReplyLine(i int, r *Result) {
	if s.rScan == scanText && s.rp.format == fmtNumbers {
		if s.rp.step('\n') == pDone { // the numbers end the line
			s.announceReply(i, s.rLen-1, r)
		}
	}
	s.rLen = 0
	s.rScan = scanNone
	if s.rBad || s.rText {
		return
	}
	switch {
	case s.rPos < 3:
		return // too short for a code, and not inside a reply: not a reply
	case s.rPos == 3:
		// "230" LF: a line with a code and nothing else ends a reply.
		if s.rInReply && s.rCode != s.rFirst {
			return
		}
		s.rFinal = true
	}
	if s.rInReply {
		s.rInReply = false
		s.finishReply(s.rFirst)
		return
	}
	if !s.rFinal {
		s.rInReply = true
		s.rFirst = s.rCode
		return
	}
	s.finishReply(s.rCode)
}

// finishReply applies a complete reply's effect.
func (s *Session) finishReply(code uint16) {
	if code < 200 {
		return // 1yz: preliminary, another reply follows (RFC 959 section 4.2)
	}
	s.replySeq++
	if code == 230 || code == 232 { // RFC 959 section 4.2.2, RFC 2228
		s.loggedIn = true
	}
	if s.authSeq != 0 && s.replySeq == s.authSeq+1 {
		if code == 234 { // RFC 4217 section 4.1: TLS negotiation follows
			s.mode = ModePassthrough
		}
		s.authSeq = 0
	}
}

// addSat adds n to a line length, saturating at 2^32-1.
func addSat(l uint32, n int) uint32 {
	if uint64(l)+uint64(n) > uint64(^uint32(0)) {
		return ^uint32(0)
	}
	return l + uint32(n)
}
