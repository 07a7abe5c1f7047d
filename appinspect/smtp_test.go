package appinspect

import (
	"bytes"
	"testing"

	"cbac/packet"
	"cbac/smtpfsm"
)

// smtpConv drives one SMTP inspector from both ends: the client's stream
// starts at 1001, the server's at 5001.
type smtpConv struct {
	t        *testing.T
	s        SMTP
	cli, srv uint32 // next sequence numbers
}

func newSMTPConv(t *testing.T, pol smtpfsm.Policy, bufLen int) *smtpConv {
	c := &smtpConv{t: t, cli: 1001, srv: 5001}
	c.s.Init(&pol, 1001, make([]byte, bufLen))
	c.s.ServerSYN(5000)
	return c
}

// client sends payload (a copy, which the inspector may change) in order
// and returns the verdict and the payload as it would be sent.
func (c *smtpConv) client(text string, at *HoldAt) (Verdict, []byte, smtpfsm.Result) {
	c.t.Helper()
	b := []byte(text)
	if at.Mem != nil {
		b = at.Mem[at.Off : at.Off+uint64(len(text))]
		copy(b, text)
	}
	var res smtpfsm.Result
	v := c.s.Client(c.cli, packet.ACK, b, at, -1, nil, &res)
	if v.Action == Forward || v.Action == Rewrite {
		c.cli += uint32(len(b))
	}
	return v, b, res
}

func (c *smtpConv) server(text string) {
	c.t.Helper()
	var res smtpfsm.Result
	if _, why := c.s.Reply(c.srv, false, []byte(text), nil, &res); why != WhyNone {
		c.t.Fatalf("reply %q: %v", text, why)
	}
	c.srv += uint32(len(text))
}

func (c *smtpConv) toData() {
	c.t.Helper()
	c.server("220 mx ESMTP\r\n")
	for _, cmd := range []string{"HELO a\r\n", "MAIL FROM:<a@b>\r\n", "RCPT TO:<c@d>\r\n", "DATA\r\n"} {
		if v, _, _ := c.client(cmd, &HoldAt{}); v.Action != Forward {
			c.t.Fatalf("%q: %v", cmd, v.Action)
		}
		if cmd == "DATA\r\n" {
			c.server("354 go ahead\r\n")
		} else {
			c.server("250 ok\r\n")
		}
	}
	if c.s.FSM.Mode() != smtpfsm.ModeData {
		c.t.Fatalf("mode %v after DATA and 354", c.s.FSM.Mode())
	}
}

// The client side's verdicts: in order forwarded, a gap dropped, data on a
// SYN dropped, an illegal command x-ed (Rewrite in place), its
// retransmission with other bytes sent as the first copy was (Differs).
func TestSMTPClientVerdicts(t *testing.T) {
	c := newSMTPConv(t, smtpfsm.Policy{}, 4096)
	c.server("220 mx\r\n")
	if v, _, _ := c.client("HELO a\r\n", &HoldAt{}); v.Action != Forward || v.Seq != 1001 || v.HoldFrame {
		t.Fatalf("HELO: %+v", v)
	}
	var res smtpfsm.Result
	if v := c.s.Client(c.cli+10, packet.ACK, []byte("NOOP\r\n"), &HoldAt{}, -1, nil, &res); v.Action != Drop || v.Why != WhyOutOfOrder {
		t.Fatalf("beyond a gap: %v %v", v.Action, v.Why)
	}
	if v := c.s.Client(999, packet.SYN, []byte("x"), &HoldAt{}, -1, nil, &res); v.Action != Drop || v.Why != WhyInvalid {
		t.Fatalf("data on a SYN: %v %v", v.Action, v.Why)
	}
	start := c.cli
	v, sent, res := c.client("XYZZY a\r\n", &HoldAt{})
	if v.Action != Rewrite || !bytes.Equal(v.Out, sent) || !bytes.HasPrefix(sent, []byte("xxxxx")) || res.Alerts == 0 {
		t.Fatalf("illegal verb: %v %q alerts %v", v.Action, sent, res.Alerts)
	}
	again := []byte("QUITX a\n\n")
	v = c.s.Client(start, packet.ACK, again, &HoldAt{}, -1, nil, &res)
	if v.Action != Rewrite || !v.Differs || !bytes.Equal(again, sent) {
		t.Fatalf("retransmission: %v differs %v %q, first copy %q", v.Action, v.Differs, again, sent)
	}
}

