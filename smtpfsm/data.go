package smtpfsm

import (
	"bytes"

	"cbac/internal/scan"
)

// Data mode: message lines are not commands. The data ends only at
// CRLF "." CRLF (RFC 5321 section 4.1.1.4), the first CRLF being the one
// that ended the DATA line or the last message line.
//
// SMTP smuggling. Servers disagree on what ends a line: a strict one ends
// lines at CRLF only, others at a bare LF, at a bare CR, or at any of the
// three. Each finds the end of data at a "." alone on a line as it reads
// lines, so the bytes that can end the data somewhere are a "." whose
// previous byte is CR or LF and whose next byte is CR or LF. Other than
// CRLF "." CRLF, each such byte triple, {CRLF, bare LF, bare CR} "."
// {CRLF, bare LF, bare CR}, is a look-alike: the inspector never takes it
// as the end, and it neutralises each one where it stands, so that no
// server finds an end before the real one:
//
//   - The "." of a look-alike becomes 'x' when the bytes that make it one
//     are in the same segment as the "." (the usual case): after CR or LF,
//     a "." followed by LF, or by CR when the line start is a bare LF or CR,
//     or by CR and a byte other than LF. Every server then reads "x" there,
//     which ends nothing; the bytes around it are unchanged.
//   - A "." after a bare LF or CR that is the last byte of its segment
//     becomes 'x' at once: the next segment may start with CR LF, and that
//     CRLF may be the one before the real end ("\n." | "\r\n.\r\n"), which
//     rewriting the CR instead would break. If the next byte is not CR or
//     LF, that "." was no look-alike: the one case in which a byte outside
//     a look-alike changes (in a stream that already has a bare LF or CR,
//     which RFC 5321 section 2.3.8 forbids). Without an alert.
//   - CRLF "." as the last bytes of a segment may be the real end: the "."
//     passes. If the next segment starts with LF, or with CR and a byte
//     other than LF, that LF or bare CR becomes 'x': the line then reads
//     ".x" to every server, and no CRLF is broken (the byte was bare).
//   - CRLF "." CR as the last bytes of a segment passes too (it may be the
//     real end). If the next byte is not LF, the look-alike is complete
//     but all of it has been forwarded: a server that ends lines at a CR
//     has ended the data at that ".", exactly where it would have ended at
//     the real end had the client sent LF, and nothing in place can take
//     that back. What the inspector ensures instead is that such a server
//     runs none of the client's bytes as commands: the rest of the message
//     is quarantined, every byte but CR, LF and a "." that begins a line
//     after CRLF becoming 'x' up to the real end, where every server is in
//     command mode again (a CR server reads that "." line as a bad
//     command). Servers that end lines at LF or at CRLF only are still in
//     the data, and look-alikes go on being neutralised as above.
//
// A rewrite only ever writes 'x', which is neither CR, LF nor ".", and
// never over a CR or LF that belongs to a CRLF, so it creates no
// look-alike and keeps every CRLF "." CRLF of the client's stream: the
// real end still ends the data, for the inspector and for every server.
// The detector's state follows the bytes as forwarded. Each message with
// a look-alike raises AlertBadDataEnd once.

// End-of-data detector states: what the last bytes forwarded were.
const (
	dMid   uint8 = iota // inside a line: the last byte is not CR or LF
	dCR                 // the last byte is CR (a bare CR if a "." follows)
	dBOL                // start of a line after CRLF
	dBOLLF              // start of a line after a bare LF
	dDot                // CRLF "." (the "." unchanged)
	dDotCR              // CRLF "." CR
	dDotX               // a bare LF or CR, then a "." rewritten as the last byte of a segment
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
	s.dataAlerted = false
	s.newLine()
}

