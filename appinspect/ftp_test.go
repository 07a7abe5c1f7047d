package appinspect

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"cbac/ftpfsm"
	"cbac/packet"
)

func ip4(a, b, c, d byte) uint32 { return uint32(a)<<24 | uint32(b)<<16 | uint32(c)<<8 | uint32(d) }

var (
	insideHost  = ip4(10, 10, 10, 5)
	insideGlob  = ip4(172, 22, 1, 111)
	outsideSrv  = ip4(203, 0, 113, 1)
	insideSrv   = ip4(10, 10, 10, 2)
	insideSrvG  = ip4(172, 22, 1, 110)
	outsideCli  = ip4(172, 22, 1, 100)
	clientISN   = uint32(0xfffff000) // wraps during the transcripts
	serverISN   = uint32(5000)
	maxTestSend = 1460
)

// receiver assembles what one end receives, in the numbering it sees, and
// fails on a byte sent twice with different values.
type receiver struct {
	t    *testing.T
	base uint32
	got  map[uint32]byte
}

func (r *receiver) put(seq uint32, b []byte) {
	for i, c := range b {
		s := seq + uint32(i)
		if old, ok := r.got[s]; ok && old != c {
			r.t.Fatalf("byte at %d sent as %q then %q", s-r.base, old, c)
		}
		r.got[s] = c
	}
}

func (r *receiver) stream() string {
	var b []byte
	for s := r.base; ; s++ {
		c, ok := r.got[s]
		if !ok {
			return string(b)
		}
		b = append(b, c)
	}
}

// conv drives an FTP inspector with a transcript cut into segments of at
// most size bytes, each sent dup times.
type conv struct {
	t        *testing.T
	f        FTP
	seq      [2]uint32
	rx       [2]*receiver // rx[d]: what the receiver of direction d got
	expects  []Expect
	alerts   ftpfsm.AlertSet
	size     int
	dup      int
	buf      []byte
	lastVerd Verdict
}

func newConv(t *testing.T, cliIn, cliOut, srvIn, srvOut uint32, size, dup int) *conv {
	c := &conv{t: t, size: size, dup: dup, buf: make([]byte, ScratchLen(maxTestSend))}
	c.f.Init(cliIn, cliOut, srvIn, srvOut, clientISN)
	c.seq = [2]uint32{clientISN + 1, serverISN + 1}
	if v := c.f.Segment(1, serverISN, packet.SYN|packet.ACK, nil, c.buf, 1460); v.Action != Forward {
		t.Fatalf("SYN/ACK: %v", v.Action)
	}
	for d := range c.rx {
		c.rx[d] = &receiver{t: t, base: c.seq[d], got: map[uint32]byte{}}
	}
	return c
}

// send sends text in direction d and returns the verdicts' last action.
func (c *conv) send(d uint8, text string) Action {
	b := []byte(text)
	var last Action
	for len(b) > 0 {
		n := min(c.size, len(b))
		for k := 0; k < c.dup; k++ {
			seg := append([]byte(nil), b[:n]...)
			v := c.f.Segment(d, c.seq[d], packet.ACK|packet.PSH, seg, c.buf, maxTestSend+64)
			c.lastVerd = v
			last = v.Action
			c.alerts |= v.Alerts
			switch v.Action {
			case Forward:
				c.rx[d].put(v.Seq, seg)
			case Rewrite:
				c.rx[d].put(v.Seq, v.Out)
			default:
				return v.Action
			}
			if k == 0 {
				c.expects = append(c.expects, v.Expect[:v.NExpect]...)
			} else if v.NExpect != 0 {
				c.t.Fatalf("retransmission announced %d connections", v.NExpect)
			}
		}
		c.seq[d] += uint32(n)
		b = b[n:]
	}
	return last
}

func login(c *conv) {
	c.send(1, "220 ready\r\n")
	c.send(0, "USER a\r\n")
	c.send(1, "331 pass\r\n")
	c.send(0, "PASS b\r\n")
	c.send(1, "230 ok\r\n")
}

