package dataplane_test

import (
	"testing"
	"time"
)

// handshake runs SYN, SYN/ACK, ACK for client port sport through the seed
// (outside client to the mail server) and fails unless all three pass.
func handshake(t *testing.T, h *harness, sport uint16, cisn, sisn uint32) {
	t.Helper()
	steps := []struct {
		port int
		s    seg
	}{
		{portOut, seg{src: "172.22.1.100", dst: "172.22.1.110", sport: sport, dport: 25, seq: cisn, syn: true, srcMAC: macClient, dstMAC: macOut0}},
		{portIn, seg{src: "10.10.10.2", dst: "172.22.1.100", sport: 25, dport: sport, seq: sisn, ack: cisn + 1, syn: true, ackf: true, srcMAC: macMail, dstMAC: macIn0}},
		{portOut, seg{src: "172.22.1.100", dst: "172.22.1.110", sport: sport, dport: 25, seq: cisn + 1, ack: sisn + 1, ackf: true, srcMAC: macClient, dstMAC: macOut0}},
	}
	for i, st := range steps {
		out := h.send(st.port, tcpFrame(t, st.s))
		if len(out[1-st.port]) != 1 {
			t.Fatalf("handshake step %d not forwarded (drops %v)", i, h.w.Stats.Drops)
		}
	}
}

// A new SYN on the 5-tuple of a session that closed (both FINs acked) and
// waits out finwait replaces it, as a client reusing a TIME-WAIT port
// expects; a SYN on an open session is still dropped.
func TestSynReusesClosedSession(t *testing.T) {
	h := newHarness(t, compile(t, seedWithNeighbours(t, true)))
	handshake(t, h, 41000, 100, 900)
	// SYN on the established session: dropped.
	out := h.send(portOut, tcpFrame(t, seg{src: "172.22.1.100", dst: "172.22.1.110", sport: 41000, dport: 25, seq: 5000, syn: true, srcMAC: macClient, dstMAC: macOut0}))
	if len(out[portIn]) != 0 {
		t.Fatal("SYN on an established session was forwarded")
	}
	fins := []struct {
		port int
		s    seg
	}{
		{portOut, seg{src: "172.22.1.100", dst: "172.22.1.110", sport: 41000, dport: 25, seq: 101, ack: 901, fin: true, ackf: true, srcMAC: macClient, dstMAC: macOut0}},
		{portIn, seg{src: "10.10.10.2", dst: "172.22.1.100", sport: 25, dport: 41000, seq: 901, ack: 102, fin: true, ackf: true, srcMAC: macMail, dstMAC: macIn0}},
		{portOut, seg{src: "172.22.1.100", dst: "172.22.1.110", sport: 41000, dport: 25, seq: 102, ack: 902, ackf: true, srcMAC: macClient, dstMAC: macOut0}},
	}
	for i, f := range fins {
		if out := h.send(f.port, tcpFrame(t, f.s)); len(out[1-f.port]) != 1 {
			t.Fatalf("close step %d not forwarded (drops %v)", i, h.w.Stats.Drops)
		}
	}
	h.advance(time.Second)
	handshake(t, h, 41000, 7000, 3000)
	if live, _ := h.w.SessionCount(); live != 1 {
		t.Errorf("%d sessions, want the new one only", live)
	}
}
