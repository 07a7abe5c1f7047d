package ftpfsm

import "bytes"

// maxCommandLine is the longest command line, CRLF included, that reaches
// the server unchanged. RFC 959 sets no limit; servers read commands into
// fixed buffers (IOS and Linux inspect at most a line per segment), and a
// server that cuts a longer line would read its rest as a new command that
// the firewall never judged. Octets from number 513 on are rewritten.
const maxCommandLine = 512

// maxSkip bounds the Telnet commands (IAC x, RFC 959 section 4.1.3 /
// RFC 854) and blanks before a verb or inside it, which servers that speak
// Telnet drop before reading the verb. A line with more is refused.
const maxSkip = 8

// MaxHold bounds Result.Hold: the longest line that can still turn out to
// be an announcement (maxSkip octets of Telnet commands and blanks, "EPRT ",
// the longest EPRT text "|1|255.255.255.255|65535|", CR).
const MaxHold = maxSkip + 5 + 25 + 1

// Command line phases.
const (
	phVerb    uint8 = iota // reading the verb
	phArgs                 // PORT or EPRT argument text
	phArgEnd               // PORT or EPRT text complete: CR LF (or LF) must follow
	phOther                // the rest of any other line
	phRefused              // the line was refused: rewriting it to its LF
)

// Verbs the machine acts on, packed as four upper-case octets.
const (
	verbPORT = 'P'<<24 | 'O'<<16 | 'R'<<8 | 'T'
	verbEPRT = 'E'<<24 | 'P'<<16 | 'R'<<8 | 'T'
	verbUSER = 'U'<<24 | 'S'<<16 | 'E'<<8 | 'R'
	verbREIN = 'R'<<24 | 'E'<<16 | 'I'<<8 | 'N'
	verbAUTH = 'A'<<24 | 'U'<<16 | 'T'<<8 | 'H'
)

const iac = 0xff // Telnet "interpret as command"

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// prefixOf reports whether the verb so far (n octets packed in v) begins
// the four-octet verb w.
func prefixOf(v uint32, n uint8, w uint32) bool {
	if n > 4 {
		return false
	}
	return n == 0 || v == w>>(8*(4-n))
}

// Client inspects client-to-server bytes and rewrites b in place: a refused
// PORT or EPRT line becomes 'x's from its first octet to its LF (CR and LF
// kept), so that the server answers 500 to it; so do the octets of any line
// beyond 512 and those after a bare CR. The length of b never changes.
//
// A PORT or EPRT line is judged at its LF: Result.Hold tells the caller to
// hold back its bytes until then. Bytes passed in an earlier call are not
// read again; those the caller holds are addressed by negative offsets.
func (s *Session) Client(b []byte) (r Result) {
	r.Next = len(b)
	if s.mode == ModePassthrough {
		r.Passthrough = true
		return r
	}
	for i := 0; i < len(b); i++ {
		if s.cPhase == phOther && !s.cBad && !s.cCR {
			i = s.skipLine(b, i)
			if i == len(b) {
				break
			}
		}
		c := b[i]
		if s.cLen != ^uint32(0) {
			s.cLen++
		}
		if c == '\n' {
			s.endCommandLine(b, i, &r)
			if r.N == MaxAnnouncements {
				r.Next = i + 1
				break
			}
			continue
		}
		if s.cCR && s.cPhase != phRefused && !s.cBad {
			// A CR not followed by LF: a server that ends lines at CR
			// would read what follows as a new command.
			if s.pending() {
				s.refuse(b, i, &r, AlertMalformed)
			} else {
				s.cBad = true
				r.alert(AlertBareCR)
			}
		}
		s.cCR = c == '\r'
		if s.cLen > maxCommandLine && !s.cBad && s.cPhase != phRefused {
			s.cBad = true
			r.alert(AlertLongLine)
		}
		switch s.cPhase {
		case phVerb:
			s.verbByte(b, i, c, &r)
		case phArgs:
			switch s.cp.step(c) {
			case pMore:
			case pDone: // PORT: the numbers end at c, which must be CR
				s.cArgEnd = s.cLen - 1
				s.cPhase = phArgEnd
				if c != '\r' {
					s.refuse(b, i, &r, AlertMalformed)
				}
			case pDoneIncl: // EPRT: c is the closing delimiter
				s.cArgEnd = s.cLen
				s.cPhase = phArgEnd
			default:
				if s.cp.v6 {
					s.refuse(b, i, &r, AlertNonMatchingAddr)
				} else {
					s.refuse(b, i, &r, AlertMalformed)
				}
			}
		case phArgEnd:
			if c != '\r' {
				s.refuse(b, i, &r, AlertMalformed)
			}
		}
		if s.cBad || s.cPhase == phRefused {
			if c != '\r' {
				b[i] = 'x'
				r.Rewritten++
			}
		}
	}
	if r.Next == len(b) && s.pending() {
		r.Hold = int(s.cLen)
	}
	return r
}

// pending reports whether the current line may still be an announcement
// (or a refused one): its bytes are held until its LF.
func (s *Session) pending() bool {
	switch s.cPhase {
	case phVerb:
		return s.cLen > 0 && (prefixOf(s.cVerb, s.cVerbN, verbPORT) || prefixOf(s.cVerb, s.cVerbN, verbEPRT))
	case phArgs, phArgEnd:
		return true
	}
	return false
}

// skipLine is the fast path over the rest of a line that nothing parses:
// it passes octets up to the line's LF or CR while the line stays within
// maxCommandLine, and returns the index of the next octet to read.
func (s *Session) skipLine(b []byte, i int) int {
	rest := b[i:]
	if j := bytes.IndexByte(rest, '\n'); j >= 0 {
		rest = rest[:j]
	}
	if j := bytes.IndexByte(rest, '\r'); j >= 0 {
		rest = rest[:j]
	}
	n := len(rest)
	if room := int(maxCommandLine) - int(s.cLen); n > room {
		n = max(room, 0)
	}
	s.cLen += uint32(n)
	return i + n
}

