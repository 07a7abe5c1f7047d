package dataplane_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"cbac/dataplane"
	"cbac/packet"
)

// Inspected-session state lifetime (docs/behaviour.md "Sessions and timers"): SMTP state lives while the
// connection is open and is released when both FINs are acknowledged or
// on an RST, while the session waits out finwait; nothing is left counted
// or held on any path a session ends by.

const (
	harnessFrames = 4096 // newHarness
	finwait       = 5 * time.Second
	synwait       = 30 * time.Second
)

var mailServer = ip4("10.10.10.2")

// noLeaks checks the worker against what it should hold with live
// sessions in its table, half of them half-open (every half-open session
// of these tests is TCP to the mail server) and inspected of them with
// SMTP state: its half-open count and admission control's (shared, and
// the mail server's), the SMTP pool (every state in use or free), no
// frame held without SMTP state, every UMEM frame accounted for.
func noLeaks(t testing.TB, h *harness, when string, live, half, inspected int) {
	t.Helper()
	if l, ho := h.w.SessionCount(); l != live || ho != half {
		t.Errorf("%s: %d sessions, %d half-open; want %d, %d", when, l, ho, live, half)
	}
	if shared, host := h.w.AdmissionHalfOpen(mailServer); shared != half || host != half {
		t.Errorf("%s: admission counts %d half-open, %d to the mail server; want %d", when, shared, host, half)
	}
	inUse, free, allocated := h.w.SMTPPool()
	if inUse != inspected || inUse+free != allocated {
		t.Errorf("%s: SMTP states %d in use, %d free, %d allocated; want %d in use, the rest free", when, inUse, free, allocated, inspected)
	}
	if held, parked := h.w.FramesHeld(); inspected == 0 && (held != 0 || parked != 0) {
		t.Errorf("%s: %d frames held (%d parked) with no SMTP state", when, held, parked)
	}
	if n := h.w.FramesAccounted(h.q); n != harnessFrames {
		t.Errorf("%s: %d frames accounted for, want %d", when, n, harnessFrames)
	}
}

// afterFinwait lets finwait pass (in steps, so that expiry runs) and
// checks that nothing is left.
func afterFinwait(t testing.TB, h *harness) {
	t.Helper()
	for i := 0; i < 20; i++ {
		h.advance(finwait / 10)
	}
	noLeaks(t, h, "after finwait", 0, 0, 0)
}

// finClose closes c: the client's FIN, the server's FIN acknowledging it,
// the client's last ACK, each checked on the other side. The SMTP state
// stays until the last ACK and is released by it; the session stays.
func finClose(t testing.TB, c *smtpConv) {
	t.Helper()
	inUse := func() int { n, _, _ := c.h.w.SMTPPool(); return n }
	before := inUse()
	srv, _ := c.exchange(portOut, c.fromClient(c.cseq, c.sseq, packet.FIN|packet.ACK, 65535, -1, nil))
	if len(srv) != 1 {
		t.Fatalf("client FIN not forwarded; drops %v", smtpDrops(c.h))
	}
	c.checkToServer(srv[0], c.cseq, packet.FIN|packet.ACK, []byte{})
	c.cseq++
	_, cli := c.exchange(portIn, c.fromServer(c.sseq, c.cseq, packet.FIN|packet.ACK, 65535, -1, nil))
	if len(cli) != 1 {
		t.Fatalf("server FIN not forwarded; drops %v", smtpDrops(c.h))
	}
	c.checkToClient(cli[0], c.sseq, packet.FIN|packet.ACK, []byte{})
	c.sseq++
	if n := inUse(); n != before {
		t.Fatalf("SMTP states in use %d before the last ACK, want %d: released too early", n, before)
	}
	srv, _ = c.exchange(portOut, c.fromClient(c.cseq, c.sseq, packet.ACK, 65535, -1, nil))
	if len(srv) != 1 {
		t.Fatalf("last ACK not forwarded; drops %v", smtpDrops(c.h))
	}
	if n := inUse(); n != before-1 {
		t.Fatalf("SMTP states in use %d after the last ACK, want %d", n, before-1)
	}
}