// TestFTPActiveNATEverySplit: an inside client's PORT and EPRT leave with
// the inside global address, at every segment size, sent once or twice
// (a retransmission gets the first copy's rewrite), and the replies after
// them arrive where the client expects them (the shift).
func TestFTPActiveNATEverySplit(t *testing.T) {
	cmds := "PORT 10,10,10,5,200,10\r\nLIST\r\nEPRT |1|10.10.10.5|51210|\r\nRETR x\r\n"
	want := "USER a\r\nPASS b\r\nPORT 172,22,1,111,200,10\r\nLIST\r\nEPRT |1|172.22.1.111|51210|\r\nRETR x\r\nQUIT\r\n"
	replies := "200 ok\r\n150 go\r\n226 done\r\n200 ok\r\n150 go\r\n226 done\r\n221 bye\r\n"
	for _, dup := range []int{1, 2} {
		for size := 1; size <= len(cmds); size++ {
			t.Run(fmt.Sprintf("dup%d/size%d", dup, size), func(t *testing.T) {
				c := newConv(t, insideHost, insideGlob, outsideSrv, outsideSrv, size, dup)
				login(c)
				c.send(0, cmds)
				c.send(1, replies)
				c.send(0, "QUIT\r\n")
				if got := c.rx[0].stream(); got != want {
					t.Fatalf("server got %q\nwant %q", got, want)
				}
				if got := c.rx[1].stream(); got != "220 ready\r\n331 pass\r\n230 ok\r\n"+replies {
					t.Fatalf("client got %q", got)
				}
				wantExp := []Expect{
					{Src: outsideSrv, Dst: insideGlob, Port: 200<<8 | 10, From: 1, Kind: ftpfsm.KindPORT},
					{Src: outsideSrv, Dst: insideGlob, Port: 51210, From: 1, Kind: ftpfsm.KindEPRT},
				}
				if fmt.Sprint(c.expects) != fmt.Sprint(wantExp) {
					t.Fatalf("expects %v, want %v", c.expects, wantExp)
				}
			})
		}
	}
}

// TestFTPPassiveOutInEverySplit: an inside server behind static NAT; its
// 227 names 10.10.10.2 and leaves as 172.22.1.110, its 229 names no
// address; each opens one data connection from the client.
func TestFTPPassiveOutInEverySplit(t *testing.T) {
	replies := "227 Entering Passive Mode (10,10,10,2,195,80).\r\n229 Entering Extended Passive Mode (|||50000|)\r\n227 =10,10,10,2,195,81\r\n"
	want := "220 ready\r\n331 pass\r\n230 ok\r\n227 Entering Passive Mode (172,22,1,110,195,80).\r\n229 Entering Extended Passive Mode (|||50000|)\r\n227 =172,22,1,110,195,81\r\n"
	for _, dup := range []int{1, 2} {
		for size := 1; size <= len(replies); size++ {
			t.Run(fmt.Sprintf("dup%d/size%d", dup, size), func(t *testing.T) {
				c := newConv(t, outsideCli, outsideCli, insideSrv, insideSrvG, size, dup)
				login(c)
				c.send(0, "PASV\r\nEPSV\r\nPASV\r\n")
				c.send(1, replies)
				c.send(0, "NOOP\r\n")
				if got := c.rx[1].stream(); got != want {
					t.Fatalf("client got %q\nwant %q", got, want)
				}
				wantExp := []Expect{
					{Src: outsideCli, Dst: insideSrvG, Port: 195<<8 | 80, From: 0, Kind: ftpfsm.Kind227},
					{Src: outsideCli, Dst: insideSrvG, Port: 50000, From: 0, Kind: ftpfsm.Kind229},
					{Src: outsideCli, Dst: insideSrvG, Port: 195<<8 | 81, From: 0, Kind: ftpfsm.Kind227},
				}
				if fmt.Sprint(c.expects) != fmt.Sprint(wantExp) {
					t.Fatalf("expects %v, want %v", c.expects, wantExp)
				}
			})
		}
	}
}