// verbByte reads one octet of the verb phase. Telnet commands (IAC and the
// octet after it) anywhere in the verb and blanks before it are skipped,
// at most maxSkip octets.
func (s *Session) verbByte(b []byte, i int, c byte, r *Result) {
	second := s.cIAC // c is the second octet of a Telnet command
	if second || c == iac || ((c == ' ' || c == '\t') && s.cVerbN == 0) {
		s.cSkip++
		if s.cSkip > maxSkip {
			s.refuse(b, i, r, AlertMalformed)
			return
		}
		s.cIAC = c == iac && !second
		return
	}
	if c == ' ' || c == '\t' || c == '\r' {
		s.verbEnd(b, i, c != '\r', r)
		return
	}
	if s.cVerbN < 5 {
		if s.cVerbN < 4 {
			s.cVerb = s.cVerb<<8 | uint32(upper(c))
		}
		s.cVerbN++
	}
}

// verbEnd closes the verb at its terminator (args: SP or TAB follows).
func (s *Session) verbEnd(b []byte, i int, args bool, r *Result) {
	kind := KindNone
	if s.cVerbN == 4 {
		switch s.cVerb {
		case verbPORT:
			kind = KindPORT
		case verbEPRT:
			kind = KindEPRT
		}
	}
	if kind == KindNone {
		s.cPhase = phOther
		return
	}
	s.cKind = kind
	if !args {
		s.refuse(b, i, r, AlertMalformed) // PORT or EPRT without argument
		return
	}
	s.cPhase = phArgs
	if kind == KindPORT {
		s.cp.init(fmtNumbers)
	} else {
		s.cp.init(fmtEPRT)
	}
	s.cArgStart = s.cLen
}

// refuse rewrites the current line through b[i] and marks the rest for
// rewriting: from its first octet if the line was pending (the octets read
// in earlier calls are held, the caller's to rewrite: Result.XHeld),
// otherwise from b[i] (earlier octets may be forwarded already; rewriting
// only from here keeps the result the same at any segmentation). It
// reports a refused PORT or EPRT.
func (s *Session) refuse(b []byte, i int, r *Result, why AlertKind) {
	from := i
	if s.pending() {
		// The line's octets before b were held back: all of it can go.
		from = i - (int(s.cLen) - 1)
		if from < 0 {
			r.XHeld = -from
			from = 0
		}
	}
	for k := from; k < i; k++ { // b[i] itself: by the caller's loop
		if b[k] != '\r' && b[k] != '\n' {
			b[k] = 'x'
			r.Rewritten++
		}
	}
	s.cPhase = phRefused
	r.alert(why)
	kind := s.cKind
	if kind == KindNone {
		return // not a PORT or EPRT: too many Telnet commands or blanks
	}
	a := Announcement{Kind: kind, Refused: why}
	if why != AlertMalformed {
		a.Addr, a.Port = s.cp.addr, s.cp.port
	}
	s.announce(r, a)
}

func (s *Session) announce(r *Result, a Announcement) {
	if r.N < MaxAnnouncements {
		r.Ann[r.N] = a
		r.N++
	}
}

// endCommandLine closes a command line at its LF, b[i].
func (s *Session) endCommandLine(b []byte, i int, r *Result) {
	switch s.cPhase {
	case phVerb:
		if s.cVerbN > 0 {
			s.verbEnd(b, i, false, r) // refuses PORT or EPRT without argument
		}
	case phArgs:
		if s.cp.step('\n') == pDone { // PORT numbers ended by a bare LF
			s.cArgEnd = s.cLen - 1
			s.cPhase = phArgEnd
		} else {
			s.refuse(b, i, r, AlertMalformed)
		}
	}
	if s.cPhase == phArgEnd {
		s.judge(b, i, r)
	}
	s.cmdSeq++
	if s.cPhase != phRefused && s.cVerbN == 4 {
		switch s.cVerb {
		case verbUSER, verbREIN:
			s.loggedIn = false // a new login begins (RFC 959 section 4.1.1)
		case verbAUTH:
			s.authSeq = s.cmdSeq // RFC 4217: 234 answers AUTH TLS
		}
	}
	s.newLine()
}

// judge applies IOS's checks to a complete PORT or EPRT line ending at b[i]
// and reports it, allowed or refused.
func (s *Session) judge(b []byte, i int, r *Result) {
	p := &s.cp
	why := AlertNone
	switch {
	case !s.loggedIn:
		why = AlertNotAuthenticated
	case p.addr != s.client:
		why = AlertNonMatchingAddr
	case p.port < 1024:
		why = AlertPrivPort
	}
	if why != AlertNone {
		s.refuse(b, i, r, why)
		return
	}
	base := i - (int(s.cLen) - 1) // offset of the line's first octet
	s.announce(r, Announcement{
		Kind:  s.cKind,
		Delim: p.delim,
		Addr:  p.addr,
		Port:  p.port,
		Start: base + int(s.cArgStart),
		End:   base + int(s.cArgEnd),
	})
}

// newLine clears the command-line state.
func (s *Session) newLine() {
	s.cLen = 0
	s.cVerb = 0
	s.cVerbN = 0
	s.cPhase = phVerb
	s.cKind = KindNone
	s.cBad = false
	s.cCR = false
	s.cSkip = 0
	s.cIAC = false
	s.cArgStart = 0
	s.cArgEnd = 0
	s.cp = textParser{}
}
