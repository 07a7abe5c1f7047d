package dataplane_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/gopacket/layers"

	"cbac/control"
	"cbac/dataplane"
	"cbac/packet"
	"cbac/smtpfsm"
)

// SMTP inspection through the whole pipeline (docs/behaviour.md "SMTP inspection",
// seed cases 5-11): an outside client 172.22.1.100 talks to 172.22.1.110:25, the
// mail server 10.10.10.2 answers; every test looks at the frames that
// reach each end.

// seedSMTPRule is the seed's OUT-IN inspection entry, replaced by the
// config variants.
const seedSMTPRule = `smtp = { max_data = 20000000 }`

// smtpSeed is the seed with the OUT-IN rule's smtp entry replaced by rule
// ("" keeps the seed's).
func smtpSeed(t testing.TB, rule string) []byte {
	t.Helper()
	s := string(seedWithNeighbours(t, true))
	if rule != "" {
		s = replaceOnce(t, s, seedSMTPRule, rule)
	}
	return []byte(s)
}

// smallBuffer is a replay copy of 16 KiB (the default is 256 KiB), for the
// tests that fill it.
const smallBuffer = 16384

// withBuffer sets dataplane.inspected_buffer in a configuration.
func withBuffer(toml []byte, n int) []byte {
	return append(toml, fmt.Sprintf("\n[dataplane]\ninspected_buffer = %d\n", n)...)
}

// Client and server sequence numbers of the conversations (ISNs).
const (
	smtpClientISN = 1000
	smtpServerISN = 5000
)

// smtpConv is one SMTP conversation through the harness: it writes the
// client's and the server's segments, tracks both sequence spaces and
// checks what comes out of the other side.
type smtpConv struct {
	t      testing.TB
	h      *harness
	sport  uint16
	dport  uint16 // the server's port; 0: 25
	cseq   uint32 // client's next sequence number
	sseq   uint32 // server's next sequence number
	wscale int    // window scale both SYNs offer; -1: none
	buf    []byte
}

var (
	smtpClientIP = smtpIP4("172.22.1.100")
	smtpGlobalIP = smtpIP4("172.22.1.110")
	smtpServerIP = smtpIP4("10.10.10.2")
)

func smtpIP4(s string) uint32 {
	a := netip.MustParseAddr(s).As4()
	return binary.BigEndian.Uint32(a[:])
}

func smtpMAC(m net.HardwareAddr) packet.MAC {
	var x packet.MAC
	copy(x[:], m)
	return x
}

// smtpDrops lists the worker's non-zero drop counters by reason.
func smtpDrops(h *harness) map[string]uint64 {
	m := map[string]uint64{}
	for r, n := range h.w.Stats.Drops {
		if n != 0 {
			m[dataplane.Reason(r).String()] = n
		}
	}
	return m
}

// smtpMessages formats worker events as the control plane logs them
// (trace lines excluded).
func smtpMessages(rs *dataplane.Ruleset, evs []dataplane.Event) []string {
	var out []string
	for i := range evs {
		if evs[i].Kind == dataplane.EvSMTPTrace {
			continue
		}
		m, _ := control.Message(&evs[i], rs)
		out = append(out, m)
	}
	return out
}

// smtpWrite writes an Ethernet/IPv4/TCP frame (with a window scale option
// when wscale >= 0) into b and returns it, checksums computed in full.
func smtpWrite(b []byte, srcMAC, dstMAC packet.MAC, src, dst uint32, sport, dport uint16,
	seq, ack uint32, flags uint8, win uint16, wscale int, payload []byte) []byte {
	hl := 20
	if wscale >= 0 {
		hl = 24
	}
	n := packet.EthernetHeaderLen + 20 + hl + len(payload)
	b = b[:n]
	e := packet.Ethernet(b)
	e.SetDst(dstMAC)
	e.SetSrc(srcMAC)
	e.SetType(packet.EtherTypeIPv4)
	packet.WriteIPv4Header(b[packet.EthernetHeaderLen:], src, dst, packet.ProtoTCP, 64, hl+len(payload), 1)
	t := packet.TCP(b[packet.EthernetHeaderLen+20:])
	clear(t[:hl])
	t.SetSrcPort(sport)
	t.SetDstPort(dport)
	t.SetSeq(seq)
	t.SetAck(ack)
	t.SetDataOffset(hl)
	t.SetFlags(flags)
	t.SetWindow(win)
	if wscale >= 0 {
		copy(t[20:24], []byte{packet.TCPOptNOP, 3, 3, byte(wscale)})
	}
	copy(t[hl:], payload)
	t.SetChecksum(t.CalculateChecksum(src, dst))
	return b
}

// port is the server's port.
func (c *smtpConv) port() uint16 {
	if c.dport == 0 {
		return 25
	}
	return c.dport
}

// fromClient is a client segment as it arrives on the outside port.
func (c *smtpConv) fromClient(seq, ack uint32, flags uint8, win uint16, wscale int, payload []byte) []byte {
	return smtpWrite(c.buf, smtpMAC(macClient), smtpMAC(macOut0), smtpClientIP, smtpGlobalIP, c.sport, c.port(),
		seq, ack, flags, win, wscale, payload)
}

// fromServer is a server segment as it arrives on the inside port.
func (c *smtpConv) fromServer(seq, ack uint32, flags uint8, win uint16, wscale int, payload []byte) []byte {
	return smtpWrite(c.buf, smtpMAC(macMail), smtpMAC(macIn0), smtpServerIP, smtpClientIP, c.port(), c.sport,
		seq, ack, flags, win, wscale, payload)
}

// exchange sends a frame on a port and returns copies of what reached the
// server (inside port) and the client (outside port).
func (c *smtpConv) exchange(port int, frame []byte) (toServer, toClient [][]byte) {
	c.t.Helper()
	out := c.h.send(port, frame)
	return append([][]byte(nil), out[portIn]...), append([][]byte(nil), out[portOut]...)
}

