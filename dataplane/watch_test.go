package dataplane_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"cbac/control"
	"cbac/dataplane"
	"cbac/packet"
)

// wConn is one connection through watch or auto mode: plain TCP, the
// client's ISN cISN, the server's sISN.
type wConn struct {
	c          *icConv
	cISN, sISN uint32
}

func newW(t testing.TB, h *harness, sport uint16) *wConn {
	return &wConn{c: &icConv{t: t, h: h, sport: sport}, cISN: 1000 * uint32(sport), sISN: 7000 * uint32(sport)}
}

// syn sends the client's SYN and returns what reached the server and the
// client.
func (w *wConn) syn() (toServer, toClient []packet.TCP) {
	return w.c.exchange(portOut, w.c.fromClient(w.cISN, 0, packet.SYN, 29200, synOpts(packet.SynOptions{MSS: 1460, WScale: -1}), nil))
}

// synAck sends the server's SYN/ACK.
func (w *wConn) synAck() []packet.TCP {
	_, cli := w.c.exchange(portIn, w.c.fromServer(w.sISN, w.cISN+1, packet.SYN|packet.ACK, 29200, synOpts(packet.SynOptions{MSS: 1460, WScale: -1}), nil))
	return cli
}

// ack sends the client's ACK completing the handshake.
func (w *wConn) ack() []packet.TCP {
	srv, _ := w.c.exchange(portOut, w.c.fromClient(w.cISN+1, w.sISN+1, packet.ACK, 29200, nil, nil))
	return srv
}

// passes sends the SYN and checks that it went to the server unchanged.
func (w *wConn) passes() {
	w.c.t.Helper()
	srv, cli := w.syn()
	if len(srv) != 1 || len(cli) != 0 {
		w.c.t.Fatalf("SYN %d: %d frames to the server, %d to the client, want 1 and 0", w.c.sport, len(srv), len(cli))
	}
	expectSeg(w.c.t, "SYN passed", srv[0], w.cISN, 0, packet.SYN)
}

// rstPorts lists the client ports of the RSTs that went to the server.
func rstPorts(h *harness) []uint16 {
	var ports []uint16
	for _, f := range h.out[portIn] {
		tc := packet.TCP(packet.IPv4(f[packet.EthernetHeaderLen:]).Payload())
		if tc.Flags()&packet.RST != 0 {
			ports = append(ports, tc.SrcPort())
		}
	}
	return ports
}

