package ftpfsm

// Kind is the syntax of an announcement: the command or reply that names a
// data connection's address and port.
type Kind uint8

const (
	KindNone Kind = iota
	KindPORT      // client: PORT h1,h2,h3,h4,p1,p2 (RFC 959 section 4.1.2)
	KindEPRT      // client: EPRT <d>1<d>a.b.c.d<d>port<d> (RFC 2428 section 2)
	Kind227       // server: 227 ... h1,h2,h3,h4,p1,p2 (reply to PASV)
	Kind229       // server: 229 ... (<d><d><d>port<d>) (reply to EPSV, RFC 2428 section 3)
	numKinds
)

var kindNames = [numKinds]string{"", "PORT", "EPRT", "227", "229"}

// String returns the command verb or reply code, e.g. "PORT" or "227".
func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "?"
}

// Client reports whether announcements of this kind come from the client.
func (k Kind) Client() bool { return k == KindPORT || k == KindEPRT }

// Announcement is one PORT, EPRT, 227 or 229 that the machine parsed.
//
// Start and End locate the address-and-port text (PORT and 227: the six
// numbers; EPRT and 229: the text from the first delimiter to the last,
// both included) in the caller's stream: offset o is b[o] for o >= 0, and
// for o < 0 the byte -o before b, which the caller is holding back (see
// Result.Hold). For a refused announcement they are both 0.
type Announcement struct {
	Kind    Kind
	Refused AlertKind // AlertNone, or why the command was refused (or the reply not trusted)
	Delim   byte      // EPRT and 229: the delimiter the sender chose
	Port    uint16
	Addr    uint32 // host order; 229 carries no address: 0
	Start   int
	End     int
}

// MaxAnnouncements is how many announcements one call reports. A call
// stops right after the byte that completes the last one it has room for
// and says so in Result.Next.
const MaxAnnouncements = 4

// Result is what one Client or Server call found. It is a value: nothing in
// it points into the Session or the segment.
type Result struct {
	Alerts AlertSet
	N      int // announcements in Ann
	Ann    [MaxAnnouncements]Announcement

	// Next is the index of the first byte of b the call did not read:
	// len(b), unless Ann filled up; the caller then acts on Ann and calls
	// again with b[Next:].
	Next int

	// Hold is how many bytes at the end of the stream read so far (the
	// bytes the caller held back before this call, then b[:Next]) belong to
	// a line that may still announce a data connection or be refused. The
	// caller must not forward them yet: it keeps the last Hold bytes and
	// forwards the rest; they are rewritten or released by the call that
	// reads the rest of the line. Hold never exceeds MaxHold.
	Hold int

	// XHeld is how many of the bytes the caller was holding before this
	// call belong to a command line this call refused: the caller turns
	// each of the last XHeld held bytes into 'x' (Neutralize), as the call
	// did in b.
	XHeld int

	Rewritten   int  // bytes of b turned into 'x'
	Passthrough bool // AUTH answered 234: TLS follows, no longer inspected
}

func (r *Result) alert(k AlertKind) { r.Alerts |= 1 << k }

// Mode is how the session reads the control channel.
type Mode uint8

const (
	ModeInspect     Mode = iota // commands and replies are parsed
	ModePassthrough             // AUTH answered 234: encrypted, not inspected
)

var modeNames = [...]string{"Inspect", "Passthrough"}

func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return "?"
}

// Session is the inspection state of one FTP control connection. It is
// fixed-size, holds no pointers and keeps only the state of the current
// command line and the current reply line, so that it can live in a slab.
// The zero value refuses every PORT and EPRT (no client address, nobody
// logged in); call Init first.
type Session struct {
	client, server uint32 // the peers' addresses as their packets arrive
	mode           Mode
	loggedIn       bool // a 230 (or 232) reply and no REIN or USER since

	// Reply accounting for AUTH (STATES.md): command k is answered by the
	// (k+1)th final reply, the first being the greeting.
	cmdSeq   uint32
	replySeq uint32
	authSeq  uint32 // number of the last AUTH command, 0: none outstanding

	// Client side: the current command line (client.go).
	cLen      uint32 // octets of the line so far, saturating
	cVerb     uint32 // first four verb octets, upper case, packed
	cVerbN    uint8  // verb octets so far (saturates at 5)
	cPhase    uint8
	cKind     Kind   // KindPORT or KindEPRT once the verb is known to be one
	cBad      bool   // rewriting to the end of the line
	cCR       bool   // the last byte was CR
	cIAC      bool   // the last byte was a Telnet IAC in the verb phase
	cSkip     uint8  // Telnet command and blank octets skipped in the verb phase
	cArgStart uint32 // line offsets of the PORT or EPRT text
	cArgEnd   uint32
	cp        textParser

	// Server side: the current reply line (server.go).
	rLen     uint32
	rPos     uint8 // 0..3 code octets read, 4: text
	rCode    uint16
	rFirst   uint16 // code of the reply's first line
	rInReply bool   // a multi-line reply is open
	rFinal   bool   // this line ends the reply
	rText    bool   // this line is text inside a multi-line reply
	rBad     bool   // not a reply line
	rScan    uint8  // announcement scan state of this line
	rStart   uint32 // line offset of the announcement text
	rp       textParser
}

// Init prepares s for a new control connection between client and server
// (host-order IPv4 addresses, each as the firewall receives the peer's
// packets, before any translation).
func (s *Session) Init(client, server uint32) {
	*s = Session{client: client, server: server}
}

// Mode returns how the session reads the control channel.
func (s *Session) Mode() Mode { return s.mode }

// LoggedIn reports whether the server has accepted a login (230 or 232)
// and the client has not started another (USER, REIN) since.
func (s *Session) LoggedIn() bool { return s.loggedIn }

// Neutralize turns every byte of b except CR and LF into 'x' and returns
// how many it changed: what a refused command line becomes (the server
// answers 500 to it). The caller applies it to held bytes (Result.XHeld).
func Neutralize(b []byte) int {
	n := 0
	for i, c := range b {
		if c != '\r' && c != '\n' {
			b[i] = 'x'
			n++
		}
	}
	return n
}
