package tcpstate

import (
	"reflect"
	"testing"
)

// seg builds a segment with a 65535 window and no options.
func seg(flags uint8, seq, ack, n uint32) Segment {
	return Segment{Seq: seq, Ack: ack, Window: 65535, Flags: flags, PayloadLen: n, WScale: -1}
}

// sub is a - b modulo 2^32.
func sub(a, b uint32) uint32 { return a - b }

func withWin(s Segment, win uint16) Segment { s.Window = win; return s }
func withWS(s Segment, ws int8) Segment     { s.WScale = ws; return s }

// step is one segment of a scenario; the first step of a scenario is
// given to Init. state, sis, timer are checked when non-zero / non-empty.
type step struct {
	dir    uint8
	seg    Segment
	want   Verdict
	state  State
	sis    string
	closed bool
}

// Initiator ISN 1000, responder ISN 5000: after the handshake the
// initiator's next sequence is 1001 and the responder's 5001.
var handshake = []step{
	{0, seg(SYN, 1000, 0, 0), Accept, SynSent, "SIS_OPENING", false},
	{1, seg(SYN|ACK, 5000, 1001, 0), Accept, SynRecv, "SIS_OPENING", false},
	{0, seg(ACK, 1001, 5001, 0), Accept, Established, "SIS_OPEN", false},
}

func run(t *testing.T, steps []step) *Conn {
	t.Helper()
	var c Conn
	for i, st := range steps {
		var v Verdict
		before := c
		if i == 0 {
			v = c.Init(&st.seg)
		} else {
			v = c.Step(st.dir, &st.seg)
		}
		if v != st.want {
			t.Fatalf("step %d (dir %d flags %#x seq %d ack %d len %d): verdict %v, want %v (state %v)",
				i, st.dir, st.seg.Flags, st.seg.Seq, st.seg.Ack, st.seg.PayloadLen, v, st.want, c.State())
		}
		if v != Accept && i > 0 && c != before {
			t.Fatalf("step %d: dropped segment changed the Conn", i)
		}
		if st.state != None && c.State() != st.state {
			t.Fatalf("step %d: state %v, want %v", i, c.State(), st.state)
		}
		if st.sis != "" && c.SISName() != st.sis {
			t.Fatalf("step %d: SIS %s, want %s", i, c.SISName(), st.sis)
		}
		if c.Closed() != st.closed {
			t.Fatalf("step %d: Closed() %v, want %v", i, c.Closed(), st.closed)
		}
	}
	return &c
}

