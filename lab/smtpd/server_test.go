package smtpd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// client is the test's side of an SMTP session.
type client struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

// pipeSession starts srv on one end of a net.Pipe and returns the other.
func pipeSession(t *testing.T, srv *Server) *client {
	t.Helper()
	a, b := net.Pipe()
	done := make(chan struct{})
	go func() {
		srv.ServeConn(a)
		close(done)
	}()
	t.Cleanup(func() {
		b.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("session did not end after the client closed")
		}
	})
	b.SetDeadline(time.Now().Add(10 * time.Second))
	return &client{t: t, c: b, r: bufio.NewReader(b)}
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.c, s); err != nil {
		c.t.Fatalf("send %q: %v", s, err)
	}
}

// expect reads one reply (all its lines) and checks that its text starts
// with want (code, or code and more). It returns the reply's lines.
func (c *client) expect(want string) []string {
	c.t.Helper()
	var lines []string
	for range 100 {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("reading reply (want %q), got %q: %v", want, lines, err)
		}
		if !strings.HasSuffix(line, "\r\n") {
			c.t.Fatalf("reply line without CRLF: %q", line)
		}
		line = strings.TrimSuffix(line, "\r\n")
		lines = append(lines, line)
		if len(line) < 4 || line[3] != '-' {
			break
		}
	}
	if !strings.HasPrefix(lines[len(lines)-1], want) || !strings.HasPrefix(lines[0], want[:3]) {
		c.t.Fatalf("reply %q, want %q", lines, want)
	}
	return lines
}

func newServer() (*Server, *Mailbox) {
	mb := NewMailbox(0, 0)
	return NewServer(mb), mb
}

func TestFullTransaction(t *testing.T) {
	srv, mb := newServer()
	c := pipeSession(t, srv)
	c.expect("220 mail.lab.example ESMTP")
	c.send("EHLO client.example\r\n")
	ehlo := c.expect("250 ")
	wantKeywords := []string{"PIPELINING", "SIZE 20000000", "8BITMIME", "DSN", "ENHANCEDSTATUSCODES", "AUTH PLAIN LOGIN"}
	for _, k := range wantKeywords {
		found := false
		for _, l := range ehlo[1:] {
			if l[4:] == k {
				found = true
			}
		}
		if !found {
			t.Errorf("EHLO reply lacks %q: %q", k, ehlo)
		}
	}
	if ehlo[0] != "250-mail.lab.example" {
		t.Errorf("EHLO first line %q", ehlo[0])
	}
	c.send("MAIL FROM:<a@outside.example> SIZE=100 BODY=8BITMIME\r\n")
	c.expect("250 2.1.0 Ok")
	c.send("RCPT TO:<postmaster@lab.example>\r\n")
	c.expect("250 2.1.5 Ok")
	c.send("RCPT TO:<root@lab.example> NOTIFY=NEVER\r\n")
	c.expect("250 2.1.5 Ok")
	c.send("DATA\r\n")
	c.expect("354 ")
	body := "Subject: test\r\n\r\nhello\r\n"
	c.send(body + ".\r\n")
	r := c.expect("250 2.0.0 Ok: queued as ")
	c.send("QUIT\r\n")
	c.expect("221 2.0.0 Bye")
	if _, err := c.r.ReadByte(); err != io.EOF {
		t.Errorf("after QUIT: want EOF, got %v", err)
	}

	msgs := mb.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.From != "a@outside.example" || !slices.Equal(m.To, []string{"postmaster@lab.example", "root@lab.example"}) ||
		m.Helo != "client.example" || string(m.Data) != body || !strings.HasSuffix(r[0], m.ID) {
		t.Errorf("message = %+v", m)
	}
	wantLog := []string{"EHLO client.example", "MAIL FROM:<a@outside.example> SIZE=100 BODY=8BITMIME",
		"RCPT TO:<postmaster@lab.example>", "RCPT TO:<root@lab.example> NOTIFY=NEVER", "DATA", "QUIT"}
	if got := mb.Commands(); !slices.Equal(got, wantLog) {
		t.Errorf("command log %q, want %q", got, wantLog)
	}
}

