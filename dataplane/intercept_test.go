package dataplane_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"

	"cbac/control"
	"cbac/dataplane"
	"cbac/packet"
)

// interceptSeed is the seed (with neighbours) plus ACL 120 protecting the
// mail server's inside global address and [tcp_intercept] with it; rule
// replaces the OUT-IN smtp entry ("" keeps it), extra is appended.
func interceptSeed(t testing.TB, rule, extra string) []byte {
	t.Helper()
	s := string(smtpSeed(t, rule))
	s = replaceOnce(t, s, "  \"permit tcp any host 172.22.1.110 eq smtp\",\n]",
		"  \"permit tcp any host 172.22.1.110 eq smtp\",\n]\n120 = [\"permit tcp any host 172.22.1.110 eq smtp\"]")
	return []byte(s + "\n[tcp_intercept]\nlist = \"120\"\n" + extra)
}

// icConv is one connection through TCP intercept: the client's and the
// server's own sequence spaces and clocks, and what cbacd told the client
// (its cookie ISN and TSval).
type icConv struct {
	t          testing.TB
	h          *harness
	sport      uint16
	cISN, sISN uint32
	ts         bool   // both ends use timestamps
	cws, sws   int8   // window scale each end offers (-1: none)
	cookie     uint32 // cbacd's ISN towards the client
	cookieTS   uint32 // cbacd's SYN/ACK TSval
	sTS0       uint32 // the server's SYN/ACK TSval
	cTS        uint32 // the client's clock
	sTS        uint32 // the server's clock
	dport      uint16 // the server's port; 0: 25 (smtp)
}

func (c *icConv) port() uint16 {
	if c.dport == 0 {
		return 25
	}
	return c.dport
}

// icWrite writes a TCP frame with raw options opts (padded to 4 bytes).
func icWrite(srcMAC, dstMAC packet.MAC, src, dst uint32, sport, dport uint16, seq, ack uint32, flags uint8,
	win uint16, opts, payload []byte) []byte {
	for len(opts)%4 != 0 {
		opts = append(opts, packet.TCPOptNOP)
	}
	return icWriteInto(make([]byte, 2048), srcMAC, dstMAC, src, dst, sport, dport, seq, ack, flags, win, opts, payload)
}

// icWriteInto is icWrite into b (options already padded), for the
// allocation tests.
func icWriteInto(b []byte, srcMAC, dstMAC packet.MAC, src, dst uint32, sport, dport uint16, seq, ack uint32, flags uint8,
	win uint16, opts, payload []byte) []byte {
	hl := 20 + len(opts)
	b = b[:packet.EthernetHeaderLen+20+hl+len(payload)]
	clear(b)
	e := packet.Ethernet(b)
	e.SetDst(dstMAC)
	e.SetSrc(srcMAC)
	e.SetType(packet.EtherTypeIPv4)
	packet.WriteIPv4Header(b[packet.EthernetHeaderLen:], src, dst, packet.ProtoTCP, 64, hl+len(payload), 1)
	t := packet.TCP(b[packet.EthernetHeaderLen+20:])
	t.SetSrcPort(sport)
	t.SetDstPort(dport)
	t.SetSeq(seq)
	t.SetAck(ack)
	t.SetDataOffset(hl)
	t.SetFlags(flags)
	t.SetWindow(win)
	copy(t[20:], opts)
	copy(t[hl:], payload)
	t.SetChecksum(t.CalculateChecksum(src, dst))
	return b
}

func synOpts(o packet.SynOptions) []byte {
	b := make([]byte, 20)
	return b[:packet.WriteSynOptions(b, &o)]
}

func tsOpt(val, ecr uint32) []byte {
	b := []byte{packet.TCPOptNOP, packet.TCPOptNOP, packet.TCPOptTS, packet.TCPOptTSLen, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[4:], val)
	binary.BigEndian.PutUint32(b[8:], ecr)
	return b
}

func sackOpt(edges ...uint32) []byte {
	b := []byte{packet.TCPOptNOP, packet.TCPOptNOP, packet.TCPOptSACK, byte(2 + 4*len(edges))}
	for _, e := range edges {
		b = binary.BigEndian.AppendUint32(b, e)
	}
	return b
}

func (c *icConv) fromClient(seq, ack uint32, flags uint8, win uint16, opts, payload []byte) []byte {
	return icWrite(smtpMAC(macClient), smtpMAC(macOut0), smtpClientIP, smtpGlobalIP, c.sport, c.port(), seq, ack, flags, win, opts, payload)
}

func (c *icConv) fromServer(seq, ack uint32, flags uint8, win uint16, opts, payload []byte) []byte {
	return icWrite(smtpMAC(macMail), smtpMAC(macIn0), smtpServerIP, smtpClientIP, c.port(), c.sport, seq, ack, flags, win, opts, payload)
}

// clientTS is the timestamps option of the client's next segment.
func (c *icConv) clientTS() []byte {
	if !c.ts {
		return nil
	}
	c.cTS++
	echo := c.cookieTS // the latest TSval the client saw, in its view
	if c.sTS0 != 0 {
		echo = c.sTS - c.sTS0 + c.cookieTS
	}
	return tsOpt(c.cTS, echo)
}

func (c *icConv) exchange(port int, frame []byte) (toServer, toClient []packet.TCP) {
	c.t.Helper()
	out := c.h.send(port, frame)
	for _, f := range out[portIn] {
		decode(c.t, f)
		toServer = append(toServer, c.view(f, smtpClientIP, smtpServerIP, c.sport, c.port()))
	}
	for _, f := range out[portOut] {
		decode(c.t, f)
		toClient = append(toClient, c.view(f, smtpGlobalIP, smtpClientIP, c.port(), c.sport))
	}
	return toServer, toClient
}

// view checks a frame's addresses and ports and returns its TCP header.
func (c *icConv) view(f []byte, src, dst uint32, sport, dport uint16) packet.TCP {
	c.t.Helper()
	ip := packet.IPv4(f[packet.EthernetHeaderLen:])
	tc := packet.TCP(ip.Payload())
	if ip.Src() != src || ip.Dst() != dst || tc.SrcPort() != sport || tc.DstPort() != dport {
		c.t.Errorf("frame %s:%d -> %s:%d, want %s:%d -> %s:%d", packet.IPString(ip.Src()), tc.SrcPort(),
			packet.IPString(ip.Dst()), tc.DstPort(), packet.IPString(src), sport, packet.IPString(dst), dport)
	}
	return tc
}

func expectSeg(t testing.TB, what string, tc packet.TCP, seq, ack uint32, flags uint8) {
	t.Helper()
	if tc.Seq() != seq || tc.Ack() != ack || tc.Flags() != flags {
		t.Errorf("%s: seq %d ack %d flags %#02x, want %d %d %#02x", what, tc.Seq(), tc.Ack(), tc.Flags(), seq, ack, flags)
	}
}