func concat(parts ...[]step) []step {
	var out []step
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestScenarios(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
		timer Timer
	}{
		{"full handshake, data, FIN close", concat(handshake, []step{
			{0, seg(ACK|PSH, 1001, 5001, 100), Accept, Established, "SIS_OPEN", false},
			{1, seg(ACK, 5001, 1101, 0), Accept, Established, "", false},
			{1, seg(ACK|PSH, 5001, 1101, 50), Accept, Established, "", false},
			{0, seg(ACK, 1101, 5051, 0), Accept, Established, "", false},
			{0, seg(FIN|ACK, 1101, 5051, 0), Accept, FinWait, "SIS_CLOSING", false},
			{1, seg(ACK, 5051, 1102, 0), Accept, CloseWait, "SIS_CLOSING", false},
			{1, seg(ACK|PSH, 5051, 1102, 10), Accept, CloseWait, "", false}, // half-close: R may still send
			{1, seg(FIN|ACK, 5061, 1102, 0), Accept, LastAck, "SIS_CLOSING", false},
			{0, seg(ACK, 1102, 5062, 0), Accept, TimeWait, "SIS_CLOSING", true},
			{1, seg(FIN|ACK, 5061, 1102, 0), Accept, TimeWait, "", true}, // retransmitted FIN
			{0, seg(ACK, 1102, 5062, 0), Accept, TimeWait, "", true},
			{1, seg(ACK|PSH, 5062, 1102, 5), DataAfterFin, TimeWait, "", true},
		}), TimerFinWait},
		{"simultaneous close", concat(handshake, []step{
			{0, seg(FIN|ACK, 1001, 5001, 0), Accept, FinWait, "SIS_CLOSING", false},
			{1, seg(FIN|ACK, 5001, 1001, 0), Accept, LastAck, "SIS_CLOSING", false},
			{0, seg(ACK, 1002, 5002, 0), Accept, LastAck, "", false},
			{1, seg(ACK, 5002, 1002, 0), Accept, TimeWait, "", true},
		}), TimerFinWait},
		{"one FIN keeps the idle timer", concat(handshake, []step{
			{1, seg(FIN|ACK, 5001, 1001, 0), Accept, FinWait, "SIS_CLOSING", false},
			{0, seg(ACK, 1001, 5002, 0), Accept, CloseWait, "", false},
		}), TimerIdle},
		{"data after FIN", concat(handshake, []step{
			{0, seg(FIN|ACK|PSH, 1001, 5001, 10), Accept, FinWait, "", false},
			{0, seg(ACK|PSH, 1012, 5001, 1), DataAfterFin, FinWait, "", false},
			{0, seg(FIN|ACK, 1012, 5001, 0), DataAfterFin, FinWait, "", false}, // second FIN later
			{0, seg(FIN|ACK|PSH, 1001, 5001, 10), Accept, FinWait, "", false},  // retransmission
			{0, seg(ACK|PSH, 1001, 5001, 10), Accept, FinWait, "", false},      // data before the FIN
		}), TimerIdle},
		{"FIN before data already sent", concat(handshake, []step{
			{0, seg(ACK|PSH, 1001, 5001, 100), Accept, Established, "", false},
			{0, seg(FIN|ACK, 1050, 5001, 0), DataAfterFin, Established, "", false},
		}), TimerIdle},

		// RST (RFC 5961 3.2).
		{"RST exact at sender's next seq", concat(handshake, []step{
			{0, seg(ACK|PSH, 1001, 5001, 100), Accept, Established, "", false},
			{0, seg(RST, 1101, 0, 0), Accept, Closed, "SIS_CLOSING", true},
		}), TimerFinWait},
		{"RST exact at receiver's last ACK", concat(handshake, []step{
			{0, seg(ACK|PSH, 1001, 5001, 100), Accept, Established, "", false},
			{0, seg(RST|ACK, 1001, 5001, 0), Accept, Closed, "", true},
		}), TimerFinWait},
		{"RST from responder exact", concat(handshake, []step{
			{0, seg(ACK|PSH, 1001, 5001, 100), Accept, Established, "", false},
			{1, seg(RST|ACK, 5001, 1101, 0), Accept, Closed, "", true},
		}), TimerFinWait},
		{"RST inexact", concat(handshake, []step{
			{0, seg(ACK|PSH, 1001, 5001, 100), Accept, Established, "", false},
			{0, seg(RST, 1050, 0, 0), BadRST, Established, "SIS_OPEN", false},
			{0, seg(RST, 1102, 0, 0), BadRST, Established, "", false},
			{1, seg(RST, 5002, 0, 0), BadRST, Established, "", false},
			{1, seg(RST, 5000, 0, 0), BadRST, Established, "", false},
			{1, seg(RST|ACK, 5001, 1102, 0), AckUnseen, Established, "", false},
			{1, seg(RST|ACK, 5001, 0, 0), Accept, Closed, "", true}, // ack 0: broken stacks, tolerated
		}), TimerFinWait},
		{"RST in window while closing", concat(handshake, []step{
			{0, seg(FIN|ACK, 1001, 5001, 0), Accept, FinWait, "", false},
			{1, seg(RST, 5001+70000, 0, 0), BadRST, FinWait, "", false}, // beyond maxend
			{1, seg(RST, 5001+300, 0, 0), Accept, Closed, "SIS_CLOSING", true},
			{1, seg(RST, 5001+301, 0, 0), Accept, Closed, "", true},         // retransmitted/crossing RST
			{0, seg(RST, 1002+70000, 0, 0), AfterReset, Closed, "", true},   // out of window after reset
			{0, seg(ACK|PSH, 1002, 5001, 10), AfterReset, Closed, "", true}, // data after reset
			{0, seg(SYN, 1000, 0, 0), AfterReset, Closed, "", true},         // reopen is the caller's job
		}), TimerFinWait},
		{"RST refusing the SYN", []step{
			{0, seg(SYN, 1000, 0, 0), Accept, SynSent, "", false},
			{1, seg(RST, 0, 0, 0), BadRST, SynSent, "", false},        // no ACK
			{1, seg(RST|ACK, 0, 1000, 0), BadRST, SynSent, "", false}, // does not ack the SYN
			{1, seg(RST|ACK, 0, 1002, 0), BadRST, SynSent, "", false}, // acks beyond the SYN
			{1, seg(RST|ACK, 0, 1001, 0), Accept, Closed, "SIS_CLOSING", true},
			{1, seg(RST|ACK, 0, 1001, 0), AfterReset, Closed, "", true}, // no window yet
		}, TimerFinWait},
		{"RST from initiator in SYN_SENT", []step{
			{0, seg(SYN, 1000, 0, 0), Accept, SynSent, "", false},
			{0, seg(RST, 1000, 0, 0), BadRST, SynSent, "", false},
			{0, seg(RST, 1001, 0, 0), Accept, Closed, "", true},
		}, TimerFinWait},
		{"RST in SYN_RECV", concat(handshake[:2], []step{
			{1, seg(RST, 5002, 0, 0), BadRST, SynRecv, "", false},
			{0, seg(RST, 1001, 0, 0), Accept, Closed, "", true},
		}), TimerFinWait},

		// Window and ACK bounds.
		{"data beyond the receiver's window", concat(handshake, []step{
			{0, seg(ACK|PSH, 1001+65535+1, 5001, 10), OutOfWindow, Established, "", false},
			{0, seg(ACK|PSH, 1001+65535, 5001, 1), Accept, Established, "", false}, // edge: seq == maxend
		}), TimerIdle},
		{"data from before the window", concat(handshake, []step{
			{0, seg(ACK|PSH, 1001+1000, 5001, 100), Accept, Established, "", false},
			{0, seg(ACK|PSH, sub(1001+1100, 65535+200), 5001, 100), OutOfWindow, Established, "", false},
			{0, seg(ACK|PSH, 1001, 5001, 100), Accept, Established, "", false}, // retransmission within the window
		}), TimerIdle},
		{"ACK of unseen data", concat(handshake, []step{
			{0, seg(ACK, 1001, 5002, 0), AckUnseen, Established, "", false},
			{1, seg(ACK|PSH, 5001, 1002, 10), AckUnseen, Established, "", false},
			{1, seg(ACK|PSH, 5001, 1001, 10), Accept, Established, "", false},
			{0, seg(ACK, 1001, 5011, 0), Accept, Established, "", false},
			{0, seg(ACK, 1001, 5012, 0), AckUnseen, Established, "", false},
		}), TimerIdle},
		{"ACK too old", concat(handshake, []step{
			{0, seg(ACK, 1001, sub(5001, 66001), 0), AckTooOld, Established, "", false},
			{0, seg(ACK, 1001, sub(5001, 66000), 0), Accept, Established, "", false},
		}), TimerIdle},

		{"zero window", []step{
			{0, seg(SYN, 1000, 0, 0), Accept, SynSent, "", false},
			{1, withWin(seg(SYN|ACK, 5000, 1001, 0), 0), Accept, SynRecv, "", false},
			{0, seg(ACK|PSH, 1003, 5001, 1), OutOfWindow, SynRecv, "", false},
			{0, seg(ACK|PSH, 1001, 5001, 1), Accept, Established, "", false}, // window probe
			{1, withWin(seg(ACK, 5001, 1002, 0), 0), Accept, Established, "", false},
			{0, seg(ACK|PSH, 1002, 5001, 1), Accept, Established, "", false}, // probe at the edge
			{0, seg(ACK|PSH, 1003, 5001, 1), Accept, Established, "", false}, // ack + 0 + 1, as Linux
			{0, seg(ACK|PSH, 1004, 5001, 1), OutOfWindow, Established, "", false},
		}, TimerIdle},

		// Handshake.
		{"retransmitted SYN", []step{
			{0, seg(SYN, 1000, 0, 0), Accept, SynSent, "", false},
			{0, seg(SYN, 1000, 0, 0), Accept, SynSent, "", false},
			{0, seg(SYN, 999, 0, 0), BadHandshake, SynSent, "", false},
			{0, seg(SYN, 3000, 0, 0), Accept, SynSent, "", false}, // reinitialised, later ISN
			{1, seg(SYN|ACK, 5000, 1001, 0), BadHandshake, SynSent, "", false},
			{1, seg(SYN|ACK, 5000, 3001, 0), Accept, SynRecv, "", false},
			{0, seg(SYN, 3000, 0, 0), Accept, SynRecv, "", false},        // SYN/ACK lost after us
			{0, seg(SYN, 3001, 0, 0), BadHandshake, SynRecv, "", false},  // another ISN
			{1, seg(SYN|ACK, 5000, 3001, 0), Accept, SynRecv, "", false}, // retransmitted SYN/ACK
			{1, seg(SYN|ACK, 5005, 3001, 0), BadHandshake, SynRecv, "", false},
			{0, seg(ACK, 3001, 5001, 0), Accept, Established, "SIS_OPEN", false},
		}, TimerIdle},
		{"bad handshakes", []step{
			{0, seg(SYN, 1000, 0, 0), Accept, SynSent, "", false},
			{1, seg(SYN|ACK, 5000, 1000, 0), BadHandshake, SynSent, "", false}, // acks ISN, not ISN+1
			{1, seg(SYN|ACK, 5000, 1002, 0), BadHandshake, SynSent, "", false}, // acks unseen
			{0, seg(SYN|ACK, 5000, 1001, 0), BadHandshake, SynSent, "", false}, // from the initiator
			{1, seg(SYN, 5000, 0, 0), BadHandshake, SynSent, "", false},        // simultaneous open
			{1, seg(ACK, 5000, 1001, 0), BadHandshake, SynSent, "", false},     // plain ACK answering the SYN
			{0, seg(ACK, 1001, 5001, 0), AckUnseen, SynSent, "", false},        // nothing to ACK yet
			{1, seg(SYN|ACK, 5000, 1001, 0), Accept, SynRecv, "", false},
			{1, seg(ACK|PSH, 5001, 1001, 10), BadHandshake, SynRecv, "", false}, // responder data before ESTABLISHED
			{0, seg(ACK, 1001, 5000, 0), BadHandshake, SynRecv, "", false},      // does not ack the SYN/ACK
			{0, seg(ACK, 1001, 5002, 0), AckUnseen, SynRecv, "", false},
			{0, seg(ACK|PSH, 1001, 5001, 20), Accept, Established, "", false}, // third segment with data
		}, TimerIdle},
		{"SYN on established", concat(handshake, []step{
			{0, seg(SYN, 1000, 0, 0), SynOnEstablished, Established, "", false},
			{0, seg(SYN, 9000, 0, 0), SynOnEstablished, Established, "", false},
			{1, seg(SYN, 5000, 0, 0), SynOnEstablished, Established, "", false},
			{0, seg(SYN|ACK, 1000, 5001, 0), SynOnEstablished, Established, "", false},
			{1, seg(SYN|ACK, 5007, 1001, 0), SynOnEstablished, Established, "", false},
			{1, seg(SYN|ACK, 5000, 1001, 0), Accept, Established, "", false}, // exact retransmission: initiator's ACK was lost
			{1, seg(ACK|PSH, 5001, 1001, 10), Accept, Established, "", false},
			{1, seg(SYN|ACK, 5000, 1001, 0), SynOnEstablished, Established, "", false}, // not after data
		}), TimerIdle},
		{"bad flags on established", concat(handshake, []step{
			{0, seg(SYN|FIN, 1001, 0, 0), BadFlags, Established, "", false},
			{0, seg(SYN|RST, 1001, 0, 0), BadFlags, Established, "", false},
			{0, seg(FIN, 1001, 0, 0), BadFlags, Established, "", false},
			{0, seg(0, 1001, 0, 0), BadFlags, Established, "", false},
			{0, seg(PSH, 1001, 0, 5), BadFlags, Established, "", false},
			{0, seg(URG, 1001, 0, 0), BadFlags, Established, "", false},
			{0, seg(RST|FIN, 1001, 0, 0), BadFlags, Established, "", false},
			{0, seg(RST|FIN|ACK, 1001, 5001, 0), BadFlags, Established, "", false},
			{0, seg(SYN|ACK|URG, 1001, 5001, 0), BadFlags, Established, "", false},
			{0, seg(SYN|FIN|RST|PSH|ACK|URG, 1001, 5001, 0), BadFlags, Established, "", false}, // xmas
			{0, seg(RST|ACK|URG, 1001, 5001, 0), BadFlags, Established, "", false},
			{0, seg(ACK|PSH|ECE|CWR, 1001, 5001, 10), Accept, Established, "", false}, // ECN bits are fine
			{0, seg(ACK|URG, 1011, 5001, 1), Accept, Established, "", false},
		}), TimerIdle},

		// Sequence wraparound.
		{"sequence wraparound", []step{
			{0, seg(SYN, 0xFFFFFF00, 0, 0), Accept, SynSent, "", false},
			{1, seg(SYN|ACK, 0xFFFFFFF0, 0xFFFFFF01, 0), Accept, SynRecv, "", false},
			{0, seg(ACK, 0xFFFFFF01, 0xFFFFFFF1, 0), Accept, Established, "", false},
			{0, seg(ACK|PSH, 0xFFFFFF01, 0xFFFFFFF1, 0x200), Accept, Established, "", false}, // crosses 2^32
			{1, seg(ACK, 0xFFFFFFF1, 0x101, 0), Accept, Established, "", false},
			{1, seg(ACK|PSH, 0xFFFFFFF1, 0x101, 0x20), Accept, Established, "", false},
			{0, seg(ACK, 0x101, 0x11, 0), Accept, Established, "", false},
			{0, seg(ACK, 0x101, 0x12, 0), AckUnseen, Established, "", false},
			{0, seg(ACK|PSH, 0xFFFFFF01-66000, 0x11, 10), OutOfWindow, Established, "", false},
			{1, seg(RST, 0x10, 0, 0), BadRST, Established, "", false},
			{0, seg(FIN|ACK, 0x101, 0x11, 0), Accept, FinWait, "", false},
			{1, seg(FIN|ACK, 0x11, 0x102, 0), Accept, LastAck, "", false},
			{0, seg(ACK, 0x102, 0x12, 0), Accept, TimeWait, "", true},
		}, TimerFinWait},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := run(t, tt.steps)
			if got := c.TimerClass(); got != tt.timer {
				t.Errorf("TimerClass %v, want %v", got, tt.timer)
			}
		})
	}
}

