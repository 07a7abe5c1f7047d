package smtpd

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// scriptConn is a net.Conn reading a fixed client script and counting the
// server's output: a session runs to completion without a peer.
type scriptConn struct {
	r       *bytes.Reader
	written int
}

func (c *scriptConn) Read(b []byte) (int, error) {
	// Small reads exercise the resumable line and data readers.
	if len(b) > 7 {
		b = b[:7]
	}
	return c.r.Read(b)
}
func (c *scriptConn) Write(b []byte) (int, error)      { c.written += len(b); return len(b), nil }
func (c *scriptConn) Close() error                     { return nil }
func (c *scriptConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *scriptConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

var _ io.ReadWriter = (*scriptConn)(nil)

// FuzzSession: any client byte stream ends the session without panic, with
// bounded log entries and messages, and stored data never larger than what
// was sent.
func FuzzSession(f *testing.F) {
	f.Add([]byte("EHLO a\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nhi\r\n..x\r\n.\r\nQUIT\r\n"))
	f.Add([]byte("HELO a\r\nAUTH LOGIN\r\nYQ==\r\nYg==\r\nxxxxxxxxx\r\n"))
	f.Add([]byte("EHLO a\r\nAUTH PLAIN\r\n*\r\nMAIL FROM:<> SIZE=99999999999\r\n"))
	f.Add([]byte("EHLO a\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nx\n.\n\r\n.\r\n"))
	f.Add([]byte(strings.Repeat("A", 3000) + "\r\nNOOP\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		mb := NewMailbox(4, 1<<16)
		srv := NewServer(mb)
		srv.MaxLine = 64
		srv.MaxSize = 256
		srv.MaxErrors = 1000
		c := &scriptConn{r: bytes.NewReader(in)}
		srv.ServeConn(c)
		for _, l := range mb.Commands() {
			if len(l) > srv.MaxLine {
				t.Fatalf("log entry of %d bytes > MaxLine", len(l))
			}
		}
		msgs := mb.Messages()
		if len(msgs) > 4 {
			t.Fatalf("%d messages kept", len(msgs))
		}
		for _, m := range msgs {
			if int64(len(m.Data)) > srv.MaxSize || len(m.Data) > len(in) {
				t.Fatalf("message of %d bytes from %d input bytes", len(m.Data), len(in))
			}
		}
		if c.written == 0 {
			t.Fatal("no greeting")
		}
	})
}