func one(t testing.TB, what string, segs []packet.TCP, n int) {
	t.Helper()
	if len(segs) != n {
		t.Fatalf("%s: %d frames, want %d", what, len(segs), n)
	}
}

// synOptions is the client's SYN options.
func (c *icConv) synOptions() []byte {
	return synOpts(packet.SynOptions{MSS: 1460, WScale: c.cws, SACKPerm: c.ts, TS: c.ts, TSval: c.cTS})
}

// cookieSYN sends the client's SYN and checks the cookie SYN/ACK: back to
// the client on the outside port, from the address it connected to,
// window 0, no frame to the server, no session.
func (c *icConv) cookieSYN() {
	c.t.Helper()
	before, _ := c.h.w.SessionCount()
	srv, cli := c.exchange(portOut, c.fromClient(c.cISN, 0, packet.SYN, 64240, c.synOptions(), nil))
	one(c.t, "cookie SYN/ACK to the client", cli, 1)
	one(c.t, "SYN to the server", srv, 0)
	sa := cli[0]
	expectSeg(c.t, "cookie SYN/ACK", sa, sa.Seq(), c.cISN+1, packet.SYN|packet.ACK)
	if sa.Window() != 0 {
		c.t.Errorf("cookie SYN/ACK window %d, want 0", sa.Window())
	}
	f := c.h.out[portOut][0]
	if e := packet.Ethernet(f); e.Dst() != smtpMAC(macClient) || e.Src() != smtpMAC(macOut0) {
		c.t.Errorf("cookie SYN/ACK from %v to %v", e.Src(), e.Dst())
	}
	ws, mss, sack := sa.ParseOptions()
	tsval, tsecr, ts := sa.Timestamps()
	if mss != 1460 || ts != c.ts || sack != c.ts {
		c.t.Errorf("cookie SYN/ACK options mss %d ts %v sack %v, want 1460 %v %v", mss, ts, sack, c.ts, c.ts)
	}
	wantWS := int8(-1)
	if c.ts && c.cws >= 0 {
		wantWS = 7 // tcpintercept.DefaultWScale
	}
	if ws != wantWS {
		c.t.Errorf("cookie SYN/ACK window scale %d, want %d", ws, wantWS)
	}
	if ts && tsecr != c.cTS {
		c.t.Errorf("cookie SYN/ACK TSecr %d, want the client's %d", tsecr, c.cTS)
	}
	c.cookie, c.cookieTS = sa.Seq(), tsval
	if live, _ := c.h.w.SessionCount(); live != before {
		c.t.Errorf("%d sessions after the cookie, %d before: it must keep no state", live, before)
	}
}

// cookieACK sends the client's ACK (window win, payload) and checks the
// SYN to the server: the client's ISN and options, nothing to the client.
func (c *icConv) cookieACK(win uint16, payload []byte) {
	c.t.Helper()
	srv, cli := c.exchange(portOut, c.fromClient(c.cISN+1, c.cookie+1, packet.ACK, win, c.clientTS(), payload))
	one(c.t, "frames to the client after the ACK", cli, 0)
	one(c.t, "server SYN", srv, 1)
	c.checkServerSYN(srv[0], win)
	if _, half := c.h.w.SessionCount(); half < 1 {
		c.t.Errorf("%d half-open sessions after the cookie ACK", half)
	}
}

func (c *icConv) checkServerSYN(s packet.TCP, win uint16) {
	c.t.Helper()
	expectSeg(c.t, "server SYN", s, c.cISN, 0, packet.SYN)
	ws, mss, sack := s.ParseOptions()
	tsval, _, ts := s.Timestamps()
	wantWS := int8(-1)
	if c.ts {
		wantWS = c.cws
	}
	if mss != 1460 || ws != wantWS || sack != c.ts || ts != c.ts || (ts && tsval != c.cTS) {
		c.t.Errorf("server SYN options mss %d ws %d sack %v ts %v/%d, want 1460 %d %v %v/%d", mss, ws, sack, ts, tsval, wantWS, c.ts, c.ts, c.cTS)
	}
	want := uint32(win)
	if wantWS > 0 {
		want <<= uint(wantWS)
	}
	if uint32(s.Window()) != min(want, 65535) {
		c.t.Errorf("server SYN window %d, want %d", s.Window(), min(want, 65535))
	}
}

// join sends the server's SYN/ACK and checks the ACK to the server and
// the window update to the client.
func (c *icConv) join(win uint16, clientWin uint16) {
	c.t.Helper()
	var opts []byte
	if c.ts {
		c.sTS0 = 900000
		c.sTS = c.sTS0
		opts = synOpts(packet.SynOptions{MSS: 1460, WScale: c.sws, SACKPerm: true, TS: true, TSval: c.sTS0, TSecr: c.cTS})
	} else {
		opts = synOpts(packet.SynOptions{MSS: 1460, WScale: c.sws})
	}
	_, halfBefore := c.h.w.SessionCount()
	srv, cli := c.exchange(portIn, c.fromServer(c.sISN, c.cISN+1, packet.SYN|packet.ACK, win, opts, nil))
	one(c.t, "ACK to the server", srv, 1)
	one(c.t, "window update to the client", cli, 1)
	expectSeg(c.t, "ACK to the server", srv[0], c.cISN+1, c.sISN+1, packet.ACK)
	expectSeg(c.t, "window update", cli[0], c.cookie+1, c.cISN+1, packet.ACK)
	if c.ts {
		if v, e, ok := srv[0].Timestamps(); !ok || v != c.cTS || e != c.sTS0 {
			c.t.Errorf("ACK to the server timestamps %d %d %v, want %d %d", v, e, ok, c.cTS, c.sTS0)
		}
		if v, e, ok := cli[0].Timestamps(); !ok || v != c.cookieTS || e != c.cTS {
			c.t.Errorf("window update timestamps %d %d %v, want %d %d", v, e, ok, c.cookieTS, c.cTS)
		}
	}
	if got := cli[0].Window(); got != clientWin {
		c.t.Errorf("window update window %d, want %d", got, clientWin)
	}
	if _, half := c.h.w.SessionCount(); half != halfBefore-1 {
		c.t.Errorf("%d half-open sessions after the join, %d before", half, halfBefore)
	}
}

// open runs the whole intercepted handshake.
func (c *icConv) open() {
	c.t.Helper()
	c.cookieSYN()
	c.cookieACK(1000, nil)
	c.join(29200, c.scaled(29200))
}

// scaled is the window the client is told for the server's SYN/ACK
// window w (unscaled, as in any SYN).
func (c *icConv) scaled(w uint16) uint16 {
	if c.ts && c.cws >= 0 {
		return w >> 7
	}
	return w
}

func newIC(t testing.TB, h *harness, sport uint16, ts bool) *icConv {
	c := &icConv{t: t, h: h, sport: sport, cISN: 4000000000, sISN: 123456, ts: ts, cws: 7, sws: 9, cTS: 77}
	if !ts {
		c.cws, c.sws = -1, -1
	}
	return c
}

