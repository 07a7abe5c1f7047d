package dataplane_test

import (
	"strings"
	"testing"
	"time"

	"cbac/control"
	"cbac/dataplane"
)

// With "ip inspect audit-trail", a session's start and stop are reported
// in the IOS formats, with the bytes each side sent (docs/behaviour.md "Audit trail and alerts").
func TestAuditTrail(t *testing.T) {
	cfg := strings.Replace(string(seedWithNeighbours(t, true)), "audit_trail = false", "audit_trail = true", 1)
	rs := compile(t, []byte(cfg))
	h := newHarness(t, rs)
	var msgs []string
	collect := func() {
		for i := range h.evs {
			if m, _ := control.Message(&h.evs[i], rs); m != "" {
				msgs = append(msgs, m)
			}
		}
	}
	handshakeCollect := func() {
		handshake(t, h, 42000, 100, 900)
	}
	handshakeCollect()
	collect() // only the last step's events are in h.evs: the start is emitted at the SYN
	// Data both ways: 5 bytes from the client, 12 from the server.
	h.send(portOut, tcpFrame(t, seg{src: "172.22.1.100", dst: "172.22.1.110", sport: 42000, dport: 25, seq: 101, ack: 901, ackf: true, psh: true,
		payload: []byte("NOOP\n"), srcMAC: macClient, dstMAC: macOut0}))
	collect()
	h.send(portIn, tcpFrame(t, seg{src: "10.10.10.2", dst: "172.22.1.100", sport: 25, dport: 42000, seq: 901, ack: 106, ackf: true, psh: true,
		payload: []byte("220 ready\r\n\n"), srcMAC: macMail, dstMAC: macIn0}))
	collect()
	h.send(portOut, tcpFrame(t, seg{src: "172.22.1.100", dst: "172.22.1.110", sport: 42000, dport: 25, seq: 106, ack: 913, rst: true, ackf: true,
		srcMAC: macClient, dstMAC: macOut0}))
	collect()
	h.advance(6 * time.Second) // finwait after the RST
	collect()
	if live, _ := h.w.SessionCount(); live != 0 {
		t.Fatalf("session still there after finwait")
	}
	want := []string{
		"%FW-6-SESS_AUDIT_TRAIL: Stop smtp session: initiator (172.22.1.100:42000) sent 5 bytes -- responder (172.22.1.110:25) sent 12 bytes",
	}
	joined := strings.Join(msgs, "\n")
	for _, w := range want {
		if !strings.Contains(joined, w) {
			t.Errorf("missing %q in:\n%s", w, joined)
		}
	}
}

// The start message is emitted with the SYN.
func TestAuditTrailStart(t *testing.T) {
	cfg := strings.Replace(string(seedWithNeighbours(t, true)), "audit_trail = false", "audit_trail = true", 1)
	rs := compile(t, []byte(cfg))
	h := newHarness(t, rs)
	h.send(portOut, tcpFrame(t, seg{src: "172.22.1.100", dst: "172.22.1.110", sport: 42001, dport: 25, seq: 1, syn: true, srcMAC: macClient, dstMAC: macOut0}))
	var got []string
	for i := range h.evs {
		if h.evs[i].Kind == dataplane.EvAuditStart {
			m, alert := control.Message(&h.evs[i], rs)
			if alert {
				t.Errorf("audit start classed as a rate-limited alert")
			}
			got = append(got, m)
		}
	}
	want := "%FW-6-SESS_AUDIT_TRAIL_START: Start smtp session: initiator (172.22.1.100:42001) -- responder (172.22.1.110:25)"
	if len(got) != 1 || got[0] != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// clear ip inspect session removes one session by ID, or all.
func TestClearSessions(t *testing.T) {
	h := newHarness(t, compile(t, seedWithNeighbours(t, true)))
	handshake(t, h, 43000, 1, 1)
	handshake(t, h, 43001, 1, 1)
	all := control.Sessions(h.dp)
	if len(all) != 2 {
		t.Fatalf("%d sessions", len(all))
	}
	if n := h.w.ClearSession(all[0].ID, false); n != 1 {
		t.Errorf("clear by ID removed %d", n)
	}
	if n := h.w.ClearSession(all[0].ID, false); n != 0 {
		t.Errorf("clearing a gone session removed %d", n)
	}
	if n := h.w.ClearSession(0, true); n != 1 {
		t.Errorf("clear all removed %d", n)
	}
	// The cleared session's packets now match nothing: a data segment is
	// dropped (not a SYN).
	out := h.send(portOut, tcpFrame(t, seg{src: "172.22.1.100", dst: "172.22.1.110", sport: 43000, dport: 25, seq: 2, ack: 2, ackf: true,
		srcMAC: macClient, dstMAC: macOut0}))
	if len(out[portIn]) != 0 || h.drops(dataplane.DropNoSession) == 0 {
		t.Errorf("packet of a cleared session forwarded")
	}
}
