package dataplane_test

import (
	"fmt"
	"testing"
	"time"

	"cbac/dataplane"
	"cbac/packet"
)

// IOS resets both ends of every half-open session that a threshold
// deletes: these tests check the two RSTs on the wire, and that a high
// rate of connections that complete their handshakes is not cut.

// splitRST separates TCP RSTs from the other frames of a port's output.
func splitRST(frames [][]byte) (other, rsts [][]byte) {
	for _, f := range frames {
		ip := packet.IPv4(f[packet.EthernetHeaderLen:])
		if ip.Protocol() == packet.ProtoTCP && packet.TCP(ip.Payload()).Flags()&packet.RST != 0 {
			rsts = append(rsts, f)
		} else {
			other = append(other, f)
		}
	}
	return other, rsts
}

// wantRST checks that frames holds exactly one segment, an RST that
// travels as the reverse of f (the flow of the packets the receiving end
// sends, as they arrive at the router): Ethernet and IP addresses and
// ports swapped, with valid checksums (decode), and the given seq, ack and
// flags.
func wantRST(t *testing.T, what string, frames [][]byte, f *flow, seq, ack uint32, flags uint8) {
	t.Helper()
	if len(frames) != 1 {
		t.Fatalf("%s: %d frames, want one RST", what, len(frames))
	}
	b := frames[0]
	decode(t, b)
	e := packet.Ethernet(b)
	ip := packet.IPv4(b[packet.EthernetHeaderLen:])
	tc := packet.TCP(ip.Payload())
	if e.Src() != f.dstMAC || e.Dst() != f.srcMAC {
		t.Errorf("%s: Ethernet %v -> %v, want %v -> %v", what, e.Src(), e.Dst(), f.dstMAC, f.srcMAC)
	}
	if ip.Src() != f.dst || ip.Dst() != f.src || tc.SrcPort() != f.dport || tc.DstPort() != f.sport {
		t.Errorf("%s: %s:%d -> %s:%d, want %s:%d -> %s:%d", what,
			packet.IPString(ip.Src()), tc.SrcPort(), packet.IPString(ip.Dst()), tc.DstPort(),
			packet.IPString(f.dst), f.dport, packet.IPString(f.src), f.sport)
	}
	if tc.Seq() != seq || tc.Ack() != ack || tc.Flags() != flags {
		t.Errorf("%s: seq %d ack %d flags %#x, want seq %d ack %d flags %#x", what, tc.Seq(), tc.Ack(), tc.Flags(), seq, ack, flags)
	}
}

// initiatorAccepts is whether the initiator's TCP takes the RST: in
// SYN-SENT it must acknowledge the SYN exactly (RFC 793 3.9: SND.UNA <
// SEG.ACK =< SND.NXT, that is ISN+1), in ESTABLISHED its sequence number
// must be RCV.NXT (RFC 5961 3.2, as Linux checks it).
func initiatorAccepts(established bool, sndNxt, rcvNxt uint32, rst []byte) bool {
	tc := packet.TCP(packet.IPv4(rst[packet.EthernetHeaderLen:]).Payload())
	if tc.Flags()&packet.RST == 0 {
		return false
	}
	if established {
		return tc.Seq() == rcvNxt
	}
	return tc.Flags()&packet.ACK != 0 && tc.Ack() == sndNxt
}