func TestInit(t *testing.T) {
	tests := []struct {
		name string
		seg  Segment
		want Verdict
	}{
		{"SYN", seg(SYN, 1, 0, 0), Accept},
		{"SYN with ECN setup", seg(SYN|ECE|CWR, 1, 0, 0), Accept},
		{"SYN|URG", seg(SYN|URG, 1, 0, 0), Accept},
		{"SYN with data", seg(SYN, 1, 0, 100), Accept},
		{"SYN|ACK", seg(SYN|ACK, 1, 7, 0), NotSyn},
		{"ACK", seg(ACK, 1, 7, 0), NotSyn},
		{"RST", seg(RST, 1, 0, 0), NotSyn},
		{"FIN|ACK", seg(FIN|ACK, 1, 7, 0), NotSyn},
		{"SYN|FIN", seg(SYN|FIN, 1, 0, 0), BadFlags},
		{"SYN|RST", seg(SYN|RST, 1, 0, 0), BadFlags},
		{"no flags", seg(0, 1, 0, 0), BadFlags},
		{"FIN", seg(FIN, 1, 0, 0), BadFlags},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Conn
			if v := c.Init(&tt.seg); v != tt.want {
				t.Fatalf("Init: %v, want %v", v, tt.want)
			}
			wantState := SynSent
			if tt.want != Accept {
				wantState = None
				// An unusable Conn refuses everything.
				s := seg(ACK, 2, 0, 0)
				if v := c.Step(1, &s); v != NotSyn {
					t.Errorf("Step after failed Init: %v, want NotSyn", v)
				}
			}
			if c.State() != wantState {
				t.Errorf("state %v, want %v", c.State(), wantState)
			}
		})
	}
}