// Watch mode: the SYN passes; a connection not established within
// watch_timeout is reset on both ends (the server at the client's next
// sequence number, the client with RST|ACK of its SYN), from the expiry
// loop, counted as a watch-timeout reset; show tcp intercept lists it as
// watched (W) until then.
func TestInterceptWatchTimeout(t *testing.T) {
	h := newHarness(t, compile(t, interceptSeed(t, "", "mode = \"watch\"\nwatch_timeout = \"10s\"\n")))
	a := newW(t, h, 42000)
	a.passes()
	b := newW(t, h, 42001)
	b.passes()
	if cli := b.synAck(); len(cli) != 1 {
		t.Fatalf("SYN/ACK to b's client: %d frames", len(cli))
	}
	if st := h.w.Intercept; st.Waiting != 2 || st.SYNACKs != 0 {
		t.Fatalf("after the SYNs: %+v", st)
	}
	h.advance(3 * time.Second)
	var out bytes.Buffer
	control.ShowTCPInterceptConnections(&out, control.InterceptConns(h.dp))
	for _, line := range []string{
		"172.22.1.100:42000    172.22.1.110:25       SYNSENT  00:00:03 00:00:07 W\n",
		"172.22.1.100:42001    172.22.1.110:25       SYNRCVD  00:00:03 00:00:07 W\n",
	} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("show tcp intercept connections lacks %q:\n%s", line, out.String())
		}
	}
	out.Reset()
	st := control.InterceptStatsTotal(h.dp)
	control.ShowTCPInterceptStatistics(&out, h.dp.Ruleset(), control.InterceptConns(h.dp), &st, 0)
	if !strings.HasPrefix(out.String(), "watching new connections using access-list 120\n2 incomplete, 0 established") {
		t.Errorf("show tcp intercept statistics:\n%s", out.String())
	}
	h.advance(6 * time.Second) // 9 s: in time still
	if live, _ := h.w.SessionCount(); live != 2 || len(h.out[portIn]) != 0 {
		t.Fatalf("at 9 s: %d sessions, %d frames to the server", live, len(h.out[portIn]))
	}
	h.advance(2 * time.Second)
	if len(h.out[portIn]) != 2 || len(h.out[portOut]) != 2 {
		t.Fatalf("at 11 s: %d frames to the servers, %d to the clients, want 2 and 2", len(h.out[portIn]), len(h.out[portOut]))
	}
	for _, f := range h.out[portIn] {
		decode(t, f)
		tc := a.c.view(f, smtpClientIP, smtpServerIP, packet.TCP(packet.IPv4(f[packet.EthernetHeaderLen:]).Payload()).SrcPort(), 25)
		switch tc.SrcPort() {
		case a.c.sport:
			expectSeg(t, "RST to a's server", tc, a.cISN+1, 0, packet.RST)
		case b.c.sport:
			expectSeg(t, "RST to b's server", tc, b.cISN+1, b.sISN+1, packet.RST|packet.ACK)
		default:
			t.Errorf("RST to the server from port %d", tc.SrcPort())
		}
	}
	for _, f := range h.out[portOut] {
		decode(t, f)
		tc := a.c.view(f, smtpGlobalIP, smtpClientIP, 25, packet.TCP(packet.IPv4(f[packet.EthernetHeaderLen:]).Payload()).DstPort())
		switch tc.DstPort() {
		case a.c.sport:
			expectSeg(t, "RST to a's client", tc, 0, a.cISN+1, packet.RST|packet.ACK)
		case b.c.sport:
			expectSeg(t, "RST to b's client", tc, b.sISN+1, b.cISN+1, packet.RST|packet.ACK)
		default:
			t.Errorf("RST to the client at port %d", tc.DstPort())
		}
	}
	if n := h.w.Stats.HalfOpenResets[dataplane.ResetWatchTimeout]; n != 2 {
		t.Errorf("watch-timeout resets %d, want 2", n)
	}
	if live, half := h.w.SessionCount(); live != 0 || half != 0 || h.w.Intercept.Waiting != 0 {
		t.Errorf("%d sessions (%d half-open), %d incomplete left", live, half, h.w.Intercept.Waiting)
	}
}

// A watched connection established in time is a plain CBAC session: no
// reset at watch_timeout, no longer incomplete, and it carries data.
func TestInterceptWatchEstablished(t *testing.T) {
	h := newHarness(t, compile(t, interceptSeed(t, "", "mode = \"watch\"\nwatch_timeout = \"10s\"\n")))
	a := newW(t, h, 42100)
	a.passes()
	h.advance(8 * time.Second)
	one(t, "SYN/ACK", a.synAck(), 1)
	one(t, "ACK", a.ack(), 1)
	if st := h.w.Intercept; st.Waiting != 0 {
		t.Fatalf("established, still %d incomplete", st.Waiting)
	}
	h.advance(30 * time.Second)
	if len(h.out[portIn]) != 0 || len(h.out[portOut]) != 0 || h.w.Stats.HalfOpenResets != [dataplane.NumResetCauses]uint64{} {
		t.Fatalf("after watch_timeout: %d, %d frames; resets %v", len(h.out[portIn]), len(h.out[portOut]), h.w.Stats.HalfOpenResets)
	}
	_, cli := a.c.exchange(portIn, a.c.fromServer(a.sISN+1, a.cISN+1, packet.ACK|packet.PSH, 29200, nil, []byte("220 x\r\n")))
	one(t, "greeting", cli, 1)
	if live, _ := h.w.SessionCount(); live != 1 {
		t.Errorf("%d sessions, want 1", live)
	}
}

