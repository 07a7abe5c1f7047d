package smtpfsm

import (
	"bytes"

	"cbac/internal/scan"
)

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
//
// Only a "." that begins a line matters outside quarantine: everything
// else is data whose only effect is the byte count and whether the line
// ends with CRLF, which the last bytes before such a "." (or before the
// end of b) tell. So data skips to the next line-start "." (lineDot, a
// vector scan), steps the detector byte by byte from there until it is
// back inside a line, and counts the skipped bytes once. A call that
// could exceed max-data goes byte-exact (dataExact) instead.
//
// dot is scan.LineDot(b) when the caller knows it, else -1: for i < dot
// the next line-start "." is b[dot] (or none, dot == len(b)) without a
// scan. Rewrites keep that true: they write 'x' over bytes before i, never
// over a LF, so they can only remove line-start dots, and only before i.
func (s *Session) data(p *Policy, b []byte, i, dot int, r *Result) int {
	if p.MaxData != 0 && s.dataBytes+uint64(s.dotPend)+uint64(len(b)-i) > p.MaxData {
		return s.dataExact(p, b, i, r)
	}
	n := uint64(0) // data bytes counted in this call; max-data cannot be exceeded
	for i < len(b) {
		if (s.dstate == dMid || s.dstate == dCR) && !s.quarantine {
			j := dot
			if i >= dot {
				j = lineDot(b, i)
			}
			// The state before b[j]: inside a line, or at a line start
			// after CRLF or a bare LF; a CR before the LF may be b[i-1].
			if j == len(b) {
				s.dstate = endState(b, i, s.dstate)
			} else if (j-2 >= i && b[j-2] == '\r') || (j-1 == i && s.dstate == dCR) {
				s.dstate = dBOL
			} else {
				s.dstate = dBOLLF
			}
			n += uint64(j - i)
			i = j
			if i == len(b) {
				break
			}
		}
		c, end := s.stepByte(b, i, r)
		i++
		if end {
			s.dataBytes += n
			return i
		}
		n += c
	}
	s.dataBytes += n
	return i
}

// stepByte runs the end-of-data detector over b[i], where data and
// dataExact stop skipping (a line start, or anything in quarantine), with
// the rewrites of SMTP smuggling defences (see the top of this file). It
// returns how many message data bytes the step completes (0 while a "."
// or "." CR is pending, else the pending bytes and b[i]) and whether b[i]
// ends the data (CRLF "." CRLF: the "." line is then a command awaiting
// its reply, not message data).
func (s *Session) stepByte(b []byte, i int, r *Result) (data uint64, end bool) {
	ch := b[i]
	switch s.dstate {
	case dBOL:
		if ch == '.' {
			s.dstate = dDot
			s.dotPend = 1
			return 0, false
		}
	case dBOLLF:
		if ch == '.' {
			r.alert(AlertBadDataEnd)
			if !s.quarantine { // else rewritten (and counted once) below
				b[i] = 'x'
				r.Rewritten++
				ch = 'x'
			}
		}
	case dDot:
		if ch == '\r' {
			s.dstate = dDotCR
			s.dotPend = 2
			return 0, false
		}
		if ch == '\n' {
			s.quarantine = true // CRLF "." LF
			r.alert(AlertBadDataEnd)
		}
	case dDotCR:
		if ch == '\n' {
			s.dotPend = 0
			s.mode = ModeCommand
			s.cmdSeq++
			s.lastCRLF = true
			s.newLine()
			return 0, true
		}
		s.quarantine = true // CRLF "." CR x
		r.alert(AlertBadDataEnd)
	}
	if s.quarantine && ch != '\r' && ch != '\n' && !(ch == '.' && s.dstate == dBOL) {
		b[i] = 'x'
		r.Rewritten++
		ch = 'x'
	}
	s.dstate = nextState(s.dstate, ch)
	data = uint64(s.dotPend) + 1
	s.dotPend = 0
	return data, false
}

// nextState is the detector's state after byte ch in state st, once the
// line-start "." cases are dealt with.
func nextState(st uint8, ch byte) uint8 {
	switch {
	case ch == '\n' && (st == dCR || st == dDotCR):
		return dBOL
	case ch == '\n':
		return dBOLLF
	case ch == '\r':
		return dCR
	case ch == '.' && st == dBOL:
		return dDot
	}
	return dMid
}

// endState is the detector's state after b[i:] (not empty, no line-start
// "." in it) entered in state st, dMid or dCR: only the last bytes matter.
func endState(b []byte, i int, st uint8) uint8 {
	last := len(b) - 1
	prev := byte(0)
	if last > i {
		prev = b[last-1]
	} else if st == dCR {
		prev = '\r'
	}
	return lastState(prev, b[last])
}

// lastState is the detector's state after data inside a line, with no
// line-start "." in it, whose last two bytes are prev and last.
func lastState(prev, last byte) uint8 {
	if last == '\r' {
		return dCR
	}
	if last != '\n' {
		return dMid
	}
	if prev == '\r' {
		return dBOL
	}
	return dBOLLF
}

// lineDot returns the index of the first "." in b[i+1:] that follows a LF,
// or len(b): scan.LineDot, which on amd64 tests 64 bytes per vector step
// for both bytes at once, so that dots inside lines cost nothing.
func lineDot(b []byte, i int) int {
	return i + scan.LineDot(b[i:])
}

// dataExact is data mode counting byte by byte against max-data, for a
// call in which max-data may be exceeded: it stops right after the line (or
// byte) that exceeded it, as data does not. Otherwise it does what data
// does, one line at a time.
func (s *Session) dataExact(p *Policy, b []byte, i int, r *Result) int {
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
		c, end := s.stepByte(b, i, r)
		i++
		if end || (c > 0 && s.count(p, c, r)) {
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