func TestNextSeq(t *testing.T) {
	c := run(t, concat(handshake, []step{
		{0, seg(ACK|PSH, 1001, 5001, 100), Accept, Established, "", false},
		{1, seg(ACK|PSH, 5001, 1101, 7), Accept, Established, "", false},
	}))
	if c.NextSeq(0) != 1101 || c.NextSeq(1) != 5008 {
		t.Fatalf("NextSeq %d %d", c.NextSeq(0), c.NextSeq(1))
	}
	// An RST built from NextSeq is exact.
	r := seg(RST|ACK, c.NextSeq(1), c.NextSeq(0), 0)
	if v := c.Step(1, &r); v != Accept {
		t.Fatalf("RST at NextSeq: %v", v)
	}
}

func TestStepWithoutInit(t *testing.T) {
	var c Conn
	s := seg(ACK, 1, 1, 0)
	if v := c.Step(0, &s); v != NotSyn {
		t.Fatalf("Step on zero Conn: %v", v)
	}
}

func TestValidFlagsTable(t *testing.T) {
	// Exhaustive against the rule as stated in Linux tcp_valid_flags,
	// written independently: exactly one of SYN, RST or ACK-based
	// segment kinds.
	for f := 0; f < 256; f++ {
		b := uint8(f) & (FIN | SYN | RST | ACK | URG)
		var want bool
		switch b &^ URG {
		case SYN:
			want = true
		case SYN | ACK, RST, RST | ACK:
			want = b&URG == 0
		case ACK, FIN | ACK:
			want = true
		}
		if got := ValidFlags(uint8(f)); got != want {
			t.Errorf("flags %#02x: ValidFlags %v, want %v", f, got, want)
		}
	}
}

