package dataplane_test

import (
	"bytes"
	"testing"
)

// Message data of inspected SMTP sessions is kept by holding the frames it
// was forwarded in (hold.go): a retransmission is restored from them, the
// server's ACK lets them go back to the pool, so does the end of the
// session, and no frame is ever lost or counted twice.
func TestSMTPDataFramesHeld(t *testing.T) {
	h := newHarness(t, compile(t, smtpSeed(t, "")))
	const frames = 4096 // newHarness
	accounted := func(when string) {
		t.Helper()
		if n := h.w.FramesAccounted(h.q); n != frames {
			held, parked := h.w.FramesHeld()
			t.Fatalf("%s: %d frames accounted for, want %d (held %d, parked %d)", when, n, frames, held, parked)
		}
	}
	c := openSMTP(t, h, 40200, -1)
	c.toData()
	accounted("data mode")

	seg := func(b byte) []byte { return bytes.Repeat([]byte{b}, 1000) }
	first := c.cseq
	for _, b := range []byte{'a', 'b', 'c'} {
		if fwd := c.clientAt(c.cseq, seg(b)); !bytes.Equal(fwd, seg(b)) {
			t.Fatalf("segment %c not forwarded as sent", b)
		}
		c.cseq += 1000
	}
	h.step() // the last transmission completes
	if held, parked := h.w.FramesHeld(); held != 3 || parked != 3 {
		t.Fatalf("after 3 data segments: held %d, parked %d; want 3, 3", held, parked)
	}
	accounted("3 held")

	// The second segment again, with other bytes, and a segment spanning
	// the first two: the first copies reach the server, from frames that
	// were not given back (free frames are poisoned first).
	h.w.PoisonFree(h.q)
	if again := c.clientAt(first+1000, seg('Z')); !bytes.Equal(again, seg('b')) {
		t.Fatalf("retransmission reached the server as %q..., not the first copy", again[:8])
	}
	h.w.PoisonFree(h.q)
	span := append(seg('Y')[:500], seg('Y')...)
	if again := c.clientAt(first+500, span); !bytes.Equal(again, append(seg('a')[:500], seg('b')...)) {
		t.Fatal("spanning retransmission not restored from both frames")
	}
	if !c.hasMessage("%FW-4-SMTP_RETRANSMIT_DIFFERS") {
		t.Errorf("no alert for the differing retransmissions: %q", c.messages())
	}
	accounted("after retransmissions")

	// The server acknowledges the first two segments and half the third.
	c.h.send(portIn, c.fromServer(c.sseq, first+2500, 0x10, 65535, -1, nil))
	h.step()
	if held, parked := h.w.FramesHeld(); held != 1 || parked != 1 {
		t.Fatalf("after ACK of 2.5 segments: held %d, parked %d; want 1, 1", held, parked)
	}
	accounted("after ACK")

	// A held frame whose session ends goes back too.
	if n := h.w.ClearSession(0, true); n != 1 {
		t.Fatalf("cleared %d sessions", n)
	}
	if held, parked := h.w.FramesHeld(); held != 0 || parked != 0 {
		t.Fatalf("after clear: held %d, parked %d", held, parked)
	}
	accounted("after clear")
}

// With no frame to spare for holding, message data is copied as before and
// behaves the same.
func TestSMTPDataHoldBudget(t *testing.T) {
	h := newHarness(t, compile(t, smtpSeed(t, "")))
	h.w.SetHoldMax(1)
	c := openSMTP(t, h, 40201, -1)
	c.toData()
	first := c.cseq
	for _, b := range []byte{'a', 'b', 'c'} {
		c.clientAt(c.cseq, bytes.Repeat([]byte{b}, 1000))
		c.cseq += 1000
	}
	if held, _ := h.w.FramesHeld(); held != 1 {
		t.Fatalf("held %d frames with a budget of 1", held)
	}
	for i, b := range []byte{'a', 'b', 'c'} {
		h.w.PoisonFree(h.q)
		if again := c.clientAt(first+uint32(1000*i), bytes.Repeat([]byte{'Z'}, 1000)); !bytes.Equal(again, bytes.Repeat([]byte{b}, 1000)) {
			t.Fatalf("retransmission of segment %c (held or copied) not restored", b)
		}
	}
	if n := h.w.FramesAccounted(h.q); n != 4096 {
		t.Fatalf("%d frames accounted for", n)
	}
}