// mail runs a whole transaction on c (in command mode after the greeting)
// with a body large enough for its frame to be held (hold.go), and QUIT.
func mail(c *smtpConv) {
	c.t.Helper()
	for _, l := range []struct{ cmd, rep string }{
		{"HELO client.example.org\r\n", "250 mail.example.com\r\n"},
		{"MAIL FROM:<a@example.org>\r\n", "250 2.1.0 Ok\r\n"},
		{"RCPT TO:<root@example.com>\r\n", "250 2.1.5 Ok\r\n"},
		{"DATA\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n"},
	} {
		c.send(l.cmd, l.cmd)
		c.reply(l.rep)
	}
	body := strings.Repeat("Subject: x\r\n", 60)
	c.send(body, body)
	c.send(".\r\n", ".\r\n")
	c.reply("250 2.0.0 Ok: queued\r\n")
	c.send("QUIT\r\n", "QUIT\r\n")
	c.reply("221 2.0.0 Bye\r\n")
}

// The state is released by the last ACK of the close; the session stays in
// `show ip inspect sessions` as SIS_CLOSING for finwait and still passes
// the peers' retransmitted FIN and late ACK and an RST in the window, but
// not data: new bytes after the close never reach the server, inspected or
// not. After finwait nothing is left.
func TestSMTPStateReleasedAtClose(t *testing.T) {
	h := newHarness(t, compile(t, smtpSeed(t, "")))
	c := openSMTP(t, h, 40300, -1)
	c.reply("220 mail.example.com ESMTP\r\n")
	mail(c)
	if n := h.w.FramesEverHeld(); n == 0 {
		t.Fatal("the body's frame was not held: the test misses the hold path")
	}
	noLeaks(t, h, "open", 1, 0, 1)
	finClose(t, c)
	noLeaks(t, h, "closed", 1, 0, 0)
	ss := h.w.Sessions(nil)
	if len(ss) != 1 || ss[0].State != "SIS_CLOSING" || !ss[0].Closing {
		t.Fatalf("sessions after the close %+v, want one SIS_CLOSING", ss)
	}

	// The server did not get the last ACK: it sends its FIN again.
	_, cli := c.exchange(portIn, c.fromServer(c.sseq-1, c.cseq, packet.FIN|packet.ACK, 65535, -1, nil))
	if len(cli) != 1 {
		t.Fatalf("retransmitted server FIN not forwarded; drops %v", smtpDrops(h))
	}
	c.checkToClient(cli[0], c.sseq-1, packet.FIN|packet.ACK, []byte{})
	srv, _ := c.exchange(portOut, c.fromClient(c.cseq, c.sseq, packet.ACK, 65535, -1, nil))
	if len(srv) != 1 {
		t.Fatalf("late ACK not forwarded; drops %v", smtpDrops(h))
	}
	// New data from the client: dropped by TCP tracking, not forwarded.
	for _, b := range []string{"EXPN root\r\n", "MAIL FROM:<x@y>\r\n"} {
		before := h.drops(dataplane.DropTCPInvalid)
		srv, cli := c.exchange(portOut, c.fromClient(c.cseq, c.sseq, packet.ACK|packet.PSH, 65535, -1, []byte(b)))
		if len(srv) != 0 || len(cli) != 0 {
			t.Errorf("data %q after the close: %d frames to the server, %d to the client", b, len(srv), len(cli))
		}
		if n := h.drops(dataplane.DropTCPInvalid) - before; n != 1 {
			t.Errorf("data %q after the close: %d drops as %q, want 1; drops %v", b, n, dataplane.DropTCPInvalid, smtpDrops(h))
		}
	}
	// An RST in the window passes (the closing client's stack answers a
	// stray segment with one).
	srv, _ = c.exchange(portOut, c.fromClient(c.cseq, 0, packet.RST, 0, -1, nil))
	if len(srv) != 1 {
		t.Errorf("RST after the close not forwarded; drops %v", smtpDrops(h))
	}
	noLeaks(t, h, "after the stray segments", 1, 0, 0)
	afterFinwait(t, h)
}