func TestReplies(t *testing.T) {
	cases := []struct {
		name string
		cmds []string // sent in order, each with CRLF
		want []string // reply prefixes, one per command
	}{
		{"unknown", []string{"EXPN root"}, []string{"500 5.5.2 Error: command not recognized"}},
		{"rewritten by the firewall", []string{"xxxxxxxxx"}, []string{"500 5.5.2 Error: command not recognized"}},
		{"rewritten EHLO", []string{"xxxxxx", "HELO a"}, []string{"500 5.5.2 Error: command not recognized", "250 mail.lab.example"}},
		{"empty line", []string{""}, []string{"500 5.5.2 Error: bad syntax"}},
		{"lowercase verbs", []string{"helo a", "mail from:<x@y>", "rcpt to:<z@w>", "rset"},
			[]string{"250 ", "250 2.1.0", "250 2.1.5", "250 2.0.0 Ok"}},
		{"noop vrfy help", []string{"NOOP", "VRFY root", "VRFY", "HELP"},
			[]string{"250 2.0.0 Ok", "252 2.0.0 root", "501 5.5.4", "214 2.0.0"}},
		{"MAIL before HELO", []string{"MAIL FROM:<a@b>"}, []string{"503 5.5.1 Error: send HELO/EHLO first"}},
		{"RCPT before MAIL", []string{"EHLO a", "RCPT TO:<a@b>"}, []string{"250 ", "503 5.5.1 Error: need MAIL command"}},
		{"DATA before RCPT", []string{"EHLO a", "MAIL FROM:<a@b>", "DATA"}, []string{"250 ", "250 ", "503 5.5.1 Error: need RCPT command"}},
		{"nested MAIL", []string{"EHLO a", "MAIL FROM:<a@b>", "MAIL FROM:<a@b>"}, []string{"250 ", "250 ", "503 5.5.1 Error: nested MAIL"}},
		{"null sender", []string{"EHLO a", "MAIL FROM:<>"}, []string{"250 ", "250 2.1.0"}},
		{"MAIL syntax", []string{"EHLO a", "MAIL <a@b>", "MAIL FROM:<a@b"}, []string{"250 ", "501 5.5.4", "501 5.1.7"}},
		{"SIZE too big", []string{"EHLO a", "MAIL FROM:<a@b> SIZE=20000001"}, []string{"250 ", "552 5.3.4"}},
		{"unknown MAIL param", []string{"EHLO a", "MAIL FROM:<a@b> XFOO=1"}, []string{"250 ", "555 5.5.4"}},
		{"RSET ends the transaction", []string{"EHLO a", "MAIL FROM:<a@b>", "RSET", "RCPT TO:<c@d>"},
			[]string{"250 ", "250 ", "250 2.0.0", "503 5.5.1"}},
		{"EHLO without name", []string{"EHLO"}, []string{"501 5.5.4"}},
		{"AUTH unknown mechanism", []string{"EHLO a", "AUTH CRAM-MD5"}, []string{"250 ", "535 5.7.8"}},
		{"AUTH PLAIN initial", []string{"EHLO a", "AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00u\x00p")), "AUTH PLAIN"},
			[]string{"250 ", "235 2.7.0", "503 5.5.1 Error: already authenticated"}},
		{"AUTH PLAIN bad base64", []string{"EHLO a", "AUTH PLAIN !!!"}, []string{"250 ", "501 5.5.2 Cannot decode"}},
		{"AUTH PLAIN then abort", []string{"EHLO a", "AUTH PLAIN", "*"}, []string{"250 ", "334 ", "501 5.7.0 Authentication aborted"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, mb := newServer()
			c := pipeSession(t, srv)
			c.expect("220 ")
			for i, cmd := range tc.cmds {
				c.send(cmd + "\r\n")
				c.expect(tc.want[i])
			}
			if got := mb.Commands(); !slices.Equal(got, tc.cmds) {
				t.Errorf("command log %q, want %q", got, tc.cmds)
			}
		})
	}
}

// transact runs EHLO, MAIL, RCPT, DATA and sends raw (which must hold the
// data and its end) and returns the stored message.
func transact(t *testing.T, srv *Server, mb *Mailbox, raw ...string) Message {
	t.Helper()
	c := pipeSession(t, srv)
	c.expect("220 ")
	c.send("EHLO a\r\n")
	c.expect("250 ")
	c.send("MAIL FROM:<a@b>\r\n")
	c.expect("250 ")
	c.send("RCPT TO:<c@d>\r\n")
	c.expect("250 ")
	c.send("DATA\r\n")
	c.expect("354 ")
	for _, r := range raw {
		c.send(r)
	}
	c.expect("250 2.0.0 Ok: queued")
	msgs := mb.Messages()
	if len(msgs) == 0 {
		t.Fatal("no message stored")
	}
	return msgs[len(msgs)-1]
}