// openSMTP runs the three-way handshake and checks each frame on the
// other side: the client's segments reach 10.10.10.2, the server's come
// back from 172.22.1.110.
func openSMTP(t testing.TB, h *harness, sport uint16, wscale int) *smtpConv {
	t.Helper()
	return openTCPConv(t, h, sport, 25, wscale)
}

// openTCPConv is openSMTP to another server port.
func openTCPConv(t testing.TB, h *harness, sport, dport uint16, wscale int) *smtpConv {
	t.Helper()
	c := &smtpConv{t: t, h: h, sport: sport, dport: dport, cseq: smtpClientISN, sseq: smtpServerISN, wscale: wscale, buf: make([]byte, 2048)}
	srv, cli := c.exchange(portOut, c.fromClient(c.cseq, 0, packet.SYN, 65535, wscale, nil))
	if len(srv) != 1 || len(cli) != 0 {
		t.Fatalf("SYN: %d frames to the server, %d to the client; drops %v", len(srv), len(cli), smtpDrops(h))
	}
	c.checkToServer(srv[0], c.cseq, packet.SYN, nil)
	c.cseq++
	srv, cli = c.exchange(portIn, c.fromServer(c.sseq, c.cseq, packet.SYN|packet.ACK, 65535, wscale, nil))
	if len(srv) != 0 || len(cli) != 1 {
		t.Fatalf("SYN/ACK: %d frames to the server, %d to the client; drops %v", len(srv), len(cli), smtpDrops(h))
	}
	c.checkToClient(cli[0], c.sseq, packet.SYN|packet.ACK, nil)
	c.sseq++
	srv, _ = c.exchange(portOut, c.fromClient(c.cseq, c.sseq, packet.ACK, 65535, -1, nil))
	if len(srv) != 1 {
		t.Fatalf("ACK: %d frames to the server; drops %v", len(srv), smtpDrops(h))
	}
	c.checkToServer(srv[0], c.cseq, packet.ACK, nil)
	return c
}

// checkToServer checks a frame that reached the server: valid checksums
// (decode), addresses after NAT, sequence number and flags, and returns
// its payload. want == nil skips the payload comparison.
func (c *smtpConv) checkToServer(f []byte, seq uint32, flags uint8, want []byte) []byte {
	c.t.Helper()
	return c.check(f, smtpClientIP, smtpServerIP, c.sport, c.port(), seq, flags, want)
}

// checkToClient is checkToServer for a frame that reached the client.
func (c *smtpConv) checkToClient(f []byte, seq uint32, flags uint8, want []byte) []byte {
	c.t.Helper()
	return c.check(f, smtpGlobalIP, smtpClientIP, c.port(), c.sport, seq, flags, want)
}

func (c *smtpConv) check(f []byte, src, dst uint32, sport, dport uint16, seq uint32, flags uint8, want []byte) []byte {
	c.t.Helper()
	decode(c.t, f) // every checksum against a full recompute
	ip := packet.IPv4(f[packet.EthernetHeaderLen:])
	tc := packet.TCP(ip.Payload())
	if ip.Src() != src || ip.Dst() != dst || tc.SrcPort() != sport || tc.DstPort() != dport {
		c.t.Errorf("frame %s:%d -> %s:%d, want %s:%d -> %s:%d", packet.IPString(ip.Src()), tc.SrcPort(),
			packet.IPString(ip.Dst()), tc.DstPort(), packet.IPString(src), sport, packet.IPString(dst), dport)
	}
	if tc.Seq() != seq {
		c.t.Errorf("frame seq %d, want %d", tc.Seq(), seq)
	}
	if tc.Flags() != flags {
		c.t.Errorf("frame flags %#02x, want %#02x", tc.Flags(), flags)
	}
	if want != nil && !bytes.Equal(tc.Payload(), want) {
		c.t.Errorf("payload %q, want %q", tc.Payload(), want)
	}
	return append([]byte(nil), tc.Payload()...)
}

// clientAt sends client bytes at seq (acknowledging everything the server
// sent) and returns the payload of the one frame that reached the server,
// or nil if none did.
func (c *smtpConv) clientAt(seq uint32, payload []byte) []byte {
	c.t.Helper()
	srv, cli := c.exchange(portOut, c.fromClient(seq, c.sseq, packet.ACK|packet.PSH, 65535, -1, payload))
	if len(cli) != 0 {
		c.t.Errorf("client segment at %d: %d frames back to the client", seq, len(cli))
	}
	switch len(srv) {
	case 0:
		return nil
	case 1:
	default:
		c.t.Fatalf("client segment at %d: %d frames to the server", seq, len(srv))
	}
	got := c.checkToServer(srv[0], seq, packet.ACK|packet.PSH, nil)
	if len(got) != len(payload) {
		c.t.Errorf("client segment at %d: %d bytes reached the server, sent %d", seq, len(got), len(payload))
	}
	return got
}

// send sends the next client bytes and checks that the server receives
// want (same length, same sequence number).
func (c *smtpConv) send(payload, want string) {
	c.t.Helper()
	got := c.clientAt(c.cseq, []byte(payload))
	if got == nil {
		c.t.Fatalf("%q: not forwarded; drops %v", payload, smtpDrops(c.h))
	}
	if string(got) != want {
		c.t.Errorf("sent %q, server got %q, want %q", payload, got, want)
	}
	c.cseq += uint32(len(payload))
}

// reply sends the server's next bytes, acknowledging all the client sent,
// and checks that the client receives them unchanged. It returns the TCP
// header the client got.
func (c *smtpConv) reply(text string) packet.TCP {
	c.t.Helper()
	flags := uint8(packet.ACK)
	if text != "" {
		flags |= packet.PSH
	}
	srv, cli := c.exchange(portIn, c.fromServer(c.sseq, c.cseq, flags, 65535, -1, []byte(text)))
	if len(srv) != 0 || len(cli) != 1 {
		c.t.Fatalf("reply %q: %d frames to the server, %d to the client; drops %v", text, len(srv), len(cli), smtpDrops(c.h))
	}
	c.checkToClient(cli[0], c.sseq, flags, []byte(text))
	c.sseq += uint32(len(text))
	f := cli[0]
	return packet.TCP(packet.IPv4(f[packet.EthernetHeaderLen:]).Payload())
}