// The whole intercepted connection: cookie, server SYN with the client's
// options, join, data both ways with translated sequence numbers, SACK
// blocks, timestamps and windows (valid checksums: decode), SMTP
// inspection on the way, FIN close and finrst-timeout.
func TestInterceptConnection(t *testing.T) {
	for _, ts := range []bool{true, false} {
		t.Run(map[bool]string{true: "timestamps", false: "no options"}[ts], func(t *testing.T) {
			h := newHarness(t, compile(t, interceptSeed(t, "", "finrst_timeout = \"7s\"\n")))
			c := newIC(t, h, 40200, ts)
			c.open()
			off := c.sISN - c.cookie // server's space = client's view + off
			// Server greeting: translated into the client's space.
			var opts []byte
			if ts {
				c.sTS++
				opts = tsOpt(c.sTS, c.cTS)
			}
			greet := []byte("220 mail ESMTP\r\n")
			srv, cli := c.exchange(portIn, c.fromServer(c.sISN+1, c.cISN+1, packet.ACK|packet.PSH, 300, opts, greet))
			one(t, "greeting to the client", cli, 1)
			one(t, "frames to the server", srv, 0)
			expectSeg(t, "greeting", cli[0], c.cookie+1, c.cISN+1, packet.ACK|packet.PSH)
			if !bytes.Equal(cli[0].Payload(), greet) {
				t.Errorf("greeting %q", cli[0].Payload())
			}
			wantWin := uint16(300)
			if ts {
				wantWin = 300 << 9 >> 7 // server's shift 9, the client applies 7
				if v, e, _ := cli[0].Timestamps(); v != c.sTS-(c.sTS0-c.cookieTS) || e != c.cTS {
					t.Errorf("greeting timestamps %d %d, want %d %d", v, e, c.sTS-(c.sTS0-c.cookieTS), c.cTS)
				}
			}
			if cli[0].Window() != wantWin {
				t.Errorf("greeting window %d, want %d", cli[0].Window(), wantWin)
			}
			// Client command, acknowledging the greeting in its space,
			// with a SACK block naming bytes of the server's.
			cseq, sack := c.cISN+1, []byte(nil)
			opts = c.clientTS()
			if ts {
				sack = sackOpt(c.cookie+100, c.cookie+200)
			}
			helo := []byte("HELO a\r\n")
			srv, cli = c.exchange(portOut, c.fromClient(cseq, c.cookie+1+uint32(len(greet)), packet.ACK|packet.PSH, 500, append(opts, sack...), helo))
			one(t, "HELO to the server", srv, 1)
			one(t, "frames to the client", cli, 0)
			expectSeg(t, "HELO", srv[0], cseq, c.sISN+1+uint32(len(greet)), packet.ACK|packet.PSH)
			if !bytes.Equal(srv[0].Payload(), helo) {
				t.Errorf("HELO reached the server as %q", srv[0].Payload())
			}
			if ts {
				if _, e, _ := srv[0].Timestamps(); e != c.sTS {
					t.Errorf("HELO TSecr %d, want the server's %d", e, c.sTS)
				}
				if o, l := srv[0].FindOption(packet.TCPOptSACK); l != 10 || srv[0].Uint32At(o+2) != c.cookie+100+off || srv[0].Uint32At(o+6) != c.cookie+200+off {
					t.Errorf("SACK block not in the server's space")
				}
				// The server was told the client's own shift: no rescaling.
				if srv[0].Window() != 500 {
					t.Errorf("HELO window %d, want 500", srv[0].Window())
				}
			}
			cseq += uint32(len(helo))
			// An EXPN is rewritten, as on any inspected session.
			expn := []byte("EXPN root\r\n")
			srv, _ = c.exchange(portOut, c.fromClient(cseq, c.cookie+1+uint32(len(greet)), packet.ACK|packet.PSH, 500, c.clientTS(), expn))
			one(t, "EXPN to the server", srv, 1)
			if string(srv[0].Payload()) != "xxxxxxxxx\r\n" {
				t.Errorf("EXPN reached the server as %q", srv[0].Payload())
			}
			expectSeg(t, "EXPN", srv[0], cseq, c.sISN+1+uint32(len(greet)), packet.ACK|packet.PSH)
			cseq += uint32(len(expn))
			// FIN close: the client's first.
			sseq := c.sISN + 1 + uint32(len(greet))
			srv, _ = c.exchange(portOut, c.fromClient(cseq, sseq-off, packet.FIN|packet.ACK, 500, c.clientTS(), nil))
			one(t, "client FIN", srv, 1)
			expectSeg(t, "client FIN", srv[0], cseq, sseq, packet.FIN|packet.ACK)
			if ts {
				c.sTS++
				opts = tsOpt(c.sTS, c.cTS)
			}
			_, cli = c.exchange(portIn, c.fromServer(sseq, cseq+1, packet.FIN|packet.ACK, 300, opts, nil))
			one(t, "server FIN", cli, 1)
			expectSeg(t, "server FIN", cli[0], sseq-off, cseq+1, packet.FIN|packet.ACK)
			srv, _ = c.exchange(portOut, c.fromClient(cseq+1, sseq+1-off, packet.ACK, 500, c.clientTS(), nil))
			one(t, "last ACK", srv, 1)
			expectSeg(t, "last ACK", srv[0], cseq+1, sseq+1, packet.ACK)
			h.advance(6 * time.Second)
			if live, _ := h.w.SessionCount(); live != 1 {
				t.Errorf("%d sessions 6 s after the close, want 1 (finrst_timeout 7s)", live)
			}
			h.advance(2 * time.Second)
			if live, _ := h.w.SessionCount(); live != 0 {
				t.Errorf("%d sessions 8 s after the close, want 0", live)
			}
			st := h.w.Intercept
			if st.SYNACKs != 1 || st.Opened != 1 || st.Joined != 1 || st.Aborted != 0 {
				t.Errorf("counters %+v", st)
			}
			if d := smtpDrops(h); len(d) != 0 {
				t.Errorf("drops %v", d)
			}
		})
	}
}