// TestFTPRefusals: bounce, privileged port and PORT before login reset the
// session; nothing of the refused line is sent.
func TestFTPRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, cmd string
		login     bool
		alert     ftpfsm.AlertKind
	}{
		{"bounce", "PORT 192,0,2,7,200,10\r\n", true, ftpfsm.AlertNonMatchingAddr},
		{"bounce EPRT", "EPRT |1|192.0.2.7|5000|\r\n", true, ftpfsm.AlertNonMatchingAddr},
		{"privileged", "PORT 10,10,10,5,0,25\r\n", true, ftpfsm.AlertPrivPort},
		{"not logged in", "PORT 10,10,10,5,200,10\r\n", false, ftpfsm.AlertNotAuthenticated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for size := 1; size <= len(tc.cmd); size++ {
				c := newConv(t, insideHost, insideGlob, outsideSrv, outsideSrv, size, 1)
				if tc.login {
					login(c)
				}
				before := c.rx[0].stream()
				if a := c.send(0, tc.cmd); a != Reset {
					t.Fatalf("size %d: %v, want reset", size, a)
				}
				if !c.alerts.Has(tc.alert) {
					t.Fatalf("size %d: alerts %b lack %v", size, c.alerts, tc.alert)
				}
				if got := c.rx[0].stream(); got != before && !strings.HasPrefix(tc.cmd, got[len(before):]) {
					t.Fatalf("size %d: server got %q", size, got)
				} else if len(got) > len(before) && strings.ContainsAny(got[len(before):], ",|") {
					t.Fatalf("size %d: part of the refused argument was sent: %q", size, got[len(before):])
				}
				v := c.lastVerd
				if v.RSTAck != c.seq[0]-0 && v.RSTAck-clientISN > 1<<20 {
					t.Fatalf("RST ack %d", v.RSTAck)
				}
				if len(c.expects) != 0 {
					t.Fatalf("refused command opened %v", c.expects)
				}
			}
		})
	}
}

// TestFTPShiftLongStream: a rewrite that grows the client's stream, then
// a megabyte of commands each way; every byte lands where the receiver
// expects it and the server's acknowledgements map back (MapAck).
func TestFTPShiftLongStream(t *testing.T) {
	c := newConv(t, insideHost, insideGlob, outsideSrv, outsideSrv, 1460, 1)
	login(c)
	c.send(0, "PORT 10,10,10,5,200,10\r\n")
	grow := uint32(len("172,22,1,111") - len("10,10,10,5"))
	line := "NOOP\r\n"
	var sb strings.Builder
	for sb.Len() < 1<<20 {
		sb.WriteString(line)
	}
	c.send(0, sb.String())
	c.send(1, strings.Repeat("200 ok\r\n", (1<<20)/8))
	sent := c.seq[0] - clientISN - 1
	if got := uint32(len(c.rx[0].stream())); got != sent+grow {
		t.Fatalf("server received %d bytes, want %d", got, sent+grow)
	}
	// The server acknowledges everything it received: the client sees its
	// own numbering.
	hdr := make(packet.TCP, 20)
	hdr[12] = 5 << 4
	hdr.SetFlags(packet.ACK)
	hdr.SetAck(c.rx[0].base + sent + grow)
	if !c.f.MapAck(1, hdr) || hdr.Ack() != c.seq[0] {
		t.Fatalf("ack mapped to %d, want %d", hdr.Ack(), c.seq[0])
	}
}

// TestFTPSACKBack: SACK blocks past a grown text map back by its growth;
// a block inside the text shrinks to nothing.
func TestFTPSACKBack(t *testing.T) {
	c := newConv(t, insideHost, insideGlob, outsideSrv, outsideSrv, 1460, 1)
	login(c)
	base := c.seq[0]
	c.send(0, "PORT 10,10,10,5,200,10\r\nNOOP\r\nNOOP\r\n")
	grow := uint32(2)
	hdr := make(packet.TCP, 32)
	hdr[12] = 8 << 4
	hdr.SetFlags(packet.ACK)
	newBase := c.rx[0].base + (base - c.rx[0].base)
	hdr.SetAck(newBase)
	hdr[20], hdr[21] = packet.TCPOptNOP, packet.TCPOptNOP
	hdr[22], hdr[23] = packet.TCPOptSACK, 10
	left := newBase + 24 + grow // the first NOOP in the server's numbering
	hdr.SetUint32AtWithChecksum(24, left)
	hdr.SetUint32AtWithChecksum(28, left+12)
	if !c.f.MapAck(1, hdr) {
		t.Fatal("MapAck refused")
	}
	if l, r := hdr.Uint32At(24), hdr.Uint32At(28); l != base+24 || r != base+36 {
		t.Fatalf("SACK block [%d, %d), want [%d, %d)", l-base, r-base, 24, 36)
	}
}

