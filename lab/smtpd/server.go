// Package smtpd is a small SMTP server for the lab: the mail server behind
// the firewall. It speaks the RFC 5321 subset that the seed scenario needs
// (EHLO with PIPELINING, SIZE, 8BITMIME, DSN, ENHANCEDSTATUSCODES, AUTH
// PLAIN LOGIN; HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT, VRFY, HELP, AUTH),
// answers unknown commands as Postfix does ("500 5.5.2 Error: command not
// recognized"), accepts any credentials (it is a lab), and keeps what it
// received in a Mailbox: every message byte for byte after dot-unstuffing,
// and every command line as it arrived, so that tests can assert what the
// firewall let through (e.g. that "EXPN root" arrived as "xxxxxxxxx").
package smtpd

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults of a Server's zero fields.
const (
	DefaultHostname = "mail.lab.example"
	// DefaultMaxLine is Postfix's line_length_limit: command lines longer
	// than this (CRLF included) are answered 500 and otherwise ignored.
	DefaultMaxLine   = 2048
	DefaultMaxSize   = 20000000 // advertised SIZE; larger messages get 552
	DefaultTimeout   = 5 * time.Minute
	DefaultMaxErrors = 20 // Postfix smtpd_hard_error_limit
	maxRecipients    = 1000
)

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("smtpd: server closed")

var errLineTooLong = errors.New("smtpd: line too long")

// Server is an SMTP server storing into Mailbox. Set the fields before
// Serve; zero fields take the defaults above.
type Server struct {
	Mailbox   *Mailbox
	Hostname  string
	MaxLine   int
	MaxSize   int64
	Timeout   time.Duration // per read or write
	MaxErrors int

	mu        sync.Mutex
	listeners map[net.Listener]struct{} // guarded by mu
	conns     map[net.Conn]struct{}     // guarded by mu
	closed    bool                      // guarded by mu
	sessions  sync.WaitGroup
}

// NewServer returns a server with default settings storing into mb.
func NewServer(mb *Mailbox) *Server {
	return &Server{Mailbox: mb}
}

// Serve accepts SMTP sessions on l until Close (then ErrServerClosed) or
// until l fails.
func Serve(l net.Listener, mb *Mailbox) error {
	return NewServer(mb).Serve(l)
}

// Serve accepts connections on l, one goroutine per session, until Close.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	if s.listeners == nil {
		s.listeners = make(map[net.Listener]struct{})
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()

	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			delete(s.listeners, l)
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Transient (e.g. EMFILE surfaces as such): back off, bounded.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				s.mu.Lock()
				s.listeners[l] = struct{}{}
				s.mu.Unlock()
				continue
			}
			return fmt.Errorf("smtpd: accept: %w", err)
		}
		backoff = 0
		if !s.track(c) {
			c.Close()
			return ErrServerClosed
		}
		go func() {
			defer s.untrack(c)
			s.serve(c)
		}()
	}
}

// ServeConn runs one SMTP session on c and closes c; it returns when the
// session ends.
func (s *Server) ServeConn(c net.Conn) {
	if !s.track(c) {
		c.Close()
		return
	}
	defer s.untrack(c)
	s.serve(c)
}

func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.conns == nil {
		s.conns = make(map[net.Conn]struct{})
	}
	s.conns[c] = struct{}{}
	s.sessions.Add(1)
	return true
}

func (s *Server) untrack(c net.Conn) {
	c.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.sessions.Done()
}

// Close stops every listener and session and waits for the sessions to end.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	var err error
	for l := range s.listeners {
		err = errors.Join(err, l.Close())
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.sessions.Wait()
	return err
}

func (s *Server) hostname() string {
	if s.Hostname != "" {
		return s.Hostname
	}
	return DefaultHostname
}

func (s *Server) maxLine() int {
	if s.MaxLine > 0 {
		return s.MaxLine
	}
	return DefaultMaxLine
}

func (s *Server) maxSize() int64 {
	if s.MaxSize > 0 {
		return s.MaxSize
	}
	return DefaultMaxSize
}

func (s *Server) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return DefaultTimeout
}

func (s *Server) maxErrors() int {
	if s.MaxErrors > 0 {
		return s.MaxErrors
	}
	return DefaultMaxErrors
}

// session is the state of one SMTP connection.
type session struct {
	srv    *Server
	c      net.Conn
	r      *bufio.Reader
	w      *bufio.Writer
	remote string

	helo     string // "" until HELO/EHLO
	authUser string
	authed   bool
	inMail   bool // MAIL accepted: a transaction is open
	from     string
	to       []string
	nerrors  int // negative replies so far
	quit     bool
}

