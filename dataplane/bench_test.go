package dataplane_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"cbac/packet"
)

// Benchmarks of the packet path through Worker.Step and the in-memory
// rings. Each reports:
//
//	ns/packet       wall time per packet, including what the fake NIC does
//	                (copying the frame into the UMEM, ring pushes, drain)
//	step-ns/packet  time inside Worker.Step only: the dataplane's own cost
//
// and allocations per packet (b.ReportAllocs; the AllocsPerRun tests prove
// the per-packet path allocates nothing).

// benchConfig is the seed with room for a million sessions and thresholds
// that do not turn aggressive at benchmark rates (millions of sessions a
// minute of virtual time).
func benchConfig(t testing.TB) []byte {
	return seedVariant(t, "\n[dataplane]\nmax_sessions = 1048576\n",
		seedOneMinute, `one_minute = { low = 900000000, high = 1000000000 }`,
		seedMaxIncomplete, `max_incomplete = { low = 90000, high = 100000 }`)
}

// pump feeds pre-built frames through one worker in batches and counts
// what leaves.
type pump struct {
	h       *harness
	out     [2]int
	drain   [2]func([]byte)
	stepDur time.Duration
}

func newPump(h *harness) *pump {
	p := &pump{h: h}
	p.drain[0] = func([]byte) { p.out[0]++ }
	p.drain[1] = func([]byte) { p.out[1]++ }
	return p
}

// batch injects frames on port and runs one Step.
func (p *pump) batch(port int, frames [][]byte) {
	for _, f := range frames {
		if !p.h.q[port].Inject(f) {
			p.h.t.Fatal("inject failed")
		}
	}
	t0 := time.Now()
	p.h.w.Step(p.h.now)
	p.stepDur += time.Since(t0)
	p.h.q[0].Drain(p.drain[0])
	p.h.q[1].Drain(p.drain[1])
}

func (p *pump) report(b *testing.B, packets int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(packets), "ns/packet")
	b.ReportMetric(float64(p.stepDur.Nanoseconds())/float64(packets), "step-ns/packet")
}

// BenchmarkForwardNAT: packets of one established, NATed TCP session
// (inside host 10.10.10.5 to the outside, source translated to
// 172.22.1.111): window check, timer touch, NAT, TTL, MAC rewrite, in
// batches of 1 and 64 frames. Every 64th packet is the peer's ACK, so the
// window keeps moving. The frames are rewritten each cycle (sequence
// numbers, full checksums): that is inside ns/packet, not step-ns/packet.
func BenchmarkForwardNAT(b *testing.B) {
	for _, size := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			r := newRun(b, seedSmall(b))
			c := insideOut(r, 33000, "198.51.100.7", 443)
			c.open()
			p := newPump(r.harness)
			payload := make([]byte, 16)
			// Pre-build a cycle of 64 frames: 63 data segments and the
			// ACK of all of them; the sequence space advances by 1008
			// bytes per cycle and is rewritten in place each cycle.
			const cycle = 64
			frames := make([][]byte, cycle)
			for i := range frames {
				frames[i] = make([]byte, 128)
			}
			build := func() {
				for i := 0; i < cycle-1; i++ {
					frames[i] = writeTCP(frames[i][:cap(frames[i])], &c.a, c.na+uint32(i*len(payload)), c.nb, packet.ACK|packet.PSH, payload)
				}
				c.na += uint32((cycle - 1) * len(payload))
				frames[cycle-1] = writeTCP(frames[cycle-1][:cap(frames[cycle-1])], &c.b, c.nb, c.na, packet.ACK, nil)
			}
			b.ReportAllocs()
			b.ResetTimer()
			n := 0
			for n < b.N {
				build()
				if size == 1 {
					for i := 0; i < cycle-1; i++ {
						p.batch(portIn, frames[i:i+1])
					}
				} else {
					p.batch(portIn, frames[:cycle-1])
				}
				p.batch(portOut, frames[cycle-1:])
				n += cycle
			}
			b.StopTimer()
			p.report(b, n)
			if p.out[0]+p.out[1] != n {
				b.Fatalf("forwarded %d of %d (drops %v)", p.out[0]+p.out[1], n, nonZero(r.w.Stats.Drops[:]))
			}
		})
	}
}

// The million-session fixture: 1<<20 established inside-out TCP sessions
// in one worker's table, built once per process (it takes seconds).
type millionFixture struct {
	h     *harness
	flows int
	// frames: pure ACKs of flows spread over the table, in random order,
	// half from each side.
	frames [][]byte
	ports  []int
}