// messages formats the events of the last step as the control plane logs
// them (trace lines excluded).
func (c *smtpConv) messages() []string {
	return smtpMessages(c.h.dp.Ruleset(), c.h.evs)
}

// hasMessage reports whether the last step's events include a message
// starting with prefix.
func (c *smtpConv) hasMessage(prefix string) bool {
	for _, m := range c.messages() {
		for _, l := range strings.Split(m, "\n") {
			if strings.HasPrefix(l, prefix) {
				return true
			}
		}
	}
	return false
}

// toData runs HELO, MAIL, RCPT and DATA with their replies: the session is
// in data mode afterwards.
func (c *smtpConv) toData() {
	c.t.Helper()
	c.reply("220 mail.example.com ESMTP\r\n")
	for _, l := range []struct{ cmd, rep string }{
		{"HELO client.example.org\r\n", "250 mail.example.com\r\n"},
		{"MAIL FROM:<a@example.org>\r\n", "250 2.1.0 Ok\r\n"},
		{"RCPT TO:<root@example.com>\r\n", "250 2.1.5 Ok\r\n"},
		{"DATA\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n"},
	} {
		c.send(l.cmd, l.cmd)
		c.reply(l.rep)
	}
}

// Seed case 5: a whole conversation at the frame level; EXPN root reaches
// the server as x's (same length, same sequence numbers, valid
// checksums), the client gets the server's 5xx, the session goes on, and
// the alert is formatted as IOS does.
func TestSMTPConversation(t *testing.T) {
	h := newHarness(t, compile(t, smtpSeed(t, "")))
	c := openSMTP(t, h, 40100, -1)
	c.reply("220 mail.example.com ESMTP Postfix\r\n")
	c.send("HELO client.example.org\r\n", "HELO client.example.org\r\n")
	c.reply("250 mail.example.com\r\n")
	c.send("EXPN root\r\n", "xxxxxxxxx\r\n")
	want := "%FW-4-SMTP_INVALID_COMMAND: Invalid SMTP command (EXPN) from initiator (172.22.1.100:40100) -- responder (172.22.1.110:25)"
	if msgs := c.messages(); len(msgs) != 1 || msgs[0] != want {
		t.Errorf("messages %q, want [%q]", msgs, want)
	}
	if got := h.w.Stats.SMTPRewritten; got != 9 {
		t.Errorf("SMTPRewritten %d, want 9", got)
	}
	if got := h.w.Stats.SMTPAlerts; got[smtpfsm.AlertInvalidCommand] != 1 || got[smtpfsm.AlertLongLine] != 0 {
		t.Errorf("SMTPAlerts %v, want one invalid command", got)
	}
	c.reply("502 5.5.2 Error: command not recognized\r\n")
	c.send("MAIL FROM:<a@example.org>\r\n", "MAIL FROM:<a@example.org>\r\n")
	if msgs := c.messages(); len(msgs) != 0 {
		t.Errorf("legal command raised %q", msgs)
	}
	c.reply("250 2.1.0 Ok\r\n")
	c.send("QUIT\r\n", "QUIT\r\n")
	c.reply("221 2.0.0 Bye\r\n")
	if live, _ := h.w.SessionCount(); live != 1 {
		t.Errorf("%d sessions, want 1", live)
	}
}

// Seed case 5, one byte per segment: each byte is judged when it arrives;
// under smtp no verb starts with E, so every byte but CR LF is x.
func TestSMTPOneBytePerSegment(t *testing.T) {
	for _, tc := range []struct{ name, rule, line, want string }{
		{"smtp EXPN", "", "EXPN root\r\n", "xxxxxxxxx\r\n"},
		// esmtp: E may begin EHLO or ETRN, so the E passes (not recalled).
		{"esmtp EXPN", "esmtp = {}", "EXPN root\r\n", "Exxxxxxxx\r\n"},
		{"smtp QZZZ", "", "QZZZ\r\n", "Qxxx\r\n"},
		{"smtp NOOP", "", "NOOP\r\n", "NOOP\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, compile(t, smtpSeed(t, tc.rule)))
			c := openSMTP(t, h, 40101, -1)
			c.reply("220 mail.example.com ESMTP\r\n")
			var got []byte
			for i := 0; i < len(tc.line); i++ {
				seq := c.cseq
				b := c.clientAt(seq, []byte{tc.line[i]})
				if len(b) != 1 {
					t.Fatalf("byte %d: %d bytes forwarded; drops %v", i, len(b), smtpDrops(h))
				}
				got = append(got, b...)
				c.cseq++
			}
			if string(got) != tc.want {
				t.Errorf("server got %q, want %q", got, tc.want)
			}
		})
	}
}

// Seed case 6: EHLO is not an smtp verb; esmtp allows it.
func TestSMTPEHLO(t *testing.T) {
	for _, tc := range []struct{ name, rule, want string }{
		{"smtp", "", "xxxxxx\r\n"},
		{"esmtp", "esmtp = {}", "EHLO a\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, compile(t, smtpSeed(t, tc.rule)))
			c := openSMTP(t, h, 40102, -1)
			c.reply("220 mail.example.com ESMTP\r\n")
			c.send("EHLO a\r\n", tc.want)
			if alerted := c.hasMessage("%FW-4-SMTP_INVALID_COMMAND: Invalid SMTP command (EHLO)"); alerted != (tc.name == "smtp") {
				t.Errorf("invalid command alert: %v; messages %q", alerted, c.messages())
			}
		})
	}
}

