package dataplane_test

import (
	"testing"

	"cbac/dataplane"
	"cbac/packet"
)

// The per-packet path allocates nothing. Each case
// runs whole batches (Worker.Step with one frame per batch, through the
// in-memory rings) and checks the frames were really forwarded, so the
// drop path is not what is measured.

// seedSyslogACL is the seed with ACL 101 also permitting syslog to the
// inside host: a packet that ACL 101 checks, NAT translates and no
// inspection rule covers (OUT-IN inspects smtp only).
func seedSyslogACL(t testing.TB, extra string) []byte {
	return seedVariant(t, smallTable+extra, seedACL101, seedACL101+"\n  \"permit udp any host 172.22.1.111 eq syslog\",")
}

// counter counts transmitted frames per port without copying them.
type counter struct {
	n  [2]int
	fn [2]func([]byte)
}

func newCounter() *counter {
	c := &counter{}
	c.fn[0] = func([]byte) { c.n[0]++ }
	c.fn[1] = func([]byte) { c.n[1]++ }
	return c
}

// step runs one batch and drains both ports.
func (c *counter) step(h *harness) {
	h.w.Step(h.now)
	h.q[0].Drain(c.fn[0])
	h.q[1].Drain(c.fn[1])
}

func TestAllocsPerPacket(t *testing.T) {
	const runs = 2000
	t.Run("established tcp, NAT both ways", func(t *testing.T) {
		r := newRun(t, seedSmall(t))
		c := insideOut(r, 33000, "198.51.100.7", 443)
		c.open()
		cnt := newCounter()
		payload := []byte("0123456789abcdef")
		buf := make([]byte, 2048)
		allocs := testing.AllocsPerRun(runs, func() {
			// Data from the inside (source translated), its ACK from the
			// outside (destination translated): window checks, timer
			// touch, NAT on each.
			r.q[portIn].Inject(writeTCP(buf, &c.a, c.na, c.nb, packet.ACK|packet.PSH, payload))
			cnt.step(r.harness)
			c.na += uint32(len(payload))
			r.q[portOut].Inject(writeTCP(buf, &c.b, c.nb, c.na, packet.ACK, nil))
			cnt.step(r.harness)
		})
		if allocs != 0 {
			t.Errorf("%v allocations per packet pair, want 0", allocs)
		}
		if want := runs + 1; cnt.n[portOut] != want || cnt.n[portIn] != want {
			t.Errorf("forwarded %d out, %d in; want %d each (drops %v)", cnt.n[portOut], cnt.n[portIn], want, nonZero(r.w.Stats.Drops[:]))
		}
	})
	t.Run("established smtp, inspected", func(t *testing.T) {
		r := newRun(t, seedSmall(t))
		c := outsideIn(r, 40000)
		c.open()
		c.fromB(packet.ACK|packet.PSH, []byte("220 mail ESMTP\r\n"))
		c.fromA(packet.ACK|packet.PSH, []byte("HELO a\r\n"))
		c.fromB(packet.ACK|packet.PSH, []byte("250 mail\r\n"))
		cnt := newCounter()
		cmd, reply := []byte("NOOP\r\n"), []byte("250 ok\r\n")
		buf := make([]byte, 2048)
		allocs := testing.AllocsPerRun(runs, func() {
			r.q[portOut].Inject(writeTCP(buf, &c.a, c.na, c.nb, packet.ACK|packet.PSH, cmd))
			cnt.step(r.harness)
			c.na += uint32(len(cmd))
			r.q[portIn].Inject(writeTCP(buf, &c.b, c.nb, c.na, packet.ACK|packet.PSH, reply))
			cnt.step(r.harness)
			c.nb += uint32(len(reply))
		})
		if allocs != 0 {
			t.Errorf("%v allocations per command/reply, want 0", allocs)
		}
		if want := runs + 1; cnt.n[portOut] != want || cnt.n[portIn] != want {
			t.Errorf("forwarded %d out, %d in; want %d each (drops %v)", cnt.n[portOut], cnt.n[portIn], want, nonZero(r.w.Stats.Drops[:]))
		}
	})
	t.Run("established http, inspected (Java blocking)", func(t *testing.T) {
		r := newRun(t, seedSmall(t))
		c := insideOut(r, 40000, "203.0.113.1", 80)
		c.open()
		c.fromA(packet.ACK|packet.PSH, []byte("GET /big HTTP/1.1\r\n\r\n"))
		c.fromB(packet.ACK|packet.PSH, []byte("HTTP/1.1 200 OK\r\nContent-Length: 100000000000\r\n\r\n<html>"))
		cnt := newCounter()
		body := make([]byte, 1400)
		buf := make([]byte, 2048)
		allocs := testing.AllocsPerRun(runs, func() {
			r.q[portOut].Inject(writeTCP(buf, &c.b, c.nb, c.na, packet.ACK, body))
			cnt.step(r.harness)
			c.nb += uint32(len(body))
			r.q[portIn].Inject(writeTCP(buf, &c.a, c.na, c.nb, packet.ACK, nil))
			cnt.step(r.harness)
		})
		if allocs != 0 {
			t.Errorf("%v allocations per body segment and ACK, want 0", allocs)
		}
		if want := runs + 1; cnt.n[portOut] != want || cnt.n[portIn] != want {
			t.Errorf("forwarded %d out, %d in; want %d each (drops %v)", cnt.n[portOut], cnt.n[portIn], want, nonZero(r.w.Stats.Drops[:]))
		}
	})
	t.Run("new non-inspected packet, ACL and NAT", func(t *testing.T) {
		r := newRun(t, seedSyslogACL(t, ""))
		f := flow{srcMAC: pmac(macUpstream), dstMAC: pmac(macOut0), src: ip4("198.51.100.7"), dst: ip4("172.22.1.111"), sport: 5140, dport: 514}
		frame := writeUDP(make([]byte, 2048), &f, []byte("<13>cbac test"))
		cnt := newCounter()
		allocs := testing.AllocsPerRun(runs, func() {
			r.q[portOut].Inject(frame)
			cnt.step(r.harness)
		})
		if allocs != 0 {
			t.Errorf("%v allocations per packet, want 0", allocs)
		}
		if cnt.n[portIn] != runs+1 {
			t.Errorf("forwarded %d, want %d (drops %v)", cnt.n[portIn], runs+1, nonZero(r.w.Stats.Drops[:]))
		}
		if got := r.w.Stats.ACLHits[0][1]; got != uint64(runs+1) {
			t.Errorf("ACL 101 entry 20 matched %d times, want %d", got, runs+1)
		}
		if live, _ := r.w.SessionCount(); live != 0 {
			t.Errorf("%d sessions: the packet is not inspected", live)
		}
	})
	t.Run("ACL deny", func(t *testing.T) {
		r := newRun(t, seedSmall(t))
		f := flow{srcMAC: pmac(macClient), dstMAC: pmac(macOut0), src: ip4("172.22.1.100"), dst: ip4("172.22.1.110"), sport: 40000, dport: 80}
		frame := writeTCP(make([]byte, 2048), &f, 1, 0, packet.SYN, nil)
		cnt := newCounter()
		allocs := testing.AllocsPerRun(runs, func() {
			r.q[portOut].Inject(frame)
			cnt.step(r.harness)
		})
		if allocs != 0 {
			t.Errorf("%v allocations per denied packet, want 0", allocs)
		}
		if r.drops(dataplane.DropACLIn) != runs+1 || cnt.n[portIn] != 0 {
			t.Errorf("ACL drops %d, forwarded %d", r.drops(dataplane.DropACLIn), cnt.n[portIn])
		}
	})
	t.Run("session setup and teardown", func(t *testing.T) {
		r := newRun(t, seedSmall(t))
		cnt := newCounter()
		buf := make([]byte, 2048)
		i := 0
		allocs := testing.AllocsPerRun(runs, func() {
			c := tcpConn{a: flow{srcMAC: pmac(macHost), dstMAC: pmac(macIn0), src: ip4("10.10.10.5"), dst: ip4("198.51.100.7"), sport: uint16(10000 + i), dport: 443}}
			c.b = c.a.reverse(c.a.dst, ip4("172.22.1.111"), pmac(macUpstream), pmac(macOut0))
			i++
			r.q[portIn].Inject(writeTCP(buf, &c.a, 100, 0, packet.SYN, nil))
			cnt.step(r.harness)
			r.q[portOut].Inject(writeTCP(buf, &c.b, 900, 101, packet.SYN|packet.ACK, nil))
			cnt.step(r.harness)
			r.q[portIn].Inject(writeTCP(buf, &c.a, 101, 901, packet.ACK|packet.RST, nil))
			cnt.step(r.harness)
		})
		if allocs != 0 {
			t.Errorf("%v allocations per session, want 0", allocs)
		}
		if want := 2 * (runs + 1); cnt.n[portOut] != want || cnt.n[portIn] != runs+1 {
			t.Errorf("forwarded %d out, %d in (drops %v)", cnt.n[portOut], cnt.n[portIn], nonZero(r.w.Stats.Drops[:]))
		}
		if r.w.Stats.SessionsCreated != runs+1 {
			t.Errorf("%d sessions created, want %d", r.w.Stats.SessionsCreated, runs+1)
		}
	})
	t.Run("aggressive mode: a SYN deletes and resets the oldest", func(t *testing.T) {
		r := newRun(t, seedVariant(t, smallTable, seedMaxIncomplete, `max_incomplete = { low = 2, high = 3 }`,
			seedOneMinute, `one_minute = { low = 90000, high = 100000 }`))
		frames, _ := synsInsideOut(r, 0, 3)
		r.sendAll(portIn, frames)
		cnt := newCounter()
		buf := make([]byte, 2048)
		i := 0
		allocs := testing.AllocsPerRun(runs, func() {
			f := flow{srcMAC: pmac(macHost), dstMAC: pmac(macIn0), src: ip4("10.10.10.5"), dst: ip4("198.51.100.7"), sport: uint16(30000 + i), dport: 443}
			i++
			r.q[portIn].Inject(writeTCP(buf, &f, 100, 0, packet.SYN, nil))
			cnt.step(r.harness)
		})
		if allocs != 0 {
			t.Errorf("%v allocations per SYN, want 0", allocs)
		}
		// Each SYN: itself and an RST out, an RST in.
		if want := runs + 1; cnt.n[portOut] != 2*want || cnt.n[portIn] != want {
			t.Errorf("%d frames out, %d in; want %d, %d (drops %v)", cnt.n[portOut], cnt.n[portIn], 2*want, want, nonZero(r.w.Stats.Drops[:]))
		}
		if n := r.w.Stats.HalfOpenResets[dataplane.ResetAggressive]; n != runs+1 {
			t.Errorf("%d resets, want %d", n, runs+1)
		}
	})
}
