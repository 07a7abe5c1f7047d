package dataplane_test

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket/layers"

	"cbac/control"
	"cbac/dataplane"
	"cbac/packet"
)

// FTP inspection through the whole pipeline (docs/behaviour.md "FTP
// inspection"). The seed inspects ftp inside-out: 10.10.10.5 (inside
// global 172.22.1.111) talks to an outside server 198.51.100.7 behind the
// upstream router. The OUT-IN variant adds ftp to the OUT-IN rule: an
// outside client 172.22.1.100 talks to 172.22.1.110, the inside server
// 10.10.10.2.

var (
	ftpOutsideSrv = smtpIP4("198.51.100.7")
	ftpInsideHost = smtpIP4("10.10.10.5")
	ftpHostGlobal = smtpIP4("172.22.1.111")
)

// ftpEnd is one end of a control connection as the firewall sees it.
type ftpEnd struct {
	port     int        // the firewall port its frames arrive on
	mac      packet.MAC // its (or its next hop's) MAC
	ourMAC   packet.MAC // the firewall's MAC on that port
	addr     uint32     // its address as its packets carry it
	seenAs   uint32     // its address as the other end sees it (after NAT)
	tcpPort  uint16
	isn, seq uint32 // its own next sequence number
}

type ftpConv struct {
	t    testing.TB
	h    *harness
	cli  ftpEnd
	srv  ftpEnd
	buf  []byte
	sent [2]bytes.Buffer // what each receiver got (0: the server)
	rcv  [2]uint32       // each receiver's next expected number (its sender's stream as it sees it)
}

// ftpActive is the seed's inside-out control connection.
func ftpInsideOut(t testing.TB, h *harness, sport uint16) *ftpConv {
	return openFTP(t, h,
		ftpEnd{port: portIn, mac: smtpMAC(macHost), ourMAC: smtpMAC(macIn0), addr: ftpInsideHost, seenAs: ftpHostGlobal, tcpPort: sport, isn: 1000},
		ftpEnd{port: portOut, mac: smtpMAC(macUpstream), ourMAC: smtpMAC(macOut0), addr: ftpOutsideSrv, seenAs: ftpOutsideSrv, tcpPort: 21, isn: 0xfffffff0})
}

// ftpOutIn is the variant's outside-in control connection.
func ftpOutIn(t testing.TB, h *harness, sport uint16) *ftpConv {
	return openFTP(t, h,
		ftpEnd{port: portOut, mac: smtpMAC(macClient), ourMAC: smtpMAC(macOut0), addr: smtpClientIP, seenAs: smtpClientIP, tcpPort: sport, isn: 7000},
		ftpEnd{port: portIn, mac: smtpMAC(macMail), ourMAC: smtpMAC(macIn0), addr: smtpServerIP, seenAs: smtpGlobalIP, tcpPort: 21, isn: 9000})
}

// ftpVariantSeed is the seed with ftp in OUT-IN and ACL 101 permitting the
// control connection to the inside server (as on IOS: inspection opens
// the return traffic and the data connections, not the first SYN).
func ftpVariantSeed(t testing.TB) []byte {
	s := replaceOnce(t, string(seedWithNeighbours(t, true)), seedSMTPRule, seedSMTPRule+"\nftp = {}")
	s = replaceOnce(t, s, `"permit tcp any host 172.22.1.110 eq smtp",`, `"permit tcp any host 172.22.1.110 eq smtp",
  "permit tcp any host 172.22.1.110 eq ftp",`)
	return []byte(s)
}

func (c *ftpConv) end(d int) (from, to *ftpEnd) {
	if d == 0 {
		return &c.cli, &c.srv
	}
	return &c.srv, &c.cli
}

// frame writes a segment of direction d as it arrives at the firewall.
func (c *ftpConv) frame(d int, seq, ack uint32, flags uint8, payload []byte) []byte {
	from, to := c.end(d)
	dst := to.seenAs
	return smtpWrite(c.buf, from.mac, from.ourMAC, from.addr, dst, from.tcpPort, to.tcpPort, seq, ack, flags, 65535, -1, payload)
}

// out sends a frame of direction d and returns the frames that reached the
// receiver, checking that nothing went back to the sender.
func (c *ftpConv) out(d int, f []byte) [][]byte {
	c.t.Helper()
	from, to := c.end(d)
	got := c.h.send(from.port, f)
	if len(got[from.port]) != 0 && d == 1 {
		c.t.Fatalf("direction %d: %d frames back to the sender", d, len(got[from.port]))
	}
	return append([][]byte(nil), got[to.port]...)
}