// The handshake's other turns: what goes out, the counters, the session.
func TestInterceptHandshakeCases(t *testing.T) {
	newCase := func(t *testing.T) (*harness, *icConv) {
		h := newHarness(t, compile(t, interceptSeed(t, "", "")))
		return h, newIC(t, h, 40300, true)
	}
	sessions := func(t *testing.T, h *harness, want int) {
		t.Helper()
		if live, _ := h.w.SessionCount(); live != want {
			t.Errorf("%d sessions, want %d", live, want)
		}
	}
	t.Run("retransmitted SYN gets the same cookie", func(t *testing.T) {
		_, c := newCase(t)
		c.cookieSYN()
		first := c.cookie
		c.h.advance(time.Second)
		c.cookieSYN()
		if c.cookie != first {
			t.Errorf("second cookie %d, first %d", c.cookie, first)
		}
		if c.h.w.Intercept.SYNACKs != 2 {
			t.Errorf("SYNACKs %d, want 2", c.h.w.Intercept.SYNACKs)
		}
	})
	t.Run("forged ACKs dropped", func(t *testing.T) {
		h, c := newCase(t)
		c.cookieSYN()
		forged := [][]byte{
			c.fromClient(c.cISN+1, c.cookie+2, packet.ACK, 1000, tsOpt(78, c.cookieTS), nil),                       // wrong ack
			c.fromClient(c.cISN+2, c.cookie+1, packet.ACK, 1000, tsOpt(78, c.cookieTS), nil),                       // wrong seq
			c.fromClient(c.cISN+1, c.cookie+1, packet.ACK, 1000, nil, nil),                                         // timestamps dropped
			c.fromClient(c.cISN+1, 12345, packet.ACK, 1000, tsOpt(78, c.cookieTS), nil),                            // guessed
			(&icConv{sport: 40301}).fromClient(c.cISN+1, c.cookie+1, packet.ACK, 1000, tsOpt(78, c.cookieTS), nil), // other port
		}
		for i, f := range forged {
			srv, cli := c.exchange(portOut, f)
			if len(srv)+len(cli) != 0 {
				t.Errorf("forged ACK %d: %d frames out", i, len(srv)+len(cli))
			}
		}
		if n := h.drops(dataplane.DropInterceptBadCookie); n != uint64(len(forged)) {
			t.Errorf("bad cookie drops %d, want %d", n, len(forged))
		}
		sessions(t, h, 0)
		// An expired cookie: three ticks (68.7 s each) later.
		h.advance(210 * time.Second)
		srv, cli := c.exchange(portOut, c.fromClient(c.cISN+1, c.cookie+1, packet.ACK, 1000, tsOpt(78, c.cookieTS), nil))
		if len(srv)+len(cli) != 0 || h.drops(dataplane.DropInterceptBadCookie) != uint64(len(forged))+1 {
			t.Errorf("expired cookie accepted")
		}
	})
	t.Run("server RST resets the client", func(t *testing.T) {
		h, c := newCase(t)
		c.cookieSYN()
		c.cookieACK(1000, nil)
		// An RST that does not acknowledge the SYN is ignored.
		srv, cli := c.exchange(portIn, c.fromServer(0, c.cISN+7, packet.RST|packet.ACK, 0, nil, nil))
		if len(srv)+len(cli) != 0 || h.drops(dataplane.DropInterceptWaiting) != 1 {
			t.Errorf("stray RST: %d frames out, %v", len(srv)+len(cli), smtpDrops(h))
		}
		srv, cli = c.exchange(portIn, c.fromServer(0, c.cISN+1, packet.RST|packet.ACK, 0, nil, nil))
		one(t, "RST to the client", cli, 1)
		one(t, "frames to the server", srv, 0)
		expectSeg(t, "RST to the client", cli[0], c.cookie+1, c.cISN+1, packet.RST|packet.ACK)
		sessions(t, h, 0)
		if h.w.Intercept.ServerResets != 1 || h.w.Intercept.Aborted != 0 {
			t.Errorf("counters %+v", h.w.Intercept)
		}
	})
	t.Run("server silent: synwait resets both", func(t *testing.T) {
		h, c := newCase(t)
		c.cookieSYN()
		c.cookieACK(1000, nil)
		h.advance(29 * time.Second)
		sessions(t, h, 1)
		h.now += int64(2 * time.Second)
		h.step()
		if len(h.out[portOut]) != 1 || len(h.out[portIn]) != 1 {
			t.Fatalf("synwait: %d frames to the client, %d to the server, want 1 and 1", len(h.out[portOut]), len(h.out[portIn]))
		}
		decode(t, h.out[portOut][0])
		decode(t, h.out[portIn][0])
		expectSeg(t, "RST to the client", c.view(h.out[portOut][0], smtpGlobalIP, smtpClientIP, 25, c.sport), c.cookie+1, c.cISN+1, packet.RST|packet.ACK)
		expectSeg(t, "RST to the server", c.view(h.out[portIn][0], smtpClientIP, smtpServerIP, c.sport, 25), c.cISN+1, 0, packet.RST)
		sessions(t, h, 0)
		if h.w.Intercept.Aborted != 1 || h.w.Stats.HalfOpenResets[dataplane.ResetSynWait] != 1 {
			t.Errorf("Aborted %d, synwait resets %d, want 1 and 1", h.w.Intercept.Aborted, h.w.Stats.HalfOpenResets[dataplane.ResetSynWait])
		}
	})
	t.Run("client RST mid-handshake", func(t *testing.T) {
		h, c := newCase(t)
		c.cookieSYN()
		c.cookieACK(1000, nil)
		srv, cli := c.exchange(portOut, c.fromClient(c.cISN+1, c.cookie+1, packet.RST|packet.ACK, 0, nil, nil))
		one(t, "frames to the client", cli, 0)
		one(t, "RST to the server", srv, 1)
		expectSeg(t, "RST to the server", srv[0], c.cISN+1, 0, packet.RST)
		sessions(t, h, 0)
		if h.w.Intercept.ClientResets != 1 || h.w.Intercept.Aborted != 0 {
			t.Errorf("counters %+v", h.w.Intercept)
		}
	})
	t.Run("zero-window probe after a lost cookie ACK", func(t *testing.T) {
		h, c := newCase(t)
		c.cookieSYN()
		c.cTS++
		srv, cli := c.exchange(portOut, c.fromClient(c.cISN, c.cookie+1, packet.ACK, 1000, tsOpt(c.cTS, c.cookieTS), nil))
		one(t, "frames to the client", cli, 0)
		one(t, "server SYN", srv, 1)
		c.checkServerSYN(srv[0], 1000)
		if h.w.Intercept.Opened != 1 {
			t.Errorf("Opened %d, want 1", h.w.Intercept.Opened)
		}
		// With data it is not a probe: seq one below is a bad cookie.
		c2 := newIC(t, h, 40305, true)
		c2.cookieSYN()
		c2.cTS++
		srv, cli = c2.exchange(portOut, c2.fromClient(c2.cISN, c2.cookie+1, packet.ACK, 1000, tsOpt(c2.cTS, c2.cookieTS), []byte("x")))
		if len(srv)+len(cli) != 0 || h.drops(dataplane.DropInterceptBadCookie) != 1 {
			t.Errorf("data at seq-1: %d frames out, drops %v", len(srv)+len(cli), smtpDrops(h))
		}
	})
	t.Run("data before the server answers", func(t *testing.T) {
		h, c := newCase(t)
		c.cookieSYN()
		c.cookieACK(1000, nil)
		srv, cli := c.exchange(portOut, c.fromClient(c.cISN+1, c.cookie+1, packet.ACK|packet.PSH, 1000, c.clientTS(), []byte("HELO a\r\n")))
		one(t, "frames to the client", cli, 0)
		one(t, "server SYN again", srv, 1)
		if len(srv[0].Payload()) != 0 {
			t.Errorf("data reached the server before its SYN/ACK")
		}
		expectSeg(t, "server SYN again", srv[0], c.cISN, 0, packet.SYN)
		if h.drops(dataplane.DropInterceptWaiting) != 1 || h.w.Intercept.SYNsResent != 1 {
			t.Errorf("drops %v, counters %+v", smtpDrops(h), h.w.Intercept)
		}
	})
	t.Run("ACK carrying data", func(t *testing.T) {
		// Accepted as SYNPROXY does: the server half opens; the data,
		// sent into a zero window, is not forwarded, and reaches the
		// server when the client sends it again.
		h, c := newCase(t)
		c.cookieSYN()
		c.cookieACK(1000, []byte("HELO a\r\n"))
		c.join(29200, c.scaled(29200))
		c.sTS++
		srv, _ := c.exchange(portIn, c.fromServer(c.sISN+1, c.cISN+1, packet.ACK|packet.PSH, 300, tsOpt(c.sTS, c.cTS), []byte("220 x\r\n")))
		one(t, "greeting not to the server", srv, 0)
		srv, _ = c.exchange(portOut, c.fromClient(c.cISN+1, c.cookie+8, packet.ACK|packet.PSH, 1000, c.clientTS(), []byte("HELO a\r\n")))
		one(t, "data sent again", srv, 1)
		expectSeg(t, "data sent again", srv[0], c.cISN+1, c.sISN+8, packet.ACK|packet.PSH)
		if string(srv[0].Payload()) != "HELO a\r\n" {
			t.Errorf("server got %q", srv[0].Payload())
		}
		if d := smtpDrops(h); len(d) != 0 {
			t.Errorf("drops %v", d)
		}
	})
	t.Run("server SYN/ACK again after the join", func(t *testing.T) {
		h, c := newCase(t)
		c.open()
		opts := synOpts(packet.SynOptions{MSS: 1460, WScale: c.sws, SACKPerm: true, TS: true, TSval: c.sTS0, TSecr: 78})
		srv, cli := c.exchange(portIn, c.fromServer(c.sISN, c.cISN+1, packet.SYN|packet.ACK, 29200, opts, nil))
		one(t, "ACK to the server again", srv, 1)
		one(t, "frames to the client", cli, 0)
		expectSeg(t, "ACK again", srv[0], c.cISN+1, c.sISN+1, packet.ACK)
		// A SYN/ACK with another ISN is not the join's.
		srv, cli = c.exchange(portIn, c.fromServer(c.sISN+5, c.cISN+1, packet.SYN|packet.ACK, 29200, opts, nil))
		if len(srv)+len(cli) != 0 || h.drops(dataplane.DropTCPSynEstablished) != 1 {
			t.Errorf("other SYN/ACK: %d frames out, drops %v", len(srv)+len(cli), smtpDrops(h))
		}
	})
	t.Run("window update clamped to the replay copy", func(t *testing.T) {
		h := newHarness(t, compile(t, withBuffer(interceptSeed(t, "", ""), smallBuffer)))
		c := newIC(t, h, 40304, true)
		c.cookieSYN()
		c.cookieACK(1000, nil)
		c.join(65535, smallBuffer>>7) // 65535>>7 = 511 units; the copy holds 128
	})
	t.Run("inbound ACL first", func(t *testing.T) {
		// The intercept list protects every port; ACL 101 permits only
		// smtp: a SYN to port 80 is the ACL's, not answered.
		s := string(interceptSeed(t, "", ""))
		s = replaceOnce(t, s, `120 = ["permit tcp any host 172.22.1.110 eq smtp"]`, `120 = ["permit tcp any any"]`)
		h := newHarness(t, compile(t, []byte(s)))
		c := &icConv{t: t, h: h, sport: 40302}
		out := h.send(portOut, icWrite(smtpMAC(macClient), smtpMAC(macOut0), smtpClientIP, smtpGlobalIP, c.sport, 80, 1, 0, packet.SYN, 1000, nil, nil))
		if len(out[portOut])+len(out[portIn]) != 0 || h.drops(dataplane.DropACLIn) != 1 || h.w.Intercept.SYNACKs != 0 {
			t.Errorf("SYN to port 80: %d frames out, drops %v", len(out[portOut])+len(out[portIn]), smtpDrops(h))
		}
	})
	t.Run("not protected: no intercept", func(t *testing.T) {
		// Without [tcp_intercept] the SYN goes to the server.
		h := newHarness(t, compile(t, smtpSeed(t, "")))
		c := newIC(t, h, 40303, true)
		srv, cli := c.exchange(portOut, c.fromClient(c.cISN, 0, packet.SYN, 64240, c.synOptions(), nil))
		one(t, "SYN to the server", srv, 1)
		one(t, "frames to the client", cli, 0)
	})
}