// Aggressive mode in watch mode halves watch_timeout (IOS): above
// max_incomplete high, watched connections older than half of it are
// reset; below the threshold they get the whole of it.
func TestInterceptWatchAggressiveHalves(t *testing.T) {
	for _, tc := range []struct {
		name  string
		high  string
		reset int
	}{
		{"aggressive", "max_incomplete = { low = 1, high = 2 }\n", 3},
		{"calm", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, compile(t, interceptSeed(t, "", "mode = \"watch\"\nwatch_timeout = \"20s\"\n"+tc.high)))
			for i := 0; i < 3; i++ {
				newW(t, h, uint16(42200+i)).passes()
			}
			h.advance(9 * time.Second)
			if n := h.w.Stats.HalfOpenResets[dataplane.ResetWatchTimeout]; n != 0 {
				t.Fatalf("at 9 s: %d reset", n)
			}
			h.advance(2 * time.Second)
			if n := h.w.Stats.HalfOpenResets[dataplane.ResetWatchTimeout]; n != uint64(tc.reset) || len(rstPorts(h)) != tc.reset {
				t.Errorf("at 11 s: %d watch-timeout resets, %d RSTs to the server, want %d", n, len(rstPorts(h)), tc.reset)
			}
		})
	}
}

// Auto mode: SYNs pass while the incomplete connections stay at or below
// max_incomplete high; the SYN that finds them above gets a cookie and
// turns cookies on (logged); once they fall below low (between batches),
// cookies go off (logged) and SYNs pass again. A cookie sent while on is
// still good after.
func TestInterceptAuto(t *testing.T) {
	h := newHarness(t, compile(t, interceptSeed(t, "", "mode = \"auto\"\nmax_incomplete = { low = 2, high = 3 }\n")))
	var ws []*wConn
	for i := 0; i < 4; i++ {
		w := newW(t, h, uint16(42300+i))
		w.passes()
		ws = append(ws, w)
	}
	if st := h.w.Intercept; st.Waiting != 4 || st.Cookies || st.AutoSwitches != 0 {
		t.Fatalf("after 4 SYNs: %+v", st)
	}
	// 4 > 3: cookies.
	c := newIC(t, h, 42310, false)
	c.cookieSYN()
	if st := h.w.Intercept; !st.Cookies || st.AutoSwitches != 1 || st.SYNACKs != 1 {
		t.Fatalf("fifth SYN: %+v", st)
	}
	var msgs []string
	for i := range h.evs {
		if h.evs[i].Kind == dataplane.EvInterceptAuto {
			m, _ := control.Message(&h.evs[i], h.dp.Ruleset())
			msgs = append(msgs, m)
		}
	}
	if want := "%TCP-4-INTERCEPT_AUTO_ON: TCP intercept auto mode: intercepting new connections (SYN cookies on), count (4/3) incomplete on worker 0"; len(msgs) != 1 || msgs[0] != want {
		t.Errorf("on: log %q, want %q", msgs, want)
	}
	// Two complete: 2 incomplete is not below low; three: it is.
	for i, w := range ws[:3] {
		one(t, "SYN/ACK", w.synAck(), 1)
		one(t, "ACK", w.ack(), 1)
		on := h.w.Intercept.Cookies
		if i < 2 && !on || i == 2 && on {
			t.Fatalf("after %d established (%d incomplete): cookies %v", i+1, h.w.Intercept.Waiting, on)
		}
	}
	msgs = msgs[:0]
	for i := range h.evs {
		if h.evs[i].Kind == dataplane.EvInterceptAuto {
			m, _ := control.Message(&h.evs[i], h.dp.Ruleset())
			msgs = append(msgs, m)
		}
	}
	if want := "%TCP-6-INTERCEPT_AUTO_OFF: TCP intercept auto mode: watching new connections (SYN cookies off), count (1/2) incomplete on worker 0"; len(msgs) != 1 || msgs[0] != want {
		t.Errorf("off: log %q, want %q", msgs, want)
	}
	newW(t, h, 42320).passes()
	// The cookie of the on phase opens its connection.
	c.cookieACK(1000, nil)
	if st := h.w.Intercept; st.Opened != 1 || st.Waiting != 3 || st.AutoSwitches != 2 {
		t.Errorf("cookie ACK after off: %+v", st)
	}
}