// An RST ends the inspection at once: the state is released and the
// frames its guard held go back to the pool (before the server ACKed
// them); the session waits out finwait and drops client data meanwhile.
func TestSMTPStateReleasedAtReset(t *testing.T) {
	for _, from := range []string{"server", "client"} {
		t.Run(from, func(t *testing.T) {
			h := newHarness(t, compile(t, smtpSeed(t, "")))
			c := openSMTP(t, h, 40301, -1)
			c.toData()
			seg := bytes.Repeat([]byte("0123456789abcdef"), 40)
			for i := 0; i < 3; i++ {
				c.send(string(seg), string(seg))
			}
			h.step() // the transmissions complete: the frames are parked
			if held, parked := h.w.FramesHeld(); held != 3 || parked != 3 {
				t.Fatalf("held %d, parked %d; want 3, 3", held, parked)
			}
			var srv, cli [][]byte
			if from == "server" {
				srv, cli = c.exchange(portIn, c.fromServer(c.sseq, 0, packet.RST, 0, -1, nil))
			} else {
				srv, cli = c.exchange(portOut, c.fromClient(c.cseq, 0, packet.RST, 0, -1, nil))
			}
			if len(srv)+len(cli) != 1 {
				t.Fatalf("RST: %d frames to the server, %d to the client; drops %v", len(srv), len(cli), smtpDrops(h))
			}
			noLeaks(t, h, "reset", 1, 0, 0)
			before := smtpDrops(h)
			srv, _ = c.exchange(portOut, c.fromClient(c.cseq, c.sseq, packet.ACK|packet.PSH, 65535, -1, []byte("EXPN root\r\n")))
			if len(srv) != 0 {
				t.Errorf("client data after the RST forwarded: %q", srv)
			}
			if after := smtpDrops(h); fmt.Sprint(after) == fmt.Sprint(before) {
				t.Errorf("client data after the RST not counted as a drop: %v", after)
			}
			afterFinwait(t, h)
		})
	}
}

// dataplane.inspected_sessions caps the SMTP sessions inspected at once.
// At the cap a new SMTP session is refused, counted and logged at most
// once a second (the refusals in between counted in the next line); a
// session that closed frees its place at once, while it waits out finwait.
func TestInspectedSessionsLimit(t *testing.T) {
	r := &run{harness: newHarness(t, compile(t, append(smtpSeed(t, ""), "\n[dataplane]\ninspected_sessions = 1\n"...)))}
	h := r.harness
	a := openSMTP(t, h, 40310, -1)
	a.reply("220 mail.example.com ESMTP\r\n")
	r.takeLog()
	syn := func(sport uint16) int {
		b := &smtpConv{t: t, h: h, sport: sport, buf: make([]byte, 2048)}
		out := r.send(portOut, b.fromClient(smtpClientISN, 0, packet.SYN, 65535, -1, nil))
		return len(out[portIn])
	}
	for i, sport := range []uint16{40311, 40312, 40313} {
		if n := syn(sport); n != 0 {
			t.Fatalf("SYN %d beyond the cap forwarded", i)
		}
	}
	if n := r.drops(dataplane.DropSMTPPoolFull); n != 3 {
		t.Errorf("%d drops %q, want 3", n, dataplane.DropSMTPPoolFull)
	}
	want := "%FW-4-INSPECT_SESSIONS_MAX: Inspected sessions at their maximum (1 on worker 0, dataplane.inspected_sessions), 1 new SMTP session refused"
	wantLog(t, r, "3 refusals in a second", want)
	noLeaks(t, h, "3 refused", 1, 0, 1)
	r.advance(time.Second)
	wantLog(t, r, "a second later", strings.Replace(want, "1 new SMTP session refused", "2 new SMTP sessions refused", 1))
	r.advance(time.Second)
	wantLog(t, r, "nothing refused since")

	mail(a)
	finClose(t, a)
	b := openSMTP(t, h, 40314, -1) // a waits out finwait; its state is free
	noLeaks(t, h, "a closed, b open", 2, 0, 1)
	b.reply("220 mail.example.com ESMTP\r\n")
	mail(b)
	finClose(t, b)
	if n := r.drops(dataplane.DropSMTPPoolFull); n != 3 {
		t.Errorf("%d drops %q, want still 3", n, dataplane.DropSMTPPoolFull)
	}
	afterFinwait(t, h)
}

// A full session table refuses new sessions, counts each refusal and logs
// %FW-4-SESSION_TABLE_FULL at most once a second per worker with the
// refusals since the last line; existing sessions go on.
func TestSessionTableFullLogged(t *testing.T) {
	r := &run{harness: newHarness(t, compile(t, append(smtpSeed(t, ""), "\n[dataplane]\nmax_sessions = 4\n"...)))}
	h := r.harness
	var convs []*smtpConv
	for i := 0; i < 4; i++ {
		convs = append(convs, openSMTP(t, h, uint16(40320+i), -1))
	}
	r.takeLog()
	syn := func(sport uint16) int {
		b := &smtpConv{t: t, h: h, sport: sport, buf: make([]byte, 2048)}
		return len(r.send(portOut, b.fromClient(smtpClientISN, 0, packet.SYN, 65535, -1, nil))[portIn])
	}
	want := "%FW-4-SESSION_TABLE_FULL: Session table full (4 sessions on worker 0, dataplane.max_sessions), 1 new session refused"
	if syn(40330) != 0 {
		t.Fatal("SYN beyond the table forwarded")
	}
	wantLog(t, r, "first refusal", want)
	for i := 0; i < 3; i++ {
		syn(uint16(40331 + i))
	}
	wantLog(t, r, "3 more within the second")
	if n := r.drops(dataplane.DropSessionTableFull); n != 4 {
		t.Errorf("%d drops %q, want 4", n, dataplane.DropSessionTableFull)
	}
	noLeaks(t, h, "table full", 4, 0, 4)
	r.advance(time.Second)
	wantLog(t, r, "a second later", strings.Replace(want, "1 new session refused", "3 new sessions refused", 1))
	for _, c := range convs {
		c.reply("220 mail.example.com ESMTP\r\n")
		mail(c)
		finClose(t, c)
	}
	noLeaks(t, h, "all closed", 4, 0, 0)
	afterFinwait(t, h)
}

