package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"cbac/bench"
	"cbac/lab"
)

// Bounds of the flood tests.
const (
	bulkBytes     = 100 << 20         // each way through the splice
	bulkLimit     = 240 * time.Second // both directions together
	floodSessions = 200               // smtp-source -m
	// smtp-source -s: sessions at a time. Below the seed's per-host
	// half-open limit (max-incomplete host 50): with the XDP program
	// answering, one client's 200 simultaneous connections reach the
	// server side within a millisecond, and CBAC resets the oldest
	// half-open ones above 50, as IOS does.
	floodParallel = 40
	sourceWait    = 60 * time.Second // smtp-source during the flood
	// floodLimit bounds trafgen: it outlasts smtp-source, which the
	// test stops at sourceWait.
	floodLimit = sourceWait + 15*time.Second
)

// bulkPort is a test port the intercept list and ACL 101 protect besides
// SMTP, for a bulk transfer that SMTP inspection would not let through.
const bulkPort = 5001

// interceptBulkConfig is interceptConfig plus bulkPort in ACL 101 and ACL
// 120 and plain tcp inspection on OUT-IN: the bulk stream is intercepted
// too.
func interceptBulkConfig(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(interceptConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	entry := fmt.Sprintf("permit tcp any host 172.22.1.110 eq %d", bulkPort)
	for _, old := range []string{
		"  \"permit tcp any host 172.22.1.110 eq smtp\",\n]",
		"120 = [\"permit tcp any host 172.22.1.110 eq smtp\"]",
	} {
		if !strings.Contains(s, old) {
			t.Fatalf("config lacks %q", old)
		}
	}
	// Intercept splices sessions that inspection creates: the OUT-IN rule
	// inspects other TCP as plain tcp (SMTP keeps its own inspection).
	const outIn = "smtp = { max_data = 20000000 }\n"
	if !strings.Contains(s, outIn) {
		t.Fatalf("config lacks %q", outIn)
	}
	s = strings.Replace(s, outIn, outIn+"tcp = {}\n", 1)
	s = strings.Replace(s, "  \"permit tcp any host 172.22.1.110 eq smtp\",\n]",
		"  \"permit tcp any host 172.22.1.110 eq smtp\",\n  \""+entry+"\",\n]", 1)
	s = strings.Replace(s, "120 = [\"permit tcp any host 172.22.1.110 eq smtp\"]",
		"120 = [\"permit tcp any host 172.22.1.110 eq smtp\", \""+entry+"\"]", 1)
	p := filepath.Join(t.TempDir(), "intercept-bulk.toml")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// sendAndHash writes n bytes of a seeded stream on c, half-closes it, and
// reads c to EOF; it returns the SHA-256 of what it sent and of what it
// received and the count received.
func sendAndHash(c net.Conn, seed uint64, n int64) (sent, got [32]byte, gotN int64, err error) {
	c.SetDeadline(time.Now().Add(bulkLimit))
	hs, hr := sha256.New(), sha256.New()
	werr := make(chan error, 1)
	go func() {
		var s [32]byte
		for i := range s {
			s[i] = byte(seed >> (8 * (i % 8)))
		}
		src := io.LimitReader(rand.NewChaCha8(s), n)
		_, err := io.Copy(c, io.TeeReader(src, hs))
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		werr <- err
	}()
	gotN, rerr := io.Copy(hr, c)
	if e := <-werr; e != nil {
		return sent, got, gotN, fmt.Errorf("write: %w", e)
	}
	if rerr != nil {
		return sent, got, gotN, fmt.Errorf("read: %w", rerr)
	}
	copy(sent[:], hs.Sum(nil))
	copy(got[:], hr.Sum(nil))
	return sent, got, gotN, nil
}

// TestInterceptBulk: 100 MB each way at once between the outside client and
// the mail server through tcp intercept (the server's port bulkPort is in
// the intercept list): the two Linux stacks, each joined to cbacd's half of
// the handshake, exchange the bytes unchanged (SHA-256 on both ends).
func TestInterceptBulk(t *testing.T) {
	needRoot(t)
	l := upLab(t, "icb")
	sock := filepath.Join(t.TempDir(), "cbacd.sock")
	startCbacd(t, l, interceptBulkConfig(t), sock)
	seed := uint64(time.Now().UnixNano())
	t.Logf("random seed %d", seed)

	ln, err := l.Listen(lab.RoleMail, "tcp4", fmt.Sprintf("10.10.10.2:%d", bulkPort))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		sent, got [32]byte
		n         int64
		err       error
	}
	server := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			server <- result{err: err}
			return
		}
		defer c.Close()
		var r result
		r.sent, r.got, r.n, r.err = sendAndHash(c, seed+1, bulkBytes)
		server <- r
	}()

	ctx, cancel := context.WithTimeout(context.Background(), transferLimit)
	defer cancel()
	c, err := l.Dial(ctx, lab.RoleClient, "tcp4", fmt.Sprintf("172.22.1.110:%d", bulkPort))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	csent, cgot, cn, cerr := sendAndHash(c, seed, bulkBytes)
	took := time.Since(start)
	var s result
	select {
	case s = <-server:
	case <-time.After(bulkLimit):
		t.Fatalf("server side not done within %v", bulkLimit)
	}
	if cerr != nil || s.err != nil {
		t.Fatalf("client: %v; server: %v (client received %d, server received %d bytes)", cerr, s.err, cn, s.n)
	}
	if cn != bulkBytes || s.n != bulkBytes {
		t.Errorf("received: client %d, server %d bytes; want %d each", cn, s.n, bulkBytes)
	}
	if cgot != s.sent {
		t.Errorf("server -> client: SHA-256 sent %x, received %x", s.sent, cgot)
	}
	if s.got != csent {
		t.Errorf("client -> server: SHA-256 sent %x, received %x", csent, s.got)
	}
	t.Logf("%d MB each way in %v (%.0f Mbit/s each way), client retransmits %d",
		bulkBytes>>20, took.Round(time.Millisecond), float64(bulkBytes)*8/took.Seconds()/1e6, retransmits(c))
	stats := ctl(t, sock, "show", "ip", "inspect", "statistics")
	if cookiesSent(stats) < 1 {
		t.Errorf("the bulk connection was not intercepted (no cookie SYN/ACK):\n%s", stats)
	}
}

