package dataplane_test

import (
	"bytes"
	"testing"

	"cbac/dataplane"
	"cbac/packet"
)

// Issue 4 acceptance 5: inspected SMTP packets through the full pipeline
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
		t.SetAckWithChecksum(b.sseq)
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
	h.w.Step(h.now)
	return h.q[portOut].Drain(benchDiscard) + h.q[portIn].Drain(benchDiscard)
}

func benchDiscard([]byte) {}

// run is the benchmark loop with the figures of issue 4.
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