func TestWindowScale(t *testing.T) {
	tests := []struct {
		name       string
		ws0, ws1   int8
		wantScale0 uint8
		wantScale1 uint8
	}{
		{"both", 7, 7, 7, 7},
		{"different", 2, 9, 2, 9},
		{"initiator only", 7, -1, 0, 0},
		{"responder only", -1, 7, 0, 0},
		{"neither", -1, -1, 0, 0},
		{"capped at 14", 20, 15, 14, 14},
		{"zero shift", 0, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Conn
			s := withWin(withWS(seg(SYN, 1000, 0, 0), tt.ws0), 1000)
			if v := c.Init(&s); v != Accept {
				t.Fatal(v)
			}
			s = withWin(withWS(seg(SYN|ACK, 5000, 1001, 0), tt.ws1), 1000)
			if v := c.Step(1, &s); v != Accept {
				t.Fatal(v)
			}
			if c.WindowScale(0) != tt.wantScale0 || c.WindowScale(1) != tt.wantScale1 {
				t.Fatalf("scales %d/%d, want %d/%d", c.WindowScale(0), c.WindowScale(1), tt.wantScale0, tt.wantScale1)
			}
			// The SYN/ACK's window is never scaled: the initiator may
			// send up to 1001+1000.
			over := withWin(seg(ACK|PSH, 1001+1001, 5001, 1), 1000)
			if v := c.Step(0, &over); v != OutOfWindow {
				t.Fatalf("beyond unscaled SYN/ACK window: %v", v)
			}
			third := withWin(seg(ACK|PSH, 1001, 5001, 10), 1000)
			if v := c.Step(0, &third); v != Accept {
				t.Fatal(v)
			}
			// The responder announces window 1000 in an ACK: scaled
			// by its shift.
			limit := uint32(1011) + 1000<<tt.wantScale1
			ack := withWin(seg(ACK, 5001, 1011, 0), 1000)
			if v := c.Step(1, &ack); v != Accept {
				t.Fatal(v)
			}
			in := withWin(seg(ACK|PSH, limit, 5001, 1), 1000)
			out := withWin(seg(ACK|PSH, limit+1, 5001, 1), 1000)
			if v := c.Step(0, &out); v != OutOfWindow {
				t.Errorf("seq %d beyond scaled window: %v", limit+1, v)
			}
			if v := c.Step(0, &in); v != Accept {
				t.Errorf("seq %d at scaled window edge: %v", limit, v)
			}
		})
	}
}