// synFloodConfig is a trafgen packet configuration: TCP SYNs with an MSS
// option from a random source address in 100.0.0.0/8 and a random source
// port and sequence number per packet to dst:dport, in frames from srcMAC
// to dstMAC, IP and TCP checksums computed by trafgen.
func synFloodConfig(dstMAC, srcMAC string, dst [4]byte, dport int) string {
	mac := func(s string) string {
		return "0x" + strings.ReplaceAll(s, ":", ", 0x")
	}
	return fmt.Sprintf(`{
  %s,
  %s,
  c16(0x0800),
  0x45, 0, c16(44), drnd(2), 0x40, 0, 64, 6,
  csumip(14, 33),
  100, drnd(3),
  %d, %d, %d, %d,
  drnd(2), c16(%d),
  drnd(4), c32(0),
  c16((6 << 12) | 0x02), c16(64240),
  csumtcp(14, 34),
  c16(0),
  0x02, 0x04, c16(1460),
}
`, mac(dstMAC), mac(srcMAC), dst[0], dst[1], dst[2], dst[3], dport)
}

// trafgenSent reads trafgen's exit summary "N packets outgoing".
func trafgenSent(out string) uint64 {
	m := regexp.MustCompile(`(\d+) packets outgoing`).FindStringSubmatch(out)
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n
}