var (
	millionOnce sync.Once
	million     *millionFixture
)

// millionFlow is flow i of the fixture: 4096 outside hosts x 256 ports.
func millionFlow(i int) (a, b flow) {
	dst := 0xc6120000 + uint32(i%4096) + 1 // 198.18.0.0/15, RFC 2544
	a = flow{srcMAC: pmac(macHost), dstMAC: pmac(macIn0), src: ip4("10.10.10.5"), dst: dst, sport: uint16(1024 + i/4096), dport: 443}
	b = a.reverse(dst, ip4("172.22.1.111"), pmac(macUpstream), pmac(macOut0))
	return a, b
}

func buildMillion(b *testing.B) *millionFixture {
	const flows = 1 << 20
	rs := compile(b, benchConfig(b))
	if rs.MaxSessions != flows {
		b.Fatalf("max_sessions %d", rs.MaxSessions)
	}
	h := newHarness(b, rs)
	p := newPump(h)
	const batch = 64
	frames := make([][]byte, batch)
	for i := range frames {
		frames[i] = make([]byte, 128)
	}
	const isnA, isnB = 1000, 5000
	for base := 0; base < flows; base += batch {
		for i := range batch {
			a, _ := millionFlow(base + i)
			frames[i] = writeTCP(frames[i][:128], &a, isnA, 0, packet.SYN, nil)
		}
		p.batch(portIn, frames)
		for i := range batch {
			_, bf := millionFlow(base + i)
			frames[i] = writeTCP(frames[i][:128], &bf, isnB, isnA+1, packet.SYN|packet.ACK, nil)
		}
		p.batch(portOut, frames)
		for i := range batch {
			a, _ := millionFlow(base + i)
			frames[i] = writeTCP(frames[i][:128], &a, isnA+1, isnB+1, packet.ACK, nil)
		}
		p.batch(portIn, frames)
	}
	if live, half := h.w.SessionCount(); live != flows || half != 0 {
		b.Fatalf("fixture: %d sessions, %d half-open (drops %v)", live, half, nonZero(h.w.Stats.Drops[:]))
	}
	f := &millionFixture{h: h, flows: flows}
	// 1<<16 pure ACKs on random flows; an established session accepts the
	// same ACK again and again (no data, seq = end, ack = peer's end).
	rng := uint64(0x9e3779b97f4a7c15)
	for range 1 << 16 {
		rng ^= rng << 13
		rng ^= rng >> 7
		rng ^= rng << 17
		i := int(rng % flows)
		a, bf := millionFlow(i)
		if rng&(1<<40) == 0 {
			f.frames = append(f.frames, writeTCP(make([]byte, 64), &a, isnA+1, isnB+1, packet.ACK, nil))
			f.ports = append(f.ports, portIn)
		} else {
			f.frames = append(f.frames, writeTCP(make([]byte, 64), &bf, isnB+1, isnA+1, packet.ACK, nil))
			f.ports = append(f.ports, portOut)
		}
	}
	return f
}

// millionFor returns the million-session fixture, built once per process.
func millionFor(b *testing.B) *millionFixture {
	millionOnce.Do(func() {
		t0 := time.Now()
		million = buildMillion(b)
		b.Logf("fixture: %d sessions built in %v", million.flows, time.Since(t0).Round(time.Millisecond))
	})
	if million == nil {
		b.Fatal("fixture failed")
	}
	return million
}

// trafficMix is a set of the fixture's flows that packets cycle over.
type trafficMix struct {
	name  string
	flows int // the first flows of f.frames
}

// mixes are the two traffic mixes of the 1M benchmarks.
func (f *millionFixture) mixes() []trafficMix {
	return []trafficMix{{"random", len(f.frames)}, {"hot=1024", 1024}}
}