// In data mode a segment whose bytes the caller offers (HoldAt) is kept by
// reference, by Data when it continues a line and has no line-start dot,
// by Client (HoldFrame) when it has one; without the offer, or below Min,
// it is copied.
func TestSMTPClientHold(t *testing.T) {
	c := newSMTPConv(t, smtpfsm.Policy{}, 1<<16)
	c.toData()
	if v, _, _ := c.client("Subject: x", &HoldAt{}); v.Action != Forward {
		t.Fatalf("header: %v", v.Action)
	}
	mem := make([]byte, 1<<14)
	line := bytes.Repeat([]byte("a"), 598)
	plain := append(line, '\r', '\n')
	copy(mem, plain)
	held, dot := c.s.Data(c.cli, packet.ACK, mem[:len(plain)], &HoldAt{Mem: mem, Off: 0, Min: 512})
	if !held || dot != len(plain) || c.s.Guard.Held() != 1 {
		t.Fatalf("plain data: held %v dot %d ranges %d", held, dot, c.s.Guard.Held())
	}
	c.cli += uint32(len(plain))

	dotted := "..hidden\r\n" + string(line)
	if held, _ := c.s.Data(c.cli, packet.ACK, []byte(dotted), &HoldAt{Mem: mem, Off: 4096, Min: 512}); held {
		t.Fatal("Data held a segment with a line-start dot")
	}
	v, _, _ := c.client(dotted, &HoldAt{Mem: mem, Off: 4096, Min: 512})
	if v.Action != Forward || !v.HoldFrame || c.s.Guard.Held() != 2 {
		t.Fatalf("dotted data offered: %v hold %v ranges %d", v.Action, v.HoldFrame, c.s.Guard.Held())
	}
	v, _, _ = c.client(string(plain), &HoldAt{})
	if v.Action != Forward || v.HoldFrame || c.s.Guard.Held() != 2 {
		t.Fatalf("data not offered: %v hold %v ranges %d", v.Action, v.HoldFrame, c.s.Guard.Held())
	}
	small := "short line\r\n"
	if v, _, _ = c.client(small, &HoldAt{Mem: mem, Off: 8192, Min: 512}); v.HoldFrame {
		t.Fatal("a segment below Min was held")
	}
}

// A client beyond the guard's room is dropped (WhyBufferFull); beyond
// max-data it is reset at the next byte the server expects, nothing of
// the segment kept.
func TestSMTPClientLimits(t *testing.T) {
	c := newSMTPConv(t, smtpfsm.Policy{}, 64)
	c.toData()
	if v, _, _ := c.client(string(bytes.Repeat([]byte("b"), 100)), &HoldAt{}); v.Action != Drop || v.Why != WhyBufferFull {
		t.Fatalf("beyond the room: %v %v", v.Action, v.Why)
	}

	c = newSMTPConv(t, smtpfsm.Policy{MaxData: 100}, 4096)
	c.toData()
	next := c.s.Guard.Next()
	v, _, res := c.client(string(bytes.Repeat([]byte("b"), 200))+"\r\n", &HoldAt{})
	if v.Action != Reset || v.RSTSeq != next || v.RSTAck != next || !res.Reset || c.s.Guard.Next() != next {
		t.Fatalf("max-data: %v RST %d/%d, want %d; guard next %d", v.Action, v.RSTSeq, v.RSTAck, next, c.s.Guard.Next())
	}
}