// Seed case 7: three pipelined commands in one segment after the server
// advertised PIPELINING: only the middle line is rewritten.
func TestSMTPPipelined(t *testing.T) {
	for _, tc := range []struct{ name, rule, hello, helloReply, want string }{
		{"esmtp", "esmtp = {}", "EHLO a\r\n", "250-mail.example.com\r\n250-PIPELINING\r\n250 SIZE 10240000\r\n",
			"MAIL FROM:<a@b>\r\nExxxxx\r\nRCPT TO:<c@d>\r\n"},
		{"smtp", "", "HELO a\r\n", "250 mail.example.com\r\n",
			"MAIL FROM:<a@b>\r\nxxxxxx\r\nRCPT TO:<c@d>\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, compile(t, smtpSeed(t, tc.rule)))
			c := openSMTP(t, h, 40103, -1)
			c.reply("220 mail.example.com ESMTP\r\n")
			c.send(tc.hello, tc.hello)
			c.reply(tc.helloReply)
			c.send("MAIL FROM:<a@b>\r\nEXPN x\r\nRCPT TO:<c@d>\r\n", tc.want)
			if !c.hasMessage("%FW-4-SMTP_INVALID_COMMAND: Invalid SMTP command (EXPN)") {
				t.Errorf("no invalid command alert: %q", c.messages())
			}
			if c.hasMessage("%FW-4-SMTP_PIPELINING") {
				t.Errorf("pipelining alert although PIPELINING was advertised: %q", c.messages())
			}
			c.reply("250 2.1.0 Ok\r\n502 5.5.2 Error\r\n250 2.1.5 Ok\r\n")
		})
	}
}

// Seed case 8: message lines are not commands; the end of data split as
// "\r" | "\n." | "\r\n" is recognised, and the next command is inspected.
func TestSMTPDataBody(t *testing.T) {
	h := newHarness(t, compile(t, smtpSeed(t, "")))
	c := openSMTP(t, h, 40104, -1)
	c.toData()
	for _, l := range []string{
		"Subject: test\r\n\r\n",
		"EXPN root\r\nVRFY x\r\n",
		"..leading dot stuffed\r\nWIZ\r\n",
		"last line",
		"\r", "\n.", "\r\n",
	} {
		c.send(l, l)
	}
	if msgs := c.messages(); len(msgs) != 0 {
		t.Errorf("data raised %q", msgs)
	}
	c.reply("250 2.0.0 Ok: queued as 1234\r\n")
	c.send("EXPN root\r\n", "xxxxxxxxx\r\n")
	c.reply("502 5.5.2 Error: command not recognized\r\n")
	c.send("QUIT\r\n", "QUIT\r\n")
}

// A data end that is not CRLF "." CRLF does not end the data: the lines
// after it are still message data (not rewritten), and only the real end
// returns to commands.
func TestSMTPDataNotEnded(t *testing.T) {
	h := newHarness(t, compile(t, smtpSeed(t, "")))
	c := openSMTP(t, h, 40105, -1)
	c.toData()
	c.send("line\r\n.x\r\n", "line\r\n.x\r\n") // "." not alone on its line
	c.send("EXPN root\r\n", "EXPN root\r\n")   // still data
	c.send(".\r\n", ".\r\n")
	c.reply("250 2.0.0 Ok\r\n")
	c.send("EXPN root\r\n", "xxxxxxxxx\r\n")
}

// Seed case 9: after AUTH LOGIN and 334, the base64 lines are responses,
// not commands.
func TestSMTPAuthLogin(t *testing.T) {
	h := newHarness(t, compile(t, smtpSeed(t, "esmtp = {}")))
	c := openSMTP(t, h, 40106, -1)
	c.reply("220 mail.example.com ESMTP\r\n")
	c.send("EHLO client.example.org\r\n", "EHLO client.example.org\r\n")
	c.reply("250-mail.example.com\r\n250-PIPELINING\r\n250 AUTH LOGIN PLAIN\r\n")
	c.send("AUTH LOGIN\r\n", "AUTH LOGIN\r\n")
	c.reply("334 VXNlcm5hbWU6\r\n")
	c.send("dXNlcm5hbWU=\r\n", "dXNlcm5hbWU=\r\n")
	c.reply("334 UGFzc3dvcmQ6\r\n")
	c.send("cGFzc3dvcmQ=\r\n", "cGFzc3dvcmQ=\r\n")
	c.reply("235 2.7.0 Authentication successful\r\n")
	if msgs := c.messages(); len(msgs) != 0 {
		t.Errorf("AUTH raised %q", msgs)
	}
	// Back in command mode: the same bytes are a command again.
	c.send("dXNlcm5hbWU=\r\n", "dxxxxxxxxxxx\r\n")
}

// Seed case 10: a 5000-byte line without LF is rewritten from octet 513
// on, alerts once, and inspection resumes after the line end.
func TestSMTPLongLine(t *testing.T) {
	h := newHarness(t, compile(t, smtpSeed(t, "")))
	c := openSMTP(t, h, 40107, -1)
	c.reply("220 mail.example.com ESMTP\r\n")
	line := "NOOP " + strings.Repeat("a", 4995)
	var got []byte
	alerts := 0
	for i := 0; i < len(line); i += 1250 {
		part := line[i : i+1250]
		b := c.clientAt(c.cseq, []byte(part))
		if b == nil {
			t.Fatalf("part %d not forwarded; drops %v", i/1250, smtpDrops(h))
		}
		got = append(got, b...)
		c.cseq += uint32(len(part))
		if c.hasMessage("%FW-4-SMTP_LONG_LINE: SMTP command line longer than 512 octets from initiator (172.22.1.100:40107) -- responder (172.22.1.110:25)") {
			alerts++
		}
		c.reply("") // the server ACKs: the guard keeps nothing
	}
	want := line[:512] + strings.Repeat("x", len(line)-512)
	if string(got) != want {
		t.Errorf("server got %q..., want %q...", got[500:530], want[500:530])
	}
	if alerts != 1 {
		t.Errorf("%d long-line alerts, want 1", alerts)
	}
	c.send("\r\n", "\r\n")
	c.reply("250 2.0.0 Ok\r\n")
	c.send("EXPN root\r\n", "xxxxxxxxx\r\n")
	c.reply("502 5.5.2 Error\r\n")
	c.send("NOOP\r\n", "NOOP\r\n")
}