// Max-data through intercept: the RSTs go out at the right numbers in
// each side's space (the server's ACK field translated, the client's
// untouched).
func TestInterceptSMTPMaxData(t *testing.T) {
	h := newHarness(t, compile(t, interceptSeed(t, "smtp = { max_data = 10 }", "")))
	c := newIC(t, h, 40400, true)
	c.open()
	off := c.sISN - c.cookie
	cseq, sseq := c.cISN+1, c.sISN+1
	talk := func(cmd, rep string) {
		t.Helper()
		c.sTS++
		_, cli := c.exchange(portIn, c.fromServer(sseq, cseq, packet.ACK|packet.PSH, 300, tsOpt(c.sTS, c.cTS), []byte(rep)))
		one(t, "reply "+rep, cli, 1)
		sseq += uint32(len(rep))
		if cmd == "" {
			return
		}
		srv, _ := c.exchange(portOut, c.fromClient(cseq, sseq-off, packet.ACK|packet.PSH, 1000, c.clientTS(), []byte(cmd)))
		one(t, "command "+cmd, srv, 1)
		if string(srv[0].Payload()) != cmd {
			t.Errorf("%q reached the server as %q", cmd, srv[0].Payload())
		}
		cseq += uint32(len(cmd))
	}
	talk("HELO a\r\n", "220 x\r\n")
	talk("MAIL FROM:<a@b>\r\n", "250 x\r\n")
	talk("RCPT TO:<c@d>\r\n", "250 ok\r\n")
	talk("DATA\r\n", "250 ok\r\n")
	talk("", "354 go\r\n")
	srv, cli := c.exchange(portOut, c.fromClient(cseq, sseq-off, packet.ACK|packet.PSH, 1000, c.clientTS(), []byte("0123456789abcdef\r\n")))
	one(t, "RST to the server", srv, 1)
	one(t, "RST to the client", cli, 1)
	expectSeg(t, "RST to the server", srv[0], cseq, sseq, packet.RST|packet.ACK)
	expectSeg(t, "RST to the client", cli[0], sseq-off, cseq, packet.RST|packet.ACK)
	if live, _ := h.w.SessionCount(); live != 0 {
		t.Errorf("%d sessions after max-data", live)
	}
}