func (s *Server) serve(c net.Conn) {
	ss := &session{
		srv:    s,
		c:      c,
		r:      bufio.NewReaderSize(c, 64<<10),
		w:      bufio.NewWriterSize(c, 4<<10),
		remote: c.RemoteAddr().String(),
	}
	ss.reply("220 " + s.hostname() + " ESMTP cbac lab")
	for !ss.quit {
		if err := ss.flushIfIdle(); err != nil {
			return
		}
		line, err := ss.readLine()
		if errors.Is(err, errLineTooLong) {
			s.Mailbox.logCommand(line)
			ss.fail("500 5.5.0 Error: line too long")
			continue
		}
		if err != nil {
			return
		}
		s.Mailbox.logCommand(line)
		ss.command(line)
		if ss.nerrors >= s.maxErrors() {
			ss.reply("421 4.7.0 " + s.hostname() + " Error: too many errors")
			break
		}
	}
	ss.w.Flush()
}

// flushIfIdle sends the buffered replies once the client has no more
// pipelined commands waiting (RFC 2920 section 3.2: the server may batch
// replies to a group of commands).
func (ss *session) flushIfIdle() error {
	if ss.r.Buffered() > 0 {
		return nil
	}
	ss.c.SetWriteDeadline(time.Now().Add(ss.srv.timeout()))
	return ss.w.Flush()
}

func (ss *session) reply(text string) {
	ss.w.WriteString(text)
	ss.w.WriteString("\r\n")
}

// fail sends a negative reply and counts it towards MaxErrors.
func (ss *session) fail(text string) {
	ss.nerrors++
	ss.reply(text)
}