// Seed case 11: max_data 1000 and a 1001-byte body: the 1001st byte is not
// forwarded; its segment becomes an RST to the server at the next byte the
// server expects, the client gets an RST at the sequence number it
// acknowledged, both with valid checksums, the session is deleted and the
// alert is logged.
func TestSMTPMaxData(t *testing.T) {
	h := newHarness(t, compile(t, smtpSeed(t, "smtp = { max_data = 1000 }")))
	c := openSMTP(t, h, 40108, -1)
	c.toData()
	body := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!@#$%^&*()_+-=[]{};':,<>/?~abcdefghi\r\n"), 10)
	if len(body) != 1000 {
		t.Fatalf("body of %d bytes", len(body))
	}
	c.send(string(body), string(body))
	c.reply("")
	srv, cli := c.exchange(portOut, c.fromClient(c.cseq, c.sseq, packet.ACK|packet.PSH, 65535, -1, []byte("Z")))
	if len(srv) != 1 || len(cli) != 1 {
		t.Fatalf("max-data: %d frames to the server, %d to the client, want 1 and 1; drops %v", len(srv), len(cli), smtpDrops(h))
	}
	c.checkToServer(srv[0], c.cseq, packet.RST|packet.ACK, []byte{})
	if a := packet.TCP(packet.IPv4(srv[0][packet.EthernetHeaderLen:]).Payload()).Ack(); a != c.sseq {
		t.Errorf("RST to the server acks %d, want %d", a, c.sseq)
	}
	c.checkToClient(cli[0], c.sseq, packet.RST|packet.ACK, []byte{})
	if a := packet.TCP(packet.IPv4(cli[0][packet.EthernetHeaderLen:]).Payload()).Ack(); a != c.cseq {
		t.Errorf("RST to the client acks %d, want %d", a, c.cseq)
	}
	want := "%FW-4-SMTP_MAX_DATA: SMTP max-data exceeded, session reset: initiator (172.22.1.100:40108) -- responder (172.22.1.110:25)"
	if msgs := c.messages(); len(msgs) != 1 || msgs[0] != want {
		t.Errorf("messages %q, want [%q]", msgs, want)
	}
	if live, _ := h.w.SessionCount(); live != 0 {
		t.Errorf("%d sessions after max-data, want 0", live)
	}
	if n := h.drops(dataplane.DropSMTPMaxData); n != 1 {
		t.Errorf("max-data drops %d, want 1", n)
	}
	if got := h.w.Stats.SMTPAlerts; got[smtpfsm.AlertMaxData] != 1 || got[smtpfsm.AlertInvalidCommand] != 0 {
		t.Errorf("SMTPAlerts %v, want one max-data", got)
	}
	// The client's next segment finds no session.
	if b := c.clientAt(c.cseq, []byte("more")); b != nil {
		t.Errorf("forwarded %q after the reset", b)
	}
}

// Max-data crossed inside a data segment large enough to be held, after
// one that took the message data short path (smtpData: in order, inside a
// line, no line-start dot): the crossing one does not take it, and is
// reset as in TestSMTPMaxData: none of its bytes reach the server, the RST
// goes at the byte after the last one forwarded, and the held frames go
// back to the pool with the session.
func TestSMTPMaxDataHeldSegment(t *testing.T) {
	h := newHarness(t, compile(t, smtpSeed(t, "smtp = { max_data = 2000 }")))
	c := openSMTP(t, h, 40110, -1)
	c.toData()
	body := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVW\r\n"), 40)
	// 600 bytes from the start of a line (not the short path: a "." could
	// begin it), 600 from inside a line (the short path), then 900 more.
	for i, seg := range [][]byte{body[:600], body[600:1200]} {
		if fwd := c.clientAt(c.cseq, seg); !bytes.Equal(fwd, seg) {
			t.Fatalf("segment %d forwarded as %q", i, fwd)
		}
		c.cseq += uint32(len(seg))
	}
	h.step() // the transmissions complete
	if held, parked := h.w.FramesHeld(); held != 2 || parked != 2 {
		t.Fatalf("held %d, parked %d after two data segments, want 2, 2", held, parked)
	}
	srv, cli := c.exchange(portOut, c.fromClient(c.cseq, c.sseq, packet.ACK|packet.PSH, 65535, -1, body[1200:2100]))
	if len(srv) != 1 || len(cli) != 1 {
		t.Fatalf("max-data: %d frames to the server, %d to the client, want 1 and 1; drops %v", len(srv), len(cli), smtpDrops(h))
	}
	c.checkToServer(srv[0], c.cseq, packet.RST|packet.ACK, []byte{})
	c.checkToClient(cli[0], c.sseq, packet.RST|packet.ACK, []byte{})
	if n := h.drops(dataplane.DropSMTPMaxData); n != 1 {
		t.Errorf("max-data drops %d, want 1", n)
	}
	if live, _ := h.w.SessionCount(); live != 0 {
		t.Errorf("%d sessions after max-data, want 0", live)
	}
	if held, parked := h.w.FramesHeld(); held != 0 || parked != 0 {
		t.Errorf("after the reset: held %d, parked %d, want 0, 0", held, parked)
	}
	if n := h.w.FramesAccounted(h.q); n != 4096 {
		t.Errorf("%d frames accounted for, want 4096", n)
	}
}

// A body of exactly max_data bytes is delivered and the session goes on.
func TestSMTPMaxDataExact(t *testing.T) {
	h := newHarness(t, compile(t, smtpSeed(t, "smtp = { max_data = 1000 }")))
	c := openSMTP(t, h, 40109, -1)
	c.toData()
	body := strings.Repeat("a", 998) + "\r\n"
	c.send(body, body)
	c.send(".\r\n", ".\r\n")
	c.reply("250 2.0.0 Ok\r\n")
	c.send("QUIT\r\n", "QUIT\r\n")
	if live, _ := h.w.SessionCount(); live != 1 {
		t.Errorf("%d sessions, want 1", live)
	}
}

