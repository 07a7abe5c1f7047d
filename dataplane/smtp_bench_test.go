package dataplane_test

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"cbac/dataplane"
	"cbac/packet"
)

// Inspected SMTP packets through the full pipeline
// (Worker.Step over in-memory queues), against the same 1460-byte segments
// on a plain TCP session (inspected as tcp, same NAT, same direction, same
// interfaces): only SMTP inspection differs.

// benchSeed is the seed with a practically unlimited max_data (a benchmark
// sends gigabytes through one session) and, on the same OUT-IN rule and
// ACL, plain tcp inspection to 172.22.1.110:2525 for the comparison.
func benchSeed(t testing.TB) []byte {
	s := string(smtpSeed(t, "smtp = { max_data = 9000000000000000000 }\ntcp = {}"))
	s = replaceOnce(t, s, `"permit tcp any host 172.22.1.110 eq smtp",`,
		`"permit tcp any host 172.22.1.110 eq smtp",`+"\n"+`"permit tcp any host 172.22.1.110 eq 2525",`)
	return []byte(s)
}

// smtpBench replays, per iteration, a batch of client segments at the next
// sequence numbers and one server segment acknowledging them, through one
// Worker.Step, with no allocation. Templates are rewritten in place
// (incremental checksums) before each injection.
type smtpBench struct {
	h      *harness
	data   [][]byte // client segment templates
	srv    []byte   // server segment template (ACK, maybe with replies)
	cseq   uint32   // client's next sequence number
	sseq   uint32   // server's next sequence number
	srvLen uint32   // payload bytes in the server segment
	frames int      // frames per iteration
	bits   float64  // bits of client frames per iteration

	ackShift uint32 // the client acknowledges the server's bytes this far ahead (an FTP rewrite grew them)

	timeStep bool          // measure stepTime (two clock reads per iteration)
	stepTime time.Duration // time spent in Worker.Step, for the caller to reset
}

const benchBatch = 8 // client segments per iteration: 8 x 1460 bytes fit the 16 KiB replay copy

// newBench builds the templates for conversation c (established): batch
// client segments carrying payload and one server segment carrying reply.
func newBench(c *smtpConv, payload []byte, reply []byte) *smtpBench {
	b := &smtpBench{h: c.h, cseq: c.cseq, sseq: c.sseq, srvLen: uint32(len(reply)), frames: benchBatch + 1}
	for i := 0; i < benchBatch; i++ {
		f := append([]byte(nil), c.fromClient(c.cseq, c.sseq, packet.ACK|packet.PSH, 65535, -1, payload)...)
		b.data = append(b.data, f)
		b.bits += float64(len(f) * 8)
	}
	flags := uint8(packet.ACK)
	if len(reply) > 0 {
		flags |= packet.PSH
	}
	b.srv = append([]byte(nil), c.fromServer(c.sseq, c.cseq, flags, 65535, -1, reply)...)
	return b
}

func benchTCP(f []byte) packet.TCP {
	return packet.TCP(packet.IPv4(f[packet.EthernetHeaderLen:]).Payload())
}

// iteration injects one batch and runs one Step; it reports how many
// frames came out.
func (b *smtpBench) iteration() int {
	h := b.h
	for _, f := range b.data {
		t := benchTCP(f)
		t.SetSeqWithChecksum(b.cseq)
		t.SetAckWithChecksum(b.sseq + b.ackShift)
		b.cseq += uint32(len(t.Payload()))
		h.q[portOut].Inject(f)
	}
	// The worker reads the outside port before the inside one: the
	// server's ACK of this batch comes after the batch.
	t := benchTCP(b.srv)
	t.SetSeqWithChecksum(b.sseq)
	t.SetAckWithChecksum(b.cseq)
	b.sseq += b.srvLen
	h.q[portIn].Inject(b.srv)
	if b.timeStep {
		start := time.Now()
		h.w.Step(h.now)
		b.stepTime += time.Since(start)
	} else {
		h.w.Step(h.now)
	}
	return h.q[portOut].Drain(benchDiscard) + h.q[portIn].Drain(benchDiscard)
}

func benchDiscard([]byte) {}

// run is the benchmark loop: per packet and per data segment figures.
func (b *smtpBench) run(tb *testing.B) {
	// Warm up and check that every frame goes through.
	for i := 0; i < 16; i++ {
		if n := b.iteration(); n != b.frames {
			tb.Fatalf("iteration %d: %d of %d frames forwarded; drops %v", i, n, b.frames, smtpDrops(b.h))
		}
	}
	drops := b.h.w.Stats.Drops
	tb.ReportAllocs()
	tb.ResetTimer()
	for i := 0; i < tb.N; i++ {
		b.iteration()
	}
	tb.StopTimer()
	if b.h.w.Stats.Drops != drops {
		tb.Fatalf("frames dropped during the run: %v", smtpDrops(b.h))
	}
	ns := float64(tb.Elapsed().Nanoseconds()) / float64(tb.N)
	tb.ReportMetric(ns/float64(b.frames), "ns/pkt")
	tb.ReportMetric(b.bits/ns, "Gbit/s")
}