// readLine reads one command line and returns it without its line end (CRLF
// or a bare LF). A line longer than MaxLine is consumed to its end and
// returned cut, with errLineTooLong; memory stays bounded.
func (ss *session) readLine() (string, error) {
	ss.c.SetReadDeadline(time.Now().Add(ss.srv.timeout()))
	limit := ss.srv.maxLine()
	var buf []byte
	long := false
	for {
		chunk, err := ss.r.ReadSlice('\n')
		if len(buf)+len(chunk) > limit {
			long = true
		}
		if room := limit - len(buf); room > 0 {
			buf = append(buf, chunk[:min(len(chunk), room)]...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return "", err
		}
		break
	}
	buf = bytes.TrimSuffix(buf, []byte("\n"))
	buf = bytes.TrimSuffix(buf, []byte("\r"))
	if long {
		return string(buf), errLineTooLong
	}
	return string(buf), nil
}

// command dispatches one command line.
func (ss *session) command(line string) {
	verb, arg, _ := strings.Cut(line, " ")
	arg = strings.TrimSpace(arg)
	switch strings.ToUpper(verb) {
	case "":
		ss.fail("500 5.5.2 Error: bad syntax")
	case "EHLO":
		ss.ehlo(arg)
	case "HELO":
		ss.heloCmd(arg)
	case "MAIL":
		ss.mail(arg)
	case "RCPT":
		ss.rcpt(arg)
	case "DATA":
		ss.data(arg)
	case "RSET":
		ss.resetTransaction()
		ss.reply("250 2.0.0 Ok")
	case "NOOP":
		ss.reply("250 2.0.0 Ok")
	case "QUIT":
		ss.reply("221 2.0.0 Bye")
		ss.quit = true
	case "VRFY":
		if arg == "" {
			ss.fail("501 5.5.4 Syntax: VRFY address")
			return
		}
		ss.reply("252 2.0.0 " + arg)
	case "HELP":
		ss.reply("214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP AUTH")
	case "AUTH":
		ss.auth(arg)
	default:
		ss.fail("500 5.5.2 Error: command not recognized")
	}
}

func (ss *session) ehlo(arg string) {
	if arg == "" {
		ss.fail("501 5.5.4 Syntax: EHLO hostname")
		return
	}
	ss.helo = arg
	ss.resetTransaction()
	h := ss.srv.hostname()
	ss.reply("250-" + h)
	ss.reply("250-PIPELINING")
	ss.reply("250-SIZE " + strconv.FormatInt(ss.srv.maxSize(), 10))
	ss.reply("250-AUTH PLAIN LOGIN")
	ss.reply("250-ENHANCEDSTATUSCODES")
	ss.reply("250-8BITMIME")
	ss.reply("250 DSN")
}

func (ss *session) heloCmd(arg string) {
	if arg == "" {
		ss.fail("501 Syntax: HELO hostname")
		return
	}
	ss.helo = arg
	ss.resetTransaction()
	ss.reply("250 " + ss.srv.hostname())
}

func (ss *session) resetTransaction() {
	ss.inMail, ss.from, ss.to = false, "", nil
}

// parsePath splits "<path> params" after "FROM:" or "TO:". Brackets are
// required unless the path is a bare word (Postfix's lenient default).
func parsePath(s string) (path string, params []string, ok bool) {
	s = strings.TrimLeft(s, " ")
	if strings.HasPrefix(s, "<") {
		end := strings.IndexByte(s, '>')
		if end < 0 {
			return "", nil, false
		}
		return s[1:end], strings.Fields(s[end+1:]), true
	}
	f := strings.Fields(s)
	if len(f) == 0 {
		return "", nil, false
	}
	return f[0], f[1:], true
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func (ss *session) mail(arg string) {
	switch {
	case ss.helo == "":
		ss.fail("503 5.5.1 Error: send HELO/EHLO first")
		return
	case ss.inMail:
		ss.fail("503 5.5.1 Error: nested MAIL command")
		return
	case !hasPrefixFold(arg, "FROM:"):
		ss.fail("501 5.5.4 Syntax: MAIL FROM:<address>")
		return
	}
	path, params, ok := parsePath(arg[len("FROM:"):])
	if !ok {
		ss.fail("501 5.1.7 Bad sender address syntax")
		return
	}
	for _, p := range params {
		key, val, _ := strings.Cut(p, "=")
		switch strings.ToUpper(key) {
		case "SIZE":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n < 0 {
				ss.fail("501 5.5.4 Bad message size syntax")
				return
			}
			if n > ss.srv.maxSize() {
				ss.fail("552 5.3.4 Message size exceeds fixed limit")
				return
			}
		case "BODY", "RET", "ENVID", "AUTH":
		default:
			ss.fail("555 5.5.4 Unsupported option: " + p)
			return
		}
	}
	ss.inMail, ss.from, ss.to = true, path, nil
	ss.reply("250 2.1.0 Ok")
}

func (ss *session) rcpt(arg string) {
	switch {
	case !ss.inMail:
		ss.fail("503 5.5.1 Error: need MAIL command")
		return
	case !hasPrefixFold(arg, "TO:"):
		ss.fail("501 5.5.4 Syntax: RCPT TO:<address>")
		return
	case len(ss.to) >= maxRecipients:
		ss.fail("452 4.5.3 Error: too many recipients")
		return
	}
	path, params, ok := parsePath(arg[len("TO:"):])
	if !ok || path == "" {
		ss.fail("501 5.1.3 Bad recipient address syntax")
		return
	}
	for _, p := range params {
		key, _, _ := strings.Cut(p, "=")
		switch strings.ToUpper(key) {
		case "NOTIFY", "ORCPT":
		default:
			ss.fail("555 5.5.4 Unsupported option: " + p)
			return
		}
	}
	ss.to = append(ss.to, path)
	ss.reply("250 2.1.5 Ok")
}

func (ss *session) data(arg string) {
	switch {
	case arg != "":
		ss.fail("501 5.5.4 Syntax: DATA")
		return
	case !ss.inMail || len(ss.to) == 0:
		ss.fail("503 5.5.1 Error: need RCPT command")
		return
	}
	ss.reply("354 End data with <CR><LF>.<CR><LF>")
	ss.c.SetWriteDeadline(time.Now().Add(ss.srv.timeout()))
	if err := ss.w.Flush(); err != nil {
		ss.quit = true
		return
	}
	body, tooBig, err := ss.readData()
	if err != nil {
		ss.quit = true
		return
	}
	from, to := ss.from, ss.to
	ss.resetTransaction()
	if tooBig {
		ss.fail("552 5.3.4 Error: message file too big")
		return
	}
	msg := Message{
		Remote: ss.remote, Helo: ss.helo, AuthUser: ss.authUser,
		From: from, To: to, Data: body, Received: time.Now(),
	}
	id, err := ss.srv.Mailbox.deliver(msg)
	if err != nil {
		ss.fail("451 4.3.0 Error: queue file write error")
		return
	}
	ss.reply("250 2.0.0 Ok: queued as " + id)
}

// readData reads message data up to CRLF "." CRLF (RFC 5321 4.1.1.4) and
// removes the leading dot of lines that begin with one (4.5.2). Lines end
// only at CRLF: a bare LF is a data byte and "\n.\n" ends nothing, as the
// firewall's inspector sees it too. Past MaxSize the data is consumed and
// dropped (tooBig).
func (ss *session) readData() (body []byte, tooBig bool, err error) {
	limit := ss.srv.maxSize()
	lineStart := true // at the start of a line (after CRLF)
	prevCR := false   // the last byte read was CR
	var size int64
	for {
		ss.c.SetReadDeadline(time.Now().Add(ss.srv.timeout()))
		chunk, err := ss.r.ReadSlice('\n')
		if err != nil && err != bufio.ErrBufferFull {
			return nil, false, err
		}
		raw := chunk
		if lineStart && len(chunk) > 0 && chunk[0] == '.' {
			if len(chunk) == 3 && chunk[1] == '\r' && chunk[2] == '\n' {
				return body, tooBig, nil
			}
			chunk = chunk[1:] // dot-unstuffing
		}
		size += int64(len(chunk))
		if size > limit {
			tooBig, body = true, nil
		}
		if !tooBig {
			body = append(body, chunk...)
		}
		n := len(raw)
		switch {
		case n >= 2:
			lineStart = raw[n-1] == '\n' && raw[n-2] == '\r'
		case n == 1:
			lineStart = raw[0] == '\n' && prevCR
		}
		if n > 0 {
			prevCR = raw[n-1] == '\r'
		}
	}
}

// auth runs an AUTH exchange (RFC 4954). Any credentials are accepted.
func (ss *session) auth(arg string) {
	switch {
	case ss.helo == "":
		ss.fail("503 5.5.1 Error: send HELO/EHLO first")
		return
	case ss.authed:
		ss.fail("503 5.5.1 Error: already authenticated")
		return
	case ss.inMail:
		ss.fail("503 5.5.1 Error: MAIL transaction in progress")
		return
	}
	mech, initial, _ := strings.Cut(arg, " ")
	initial = strings.TrimSpace(initial)
	switch strings.ToUpper(mech) {
	case "":
		ss.fail("501 5.5.4 Syntax: AUTH mechanism")
	case "PLAIN":
		resp, ok := initial, true
		if resp == "" {
			resp, ok = ss.challenge("")
			if !ok {
				return
			}
		}
		if resp == "=" {
			resp = ""
		}
		dec, ok := ss.decode(resp)
		if !ok {
			return
		}
		// authzid NUL authcid NUL passwd
		parts := strings.Split(string(dec), "\x00")
		user := ""
		if len(parts) == 3 {
			user = parts[1]
		}
		ss.authOK(user)
	case "LOGIN":
		resp := initial
		if resp == "" {
			var ok bool
			if resp, ok = ss.challenge("VXNlcm5hbWU6"); !ok { // "Username:"
				return
			}
		}
		user, ok := ss.decode(resp)
		if !ok {
			return
		}
		pass, ok := ss.challenge("UGFzc3dvcmQ6") // "Password:"
		if !ok {
			return
		}
		if _, ok := ss.decode(pass); !ok {
			return
		}
		ss.authOK(string(user))
	default:
		ss.fail("535 5.7.8 Error: authentication failed: Invalid authentication mechanism")
	}
}

// challenge sends "334 text" and reads the client's response line; false
// when the exchange ended (the reply is already sent).
func (ss *session) challenge(text string) (string, bool) {
	ss.reply("334 " + text)
	ss.c.SetWriteDeadline(time.Now().Add(ss.srv.timeout()))
	if err := ss.w.Flush(); err != nil {
		ss.quit = true
		return "", false
	}
	line, err := ss.readLine()
	if errors.Is(err, errLineTooLong) {
		ss.srv.Mailbox.logCommand(line)
		ss.fail("500 5.5.6 Error: authentication failed: line too long")
		return "", false
	}
	if err != nil {
		ss.quit = true
		return "", false
	}
	ss.srv.Mailbox.logCommand(line)
	if line == "*" {
		ss.fail("501 5.7.0 Authentication aborted")
		return "", false
	}
	return line, true
}

func (ss *session) decode(s string) ([]byte, bool) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		ss.fail("501 5.5.2 Cannot decode response")
		return nil, false
	}
	return b, true
}

func (ss *session) authOK(user string) {
	ss.authed, ss.authUser = true, user
	ss.reply("235 2.7.0 Authentication successful")
}
