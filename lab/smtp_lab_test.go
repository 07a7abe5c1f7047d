package lab

import (
	"bufio"
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"cbac/lab/smtpd"
)

// TestSMTPInsideLab runs the embedded SMTP server in the mail namespace, as
// `cbacd lab` does, and sends a mail from the inside host across the
// inside bridge (no firewall on that path).
func TestSMTPInsideLab(t *testing.T) {
	needRoot(t)
	l := upLab(t, "m")
	ln, err := l.Listen(RoleMail, "tcp4", "10.10.10.2:25")
	if err != nil {
		t.Fatal(err)
	}
	mb := smtpd.NewMailbox(0, 0)
	srv := smtpd.NewServer(mb)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := l.Dial(ctx, RoleHost, "tcp4", "10.10.10.2:25")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if got := c.LocalAddr().String(); !strings.HasPrefix(got, "10.10.10.5:") {
		t.Errorf("dialled from %s, want 10.10.10.5", got)
	}
	r := bufio.NewReader(c)
	expect := func(code string) {
		t.Helper()
		for range 20 {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("want %s: %v", code, err)
			}
			if !strings.HasPrefix(line, code) {
				t.Fatalf("reply %q, want %s", line, code)
			}
			if line[3] == ' ' {
				return
			}
		}
	}
	// 1 MB body: many full-size segments across the veths and the bridge.
	body := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopq\r\n"), 16384)
	expect("220")
	c.Write([]byte("EHLO host\r\nMAIL FROM:<h@lab>\r\nRCPT TO:<postmaster@lab>\r\nDATA\r\n"))
	expect("250")
	expect("250")
	expect("250")
	expect("354")
	c.Write(body)
	c.Write([]byte(".\r\nQUIT\r\n"))
	expect("250")
	expect("221")
	msgs, err := mb.WaitMessages(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(msgs[0].Data, body) || !strings.HasPrefix(msgs[0].Remote, "10.10.10.5:") {
		t.Errorf("message from %s, %d bytes (want %d, identical)", msgs[0].Remote, len(msgs[0].Data), len(body))
	}
}
