package bench

// Micro-benchmarks: each stage of cbacd's pipeline, then the whole pipeline
// over in-memory rings (no kernel). Each reports ns/packet, Mpps per core
// and allocations (0 on the packet path).
//
//	go test -run '^$' -bench . -benchtime 1s ./bench

import (
	"testing"
	"time"

	"cbac/acl"
	"cbac/flowtable"
	"cbac/nat"
	"cbac/packet"
	"cbac/smtpfsm"
)

func reportPps(b *testing.B, packets int) {
	ns := float64(b.Elapsed().Nanoseconds()) / float64(packets)
	b.ReportMetric(ns, "ns/packet")
	b.ReportMetric(1e3/ns, "Mpps")
}

func testFrame() []byte {
	return UDPFrame(make([]byte, 60), mustMAC(InsideMAC), mustMAC(InHostMAC), ip4(HostAddr), ip4(RemoteAddr), 1024, 9, 60)
}

// Stage: header views (Ethernet, IPv4 checks, UDP ports).
func BenchmarkStageParse(b *testing.B) {
	f := testFrame()
	b.ReportAllocs()
	var sink uint32
	for b.Loop() {
		e := packet.Ethernet(f)
		if !e.IsValid() || e.Type() != 0x0800 {
			b.Fatal("not IPv4")
		}
		ip := packet.IPv4(e.Payload())
		if !ip.IsValid() {
			b.Fatal("invalid IPv4")
		}
		u := packet.UDP(ip.Payload())
		sink += ip.Src() ^ ip.Dst() ^ uint32(u.SrcPort()) ^ uint32(u.DstPort())
	}
	_ = sink
	reportPps(b, b.N)
}

// Stage: ACL 101 of the seed (one entry + implicit deny), a denied packet
// (walks every entry).
func BenchmarkStageACL(b *testing.B) {
	e, err := acl.ParseEntry("permit tcp any host 172.22.1.110 eq smtp")
	if err != nil {
		b.Fatal(err)
	}
	l := acl.Compile("101", []acl.Entry{e})
	t := acl.Tuple{Proto: 17, Src: ip4(UpstreamAddr), Dst: ip4(HostGlobal), SrcPort: 9, DstPort: 1024}
	b.ReportAllocs()
	for b.Loop() {
		if _, permit := l.Match(&t); permit {
			b.Fatal("permitted")
		}
	}
	reportPps(b, b.N)
}

// Stage: static NAT rewrite with incremental checksums (inside -> outside).
func BenchmarkStageNAT(b *testing.B) {
	f := testFrame()
	ip := packet.IPv4(f[14:])
	out := nat.NewRewrite(ip4(HostAddr), ip4(HostGlobal), ip4(RemoteAddr), ip4(RemoteAddr))
	back := out.Inverse()
	b.ReportAllocs()
	for b.Loop() {
		out.Apply(ip)
		back.Apply(ip)
	}
	reportPps(b, 2*b.N)
}

// Stage: session lookup in a table of 1M slots holding 100k sessions.
func BenchmarkStageFlowLookup(b *testing.B) {
	t := flowtable.New(1<<20, []int64{int64(30 * time.Second)}, 1)
	const n = 100000
	keys := make([]flowtable.Key, n)
	for i := range keys {
		keys[i] = flowtable.Key{Src: ip4(HostAddr), Dst: ip4(RemoteAddr), SrcPort: uint16(1024 + i%50000), DstPort: uint16(9 + i/50000), Proto: 17}
		reply := flowtable.Key{Src: ip4(RemoteAddr), Dst: ip4(HostGlobal), SrcPort: keys[i].DstPort, DstPort: keys[i].SrcPort, Proto: 17}
		if _, st := t.Insert(&keys[i], &reply, 0, 0); st != flowtable.OK {
			b.Fatalf("insert %d: %v", i, st)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, _, ok := t.Lookup(&keys[i]); !ok {
			b.Fatal("miss")
		}
		i++
		if i == n {
			i = 0
		}
	}
	reportPps(b, b.N)
}

// Stage: SMTP inspection of one command and its reply.
func BenchmarkStageSMTP(b *testing.B) {
	p := smtpfsm.Policy{MaxData: 20000000}
	var s smtpfsm.Session
	var tr smtpfsm.Trace
	s.Server(&p, []byte("220 mail.lab.example ESMTP\r\n"), &tr)
	s.Client(&p, []byte("HELO client.example\r\n"), &tr)
	s.Server(&p, []byte("250 mail.lab.example\r\n"), &tr)
	cmd, reply := []byte("NOOP\r\n"), []byte("250 2.0.0 Ok\r\n")
	buf := make([]byte, len(cmd))
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, cmd)
		s.Client(&p, buf, &tr)
		s.Server(&p, reply, &tr)
	}
	if string(buf) != string(cmd) {
		b.Fatalf("NOOP rewritten to %q", buf)
	}
	reportPps(b, 2*b.N)
}

