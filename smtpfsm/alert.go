package smtpfsm

// AlertKind names one kind of inspection alert. String gives the IOS-style
// message name; the control plane formats the full line
// (`%FW-4-SMTP_INVALID_COMMAND: Invalid SMTP command (VERB) from initiator
// (A:p) -- responder (B:q)`) off the packet path.
type AlertKind uint8

const (
	// AlertInvalidCommand: a command line whose verb is not legal; Result.Verb
	// holds the verb text (at most 16 bytes).
	AlertInvalidCommand AlertKind = iota
	// AlertLongLine: a command line longer than 512 octets (RFC 5321
	// section 4.5.3.1.4); rewritten from octet 513 on.
	AlertLongLine
	// AlertESMTPViolation: an ESMTP parameter or command the server did not
	// advertise, or a malformed parameter value; Result.Param names it.
	AlertESMTPViolation
	// AlertMaxData: message data beyond the policy's MaxData; Result.Reset.
	AlertMaxData
	// AlertBadReply: a malformed server reply line (forwarded unchanged).
	AlertBadReply
	// AlertPipelining: more than one command in a segment without
	// PIPELINING, or a command after one that must end a batch (RFC 2920).
	AlertPipelining
	// AlertBareCR: a CR not followed by LF inside a command line (RFC 5321
	// section 2.3.8); the rest of the line is rewritten.
	AlertBareCR
	// AlertBadDataEnd: an end-of-data look-alike with a bare CR or LF
	// (SMTP smuggling), neutralised; raised once per message. See data.go.
	AlertBadDataEnd
	// AlertRetransmitDiffers is raised by the caller (stream consistency),
	// not by this package; it is here so that all SMTP alerts share a type.
	AlertRetransmitDiffers
	numAlerts
)

// NumAlerts is the number of alert kinds: kinds are 0 .. NumAlerts-1.
const NumAlerts = numAlerts

var alertNames = [numAlerts]string{
	"SMTP_INVALID_COMMAND",
	"SMTP_LONG_LINE",
	"SMTP_ESMTP_VIOLATION",
	"SMTP_MAX_DATA",
	"SMTP_BAD_REPLY",
	"SMTP_PIPELINING",
	"SMTP_BARE_CR",
	"SMTP_BAD_DATA_END",
	"SMTP_RETRANSMIT_DIFFERS",
}

// String returns the IOS-style message name, e.g. "SMTP_INVALID_COMMAND".
func (k AlertKind) String() string {
	if k < numAlerts {
		return alertNames[k]
	}
	return "SMTP_UNKNOWN"
}

// AlertSet is a set of alert kinds, bit k standing for AlertKind k.
type AlertSet uint16

// Has reports whether k is in the set.
func (a AlertSet) Has(k AlertKind) bool { return a&(1<<k) != 0 }

// Param names the ESMTP parameter (or command) of an AlertESMTPViolation.
type Param uint8

const (
	ParamNone Param = iota
	ParamSize
	ParamBody
	ParamAuth
	ParamRet
	ParamEnvid
	ParamNotify
	ParamOrcpt
	ParamETRN // the ETRN command when ETRN was not advertised
	numParams
)

var paramNames = [numParams]string{"", "SIZE", "BODY", "AUTH", "RET", "ENVID", "NOTIFY", "ORCPT", "ETRN"}

// String returns the parameter keyword, e.g. "SIZE".
func (p Param) String() string {
	if p < numParams {
		return paramNames[p]
	}
	return "?"
}

// Result is what one Client or Server call found. It is a value: nothing in
// it points into the Session or the segment.
type Result struct {
	Alerts      AlertSet
	Rewritten   int  // bytes of the segment turned into 'x'
	Reset       bool // max-data exceeded: reset both ends and delete the session
	Passthrough bool // STARTTLS accepted: no longer inspected, still tracked
	Param       Param
	VerbLen     uint8
	Verb        [16]byte // first invalid verb of the call, as the client sent it
}

// VerbText returns the invalid verb reported with AlertInvalidCommand.
func (r *Result) VerbText() []byte { return r.Verb[:r.VerbLen] }

func (r *Result) alert(k AlertKind) { r.Alerts |= 1 << k }

// Ext is one SMTP service extension that the EHLO reply may advertise.
type Ext uint8

const (
	ExtPIPELINING Ext = iota
	ExtSIZE
	Ext8BITMIME
	ExtBINARYMIME
	ExtCHUNKING
	ExtDSN
	ExtAUTH
	ExtENHANCEDSTATUSCODES
	ExtETRN
	ExtSTARTTLS
	numExts
)

// extNames doubles as the word list of the EHLO keyword matcher.
var extNames = [...]string{
	"PIPELINING", "SIZE", "8BITMIME", "BINARYMIME", "CHUNKING", "DSN", "AUTH",
	"ENHANCEDSTATUSCODES", "ETRN", "STARTTLS",
}

// String returns the EHLO keyword.
func (e Ext) String() string {
	if e < numExts {
		return extNames[e]
	}
	return "?"
}

// ExtSet is the set of extensions the last EHLO reply advertised.
type ExtSet uint16

// Has reports whether e is in the set.
func (s ExtSet) Has(e Ext) bool { return s&(1<<e) != 0 }