// benchBody is message data: text lines, no line starting with ".".
func benchBody(n int) []byte {
	line := []byte("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor 0123456789\r\n")
	return bytes.Repeat(line, n/len(line)+1)[:n]
}

// newDataBench is an SMTP session in data mode sending 1460-byte segments
// (1514-byte Ethernet frames); the server only ACKs.
func newDataBench(tb testing.TB) *smtpBench {
	h := newHarness(tb, compile(tb, benchSeed(tb)))
	c := openSMTP(tb, h, 41000, -1)
	c.toData()
	return newBench(c, benchBody(1460), nil)
}

// newCommandBench is an SMTP session in command mode: each client segment
// is one RCPT command, and the server segment carries the 8 replies.
func newCommandBench(tb testing.TB) *smtpBench {
	h := newHarness(tb, compile(tb, benchSeed(tb)))
	c := openSMTP(tb, h, 41001, -1)
	c.reply("220 mail.example.com ESMTP\r\n")
	c.send("HELO client.example.org\r\n", "HELO client.example.org\r\n")
	c.reply("250 mail.example.com\r\n")
	c.send("MAIL FROM:<a@example.org>\r\n", "MAIL FROM:<a@example.org>\r\n")
	c.reply("250 2.1.0 Ok\r\n")
	return newBench(c, []byte("RCPT TO:<someone@example.com>\r\n"), bytes.Repeat([]byte("250 2.1.5 Ok\r\n"), benchBatch))
}

// newTCPBench is the same 1460-byte segments on a plain tcp session from
// the same client to 172.22.1.110:2525.
func newTCPBench(tb testing.TB) *smtpBench {
	h := newHarness(tb, compile(tb, benchSeed(tb)))
	c := openTCPConv(tb, h, 41002, 2525, -1)
	return newBench(c, benchBody(1460), nil)
}

// BenchmarkSMTPDataOverhead is the project's SMTP cost target (at most 10%
// over plain TCP) as one figure: what SMTP
// inspection of 1460-byte DATA segments costs over plain TCP forwarding of
// the same segments. A shared host's speed drifts within seconds by more
// than the difference measured, which makes two separate benchmarks hard
// to compare, so the two sessions run in alternating blocks of 64
// iterations (about 0.1 ms each; which goes first alternates too), and
// each side's figure is the median of its blocks, robust to a block that
// a neighbour slowed down. It reports both sides in ns per packet over the
// whole pipeline (fake NIC included) and inside Worker.Step alone (the
// dataplane's own cost), and SMTP's overhead in percent of each.
func BenchmarkSMTPDataOverhead(b *testing.B) {
	const block = 64
	sides := [2]*smtpBench{newDataBench(b), newTCPBench(b)} // SMTP, plain
	var drops [2][dataplane.NumReasons]uint64
	for k, x := range sides {
		x.timeStep = true
		for i := 0; i < 16; i++ {
			if n := x.iteration(); n != x.frames {
				b.Fatalf("iteration %d: %d of %d frames forwarded; drops %v", i, n, x.frames, smtpDrops(x.h))
			}
		}
		drops[k] = x.h.w.Stats.Drops
	}
	blocks := (b.N + block - 1) / block
	var whole, step [2][]float64 // ns per iteration of each block
	for k := range sides {
		whole[k] = make([]float64, 0, blocks)
		step[k] = make([]float64, 0, blocks)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for done, j := 0, 0; done < b.N; done, j = done+block, j+1 {
		n := min(block, b.N-done)
		for o := range 2 {
			k := (j + o) % 2
			x := sides[k]
			x.stepTime = 0
			start := time.Now()
			for i := 0; i < n; i++ {
				x.iteration()
			}
			whole[k] = append(whole[k], float64(time.Since(start))/float64(n))
			step[k] = append(step[k], float64(x.stepTime)/float64(n))
		}
	}
	b.StopTimer()
	for k, x := range sides {
		if x.h.w.Stats.Drops != drops[k] {
			b.Fatalf("frames dropped during the run: %v", smtpDrops(x.h))
		}
	}
	frames := float64(sides[0].frames)
	var w, st [2]float64
	for k := range sides {
		w[k], st[k] = median(whole[k])/frames, median(step[k])/frames
	}
	b.ReportMetric(w[0], "smtp-ns/pkt")
	b.ReportMetric(w[1], "plain-ns/pkt")
	b.ReportMetric(st[0], "smtp-step-ns/pkt")
	b.ReportMetric(st[1], "plain-step-ns/pkt")
	b.ReportMetric(100*(w[0]/w[1]-1), "overhead-%")
	b.ReportMetric(100*(st[0]/st[1]-1), "step-overhead-%")
}

func BenchmarkSMTPData1460(b *testing.B)     { newDataBench(b).run(b) }
func BenchmarkSMTPCommands(b *testing.B)     { newCommandBench(b).run(b) }
func BenchmarkPlainTCPData1460(b *testing.B) { newTCPBench(b).run(b) }

// The pipeline allocates nothing per packet, inspected or not.
func TestSMTPPipelineAllocs(t *testing.T) {
	for _, tc := range []struct {
		name string
		new  func(testing.TB) *smtpBench
	}{
		{"smtp data", newDataBench},
		{"smtp commands", newCommandBench},
		{"plain tcp", newTCPBench},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.new(t)
			for i := 0; i < 8; i++ {
				if n := b.iteration(); n != b.frames {
					t.Fatalf("iteration %d: %d of %d frames forwarded; drops %v", i, n, b.frames, smtpDrops(b.h))
				}
			}
			if a := testing.AllocsPerRun(200, func() { b.iteration() }); a != 0 {
				t.Errorf("%.1f allocations per batch of %d frames", a, b.frames)
			}
			if n := b.h.drops(dataplane.DropStreamBufferFull) + b.h.drops(dataplane.DropTCPOutOfWindow); n != 0 {
				t.Errorf("%d drops", n)
			}
		})
	}
}