func TestSACKPermitted(t *testing.T) {
	for _, tt := range []struct {
		name   string
		s0, s1 bool
		want   bool
	}{{"both", true, true, true}, {"initiator", true, false, false}, {"none", false, false, false}} {
		t.Run(tt.name, func(t *testing.T) {
			var c Conn
			s := seg(SYN, 1, 0, 0)
			s.SACKPerm = tt.s0
			c.Init(&s)
			s = seg(SYN|ACK, 9, 2, 0)
			s.SACKPerm = tt.s1
			if v := c.Step(1, &s); v != Accept {
				t.Fatal(v)
			}
			if c.SACKPermitted() != tt.want {
				t.Errorf("SACKPermitted %v", c.SACKPermitted())
			}
		})
	}
}

func TestSeqArithmetic(t *testing.T) {
	tests := []struct {
		a, b          uint32
		before, after bool
	}{
		{1, 2, true, false},
		{2, 1, false, true},
		{5, 5, false, false},
		{0xFFFFFFFF, 0, true, false},
		{0, 0xFFFFFFFF, false, true},
		{0xFFFFFF00, 0x100, true, false},
		{0x100, 0xFFFFFF00, false, true},
		{0, 0x7FFFFFFF, true, false},
		{0x7FFFFFFF, 0, false, true},
	}
	for _, tt := range tests {
		if seqBefore(tt.a, tt.b) != tt.before || seqAfter(tt.a, tt.b) != tt.after {
			t.Errorf("%#x vs %#x: before %v after %v, want %v %v", tt.a, tt.b,
				seqBefore(tt.a, tt.b), seqAfter(tt.a, tt.b), tt.before, tt.after)
		}
		if seqLE(tt.a, tt.b) != !tt.after {
			t.Errorf("%#x <= %#x: %v", tt.a, tt.b, seqLE(tt.a, tt.b))
		}
	}
}

