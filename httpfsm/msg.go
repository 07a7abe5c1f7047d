package httpfsm

// state is where a msg machine is in its stream (doc.go "States").
type state uint8

const (
	stStart     state = iota // before a start line (CR and LF skipped)
	stMethod                 // request: the method token
	stVersion                // response: matching "HTTP/"
	stStatus                 // response: version, SP, then the status digits
	stLineRest               // to the LF ending the start line
	stLineStart              // at the start of a header (or trailer) line
	stLineCR                 // a CR at the start of a header line
	stName                   // a header name
	stValue                  // a header value
	stSkipLine               // to the LF of a line that does not matter
	stLength                 // a Content-Length body
	stChunkSize              // a chunk's size (hex)
	stChunkExt               // to the LF after a chunk size
	stChunkData              // a chunk's data
	stChunkEnd               // to the LF after a chunk's data
	stClose                  // a body that runs to the close
	stTunnel                 // inspection off
	stApplet                 // an applet was found (response; sticky)
)

// The headers that matter, indexes into headerNames.
const (
	hdrNone uint8 = iota
	hdrContentLength
	hdrTransferEncoding
	hdrContentType
)

var headerNames = [...]string{"", "content-length", "transfer-encoding", "content-type"}

// ctypeMax is how many octets of a Content-Type media type are kept: the
// longest Java class type, and one more to tell a longer type apart.
const ctypeMax = 26

// javaTypes are the media types of Java class files (lower case).
var javaTypes = [...]string{
	"application/java-vm",
	"application/x-java-vm",
	"application/java",
	"application/x-java-applet",
	"application/x-java-class",
}

var (
	classMagic = [4]byte{0xca, 0xfe, 0xba, 0xbe} // JVM specification 4.1
	zipMagic   = [4]byte{'P', 'K', 3, 4}         // a zip local file header: .jar, .zip
)

// Message flags.
const (
	mfChunked   uint8 = 1 << iota // Transfer-Encoding ends in chunked
	mfLength                      // a Content-Length was seen
	mfBadLength                   // a Content-Length did not parse, or two differ
	mfTrailer                     // the header lines are a chunked trailer
	mfHead                        // request: the method is HEAD (while matching: still may be)
	mfConnect                     // request: the method is CONNECT (idem)
	mfJava                        // response: a Content-Type is a Java class type
	mfCoded                       // a Transfer-Encoding was seen
)

