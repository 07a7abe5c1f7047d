package dataplane

import (
	"cbac/flowtable"
	"cbac/packet"
	"cbac/smtpfsm"
	"cbac/tcpintercept"
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

// HeldFrames counts frames the worker holds outside its pool and rings:
// waiting for ARP, in hand-over rings towards it, parked for an SMTP
// guard (hold.go), or fragments in virtual reassembly (frag.go).
func (w *Worker) HeldFrames() int {
	n := w.pend.n + w.holds.parked + w.vfr.Held()
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

// FastPath runs the established-flow fast path (lookup, window check,
// timer touch, NAT) on frames of established TCP
// sessions, with the production functions and nothing else: warming for
// the batch in chunks, then per frame the IPv4/TCP parse, session lookup
// (warming's hint confirmed by Match, else Lookup), TCP window check,
// timer touch and NAT rewrite; no rings, Ethernet/ARP, TTL, byte
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
	size, j := 0, 0 // as Step's receive loop and warm do, on frames instead of descriptors
	for i, f := range scratch[:len(frames)] {
		if j == size {
			size = chunkLen(len(frames) - i)
			clear(w.warmHint[:size])
			if size >= warmMin && w.table.Len() >= warmTable {
				keys := w.warmKeys[:size]
				m := 0
				for c, f := range scratch[i : i+size] {
					if readKey(f, &keys[m]) {
						w.warmPos[m] = uint8(c)
						m++
					}
				}
				w.warmKeys = keys[:m]
				w.warmSessions()
			}
			j = 0
		}
		hint := w.warmHint[j]
		j++
		var p pkt
		if parseIPv4(&p, f[14:]) != DropNone || p.proto != 6 || verifyL4(&p) != DropNone {
			continue
		}
		var k flowtable.Key
		p.key(&k)
		idx, dir, found := w.lookup(&k, hint)
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

// PeekKey is the key warming reads from frame (readKey).
func PeekKey(frame []byte) (k flowtable.Key, ok bool) {
	ok = readKey(frame, &k)
	return k, ok
}

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

// SetHoldMax sets how many frames the worker may hold at once.
func (w *Worker) SetHoldMax(n int) { w.holds.max = n }

// FramesAccounted is FreeFrames + HeldFrames + what is in q's fill,
// receive, transmit and completion rings: every UMEM frame of a
// one-worker harness, when nothing is missing or counted twice.
func (w *Worker) FramesAccounted(qs []*FakeQueue) int {
	n := len(w.pool.free) + w.HeldFrames()
	for _, q := range qs {
		n += len(q.FillFrames()) + q.InFlight()
	}
	return n
}

// PoisonFree overwrites every frame in the worker's pool and in the fill
// rings of qs with 0xEE, so that reading a frame the worker gave back too
// early shows.
func (w *Worker) PoisonFree(qs []*FakeQueue) {
	poison := func(a uint64) {
		f := w.umem[a&w.pool.mask : (a&w.pool.mask)+w.frameSize]
		for i := range f {
			f[i] = 0xEE
		}
	}
	for _, a := range w.pool.free {
		poison(a)
	}
	for _, q := range qs {
		for _, a := range q.FillFrames() {
			poison(a)
		}
	}
}

// FramesEverHeld is how many frames the worker's SMTP guards have held.
func (w *Worker) FramesEverHeld() uint64 { return w.holds.total }

// SessionState is what the packet path keeps about one session, comparable
// with ==: a test takes it before and after a frame to show that the frame
// changed nothing (TCP windows, timers, NAT, byte counts, the SMTP
// machines, the stream guard's next expected byte and kept copy).
type SessionState struct {
	Session   Session
	Entry     flowtable.Entry
	SMTP      smtpfsm.Session
	GuardNext uint32
	GuardBase uint32
	GuardHeld int
	SrvNext   uint32
	SrvKnown  bool
	HalfOpen  int // the worker's half-open count
	SMTPFree  int // free SMTP states in the worker's pool
}

// StateOf returns the state of the session k (of either direction)
// belongs to; ok is false if there is none.
func (w *Worker) StateOf(k flowtable.Key) (st SessionState, ok bool) {
	st.HalfOpen, st.SMTPFree = w.halfOpen, len(w.smtp.freeList)
	idx, _, ok := w.table.Lookup(&k)
	if !ok {
		return st, false
	}
	s := &w.sess[idx]
	st.Session, st.Entry = *s, *w.table.Entry(idx)
	if s.app != 0 && s.Kind.smtp() {
		m := w.smtp.get(s.app)
		st.SMTP = m.FSM
		st.GuardNext, st.GuardBase, st.GuardHeld = m.Guard.Next(), m.Guard.Base(), m.Guard.Held()
		st.SrvNext, st.SrvKnown = m.SrvNext, m.SrvKnown
	}
	return st, true
}

// SMTPPool reports the worker's SMTP inspection states: in use, free and
// allocated (a state is in use or free, never both nor neither).
func (w *Worker) SMTPPool() (inUse, free, allocated int) {
	return w.smtp.inUse, len(w.smtp.freeList), len(w.smtp.chunks) * smtpChunk
}

// AdmissionHalfOpen is the admission control's half-open count (shared by
// the workers) and this worker's half-open TCP count for host dst.
func (w *Worker) AdmissionHalfOpen(dst uint32) (shared, host int) {
	host, _ = w.adm.HostHalfOpen(dst, w.now)
	return w.adm.Shared().HalfOpen(), host
}

// CreateSession runs createSession for frame, an inspected packet arriving
// on port in, as forwardNew does but without its checks of the TCP flags,
// so that a test reaches tcpstate.Conn.Init's refusals (a packet cannot:
// forwardNew lets only a valid SYN through). It reports createSession's
// reason, or DropNoRoute / DropNone when the frame is not routed or not
// inspected.
func (w *Worker) CreateSession(frame []byte, in int) Reason {
	var p pkt
	if r := parseIPv4(&p, frame[packet.EthernetHeaderLen:]); r != DropNone {
		return r
	}
	var k flowtable.Key
	p.key(&k)
	rs := w.rs
	ifc := &rs.Ifaces[in]
	nsrc, ndst := p.src, p.dst
	if ifc.NAT == NATOutside {
		if l, ok := rs.NAT.GlobalToLocal(p.dst); ok {
			ndst = l
		}
	}
	out, nh, ok := rs.lookupRoute(ndst)
	if !ok {
		return DropNoRoute
	}
	pol := ifc.InspectIn.Match(p.proto, p.dport)
	if pol == nil {
		pol = rs.Ifaces[out].InspectOut.Match(p.proto, p.dport)
	}
	if pol == nil {
		return DropNone
	}
	_, r := w.createSession(&p, &k, pol, in, out, nh, nsrc, ndst, nil)
	return r
}

// EmptyPool takes every free frame out of the worker's pool, so that
// newFrame fails, and returns the function that gives them back.
func (w *Worker) EmptyPool() (restore func()) {
	taken := append([]uint64(nil), w.pool.free...)
	w.pool.free = w.pool.free[:0]
	return func() {
		for _, a := range taken {
			w.pool.put(a)
		}
	}
}

// SplicesInUse counts the TCP intercept splice states in use.
func (w *Worker) SplicesInUse() int { return len(w.splices.states) - len(w.splices.freeList) }

// CookieOffload is cookieOffload, for the offload tests.
func (rs *Ruleset) CookieOffload(in int, dst uint32, dport uint16) (CookieHits, bool) {
	return rs.cookieOffload(in, dst, dport)
}

// Count is count, for the offload tests.
func (h CookieHits) Count(hits [][]uint64, n uint64) { h.count(hits, n) }

// MakeCookie is the cookie SYN/ACK's sequence number and TSval the
// worker's jar makes at now for the client's SYN frame (what the XDP
// program would answer, the worker not seeing the SYN).
func (w *Worker) MakeCookie(syn []byte, now int64) (isn, tsval uint32) {
	ip := packet.IPv4(syn[packet.EthernetHeaderLen:])
	s := tcpintercept.ParseSYN(ip.Src(), ip.Dst(), packet.TCP(ip.Payload()))
	c := w.jar.Make(now, &s)
	return c.ISN, c.TSval
}

// SetXDPCookies says whether an XDP program can answer cookies (XDP.Run
// sets it), for the offer tests.
func (dp *Dataplane) SetXDPCookies(on bool) { dp.xdpCookies.Store(on) }

// CookieOffer is an offered destination as the XDP layer reads it.
type CookieOffer struct {
	Port  int
	Dst   uint32
	DPort uint16
	Gen   uint32
	Hits  CookieHits
}

// TakeCookieOffers returns and clears the worker's offers, as the XDP
// layer does after a batch.
func (w *Worker) TakeCookieOffers() []CookieOffer {
	var out []CookieOffer
	for _, c := range w.cookieOffers[:w.nCookieOffers] {
		out = append(out, CookieOffer{int(c.port), c.dst, c.dport, c.gen, c.hits})
	}
	w.nCookieOffers = 0
	return out
}

// RulesetGen is the generation of the worker's rule set.
func (w *Worker) RulesetGen() uint32 { return w.rs.gen }

// CookiesWanted is cookiesWanted.
func (w *Worker) CookiesWanted() bool { return w.cookiesWanted() }

// CookiesAnswered is cookiesAnswered.
func (w *Worker) CookiesAnswered(n uint64) { w.cookiesAnswered(n) }

// CookieHitsFor counts n answers of the XDP program for offer o, as the
// XDP layer does.
func (w *Worker) CookieHitsFor(o CookieOffer, n uint64) {
	w.cookieHits(&cookieDst{port: uint8(o.Port), dst: o.Dst, dport: o.DPort, gen: o.Gen, hits: o.Hits}, n)
}

// SetPinholeHook sets what runs when a pinhole opens (the XDP layer's
// cookiesOff).
func (dp *Dataplane) SetPinholeHook(f func()) { dp.pins.onOpen = f }