// A refusal after admission (the table full, the SMTP cap) leaves no
// half-open count behind, in the worker or in admission control: `show ip
// inspect statistics` once showed half-open sessions for ever.
func TestRefusedSYNsLeaveNoHalfOpen(t *testing.T) {
	for _, tc := range []struct{ name, dataplane string }{
		{"table full", "max_sessions = 2"},
		{"inspected sessions cap", "inspected_sessions = 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, compile(t, append(smtpSeed(t, ""), "\n[dataplane]\n"+tc.dataplane+"\n"...)))
			for i := 0; i < 22; i++ {
				c := &smtpConv{t: t, h: h, sport: uint16(40340 + i), buf: make([]byte, 2048)}
				fwd := len(h.send(portOut, c.fromClient(smtpClientISN, 0, packet.SYN, 65535, -1, nil))[portIn])
				if want := i < 2; (fwd == 1) != want {
					t.Fatalf("SYN %d forwarded %v, want %v", i, fwd == 1, want)
				}
			}
			noLeaks(t, h, "2 half-open, 20 refused", 2, 2, 2)
			for i := 0; i < 4; i++ {
				h.advance(synwait / 3)
			}
			noLeaks(t, h, "after synwait", 0, 0, 0)
		})
	}
}

// Aggressive mode and the per-host limit delete half-open sessions to
// admit new ones: their SMTP states and counts go with them.
func TestHalfOpenDeletionReleases(t *testing.T) {
	for _, tc := range []struct {
		name       string
		repl       []string
		syns, half int // SYNs sent, half-open left
		forwarded  int
		deleted    int // half-open sessions deleted, each reset on both ends
	}{
		{"max-incomplete", []string{seedMaxIncomplete, `max_incomplete = { low = 2, high = 3 }`, seedOneMinute, `one_minute = { low = 90000, high = 100000 }`}, 6, 3, 6, 3},
		{"host, block-time 0", []string{`tcp_max_incomplete_host = 50`, `tcp_max_incomplete_host = 3`}, 6, 3, 6, 3},
		{"host, block-time 1m", []string{`tcp_max_incomplete_host = 50`, `tcp_max_incomplete_host = 3`, seedBlockTime, `tcp_block_time = "1m"`}, 6, 0, 3, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, compile(t, seedVariant(t, "", tc.repl...)))
			fwd, toServer, toClient := 0, 0, 0
			for i := 0; i < tc.syns; i++ {
				c := &smtpConv{t: t, h: h, sport: uint16(40350 + i), buf: make([]byte, 2048)}
				out := h.send(portOut, c.fromClient(smtpClientISN, 0, packet.SYN, 65535, -1, nil))
				syns, rsts := splitRST(out[portIn])
				_, back := splitRST(out[portOut])
				fwd += len(syns)
				toServer += len(rsts)
				toClient += len(back)
			}
			if fwd != tc.forwarded {
				t.Errorf("%d SYNs forwarded, want %d; drops %v", fwd, tc.forwarded, smtpDrops(h))
			}
			if toServer != tc.deleted || toClient != tc.deleted {
				t.Errorf("RSTs %d to the server, %d to clients; want %d each", toServer, toClient, tc.deleted)
			}
			noLeaks(t, h, "after the SYNs", tc.half, tc.half, tc.half)
			for i := 0; i < 4; i++ {
				h.advance(synwait / 3)
			}
			noLeaks(t, h, "after synwait", 0, 0, 0)
			if n := h.w.Stats.HalfOpenResets[dataplane.ResetSynWait]; n != uint64(tc.half) {
				t.Errorf("%d sessions reset at synwait expiry, want %d", n, tc.half)
			}
		})
	}
}