// tcp returns the TCP header of a frame, checking its checksums and
// addresses as the receiver of direction d expects them.
func (c *ftpConv) tcp(d int, f []byte) packet.TCP {
	c.t.Helper()
	decode(c.t, f)
	from, to := c.end(d)
	ip := packet.IPv4(f[packet.EthernetHeaderLen:])
	if ip.Src() != from.seenAs || ip.Dst() != to.addr {
		c.t.Fatalf("direction %d: %s -> %s, want %s -> %s", d, packet.IPString(ip.Src()), packet.IPString(ip.Dst()),
			packet.IPString(from.seenAs), packet.IPString(to.addr))
	}
	return packet.TCP(ip.Payload())
}

func openFTP(t testing.TB, h *harness, cli, srv ftpEnd) *ftpConv {
	t.Helper()
	c := &ftpConv{t: t, h: h, cli: cli, srv: srv, buf: make([]byte, 2048)}
	if g := c.out(0, c.frame(0, c.cli.isn, 0, packet.SYN, nil)); len(g) != 1 {
		t.Fatalf("SYN: %d frames; drops %v", len(g), smtpDrops(h))
	}
	c.cli.seq = c.cli.isn + 1
	if g := c.out(1, c.frame(1, c.srv.isn, c.cli.seq, packet.SYN|packet.ACK, nil)); len(g) != 1 {
		t.Fatalf("SYN/ACK: %d frames; drops %v", len(g), smtpDrops(h))
	}
	c.srv.seq = c.srv.isn + 1
	if g := c.out(0, c.frame(0, c.cli.seq, c.srv.seq, packet.ACK, nil)); len(g) != 1 {
		t.Fatalf("ACK: %d frames; drops %v", len(g), smtpDrops(h))
	}
	c.rcv = [2]uint32{c.cli.seq, c.srv.seq}
	return c
}

// say sends text from direction d's sender in one segment (acknowledging
// everything) and appends what reached the receiver, checking that it
// arrives at the sequence number the receiver expects and that the
// acknowledgement is in the receiver's own numbering.
func (c *ftpConv) say(d int, text string) [][]byte {
	c.t.Helper()
	from, _ := c.end(d)
	// The sender acknowledges what it received, in the numbering it saw.
	return c.sayAt(d, from.seq, c.rcv[1-d], text)
}

func (c *ftpConv) sayAt(d int, seq, ack uint32, text string) [][]byte {
	c.t.Helper()
	from, to := c.end(d)
	got := c.out(d, c.frame(d, seq, ack, packet.ACK|packet.PSH, []byte(text)))
	for _, f := range got {
		tc := c.tcp(d, f)
		if tc.Ack() != to.seq {
			c.t.Errorf("direction %d: ack %d, want %d (the receiver's numbering)", d, tc.Ack(), to.seq)
		}
		if p := tc.Payload(); len(p) > 0 {
			if tc.Seq() != c.rcv[d] {
				c.t.Errorf("direction %d: %q at seq %d, want %d", d, p, tc.Seq(), c.rcv[d])
			}
			c.sent[d].Write(p)
			c.rcv[d] = tc.Seq() + uint32(len(p))
		}
	}
	if end := seq + uint32(len(text)); int32(end-from.seq) > 0 {
		from.seq = end
	}
	return got
}

func (c *ftpConv) login() {
	c.t.Helper()
	c.say(1, "220 ready\r\n")
	c.say(0, "USER anonymous\r\n")
	c.say(1, "331 pass\r\n")
	c.say(0, "PASS x@\r\n")
	c.say(1, "230 ok\r\n")
}

// dataSYN sends a data connection's SYN from an end's address to the
// other's as it sees it, and reports whether it was forwarded (to the
// other end's real address).
func (c *ftpConv) dataSYN(fromEnd int, sport, dport uint16) bool {
	c.t.Helper()
	from, to := c.end(fromEnd)
	f := smtpWrite(c.buf, from.mac, from.ourMAC, from.addr, to.seenAs, sport, dport, 555, 0, packet.SYN, 65535, -1, nil)
	got := c.h.send(from.port, f)[to.port]
	if len(got) == 0 {
		return false
	}
	ip := packet.IPv4(got[0][packet.EthernetHeaderLen:])
	decode(c.t, got[0])
	if ip.Dst() != to.addr || ip.Src() != from.seenAs {
		c.t.Fatalf("data SYN %s -> %s", packet.IPString(ip.Src()), packet.IPString(ip.Dst()))
	}
	return true
}