// An SMTP conversation through intercept: EXPN rewritten, a message
// delivered with its end of data recognised, the 250 after it reaching
// the client, all at translated numbers.
func TestInterceptSMTPMail(t *testing.T) {
	h := newHarness(t, compile(t, interceptSeed(t, "", "")))
	c := newIC(t, h, 40401, true)
	c.open()
	off := c.sISN - c.cookie
	cseq, sseq := c.cISN+1, c.sISN+1
	reply := func(rep string) {
		t.Helper()
		c.sTS++
		_, cli := c.exchange(portIn, c.fromServer(sseq, cseq, packet.ACK|packet.PSH, 300, tsOpt(c.sTS, c.cTS), []byte(rep)))
		one(t, "reply "+rep, cli, 1)
		expectSeg(t, "reply "+rep, cli[0], sseq-off, cseq, packet.ACK|packet.PSH)
		if string(cli[0].Payload()) != rep {
			t.Errorf("reply %q reached the client as %q", rep, cli[0].Payload())
		}
		sseq += uint32(len(rep))
	}
	send := func(cmd, want string) {
		t.Helper()
		srv, _ := c.exchange(portOut, c.fromClient(cseq, sseq-off, packet.ACK|packet.PSH, 1000, c.clientTS(), []byte(cmd)))
		one(t, "command "+cmd, srv, 1)
		expectSeg(t, "command "+cmd, srv[0], cseq, sseq, packet.ACK|packet.PSH)
		if string(srv[0].Payload()) != want {
			t.Errorf("%q reached the server as %q, want %q", cmd, srv[0].Payload(), want)
		}
		cseq += uint32(len(cmd))
	}
	reply("220 mail.example.com ESMTP\r\n")
	send("HELO a\r\n", "HELO a\r\n")
	reply("250 mail.example.com\r\n")
	send("EXPN root\r\n", "xxxxxxxxx\r\n")
	reply("502 5.5.2 Error: command not recognized\r\n")
	send("MAIL FROM:<a@b>\r\n", "MAIL FROM:<a@b>\r\n")
	reply("250 2.1.0 Ok\r\n")
	send("RCPT TO:<c@d>\r\n", "RCPT TO:<c@d>\r\n")
	reply("250 2.1.5 Ok\r\n")
	send("DATA\r\n", "DATA\r\n")
	reply("354 End data with <CR><LF>.<CR><LF>\r\n")
	send("Subject: x\r\n\r\nEXPN root\r\n", "Subject: x\r\n\r\nEXPN root\r\n")
	send(".\r\n", ".\r\n")
	reply("250 2.0.0 Ok: queued as 4F2A1\r\n")
	// Back in command mode: the end of data was recognised.
	send("EXPN x\r\n", "xxxxxx\r\n")
	reply("502 5.5.2 Error: command not recognized\r\n")
	if h.w.Stats.SMTPRewritten != 15 {
		t.Errorf("SMTPRewritten %d, want 15", h.w.Stats.SMTPRewritten)
	}
	if d := smtpDrops(h); len(d) != 0 {
		t.Errorf("drops %v", d)
	}
}

// show tcp intercept connections and statistics, in IOS's layout, with one
// connection waiting for the server and one joined.
func TestInterceptShow(t *testing.T) {
	h := newHarness(t, compile(t, interceptSeed(t, "", "")))
	a := newIC(t, h, 40500, true)
	a.open()
	h.advance(3 * time.Second)
	b := newIC(t, h, 40501, false)
	b.cookieSYN()
	b.cookieACK(1000, nil)
	h.advance(2 * time.Second)
	forger := &icConv{t: t, h: h, sport: 40502}
	forger.exchange(portOut, forger.fromClient(1, 2, packet.ACK, 1000, nil, nil)) // bad cookie
	var out bytes.Buffer
	control.ShowTCPInterceptConnections(&out, control.InterceptConns(h.dp))
	want := `Incomplete:
Client                Server                State    Create   Timeout  Mode
172.22.1.100:40501    172.22.1.110:25       SYNSENT  00:00:02 00:00:28 I

Established:
Client                Server                State    Create   Timeout  Mode
172.22.1.100:40500    172.22.1.110:25       ESTAB    00:00:05 00:59:55 I
`
	if out.String() != want {
		t.Errorf("show tcp intercept connections:\n%s\nwant:\n%s", out.String(), want)
	}
	out.Reset()
	st := control.InterceptStatsTotal(h.dp)
	control.ShowTCPInterceptStatistics(&out, h.dp.Ruleset(), control.InterceptConns(h.dp), &st, h.drops(dataplane.DropInterceptBadCookie))
	want = `intercepting new connections using access-list 120
1 incomplete, 1 established connections (total 2)
1 minute connection request rate 0 requests/sec
Cookies: 2 SYN/ACKs sent, 2 valid ACKs, 1 bad cookies dropped
Server side: 1 established, 0 refused (RST to client), 0 reset at both ends (synwait or thresholds), 0 SYNs resent
Client resets before the server answered: 0
`
	if out.String() != want {
		t.Errorf("show tcp intercept statistics:\n%s\nwant:\n%s", out.String(), want)
	}
	out.Reset()
	all := control.StatsTotal(h.dp)
	control.ShowStatistics(&out, h.dp, &all)
	for _, line := range []string{"TCP intercept: Cookies: 2 SYN/ACKs sent, 2 valid ACKs, 1 bad cookies dropped\n", "  TCP intercept: bad cookie "} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("show ip inspect statistics lacks %q:\n%s", line, out.String())
		}
	}
	// The request rate: 120 SYNs in a minute, read once the minute is over.
	for i := 0; i < 120; i++ {
		c := newIC(t, h, uint16(41000+i), false)
		c.cookieSYN()
	}
	h.advance(time.Minute)
	if st := control.InterceptStatsTotal(h.dp); st.LastMinute < 120 || st.LastMinute/60 < 2 {
		t.Errorf("last minute %d requests", st.LastMinute)
	}
}