func TestDotUnstuffing(t *testing.T) {
	cases := []struct {
		name string
		raw  []string // sent as is, in separate writes
		want string
	}{
		{"leading dots", []string{"a\r\n..b\r\n...\r\n.\r\n"}, "a\r\n.b\r\n..\r\n"},
		{"first line dotted", []string{"..x\r\n.\r\n"}, ".x\r\n"},
		{"empty message", []string{".\r\n"}, ""},
		{"bare LF dot is data", []string{"x\n.\nEXPN root\r\n.\r\n"}, "x\n.\nEXPN root\r\n"},
		{"dot after bare LF is not unstuffed", []string{"x\n..y\r\n.\r\n"}, "x\n..y\r\n"},
		{"commands in the body", []string{"EXPN root\r\nVRFY x\r\nQUIT\r\n.\r\n"}, "EXPN root\r\nVRFY x\r\nQUIT\r\n"},
		{"end split CR | LF. | CRLF", []string{"body\r", "\n.", "\r\n"}, "body\r\n"},
		{"end split byte by byte", []string{"b", "\r", "\n", ".", "\r", "\n"}, "b\r\n"},
		{"dot line not alone", []string{".x.\r\n. \r\n.\r\n"}, "x.\r\n \r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, mb := newServer()
			m := transact(t, srv, mb, tc.raw...)
			if string(m.Data) != tc.want {
				t.Errorf("data %q, want %q", m.Data, tc.want)
			}
		})
	}
}

func TestAuthLogin(t *testing.T) {
	srv, mb := newServer()
	c := pipeSession(t, srv)
	c.expect("220 ")
	c.send("EHLO a\r\n")
	c.expect("250 ")
	c.send("AUTH LOGIN\r\n")
	c.expect("334 VXNlcm5hbWU6")
	user := base64.StdEncoding.EncodeToString([]byte("alice"))
	c.send(user + "\r\n")
	c.expect("334 UGFzc3dvcmQ6")
	pass := base64.StdEncoding.EncodeToString([]byte("secret"))
	c.send(pass + "\r\n")
	c.expect("235 2.7.0 Authentication successful")
	c.send("MAIL FROM:<alice@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n") // pipelined
	c.expect("250 2.1.0")
	c.expect("250 2.1.5")
	c.expect("354 ")
	c.send("hi\r\n.\r\n")
	c.expect("250 ")
	want := []string{"EHLO a", "AUTH LOGIN", user, pass, "MAIL FROM:<alice@b>", "RCPT TO:<c@d>", "DATA"}
	if got := mb.Commands(); !slices.Equal(got, want) {
		t.Errorf("command log %q, want %q", got, want)
	}
	if m := mb.Messages(); len(m) != 1 || m[0].AuthUser != "alice" {
		t.Errorf("messages %+v, want one from alice", m)
	}

	// The initial-response form: AUTH LOGIN <user>.
	c2 := pipeSession(t, srv)
	c2.expect("220 ")
	c2.send("EHLO a\r\nAUTH LOGIN " + user + "\r\n")
	c2.expect("250 ")
	c2.expect("334 UGFzc3dvcmQ6")
	c2.send(pass + "\r\n")
	c2.expect("235 ")
}

func TestLongLine(t *testing.T) {
	srv, mb := newServer()
	c := pipeSession(t, srv)
	c.expect("220 ")
	long := "MAIL FROM:<" + strings.Repeat("a", 5000) + ">"
	c.send(long + "\r\n")
	c.expect("500 ")
	c.send("NOOP\r\n") // the session resumes after the line end
	c.expect("250 2.0.0 Ok")
	log := mb.Commands()
	if len(log) != 2 || len(log[0]) > DefaultMaxLine || !strings.HasPrefix(long, log[0]) || log[1] != "NOOP" {
		t.Errorf("log lengths/values: %d entries, first %d bytes", len(log), len(log[0]))
	}
	// Longer than the read buffer too.
	// Written from a goroutine: net.Pipe has no buffer, and the server may
	// flush the 500 before it has read the NOOP.
	go io.WriteString(c.c, strings.Repeat("x", 200<<10)+"\r\nNOOP\r\n")
	c.expect("500 ")
	c.expect("250 ")
}

func TestTooManyErrors(t *testing.T) {
	srv, _ := newServer()
	srv.MaxErrors = 3
	c := pipeSession(t, srv)
	c.expect("220 ")
	c.send("A\r\nB\r\nC\r\n")
	c.expect("500 ")
	c.expect("500 ")
	c.expect("500 ")
	c.expect("421 4.7.0")
	if _, err := c.r.ReadByte(); err != io.EOF {
		t.Errorf("want the server to close, got %v", err)
	}
}

func TestMessageTooBig(t *testing.T) {
	srv, mb := newServer()
	srv.MaxSize = 100
	c := pipeSession(t, srv)
	c.expect("220 ")
	c.send("EHLO a\r\n")
	if l := c.expect("250 "); !slices.Contains(l, "250-SIZE 100") {
		t.Errorf("EHLO %q lacks SIZE 100", l)
	}
	c.send("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n")
	c.expect("250 ")
	c.expect("250 ")
	c.expect("354 ")
	c.send(strings.Repeat("0123456789\r\n", 20) + ".\r\n")
	c.expect("552 5.3.4")
	c.send("NOOP\r\n")
	c.expect("250 ")
	if n := len(mb.Messages()); n != 0 {
		t.Errorf("%d messages stored, want 0", n)
	}
}