// msg parses one direction's messages.
type msg struct {
	state  state
	resp   bool
	flags  uint8
	idx    uint8 // octets matched: "HTTP/", the method, a header name, the status digits
	cand   uint8 // header names still matching, bit i for headerNames[i]
	hdr    uint8 // the header whose value is being read
	vstate uint8 // within a value: 0 leading OWS, 1 in the value, 2 trailing OWS, 3 done
	magicN uint8 // body octets compared with the magics (at most 4)
	magics uint8 // bit 0: the class magic still matches, bit 1: the zip magic
	cause  Cause
	status uint16
	length uint64 // Content-Length
	rem    uint64 // body or chunk octets left; chunk size being read
	ctLen  uint8
	ctype  [ctypeMax]byte
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func isOWS(c byte) bool { return c == ' ' || c == '\t' || c == '\r' }

// run reads b, reporting into r.
func (m *msg) run(s *Session, b []byte, r *Result) {
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch m.state {
		case stStart:
			if c == '\r' || c == '\n' {
				continue
			}
			m.flags, m.idx, m.status, m.length, m.magicN = 0, 0, 0, 0, 0
			if !m.resp {
				m.flags = mfHead | mfConnect
				m.state = stMethod
				i-- // the octet is the method's
				continue
			}
			if c != 'H' {
				// Not "HTTP/": an HTTP/0.9 body, to the close.
				m.startBody(stClose)
				i--
				continue
			}
			m.state, m.idx = stVersion, 1
		case stMethod:
			if c == ' ' || c == '\n' {
				head := m.flags&mfHead != 0 && m.idx == 4
				connect := m.flags&mfConnect != 0 && m.idx == 7
				s.push(head, connect)
				m.flags &^= mfHead | mfConnect
				if c == '\n' {
					m.endHeader(s, r, i)
				} else {
					m.state = stLineRest
				}
				continue
			}
			if m.idx >= 4 || c != "HEAD"[m.idx] {
				m.flags &^= mfHead
			}
			if m.idx >= 7 || c != "CONNECT"[m.idx] {
				m.flags &^= mfConnect
			}
			if m.idx < 255 {
				m.idx++
			}
		case stVersion:
			if c != "HTTP/"[m.idx] {
				// An HTTP/0.9 body that starts with "H": not a
				// class file (its magic starts 0xCA).
				m.state = stClose
				m.magicN = 4
				continue
			}
			m.idx++
			if m.idx == 5 {
				m.state, m.idx = stStatus, 0
			}
		case stStatus:
			switch {
			case c == '\n':
				m.state = stLineStart
			case m.idx == 0 && c == ' ':
				m.idx = 1
			case m.idx >= 1 && m.idx <= 3 && c >= '0' && c <= '9':
				m.status = m.status*10 + uint16(c-'0')
				m.idx++
			case m.idx >= 1:
				m.state = stLineRest
			}
		case stLineRest, stSkipLine:
			if c == '\n' {
				m.state = stLineStart
			}
		case stLineStart:
			switch c {
			case '\n':
				m.endHeader(s, r, i)
			case '\r':
				m.state = stLineCR
			case ' ', '\t':
				m.state = stSkipLine // obs-fold: a continuation, ignored
			default:
				m.state, m.idx, m.cand = stName, 0, 1<<hdrContentLength|1<<hdrTransferEncoding|1<<hdrContentType
				if m.flags&mfTrailer != 0 {
					m.state = stSkipLine
				}
				i--
			}
		case stLineCR:
			if c == '\n' {
				m.endHeader(s, r, i)
			} else {
				m.state = stSkipLine
				i--
			}
		case stName:
			if c == ':' {
				m.hdr = hdrNone
				for h := hdrContentLength; h <= hdrContentType; h++ {
					if m.cand&(1<<h) != 0 && int(m.idx) == len(headerNames[h]) {
						m.hdr = h
					}
				}
				m.state, m.vstate, m.idx = stValue, 0, 0
				if m.hdr == hdrNone {
					m.state = stSkipLine
				}
				m.beginValue()
				continue
			}
			if c == '\n' {
				m.state = stLineStart
				continue
			}
			lc := lower(c)
			for h := hdrContentLength; h <= hdrContentType; h++ {
				if n := headerNames[h]; int(m.idx) >= len(n) || n[m.idx] != lc {
					m.cand &^= 1 << h
				}
			}
			if m.cand == 0 {
				m.state = stSkipLine
			}
			m.idx++
		case stValue:
			if c == '\n' {
				m.endValue()
				m.state = stLineStart
				continue
			}
			m.value(c)
		case stLength:
			i = m.body(r, b, i)
		case stChunkSize:
			switch {
			case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
				if m.rem > 1<<59 {
					m.state = stClose // unparseable: the rest is body
					continue
				}
				m.rem = m.rem<<4 | uint64(hexVal(c))
				m.idx = 1
			case c == '\n':
				m.chunkSized()
			case m.idx == 0 && c != ' ' && c != '\t' && c != '\r':
				m.state = stClose // no size: the rest is body
			default:
				m.state = stChunkExt
			}
		case stChunkExt:
			if c == '\n' {
				m.chunkSized()
			}
		case stChunkData:
			i = m.body(r, b, i)
			if m.rem == 0 && m.state == stChunkData {
				m.state = stChunkEnd
			}
		case stChunkEnd:
			if c == '\n' {
				m.state, m.rem, m.idx = stChunkSize, 0, 0
			}
		case stClose:
			if m.magicN >= 4 {
				return // nothing more to see in this stream
			}
			m.rem = uint64(len(b) - i)
			i = m.body(r, b, i)
		case stTunnel:
			r.Tunnel = true
			return
		case stApplet:
			return
		}
		if m.state == stApplet {
			r.Applet, r.Cause, r.At = true, m.cause, i
			return
		}
		if m.state == stTunnel {
			r.Tunnel = true
			return
		}
	}
}