// Aggressive mode (drop-mode oldest): above max_incomplete high, each new
// connection deletes the oldest one still waiting for the server, with
// RSTs to both ends; below low it stops.
func TestInterceptAggressive(t *testing.T) {
	h := newHarness(t, compile(t, interceptSeed(t, "", "max_incomplete = { low = 2, high = 3 }\n")))
	var cs []*icConv
	open := func(i int) *icConv {
		c := newIC(t, h, uint16(40600+i), false)
		c.cookieSYN()
		h.send(portOut, c.fromClient(c.cISN+1, c.cookie+1, packet.ACK, 1000, nil, nil))
		cs = append(cs, c)
		return c
	}
	for i := 0; i < 4; i++ {
		open(i)
		if len(h.out[portOut]) != 0 || len(h.out[portIn]) != 1 {
			t.Fatalf("connection %d: %d frames to the client, %d to the server", i, len(h.out[portOut]), len(h.out[portIn]))
		}
	}
	// 4 > 3 waiting: aggressive from the batch's end on, nothing deleted
	// until a new connection comes.
	if st := h.w.Intercept; st.Waiting != 4 || st.Aborted != 0 || !st.Aggressive {
		t.Fatalf("after 4: %+v", st)
	}
	// The fifth finds 4 > 3 waiting: connection 0 is reset at both ends.
	open(4)
	if len(h.out[portOut]) != 1 || len(h.out[portIn]) != 2 {
		t.Fatalf("fifth: %d frames to the client, %d to the server, want 1 and 2", len(h.out[portOut]), len(h.out[portIn]))
	}
	c0 := cs[0]
	decode(t, h.out[portOut][0])
	expectSeg(t, "RST to client 0", c0.view(h.out[portOut][0], smtpGlobalIP, smtpClientIP, 25, c0.sport), c0.cookie+1, c0.cISN+1, packet.RST|packet.ACK)
	if st := h.w.Intercept; st.Waiting != 4 || st.Aborted != 1 || !st.Aggressive {
		t.Errorf("after 5: %+v", st)
	}
	if live, _ := h.w.SessionCount(); live != 4 {
		t.Errorf("%d sessions, want 4", live)
	}
	// The servers of 1, 2, 3 answer: one waits; below low, the next
	// connection deletes nothing.
	for _, c := range cs[1:4] {
		c.join(29200, 29200)
	}
	open(5)
	if st := h.w.Intercept; st.Waiting != 2 || st.Aborted != 1 || st.Aggressive {
		t.Errorf("after the joins: %+v", st)
	}
}

// A cookie flood alone turns aggressive mode on (the one-minute rate
// counts every SYN/ACK) but leaves nothing waiting: legitimate
// connections waiting for their server, fewer than max_incomplete low,
// are not cut.
func TestInterceptAggressiveByRate(t *testing.T) {
	h := newHarness(t, compile(t, interceptSeed(t, "", "one_minute = { low = 10, high = 20 }\n")))
	for i := 0; i < 30; i++ {
		src := smtpIP4("198.51.100.0") + uint32(i)
		h.send(portOut, icWrite(smtpMAC(macUpstream), smtpMAC(macOut0), src, smtpGlobalIP, uint16(1024+i), 25, uint32(i)*7919, 0, packet.SYN, 1024, nil, nil))
	}
	for i := 0; i < 3; i++ {
		c := newIC(t, h, uint16(40800+i), false)
		c.cookieSYN()
		h.send(portOut, c.fromClient(c.cISN+1, c.cookie+1, packet.ACK, 1000, nil, nil))
		if len(h.out[portOut]) != 0 || len(h.out[portIn]) != 1 {
			t.Fatalf("connection %d: %d frames to the client, %d to the server, want 0 and 1", i, len(h.out[portOut]), len(h.out[portIn]))
		}
	}
	if st := h.w.Intercept; !st.Aggressive || st.Waiting != 3 || st.Aborted != 0 {
		t.Errorf("after the flood and 3 connections: %+v", st)
	}
}

// The problem intercept solves: a random-source SYN flood leaves no
// half-open session (each SYN is answered with a cookie), so CBAC's
// max-incomplete never deletes the legitimate connection, which opens
// and carries its SMTP session.
func TestInterceptSYNFlood(t *testing.T) {
	h := newHarness(t, compile(t, interceptSeed(t, "", "")))
	for i := 0; i < 600; i++ {
		src := smtpIP4("198.51.100.0") + uint32(i%250) + uint32(i/250)<<8
		f := icWrite(smtpMAC(macUpstream), smtpMAC(macOut0), src, smtpGlobalIP, uint16(1024+i), 25, uint32(i)*7919, 0, packet.SYN, 1024, nil, nil)
		out := h.send(portOut, f)
		if len(out[portOut]) != 1 || len(out[portIn]) != 0 {
			t.Fatalf("SYN %d: %d cookies, %d to the server", i, len(out[portOut]), len(out[portIn]))
		}
		if e := packet.Ethernet(out[portOut][0]); e.Dst() != smtpMAC(macUpstream) {
			t.Fatalf("cookie for %d sent to %v", i, e.Dst())
		}
	}
	if live, half := h.w.SessionCount(); live != 0 || half != 0 {
		t.Fatalf("%d sessions (%d half-open) after the flood", live, half)
	}
	c := newIC(t, h, 40700, true)
	c.open()
	c.sTS++
	_, cli := c.exchange(portIn, c.fromServer(c.sISN+1, c.cISN+1, packet.ACK|packet.PSH, 300, tsOpt(c.sTS, c.cTS), []byte("220 x\r\n")))
	one(t, "greeting", cli, 1)
	if h.w.Intercept.SYNACKs != 601 {
		t.Errorf("SYNACKs %d, want 601", h.w.Intercept.SYNACKs)
	}
}

// The intercept path allocates nothing: the whole exchange of a new
// connection (cookie, ACK and server SYN, join, data both ways, close by
// RST), repeated.
func TestInterceptAllocs(t *testing.T) {
	h := newHarness(t, compile(t, interceptSeed(t, "", "")))
	cnt := newCounter()
	var last packet.TCP
	keep := func(f []byte) { last = packet.TCP(packet.IPv4(f[packet.EthernetHeaderLen:]).Payload()) }
	buf := make([]byte, 2048)
	cm, om, sm, im := smtpMAC(macClient), smtpMAC(macOut0), smtpMAC(macMail), smtpMAC(macIn0)
	synOpt := synOpts(packet.SynOptions{MSS: 1460, WScale: -1})
	greet := []byte("220 x\r\n")
	port := uint16(20000)
	const cISN, sISN = 1000, 90000
	step := func() {
		h.w.Step(h.now)
		h.q[portOut].Drain(keep)
		h.q[portIn].Drain(cnt.fn[portIn])
	}
	run := func() {
		port++
		h.q[portOut].Inject(icWriteInto(buf, cm, om, smtpClientIP, smtpGlobalIP, port, 25, cISN, 0, packet.SYN, 1000, synOpt, nil))
		step()
		cookie := last.Seq()
		h.q[portOut].Inject(icWriteInto(buf, cm, om, smtpClientIP, smtpGlobalIP, port, 25, cISN+1, cookie+1, packet.ACK, 1000, nil, nil))
		step()
		h.q[portIn].Inject(icWriteInto(buf, sm, im, smtpServerIP, smtpClientIP, 25, port, sISN, cISN+1, packet.SYN|packet.ACK, 1000, synOpt, nil))
		step()
		h.q[portIn].Inject(icWriteInto(buf, sm, im, smtpServerIP, smtpClientIP, 25, port, sISN+1, cISN+1, packet.ACK|packet.PSH, 1000, nil, greet))
		step()
		if last.Seq() != cookie+1 {
			cnt.n[0] = -1 << 20 // the greeting did not reach the client translated
		}
		h.q[portOut].Inject(icWriteInto(buf, cm, om, smtpClientIP, smtpGlobalIP, port, 25, cISN+1, cookie+8, packet.RST|packet.ACK, 0, nil, nil))
		step()
	}
	const runs = 500
	allocs := testing.AllocsPerRun(runs, run)
	if allocs != 0 {
		t.Errorf("%v allocations per intercepted connection, want 0", allocs)
	}
	// Per connection to the server: SYN, ACK, RST.
	if want := 3 * (runs + 1); cnt.n[portIn] != want || cnt.n[0] < 0 {
		t.Errorf("%d frames to the server, want %d (drops %v)", cnt.n[portIn], want, smtpDrops(h))
	}
}