// TestFTPActiveThroughNAT: the inside client's PORT leaves with its inside
// global address (the text grows by 2), the server's replies are
// acknowledged and numbered as each end expects, the server's data
// connection is admitted through ACL 101 once, and shows under its
// control session.
func TestFTPActiveThroughNAT(t *testing.T) {
	h := newHarness(t, compile(t, seedWithNeighbours(t, true)))
	c := ftpInsideOut(t, h, 40200)
	c.login()
	c.say(0, "PORT 10,10,10,5,200,10\r\n")
	c.say(1, "200 PORT ok\r\n")
	c.say(0, "LIST\r\n")
	if got := c.sent[0].String(); !strings.HasSuffix(got, "PORT 172,22,1,111,200,10\r\nLIST\r\n") {
		t.Fatalf("server got %q", got)
	}
	if c.dataSYN(1, 20, 51210) != true {
		t.Fatalf("data connection refused; drops %v", smtpDrops(h))
	}
	var buf bytes.Buffer
	control.ShowSessions(&buf, sessions(h), false)
	if !regexpMatch(`(?m)^ Session [0-9A-F]+ \(10\.10\.10\.5:40200\)=>\(198\.51\.100\.7:21\) ftp SIS_OPEN\n  Session [0-9A-F]+ \(198\.51\.100\.7:20\)=>\(172\.22\.1\.111:51210\) ftp-data SIS_OPENING`, buf.String()) {
		t.Errorf("show ip inspect sessions:\n%s", buf.String())
	}
	// Used once: another SYN to the same port meets ACL 101.
	before := h.drops(dataplane.DropACLIn)
	if c.dataSYN(1, 21, 51210) {
		t.Fatal("a second data connection used the same pinhole")
	}
	if h.drops(dataplane.DropACLIn) != before+1 {
		t.Fatalf("second SYN: drops %v", smtpDrops(h))
	}
	// The control connection goes on with shifted numbers both ways.
	c.say(1, "150 here\r\n226 done\r\n")
	c.say(0, "QUIT\r\n")
	c.say(1, "221 bye\r\n")
	if got := c.sent[1].String(); got != "220 ready\r\n331 pass\r\n230 ok\r\n200 PORT ok\r\n150 here\r\n226 done\r\n221 bye\r\n" {
		t.Fatalf("client got %q", got)
	}
}

func sessions(h *harness) []dataplane.SessionInfo { return h.w.Sessions(nil) }

// TestFTPEPRTAndSplitPORT: a PORT split over two segments is held until
// its LF and leaves whole, rewritten; an EPRT likewise.
func TestFTPEPRTAndSplitPORT(t *testing.T) {
	h := newHarness(t, compile(t, seedWithNeighbours(t, true)))
	c := ftpInsideOut(t, h, 40201)
	c.login()
	if got := c.say(0, "PORT 10,10,"); len(got) != 1 || len(c.tcp(0, got[0]).Payload()) != 0 {
		t.Fatalf("first half: %d frames (a bare ACK expected)", len(got))
	}
	c.say(0, "10,5,200,11\r\nEPRT |1|10.10.10.5|51212|\r\n")
	if got, want := c.sent[0].String(), "USER anonymous\r\nPASS x@\r\nPORT 172,22,1,111,200,11\r\nEPRT |1|172.22.1.111|51212|\r\n"; got != want {
		t.Fatalf("server got %q, want %q", got, want)
	}
	c.say(1, "200 ok\r\n200 ok\r\n")
	if !c.dataSYN(1, 20, 200<<8|11) || !c.dataSYN(1, 20, 51212) {
		t.Fatalf("data connections refused; drops %v", smtpDrops(h))
	}
}

// TestFTPRetransmittedPORT: a retransmission of the rewritten PORT gets
// the same rewrite at the same numbers, and opens no second pinhole.
func TestFTPRetransmittedPORT(t *testing.T) {
	h := newHarness(t, compile(t, seedWithNeighbours(t, true)))
	c := ftpInsideOut(t, h, 40202)
	c.login()
	seq := c.cli.seq
	first := c.say(0, "PORT 10,10,10,5,200,10\r\n")
	opened := h.w.Stats.PinholesOpened
	again := c.out(0, c.frame(0, seq, c.srv.seq, packet.ACK|packet.PSH, []byte("PORT 10,10,10,5,200,10\r\n")))
	if len(first) != 1 || len(again) != 1 {
		t.Fatalf("%d and %d frames", len(first), len(again))
	}
	a, b := c.tcp(0, first[0]), c.tcp(0, again[0])
	if a.Seq() != b.Seq() || !bytes.Equal(a.Payload(), b.Payload()) {
		t.Fatalf("first %d %q, retransmission %d %q", a.Seq(), a.Payload(), b.Seq(), b.Payload())
	}
	if h.w.Stats.PinholesOpened != opened {
		t.Fatal("the retransmission opened a pinhole")
	}
}

