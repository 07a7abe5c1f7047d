package smtpfsm

import "math/bits"

// Policy is the compiled smtp/esmtp entry of an inspection rule.
type Policy struct {
	ESMTP   bool    // esmtp rule: AUTH EHLO ETRN legal, ESMTP checks on
	Allow   VerbSet // verbs made legal by the rule's allow list
	MaxData uint64  // message data bytes per session; 0: no limit
}

// legal returns the verbs legal right now. Under esmtp, ETRN is legal only
// once the server advertised it (unless the allow list names it), which
// makes a non-advertised ETRN illegal at its second byte, like any verb.
func (p *Policy) legal(ext ExtSet) VerbSet {
	if !p.ESMTP {
		return SMTPVerbs | p.Allow
	}
	v := ESMTPVerbs | p.Allow
	if !ext.Has(ExtETRN) && !p.Allow.Has(VerbETRN) {
		v &^= 1 << VerbETRN
	}
	return v
}

// Mode is how the session reads the client's bytes (see STATES.md).
type Mode uint8

const (
	ModeCommand     Mode = iota // client lines are commands
	ModeDataWait                // DATA sent, its reply pending; client bytes still commands
	ModeData                    // message data until CRLF "." CRLF
	ModeAuthWait                // AUTH (or an AUTH response) sent, reply pending; bytes are commands
	ModeAuth                    // 334 received: the next client line is a base64 response
	ModeTLSWait                 // STARTTLS sent, reply pending; bytes are commands
	ModePassthrough             // STARTTLS answered 220: encrypted, not inspected
	ModeClosed                  // max-data exceeded: the caller resets and deletes the session
)

var modeNames = [...]string{"Command", "DataWait", "Data", "AuthWait", "Auth", "TLSWait", "Passthrough", "Closed"}

func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return "?"
}

// Kinds of command whose reply changes the session (the "specials").
const (
	specNone uint8 = iota
	specData
	specAuth
	specTLS
	specEHLO
	specHELO
	maxSpecials = 4 // outstanding specials remembered; more are treated as plain commands
)

// Phases of a command line.
const (
	phVerb uint8 = iota // reading the verb (text up to the first SP or CR)
	phArgs              // after the verb's terminator
)

// Session is the inspection state of one SMTP session. The zero value is a
// session before the server's greeting. It is fixed-size and holds no
// pointers, so that it can live in a slab.
type Session struct {
	// Client side: the current command line.
	mode     Mode // ModeCommand, ModeData, ModeAuth, ModePassthrough or ModeClosed
	phase    uint8
	node     uint8 // verb trie node
	verb     Verb  // the line's verb as the server will read it, VerbNone if garbled
	verbLen  uint16
	verbN    uint8
	verbBuf  [16]byte // verb as sent, for the alert
	bad      bool     // rewriting to the end of the line
	verbBad  bool     // the verb is illegal; alert at its end
	alerted  bool     // the line's verb alert was raised
	long     bool     // the line's long-line alert was raised
	cr       bool     // the last byte was CR
	lastCRLF bool     // the last line ended with CRLF (not a bare LF)
	lineLen  uint32   // octets of the line so far, terminator included
	cmdIndex uint32   // command lines ended (trace index)

	// ESMTP parameters of MAIL and RCPT (params.go).
	params  bool
	pState  uint8
	pParam  Param
	pPos    uint8
	pDigits uint8
	pNotify uint8
	pCand   uint32
	pNum    uint64

	// Data mode (data.go).
	dstate      uint8
	dotPend     uint8
	quarantine  bool
	dataAlerted bool // AlertBadDataEnd raised for this message
	dataBytes   uint64

	// Reply accounting: command k (1-based) is answered by reply k+1, reply 1
	// being the greeting.
	cmdSeq   uint32
	replySeq uint32
	specHead uint8
	specN    uint8
	specKind [maxSpecials]uint8
	specSeq  [maxSpecials]uint32

	// Extensions of the last EHLO reply.
	ext     ExtSet
	extSize uint64 // SIZE limit, 0: none

	// Server side: the current reply line (server.go).
	rPos     uint8 // 0..3: code octets read, 4: text
	rKind    uint8 // special the current reply answers
	rBad     bool
	rFinal   bool
	rInReply bool // continuation lines seen, reply not finished
	rCounted bool // the reply answers an outstanding command
	rKwState uint8
	rKwPos   uint8
	rCode    uint16
	rFirst   uint16 // code of the reply's first line
	rCand    uint32
	rNum     uint64
	rLen     uint32
	rIndex   uint32
}

// Reset returns the session to its zero state (before the greeting).
func (s *Session) Reset() { *s = Session{} }

// Mode returns how the client's next bytes will be read.
func (s *Session) Mode() Mode {
	if s.mode != ModeCommand || s.specN == 0 {
		return s.mode
	}
	switch s.specKind[(s.specHead+s.specN-1)%maxSpecials] {
	case specData:
		return ModeDataWait
	case specAuth:
		return ModeAuthWait
	case specTLS:
		return ModeTLSWait
	}
	return ModeCommand
}

// Extensions returns the extensions of the last EHLO reply and the SIZE
// limit it advertised (0: none or unlimited).
func (s *Session) Extensions() (ExtSet, uint64) { return s.ext, s.extSize }

// DataBytes returns the message data bytes counted against MaxData.
func (s *Session) DataBytes() uint64 { return s.dataBytes }

// pushSpecial remembers that command number s.cmdSeq changes the session
// when answered. Beyond maxSpecials outstanding it is forgotten: its reply
// then changes nothing, which keeps the session in command mode (fail
// closed).
func (s *Session) pushSpecial(kind uint8) {
	if s.specN == maxSpecials {
		return
	}
	i := (s.specHead + s.specN) % maxSpecials
	s.specKind[i] = kind
	s.specSeq[i] = s.cmdSeq
	s.specN++
}

// newLine clears the command-line state.
func (s *Session) newLine() {
	s.phase = phVerb
	s.node = trieRoot
	s.verb = VerbNone
	s.verbLen = 0
	s.verbN = 0
	s.bad = false
	s.verbBad = false
	s.alerted = false
	s.long = false
	s.cr = false
	s.lineLen = 0
	s.params = false
}

// Word-set matching: a candidate bitmask over a short list of upper-case
// words, narrowed one byte at a time, so that a value is judged at the first
// byte that no allowed word continues with.

func wordStep(words []string, cand uint32, pos uint8, c byte) uint32 {
	u := upper(c)
	for m := cand; m != 0; m &= m - 1 {
		k := bits.TrailingZeros32(m)
		w := words[k]
		if int(pos) >= len(w) || w[pos] != u {
			cand &^= 1 << k
		}
	}
	return cand
}

func wordEnd(words []string, cand uint32, pos uint8) uint32 {
	for m := cand; m != 0; m &= m - 1 {
		k := bits.TrailingZeros32(m)
		if len(words[k]) != int(pos) {
			cand &^= 1 << k
		}
	}
	return cand
}