// A reload that removes [tcp_intercept] leaves the connections already
// joined translated to their end; new SYNs go to the server again.
func TestInterceptReloadOff(t *testing.T) {
	h := newHarness(t, compile(t, interceptSeed(t, "", "finrst_timeout = \"20s\"\n")))
	c := newIC(t, h, 40800, false)
	c.open()
	off := c.sISN - c.cookie
	if err := h.dp.Swap(compile(t, smtpSeed(t, ""))); err != nil {
		t.Fatal(err)
	}
	_, cli := c.exchange(portIn, c.fromServer(c.sISN+1, c.cISN+1, packet.ACK|packet.PSH, 300, nil, []byte("220 x\r\n")))
	one(t, "greeting after the reload", cli, 1)
	expectSeg(t, "greeting after the reload", cli[0], c.cookie+1, c.cISN+1, packet.ACK|packet.PSH)
	sseq := c.sISN + 8
	srv, _ := c.exchange(portOut, c.fromClient(c.cISN+1, sseq-off, packet.FIN|packet.ACK, 500, nil, nil))
	one(t, "client FIN", srv, 1)
	expectSeg(t, "client FIN", srv[0], c.cISN+1, sseq, packet.FIN|packet.ACK)
	_, cli = c.exchange(portIn, c.fromServer(sseq, c.cISN+2, packet.FIN|packet.ACK, 300, nil, nil))
	one(t, "server FIN", cli, 1)
	c.exchange(portOut, c.fromClient(c.cISN+2, sseq+1-off, packet.ACK, 500, nil, nil))
	h.advance(6 * time.Second) // the seed's finwait (5 s): finrst_timeout went with the reload
	if live, _ := h.w.SessionCount(); live != 0 {
		t.Errorf("%d sessions 6 s after the close", live)
	}
	if h.w.SplicesInUse() != 0 {
		t.Errorf("%d splice states left", h.w.SplicesInUse())
	}
	d := newIC(t, h, 40801, false)
	srv, cli = d.exchange(portOut, d.fromClient(d.cISN, 0, packet.SYN, 64240, d.synOptions(), nil))
	one(t, "SYN to the server without intercept", srv, 1)
	one(t, "cookies", cli, 0)
}

// icICMPError is a fragmentation-needed error from router src (MAC smac,
// arriving on port) to dst, quoting the first 20 bytes of the TCP segment
// qsrc:qsport -> qdst:qdport with seq, ack and flags.
func icICMPError(smac, dmac net.HardwareAddr, src, dst, qsrc, qdst uint32, qsport, qdport uint16, seq, ack uint32, flags uint8) []byte {
	b := make([]byte, 14+20+8+20+20)
	e := packet.Ethernet(b)
	e.SetDst(pmac(dmac))
	e.SetSrc(pmac(smac))
	e.SetType(packet.EtherTypeIPv4)
	packet.WriteIPv4Header(b[14:], src, dst, packet.ProtoICMP, 64, 8+40, 7)
	m := packet.ICMPv4(b[34:])
	m.SetType(packet.DestUnreachable)
	m.SetCode(4) // fragmentation needed
	packet.WriteIPv4Header(m[8:], qsrc, qdst, packet.ProtoTCP, 63, 20+1000, 9)
	q := packet.TCP(m[28:])
	q.SetSrcPort(qsport)
	q.SetDstPort(qdport)
	q.SetSeq(seq)
	q.SetAck(ack)
	q.SetDataOffset(20)
	q.SetFlags(flags)
	q.SetChecksum(0xbeef)
	m.SetChecksum(m.CalculateChecksum())
	return b
}

// ICMP errors about an intercepted connection reach each end with the
// quoted segment in that end's own numbers: a fragmentation-needed from
// the client's side about the server's data carries the server's
// sequence number (path MTU discovery works for the server); one from the
// server's side about the client's segment carries the acknowledgement
// number in the client's view; every checksum stays valid.
func TestInterceptICMPErrorQuote(t *testing.T) {
	h := newHarness(t, compile(t, interceptSeed(t, "", "")))
	c := newIC(t, h, 40500, true)
	c.open()
	off := c.sISN - c.cookie

	check := func(what string, out [][]byte, field int, want uint32) {
		t.Helper()
		if len(out) != 1 {
			t.Fatalf("%s: %d frames out, want 1", what, len(out))
		}
		decode(t, out[0])
		m := packet.ICMPv4(out[0][34:])
		if m.CalculateChecksum() != m.Checksum() {
			t.Errorf("%s: ICMP checksum %#x, want %#x", what, m.Checksum(), m.CalculateChecksum())
		}
		q := m[28:]
		if got := binary.BigEndian.Uint32(q[field:]); got != want {
			t.Errorf("%s: quoted field at %d is %d, want %d", what, field, got, want)
		}
		if got := packet.TCP(q).Checksum(); got == 0xbeef {
			t.Errorf("%s: the quoted TCP checksum was not updated with the number", what)
		}
	}
	// From the client's side (a router before the client), about the
	// server's segment as the client saw it.
	seq := c.cookie + 1 + 500
	f := icICMPError(macUpstream, macOut0, smtpIP4("172.22.1.1"), smtpGlobalIP, smtpGlobalIP, smtpClientIP, 25, c.sport, seq, c.cISN+1, packet.ACK)
	check("to the server", h.send(portOut, f)[portIn], 4, seq+off)
	// From the server's side, about the client's segment as the server saw
	// it: its ack in the server's numbers goes back to the client's view.
	ack := c.sISN + 1 + 700
	f = icICMPError(macMail, macIn0, smtpIP4("10.10.10.1"), smtpServerIP, smtpClientIP, smtpServerIP, c.sport, 25, c.cISN+1, ack, packet.ACK)
	check("to the client", h.send(portIn, f)[portOut], 8, ack-off)
}
