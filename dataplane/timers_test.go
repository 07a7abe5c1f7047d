package dataplane_test

import (
	"bytes"
	"testing"
	"time"

	"cbac/dataplane"
	"cbac/packet"
)

// The inspection timers with virtual time (docs/behaviour.md
// "Sessions and timers", seed defaults: synwait 30 s, finwait 5 s, tcp idle 3600 s, udp idle
// 30 s, dns 5 s). Each test checks the session is still there just before
// its timer and gone exactly at it.

// expectAt advances the clock to at (relative to base) and checks whether
// the session is there.
func expectAt(t *testing.T, r *run, base int64, at time.Duration, exists func() bool, want bool, what string) {
	t.Helper()
	if to := base + int64(at); to > r.now {
		r.now = to
	}
	r.step()
	if got := exists(); got != want {
		t.Fatalf("%s at %v: session present %v, want %v (sessions %d)", what, at, got, want, len(r.sessions()))
	}
}

func TestTimerSynWait(t *testing.T) {
	t.Run("unanswered", func(t *testing.T) {
		r := newRun(t, seedSmall(t))
		c := insideOut(r, 33000, "198.51.100.7", 443)
		t0 := r.now
		c.fromA(packet.SYN, nil)
		if _, half := r.w.SessionCount(); half != 1 {
			t.Fatalf("half-open %d, want 1", half)
		}
		expectAt(t, r, t0, 29*time.Second, c.exists, true, "unanswered SYN")
		expectAt(t, r, t0, 30*time.Second, c.exists, false, "unanswered SYN")
		if live, half := r.w.SessionCount(); live != 0 || half != 0 {
			t.Errorf("after synwait: %d live, %d half-open", live, half)
		}
		if r.w.Stats.SessionsDeleted != 1 {
			t.Errorf("SessionsDeleted %d, want 1", r.w.Stats.SessionsDeleted)
		}
		// The late SYN/ACK finds no session: ACL 101 denies it.
		before := r.drops(dataplane.DropACLIn)
		if n := c.segB(c.nb, c.na, packet.SYN|packet.ACK, nil); n != 0 || r.drops(dataplane.DropACLIn) != before+1 {
			t.Errorf("SYN/ACK after synwait: forwarded %d, ACL drops +%d", n, r.drops(dataplane.DropACLIn)-before)
		}
	})
	// synwait runs from the session's creation: a retransmitted SYN and
	// the SYN/ACK do not restart it (half-open sessions are not touched).
	t.Run("from creation", func(t *testing.T) {
		r := newRun(t, seedSmall(t))
		c := insideOut(r, 33001, "198.51.100.7", 443)
		t0 := r.now
		c.fromA(packet.SYN, nil)
		r.now = t0 + int64(20*time.Second)
		c.na--
		c.fromA(packet.SYN, nil) // retransmission
		r.now = t0 + int64(25*time.Second)
		c.fromB(packet.SYN|packet.ACK, nil) // SYN_RECV: still half-open
		expectAt(t, r, t0, 29*time.Second+999*time.Millisecond, c.exists, true, "half-open")
		expectAt(t, r, t0, 30*time.Second, c.exists, false, "half-open")
	})
}

func TestTimerFinWait(t *testing.T) {
	t.Run("FIN exchange", func(t *testing.T) {
		r := newRun(t, seedSmall(t))
		c := insideOut(r, 33002, "198.51.100.7", 80)
		c.open()
		c.fromA(packet.ACK|packet.PSH, []byte("GET / HTTP/1.0\r\n\r\n"))
		c.fromB(packet.ACK|packet.PSH, []byte("HTTP/1.0 200 OK\r\n\r\n"))
		r.advance(10 * time.Second)
		c.fromA(packet.FIN|packet.ACK, nil)
		c.fromB(packet.ACK, nil)
		// One FIN: the idle timer still applies.
		r.advance(100 * time.Second)
		if !c.exists() {
			t.Fatal("half-closed session expired early")
		}
		c.fromB(packet.FIN|packet.ACK, nil)
		c.fromA(packet.ACK, nil)
		t0 := r.now
		got := r.sessions()
		if len(got) != 1 || got[0].State != "SIS_CLOSING" || !got[0].Closing {
			t.Fatalf("after the FIN exchange: %+v", got)
		}
		expectAt(t, r, t0, 4*time.Second, c.exists, true, "closed session")
		expectAt(t, r, t0, 4*time.Second+999*time.Millisecond, c.exists, true, "closed session")
		expectAt(t, r, t0, 5*time.Second, c.exists, false, "closed session")
	})
	t.Run("RST", func(t *testing.T) {
		r := newRun(t, seedSmall(t))
		c := insideOut(r, 33003, "198.51.100.7", 80)
		c.open()
		c.fromB(packet.RST|packet.ACK, nil)
		t0 := r.now
		expectAt(t, r, t0, 4*time.Second, c.exists, true, "reset session")
		expectAt(t, r, t0, 5*time.Second, c.exists, false, "reset session")
	})
}

