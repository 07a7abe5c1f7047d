package httpfsm

// MaxPipelined is how many outstanding requests' methods a Session
// remembers. A client that pipelines more gets the later ones taken as
// GET (their responses framed as having a body when they have one); only
// the client can cause that, and only to itself.
const MaxPipelined = 64

// Cause says why a response is an applet.
type Cause uint8

const (
	CauseNone        Cause = iota
	CauseMagic             // the body starts with 0xCAFEBABE
	CauseContentType       // the Content-Type is a Java class type
)

var causeNames = [...]string{"none", "class file magic", "content type"}

func (c Cause) String() string {
	if int(c) < len(causeNames) {
		return causeNames[c]
	}
	return "?"
}

// Result is what one Request or Response call found.
type Result struct {
	// Applet: a response carries an unarchived Java applet; At is the
	// offset in b of the octet that decided it (the LF ending the header
	// for CauseContentType, the fourth body octet for CauseMagic). Once
	// reported, the session stays in that state: later calls report
	// Applet again with At 0 and read nothing.
	Applet bool
	Cause  Cause
	At     int
	// Archives counts responses whose body started with a zip local file
	// header (a .jar or .zip): applets IOS documents it cannot see.
	Archives uint8
	// Tunnel: the connection became a tunnel (101, or 2xx to CONNECT);
	// nothing more is inspected and the glue may drop the state.
	Tunnel bool
}

// Session is the inspection state of one HTTP connection. The zero value
// is a new connection.
type Session struct {
	req, resp msg
	// Outstanding requests, oldest in bit 0: HEAD, CONNECT.
	heads, connects uint64
	pending         uint8
}

// Reset makes s a new connection.
func (s *Session) Reset() { *s = Session{} }

// Applet reports whether a response was found to carry an applet.
func (s *Session) Applet() bool { return s.resp.state == stApplet }

// Tunnel reports whether the connection became a tunnel.
func (s *Session) Tunnel() bool { return s.resp.state == stTunnel }

// Request reads client-to-server bytes.
func (s *Session) Request(b []byte) Result {
	var r Result
	s.req.run(s, b, &r)
	return r
}

// Response reads server-to-client bytes.
func (s *Session) Response(b []byte) Result {
	r := Result{}
	if s.resp.state == stApplet {
		r.Applet, r.Cause = true, s.resp.cause
		return r
	}
	s.resp.resp = true
	s.resp.run(s, b, &r)
	return r
}

func (s *Session) push(head, connect bool) {
	if s.pending >= MaxPipelined {
		return
	}
	if head {
		s.heads |= 1 << s.pending
	}
	if connect {
		s.connects |= 1 << s.pending
	}
	s.pending++
}

// front returns the oldest outstanding request's method flags (GET when
// none is known).
func (s *Session) front() (head, connect bool) {
	return s.pending > 0 && s.heads&1 != 0, s.pending > 0 && s.connects&1 != 0
}

func (s *Session) pop() {
	if s.pending == 0 {
		return
	}
	s.heads >>= 1
	s.connects >>= 1
	s.pending--
}