// TestFTPHeldThenFIN: an unfinished PORT line held back goes out with the
// FIN that ends the connection.
func TestFTPHeldThenFIN(t *testing.T) {
	c := newConv(t, insideHost, insideGlob, outsideSrv, outsideSrv, 1460, 1)
	login(c)
	c.send(0, "PORT 10,10,10")
	if got := c.rx[0].stream(); strings.Contains(got, "PORT") {
		t.Fatalf("held line sent early: %q", got)
	}
	v := c.f.Segment(0, c.seq[0], packet.ACK|packet.FIN, nil, c.buf, 1460)
	if v.Action != Rewrite || string(v.Out) != "PORT 10,10,10" || v.ClearFIN {
		t.Fatalf("FIN: %v %q clearFIN=%v", v.Action, v.Out, v.ClearFIN)
	}
}

// TestFTPOutOfOrder: a segment beyond the next byte is dropped.
func TestFTPOutOfOrder(t *testing.T) {
	c := newConv(t, insideHost, insideGlob, outsideSrv, outsideSrv, 1460, 1)
	v := c.f.Segment(0, c.seq[0]+10, packet.ACK, []byte("NOOP\r\n"), c.buf, 1460)
	if v.Action != Drop || v.Why != WhyOutOfOrder {
		t.Fatalf("%v %v", v.Action, v.Why)
	}
}

// TestFTPMaxCut: output longer than max is cut; the rest is sent when the
// sender retransmits it, with the same rewrite.
func TestFTPMaxCut(t *testing.T) {
	c := newConv(t, insideHost, insideGlob, outsideSrv, outsideSrv, 1460, 1)
	login(c)
	seq := c.seq[0]
	cmd := []byte("PORT 10,10,10,5,200,10\r\n")
	v := c.f.Segment(0, seq, packet.ACK, append([]byte(nil), cmd...), c.buf, 10)
	if v.Action != Rewrite || string(v.Out) != "PORT 172,2" {
		t.Fatalf("%v %q", v.Action, v.Out)
	}
	first := append([]byte(nil), v.Out...)
	// The server acknowledged 10 bytes; the client retransmits the rest
	// from the original byte it maps back to.
	hdr := make(packet.TCP, 20)
	hdr[12] = 5 << 4
	hdr.SetFlags(packet.ACK)
	hdr.SetAck(v.Seq + 10)
	c.f.MapAck(1, hdr)
	back := hdr.Ack()
	r := c.f.Segment(0, back, packet.ACK, append([]byte(nil), cmd[back-seq:]...), c.buf, 1460)
	if r.Action != Rewrite {
		t.Fatalf("retransmission: %v", r.Action)
	}
	got := make([]byte, 64)
	copy(got, first)
	copy(got[r.Seq-v.Seq:], r.Out)
	want := "PORT 172,22,1,111,200,10\r\n"
	if !bytes.HasPrefix(got, []byte(want)) {
		t.Fatalf("server assembles %q", got[:len(want)])
	}
}

func TestFTPSegmentAllocs(t *testing.T) {
	c := newConv(t, insideHost, insideGlob, outsideSrv, outsideSrv, 1460, 1)
	login(c)
	cmd := []byte("PORT 10,10,10,5,200,10\r\n")
	n := testing.AllocsPerRun(100, func() {
		seg := cmd
		v := c.f.Segment(0, c.seq[0], packet.ACK, seg, c.buf, 1460)
		if v.Action == Reset {
			t.Fatal("reset")
		}
		c.seq[0] += uint32(len(cmd))
	})
	if n != 0 {
		t.Fatalf("%v allocs per segment", n)
	}
}
