package integration

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"cbac/lab"
)

// TestSeedForwarding (seed cases 2-4, docs/behaviour.md): cbacd with the unchanged
// seed configuration on the veth lab. Outside SMTP to 172.22.1.110:25 reaches
// 10.10.10.2:25 and bytes cross unchanged both ways; an inside host's plain
// TCP to the outside does too; 172.22.1.110:80 and 172.22.1.111:25 get no
// connection; the XDP programs are gone after SIGTERM, and after SIGKILL the
// next start removes the stale ones.
func TestSeedForwarding(t *testing.T) {
	needRoot(t)
	l := upLab(t, "f")
	cfg := seedPath(t)
	sock := filepath.Join(t.TempDir(), "cbacd.sock")
	d := startCbacd(t, l, cfg, sock)

	seed := uint64(time.Now().UnixNano())
	t.Logf("random seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))

	t.Run("smtp from outside, byte-identical both ways", func(t *testing.T) {
		smtpByteIdentical(t, l, rng, 2<<20)
	})
	t.Run("tcp from inside, 2 MB random each way", func(t *testing.T) {
		peer := outboundExchange(t, l, rng, 2<<20)
		if host, _, _ := net.SplitHostPort(peer); host != "172.22.1.111" {
			t.Errorf("upstream saw %s, want 172.22.1.111 (static NAT of 10.10.10.5)", peer)
		}
	})
	t.Run("172.22.1.110:80 and 172.22.1.111:25 blocked", func(t *testing.T) {
		web := trap(t, l, lab.RoleMail, "10.10.10.2:80")
		smtp := trap(t, l, lab.RoleHost, "10.10.10.5:25")
		before := statValue(ctl(t, sock, "show", "ip", "inspect", "statistics"), "inbound ACL deny")
		dialBlocked(t, l, lab.RoleClient, "172.22.1.110:80", "172.22.1.111:25")
		if p := web.accepted(); len(p) > 0 {
			t.Errorf("10.10.10.2:80 accepted %v", p)
		}
		if p := smtp.accepted(); len(p) > 0 {
			t.Errorf("10.10.10.5:25 accepted %v", p)
		}
		stats := ctl(t, sock, "show", "ip", "inspect", "statistics")
		// At least the first SYN of each of the two dials.
		if after := statValue(stats, "inbound ACL deny"); after < before+2 {
			t.Errorf("inbound ACL deny went from %d to %d, want at least +2:\n%s", before, after, stats)
		}
	})
	t.Run("SIGTERM detaches the XDP programs", func(t *testing.T) {
		for _, dev := range []string{lab.OutsideDevice, lab.InsideDevice} {
			if id := xdpProgram(t, l.NS(lab.RoleFW), dev); id == 0 {
				t.Errorf("%s: no XDP program while cbacd runs", dev)
			}
		}
		if err := d.stop(t, syscall.SIGTERM); err != nil {
			t.Errorf("cbacd exit after SIGTERM: %v", err)
		}
		noneLeft(t, l, sock)
	})
	t.Run("SIGKILL leaves the program, the next start removes it", func(t *testing.T) {
		if !d.exited() {
			t.Fatal("the first cbacd is still running")
		}
		killed := startCbacd(t, l, cfg, sock)
		stale := map[string]uint32{}
		for _, dev := range []string{lab.OutsideDevice, lab.InsideDevice} {
			stale[dev] = xdpProgram(t, l.NS(lab.RoleFW), dev)
			if stale[dev] == 0 {
				t.Fatalf("%s: no XDP program while cbacd runs", dev)
			}
		}
		err := killed.stop(t, syscall.SIGKILL)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("cbacd after SIGKILL: %v", err)
		}
		left := map[string]bool{}
		for _, dev := range []string{lab.OutsideDevice, lab.InsideDevice} {
			switch id := xdpProgram(t, l.NS(lab.RoleFW), dev); id {
			case stale[dev]:
				t.Logf("%s: program %d left behind by the killed cbacd", dev, id)
				left[dev] = true
			case 0:
				// A bpf_link attachment dies with its process: nothing stale.
				t.Logf("%s: the kernel detached the program when cbacd died", dev)
			default:
				t.Errorf("%s: program %d after SIGKILL, want the killed cbacd's %d", dev, id, stale[dev])
			}
		}
		// The stale control socket file stays too; the next start replaces it.
		next := startCbacd(t, l, cfg, sock)
		for _, dev := range []string{lab.OutsideDevice, lab.InsideDevice} {
			id := xdpProgram(t, l.NS(lab.RoleFW), dev)
			if id == 0 || id == stale[dev] {
				t.Errorf("%s: program %d after restart, want a new one (stale %d)", dev, id, stale[dev])
			}
			// Each removal is logged, naming the device.
			if line := dev + ": removed the XDP program a cbacd that exited without detaching left there"; left[dev] && !strings.Contains(next.out.String(), line) {
				t.Errorf("restart log lacks %q:\n%s", line, next.out.String())
			}
		}
		// The new program feeds the new sockets: traffic flows again.
		if peer := outboundExchange(t, l, rng, 64<<10); peer == "" {
			t.Error("no traffic through the restarted cbacd")
		}
		if err := next.stop(t, syscall.SIGTERM); err != nil {
			t.Errorf("cbacd exit after SIGTERM: %v", err)
		}
		noneLeft(t, l, sock)
	})
}

