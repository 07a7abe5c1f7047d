// Package smtpfsm holds the SMTP/ESMTP inspection state machines of cbac:
// the command machine (client to server bytes), the reply machine (server to
// client bytes), data mode, AUTH exchanges, ESMTP parameter checks, the
// max-data limit and the `debug ip inspect smtp` trace events.
//
// The machines are byte driven and resumable: a Session holds no more than
// the state of the current command line and the current reply line, in a
// fixed-size struct without pointers, so any split of the stream into
// segments gives the same output bytes and verdicts (the PIPELINING check,
// which is about segments, excepted, and the bytes of an end-of-data
// look-alike cut by a split; see below). STATES.md draws the machines.
//
// SMTP smuggling (data.go): in message data, every end-of-data look-alike
// {CRLF, bare LF, bare CR} "." {CRLF, bare LF, bare CR} other than
// CRLF "." CRLF is neutralised where it stands, by turning its "." into 'x'
// (or, when the "." went out in an earlier segment, the bare LF or CR after
// it), so that no server, whichever of CR, LF or CRLF it takes as a line
// end, finds an end of data before the real one; bytes outside look-alikes
// pass unchanged, lengths never change, and each message with a look-alike
// raises AlertBadDataEnd once. Two splits cannot be met in place, and
// data.go says what is rewritten instead: a "." after a bare LF or CR that
// ends a segment becomes 'x' at once; CRLF "." CR that ends a segment,
// followed by a byte other than LF, quarantines the rest of the message.
//
// Nothing here does I/O, allocates per call, logs or reads the clock.
package smtpfsm

// Verb is one SMTP command verb that the inspector knows by name. Verbs not
// in this enumeration are always illegal.
type Verb uint8

// The verb enumeration. The numbers are the `VERB - match id` of the trace.
const (
	VerbNone Verb = iota
	// RFC 821 verbs legal under "smtp" (the seed's list).
	VerbDATA
	VerbHELO
	VerbHELP
	VerbMAIL
	VerbNOOP
	VerbQUIT
	VerbRCPT
	VerbRSET
	VerbSAML
	VerbSEND
	VerbSOML
	VerbVRFY
	// Added under "esmtp".
	VerbAUTH
	VerbEHLO
	VerbETRN
	// Illegal unless the rule's allow list names them.
	VerbEXPN
	VerbTURN
	VerbATRN
	VerbVERB
	VerbDEBUG
	VerbWIZ
	VerbKILL
	VerbSTARTTLS
	VerbBDAT
	VerbONEX
	VerbXEXCH50
	VerbXCLIENT
	VerbXFORWARD
	numVerbs
)

var verbNames = [numVerbs]string{
	"", "DATA", "HELO", "HELP", "MAIL", "NOOP", "QUIT", "RCPT", "RSET", "SAML", "SEND", "SOML", "VRFY",
	"AUTH", "EHLO", "ETRN",
	"EXPN", "TURN", "ATRN", "VERB", "DEBUG", "WIZ", "KILL", "STARTTLS", "BDAT", "ONEX", "XEXCH50", "XCLIENT", "XFORWARD",
}

// String returns the verb's name in capitals.
func (v Verb) String() string {
	if v < numVerbs {
		return verbNames[v]
	}
	return "?"
}

// VerbSet is a set of verbs, bit v standing for Verb v.
type VerbSet uint32

// Has reports whether v is in the set.
func (s VerbSet) Has(v Verb) bool { return s&(1<<v) != 0 }

// SMTPVerbs are the verbs legal under an "smtp" rule (IOS list).
const SMTPVerbs VerbSet = 1<<VerbDATA | 1<<VerbHELO | 1<<VerbHELP | 1<<VerbMAIL | 1<<VerbNOOP |
	1<<VerbQUIT | 1<<VerbRCPT | 1<<VerbRSET | 1<<VerbSAML | 1<<VerbSEND | 1<<VerbSOML | 1<<VerbVRFY

// ESMTPVerbs are the verbs legal under an "esmtp" rule: smtp's plus AUTH,
// EHLO and ETRN.
const ESMTPVerbs VerbSet = SMTPVerbs | 1<<VerbAUTH | 1<<VerbEHLO | 1<<VerbETRN

// ParseVerb returns the set holding the named verb (case-insensitive), for
// the configuration's allow list. ok is false for an unknown name.
func ParseVerb(name string) (VerbSet, bool) {
	for v := VerbDATA; v < numVerbs; v++ {
		w := verbNames[v]
		if len(w) != len(name) {
			continue
		}
		i := 0
		for i < len(w) && upper(name[i]) == w[i] {
			i++
		}
		if i == len(w) {
			return 1 << v, true
		}
	}
	return 0, false
}

// batchEnders may only be the last command of a pipelined batch (RFC 2920
// section 3.1: EHLO, DATA, VRFY, EXPN, TURN, QUIT, NOOP; RFC 3207: STARTTLS,
// whose followers would be read as TLS or, by a buggy server, as injected
// plaintext).
const batchEnders VerbSet = 1<<VerbEHLO | 1<<VerbDATA | 1<<VerbVRFY | 1<<VerbEXPN | 1<<VerbTURN |
	1<<VerbQUIT | 1<<VerbNOOP | 1<<VerbSTARTTLS

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// The verb matcher is a trie over all known verbs, so that a line is judged
// illegal at the first byte that no legal verb can begin with (SPEC 5: `QZZZ`
// typed one byte per segment reaches the server as `Qxxx`). Node 0 is dead
// (no known verb has this prefix), node 1 is the root. The node number is the
// `cmd_re_state` of the trace's VERB events.
const (
	trieDead   = 0
	trieRoot   = 1
	trieNodes  = 160
	trieLetter = 37 // A-Z, 0-9, '-'
)

var (
	charClass [256]uint8                   // 0: cannot be in a verb, else 1+index in the trie alphabet
	trieNext  [trieNodes][trieLetter]uint8 // child per character class (class-1)
	trieUnder [trieNodes]VerbSet           // verbs that have this node's prefix
	trieVerb  [trieNodes]Verb              // verb ending at this node, or VerbNone
)

func init() {
	for c := 'A'; c <= 'Z'; c++ {
		charClass[c] = uint8(c-'A') + 1
		charClass[c-'A'+'a'] = uint8(c-'A') + 1
	}
	for c := '0'; c <= '9'; c++ {
		charClass[c] = uint8(c-'0') + 27
	}
	charClass['-'] = 37
	n := uint8(trieRoot + 1)
	for v := VerbDATA; v < numVerbs; v++ {
		node := uint8(trieRoot)
		trieUnder[node] |= 1 << v
		w := verbNames[v]
		for i := 0; i < len(w); i++ {
			k := charClass[w[i]] - 1
			if trieNext[node][k] == trieDead {
				if int(n) >= trieNodes {
					panic("smtpfsm: verb trie too small")
				}
				trieNext[node][k] = n
				n++
			}
			node = trieNext[node][k]
			trieUnder[node] |= 1 << v
		}
		trieVerb[node] = v
	}
}

// trieStep follows byte c from node; trieDead if no known verb continues so.
func trieStep(node uint8, c byte) uint8 {
	k := charClass[c]
	if node == trieDead || k == 0 {
		return trieDead
	}
	return trieNext[node][k-1]
}