func hexVal(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// chunkSized ends a chunk-size line: data follows, or the trailer.
func (m *msg) chunkSized() {
	if m.rem == 0 {
		m.state, m.flags = stLineStart, m.flags|mfTrailer
		return
	}
	m.state = stChunkData
}

// body consumes body octets from b[i:], at most m.rem (> 0; i < len(b)),
// comparing the first four of the message with the magics, and returns
// the index of the last octet consumed. The state becomes stApplet at the
// class magic's fourth octet, or the message ends when m.rem reaches 0 in
// stLength.
func (m *msg) body(r *Result, b []byte, i int) int {
	j := i // the next octet to consume
	for m.magicN < 4 && m.rem > 0 && j < len(b) {
		c := b[j]
		j++
		m.rem--
		if c != classMagic[m.magicN] {
			m.magics &^= 1
		}
		if c != zipMagic[m.magicN] {
			m.magics &^= 2
		}
		m.magicN++
		if m.magicN == 4 {
			if m.magics&1 != 0 {
				m.state, m.cause = stApplet, CauseMagic
				return j - 1
			}
			if m.magics&2 != 0 {
				r.Archives++
			}
		}
	}
	if m.magicN >= 4 {
		n := uint64(len(b) - j)
		if n > m.rem {
			n = m.rem
		}
		m.rem -= n
		j += int(n)
	}
	if m.rem == 0 && m.state == stLength {
		m.state = stStart
	}
	return j - 1
}

// startBody enters a body state, its magics armed.
func (m *msg) startBody(st state) {
	m.state, m.magicN, m.magics = st, 0, 3
	if !m.resp {
		m.magicN = 4 // request bodies are skipped, not judged
	}
}

// endHeader ends a message's header (or a chunked trailer) at b[i]: it
// frames the body and judges the Content-Type.
func (m *msg) endHeader(s *Session, r *Result, i int) {
	if m.flags&mfTrailer != 0 {
		m.state = stStart
		return
	}
	if !m.resp {
		switch {
		case m.flags&mfChunked != 0:
			m.startBody(stChunkSize)
			m.rem, m.idx = 0, 0
		case m.flags&mfLength != 0 && m.flags&mfBadLength == 0 && m.length > 0:
			m.startBody(stLength)
			m.rem = m.length
		default:
			m.state = stStart
		}
		return
	}
	st := m.status
	if st >= 100 && st < 200 && st != 101 {
		m.state = stStart // interim: the final response follows
		return
	}
	head, connect := s.front()
	s.pop()
	if st == 101 || connect && st >= 200 && st < 300 {
		m.state = stTunnel
		return
	}
	if head || st == 204 || st == 304 {
		m.state = stStart
		return
	}
	switch {
	case m.flags&mfChunked != 0:
		m.startBody(stChunkSize)
		m.rem, m.idx = 0, 0
	case m.flags&(mfBadLength|mfCoded) != 0:
		// A transfer coding other than chunked last overrides any
		// Content-Length: the body runs to the close (RFC 9112 6.3).
		m.startBody(stClose)
	case m.flags&mfLength != 0:
		if m.length == 0 {
			m.state = stStart
			return
		}
		m.startBody(stLength)
		m.rem = m.length
	default:
		m.startBody(stClose)
	}
	if m.flags&mfJava != 0 {
		m.state, m.cause = stApplet, CauseContentType
	}
}

// beginValue prepares for the value of header m.hdr.
func (m *msg) beginValue() {
	switch m.hdr {
	case hdrContentLength:
		m.rem = 0
	case hdrContentType:
		m.ctLen = 0
	case hdrTransferEncoding:
		m.flags &^= mfChunked
		m.flags |= mfCoded
	}
}

// value reads one octet of a header value (CR counts as OWS).
func (m *msg) value(c byte) {
	ows := isOWS(c)
	switch m.hdr {
	case hdrContentLength:
		switch {
		case ows:
			if m.vstate == 1 {
				m.vstate = 2
			}
		case c >= '0' && c <= '9' && m.vstate <= 1:
			m.vstate = 1
			if m.rem > 1<<59 {
				m.flags |= mfBadLength
			}
			m.rem = m.rem*10 + uint64(c-'0')
		default:
			m.flags |= mfBadLength
		}
	case hdrTransferEncoding:
		// The value ends in the token "chunked" (RFC 9112 6.1: chunked
		// is last when present): idx counts its octets matched.
		switch {
		case ows:
			if m.idx > 0 && m.idx < 7 {
				m.idx = 0
			}
		case m.idx == 7:
			m.idx = 0 // something after "chunked"
			if lower(c) == 'c' {
				m.idx = 1
			}
		case lower(c) == "chunked"[m.idx]:
			m.idx++
		default:
			m.idx = 0
			if lower(c) == 'c' {
				m.idx = 1
			}
		}
	case hdrContentType:
		switch {
		case m.vstate == 3:
		case c == ';':
			m.vstate = 3
		case ows:
			if m.vstate == 1 {
				m.vstate = 2
			}
		default:
			if m.vstate == 2 {
				m.ctLen = ctypeMax // "a b": not a type of ours
			}
			m.vstate = 1
			if m.ctLen < ctypeMax {
				m.ctype[m.ctLen] = lower(c)
				m.ctLen++
			}
		}
	}
}

// endValue commits a header value at its LF.
func (m *msg) endValue() {
	switch m.hdr {
	case hdrContentLength:
		if m.vstate == 0 {
			m.flags |= mfBadLength
		}
		if m.flags&mfLength != 0 && m.length != m.rem {
			m.flags |= mfBadLength
		}
		m.flags |= mfLength
		m.length = m.rem
		m.rem = 0
	case hdrTransferEncoding:
		if m.idx == 7 {
			m.flags |= mfChunked
		}
	case hdrContentType:
		// Any Content-Type naming a Java type counts, whichever a
		// client would take.
		t := m.ctype[:m.ctLen]
		for _, j := range javaTypes {
			if string(t) == j {
				m.flags |= mfJava
			}
		}
	}
}