// A SYN reusing the 5-tuple of a closed session that waits out finwait
// replaces it (forwardSession): the old one, already without SMTP state,
// is deleted; the new one has its own.
func TestSMTPSynReusesClosedTuple(t *testing.T) {
	h := newHarness(t, compile(t, smtpSeed(t, "")))
	c := openSMTP(t, h, 40360, -1)
	c.reply("220 mail.example.com ESMTP\r\n")
	mail(c)
	finClose(t, c)
	noLeaks(t, h, "closed", 1, 0, 0)
	h.advance(time.Second)
	c2 := &smtpConv{t: t, h: h, sport: 40360, cseq: smtpClientISN + 100000, sseq: smtpServerISN + 100000, wscale: -1, buf: make([]byte, 2048)}
	srv, _ := c2.exchange(portOut, c2.fromClient(c2.cseq, 0, packet.SYN, 65535, -1, nil))
	if len(srv) != 1 {
		t.Fatalf("SYN on the closed tuple not forwarded; drops %v", smtpDrops(h))
	}
	noLeaks(t, h, "new SYN", 1, 1, 1)
	c2.cseq++
	c2.exchange(portIn, c2.fromServer(c2.sseq, c2.cseq, packet.SYN|packet.ACK, 65535, -1, nil))
	c2.sseq++
	c2.exchange(portOut, c2.fromClient(c2.cseq, c2.sseq, packet.ACK, 65535, -1, nil))
	c2.reply("220 mail.example.com ESMTP\r\n")
	c2.send("EXPN root\r\n", "xxxxxxxxx\r\n") // inspected
	c2.reply("502 5.5.2 Error\r\n")
	noLeaks(t, h, "new session established", 1, 0, 1)
	finClose(t, c2)
	afterFinwait(t, h)
}

// clear ip inspect session (ClearSession) ends sessions in every state:
// half-open, in data mode with held frames, closed and waiting.
func TestClearSessionReleases(t *testing.T) {
	h := newHarness(t, compile(t, smtpSeed(t, "")))
	closed := openSMTP(t, h, 40370, -1)
	closed.reply("220 mail.example.com ESMTP\r\n")
	mail(closed)
	finClose(t, closed)
	data := openSMTP(t, h, 40371, -1)
	data.toData()
	data.send(strings.Repeat("x", 1000), strings.Repeat("x", 1000))
	half := &smtpConv{t: t, h: h, sport: 40372, buf: make([]byte, 2048)}
	half.exchange(portOut, half.fromClient(smtpClientISN, 0, packet.SYN, 65535, -1, nil))
	h.step()
	if held, _ := h.w.FramesHeld(); held != 1 {
		t.Fatalf("%d frames held, want 1", held)
	}
	noLeaks(t, h, "before clear", 3, 1, 2)
	if n := h.w.ClearSession(0, true); n != 3 {
		t.Fatalf("cleared %d sessions, want 3", n)
	}
	noLeaks(t, h, "after clear", 0, 0, 0)
}

// A reload (Dataplane.Swap) keeps sessions and their state; a changed
// inspected_sessions applies to new sessions; everything ends as usual.
func TestReloadKeepsStateAccounting(t *testing.T) {
	h := newHarness(t, compile(t, append(smtpSeed(t, ""), "\n[dataplane]\ninspected_sessions = 2\n"...)))
	a := openSMTP(t, h, 40380, -1)
	a.toData()
	a.send(strings.Repeat("y", 800), strings.Repeat("y", 800))
	half := &smtpConv{t: t, h: h, sport: 40381, buf: make([]byte, 2048)}
	half.exchange(portOut, half.fromClient(smtpClientISN, 0, packet.SYN, 65535, -1, nil))
	noLeaks(t, h, "before reload", 2, 1, 2)
	if err := h.dp.Swap(compile(t, append(smtpSeed(t, ""), "\n[dataplane]\ninspected_sessions = 3\n"...))); err != nil {
		t.Fatal(err)
	}
	h.step()
	noLeaks(t, h, "after reload", 2, 1, 2)
	b := openSMTP(t, h, 40382, -1) // the third, admitted by the new cap
	c := &smtpConv{t: t, h: h, sport: 40383, buf: make([]byte, 2048)}
	if n := len(h.send(portOut, c.fromClient(smtpClientISN, 0, packet.SYN, 65535, -1, nil))[portIn]); n != 0 {
		t.Error("a fourth SMTP session admitted with inspected_sessions = 3")
	}
	a.send(".\r\n", ".\r\n")
	a.reply("250 2.0.0 Ok\r\n")
	a.send("QUIT\r\n", "QUIT\r\n")
	a.reply("221 Bye\r\n")
	finClose(t, a)
	b.reply("220 mail.example.com ESMTP\r\n")
	mail(b)
	finClose(t, b)
	noLeaks(t, h, "a and b closed", 3, 1, 1)
	for i := 0; i < 4; i++ {
		h.advance(synwait / 3)
	}
	noLeaks(t, h, "after synwait", 0, 0, 0)
}

