package smtpfsm

import "math/bits"

// ESMTP parameters of MAIL and RCPT (esmtp rules only), parsed one byte at a
// time with bounded state. The line after the verb is split into words at
// every SP (no bracket or quote tracking: an unbalanced "<" must not hide a
// parameter from the check; the price is that a quoted local part holding
// " SIZE=..." is checked too). A word is a parameter if it starts with a
// known keyword followed by "=" (RFC 5321 section 4.1.2 esmtp-param);
// other words, including the path, are skipped.
//
// A violation rewrites the line from the byte at which it is known:
//   - a keyword the server did not advertise: at its "=" (`RET=HDRS` becomes
//     `RETxxxxx`);
//   - SIZE: at the digit that makes it exceed the advertised limit or
//     MaxData, or at a byte that is not a digit;
//   - BODY and NOTIFY values are matched against the allowed words, so that
//     `BODY=8BITMIME` without 8BITMIME is known at the "8".

// Parameter parser states; the numbers are the trace's cmd_re_state.
const (
	psText      uint8 = 2 // argument text, not parsed
	psLineEnd   uint8 = 3 // CR or LF seen (trace only)
	psWordStart uint8 = 4
	psKey       uint8 = 5
	psSkip      uint8 = 6
	psSize      uint8 = 7
	psBody      uint8 = 8
	psNotify    uint8 = 9
	psValue     uint8 = 10
)

// paramWords[k] is the keyword of Param(k+1).
var paramWords = []string{"SIZE", "BODY", "AUTH", "RET", "ENVID", "NOTIFY", "ORCPT"}

// RFC 6152 / RFC 3030 BODY values.
var bodyWords = []string{"7BIT", "8BITMIME", "BINARYMIME"}

// RFC 3461 section 4.1 NOTIFY values.
var notifyWords = []string{"NEVER", "SUCCESS", "FAILURE", "DELAY"}

const (
	notifyNever = 1 << 0
	notifyAll   = 1<<4 - 1
	sawNever    = 1
	sawOther    = 2
)

// paramByte feeds one byte after the verb of a MAIL or RCPT line.
func (s *Session) paramByte(p *Policy, ch byte, r *Result) {
	if ch == '\r' {
		s.paramEnd(p, r)
		return
	}
	switch s.pState {
	case psWordStart:
		if ch == ' ' {
			return
		}
		s.pState = psKey
		s.pCand = 1<<len(paramWords) - 1
		s.pPos = 0
		s.keyByte(p, ch, r)
	case psKey:
		s.keyByte(p, ch, r)
	case psSkip, psValue:
		if ch == ' ' {
			s.pState = psWordStart
		}
	case psSize:
		s.sizeByte(p, ch, r)
	case psBody:
		if ch == ' ' {
			s.bodyEnd(r)
			s.pState = psWordStart
			return
		}
		s.pCand = wordStep(bodyWords, s.pCand, s.pPos, ch)
		s.pPos++
		if s.pCand == 0 {
			s.violation(r, ParamBody)
		}
	case psNotify:
		s.notifyByte(ch, r)
	}
}

func (s *Session) keyByte(p *Policy, ch byte, r *Result) {
	switch ch {
	case '=':
		k := wordEnd(paramWords, s.pCand, s.pPos)
		if k == 0 {
			s.pState = psSkip
			return
		}
		s.startValue(p, Param(bits.TrailingZeros32(k)+1), r)
	case ' ':
		s.pState = psWordStart
	default:
		s.pCand = wordStep(paramWords, s.pCand, s.pPos, ch)
		s.pPos++
		if s.pCand == 0 {
			s.pState = psSkip
		}
	}
}

// startValue checks a keyword against the extensions, at its "=".
func (s *Session) startValue(p *Policy, k Param, r *Result) {
	s.pParam = k
	s.pPos = 0
	switch k {
	case ParamSize: // RFC 1870
		if !s.ext.Has(ExtSIZE) {
			s.violation(r, k)
			return
		}
		s.pState = psSize
		s.pNum = 0
		s.pDigits = 0
	case ParamBody: // RFC 6152, RFC 3030
		s.pState = psBody
		s.pCand = 1
		if s.ext.Has(Ext8BITMIME) {
			s.pCand |= 2
		}
		if s.ext.Has(ExtBINARYMIME) {
			s.pCand |= 4
		}
	case ParamAuth: // RFC 4954 section 5
		if !s.ext.Has(ExtAUTH) {
			s.violation(r, k)
			return
		}
		s.pState = psValue
	case ParamNotify: // RFC 3461
		if !s.ext.Has(ExtDSN) {
			s.violation(r, k)
			return
		}
		s.pState = psNotify
		s.pCand = notifyAll
		s.pNotify = 0
	default: // RET, ENVID, ORCPT: RFC 3461
		if !s.ext.Has(ExtDSN) {
			s.violation(r, k)
			return
		}
		s.pState = psValue
	}
}

// sizeLimit is the smaller of the advertised SIZE and MaxData (0: none).
func (s *Session) sizeLimit(p *Policy) uint64 {
	lim := s.extSize
	if p.MaxData != 0 && (lim == 0 || p.MaxData < lim) {
		lim = p.MaxData
	}
	return lim
}

func (s *Session) sizeByte(p *Policy, ch byte, r *Result) {
	if ch >= '0' && ch <= '9' {
		d := uint64(ch - '0')
		if s.pNum > (^uint64(0)-d)/10 {
			s.violation(r, ParamSize) // overflow: larger than any limit
			return
		}
		s.pNum = s.pNum*10 + d
		s.pDigits = 1
		if lim := s.sizeLimit(p); lim != 0 && s.pNum > lim {
			s.violation(r, ParamSize)
		}
		return
	}
	if ch == ' ' && s.pDigits != 0 {
		s.pState = psWordStart
		return
	}
	s.violation(r, ParamSize) // empty value or not a number
}

func (s *Session) bodyEnd(r *Result) {
	if wordEnd(bodyWords, s.pCand, s.pPos) == 0 {
		s.violation(r, ParamBody)
	}
}

// notifyByte parses "NEVER" / 1#( "SUCCESS" / "FAILURE" / "DELAY" ):
// NEVER may not be combined with other values (RFC 3461 section 4.1).
func (s *Session) notifyByte(ch byte, r *Result) {
	if ch != ',' && ch != ' ' {
		s.pCand = wordStep(notifyWords, s.pCand, s.pPos, ch)
		s.pPos++
		if s.pCand == 0 {
			s.violation(r, ParamNotify)
		}
		return
	}
	if !s.notifyItemEnd(r) {
		return
	}
	if ch == ' ' {
		s.pState = psWordStart
		return
	}
	if s.pNotify&sawNever != 0 {
		s.violation(r, ParamNotify) // "NEVER," : something follows NEVER
		return
	}
	s.pPos = 0
	s.pCand = notifyAll &^ notifyNever
}

func (s *Session) notifyItemEnd(r *Result) bool {
	k := wordEnd(notifyWords, s.pCand, s.pPos)
	if k == 0 {
		s.violation(r, ParamNotify)
		return false
	}
	if k == notifyNever {
		s.pNotify |= sawNever
	} else {
		s.pNotify |= sawOther
	}
	return true
}

// paramEnd closes the parameters at the line's CR or LF.
func (s *Session) paramEnd(p *Policy, r *Result) {
	switch s.pState {
	case psSize:
		if s.pDigits == 0 {
			s.violation(r, ParamSize)
		}
	case psBody:
		s.bodyEnd(r)
	case psNotify:
		s.notifyItemEnd(r)
	}
	s.params = false
}
