package dataplane_test

import (
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"

	"cbac/control"
	"cbac/dataplane"
	"cbac/packet"
)

// Helpers shared by the replay, timer, threshold, race and benchmark tests:
// configuration variants of the seed and frames written straight into a
// buffer with the packet package (no gopacket), so that benchmarks and
// allocation tests can make millions of them.

// seedVariant is seedWithNeighbours(t, true) with textual replacements
// (old -> new, each old must occur once) and extra TOML appended.
func seedVariant(t testing.TB, extra string, repl ...string) []byte {
	t.Helper()
	s := string(seedWithNeighbours(t, true))
	for i := 0; i+1 < len(repl); i += 2 {
		if strings.Count(s, repl[i]) != 1 {
			t.Fatalf("seed variant: %q occurs %d times", repl[i], strings.Count(s, repl[i]))
		}
		s = strings.Replace(s, repl[i], repl[i+1], 1)
	}
	return []byte(s + extra)
}

// Threshold lines of the seed file, for seedVariant.
const (
	seedOneMinute     = `one_minute = { low = 400, high = 500 }`
	seedMaxIncomplete = `max_incomplete = { low = 400, high = 500 }`
	seedBlockTime     = `tcp_block_time = "0m"`
	seedACL101        = `"permit tcp any host 172.22.1.110 eq smtp",`
)

// ip4 parses a dotted quad into host order.
func ip4(s string) uint32 {
	b := net.ParseIP(s).To4()
	return binary.BigEndian.Uint32(b)
}

func pmac(m net.HardwareAddr) packet.MAC {
	var x packet.MAC
	copy(x[:], m)
	return x
}

// flow is one TCP or UDP conversation as the wire carries it on one side.
type flow struct {
	srcMAC, dstMAC packet.MAC
	src, dst       uint32
	sport, dport   uint16
}

// reverse is the other direction of f as seen on the other side of the
// router: addresses and ports swapped, with the MACs given.
func (f flow) reverse(src, dst uint32, srcMAC, dstMAC packet.MAC) flow {
	return flow{srcMAC: srcMAC, dstMAC: dstMAC, src: src, dst: dst, sport: f.dport, dport: f.sport}
}

// writeTCP writes an Ethernet/IPv4/TCP frame for f into b (which must be
// large enough) and returns the frame. Checksums are computed in full.
func writeTCP(b []byte, f *flow, seq, ack uint32, flags uint8, payload []byte) []byte {
	const hl = packet.EthernetHeaderLen + 20 + 20
	n := hl + len(payload)
	b = b[:n]
	e := packet.Ethernet(b)
	e.SetDst(f.dstMAC)
	e.SetSrc(f.srcMAC)
	e.SetType(packet.EtherTypeIPv4)
	packet.WriteIPv4Header(b[14:], f.src, f.dst, packet.ProtoTCP, 64, 20+len(payload), 1)
	t := packet.TCP(b[34:])
	for i := range t[:20] {
		t[i] = 0
	}
	t.SetSrcPort(f.sport)
	t.SetDstPort(f.dport)
	t.SetSeq(seq)
	t.SetAck(ack)
	t.SetDataOffset(20)
	t.SetFlags(flags)
	t.SetWindow(65535)
	copy(b[hl:], payload)
	t.SetChecksum(t.CalculateChecksum(f.src, f.dst))
	return b
}

// writeUDP writes an Ethernet/IPv4/UDP frame for f into b.
func writeUDP(b []byte, f *flow, payload []byte) []byte {
	const hl = packet.EthernetHeaderLen + 20 + 8
	n := hl + len(payload)
	b = b[:n]
	e := packet.Ethernet(b)
	e.SetDst(f.dstMAC)
	e.SetSrc(f.srcMAC)
	e.SetType(packet.EtherTypeIPv4)
	packet.WriteIPv4Header(b[14:], f.src, f.dst, packet.ProtoUDP, 64, 8+len(payload), 1)
	u := packet.UDP(b[34:])
	u.SetSrcPort(f.sport)
	u.SetDstPort(f.dport)
	u.SetLength(uint16(8 + len(payload)))
	u.SetChecksum(0)
	copy(b[hl:], payload)
	u.SetChecksum(u.CalculateChecksum(f.src, f.dst))
	return b
}

// messages formats worker events as the control plane logs them.
func messages(rs *dataplane.Ruleset, evs []dataplane.Event) []string {
	var out []string
	for i := range evs {
		if evs[i].Kind == dataplane.EvSMTPTrace {
			continue
		}
		m, _ := control.Message(&evs[i], rs)
		out = append(out, strings.Split(m, "\n")...)
	}
	return out
}

// run wraps the harness and keeps every event of every batch as log lines
// (the harness keeps only the last batch's events).
type run struct {
	*harness
	log []string
}

func newRun(t testing.TB, toml []byte) *run {
	return &run{harness: newHarness(t, compile(t, toml))}
}

func (r *run) step() {
	r.harness.step()
	r.log = append(r.log, messages(r.dp.Ruleset(), r.evs)...)
}

// send injects a frame on a port, runs a batch and returns what each port
// transmitted.
func (r *run) send(port int, frame []byte) [][][]byte {
	r.t.Helper()
	if !r.q[port].Inject(frame) {
		r.t.Fatal("inject failed")
	}
	r.step()
	return r.out
}

func (r *run) advance(d time.Duration) {
	r.now += int64(d)
	r.step()
}

// takeLog returns the log lines since the last call.
func (r *run) takeLog() []string {
	l := r.log
	r.log = nil
	return l
}