// Max-data resets the session (resetSession): state, held frames and
// counts go with it.
func TestMaxDataResetReleases(t *testing.T) {
	h := newHarness(t, compile(t, smtpSeed(t, "smtp = { max_data = 1500 }")))
	c := openSMTP(t, h, 40390, -1)
	c.toData()
	c.send(strings.Repeat("z", 1000), strings.Repeat("z", 1000))
	srv, cli := c.exchange(portOut, c.fromClient(c.cseq, c.sseq, packet.ACK|packet.PSH, 65535, -1, bytes.Repeat([]byte("z"), 1000)))
	if len(srv) != 1 || len(cli) != 1 || h.drops(dataplane.DropSMTPMaxData) != 1 {
		t.Fatalf("max-data: %d frames to the server, %d to the client; drops %v", len(srv), len(cli), smtpDrops(h))
	}
	h.step()
	noLeaks(t, h, "after the reset", 0, 0, 0)
}

// Expiry ends sessions in every state: half-open at synwait, established
// and idle (holding frames) at the idle timeout.
func TestExpiryReleases(t *testing.T) {
	h := newHarness(t, compile(t, smtpSeed(t, "smtp = { max_data = 20000000, timeout = \"60s\" }")))
	c := openSMTP(t, h, 40395, -1)
	c.toData()
	c.send(strings.Repeat("w", 700), strings.Repeat("w", 700))
	half := &smtpConv{t: t, h: h, sport: 40396, buf: make([]byte, 2048)}
	half.exchange(portOut, half.fromClient(smtpClientISN, 0, packet.SYN, 65535, -1, nil))
	h.step()
	noLeaks(t, h, "before expiry", 2, 1, 2)
	h.advance(synwait + time.Second)
	noLeaks(t, h, "after synwait", 1, 0, 1)
	h.advance(time.Minute)
	noLeaks(t, h, "after the idle timeout", 0, 0, 0)
}

// A SYN that tcpstate.Conn.Init refuses creates no session and leaves no
// count (forwardNew lets only valid SYNs reach createSession, so the test
// calls it directly).
func TestInitFailureLeavesNothing(t *testing.T) {
	h := newHarness(t, compile(t, smtpSeed(t, "")))
	h.step()
	c := &smtpConv{t: t, h: h, sport: 40398, buf: make([]byte, 2048)}
	for _, flags := range []uint8{packet.SYN | packet.ACK, packet.SYN | packet.FIN, packet.ACK} {
		if r := h.w.CreateSession(c.fromClient(smtpClientISN, 0, flags, 65535, -1, nil), portOut); r == dataplane.DropNone {
			t.Errorf("flags %#x: session created", flags)
		}
		noLeaks(t, h, fmt.Sprintf("flags %#x", flags), 0, 0, 0)
	}
	if r := h.w.CreateSession(c.fromClient(smtpClientISN, 0, packet.SYN, 65535, -1, nil), portOut); r != dataplane.DropNone {
		t.Fatalf("a SYN refused: %v", r)
	}
	noLeaks(t, h, "a SYN", 1, 1, 1)
}