// data runs data mode from b[i] and returns the index of the next unread
// byte: len(b), or the byte after the end of data, or where max-data was
// exceeded.
//
// Only a "." right after a CR or a LF matters outside quarantine:
// everything else is data whose only effect is the byte count and the
// line-end state, which the last bytes before such a "." (or before the
// end of b) tell. So data skips to the next "." after a CR or LF (lineDot,
// a vector scan), steps the detector byte by byte from there until it is
// back inside a line, and counts the skipped bytes once. A call that
// could exceed max-data goes byte-exact (dataExact) instead.
//
// dot is scan.LineDot(b) when the caller knows it, else -1: for i < dot
// the next "." after a CR or LF is b[dot] (or none, dot == len(b)) without
// a scan. Rewrites keep that true: they write 'x' over bytes before i (the
// look-ahead of stepByte only reads), so they can only remove such dots,
// and a rewritten byte right before b[dot] leaves i == dot, which scans.
func (s *Session) data(p *Policy, b []byte, i, dot int, r *Result) int {
	if p.MaxData != 0 && s.dataBytes+uint64(s.dotPend)+uint64(len(b)-i) > p.MaxData {
		return s.dataExact(p, b, i, r)
	}
	n := uint64(0) // data bytes counted in this call; max-data cannot be exceeded
	for i < len(b) {
		if s.inLine(b[i]) {
			j := dot
			if i >= dot {
				j = lineDot(b, i)
			}
			// The state before b[j]: after a CR, or at a line start after
			// CRLF or a bare LF; a CR before the LF may be b[i-1].
			switch {
			case j == len(b):
				s.dstate = endState(b, i, s.dstate)
			case b[j-1] == '\r':
				s.dstate = dCR
			case (j-2 >= i && b[j-2] == '\r') || (j-1 == i && s.dstate == dCR):
				s.dstate = dBOL
			default:
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

// inLine reports whether the next byte, ch, can be skipped over with the
// bytes after it up to the next "." after a CR or LF: the detector is
// inside a line (or after a CR that ch does not make a bare CR before a
// "."), outside quarantine.
func (s *Session) inLine(ch byte) bool {
	return !s.quarantine && (s.dstate == dMid || (s.dstate == dCR && ch != '.'))
}

// stepByte runs the end-of-data detector over b[i], where data and
// dataExact stop skipping (a "." after CR or LF, the bytes after it, or
// anything in quarantine), with the rewrites of the smuggling defence (see
// the top of this file); it may look at b[i+1] and b[i+2]. It returns how
// many message data bytes the step completes (0 while a "." or "." CR is
// pending, else the pending bytes and b[i]) and whether b[i] ends the data
// (CRLF "." CRLF: the "." line is then a command awaiting its reply, not
// message data).
func (s *Session) stepByte(b []byte, i int, r *Result) (data uint64, end bool) {
	ch := b[i]
	last := i+1 == len(b)
	switch s.dstate {
	case dBOL:
		if ch == '.' {
			if !last && (b[i+1] == '\n' || (b[i+1] == '\r' && i+2 < len(b) && b[i+2] != '\n')) {
				s.neutralise(b, i, r) // CRLF "." LF, CRLF "." CR x
				ch = 'x'
				break
			}
			s.dstate = dDot // the real end, or a line starting with "."
			s.dotPend = 1
			return 0, false
		}
	case dBOLLF, dCR:
		if ch == '.' {
			switch {
			case last: // may be a look-alike: see the top of this file
				b[i] = 'x'
				r.Rewritten++
				s.dstate = dDotX
				return 1, false
			case b[i+1] == '\r' || b[i+1] == '\n':
				s.neutralise(b, i, r) // {LF, CR} "." {CRLF, LF, CR}
				ch = 'x'
			}
		}
	case dDot: // the "." was the last byte of an earlier segment
		if ch == '\n' || (ch == '\r' && !last && b[i+1] != '\n') {
			s.neutralise(b, i, r) // CRLF "." LF, CRLF "." CR x: the bare LF or CR
			ch = 'x'
			break
		}
		if ch == '\r' {
			s.dstate = dDotCR
			s.dotPend = 2
			return 0, false
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
		// CRLF "." CR x, all but x forwarded in earlier segments.
		s.quarantine = true
		s.alertOnce(r)
		s.dstate = dCR
	case dDotX:
		if ch == '\r' || ch == '\n' {
			s.alertOnce(r) // the look-alike whose "." was rewritten
		}
	}
	if s.quarantine && ch != '\r' && ch != '\n' && ch != 'x' {
		b[i] = 'x'
		r.Rewritten++
		ch = 'x'
	}
	s.dstate = nextState(s.dstate, ch)
	data = uint64(s.dotPend) + 1
	s.dotPend = 0
	return data, false
}

// neutralise rewrites b[i], a byte of a look-alike, as 'x' and raises the
// message's alert.
func (s *Session) neutralise(b []byte, i int, r *Result) {
	b[i] = 'x'
	r.Rewritten++
	s.alertOnce(r)
}

// alertOnce raises AlertBadDataEnd once per message.
func (s *Session) alertOnce(r *Result) {
	if !s.dataAlerted {
		s.dataAlerted = true
		r.alert(AlertBadDataEnd)
	}
}

// nextState is the detector's state after byte ch in state st, once the
// cases of a "." after CR or LF are dealt with.
func nextState(st uint8, ch byte) uint8 {
	switch {
	case ch == '\n' && st == dCR:
		return dBOL
	case ch == '\n':
		return dBOLLF
	case ch == '\r':
		return dCR
	}
	return dMid
}

// endState is the detector's state after b[i:] (not empty, no "." after a
// CR or LF in it) entered in state st, dMid or dCR: only the last bytes
// matter.
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
// "." after a CR or LF in it, whose last two bytes are prev and last.
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

// lineDot returns the index of the first "." in b[i+1:] that follows a CR
// or a LF, or len(b): scan.LineDot, which on amd64 tests 64 bytes per
// vector step, so that dots inside lines cost nothing.
func lineDot(b []byte, i int) int {
	return i + scan.LineDot(b[i:])
}

// dataExact is data mode counting byte by byte against max-data, for a
// call in which max-data may be exceeded: it stops right after the line (or
// byte) that exceeded it, as data does not. Otherwise it does what data
// does, one line at a time; a line here ends at a LF, or at a CR that a "."
// follows (the next "." after a CR or LF, cand, is found by lineDot once
// per such "." rather than per line).
func (s *Session) dataExact(p *Policy, b []byte, i int, r *Result) int {
	cand := -1 // the first "." after a CR or LF in b[i+1:], once i < cand
	for i < len(b) {
		if s.inLine(b[i]) {
			// Nothing matters until the next LF, or a CR "." before it.
			if cand <= i {
				cand = lineDot(b, i)
			}
			j := bytes.IndexByte(b[i:], '\n')
			if cand < len(b) && (j < 0 || cand < i+j) && b[cand-1] == '\r' {
				k := cand - i // up to the CR; the "." after it is stepped
				s.dstate = dCR
				i = cand
				if s.count(p, uint64(k), r) {
					return i
				}
				continue
			}
			if j < 0 {
				s.count(p, uint64(len(b)-i), r)
				s.dstate = endState(b, i, s.dstate)
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