// noneLeft checks that a stopped cbacd left no XDP program on out0 and in0
// and removed its control socket.
func noneLeft(t *testing.T, l *lab.Lab, sock string) {
	t.Helper()
	for _, dev := range []string{lab.OutsideDevice, lab.InsideDevice} {
		if id := xdpProgram(t, l.NS(lab.RoleFW), dev); id != 0 {
			t.Errorf("%s: XDP program %d left after cbacd exited", dev, id)
		}
	}
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("control socket %s left after exit: %v", sock, err)
	}
}

// smtpByteIdentical runs a legal SMTP conversation from the outside client
// to 172.22.1.110:25 against a test server on 10.10.10.2:25. The server
// sends a HELP reply of about n bytes and the client a message of about n
// bytes; both must arrive unchanged, as must every command line.
func smtpByteIdentical(t *testing.T, l *lab.Lab, rng *rand.Rand, n int) {
	t.Helper()
	ln, err := l.Listen(lab.RoleMail, "tcp4", "10.10.10.2:25")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	help := append(randomLines(rng, n, "214-"), "214 End of HELP info\r\n"...)
	body := randomLines(rng, n, "")
	seen := make(chan smtpSeen, 1)
	go serveSMTPOnce(ln, help, seen)

	ctx, cancel := context.WithTimeout(context.Background(), transferLimit)
	defer cancel()
	c, err := l.Dial(ctx, lab.RoleClient, "tcp4", "172.22.1.110:25")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc := newSMTPClient(c)
	sent := []string{"HELO client.example", "HELP", "MAIL FROM:<a@outside.example>", "RCPT TO:<postmaster@lab.example>", "DATA", "QUIT"}
	if code, text, err := sc.reply(); err != nil || code != "220" {
		t.Fatalf("greeting %q: %v", text, err)
	}
	if _, err := sc.cmd(sent[0], "250"); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, sent[1]+"\r\n"); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(help))
	if _, err := io.ReadFull(sc.r, got); err != nil {
		t.Fatalf("HELP reply: %v", err)
	}
	if !bytes.Equal(got, help) {
		t.Errorf("HELP reply (server -> client, %d bytes) changed: %s", len(help), diffAt(got, help))
	}
	for _, s := range []struct{ line, want string }{{sent[2], "250"}, {sent[3], "250"}, {sent[4], "354"}} {
		if _, err := sc.cmd(s.line, s.want); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Write(append(body, ".\r\n"...)); err != nil {
		t.Fatalf("send message: %v", err)
	}
	if code, text, err := sc.reply(); err != nil || code != "250" {
		t.Fatalf("end of data: %q, %v", text, err)
	}
	if _, err := sc.cmd(sent[5], "221"); err != nil {
		t.Fatal(err)
	}

	var s smtpSeen
	select {
	case s = <-seen:
	case <-time.After(transferLimit):
		t.Fatal("the mail server did not finish")
	}
	if s.err != nil {
		t.Errorf("mail server: %v", s.err)
	}
	if host, _, _ := net.SplitHostPort(s.peer); host != "172.22.1.100" {
		t.Errorf("mail server saw peer %s, want the client 172.22.1.100", s.peer)
	}
	if !slices.Equal(s.cmds, sent) {
		t.Errorf("commands as received:\n%q\nwant\n%q", s.cmds, sent)
	}
	if !bytes.Equal(s.body, body) {
		t.Errorf("message (client -> server, %d bytes) changed: %s", len(body), diffAt(s.body, body))
	}
}

// outboundExchange connects the inside host 10.10.10.5 to a listener on
// 203.0.113.1 (beyond the upstream router) and sends n random bytes each
// way at once; both must arrive unchanged. It returns the peer address the
// outside listener saw ("" after a failure).
func outboundExchange(t *testing.T, l *lab.Lab, rng *rand.Rand, n int) string {
	t.Helper()
	ln, err := l.Listen(lab.RoleUpstream, "tcp4", lab.RemoteAddr.String()+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	up, down := randomBytes(rng, n), randomBytes(rng, n)
	type result struct {
		peer string
		got  []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() { done <- r }()
		c, err := ln.Accept()
		if err != nil {
			r.err = err
			return
		}
		defer c.Close()
		r.peer = c.RemoteAddr().String()
		r.got = make([]byte, n)
		r.err = exchange(c, down, r.got)
	}()

	ctx, cancel := context.WithTimeout(context.Background(), transferLimit)
	defer cancel()
	c, err := l.Dial(ctx, lab.RoleHost, "tcp4", ln.Addr().String())
	if err != nil {
		t.Errorf("%v", err)
		return ""
	}
	defer c.Close()
	ok := true
	got := make([]byte, n)
	if err := exchange(c, up, got); err != nil {
		t.Errorf("host side: %v", err)
		ok = false
	} else if !bytes.Equal(got, down) {
		t.Errorf("outside -> inside (%d bytes) changed: %s", n, diffAt(got, down))
		ok = false
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(transferLimit):
		t.Error("the outside listener did not finish")
		return ""
	}
	if r.err != nil {
		t.Errorf("outside side: %v", r.err)
		ok = false
	} else if !bytes.Equal(r.got, up) {
		t.Errorf("inside -> outside (%d bytes) changed: %s", n, diffAt(r.got, up))
		ok = false
	}
	if !ok {
		return ""
	}
	return r.peer
}