// sendAll injects frames on a port (up to 32 per batch), runs batches until
// all are processed and returns copies of everything transmitted, per port.
func (r *run) sendAll(port int, frames [][]byte) [][][]byte {
	r.t.Helper()
	out := make([][][]byte, len(r.q))
	for len(frames) > 0 {
		n := 0
		for n < len(frames) && n < 32 && r.q[port].Inject(frames[n]) {
			n++
		}
		if n == 0 {
			r.t.Fatal("inject failed: no fill frame")
		}
		frames = frames[n:]
		for r.q[port].Pending() > 0 {
			r.step()
			for p := range r.out {
				out[p] = append(out[p], r.out[p]...)
			}
		}
	}
	return out
}

// sessions lists the worker's sessions.
func (r *run) sessions() []dataplane.SessionInfo { return r.w.Sessions(nil) }

// hasSession reports whether a session with initiator key orig exists.
func (r *run) hasSession(src uint32, sport uint16, dst uint32, dport uint16) bool {
	for _, s := range r.sessions() {
		if s.Orig.Src == src && s.Orig.SrcPort == sport && s.Orig.Dst == dst && s.Orig.DstPort == dport {
			return true
		}
	}
	return false
}

// tcpConn drives one TCP connection through the harness: a is the
// initiator's packets as they arrive on port pa, b the responder's as they
// arrive on port pb; na and nb are the next sequence numbers of each side.
type tcpConn struct {
	r      *run
	a, b   flow
	pa, pb int
	na, nb uint32
	buf    [2048]byte
}

// insideOut is a connection from the inside host 10.10.10.5 to an outside
// server (inspected by IN-OUT as tcp, NAT to 172.22.1.111).
func insideOut(r *run, sport uint16, dst string, dport uint16) *tcpConn {
	a := flow{srcMAC: pmac(macHost), dstMAC: pmac(macIn0), src: ip4("10.10.10.5"), dst: ip4(dst), sport: sport, dport: dport}
	b := a.reverse(ip4(dst), ip4("172.22.1.111"), pmac(macUpstream), pmac(macOut0))
	return &tcpConn{r: r, a: a, b: b, pa: portIn, pb: portOut, na: 1000, nb: 50000}
}

// outsideIn is SMTP from the outside client 172.22.1.100 to the mail
// server's global address 172.22.1.110 (ACL 101, inspected by OUT-IN smtp).
func outsideIn(r *run, sport uint16) *tcpConn {
	a := flow{srcMAC: pmac(macClient), dstMAC: pmac(macOut0), src: ip4("172.22.1.100"), dst: ip4("172.22.1.110"), sport: sport, dport: 25}
	b := a.reverse(ip4("10.10.10.2"), ip4("172.22.1.100"), pmac(macMail), pmac(macIn0))
	return &tcpConn{r: r, a: a, b: b, pa: portOut, pb: portIn, na: 7000, nb: 90000}
}

// segA sends a raw segment from the initiator and returns how many frames
// left on the responder's side.
func (c *tcpConn) segA(seq, ack uint32, flags uint8, payload []byte) int {
	c.r.t.Helper()
	out := c.r.send(c.pa, writeTCP(c.buf[:], &c.a, seq, ack, flags, payload))
	return len(out[c.pb])
}

func (c *tcpConn) segB(seq, ack uint32, flags uint8, payload []byte) int {
	c.r.t.Helper()
	out := c.r.send(c.pb, writeTCP(c.buf[:], &c.b, seq, ack, flags, payload))
	return len(out[c.pa])
}

// fromA sends the initiator's next segment (ACK set unless it is the
// first SYN) and advances its sequence number; it fails the test if the
// segment is not forwarded.
func (c *tcpConn) fromA(flags uint8, payload []byte) {
	c.r.t.Helper()
	ack := c.nb
	if flags&packet.ACK == 0 {
		ack = 0
	}
	if n := c.segA(c.na, ack, flags, payload); n != 1 {
		c.r.t.Fatalf("initiator segment flags %#x not forwarded (drops %v)", flags, nonZero(c.r.w.Stats.Drops[:]))
	}
	c.na += uint32(len(payload))
	if flags&(packet.SYN|packet.FIN) != 0 {
		c.na++
	}
}

func (c *tcpConn) fromB(flags uint8, payload []byte) {
	c.r.t.Helper()
	if n := c.segB(c.nb, c.na, flags, payload); n != 1 {
		c.r.t.Fatalf("responder segment flags %#x not forwarded (drops %v)", flags, nonZero(c.r.w.Stats.Drops[:]))
	}
	c.nb += uint32(len(payload))
	if flags&(packet.SYN|packet.FIN) != 0 {
		c.nb++
	}
}

// open runs the three-way handshake.
func (c *tcpConn) open() {
	c.r.t.Helper()
	c.fromA(packet.SYN, nil)
	c.fromB(packet.SYN|packet.ACK, nil)
	c.fromA(packet.ACK, nil)
}

// exists reports whether the connection's session is in the table.
func (c *tcpConn) exists() bool {
	return c.r.hasSession(c.a.src, c.a.sport, c.a.dst, c.a.dport)
}

// nonZero names the non-zero drop counters, for failure messages.
func nonZero(d []uint64) map[string]uint64 {
	m := map[string]uint64{}
	for r, n := range d {
		if n != 0 {
			m[dataplane.Reason(r).String()] = n
		}
	}
	return m
}

// seedSmall is seedWithNeighbours(t, true) with a session table of 8192
// instead of the default million: the same behaviour, built in a fraction
// of the time (tests make hundreds of harnesses, also under -race).
func seedSmall(t testing.TB) []byte { return seedVariant(t, smallTable) }

const smallTable = "\n[dataplane]\nmax_sessions = 8192\n"