func TestTimeouts(t *testing.T) {
	to := DefaultTimeouts()
	if to.For(TimerSynWait) != 30e9 || to.For(TimerFinWait) != 5e9 || to.For(TimerIdle) != 3600e9 {
		t.Fatalf("defaults %+v", to)
	}
	to.Idle = 7
	if to.For(TimerIdle) != 7 {
		t.Fatal("For ignores Idle")
	}
}

func TestStrings(t *testing.T) {
	for v := Verdict(0); v < numVerdicts; v++ {
		if v.String() == "" || v.String() == "unknown" {
			t.Errorf("verdict %d has no name", v)
		}
	}
	for s := State(0); s < numStates; s++ {
		if s.String() == "" || s.String() == "unknown" {
			t.Errorf("state %d has no name", s)
		}
	}
	for tm := Timer(0); tm < numTimers; tm++ {
		if tm.String() == "" || tm.String() == "unknown" {
			t.Errorf("timer %d has no name", tm)
		}
	}
	if numVerdicts.String() != "unknown" || numStates.String() != "unknown" || numTimers.String() != "unknown" {
		t.Error("out of range values must print unknown")
	}
}

func TestConnSize(t *testing.T) {
	if sz := reflect.TypeOf(Conn{}).Size(); sz > 64 {
		t.Fatalf("Conn is %d bytes, want <= 64", sz)
	}
}

// established returns a Conn after the handshake with wide windows.
func established() Conn {
	var c Conn
	s := withWS(seg(SYN, 1000, 0, 0), 7)
	c.Init(&s)
	s = withWS(seg(SYN|ACK, 5000, 1001, 0), 7)
	c.Step(1, &s)
	s = seg(ACK, 1001, 5001, 0)
	c.Step(0, &s)
	return c
}

func TestStepAllocs(t *testing.T) {
	c := established()
	seq := uint32(1001)
	data := seg(ACK|PSH, 0, 5001, 1000)
	ack := seg(ACK, 5001, 0, 0)
	allocs := testing.AllocsPerRun(1000, func() {
		data.Seq = seq
		if c.Step(0, &data) != Accept {
			panic("data dropped")
		}
		seq += 1000
		ack.Ack = seq
		if c.Step(1, &ack) != Accept {
			panic("ack dropped")
		}
	})
	if allocs != 0 {
		t.Fatalf("Step allocates %v per run", allocs)
	}
}

func BenchmarkStepEstablished(b *testing.B) {
	c := established()
	seq := uint32(1001)
	data := seg(ACK|PSH, 0, 5001, 1448)
	ack := seg(ACK, 5001, 0, 0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i&1 == 0 {
			data.Seq = seq
			if c.Step(0, &data) != Accept {
				b.Fatal("data dropped")
			}
			seq += 1448
		} else {
			ack.Ack = seq
			if c.Step(1, &ack) != Accept {
				b.Fatal("ack dropped")
			}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "segments/s")
}
