package integration

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// A minimal SMTP server and client for byte-identity checks across cbacd's
// SMTP inspection: the conversation is legal SMTP, so the inspector rewrites
// nothing, and the bulk bytes travel where it does not look (a multi-line
// reply server -> client, message data client -> server).

// smtpSeen is what the test's mail server saw of one conversation.
type smtpSeen struct {
	peer string   // the client's address as the server sees it
	cmds []string // command lines as received, without CRLF
	body []byte   // message data as received, up to (without) the "." line
	err  error
}

// serveSMTPOnce answers the first connection on ln: a greeting, HELO, HELP
// with help (a complete multi-line 214 reply), MAIL, RCPT, DATA and QUIT;
// anything else gets a 500. It reports what it saw on seen.
func serveSMTPOnce(ln net.Listener, help []byte, seen chan<- smtpSeen) {
	var s smtpSeen
	defer func() { seen <- s }()
	c, err := ln.Accept()
	if err != nil {
		s.err = err
		return
	}
	defer c.Close()
	s.peer = c.RemoteAddr().String()
	c.SetDeadline(time.Now().Add(transferLimit))
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	reply := func(b []byte) bool {
		if _, err := w.Write(b); err != nil {
			s.err = err
			return false
		}
		if err := w.Flush(); err != nil {
			s.err = err
			return false
		}
		return true
	}
	if !reply([]byte("220 mail.test ESMTP integration\r\n")) {
		return
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			s.err = fmt.Errorf("after %d commands: %w", len(s.cmds), err)
			return
		}
		cmd := strings.TrimSuffix(line, "\r\n")
		s.cmds = append(s.cmds, cmd)
		verb, _, _ := strings.Cut(strings.ToUpper(cmd), " ")
		var out []byte
		switch verb {
		case "HELO":
			out = []byte("250 mail.test\r\n")
		case "HELP":
			out = help
		case "MAIL", "RCPT":
			out = []byte("250 2.1.0 Ok\r\n")
		case "DATA":
			if !reply([]byte("354 End data with <CR><LF>.<CR><LF>\r\n")) {
				return
			}
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					s.err = fmt.Errorf("in data after %d bytes: %w", len(s.body), err)
					return
				}
				if l == ".\r\n" {
					break
				}
				s.body = append(s.body, l...)
			}
			out = fmt.Appendf(nil, "250 2.0.0 Ok: %d bytes\r\n", len(s.body))
		case "QUIT":
			reply([]byte("221 2.0.0 Bye\r\n"))
			return
		default:
			out = []byte("500 5.5.2 Error: command not recognized\r\n")
		}
		if !reply(out) {
			return
		}
	}
}

// smtpClient talks to an SMTP server over c.
type smtpClient struct {
	c net.Conn
	r *bufio.Reader
}

func newSMTPClient(c net.Conn) *smtpClient {
	c.SetDeadline(time.Now().Add(transferLimit))
	return &smtpClient{c: c, r: bufio.NewReader(c)}
}

// reply reads one complete reply (continuation lines included) and returns
// its code and text.
func (s *smtpClient) reply() (string, string, error) {
	var text strings.Builder
	for range 1000 {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return "", text.String(), fmt.Errorf("read reply: %w (so far %q)", err, text.String())
		}
		text.WriteString(line)
		if len(line) < 4 {
			return "", text.String(), fmt.Errorf("malformed reply line %q", line)
		}
		if line[3] != '-' {
			return line[:3], text.String(), nil
		}
	}
	return "", text.String(), fmt.Errorf("reply longer than 1000 lines")
}

// cmd sends line (CRLF added) and reads the reply; it fails unless the
// reply code starts with want.
func (s *smtpClient) cmd(line, want string) (string, error) {
	if _, err := io.WriteString(s.c, line+"\r\n"); err != nil {
		return "", fmt.Errorf("send %q: %w", line, err)
	}
	code, text, err := s.reply()
	if err != nil {
		return text, fmt.Errorf("%q: %w", line, err)
	}
	if !strings.HasPrefix(code, want) {
		return text, fmt.Errorf("%q: reply %q, want %s", line, text, want)
	}
	return text, nil
}
