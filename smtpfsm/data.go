package smtpfsm

import "bytes"

// Data mode: message lines are not commands. The data ends only at
// CRLF "." CRLF (RFC 5321 section 4.1.1.4), the first CRLF being the one
// that ended the DATA line or the last message line.
//
// SMTP smuggling: some servers also end the data at look-alikes with a bare
// LF or CR (LF "." LF, LF "." CRLF, CRLF "." LF, CRLF "." CR x). The
// inspector never treats those as an end (SPEC 5), and so that no server can
// end the data where the inspector does not:
//   - a "." that begins a line after a bare LF becomes 'x' (known at the dot:
//     LF "." LF and LF "." CRLF then end nothing anywhere);
//   - after CRLF "." followed by a bare LF or a bare CR, the message is
//     quarantined: until the real end, every byte except CR, LF and a "."
//     at the start of a CRLF line becomes 'x', so that a lenient server,
//     which now reads commands, reads only garbage, and a strict one still
//     finds the end.
// Both raise AlertBadDataEnd.

// End-of-data detector states.
const (
	dMid   uint8 = iota // inside a line
	dCR                 // inside a line, last byte CR
	dBOL                // start of a line after CRLF
	dBOLLF              // start of a line after a bare LF
	dDot                // CRLF "."
	dDotCR              // CRLF "." CR
)

// enterData switches to data mode on the 354 reply to DATA. The client may
// be anywhere in a line; what it sent since DATA was read as commands (see
// Client), so the detector starts from the command-line state.
func (s *Session) enterData() {
	switch {
	case s.lineLen == 0 && s.lastCRLF:
		s.dstate = dBOL
	case s.lineLen == 0:
		s.dstate = dBOLLF
	case s.cr:
		s.dstate = dCR
	default:
		s.dstate = dMid
	}
	s.mode = ModeData
	s.dotPend = 0
	s.quarantine = false
	s.newLine()
}

// data runs data mode from b[i] and returns the index of the next unread
// byte: len(b), or the byte after the end of data, or where max-data was
// exceeded.
func (s *Session) data(p *Policy, b []byte, i int, r *Result) int {
	for i < len(b) {
		if (s.dstate == dMid || s.dstate == dCR) && !s.quarantine {
			// Fast path: nothing matters until the next LF.
			j := bytes.IndexByte(b[i:], '\n')
			if j < 0 {
				s.count(p, uint64(len(b)-i), r)
				if b[len(b)-1] == '\r' {
					s.dstate = dCR
				} else {
					s.dstate = dMid
				}
				return len(b)
			}
			if (j > 0 && b[i+j-1] == '\r') || (j == 0 && s.dstate == dCR) {
				s.dstate = dBOL
			} else {
				s.dstate = dBOLLF
			}
			i += j + 1
			if s.count(p, uint64(j+1), r) {
				return i
			}
			continue
		}
		ch := b[i]
		switch s.dstate {
		case dBOL:
			if ch == '.' {
				s.dstate = dDot
				s.dotPend = 1
				i++
				continue
			}
		case dBOLLF:
			if ch == '.' {
				b[i] = 'x'
				r.Rewritten++
				r.alert(AlertBadDataEnd)
				ch = 'x'
			}
		case dDot:
			if ch == '\r' {
				s.dstate = dDotCR
				s.dotPend = 2
				i++
				continue
			}
			if ch == '\n' {
				s.quarantine = true // CRLF "." LF
				r.alert(AlertBadDataEnd)
			}
		case dDotCR:
			if ch == '\n' {
				// CRLF "." CRLF: the end. The "." line is a command awaiting
				// its reply; it is not message data.
				s.dotPend = 0
				s.mode = ModeCommand
				s.cmdSeq++
				s.lastCRLF = true
				s.newLine()
				return i + 1
			}
			s.quarantine = true // CRLF "." CR x
			r.alert(AlertBadDataEnd)
		}
		if s.quarantine && ch != '\r' && ch != '\n' && !(ch == '.' && s.dstate == dBOL) {
			b[i] = 'x'
			r.Rewritten++
			ch = 'x'
		}
		switch {
		case ch == '\n' && (s.dstate == dCR || s.dstate == dDotCR):
			s.dstate = dBOL
		case ch == '\n':
			s.dstate = dBOLLF
		case ch == '\r':
			s.dstate = dCR
		case ch == '.' && s.dstate == dBOL:
			s.dstate = dDot
		default:
			s.dstate = dMid
		}
		n := uint64(s.dotPend) + 1
		s.dotPend = 0
		i++
		if s.count(p, n, r) {
			return i
		}
	}
	return i
}

// count adds message data bytes and reports whether max-data was exceeded.
func (s *Session) count(p *Policy, n uint64, r *Result) bool {
	s.dataBytes += n
	if p.MaxData != 0 && s.dataBytes > p.MaxData {
		s.mode = ModeClosed
		r.Reset = true
		r.alert(AlertMaxData)
		return true
	}
	return false
}