// docs/behaviour.md "Stream consistency": what the server
// receives is what the inspector judged, whatever the client retransmits.
func TestSMTPRetransmission(t *testing.T) {
	open := func(t *testing.T) (*harness, *smtpConv) {
		h := newHarness(t, compile(t, smtpSeed(t, "")))
		c := openSMTP(t, h, 40110, -1)
		c.reply("220 mail.example.com ESMTP\r\n")
		c.send("HELO client\r\n", "HELO client\r\n")
		c.reply("250 mail.example.com\r\n")
		return h, c
	}
	t.Run("rewritten command retransmitted", func(t *testing.T) {
		_, c := open(t)
		seq := c.cseq
		c.send("EXPN root\r\n", "xxxxxxxxx\r\n")
		// The first copy was lost beyond us: the client sends it again.
		if got := c.clientAt(seq, []byte("EXPN root\r\n")); string(got) != "xxxxxxxxx\r\n" {
			t.Errorf("retransmission reached the server as %q", got)
		}
		if c.hasMessage("%FW-4-SMTP_RETRANSMIT_DIFFERS") {
			t.Errorf("a faithful retransmission raised %q", c.messages())
		}
	})
	t.Run("retransmission with different bytes", func(t *testing.T) {
		_, c := open(t)
		seq := c.cseq
		c.send("HELO x\r\n", "HELO x\r\n")
		got := c.clientAt(seq, []byte("EXPN x\r\n"))
		if string(got) != "HELO x\r\n" {
			t.Errorf("second text reached the server as %q, want the first copy", got)
		}
		want := "%FW-4-SMTP_RETRANSMIT_DIFFERS: Retransmitted SMTP data differs from the first copy, first copy forwarded: initiator (172.22.1.100:40110) -- responder (172.22.1.110:25)"
		if msgs := c.messages(); len(msgs) != 1 || msgs[0] != want {
			t.Errorf("messages %q, want [%q]", msgs, want)
		}
	})
	t.Run("out of order", func(t *testing.T) {
		h, c := open(t)
		before := h.drops(dataplane.DropStreamOutOfOrder)
		if got := c.clientAt(c.cseq+5, []byte("x\r\n")); got != nil {
			t.Errorf("segment beyond the next byte forwarded as %q", got)
		}
		if n := h.drops(dataplane.DropStreamOutOfOrder) - before; n != 1 {
			t.Errorf("out-of-order drops %d, want 1", n)
		}
		c.send("NOOP ", "NOOP ")
		c.send("x\r\n", "x\r\n") // the retransmission fills in order
	})
	t.Run("partly old partly new", func(t *testing.T) {
		h, c := open(t)
		seq := c.cseq
		c.send("NOOP\r\n", "NOOP\r\n")
		// The old part differs (restored), the new part is a command.
		got := c.clientAt(seq, []byte("NOOX\r\nEXPN x\r\n"))
		if string(got) != "NOOP\r\nxxxxxx\r\n" {
			t.Errorf("server got %q, want %q", got, "NOOP\r\nxxxxxx\r\n")
		}
		if !c.hasMessage("%FW-4-SMTP_RETRANSMIT_DIFFERS") || !c.hasMessage("%FW-4-SMTP_INVALID_COMMAND: Invalid SMTP command (EXPN)") {
			t.Errorf("messages %q, want the differs and invalid command alerts", c.messages())
		}
		if got := h.w.Stats.SMTPAlerts; got[smtpfsm.AlertRetransmitDiffers] != 1 || got[smtpfsm.AlertInvalidCommand] != 1 {
			t.Errorf("SMTPAlerts %v, want one retransmit-differs and one invalid command", got)
		}
		c.cseq = seq + uint32(len("NOOX\r\nEXPN x\r\n"))
		c.reply("250 Ok\r\n502 Error\r\n")
		c.send("QUIT\r\n", "QUIT\r\n")
	})
	t.Run("retransmission after the ACK", func(t *testing.T) {
		// Bytes the server acknowledged are no longer kept; the server's
		// TCP discards them as duplicates (below RCV.NXT), so they pass.
		_, c := open(t)
		seq := c.cseq
		c.send("NOOP\r\n", "NOOP\r\n")
		c.reply("250 Ok\r\n")
		if got := c.clientAt(seq, []byte("NOOP\r\n")); string(got) != "NOOP\r\n" {
			t.Errorf("old retransmission reached the server as %q", got)
		}
		c.send("EXPN x\r\n", "xxxxxx\r\n")
	})
}

// smtpWindow is the window (in bytes, scaled by shift) the client learns
// from a frame that reached it.
func smtpWindow(f []byte, shift int) (ack uint32, win uint32) {
	tc := packet.TCP(packet.IPv4(f[packet.EthernetHeaderLen:]).Payload())
	return tc.Ack(), uint32(tc.Window()) << shift
}