// 100,000 SMTP sessions, each a whole mail (handshake, greeting, HELO,
// MAIL, DATA/354, a body held by reference, ".", 250, QUIT/221, FIN both
// ways, last ACK), 10,000 per virtual second through one worker with
// finwait 5 s: about 50,000 closed sessions wait out finwait at any time,
// every one of them without SMTP state, so no SYN is refused and the pool
// never grows past what the open connections need. After finwait nothing
// is left. (Before states were released at close, a pool of 4096 refused
// SMTP sessions beyond about 800 a second.) The one-minute and per-host
// thresholds are raised: 10,000 sessions a second, 50 opened at once to one
// server, would turn aggressive mode on, which deletes half-open sessions
// by design. It takes about 0.5 s, 20 s of CPU under -race; -short runs
// 10,000 sessions.
func TestSMTPSessionsAtScale(t *testing.T) {
	const (
		perGroup = 50 // sessions run in lockstep, one frame each per batch
		rate     = 10000
	)
	total := 100000
	if testing.Short() {
		total = 10000
	}
	toml := seedVariant(t, "\n[dataplane]\nmax_sessions = 131072\n",
		seedOneMinute, `one_minute = { low = 9000000, high = 10000000 }`,
		`tcp_max_incomplete_host = 50`, `tcp_max_incomplete_host = 250`)
	h := newHarness(t, compile(t, toml))
	h.step()
	body := []byte(strings.Repeat("Subject: scale\r\n", 40)) // 640 bytes: held, not copied
	type stage struct {
		client  bool
		flags   uint8
		payload []byte
	}
	const psh = packet.ACK | packet.PSH
	script := []stage{
		{true, packet.SYN, nil},
		{false, packet.SYN | packet.ACK, nil},
		{true, packet.ACK, nil},
		{false, psh, []byte("220 mail.example.com ESMTP\r\n")},
		{true, psh, []byte("HELO client.example.org\r\n")},
		{false, psh, []byte("250 mail.example.com\r\n")},
		{true, psh, []byte("MAIL FROM:<a@example.org>\r\n")},
		{false, psh, []byte("250 2.1.0 Ok\r\n")},
		{true, psh, []byte("DATA\r\n")},
		{false, psh, []byte("354 End data with <CR><LF>.<CR><LF>\r\n")},
		{true, psh, body},
		{true, psh, []byte(".\r\n")},
		{false, psh, []byte("250 2.0.0 Ok: queued\r\n")},
		{true, psh, []byte("QUIT\r\n")},
		{false, psh, []byte("221 2.0.0 Bye\r\n")},
		{true, packet.FIN | packet.ACK, nil},
		{false, packet.FIN | packet.ACK, nil},
		{true, packet.ACK, nil},
	}
	tick := int64(time.Second) / rate * perGroup / int64(len(script))
	// Each stage's frame is written once, then per session copied and
	// given its port, sequence and acknowledgment numbers with checksum
	// updates (RFC 1624), which keeps the test fast under -race.
	cliFlow := flow{srcMAC: pmac(macClient), dstMAC: pmac(macOut0), src: ip4("172.22.1.100"), dst: ip4("172.22.1.110"), sport: 1024, dport: 25}
	srvFlow := cliFlow.reverse(ip4("10.10.10.2"), ip4("172.22.1.100"), pmac(macMail), pmac(macIn0))
	templates := make([][]byte, len(script))
	for k, st := range script {
		f := &srvFlow
		if st.client {
			f = &cliFlow
		}
		templates[k] = writeTCP(make([]byte, 2048), f, 0, 0, st.flags, st.payload)
	}
	var (
		sport      [perGroup]uint16
		cseq, sseq [perGroup]uint32
		buf        [2048]byte
		evs        = make([]dataplane.Event, 0, 4096)
		maxInUse   int
		frames     int
	)
	drain := func(port int) int {
		return h.q[port].Drain(func([]byte) {})
	}
	for g := 0; g < total/perGroup; g++ {
		for i := range sport {
			n := g*perGroup + i
			sport[i] = uint16(1024 + n%64000)
			cseq[i], sseq[i] = uint32(n)*7919, uint32(n)*104729
		}
		for k, st := range script {
			in, out := portIn, portOut
			if st.client {
				in, out = portOut, portIn
			}
			for i := range sport {
				f := buf[:len(templates[k])]
				copy(f, templates[k])
				tc := packet.TCP(f[packet.EthernetHeaderLen+20:])
				if st.client {
					tc.SetSrcPortWithChecksum(sport[i])
					tc.SetSeqWithChecksum(cseq[i])
					if st.flags != packet.SYN {
						tc.SetAckWithChecksum(sseq[i])
					}
					cseq[i] += uint32(len(st.payload))
					if st.flags&(packet.SYN|packet.FIN) != 0 {
						cseq[i]++
					}
				} else {
					tc.SetDstPortWithChecksum(sport[i])
					tc.SetSeqWithChecksum(sseq[i])
					tc.SetAckWithChecksum(cseq[i])
					sseq[i] += uint32(len(st.payload))
					if st.flags&(packet.SYN|packet.FIN) != 0 {
						sseq[i]++
					}
				}
				if !h.q[in].Inject(f) {
					t.Fatalf("session %d, stage %d: inject failed", g*perGroup+i, k)
				}
			}
			h.now += tick
			h.w.Step(h.now)
			if got, back := drain(out), drain(in); got != perGroup || back != 0 {
				t.Fatalf("group %d, stage %d: %d of %d frames forwarded, %d sent back; drops %v",
					g, k, got, perGroup, back, nonZero(h.w.Stats.Drops[:]))
			}
			frames += perGroup
			evs = h.dp.Events(0, evs[:0])
			for _, e := range evs {
				if e.Kind == dataplane.EvTableFull || e.Kind == dataplane.EvInspectFull {
					t.Fatalf("group %d, stage %d: %s", g, k, messages(h.dp.Ruleset(), evs[:1]))
				}
			}
			if n, _, _ := h.w.SMTPPool(); n > maxInUse {
				maxInUse = n
			}
		}
	}
	live, _ := h.w.SessionCount()
	_, _, allocated := h.w.SMTPPool()
	t.Logf("%d sessions, %d frames; %d sessions waiting out finwait at the end; at most %d SMTP states in use, %d allocated",
		total, frames, live, maxInUse, allocated)
	if d := nonZero(h.w.Stats.Drops[:]); len(d) != 0 {
		t.Errorf("drops %v", d)
	}
	if n := h.w.Stats.SMTPRewritten; n != 0 {
		t.Errorf("%d bytes rewritten: the body was not taken as message data", n)
	}
	if maxInUse > perGroup || allocated > 256 {
		t.Errorf("at most %d SMTP states in use, %d allocated; want at most %d and one chunk", maxInUse, allocated, perGroup)
	}
	// finwait runs from each close: the sessions closed in its last 5 s
	// are left, give or take a group.
	if want := min(total, rate*int(finwait/time.Second)); live < want-perGroup || live > want+perGroup {
		t.Errorf("%d sessions at the end, want about %d (those closed within finwait)", live, want)
	}
	noLeaks(t, h, "all closed", live, 0, 0)
	for i := 0; live > 0 && i < 1000; i++ {
		h.advance(10 * time.Millisecond)
		evs = h.dp.Events(0, evs[:0])
		live, _ = h.w.SessionCount()
	}
	noLeaks(t, h, "after finwait", 0, 0, 0)
}