// newUDPPipeline returns a pipeline for contender c with flows sessions of
// NATed UDP established, and one frame per flow (a multiple of 64).
func newUDPPipeline(tb testing.TB, c Contender, flows int) (*Pipeline, [][]byte) {
	rs, err := CompileContender(c, 1<<18)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := NewPipeline(rs)
	if err != nil {
		tb.Fatal(err)
	}
	frames := make([][]byte, flows)
	gw, host := mustMAC(InsideMAC), mustMAC(InHostMAC)
	for i := range frames {
		frames[i] = UDPFrame(make([]byte, 60), gw, host, ip4(HostAddr), ip4(RemoteAddr), uint16(1024+i%50000), uint16(9+i/50000), 60)
	}
	for i := 0; i < flows; i += 64 {
		if n := p.Batch(portInside, frames[i:i+64]); n != 64 {
			tb.Fatalf("warm-up batch forwarded %d of 64 frames", n)
		}
	}
	return p, frames
}

func benchmarkPipeline(b *testing.B, c Contender, flows int) {
	p, frames := newUDPPipeline(b, c, flows)
	b.ReportAllocs()
	packets, i := 0, 0
	for b.Loop() {
		if n := p.Batch(portInside, frames[i:i+64]); n != 64 {
			b.Fatalf("forwarded %d of 64 frames", n)
		}
		packets += 64
		if i += 64; i == len(frames) {
			i = 0
		}
	}
	reportPps(b, packets)
}

// The whole pipeline (receive, parse, session lookup, NAT, route, ARP,
// transmit, refill) for established NATed UDP, 64-frame batches, one core.
// The benchmark's own frame copy into the fake ring (Inject) is included.
func BenchmarkPipelineSeed64Flows(b *testing.B)   { benchmarkPipeline(b, Contenders[0], 64) }
func BenchmarkPipelineSeed100kFlows(b *testing.B) { benchmarkPipeline(b, Contenders[0], 100032) }
func BenchmarkPipelineBareForwarder(b *testing.B) {
	benchmarkPipeline(b, contenderNamed("xdp-bare"), 64)
}
func BenchmarkPipelineSeedFirstPacket(b *testing.B) { benchmarkNewSessions(b) }

// Session creation: every frame is a new flow (inspection admission, two
// keys inserted, NAT rewrite precomputed); sessions expire as they go.
func benchmarkNewSessions(b *testing.B) {
	p, batch := newUDPPipeline(b, Contenders[0], 64)
	gw, host := mustMAC(InsideMAC), mustMAC(InHostMAC)
	flow := 1 << 20
	b.ReportAllocs()
	packets := 0
	for b.Loop() {
		b.StopTimer()
		for j := range batch {
			flow++
			UDPFrame(batch[j], gw, host, ip4(HostAddr), ip4(RemoteAddr), uint16(1024+flow%60000), uint16(9+flow/60000%1000), 60)
		}
		b.StartTimer()
		// 10 ms per batch: the 30 s UDP idle timer expires sessions as fast
		// as they are made, so the table never fills.
		p.Now += int64(10 * time.Millisecond)
		if n := p.Batch(portInside, batch); n != len(batch) {
			b.Fatalf("forwarded %d of %d new flows", n, len(batch))
		}
		packets += len(batch)
	}
	reportPps(b, packets)
}

// The forwarding path allocates nothing.
func TestPipelineZeroAllocs(t *testing.T) {
	p, batch := newUDPPipeline(t, Contenders[0], 64)
	if n := testing.AllocsPerRun(200, func() {
		if got := p.Batch(portInside, batch); got != len(batch) {
			t.Fatalf("forwarded %d of %d", got, len(batch))
		}
	}); n != 0 {
		t.Errorf("pipeline: %v allocs per 64-frame batch", n)
	}
}

// Forwarded frames leave on out0 NATed to 172.22.1.111 with the TTL
// decremented, towards the upstream router's MAC.
func TestPipelineForwardsNATed(t *testing.T) {
	rs, err := CompileContender(Contenders[0], 1<<12)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPipeline(rs)
	if err != nil {
		t.Fatal(err)
	}
	f := testFrame()
	p.Q[portInside].Inject(f)
	p.W.Step(p.Now)
	var got []byte
	p.Q[portOutside].Drain(func(b []byte) { got = append([]byte(nil), b...) })
	if got == nil {
		t.Fatal("nothing transmitted on out0")
	}
	e := packet.Ethernet(got)
	ip := packet.IPv4(e.Payload())
	if e.Dst() != mustMAC(OutHostMAC) || e.Src() != mustMAC(OutsideMAC) {
		t.Errorf("MACs %v -> %v, want %s -> %s", e.Src(), e.Dst(), OutsideMAC, OutHostMAC)
	}
	if ip.Src() != ip4(HostGlobal) || ip.Dst() != ip4(RemoteAddr) || ip.TTL() != 63 {
		t.Errorf("got %s -> %s ttl %d, want %s -> %s ttl 63", packet.IPString(ip.Src()), packet.IPString(ip.Dst()), ip.TTL(), HostGlobal, RemoteAddr)
	}
	if packet.Fold(packet.Checksum(ip[:20], 0)) != 0 {
		t.Error("IPv4 checksum invalid after NAT")
	}
	u := ip.Payload()
	if packet.Fold(packet.Checksum(u, packet.PseudoHeaderChecksum(ip.Src(), ip.Dst(), 17, uint16(len(u))))) != 0 {
		t.Error("UDP checksum invalid after NAT")
	}
}