func TestTimerTCPIdle(t *testing.T) {
	r := newRun(t, seedSmall(t))
	c := insideOut(r, 33004, "198.51.100.7", 22)
	c.open()
	c.fromA(packet.ACK|packet.PSH, []byte("SSH-2.0-x\r\n"))
	t0 := r.now
	expectAt(t, r, t0, 3599*time.Second, c.exists, true, "idle TCP")
	expectAt(t, r, t0, 3600*time.Second, c.exists, false, "idle TCP")

	// Activity restarts the idle timer (Touch): data at 3000 s keeps the
	// session until 6600 s.
	c2 := insideOut(r, 33005, "198.51.100.7", 22)
	c2.open()
	t1 := r.now
	r.now = t1 + int64(3000*time.Second)
	c2.fromB(packet.ACK|packet.PSH, []byte("SSH-2.0-y\r\n"))
	expectAt(t, r, t1, 3600*time.Second, c2.exists, true, "touched TCP")
	expectAt(t, r, t1, 6599*time.Second, c2.exists, true, "touched TCP")
	expectAt(t, r, t1, 6600*time.Second, c2.exists, false, "touched TCP")
}

// udpFlow is a UDP conversation from the inside host to an outside server.
func udpFlow(dst string, sport, dport uint16) (a, b flow) {
	a = flow{srcMAC: pmac(macHost), dstMAC: pmac(macIn0), src: ip4("10.10.10.5"), dst: ip4(dst), sport: sport, dport: dport}
	b = a.reverse(ip4(dst), ip4("172.22.1.111"), pmac(macUpstream), pmac(macOut0))
	return a, b
}

func TestTimerUDP(t *testing.T) {
	r := newRun(t, seedSmall(t))
	a, b := udpFlow("198.51.100.9", 5000, 6000)
	var buf [256]byte
	exists := func() bool { return r.hasSession(a.src, a.sport, a.dst, a.dport) }
	if out := r.send(portIn, writeUDP(buf[:], &a, []byte("hello"))); len(out[portOut]) != 1 {
		t.Fatalf("UDP not forwarded: %v", nonZero(r.w.Stats.Drops[:]))
	}
	r.now += int64(10 * time.Second)
	if out := r.send(portOut, writeUDP(buf[:], &b, []byte("world"))); len(out[portIn]) != 1 {
		t.Fatalf("UDP reply not let in by the session: %v", nonZero(r.w.Stats.Drops[:]))
	}
	t0 := r.now
	expectAt(t, r, t0, 29*time.Second, exists, true, "idle UDP")
	expectAt(t, r, t0, 30*time.Second, exists, false, "idle UDP")
	if out := r.send(portOut, writeUDP(buf[:], &b, []byte("late"))); len(out[portIn]) != 0 {
		t.Error("reply after udp idle passed ACL 101")
	}
}

func TestTimerDNS(t *testing.T) {
	t.Run("answered", func(t *testing.T) {
		r := newRun(t, seedSmall(t))
		a, b := udpFlow("198.51.100.53", 40053, 53)
		var buf [256]byte
		exists := func() bool { return r.hasSession(a.src, a.sport, a.dst, a.dport) }
		r.send(portIn, writeUDP(buf[:], &a, []byte("query")))
		r.now += int64(2 * time.Second)
		if out := r.send(portOut, writeUDP(buf[:], &b, []byte("answer"))); len(out[portIn]) != 1 {
			t.Fatalf("DNS answer not let in: %v", nonZero(r.w.Stats.Drops[:]))
		}
		t0 := r.now
		// dns-timeout runs from the first reply (docs/behaviour.md "Sessions and timers"), not from
		// the query 2 s earlier.
		expectAt(t, r, t0, 4*time.Second, exists, true, "DNS")
		expectAt(t, r, t0, 4*time.Second+999*time.Millisecond, exists, true, "DNS")
		expectAt(t, r, t0, 5*time.Second, exists, false, "DNS")
	})
	t.Run("unanswered", func(t *testing.T) {
		r := newRun(t, seedSmall(t))
		a, _ := udpFlow("198.51.100.53", 40054, 53)
		var buf [256]byte
		exists := func() bool { return r.hasSession(a.src, a.sport, a.dst, a.dport) }
		t0 := r.now
		r.send(portIn, writeUDP(buf[:], &a, []byte("query")))
		expectAt(t, r, t0, 4*time.Second, exists, true, "DNS query")
		expectAt(t, r, t0, 5*time.Second, exists, false, "DNS query")
	})
}

// Replay drives the same timers from capture timestamps: with After the
// clock runs on after the last packet.
func TestReplayTimerSynWait(t *testing.T) {
	for _, c := range []struct {
		after time.Duration
		want  int
	}{{29 * time.Second, 1}, {30 * time.Second, 0}} {
		syn := tcpFrame(t, seg{src: "10.10.10.5", dst: "198.51.100.7", sport: 33010, dport: 443, seq: 1, syn: true,
			srcMAC: macHost, dstMAC: macIn0})
		in := writeCapture(t, []capFrame{{dev: "in0", at: 0, data: syn}})
		var dp *dataplane.Dataplane
		var out bytes.Buffer
		_, err := dataplane.Replay(compile(t, seedWithNeighbours(t, true)), in, &out, dataplane.ReplayOptions{
			Tick: time.Second, After: c.after, Dataplane: func(d *dataplane.Dataplane) { dp = d }})
		if err != nil {
			t.Fatal(err)
		}
		live, _ := dp.Workers[0].SessionCount()
		if live != c.want {
			t.Errorf("replay with %v after the SYN: %d sessions, want %d", c.after, live, c.want)
		}
	}
}