// The pool grows between batches by chunks, keeping free as many states as
// one batch can create: full batches of SMTP SYNs (64 a batch, beyond the
// first chunk of 256 states) never find it empty, and it grows only as
// far as the sessions need.
func TestSMTPPoolGrowsAhead(t *testing.T) {
	toml := seedVariant(t, smallTable,
		seedOneMinute, `one_minute = { low = 9000000, high = 10000000 }`,
		seedMaxIncomplete, `max_incomplete = { low = 9000000, high = 10000000 }`,
		`tcp_max_incomplete_host = 50`, `tcp_max_incomplete_host = 250`)
	h := newHarness(t, compile(t, toml))
	h.step()
	_, _, first := h.w.SMTPPool()
	const batches, batch = 30, 64
	buf := make([]byte, 2048)
	// Each batch of SYNs is answered and acknowledged before the next (at
	// most 250 half-open sessions per server).
	for b := 0; b < batches; b++ {
		for k, st := range []struct {
			in, out int
			flags   uint8
		}{{portOut, portIn, packet.SYN}, {portIn, portOut, packet.SYN | packet.ACK}, {portOut, portIn, packet.ACK}} {
			for i := 0; i < batch; i++ {
				c := &smtpConv{t: t, h: h, sport: uint16(10000 + b*batch + i), buf: buf}
				var f []byte
				switch k {
				case 0:
					f = c.fromClient(smtpClientISN, 0, st.flags, 65535, -1, nil)
				case 1:
					f = c.fromServer(smtpServerISN, smtpClientISN+1, st.flags, 65535, -1, nil)
				default:
					f = c.fromClient(smtpClientISN+1, smtpServerISN+1, st.flags, 65535, -1, nil)
				}
				if !h.q[st.in].Inject(f) {
					t.Fatal("inject failed")
				}
			}
			h.step()
			if n := len(h.out[st.out]); n != batch {
				t.Fatalf("batch %d, step %d: %d of %d segments forwarded; drops %v", b, k, n, batch, smtpDrops(h))
			}
		}
	}
	inUse, free, allocated := h.w.SMTPPool()
	t.Logf("%d states in use, %d free, %d allocated (%d at start)", inUse, free, allocated, first)
	if inUse != batches*batch || free < batch || allocated > inUse+free || allocated-inUse > 256+2*batch {
		t.Errorf("%d states in use, %d free, %d allocated; want %d in use, at least %d and at most a chunk and a slack more free",
			inUse, free, allocated, batches*batch, batch)
	}
	noLeaks(t, h, "established", batches*batch, 0, batches*batch)
	h.w.ClearSession(0, true)
	noLeaks(t, h, "cleared", 0, 0, 0)
}