// drop-mode random: in aggressive mode each new connection deletes an
// incomplete one drawn from the worker's seeded generator, not always the
// oldest (drop-mode oldest, same traffic, always deletes the oldest), and
// the same seed draws the same ones.
func TestInterceptDropRandom(t *testing.T) {
	run := func(mode string) []uint16 {
		h := newHarness(t, compile(t, interceptSeed(t, "", "mode = \"watch\"\nmax_incomplete = { low = 4, high = 5 }\ndrop_mode = \""+mode+"\"\n")))
		var deleted []uint16
		for i := 0; i < 16; i++ {
			w := newW(t, h, uint16(42400+i))
			h.send(portOut, w.c.fromClient(w.cISN, 0, packet.SYN, 29200, nil, nil))
			rst := rstPorts(h)
			if len(h.out[portIn]) != 1+len(rst) {
				t.Fatalf("%s: SYN %d: %d frames to the server, %d RSTs", mode, i, len(h.out[portIn]), len(rst))
			}
			deleted = append(deleted, rst...)
			h.advance(time.Millisecond)
		}
		// SYNs 0-5 made 6 > 5 incomplete; each later one deletes one.
		if len(deleted) != 10 || h.w.Stats.HalfOpenResets[dataplane.ResetInterceptAggressive] != 10 || h.w.Intercept.Waiting != 6 {
			t.Fatalf("%s: deleted %v, resets %v, %d incomplete", mode, deleted, h.w.Stats.HalfOpenResets, h.w.Intercept.Waiting)
		}
		return deleted
	}
	oldest := run("oldest")
	for i, p := range oldest {
		if p != uint16(42400+i) {
			t.Fatalf("oldest: deleted %v, want 42400, 42401, ...", oldest)
		}
	}
	random := run("random")
	notOldest := 0
	seen := map[uint16]bool{}
	for _, p := range random {
		if seen[p] {
			t.Fatalf("random: %d deleted twice: %v", p, random)
		}
		seen[p] = true
	}
	// The oldest left at each deletion, replayed.
	left := []uint16{}
	next := uint16(42400)
	for i, p := range random {
		for next <= uint16(42400+6+i) {
			left = append(left, next)
			next++
		}
		if p != left[0] {
			notOldest++
		}
		for j, q := range left {
			if q == p {
				left = append(left[:j], left[j+1:]...)
				break
			}
		}
	}
	t.Logf("random deleted %v, %d not the oldest", random, notOldest)
	if notOldest == 0 {
		t.Errorf("random: deleted %v, always the oldest", random)
	}
	if again := run("random"); !equalPorts(again, random) {
		t.Errorf("same seed, different draws: %v and %v", random, again)
	}
}