// Aggressive mode, the per-host limit and a host block delete the oldest
// half-open session (conn 0) when conn 3's SYN arrives: the responder gets
// an RST from the initiator's address as it sees it (post-NAT), the
// initiator one from the responder's as it sees it, with the sequence
// numbers each end accepts. Inside-out the initiator's address is
// translated, outside-in the responder's.
func TestThresholdDeletionResetsBothEnds(t *testing.T) {
	aggressive := []string{seedMaxIncomplete, `max_incomplete = { low = 2, high = 3 }`, seedOneMinute, `one_minute = { low = 90000, high = 100000 }`}
	host := []string{`tcp_max_incomplete_host = 50`, `tcp_max_incomplete_host = 3`}
	block := append(host[:2:2], seedBlockTime, `tcp_block_time = "1m"`)
	for _, tc := range []struct {
		name    string
		repl    []string
		conn    func(r *run, i int) *tcpConn
		cause   dataplane.ResetCause
		deleted int // oldest first
	}{
		{"aggressive inside-out", aggressive, func(r *run, i int) *tcpConn { return insideOut(r, uint16(20000+i), outsideHost(i), 443) }, dataplane.ResetAggressive, 1},
		{"aggressive outside-in", aggressive, func(r *run, i int) *tcpConn { return outsideIn(r, uint16(41000+i)) }, dataplane.ResetAggressive, 1},
		{"host oldest", host, func(r *run, i int) *tcpConn { return outsideIn(r, uint16(41000+i)) }, dataplane.ResetHostOldest, 1},
		{"host blocked", block, func(r *run, i int) *tcpConn { return outsideIn(r, uint16(41000+i)) }, dataplane.ResetHostBlocked, 3},
	} {
		for _, synAck := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/synack %v", tc.name, synAck), func(t *testing.T) {
				r := newRun(t, seedVariant(t, smallTable, tc.repl...))
				var conns []*tcpConn
				for i := range 3 {
					c := tc.conn(r, i)
					c.fromA(packet.SYN, nil)
					if synAck {
						// The SYN/ACK passes; the initiator's ACK has not
						// reached the router yet.
						c.fromB(packet.SYN|packet.ACK, nil)
					}
					conns = append(conns, c)
				}
				c3 := tc.conn(r, 3)
				out := r.send(c3.pa, writeTCP(c3.buf[:], &c3.a, c3.na, 0, packet.SYN, nil))
				_, toResponders := splitRST(out[c3.pb])
				_, toInitiators := splitRST(out[c3.pa])
				if len(toResponders) != tc.deleted || len(toInitiators) != tc.deleted {
					t.Fatalf("%d RSTs to responders, %d to initiators; want %d each", len(toResponders), len(toInitiators), tc.deleted)
				}
				for i, c := range conns[:tc.deleted] {
					seq, ack, flags := c.na, uint32(0), uint8(packet.RST)
					rseq := uint32(0)
					if synAck {
						ack, flags, rseq = c.nb, packet.RST|packet.ACK, c.nb
					}
					wantRST(t, fmt.Sprintf("conn %d: RST to the responder", i), toResponders[i:i+1], &c.b, seq, ack, flags)
					wantRST(t, fmt.Sprintf("conn %d: RST to the initiator", i), toInitiators[i:i+1], &c.a, rseq, c.na, packet.RST|packet.ACK)
					if !initiatorAccepts(synAck, c.na, c.nb, toInitiators[i]) {
						t.Errorf("conn %d: the initiator (established %v) would not accept its RST", i, synAck)
					}
					if c.exists() {
						t.Errorf("conn %d not deleted", i)
					}
				}
				if n := r.w.Stats.HalfOpenResets[tc.cause]; n != uint64(tc.deleted) {
					t.Errorf("%v resets %d, want %d", tc.cause, n, tc.deleted)
				}
				// The deleted session's late segments find none.
				c := conns[0]
				if synAck {
					if n := c.segA(c.na, c.nb, packet.ACK, nil); n != 0 {
						t.Error("ACK of a deleted session forwarded")
					}
				}
				// No count is left behind once synwait is over.
				for range 4 {
					r.advance(synwait / 3)
				}
				if live, half := r.w.SessionCount(); live != 0 || half != 0 {
					t.Errorf("after synwait: %d sessions, %d half-open", live, half)
				}
				if shared, h := r.w.AdmissionHalfOpen(c3.b.src); shared != 0 || h != 0 {
					t.Errorf("after synwait: admission counts %d half-open, %d to the host", shared, h)
				}
			})
		}
	}
}

// A legitimate high connection rate: 1,000 sessions a virtual second, each
// completing its handshake four sessions later (at most 5 half-open),
// crosses one-minute high (500) within the first second. Aggressive mode
// is on (ALERT_ON once) but no handshake is cut: with 5 half-open, far
// below max-incomplete low, deleting one is not required.
func TestHighRateFewHalfOpenNotCut(t *testing.T) {
	r := newRun(t, seedSmall(t))
	const total, lag = 2000, 4
	conns := make([]*tcpConn, total)
	complete := func(c *tcpConn) {
		c.fromB(packet.SYN|packet.ACK, nil)
		c.fromA(packet.ACK, nil)
	}
	for i := range total {
		r.now += int64(time.Millisecond)
		c := insideOut(r, uint16(20000+i), outsideHost(i%1000), 443)
		c.fromA(packet.SYN, nil) // fails the test if it is not forwarded
		conns[i] = c
		if i >= lag {
			complete(conns[i-lag])
		}
	}
	for _, c := range conns[total-lag:] {
		complete(c)
	}
	wantLog(t, r, "2,000 sessions in 2 s", "%FW-4-ALERT_ON: getting aggressive, count (5/500) current 1-min rate: 501")
	if st := r.w.Stats; st.HalfOpenResets != [dataplane.NumResetCauses]uint64{} || st.SessionsDeleted != 0 {
		t.Errorf("resets %v, %d sessions deleted; want none", st.HalfOpenResets, st.SessionsDeleted)
	}
	if live, half := r.w.SessionCount(); live != total || half != 0 {
		t.Errorf("%d sessions, %d half-open; want %d, 0", live, half, total)
	}
	if shared, _ := r.w.AdmissionHalfOpen(0); shared != 0 {
		t.Errorf("admission counts %d half-open, want 0", shared)
	}
}

