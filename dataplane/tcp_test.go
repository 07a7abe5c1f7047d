package dataplane_test

import (
	"testing"

	"cbac/dataplane"
	"cbac/packet"
)

// Every invalid TCP case of docs/behaviour.md "TCP tracking" is dropped
// and counted under its own Reason, on an established session, both for a
// plain tcp session (inside out) and an inspected SMTP session (outside
// in); the session survives and keeps forwarding.
func TestTCPInvalidDropped(t *testing.T) {
	const (
		F = packet.FIN
		S = packet.SYN
		R = packet.RST
		P = packet.PSH
		A = packet.ACK
	)
	type send func(c *tcpConn) int
	cases := []struct {
		name string
		send send
		want dataplane.Reason
	}{
		{"data beyond the receiver's window", func(c *tcpConn) int {
			return c.segA(c.na+10_000_000, c.nb, A|P, []byte("x"))
		}, dataplane.DropTCPOutOfWindow},
		{"data older than the window", func(c *tcpConn) int {
			return c.segB(c.nb-1_000_000, c.na, A|P, []byte("x"))
		}, dataplane.DropTCPOutOfWindow},
		{"ACK of unseen data", func(c *tcpConn) int {
			return c.segB(c.nb, c.na+100_000, A, nil)
		}, dataplane.DropTCPAckUnseen},
		{"RST not at the next sequence", func(c *tcpConn) int {
			return c.segB(c.nb+1, 0, R, nil)
		}, dataplane.DropTCPBadRST},
		{"RST in window but not exact (initiator)", func(c *tcpConn) int {
			return c.segA(c.na+100, c.nb, R|A, nil)
		}, dataplane.DropTCPBadRST},
		{"SYN|FIN", func(c *tcpConn) int { return c.segA(c.na, 0, S|F, nil) }, dataplane.DropTCPBadFlags},
		{"SYN|RST", func(c *tcpConn) int { return c.segA(c.na, 0, S|R, nil) }, dataplane.DropTCPBadFlags},
		{"FIN without ACK", func(c *tcpConn) int { return c.segB(c.nb, 0, F, nil) }, dataplane.DropTCPBadFlags},
		{"no flags", func(c *tcpConn) int { return c.segA(c.na, 0, 0, []byte("x")) }, dataplane.DropTCPBadFlags},
		{"SYN on an established session", func(c *tcpConn) int { return c.segA(c.na+5000, 0, S, nil) }, dataplane.DropTCPSynEstablished},
		{"SYN/ACK from the initiator", func(c *tcpConn) int { return c.segA(c.na, c.nb, S|A, nil) }, dataplane.DropTCPSynEstablished},
	}
	conns := []struct {
		name string
		mk   func(r *run) *tcpConn
	}{
		{"tcp inside out", func(r *run) *tcpConn { return insideOut(r, 33100, "198.51.100.7", 443) }},
		{"smtp outside in", func(r *run) *tcpConn { return outsideIn(r, 40100) }},
	}
	for _, cn := range conns {
		for _, tc := range cases {
			t.Run(cn.name+"/"+tc.name, func(t *testing.T) {
				r := newRun(t, seedSmall(t))
				c := cn.mk(r)
				c.open()
				if c.pa == portOut { // SMTP: the server speaks first
					c.fromB(A|P, []byte("220 mail ESMTP\r\n"))
					c.fromA(A|P, []byte("HELO a\r\n"))
				} else {
					c.fromA(A|P, []byte("hello"))
					c.fromB(A|P, []byte("world"))
				}
				before := r.w.Stats.Drops
				fwd := r.w.Stats.Forwarded
				if n := tc.send(c); n != 0 {
					t.Errorf("invalid segment forwarded")
				}
				after := r.w.Stats.Drops
				for reason := range after {
					d := after[reason] - before[reason]
					want := uint64(0)
					if dataplane.Reason(reason) == tc.want {
						want = 1
					}
					if d != want {
						t.Errorf("drop counter %q +%d, want +%d", dataplane.Reason(reason), d, want)
					}
				}
				if r.w.Stats.Forwarded != fwd {
					t.Errorf("Forwarded counter moved")
				}
				// The session is unharmed: data still flows both ways.
				if c.pa == portOut {
					c.fromB(A|P, []byte("250 hi\r\n"))
					c.fromA(A|P, []byte("QUIT\r\n"))
				} else {
					c.fromA(A|P, []byte("again"))
					c.fromB(A|P, []byte("still"))
				}
				if s := r.sessions(); len(s) != 1 || s[0].State != "SIS_OPEN" {
					t.Errorf("session after the drop: %+v", s)
				}
			})
		}
	}
}

// Segments that match no session: only a clean SYN creates one. A bad
// flag combination is counted as such, anything else without a SYN as
// "non-SYN without session".
func TestTCPNoSession(t *testing.T) {
	const (
		F = packet.FIN
		S = packet.SYN
		R = packet.RST
		A = packet.ACK
	)
	for _, c := range []struct {
		name  string
		flags uint8
		want  dataplane.Reason
	}{
		{"ACK", A, dataplane.DropNoSession},
		{"FIN|ACK", F | A, dataplane.DropNoSession},
		{"RST", R, dataplane.DropNoSession},
		{"SYN|ACK", S | A, dataplane.DropNoSession},
		{"SYN|FIN", S | F, dataplane.DropTCPBadFlags},
		{"SYN|RST", S | R, dataplane.DropTCPBadFlags},
		{"FIN", F, dataplane.DropTCPBadFlags},
		{"no flags", 0, dataplane.DropTCPBadFlags},
	} {
		for _, dir := range []string{"inside out", "outside in"} {
			t.Run(dir+"/"+c.name, func(t *testing.T) {
				r := newRun(t, seedSmall(t))
				conn := insideOut(r, 33200, "198.51.100.7", 443)
				if dir == "outside in" {
					conn = outsideIn(r, 40200)
				}
				if n := conn.segA(1, 0, c.flags, nil); n != 0 {
					t.Fatal("forwarded")
				}
				if got := r.drops(c.want); got != 1 {
					t.Errorf("%q drops %d, want 1 (all: %v)", c.want, got, nonZero(r.w.Stats.Drops[:]))
				}
				if live, _ := r.w.SessionCount(); live != 0 {
					t.Errorf("%d sessions created", live)
				}
			})
		}
	}
}