func equalPorts(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Watch mode's path allocates nothing: each run a watched SYN that, in
// aggressive mode with drop-mode random, deletes an incomplete connection
// (RSTs to both ends), and the expiry of the halved watch-timeout.
func TestInterceptWatchAllocs(t *testing.T) {
	h := newHarness(t, compile(t, interceptSeed(t, "", "mode = \"watch\"\nwatch_timeout = \"2s\"\nmax_incomplete = { low = 1, high = 2 }\ndrop_mode = \"random\"\n")))
	cnt := newCounter()
	buf := make([]byte, 2048)
	cm, om := smtpMAC(macClient), smtpMAC(macOut0)
	port := uint16(20000)
	run := func() {
		port++
		h.q[portOut].Inject(icWriteInto(buf, cm, om, smtpClientIP, smtpGlobalIP, port, 25, 1000, 0, packet.SYN, 1000, nil, nil))
		h.now += int64(100 * time.Millisecond)
		cnt.step(h)
	}
	const runs = 500
	if allocs := testing.AllocsPerRun(runs, run); allocs != 0 {
		t.Errorf("%v allocations per watched SYN, want 0", allocs)
	}
	st := h.w.Stats.HalfOpenResets
	if st[dataplane.ResetInterceptAggressive] == 0 || st[dataplane.ResetWatchTimeout] == 0 {
		t.Errorf("resets %v: want both aggressive deletions and halved watch-timeouts", st)
	}
}

// CBAC's own thresholds reach watched sessions on their watch-timeout
// list: the seed's tcp max-incomplete host 50 (block-time 0) makes the
// 51st watched SYN to the mail server delete the oldest, reset on both
// ends, which leaves the incomplete connections.
func TestInterceptWatchHostThreshold(t *testing.T) {
	h := newHarness(t, compile(t, interceptSeed(t, "", "mode = \"watch\"\nwatch_timeout = \"10s\"\n")))
	for i := 0; i < 50; i++ {
		newW(t, h, uint16(42500+i)).passes()
	}
	w := newW(t, h, 42550)
	h.send(portOut, w.c.fromClient(w.cISN, 0, packet.SYN, 29200, nil, nil))
	if rst := rstPorts(h); len(rst) != 1 || rst[0] != 42500 || len(h.out[portIn]) != 2 {
		t.Fatalf("51st SYN: RSTs to the server from %v, %d frames; want the oldest's (42500) and the SYN", rst, len(h.out[portIn]))
	}
	if n := h.w.Stats.HalfOpenResets[dataplane.ResetHostOldest]; n != 1 || h.w.Intercept.Waiting != 50 {
		t.Errorf("host-oldest resets %d, %d incomplete; want 1, 50", n, h.w.Intercept.Waiting)
	}
}

// Aggressive mode in intercept mode: IOS halves its SYN retransmission
// timeout, so the time to establish; connections waiting for the server
// are reset on both ends after half of synwait (30 s in the seed).
func TestInterceptAggressiveHalvesSynwait(t *testing.T) {
	h := newHarness(t, compile(t, interceptSeed(t, "", "max_incomplete = { low = 1, high = 2 }\n")))
	for i := 0; i < 3; i++ {
		c := newIC(t, h, uint16(42600+i), false)
		c.cookieSYN()
		c.cookieACK(1000, nil)
	}
	h.advance(14 * time.Second)
	if st := h.w.Intercept; st.Waiting != 3 || st.Aborted != 0 || !st.Aggressive {
		t.Fatalf("at 14 s: %+v", st)
	}
	h.advance(2 * time.Second)
	if st := h.w.Intercept; st.Waiting != 0 || st.Aborted != 3 || len(rstPorts(h)) != 3 || len(h.out[portOut]) != 3 {
		t.Errorf("at 16 s: %+v, %d RSTs to the server, %d frames to the clients", st, len(rstPorts(h)), len(h.out[portOut]))
	}
	if n := h.w.Stats.HalfOpenResets[dataplane.ResetSynWait]; n != 3 {
		t.Errorf("synwait resets %d, want 3", n)
	}
}

// BenchmarkProtectedSYN: a protected SYN from a new client port in each
// mode, no attack: intercept answers with a cookie; watch and auto pass
// it and create the session (auto's cost over plain CBAC: one compare).
// Each connection is reset by the client after its SYN; 10 SYNs a
// second of virtual time.
func BenchmarkProtectedSYN(b *testing.B) {
	for _, mode := range []string{"intercept", "watch", "auto"} {
		b.Run(mode, func(b *testing.B) {
			h := newHarness(b, compile(b, interceptSeed(b, "", "mode = \""+mode+"\"\n")))
			cnt := newCounter()
			buf := make([]byte, 2048)
			cm, om := smtpMAC(macClient), smtpMAC(macOut0)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				port := uint16(1024 + i%60000)
				h.q[portOut].Inject(icWriteInto(buf, cm, om, smtpClientIP, smtpGlobalIP, port, 25, 1000, 0, packet.SYN, 1000, nil, nil))
				h.q[portOut].Inject(icWriteInto(buf, cm, om, smtpClientIP, smtpGlobalIP, port, 25, 1001, 0, packet.RST, 0, nil, nil))
				h.now += int64(100 * time.Millisecond) // 600 a minute: below one_minute high
				cnt.step(h)
			}
			b.StopTimer()
			if st := h.w.Intercept; st.Aggressive || st.Aborted != 0 || h.w.Stats.HalfOpenResets[dataplane.ResetInterceptAggressive] != 0 {
				b.Fatalf("%s: aggressive mode in a benchmark without attack: %+v", mode, st)
			}
		})
	}
}