// TestFTPBounce: a PORT naming another host is refused: not forwarded,
// both ends reset, the session deleted, IOS's message logged.
func TestFTPBounce(t *testing.T) {
	h := newHarness(t, compile(t, seedWithNeighbours(t, true)))
	c := ftpInsideOut(t, h, 40203)
	c.login()
	f := c.frame(0, c.cli.seq, c.srv.seq, packet.ACK|packet.PSH, []byte("PORT 192,0,2,7,0,25\r\n"))
	got := h.send(portIn, f)
	if len(got[portOut]) != 1 || len(got[portIn]) != 1 {
		t.Fatalf("%d frames to the server, %d to the client", len(got[portOut]), len(got[portIn]))
	}
	toSrv := packet.TCP(packet.IPv4(got[portOut][0][packet.EthernetHeaderLen:]).Payload())
	toCli := packet.TCP(packet.IPv4(got[portIn][0][packet.EthernetHeaderLen:]).Payload())
	if toSrv.Flags()&packet.RST == 0 || toSrv.Seq() != c.rcv[0] || len(toSrv.Payload()) != 0 {
		t.Fatalf("to the server: flags %#x seq %d (want RST at %d)", toSrv.Flags(), toSrv.Seq(), c.rcv[0])
	}
	if toCli.Flags()&packet.RST == 0 || toCli.Seq() != c.srv.seq || toCli.Ack() != c.cli.seq {
		t.Fatalf("to the client: flags %#x seq %d ack %d", toCli.Flags(), toCli.Seq(), toCli.Ack())
	}
	if h.drops(dataplane.DropFTPRefused) != 1 || len(sessions(h)) != 0 {
		t.Fatalf("drops %v, %d sessions", smtpDrops(h), len(sessions(h)))
	}
	msgs := strings.Join(smtpMessages(h.dp.Ruleset(), h.evs), "\n")
	if !strings.Contains(msgs, "%FW-3-FTP_NON_MATCHING_IP_ADDR: Non-matching address 192.0.2.7 used in PORT command -- FTP client 10.10.10.5 FTP server 198.51.100.7") {
		t.Fatalf("messages: %s", msgs)
	}
}

// TestFTPPrivilegedAndUnauthenticated: a privileged port, and a PORT
// before the login, are refused likewise.
func TestFTPPrivilegedAndUnauthenticated(t *testing.T) {
	for _, tc := range []struct {
		login bool
		cmd   string
		msg   string
	}{
		{true, "PORT 10,10,10,5,0,21\r\n", "%FW-3-FTP_PRIV_PORT: Privileged port 21 used in PORT command"},
		{false, "PORT 10,10,10,5,200,10\r\n", "%FW-3-FTP_SESSION_NOT_AUTHENTICATED: Command issued before the session is authenticated"},
	} {
		h := newHarness(t, compile(t, seedWithNeighbours(t, true)))
		c := ftpInsideOut(t, h, 40204)
		if tc.login {
			c.login()
		}
		h.send(portIn, c.frame(0, c.cli.seq, c.srv.seq, packet.ACK|packet.PSH, []byte(tc.cmd)))
		msgs := strings.Join(smtpMessages(h.dp.Ruleset(), h.evs), "\n")
		if h.drops(dataplane.DropFTPRefused) != 1 || !strings.Contains(msgs, tc.msg) {
			t.Errorf("%q: drops %v, messages %s", tc.cmd, smtpDrops(h), msgs)
		}
	}
}

// TestFTPPinholeExpires: a data connection that does not come within
// synwait finds ACL 101 again.
func TestFTPPinholeExpires(t *testing.T) {
	h := newHarness(t, compile(t, seedWithNeighbours(t, true)))
	c := ftpInsideOut(t, h, 40205)
	c.login()
	c.say(0, "PORT 10,10,10,5,200,10\r\n")
	h.advance(31 * time.Second)
	if c.dataSYN(1, 20, 51210) {
		t.Fatal("expired pinhole admitted a connection")
	}
	if open, expired := h.dp.OpenPinholes(h.now); open != 0 || expired != 1 {
		t.Fatalf("pinholes open %d expired %d", open, expired)
	}
}

