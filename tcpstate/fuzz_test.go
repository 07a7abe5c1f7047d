package tcpstate

import (
	"encoding/binary"
	"testing"
)

// FuzzStep drives a Conn with random segments placed near the tracked
// sequence numbers (so that many pass the checks and reach deep states)
// and checks invariants after every step: no panic, a dropped segment
// changes nothing, ACKs never exceed what the peer sent, scales stay
// capped, the derived views agree with each other, Closed is final.
//
// Input: isn0, isn1 (4 bytes each), then 8-byte records:
// dir, flags, seq delta (int16, from the sender's end), ack delta (int16,
// from the receiver's end), window high byte, payload length; on SYNs the
// length's low nibble is also the window scale (15: absent).
func FuzzStep(f *testing.F) {
	rec := func(dir, flags uint8, dseq, dack int16, win, n uint8) []byte {
		b := []byte{dir, flags, 0, 0, 0, 0, win, n}
		binary.BigEndian.PutUint16(b[2:], uint16(dseq))
		binary.BigEndian.PutUint16(b[4:], uint16(dack))
		return b
	}
	var full []byte
	full = append(full, 0, 0, 3, 232, 0xFF, 0xFF, 0xFF, 0)
	full = append(full, rec(0, SYN, 0, 0, 255, 7)...)
	full = append(full, rec(1, SYN|ACK, 0, 0, 255, 7)...)
	full = append(full, rec(0, ACK, 0, 0, 255, 0)...)
	full = append(full, rec(0, ACK|PSH, 0, 0, 255, 100)...)
	full = append(full, rec(1, ACK, 0, 0, 255, 0)...)
	full = append(full, rec(0, FIN|ACK, 0, 0, 255, 0)...)
	full = append(full, rec(1, FIN|ACK, 0, 0, 255, 0)...)
	full = append(full, rec(0, ACK, 0, 0, 255, 0)...)
	f.Add(full)
	rst := append([]byte{0xFF, 0xFF, 0xFF, 0xF0, 0, 0, 0, 1}, rec(0, SYN, 0, 0, 10, 15)...)
	rst = append(rst, rec(1, RST|ACK, -5, 0, 0, 0)...)
	rst = append(rst, rec(1, RST, 3, 0, 0, 0)...)
	f.Add(rst)

	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 8 {
			return
		}
		isn := [2]uint32{binary.BigEndian.Uint32(data), binary.BigEndian.Uint32(data[4:])}
		data = data[8:]
		var c Conn
		first := true
		wasClosed := false
		for ; len(data) >= 8; data = data[8:] {
			d := data[0] & 1
			s := Segment{
				Flags:      data[1],
				Window:     uint16(data[6]) << 8,
				PayloadLen: uint32(data[7]),
				WScale:     -1,
			}
			dseq := int16(binary.BigEndian.Uint16(data[2:]))
			dack := int16(binary.BigEndian.Uint16(data[4:]))
			if s.Flags&SYN != 0 {
				if ws := int8(data[7] & 15); ws != 15 {
					s.WScale = ws
				}
				s.SACKPerm = data[7]&16 != 0
				s.PayloadLen = 0
			}
			if c.phase == phaseNone || (s.Flags&SYN != 0 && c.side[d].maxwin == 0) {
				s.Seq = isn[d] + uint32(dseq)
			} else {
				s.Seq = c.side[d].end + uint32(dseq)
			}
			s.Ack = c.side[d^1].end + uint32(dack)
			before := c
			var v Verdict
			if first {
				v = c.Init(&s)
				first = false
			} else {
				v = c.Step(data[0], &s)
			}
			if v >= numVerdicts {
				t.Fatalf("verdict %d out of range", v)
			}
			if v != Accept && c != before && !(c.phase == phaseNone) {
				t.Fatalf("dropped (%v) segment changed the Conn", v)
			}
			checkInvariants(t, &c)
			if wasClosed && !c.Closed() {
				t.Fatalf("Closed session reopened: %v", c.State())
			}
			wasClosed = c.Closed()
		}
	})
}

func checkInvariants(t *testing.T, c *Conn) {
	t.Helper()
	st := c.State()
	if st >= numStates {
		t.Fatalf("state %d out of range", st)
	}
	if c.phase == phaseNone {
		if c.Closed() || c.HalfOpen() {
			t.Fatal("unusable Conn looks alive")
		}
		return
	}
	for d := range c.side {
		s := &c.side[d]
		if s.scale > maxWScale {
			t.Fatalf("side %d scale %d", d, s.scale)
		}
		opened := d == 0 || c.phase >= phaseSynRecv
		if opened && s.maxwin == 0 {
			t.Fatalf("side %d maxwin 0", d)
		}
		if s.flags&sideMaxAck != 0 && seqAfter(s.maxack, c.side[d^1].end) {
			t.Fatalf("side %d acked %d beyond peer end %d", d, s.maxack, c.side[d^1].end)
		}
		if s.flags&sideFINAcked != 0 && s.flags&sideFIN == 0 {
			t.Fatalf("side %d FIN acked but not sent", d)
		}
		if opened && seqBefore(s.end, s.isn+1) {
			t.Fatalf("side %d end %d before isn+1 %d", d, s.end, s.isn+1)
		}
	}
	if c.HalfOpen() != (c.SISName() == "SIS_OPENING") {
		t.Fatalf("HalfOpen %v but SIS %s", c.HalfOpen(), c.SISName())
	}
	if c.HalfOpen() != (c.TimerClass() == TimerSynWait) {
		t.Fatalf("HalfOpen %v but timer %v", c.HalfOpen(), c.TimerClass())
	}
	if c.Closed() && c.TimerClass() != TimerFinWait {
		t.Fatalf("closed session on timer %v", c.TimerClass())
	}
	if c.Closed() != (st == TimeWait || st == Closed) {
		t.Fatalf("Closed %v in state %v", c.Closed(), st)
	}
}