// TestInterceptSYNFlood: while trafgen floods 172.22.1.110:25 from the
// outside client's port with random-source SYNs at its full rate,
// smtp-source opens floodSessions sessions from the same host to
// smtp-sink on the mail server through tcp intercept, and at least half
// of them deliver their message (the target is 99%: see the check).
// cbacd answers the flood with cookie SYN/ACKs and keeps no state for it.
//
// A full-rate flood takes a core on this 2-core bed: beside the other
// packages that `go test -race ./...` runs in parallel, legitimate
// handshakes then lose their final ACK for reasons that are the test
// bed's, not cbacd's. `make test` runs it alone, without -race, right
// after the race run (Makefile target load); under -race it is left out.
func TestInterceptSYNFlood(t *testing.T) {
	if raceEnabled {
		t.Skip("run alone by `make load` (the flood needs the machine to itself)")
	}
	needRoot(t)
	var tools [3]string
	for i, name := range []string{"trafgen", "smtp-source", "smtp-sink"} {
		p, err := exec.LookPath(name)
		if err != nil {
			t.Fatalf("%s missing (Debian netsniff-ng, postfix): %v", name, err)
		}
		tools[i] = p
	}
	l := upLab(t, "icf")
	sock := filepath.Join(t.TempDir(), "cbacd.sock")
	startCbacd(t, l, interceptConfig(t), sock)

	// -u: smtp-sink refuses to run as root; -c: message counts on its output.
	sink := startProcess(t, "smtp-sink", "ip", "netns", "exec", l.NS(lab.RoleMail), tools[2],
		"-c", "-h", "mail.lab.example", "-u", "postfix", "-m", "256", "10.10.10.2:25", "256")
	waitBanner(t, l, sink)
	before, _ := bench.SinkMessages(sink.out.String())

	cfg := filepath.Join(t.TempDir(), "synflood.cfg")
	var client lab.Host
	for _, h := range lab.Hosts {
		if h.Role == lab.RoleClient {
			client = h
		}
	}
	if client.MAC == "" {
		t.Fatal("the lab has no outside client")
	}
	if err := os.WriteFile(cfg, []byte(synFloodConfig(lab.OutsideMAC, client.MAC, [4]byte{172, 22, 1, 110}, 25)), 0o600); err != nil {
		t.Fatal(err)
	}
	statsBefore := ctl(t, sock, "show", "ip", "inspect", "statistics")
	// -P 1: one sending process; -Q: leave IRQ affinity alone. trafgen
	// forks its sender: it runs in a process group of its own, interrupted
	// as a group after floodLimit or at cleanup, then killed.
	ctx, cancel := context.WithTimeout(context.Background(), floodLimit)
	defer cancel()
	gen := exec.CommandContext(ctx, "ip", "netns", "exec", l.NS(lab.RoleClient), tools[0],
		"-i", cfg, "-o", client.Device, "-P", "1", "-Q")
	gen.Dir = filepath.Dir(cfg)
	gen.Cancel = func() error { return syscall.Kill(-gen.Process.Pid, syscall.SIGINT) }
	gen.WaitDelay = 5 * time.Second
	gen.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var genOut syncBuffer
	gen.Stdout, gen.Stderr = &genOut, &genOut
	if err := gen.Start(); err != nil {
		t.Fatalf("trafgen: %v", err)
	}
	genDone := make(chan struct{})
	go func() { gen.Wait(); close(genDone) }()
	t.Cleanup(func() {
		cancel()
		<-genDone
		syscall.Kill(-gen.Process.Pid, syscall.SIGKILL) // a sender that outlived its parent
	})
	floodStart := time.Now()
	time.Sleep(2 * time.Second) // the flood is on before the first session
	select {
	case <-genDone:
		t.Fatalf("trafgen exited at once:\n%s", genOut.String())
	default:
	}

	sctx, scancel := context.WithTimeout(context.Background(), sourceWait)
	defer scancel()
	src := l.Exec(sctx, lab.RoleClient, tools[1], "-s", strconv.Itoa(floodParallel), "-l", "1024",
		"-m", strconv.Itoa(floodSessions), "-M", "client.outside.example", "-f", "sender@outside.example",
		"-t", "user1@lab.example", "172.22.1.110:25")
	src.WaitDelay = 5 * time.Second
	out, srcErr := src.CombinedOutput()
	srcTook := time.Since(floodStart)
	stillFlooding := true
	select {
	case <-genDone:
		stillFlooding = false
	default:
	}
	cancel()
	<-genDone
	floodTook := time.Since(floodStart)
	statsAfter := ctl(t, sock, "show", "ip", "inspect", "statistics")
	icStats := ctl(t, sock, "show", "tcp", "intercept", "statistics")

	var got int
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		got, _ = bench.SinkMessages(sink.out.String())
		if got-before >= floodSessions || time.Now().After(deadline) {
			break
		}
	}
	got -= before
	sent := trafgenSent(genOut.String())
	cookies := cookiesSent(statsAfter) - cookiesSent(statsBefore)
	t.Logf("trafgen: %d SYNs in %v (%.0f/s); cookie SYN/ACKs sent: %d (%.0f/s)",
		sent, floodTook.Round(time.Millisecond), float64(sent)/floodTook.Seconds(), cookies, float64(cookies)/floodTook.Seconds())
	t.Logf("smtp-source: %d of %d sessions delivered during the flood (%v)", got, floodSessions, srcTook.Round(time.Millisecond))
	t.Logf("show tcp intercept statistics:\n%s", icStats)
	shed := synsShed(statsAfter)
	t.Logf("SYNs shed in XDP: %d", shed)
	if srcErr != nil {
		// smtp-source has no reply timeout: a session whose cookie ACK
		// was lost is ESTABLISHED at the client behind cbacd's zero
		// window and waits for a greeting that never comes (the server
		// speaks first, so the client never probes). Shedding SYNs in
		// XDP keeps room on the RX ring for those ACKs; a session still
		// hung counts as not delivered.
		t.Logf("smtp-source did not finish within %v (%v): %d session(s) hung\n%s",
			sourceWait, srcErr, floodSessions-got, tail(string(out), 10))
	}
	if !stillFlooding {
		t.Errorf("trafgen stopped before smtp-source finished: the sessions did not all run under the flood:\n%s", genOut.String())
	}
	// Without intercept none completes (CBAC's thresholds delete each
	// legitimate half-open session before its SYN/ACK returns). Without
	// shedding, runs here delivered 80-98% (and CI once 13% with four
	// sessions at a time): lost cookie ACKs hung the rest. The product's
	// target is 99%, which cbacbench's synflood scenario measures; the
	// test holds 90% on a machine shared with the flood.
	if got*100 < floodSessions*90 {
		t.Errorf("%d of %d legitimate SMTP sessions delivered during the flood; want >= 90%% (target 99%%)", got, floodSessions)
	}
	// The XDP program answered the flood (the worker answers the first SYN
	// of a destination, and hands it over): the worker's RX ring stays
	// free for the legitimate handshakes and sessions.
	if xdp := xdpCookiesSent(icStats); xdp*10 < cookies*9 {
		t.Errorf("the XDP program sent %d of %d cookie SYN/ACKs; want >= 90%%", xdp, cookies)
	}
	// The flood reached cbacd and was answered statelessly: far more
	// cookies than legitimate sessions.
	if cookies < 100*floodSessions {
		t.Errorf("%d cookie SYN/ACKs for %d flood SYNs: the flood did not reach the intercept", cookies, sent)
	}
}

// xdpCookiesSent reads the XDP program's cookie SYN/ACK count of show tcp
// intercept statistics.
func xdpCookiesSent(text string) uint64 {
	m := regexp.MustCompile(`Cookie SYN/ACKs sent by the XDP program: (\d+)`).FindStringSubmatch(text)
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n
}

// waitBanner waits until smtp-sink answers with its 220 greeting from the
// mail namespace itself.
func waitBanner(t *testing.T, l *lab.Lab, sink *process) {
	t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := l.Dial(ctx, lab.RoleMail, "tcp4", "10.10.10.2:25")
		cancel()
		if err == nil {
			c.SetDeadline(time.Now().Add(2 * time.Second))
			b := make([]byte, 3)
			_, err = io.ReadFull(c, b)
			c.Write([]byte("QUIT\r\n"))
			c.Close()
			if err == nil && bytes.Equal(b, []byte("220")) {
				return
			}
		}
		if sink.exited() {
			t.Fatalf("smtp-sink exited: %v\n%s", sink.err, sink.out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("smtp-sink not answering after %v:\n%s", readyTimeout, sink.out.String())
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