// A SYN flood: 600 half-open sessions. From the 501st on, each new SYN
// deletes (and resets) the oldest half-open session, as before: 100 of
// them, then one more per SYN.
func TestSYNFloodDeletesOldest(t *testing.T) {
	r := newRun(t, seedSmall(t))
	frames, conns := synsInsideOut(r, 0, 600)
	out := r.sendAll(portIn, frames)
	syns, toServers := splitRST(out[portOut])
	_, toClient := splitRST(out[portIn])
	if len(syns) != 600 || len(toServers) != 100 || len(toClient) != 100 {
		t.Fatalf("%d SYNs forwarded, %d RSTs to servers, %d to the client; want 600, 100, 100", len(syns), len(toServers), len(toClient))
	}
	wantLog(t, r, "600 SYNs", "%FW-4-ALERT_ON: getting aggressive, count (501/500) current 1-min rate: 501")
	for i, c := range conns[:101] {
		if c.exists() != (i == 100) {
			t.Fatalf("conn %d exists %v", i, c.exists())
		}
	}
	for i, f := range toServers {
		c := conns[i]
		wantRST(t, fmt.Sprintf("RST %d to a server", i), [][]byte{f}, &c.b, c.na, 0, packet.RST)
	}
	f, _ := synsInsideOut(r, 600, 601)
	out = r.sendAll(portIn, f)
	if _, rsts := splitRST(out[portOut]); len(rsts) != 1 || conns[100].exists() || !conns[101].exists() {
		t.Errorf("SYN 601: %d RSTs, conn 100 exists %v, conn 101 %v; want 1, false, true", len(rsts), conns[100].exists(), conns[101].exists())
	}
	if n := r.w.Stats.HalfOpenResets[dataplane.ResetAggressive]; n != 101 {
		t.Errorf("%d aggressive resets, want 101", n)
	}
	// The rest expire and are reset: no count is left.
	for range 4 {
		r.advance(synwait / 3)
	}
	if n := r.w.Stats.HalfOpenResets[dataplane.ResetSynWait]; n != 500 {
		t.Errorf("%d resets at synwait expiry, want 500", n)
	}
	if live, half := r.w.SessionCount(); live != 0 || half != 0 {
		t.Errorf("after synwait: %d sessions, %d half-open", live, half)
	}
	if shared, _ := r.w.AdmissionHalfOpen(0); shared != 0 {
		t.Errorf("admission counts %d half-open, want 0", shared)
	}
}

// Without a free frame the RSTs cannot be built: each is counted as
// DropNoFrame, the session is deleted all the same and no frame is lost.
func TestThresholdResetWithoutFrames(t *testing.T) {
	h := newHarness(t, compile(t, seedVariant(t, "", seedMaxIncomplete, `max_incomplete = { low = 2, high = 3 }`,
		seedOneMinute, `one_minute = { low = 90000, high = 100000 }`)))
	r := &run{harness: h}
	frames, conns := synsInsideOut(r, 0, 4)
	r.sendAll(portIn, frames[:3])
	restore := h.w.EmptyPool()
	out := r.sendAll(portIn, frames[3:])
	restore()
	syns, rsts := splitRST(out[portOut])
	if len(syns) != 1 || len(rsts) != 0 || len(out[portIn]) != 0 {
		t.Errorf("%d SYNs, %d RSTs out, %d frames in; want 1, 0, 0", len(syns), len(rsts), len(out[portIn]))
	}
	if n := h.drops(dataplane.DropNoFrame); n != 2 {
		t.Errorf("no-frame drops %d, want 2", n)
	}
	if conns[0].exists() || !conns[3].exists() {
		t.Errorf("oldest exists %v, new %v; want false, true", conns[0].exists(), conns[3].exists())
	}
	if n := h.w.FramesAccounted(h.q); n != harnessFrames {
		t.Errorf("%d frames accounted for, want %d", n, harnessFrames)
	}
}