// The window the server advertises to the client is clamped so that the
// client can send no more new bytes than the replay copy has room for
// (ack + window <= the highest ACK + StreamBuffer), with the server's
// window scale, and checksums fixed.
func TestSMTPWindowClamp(t *testing.T) {
	const buffer = smallBuffer
	h := newHarness(t, compile(t, withBuffer(smtpSeed(t, ""), buffer)))
	const shift = 7
	c := &smtpConv{t: t, h: h, sport: 40111, cseq: smtpClientISN, sseq: smtpServerISN, buf: make([]byte, 2048)}
	c.exchange(portOut, c.fromClient(c.cseq, 0, packet.SYN, 65535, shift, nil))
	c.cseq++
	_, cli := c.exchange(portIn, c.fromServer(c.sseq, c.cseq, packet.SYN|packet.ACK, 65535, shift, nil))
	if len(cli) != 1 {
		t.Fatalf("SYN/ACK not forwarded")
	}
	c.checkToClient(cli[0], c.sseq, packet.SYN|packet.ACK, nil)
	if _, w := smtpWindow(cli[0], 0); w != buffer { // a SYN's window is not scaled
		t.Errorf("SYN/ACK window %d, want %d", w, buffer)
	}
	c.sseq++
	c.exchange(portOut, c.fromClient(c.cseq, c.sseq, packet.ACK, 512, -1, nil))
	c.toData()
	base := c.cseq // the server acknowledged everything
	check := func(f []byte, what string) {
		t.Helper()
		ack, w := smtpWindow(f, shift)
		if edge := ack + w; int32(edge-(base+buffer)) > 0 {
			t.Errorf("%s: ack %d + window %d exceeds the replay room (edge %d > %d)", what, ack, w, edge, base+buffer)
		}
		if edge := ack + w; int32(base+buffer-edge) >= 1<<shift {
			t.Errorf("%s: window %d wastes room (edge %d, room to %d)", what, w, edge, base+buffer)
		}
	}
	// 10000 bytes in flight, then the server acknowledges 4000 of them.
	body := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!@#$%^&*()_+-=[]{};':,<>/?~abcdefghi\r\n"), 100)
	start := c.cseq
	for i := 0; i < 10000; i += 1000 {
		c.send(string(body[i:i+1000]), string(body[i:i+1000]))
	}
	for _, ack := range []uint32{start + 4000, start + 2000, start + 10000} {
		_, cli := c.exchange(portIn, c.fromServer(c.sseq, ack, packet.ACK, 65535, -1, nil))
		if len(cli) != 1 {
			t.Fatalf("ACK %d not forwarded; drops %v", ack, smtpDrops(h))
		}
		c.checkToClient(cli[0], c.sseq, packet.ACK, []byte{})
		if int32(ack-base) > 0 {
			base = ack
		}
		check(cli[0], fmt.Sprintf("ACK %d", ack-start))
	}
}

// With a 1 MB body in 1460-byte segments, sent by a client that honours
// the window it receives and paced by the server's ACKs, no segment is
// dropped for want of replay room, although the server advertises 8 MB.
// The server acknowledges every second segment, but its ACKs reach the
// firewall (and the client) only when the client has to wait: the worst
// case for the replay copy, a whole window in flight beyond the firewall.
func TestSMTPWindowPacedBulk(t *testing.T) {
	const (
		shift = 7
		mss   = 1460
		total = 1 << 20
	)
	h := newHarness(t, compile(t, withBuffer(smtpSeed(t, ""), smallBuffer)))
	c := &smtpConv{t: t, h: h, sport: 40112, cseq: smtpClientISN, sseq: smtpServerISN, buf: make([]byte, 2048)}
	c.exchange(portOut, c.fromClient(c.cseq, 0, packet.SYN, 65535, shift, nil))
	c.cseq++
	_, cli := c.exchange(portIn, c.fromServer(c.sseq, c.cseq, packet.SYN|packet.ACK, 65535, shift, nil))
	if len(cli) != 1 {
		t.Fatalf("SYN/ACK not forwarded")
	}
	c.sseq++
	c.exchange(portOut, c.fromClient(c.cseq, c.sseq, packet.ACK, 512, -1, nil))
	c.toData()

	line := []byte("The quick brown fox jumps over the lazy dog. 0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n")
	body := bytes.Repeat(line, total/len(line)+1)[:total]
	var got bytes.Buffer
	una, nxt := c.cseq, c.cseq // the client's SND.UNA and SND.NXT
	wnd := uint32(mss)         // the client's SND.WND, from the last ACK it got
	maxWin := uint32(0)
	var acks []uint32 // ACKs the server sent that are still on their way
	unacked := 0      // segments the server received and has not acknowledged
	sent, bursts := 0, 0
	for int(una-c.cseq) < total {
		off := int(nxt - c.cseq)
		n := min(mss, total-off)
		if n == 0 || int64(n) > int64(int32(una+wnd-nxt)) {
			// The client waits (sender-side silly window avoidance:
			// full segments only); the server's delayed ACK fires and
			// its ACKs arrive.
			if unacked > 0 {
				acks = append(acks, nxt)
				unacked = 0
			}
			if len(acks) == 0 {
				t.Fatalf("stalled at offset %d: window %d, nothing in flight", off, wnd)
			}
			for _, a := range acks {
				_, cli := c.exchange(portIn, c.fromServer(c.sseq, a, packet.ACK, 65535, -1, nil))
				if len(cli) != 1 {
					t.Fatalf("server ACK not forwarded; drops %v", smtpDrops(h))
				}
				ack, w := smtpWindow(cli[0], shift)
				una, wnd = ack, w
				maxWin = max(maxWin, w)
			}
			acks = acks[:0]
			if bursts++; bursts > 10000 {
				t.Fatal("no progress")
			}
			continue
		}
		srv, _ := c.exchange(portOut, c.fromClient(nxt, c.sseq, packet.ACK, 512, -1, body[off:off+n]))
		if len(srv) != 1 {
			t.Fatalf("segment at offset %d (%d bytes, %d in flight) not forwarded; drops %v", off, n, nxt-una, smtpDrops(h))
		}
		got.Write(packet.TCP(packet.IPv4(srv[0][packet.EthernetHeaderLen:]).Payload()).Payload())
		nxt += uint32(n)
		sent++
		if unacked++; unacked == 2 {
			acks = append(acks, nxt)
			unacked = 0
		}
	}
	if n := h.drops(dataplane.DropStreamBufferFull); n != 0 {
		t.Errorf("%d segments dropped for buffer full", n)
	}
	if !bytes.Equal(got.Bytes(), body) {
		t.Errorf("server got %d bytes, not the %d-byte body", got.Len(), len(body))
	}
	if maxWin > smallBuffer || maxWin < smallBuffer-1<<shift {
		t.Errorf("largest window seen by the client %d, want about the %d-byte replay room", maxWin, smallBuffer)
	}
	if avg := float64(total) / float64(bursts); avg < 14000 {
		t.Errorf("%.0f bytes per round trip, want nearly the %d-byte replay room", avg, smallBuffer)
	}
	c.cseq = nxt
	c.send("\r\n.\r\n", "\r\n.\r\n")
	c.reply("250 2.0.0 Ok\r\n")
	t.Logf("%d segments in %d round trips", sent, bursts)
}