// BenchmarkEstablished1M: the established-flow fast path (session lookup,
// window check, timer touch, NAT) with a million sessions in the table
// (max_sessions = 1048576, full), in batches of 64. Two traffic mixes:
//
//	random     packets on 65536 flows picked at random among the million,
//	           so nearly every lookup misses the caches and the TLB (slot,
//	           then entry): the cost is the machine's memory latency
//	hot=1024   packets cycling over 1024 of the million flows: the
//	           working set stays in the caches, the cost is the code's
func BenchmarkEstablished1M(b *testing.B) {
	f := millionFor(b)
	for _, mix := range f.mixes() {
		b.Run(mix.name, func(b *testing.B) {
			f.h.t = b
			p := newPump(f.h)
			before := f.h.w.Stats.Forwarded
			var byPort [2][][]byte
			b.ReportAllocs()
			b.ResetTimer()
			n := 0
			for k := 0; n < b.N; k++ {
				byPort[0], byPort[1] = byPort[0][:0], byPort[1][:0]
				for j := range 64 {
					i := (k*64 + j) % mix.flows
					byPort[f.ports[i]] = append(byPort[f.ports[i]], f.frames[i])
				}
				p.batch(portIn, byPort[portIn])
				p.batch(portOut, byPort[portOut])
				n += 64
			}
			b.StopTimer()
			p.report(b, n)
			if fwd := f.h.w.Stats.Forwarded - before; int(fwd) != n || p.out[0]+p.out[1] != n {
				b.Fatalf("forwarded %d, out %d, of %d (drops %v)", fwd, p.out[0]+p.out[1], n, nonZero(f.h.w.Stats.Drops[:]))
			}
			if live, _ := f.h.w.SessionCount(); live != f.flows {
				b.Fatalf("%d sessions left of %d", live, f.flows)
			}
		})
	}
}

// BenchmarkFastPath1M: the established-flow fast path (lookup, window
// check, timer touch, NAT) alone, with the million sessions of
// BenchmarkEstablished1M and the same two traffic mixes, in batches of 64:
// Worker.FastPath (export_test.go) runs the production functions for
// warming, parse, lookup, window check, touch and NAT, and nothing else.
func BenchmarkFastPath1M(b *testing.B) {
	f := millionFor(b)
	for _, mix := range f.mixes() {
		b.Run(mix.name, func(b *testing.B) {
			const batch = 64
			scratch := make([][]byte, batch)
			for i := range scratch {
				scratch[i] = make([]byte, 0, 128)
			}
			now := f.h.now
			b.ReportAllocs()
			b.ResetTimer()
			n, ok := 0, 0
			for k := 0; n < b.N; k++ {
				j := (k * batch) % mix.flows
				ok += f.h.w.FastPath(f.frames[j:min(j+batch, mix.flows)], scratch, now)
				n += min(batch, mix.flows-j)
			}
			b.StopTimer()
			if ok != n {
				b.Fatalf("%d of %d packets accepted", ok, n)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/packet")
		})
	}
}

// BenchmarkSessionSetup: new sessions per second on one core, SYN to
// established (SYN, SYN/ACK, ACK through the pipeline, a new flow each
// time), in batches of 64 flows. The table is cleared (outside the timer)
// before it fills.
func BenchmarkSessionSetup(b *testing.B) {
	r := newRun(b, benchConfig(b))
	p := newPump(r.harness)
	const batch = 64
	syns, synacks, acks := make([][]byte, batch), make([][]byte, batch), make([][]byte, batch)
	for i := range batch {
		syns[i], synacks[i], acks[i] = make([]byte, 128), make([]byte, 128), make([]byte, 128)
	}
	flowN := 0
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for n < b.N {
		if live, _ := r.w.SessionCount(); live > 1<<20-2*batch {
			b.StopTimer()
			r.w.ClearSession(0, true)
			b.StartTimer()
		}
		for i := range batch {
			a, bf := millionFlow(flowN % (1 << 20))
			a.sport += uint16(flowN>>20) * 256
			bf.dport = a.sport
			flowN++
			syns[i] = writeTCP(syns[i][:128], &a, 1000, 0, packet.SYN, nil)
			synacks[i] = writeTCP(synacks[i][:128], &bf, 5000, 1001, packet.SYN|packet.ACK, nil)
			acks[i] = writeTCP(acks[i][:128], &a, 1001, 5001, packet.ACK, nil)
		}
		p.batch(portIn, syns)
		p.batch(portOut, synacks)
		p.batch(portIn, acks)
		n += batch
	}
	b.StopTimer()
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(n)/sec, "sessions/s")
	b.ReportMetric(float64(n)/p.stepDur.Seconds(), "step-sessions/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(3*n), "ns/packet")
	if p.out[0]+p.out[1] != 3*n {
		b.Fatalf("forwarded %d of %d (drops %v)", p.out[0]+p.out[1], 3*n, nonZero(r.w.Stats.Drops[:]))
	}
	if created := r.w.Stats.SessionsCreated; created < uint64(n) {
		b.Fatalf("%d sessions created, want %d", created, n)
	}
}