// TestFTPPinholeHook: each announcement runs the pinhole hook once, with
// its pinhole already open and before the announcement leaves (the XDP
// layer turns the program's cookie answers off there, so that the data
// connection's SYN reaches a worker).
func TestFTPPinholeHook(t *testing.T) {
	h := newHarness(t, compile(t, seedWithNeighbours(t, true)))
	calls, openAtCall := 0, 0
	h.dp.SetPinholeHook(func() {
		calls++
		openAtCall, _ = h.dp.OpenPinholes(h.now)
	})
	c := ftpInsideOut(t, h, 40207)
	c.login()
	if calls != 0 {
		t.Fatalf("hook ran %d times before any announcement", calls)
	}
	if out := c.say(0, "PORT 10,10,10,5,200,10\r\n"); len(out) != 1 {
		t.Fatalf("PORT: %d frames out", len(out))
	}
	if calls != 1 || openAtCall != 1 {
		t.Fatalf("after PORT: hook ran %d times, %d pinholes open when it ran", calls, openAtCall)
	}
	c.say(0, "PORT 10,10,10,5,200,11\r\n")
	if calls != 2 || openAtCall != 2 {
		t.Fatalf("after a second PORT: hook ran %d times, %d pinholes open when it ran", calls, openAtCall)
	}
}

// TestFTPPinholeClosesWithSession: the control session's end closes its
// pinholes.
func TestFTPPinholeClosesWithSession(t *testing.T) {
	h := newHarness(t, compile(t, seedWithNeighbours(t, true)))
	c := ftpInsideOut(t, h, 40206)
	c.login()
	c.say(0, "PORT 10,10,10,5,200,10\r\n")
	if open, _ := h.dp.OpenPinholes(h.now); open != 1 {
		t.Fatalf("%d pinholes open", open)
	}
	c.out(0, c.frame(0, c.cli.seq, c.srv.seq, packet.RST|packet.ACK, nil))
	if open, _ := h.dp.OpenPinholes(h.now); open != 0 {
		t.Fatalf("%d pinholes open after the control session closed", open)
	}
	if c.dataSYN(1, 20, 51210) {
		t.Fatal("pinhole of a closed session admitted a connection")
	}
}

// TestFTPPassiveOutIn: the variant with ftp in OUT-IN: the inside server's
// 227 names 10.10.10.2 and reaches the client as 172.22.1.110; its 229
// names no address; the client's passive data connections are admitted
// through ACL 101.
func TestFTPPassiveOutIn(t *testing.T) {
	h := newHarness(t, compile(t, ftpVariantSeed(t)))
	c := ftpOutIn(t, h, 40300)
	c.login()
	c.say(0, "PASV\r\n")
	c.say(1, "227 Entering Passive Mode (10,10,10,2,195,80).\r\n")
	c.say(0, "EPSV\r\n")
	c.say(1, "229 Entering Extended Passive Mode (|||50001|)\r\n")
	c.say(0, "NOOP\r\n")
	c.say(1, "200 ok\r\n")
	want := "227 Entering Passive Mode (172,22,1,110,195,80).\r\n229 Entering Extended Passive Mode (|||50001|)\r\n200 ok\r\n"
	if got := c.sent[1].String(); !strings.HasSuffix(got, want) {
		t.Fatalf("client got %q", got)
	}
	if !c.dataSYN(0, 41000, 195<<8|80) || !c.dataSYN(0, 41001, 50001) {
		t.Fatalf("passive data connections refused; drops %v", smtpDrops(h))
	}
	if c.dataSYN(0, 41002, 50001) {
		t.Fatal("pinhole used twice")
	}
}