// debug ip inspect smtp through the pipeline: with Dataplane.DebugSMTP on,
// the worker reports the trace in the seed's words, in order; off (before
// and after), nothing.
func TestSMTPDebugTrace(t *testing.T) {
	h := newHarness(t, compile(t, smtpSeed(t, "")))
	c := openSMTP(t, h, 40113, -1)
	var lines []string
	collect := func() {
		for i := range h.evs {
			if h.evs[i].Kind == dataplane.EvSMTPTrace {
				lines = append(lines, control.TraceLine(&h.evs[i]))
			}
		}
	}
	c.reply("220 mail\r\n")
	collect()
	if len(lines) != 0 {
		t.Fatalf("trace with debugging off: %q", lines)
	}
	h.dp.DebugSMTP.Store(true)
	c.send("HELO x\r\n", "HELO x\r\n")
	collect()
	c.reply("250 ok\r\n")
	collect()
	h.dp.DebugSMTP.Store(false)
	c.send("NOOP\r\n", "NOOP\r\n")
	collect()
	// The numbers are smtpfsm's (STATES.md, Trace): HELO's trie node 9
	// (H=6 E=7 L=8 O=9), verb id 2 (HELO), parameter state 3 (CR/LF
	// seen), the reply's final text state 5, match ids 13 (a well-formed
	// line) and 10 (the final line); reply line 0 was the greeting.
	want := []string{
		"CBAC SMTP: VERB - Cmd len:4, match_len:4, cmd_re_state:9",
		"CBAC SMTP: VERB - match id:2",
		"CBAC SMTP: CMD PARAM - Cmd len:8, match_len:4, cmd_re_state:3",
		"CBAC SMTP: CMD PARAM - match id:6",
		"CBAC SMTP: End Of Command Line - index:1, len:8",
		"CBAC SMTP: reply_type HELO",
		"CBAC SMTP: OTHER REPLY - Reply len: 8, match_len:8, reply_re_state:5",
		"CBAC SMTP: OTHER REPLY match id:13",
		"CBAC SMTP: OTHER REPLY match id:10",
		"CBAC SMTP: End Of Reply Line - index:1 ,len:8",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("trace:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// The rewritten frame keeps its IP length and every byte outside the
// payload's rewritten span (gopacket's view of the same frame).
func TestSMTPRewriteFrameIntact(t *testing.T) {
	h := newHarness(t, compile(t, smtpSeed(t, "")))
	c := openSMTP(t, h, 40114, -1)
	c.reply("220 mail\r\n")
	in := append([]byte(nil), c.fromClient(c.cseq, c.sseq, packet.ACK|packet.PSH, 65535, -1, []byte("EXPN root\r\n"))...)
	srv, _ := c.exchange(portOut, in)
	if len(srv) != 1 {
		t.Fatal("not forwarded")
	}
	p := decode(t, srv[0])
	ip := ipOf(p)
	tc := tcpOf(p)
	if int(ip.Length) != len(in)-packet.EthernetHeaderLen || ip.TTL != 63 || ip.Protocol != layers.IPProtocolTCP {
		t.Errorf("IP length %d TTL %d, want %d 63", ip.Length, ip.TTL, len(in)-packet.EthernetHeaderLen)
	}
	if tc.Seq != c.cseq || tc.Ack != c.sseq || tc.Window != 65535 || !tc.ACK || !tc.PSH {
		t.Errorf("TCP header changed: seq %d ack %d win %d", tc.Seq, tc.Ack, tc.Window)
	}
	if string(tc.Payload) != "xxxxxxxxx\r\n" {
		t.Errorf("payload %q", tc.Payload)
	}
	if binary.BigEndian.Uint16(srv[0][12:]) != 0x0800 {
		t.Errorf("EtherType changed")
	}
}

// SMTP smuggling on the message data fast path: a 1460-byte data segment
// (held, scanned once by internal/scan) with CR "." CRLF inside, then
// commands that a server ending lines at a bare CR would run. The "."
// reaches the server as 'x', nothing else changes, one alert; the real end
// still ends the data.
func TestSMTPSmugglingFastPath(t *testing.T) {
	h := newHarness(t, compile(t, smtpSeed(t, "")))
	c := openSMTP(t, h, 40140, -1)
	c.toData()
	line := "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod\r\n"
	smuggled := "\r.\r\nMAIL FROM:<ceo@example.com>\r\nRCPT TO:<all@example.com>\r\nDATA\r\n"
	seg := []byte(strings.Repeat(line, 10) + "last line" + smuggled)
	for len(seg) < 1460 {
		seg = append(seg, line...)
	}
	seg = seg[:1460]
	seg[1458], seg[1459] = '\r', '\n'
	want := append([]byte(nil), seg...)
	k := strings.Index(string(seg), "\r.\r\n")
	want[k+1] = 'x'
	rewritten, frames := h.w.Stats.SMTPRewritten, h.w.FramesEverHeld()
	c.send(string(seg), string(want))
	if h.w.FramesEverHeld() != frames+1 {
		t.Errorf("the segment was not held (fast path): %d frames held before, %d after", frames, h.w.FramesEverHeld())
	}
	if !c.hasMessage("%FW-4-SMTP_BAD_DATA_END") {
		t.Errorf("no look-alike alert: %q", c.messages())
	}
	if got := h.w.Stats.SMTPRewritten - rewritten; got != 1 {
		t.Errorf("SMTPRewritten +%d, want 1", got)
	}
	// The same segment again (the next 1460 bytes): same rewrite, no
	// second alert for the message.
	c.send(string(seg), string(want))
	if c.hasMessage("%FW-4-SMTP_BAD_DATA_END") {
		t.Errorf("second alert for one message: %q", c.messages())
	}
	c.send(".\r\n", ".\r\n")
	c.reply("250 2.0.0 Ok: queued\r\n")
	c.send("EXPN root\r\n", "xxxxxxxxx\r\n")
}
