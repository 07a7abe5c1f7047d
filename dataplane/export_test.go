package dataplane

import (
	"cbac/flowtable"
	"cbac/packet"
	"cbac/tcpstate"
)

// Test-only views of private state, for the frame accounting of the
// concurrency test. Call them only while no worker runs.

// FreeFrames returns the worker's free UMEM frame addresses.
func (w *Worker) FreeFrames() []uint64 { return w.pool.free }

// FillFrames returns the addresses waiting in the queue's fill ring.
func (q *FakeQueue) FillFrames() []uint64 { return ringAddrs(q.fill) }

// InFlight counts the frames in the queue's receive, transmit and
// completion rings.
func (q *FakeQueue) InFlight() int { return q.rx.len() + q.tx.len() + q.done.len() }

// HeldFrames counts frames the worker holds outside its pool: waiting for
// ARP, or in hand-over rings towards it.
func (w *Worker) HeldFrames() int {
	n := w.pend.n
	for from, row := range w.dp.handoff {
		if from != w.ID {
			n += row[w.ID].len()
		}
	}
	return n
}

func ringAddrs(r *spsc[Desc]) []uint64 {
	var out []uint64
	for i := r.head.Load(); i != r.tail.Load(); i++ {
		out = append(out, r.ring[i&r.mask].Addr)
	}
	return out
}

// FastPath runs the established-flow fast path of issue 3 (acceptance 6:
// "lookup, window check, timer touch, NAT") on frames of established TCP
// sessions, with the production functions and nothing else: warming for
// the batch, then per frame the IPv4/TCP parse, session lookup, TCP window
// check, timer touch and NAT rewrite; no rings, Ethernet/ARP, TTL, byte
// counts or transmit (BenchmarkEstablished1M measures the whole Step).
// Each frame is first copied into scratch[i] (as a NIC writes it into the
// UMEM), since NAT rewrites it. It returns how many frames were accepted.
func (w *Worker) FastPath(frames, scratch [][]byte, now int64) int {
	w.now = now
	for i, f := range frames {
		scratch[i] = scratch[i][:len(f)]
		copy(scratch[i], f)
	}
	ok := 0
	for i, f := range scratch[:len(frames)] {
		if i%warmChunk == 0 {
			keys := w.warmKeys[:0]
			for _, f := range scratch[i:min(i+warmChunk, len(frames))] {
				if k, ok := peekKey(f); ok {
					keys = append(keys, k)
				}
			}
			if len(keys) >= warmMin && w.table.Len() >= warmTable {
				w.warmSessions(keys)
			}
		}
		var p pkt
		if parseIPv4(&p, f[14:]) != DropNone || p.proto != 6 {
			continue
		}
		var k flowtable.Key
		p.key(&k)
		idx, dir, found := w.table.Lookup(&k)
		if !found {
			continue
		}
		s := &w.sess[idx]
		var seg tcpstate.Segment
		tcpSegment(&seg, packet.TCP(p.l4), uint32(len(p.payload)))
		if s.tcp.Step(dir, &seg) != tcpstate.Accept {
			continue
		}
		w.table.Touch(idx, now)
		if s.xlate[dir].Apply(p.ip) {
			ok++
		}
	}
	return ok
}

// WarmAlways makes every worker warm every batch, whatever its size and
// the table's, until the returned function restores the thresholds.
func WarmAlways() (restore func()) {
	oldMin, oldTable := warmMin, warmTable
	warmMin, warmTable = 1, 0
	return func() { warmMin, warmTable = oldMin, oldTable }
}

// PeekKey is peekKey.
func PeekKey(frame []byte) (flowtable.Key, bool) { return peekKey(frame) }

// ParsedKey is the session key process looks a frame up with, and whether
// parsing let it get that far (a valid IPv4 packet, first fragment or
// whole).
func ParsedKey(frame []byte) (flowtable.Key, bool) {
	var p pkt
	if len(frame) < packet.EthernetHeaderLen || packet.Ethernet(frame).Type() != packet.EtherTypeIPv4 ||
		parseIPv4(&p, frame[packet.EthernetHeaderLen:]) != DropNone || p.nonFirst {
		return flowtable.Key{}, false
	}
	var k flowtable.Key
	p.key(&k)
	return k, true
}

// WarmedFields names the Session fields warmSession reads, in order.
var WarmedFields = []string{"Kind", "host", "nextHop", "Bytes"}

// SetWarmChunk sets warmChunk (benchmarks compare sizes).
func SetWarmChunk(n int) { warmChunk = n }

// SetWarmTable sets warmTable (benchmarks compare with warming off).
func SetWarmTable(n int) { warmTable = n }