// TestBodyIdentical sends a large message with long lines, 8-bit bytes and
// dotted lines over loopback TCP and checks the stored data byte for byte.
func TestBodyIdentical(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var body bytes.Buffer
	for body.Len() < 3<<20 {
		n := rng.IntN(300)
		if rng.IntN(50) == 0 {
			n = 70000 + rng.IntN(70000) // longer than the server's read buffer
		}
		line := make([]byte, n)
		for i := range line {
			line[i] = byte(rng.IntN(256))
			if line[i] == '\r' || line[i] == '\n' {
				line[i] = '.'
			}
		}
		if rng.IntN(5) == 0 && n > 0 {
			line[0] = '.'
		}
		body.Write(line)
		body.WriteString("\r\n")
	}
	want := body.Bytes()
	stuffed := bytes.ReplaceAll(want, []byte("\r\n."), []byte("\r\n.."))
	if stuffed[0] == '.' {
		stuffed = append([]byte("."), stuffed...)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mb := NewMailbox(0, 0)
	srv := NewServer(mb)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		srv.Close()
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	}()

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	c := &client{t: t, c: conn, r: bufio.NewReader(conn)}
	c.expect("220 ")
	c.send("EHLO a\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n")
	c.expect("250 ")
	c.expect("250 ")
	c.expect("250 ")
	c.expect("354 ")
	go func() {
		conn.Write(stuffed)
		conn.Write([]byte(".\r\n"))
	}()
	c.expect("250 2.0.0 Ok")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	msgs, err := mb.WaitMessages(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(msgs[0].Data, want) {
		t.Errorf("stored %d bytes, sent %d: not identical", len(msgs[0].Data), len(want))
	}
}

func TestMailboxBoundsAndDir(t *testing.T) {
	dir := t.TempDir()
	mb := NewMailbox(2, 0)
	mb.Dir = dir
	srv := NewServer(mb)
	for i, body := range []string{"one\r\n", "two\r\n", "three\r\n"} {
		m := transact(t, srv, mb, body+".\r\n")
		if string(m.Data) != body {
			t.Errorf("message %d: %q", i, m.Data)
		}
	}
	msgs := mb.Messages()
	if len(msgs) != 2 || string(msgs[0].Data) != "two\r\n" || string(msgs[1].Data) != "three\r\n" {
		t.Errorf("kept %d messages, want the last two", len(msgs))
	}
	got, err := os.ReadFile(filepath.Join(dir, msgs[1].ID+".eml"))
	if err != nil || string(got) != "three\r\n" {
		t.Errorf("stored file: %q, %v", got, err)
	}
	env, err := os.ReadFile(filepath.Join(dir, msgs[1].ID+".env"))
	if err != nil || !strings.Contains(string(env), "To: <c@d>") {
		t.Errorf("envelope file: %q, %v", env, err)
	}

	byBytes := NewMailbox(0, 10)
	srv = NewServer(byBytes)
	transact(t, srv, byBytes, "123456\r\n.\r\n")
	transact(t, srv, byBytes, "abcdef\r\n.\r\n")
	if m := byBytes.Messages(); len(m) != 1 || string(m[0].Data) != "abcdef\r\n" {
		t.Errorf("byte bound: kept %d", len(m))
	}
}

func TestCloseEndsSessions(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(NewMailbox(0, 0))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	c := &client{t: t, c: conn, r: bufio.NewReader(conn)}
	c.expect("220 ")
	closed := make(chan error, 1)
	go func() { closed <- srv.Close() }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return with a session open")
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve: %v", err)
	}
	if _, err := c.r.ReadByte(); err == nil {
		t.Error("session still open after Close")
	}
	if err := srv.Serve(ln); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Close: %v", err)
	}
}

func TestWaitCommands(t *testing.T) {
	srv, mb := newServer()
	c := pipeSession(t, srv)
	c.expect("220 ")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- mb.Wait(ctx, func(_ []Message, cmds []string) bool { return slices.Contains(cmds, "xxxxxxxxx") })
	}()
	c.send("xxxxxxxxx\r\n")
	c.expect("500 ")
	if err := <-done; err != nil {
		t.Errorf("Wait: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := mb.Wait(ctx, func(_ []Message, cmds []string) bool { return len(cmds) > 5 }); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait on a false condition: %v", err)
	}
}