// TestFTPDataSessionFastPath: the data connection carries bytes as any
// TCP session (counted, translated, no inspection).
func TestFTPDataSessionFastPath(t *testing.T) {
	h := newHarness(t, compile(t, seedWithNeighbours(t, true)))
	c := ftpInsideOut(t, h, 40207)
	c.login()
	c.say(0, "PORT 10,10,10,5,200,10\r\n")
	data := &ftpConv{t: t, h: h,
		cli: ftpEnd{port: portOut, mac: smtpMAC(macUpstream), ourMAC: smtpMAC(macOut0), addr: ftpOutsideSrv, seenAs: ftpOutsideSrv, tcpPort: 20, isn: 100},
		srv: ftpEnd{port: portIn, mac: smtpMAC(macHost), ourMAC: smtpMAC(macIn0), addr: ftpInsideHost, seenAs: ftpHostGlobal, tcpPort: 51210, isn: 200},
		buf: make([]byte, 2048)}
	d := openFTP(t, h, data.cli, data.srv)
	body := strings.Repeat("PORT 1,2,3,4,5,6\r\n", 50) // not a control channel: untouched
	d.say(0, body)
	if d.sent[0].String() != body {
		t.Fatal("data bytes changed")
	}
	for _, s := range sessions(h) {
		if s.Kind == dataplane.InspectFTPData && s.Bytes[0] != uint64(len(body)) {
			t.Fatalf("data session counted %d bytes", s.Bytes[0])
		}
	}
}

// TestFTPLongControlStream: after a rewrite that grows the client's
// stream, a megabyte each way keeps both numberings right (every say
// checks seq and ack).
func TestFTPLongControlStream(t *testing.T) {
	h := newHarness(t, compile(t, seedWithNeighbours(t, true)))
	c := ftpInsideOut(t, h, 40208)
	c.login()
	c.say(0, "PORT 10,10,10,5,200,10\r\n")
	cmd := strings.Repeat("NOOP\r\n", 240)
	rep := strings.Repeat("200 ok\r\n", 180)
	for n := 0; n < 1<<20; n += len(cmd) {
		c.say(0, cmd)
		c.say(1, rep)
	}
	if c.sent[0].Len() < 1<<20 || c.sent[1].Len() < 1<<20 {
		t.Fatalf("received %d and %d bytes", c.sent[0].Len(), c.sent[1].Len())
	}
	if c.rcv[0]-c.cli.seq != 2 {
		t.Fatalf("server's numbering ahead by %d, want 2", c.rcv[0]-c.cli.seq)
	}
	if d := smtpDrops(h); len(d) != 0 {
		t.Fatalf("drops %v", d)
	}
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }

// TestFTPSACKShift: after the PORT grew the client's stream by 2, the
// server's SACK blocks (in the numbering it received) reach the client
// mapped back into the client's own numbering, checksum fixed.
func TestFTPSACKShift(t *testing.T) {
	h := newHarness(t, compile(t, seedWithNeighbours(t, true)))
	c := ftpInsideOut(t, h, 40209)
	c.login()
	c.say(0, "PORT 10,10,10,5,200,10\r\n")
	origNoop := c.cli.seq // the client's number of the first NOOP
	c.say(0, "NOOP\r\nNOOP\r\n")
	seenNoop := c.rcv[0] - 12 // the server's number of it
	// The server acknowledges the first NOOP and SACKs the second (as if
	// the first had been lost and come again).
	ip := ipv4("198.51.100.7", "172.22.1.111", layers.IPProtocolTCP)
	left, right := seenNoop+6, seenNoop+12
	opt := []byte{byte(left >> 24), byte(left >> 16), byte(left >> 8), byte(left), byte(right >> 24), byte(right >> 16), byte(right >> 8), byte(right)}
	tc := &layers.TCP{SrcPort: 21, DstPort: 40209, Seq: c.srv.seq, Ack: seenNoop + 6, ACK: true, Window: 65535,
		Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindSACK, OptionLength: 10, OptionData: opt}}}
	got := h.send(portOut, build(t, eth(macUpstream, macOut0, layers.EthernetTypeIPv4), ip, tc))[portIn]
	if len(got) != 1 {
		t.Fatalf("%d frames to the client; drops %v", len(got), smtpDrops(h))
	}
	p := decode(t, got[0]) // checksums
	out := tcpOf(p)
	if out.Ack != origNoop+6 {
		t.Errorf("ack %d, want %d", out.Ack-origNoop, 6)
	}
	var sack []byte
	for _, o := range out.Options {
		if o.OptionType == layers.TCPOptionKindSACK {
			sack = o.OptionData
		}
	}
	if len(sack) != 8 {
		t.Fatalf("SACK option %x", sack)
	}
	l := uint32(sack[0])<<24 | uint32(sack[1])<<16 | uint32(sack[2])<<8 | uint32(sack[3])
	r := uint32(sack[4])<<24 | uint32(sack[5])<<16 | uint32(sack[6])<<8 | uint32(sack[7])
	if l != origNoop+6 || r != origNoop+12 {
		t.Errorf("SACK [%d, %d), want [6, 12)", l-origNoop, r-origNoop)
	}
}