// The data path the benchmark measures, for correctness: message data is
// copied into the replay copy and scanned for line-start dots in one pass
// (internal/scan), across every wrap of the 16 KiB ring. Segments of
// random sizes carry dot-stuffed lines and LF "." CRLF (rewritten to x);
// half are retransmitted with other bytes, and the server must get the
// first copy each time; a dot-stuffed line and then the end of data sit
// astride a wrap, with the LF at the ring's last byte and the "." at its
// first.
func TestSMTPDataReplayCopyWraps(t *testing.T) {
	const ring = smallBuffer
	const first = smtpClientISN + 1 // sequence number of ring index 0
	h := newHarness(t, compile(t, withBuffer(smtpSeed(t, ""), ring)))
	c := openSMTP(t, h, 40120, -1)
	c.toData()
	rng := rand.New(rand.NewPCG(4, 5))

	var body, want []byte
	for len(body) < 5*ring {
		switch rng.IntN(4) {
		case 0:
			body = append(body, "..stuffed line\r\n"...)
			want = append(want, "..stuffed line\r\n"...)
		case 1:
			body = append(body, "bare\n.\r\n"...) // LF "." CRLF, a look-alike
			want = append(want, "bare\nx\r\n"...)
		default:
			l := bytes.Repeat([]byte("Lorem ipsum. "), 1+rng.IntN(8))
			l = append(l, "\r\n"...)
			body = append(body, l...)
			want = append(want, l...)
		}
	}
	var got []byte
	inFlight := 0
	sendSeg := func(seg []byte, retransmit bool) {
		t.Helper()
		seq := c.cseq
		fwd := c.clientAt(seq, seg)
		if fwd == nil {
			t.Fatalf("segment at ring index %d not forwarded; drops %v", (seq-first)%ring, smtpDrops(h))
		}
		got = append(got, fwd...)
		c.cseq += uint32(len(seg))
		if retransmit {
			other := bytes.Repeat([]byte{'Z'}, len(seg))
			if again := c.clientAt(seq, other); !bytes.Equal(again, fwd) {
				t.Fatalf("retransmission at ring index %d reached the server as %q, first copy %q", (seq-first)%ring, again, fwd)
			}
		}
		if inFlight += len(seg); inFlight > ring/2 {
			c.reply("")
			inFlight = 0
		}
	}
	for off := 0; off < len(body); {
		n := min(1+rng.IntN(1460), len(body)-off)
		sendSeg(body[off:off+n], rng.IntN(2) == 0)
		off += n
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("server got %d bytes, not the expected %d", len(got), len(want))
	}

	// fillTo sends message data until the next byte sits at ring index idx.
	fillTo := func(idx uint32) {
		t.Helper()
		for {
			d := (idx - (c.cseq - first)) % ring
			if d == 0 {
				return
			}
			fill := bytes.Repeat([]byte{'y'}, int(min(d, 1000)))
			if len(fill) >= 2 {
				copy(fill[len(fill)-2:], "\r\n")
			}
			sendSeg(fill, false)
		}
	}
	// A dot-stuffed line astride the wrap (LF at index ring-1, "." at 0):
	// still message data, so EXPN passes.
	fillTo(ring - 5)
	sendSeg([]byte("yyy\r\n..z\r\n"), true)
	c.send("EXPN y\r\n", "EXPN y\r\n")
	// CR "." CRLF astride a wrap (CR at index ring-1, "." at 0), found
	// across the two copies: the "." reaches the server as 'x', and so
	// does the retransmission.
	fillTo(ring - 5)
	before := len(got)
	sendSeg([]byte("yyyy\r.\r\n"), true)
	if string(got[before:]) != "yyyy\rx\r\n" {
		t.Fatalf("CR . CRLF astride the wrap reached the server as %q", got[before:])
	}
	c.send("EXPN y\r\n", "EXPN y\r\n")
	// The end of data astride the next wrap: then EXPN is a command.
	fillTo(ring - 5)
	sendSeg([]byte("yyy\r\n.\r\n"), true)
	c.reply("250 2.0.0 Ok\r\n")
	c.send("EXPN x\r\n", "xxxxxx\r\n")
}

// median sorts v and returns its median.
func median(v []float64) float64 {
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}
