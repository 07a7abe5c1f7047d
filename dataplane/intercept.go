package dataplane

import (
	"time"

	"cbac/acl"
	"cbac/flowtable"
	"cbac/packet"
	"cbac/tcpintercept"
	"cbac/tcpstate"
)

// TCP intercept glue (IOS "ip tcp intercept", intercept mode, and auto
// mode while it sends cookies; watch.go has watch and auto mode): the
// cookie exchange with the client, the server half opened on the client's
// behalf, and the splice that joins them (the core is package
// tcpintercept; its doc has the exchange and the cookie layout).
//
//	client SYN, no session, intercept list permits (after the inbound ACL):
//	    the frame becomes the cookie SYN/ACK, back out the ingress port;
//	    no state is kept
//	client ACK, no session: cookie checked (bad: dropped, counted, no
//	    reply, as Linux SYNPROXY drops it); good: the CBAC session is
//	    created as a SYN would create it (thresholds, NAT, rule, SMTP
//	    state) and the frame becomes cbacd's SYN to the server, with the
//	    client's ISN and options; the ACK's payload, if any, is not
//	    forwarded (the client's window is 0: it sends it again once the
//	    window opens)
//	waiting for the server (synwait): a client RST goes on to the server
//	    (seq unchanged, no ACK) and ends the session; other client
//	    segments are dropped and resend the server SYN (the client's
//	    probes pace its retransmission); the server's RST becomes an RST
//	    to the client; synwait running out or a threshold deleting the
//	    session resets both ends
//	server SYN/ACK: the splice is built; the frame becomes the ACK that
//	    completes the server's handshake, and a new frame opens the
//	    client's window
//	joined: server->client segments are translated before TCP tracking,
//	    client->server segments after inspection, just before NAT
//
// Sequence spaces: TCP tracking, the stream guard and SMTP inspection see
// the connection as the client sees it, both directions (the client's
// sequence numbers, which the server shares, and cbacd's cookie ISN for
// the server's bytes), so every number they keep and every RST built from
// them is in the client's space; the one frame that leaves towards the
// server built from them (resetSession's RST) is translated like any
// client segment.

// spliceState is what an intercepted session keeps beside its Session:
// the cookie's options (for the server SYN and the join), the client's
// window, and once joined the Splice.
type spliceState struct {
	tuple        tcpintercept.Tuple // client -> server, as the client addresses it
	opened       tcpintercept.Opened
	splice       tcpintercept.Splice
	halves       tcpintercept.Halves // once joined (a repeated server SYN/ACK is answered again)
	clientWindow uint16              // the client's cookie ACK window (its scale)
	joined       bool                // the server's SYN/ACK arrived
	quiet        bool                // ending without resets (an RST already went)
}

// splicePool is a worker's splice states: a slab allocated when a ruleset
// with intercept is first installed (between batches), handles 1 + index.
type splicePool struct {
	states   []spliceState
	freeList []uint32
}

// interceptPoolMax bounds a worker's splice states (intercepted sessions
// open at once).
const interceptPoolMax = 1 << 16

func (p *splicePool) init(n int) {
	p.states = make([]spliceState, n)
	p.freeList = make([]uint32, n)
	for i := range p.freeList {
		p.freeList[i] = uint32(n - 1 - i)
	}
}

func (p *splicePool) alloc() (uint32, bool) {
	n := len(p.freeList)
	if n == 0 {
		return 0, false
	}
	i := p.freeList[n-1]
	p.freeList = p.freeList[:n-1]
	return i + 1, true
}

func (p *splicePool) get(h uint32) *spliceState { return &p.states[h-1] }

func (p *splicePool) free(h uint32) { p.freeList = append(p.freeList, h-1) }

// InterceptStats are one worker's intercept counters.
type InterceptStats struct {
	SYNACKs      uint64 // cookie SYN/ACKs sent (by the worker and the XDP program)
	XDPSYNACKs   uint64 // of which the XDP program sent (xdpcookie.go)
	Opened       uint64 // valid cookie ACKs: server SYN sent, session created
	SYNsResent   uint64 // server SYNs sent again on a client's probe
	Joined       uint64 // server SYN/ACKs: connections established
	ServerResets uint64 // server refused (RST): client reset
	Aborted      uint64 // waiting connections ended by synwait or thresholds: both reset
	ClientResets uint64 // client RST while waiting: passed to the server
	AutoSwitches uint64 // auto mode: cookies turned on or off
	// Waiting is IOS's incomplete connections: those waiting for the
	// server's SYN/ACK, and those watched (watch.go) while half-open.
	Waiting int
	// Cookies: auto mode sends cookies (above max-incomplete high, until
	// below low).
	Cookies bool
	// Aggressive: above a threshold, until both are below low.
	Aggressive bool
	// LastMinute is how many protected SYNs the last whole minute had
	// (the "1 minute connection request rate"); thisMinute counts the
	// current one from minuteStart (interceptMinute).
	LastMinute  uint64
	thisMinute  uint64
	minuteStart int64
}

// interceptMinute closes the counting minute when it is over (between
// batches).
func (w *Worker) interceptMinute() {
	s := &w.Intercept
	if w.now-s.minuteStart < int64(time.Minute) {
		return
	}
	if w.now-s.minuteStart >= 2*int64(time.Minute) {
		s.thisMinute = 0 // a silent minute in between
	}
	s.LastMinute, s.thisMinute, s.minuteStart = s.thisMinute, 0, w.now
}

// InterceptConn describes one intercepted session for
// `show tcp intercept connections`.
type InterceptConn struct {
	Client, Server uint32 // as the client addresses them
	ClientPort     uint16
	ServerPort     uint16
	Joined         bool
	Watched        bool  // watch or auto mode: the client's SYN passed, not established yet
	SynAck         bool  // watched: the server's SYN/ACK passed
	Age            int64 // ns since the session was created
	Timeout        int64 // ns until the session's timer runs out
	TCPState       string
}

// InterceptConns lists the worker's intercepted sessions and its watched
// incomplete ones (control plane, through Do).
func (w *Worker) InterceptConns(out []InterceptConn) []InterceptConn {
	w.table.ForEach(func(idx uint32, e *flowtable.Entry) bool {
		s := &w.sess[idx]
		if s.splice == 0 {
			if s.flags&sfIncomplete != 0 {
				out = append(out, InterceptConn{
					Client: e.Orig.Src, Server: e.Orig.Dst, ClientPort: e.Orig.SrcPort, ServerPort: e.Orig.DstPort,
					Watched: true, SynAck: s.tcp.State() == tcpstate.SynRecv, Age: w.now - e.Created, TCPState: s.tcp.SISName(),
					Timeout: max(0, e.LastSeen+w.rs.classes[e.Class()]-w.now),
				})
			}
			return true
		}
		sp := w.splices.get(s.splice)
		out = append(out, InterceptConn{
			Client: sp.tuple.Src, Server: sp.tuple.Dst, ClientPort: sp.tuple.SrcPort, ServerPort: sp.tuple.DstPort,
			Joined: sp.joined, Age: w.now - e.Created, TCPState: s.tcp.SISName(),
			Timeout: max(0, e.LastSeen+w.rs.classes[e.Class()]-w.now),
		})
		return true
	})
	return out
}

// frameRoom is the whole UMEM frame of d from its data on: room to build
// a reply longer than the received frame.
func (w *Worker) frameRoom(d *Desc) []byte {
	end := d.Addr&w.pool.mask + w.frameSize
	return w.umem[d.Addr:end]
}

// intercepts reports whether the intercept list protects the connection
// p opens (matched on the addresses the client uses, as the inbound ACL).
func (w *Worker) intercepts(p *pkt, k *flowtable.Key) bool {
	ic := w.rs.Intercept
	if ic == nil {
		return false
	}
	var t acl.Tuple
	p.tuple(&t, p.src, p.dst)
	return w.aclCheck(ic.List, &t, k)
}

// interceptSYN answers a protected SYN with a cookie SYN/ACK, written over
// the SYN's own frame and sent back out the port it came in on. Nothing
// is kept.
func (w *Worker) interceptSYN(d *Desc, p *pkt, in int) {
	t := packet.TCP(p.l4)
	syn := tcpintercept.ParseSYN(p.src, p.dst, t)
	c := w.jar.Make(w.now, &syn)
	w.Intercept.thisMinute++
	d.Len = uint32(tcpintercept.WriteSYNACKFrame(w.frameRoom(d), &syn, &c, tcpintercept.CookieMSS, tcpintercept.DefaultWScale, w.rs.Ifaces[in].MAC))
	w.offerCookieDst(in, p.dst, p.dport)
	d.Port = uint8(in)
	w.Intercept.SYNACKs++
	w.queueTx(d)
}

// interceptACK handles a protected ACK without a session: a valid cookie
// opens the session and the server half. It returns why the frame is to
// be dropped (the caller drops it), DropNone when it was used.
//
// A client whose cookie ACK was lost is ESTABLISHED behind a zero window
// and sends only zero-window probes, at one below its next sequence
// number (RFC 9293 3.8.6.1; Linux sends SND.UNA - 1 without data): a
// segment without data is also checked as such a probe, else the
// connection would hang (it doubles a forger's odds, to 2^-27).
func (w *Worker) interceptACK(d *Desc, p *pkt, k *flowtable.Key, pol *ProtoPolicy, in, out int, nh, nsrc, ndst uint32) Reason {
	t := packet.TCP(p.l4)
	var a tcpintercept.ACK
	o, ok := w.checkCookie(p, &a)
	if !ok {
		return DropInterceptBadCookie
	}
	// Aggressive mode drops an incomplete connection only while the
	// incomplete ones, this one included, are above max-incomplete low (as
	// CBAC's half-open rule): a flood of cookies raises the one-minute
	// rate but keeps no state, and cutting a client that proved itself
	// would not lower that rate.
	if w.interceptAggressive() && w.Intercept.Waiting+1 > w.share(w.rs.Intercept.MaxIncomplete.Low) {
		w.dropIncomplete()
	}
	h, ok := w.splices.alloc()
	if !ok {
		return DropInterceptFull
	}
	// TCP tracking starts from the client's SYN as the cookie kept it
	// (a SYN's window is unscaled).
	win := uint32(t.Window())
	if o.WScale > 0 {
		win <<= uint8(min(o.WScale, 14))
	}
	syn := tcpstate.Segment{Seq: o.ISN, Window: uint16(min(win, 0xffff)), Flags: packet.SYN, WScale: o.WScale, SACKPerm: o.SACKPerm}
	idx, r := w.createSession(p, k, pol, in, out, nh, nsrc, ndst, &syn)
	if r != DropNone {
		w.splices.free(h)
		return r
	}
	s := &w.sess[idx]
	s.splice = h
	if c := w.rs.interceptConn; w.rs.classes[c] < w.rs.classes[s.idle] {
		s.idle = c // connection-timeout, when shorter than the rule's
	}
	st := w.splices.get(h)
	*st = spliceState{tuple: a.Tuple, opened: o, clientWindow: t.Window()}
	w.Intercept.Opened++
	w.incompleteAdd(idx)
	w.sendServerSYN(d, s, st)
	return DropNone
}

// checkCookie checks the client's ACK p (a, filled from it) against the
// worker's jar, also as a zero-window probe when it carries no data
// (interceptACK), and returns the options its cookie kept.
func (w *Worker) checkCookie(p *pkt, a *tcpintercept.ACK) (tcpintercept.Opened, bool) {
	*a = tcpintercept.ParseACK(p.src, p.dst, packet.TCP(p.l4))
	o, ok := w.jar.Check(w.now, a)
	if !ok && len(p.payload) == 0 {
		a.Seq++
		o, ok = w.jar.Check(w.now, a)
	}
	return o, ok
}

// cookieReopens reports whether the client's ACK p, which TCP tracking
// refused on session s whose connection is closed (waiting out finwait),
// completes a new cookie handshake on the same 5-tuple: cookie ACKs are
// accepted, the intercept list protects the connection and the cookie is
// valid. The XDP program answers protected SYNs without looking at the
// sessions (cookieoffload.go), so a client reusing its 5-tuple gets a
// cookie while the old session still stands. The cookie is checked
// before anything changes, so that a forged ACK cannot end the old
// session; nothing is counted (forwardNew counts the ACL entries).
func (w *Worker) cookieReopens(p *pkt) bool {
	ic := w.rs.Intercept
	if !w.cookieACKs() {
		return false
	}
	var t acl.Tuple
	p.tuple(&t, p.src, p.dst)
	if _, permit := w.rs.ACLs[ic.List].Match(&t); !permit {
		return false
	}
	var a tcpintercept.ACK
	_, ok := w.checkCookie(p, &a)
	return ok
}

// sendServerSYN writes cbacd's SYN to the server over frame d and sends
// it: built with the client's addresses, translated as the client's
// segments are.
func (w *Worker) sendServerSYN(d *Desc, s *Session, st *spliceState) {
	b := w.frameRoom(d)
	seg := b[packet.EthernetHeaderLen+packet.IPv4MinHeaderLen:]
	n := tcpintercept.WriteServerSYN(seg, &st.tuple, &st.opened, st.clientWindow)
	w.sendBuilt(d, b, st.tuple.Src, st.tuple.Dst, n, s, 0)
}

// sendBuilt completes a TCP segment of n bytes written after room for an
// IPv4 header in b (addresses src -> dst as the client sees them), sends
// it in direction dir of s, translated by its NAT.
func (w *Worker) sendBuilt(d *Desc, b []byte, src, dst uint32, n int, s *Session, dir uint8) {
	packet.Ethernet(b).SetType(packet.EtherTypeIPv4)
	ip := packet.IPv4(b[packet.EthernetHeaderLen : packet.EthernetHeaderLen+packet.IPv4MinHeaderLen+n])
	packet.WriteIPv4Header(ip, src, dst, packet.ProtoTCP, 64, n, 0)
	s.xlate[dir].Apply(ip)
	d.Len = uint32(packet.EthernetHeaderLen + len(ip))
	w.send(d, b[:d.Len], int(s.port[dir]), s.nextHop[dir])
}

// interceptSegment runs before TCP tracking on every segment of an
// intercepted session. While the server has not answered it handles the
// segment itself (and reports false: consumed); once joined it translates
// a server segment into the client's space and reports true.
func (w *Worker) interceptSegment(d *Desc, p *pkt, s *Session, idx uint32, dir uint8) bool {
	st := w.splices.get(s.splice)
	t := packet.TCP(p.l4)
	if st.joined {
		if dir == 1 {
			if p.flags&packet.SYN != 0 {
				w.serverSYNACKAgain(d, p, s, st)
				return false
			}
			st.splice.ServerToClient(t)
		}
		return true
	}
	o := &st.opened
	flags := p.flags
	if dir == 0 {
		switch {
		case flags&packet.RST != 0:
			// The client gave up: the server, in SYN-RECEIVED, takes an
			// RST at the client's next sequence number without an ACK
			// (RFC 9293 3.10.7.4: an ACK would have to name its ISN,
			// unknown yet).
			b := w.frameRoom(d)
			writeRST(b, st.tuple.Src, st.tuple.Dst, st.tuple.SrcPort, st.tuple.DstPort, o.ISN+1, 0, packet.RST)
			w.sendBuilt(d, b, st.tuple.Src, st.tuple.Dst, packet.TCPMinHeaderLen, s, 0)
			st.quiet = true
			w.Intercept.ClientResets++
			w.deleteSession(idx)
		case flags&packet.SYN == 0:
			// A probe or data into the zero window: dropped, and the
			// server SYN sent again (ours may have been lost).
			w.Stats.Drops[DropInterceptWaiting]++
			w.Intercept.SYNsResent++
			w.sendServerSYN(d, s, st)
		default:
			w.drop(d, DropInterceptWaiting)
		}
		return false
	}
	acked := flags&packet.ACK != 0 && t.Ack() == o.ISN+1
	switch {
	case flags&packet.RST != 0 && acked:
		// The server refused: the client is reset in its own space.
		b := w.frameRoom(d)
		n := writeRST(b, st.tuple.Dst, st.tuple.Src, st.tuple.DstPort, st.tuple.SrcPort, o.Cookie+1, o.ISN+1, packet.RST|packet.ACK)
		d.Len = uint32(n)
		w.send(d, b[:n], int(s.port[1]), s.nextHop[1])
		st.quiet = true
		w.Intercept.ServerResets++
		w.deleteSession(idx)
	case flags&(packet.SYN|packet.ACK|packet.RST|packet.FIN) == packet.SYN|packet.ACK && acked && len(p.payload) == 0:
		w.interceptJoin(d, p, s, idx, st)
	default:
		w.drop(d, DropInterceptWaiting)
	}
	return false
}

// interceptJoin handles the server's SYN/ACK: the splice is built, TCP
// tracking (in the client's space) sees the handshake the client saw,
// the server gets the ACK completing its handshake (written over the
// SYN/ACK's frame) and the client a window update (a new frame).
func (w *Worker) interceptJoin(d *Desc, p *pkt, s *Session, idx uint32, st *spliceState) {
	t := packet.TCP(p.l4)
	o := &st.opened
	ws, _, _ := t.ParseOptions()
	tsval, _, ts := t.Timestamps()
	st.halves = tcpintercept.Halves{
		CookieISN: o.Cookie, ServerISN: t.Seq(), CookieTSval: o.TSecr, ServerTSval: tsval,
		ClientTS: o.TS, ServerTS: ts, ClientWScale: o.WScale,
		AdvertisedWScale: tcpintercept.DefaultWScale, ServerWScale: ws,
	}
	hv := &st.halves
	st.splice = tcpintercept.NewSplice(hv)
	serverWindow := t.Window()
	clientWS := int8(-1)
	if o.WScale >= 0 {
		clientWS = tcpintercept.DefaultWScale
	}
	segs := [3]tcpstate.Segment{
		{Seq: o.Cookie, Ack: o.ISN + 1, Flags: packet.SYN | packet.ACK, WScale: clientWS, SACKPerm: o.SACKPerm},
		{Seq: o.ISN + 1, Ack: o.Cookie + 1, Flags: packet.ACK, Window: st.clientWindow, WScale: -1},
		{Seq: o.Cookie + 1, Ack: o.ISN + 1, Flags: packet.ACK, Window: st.splice.ClientWindow(serverWindow), WScale: -1},
	}
	dirs := [3]uint8{1, 0, 1}
	for i := range segs {
		if v := s.tcp.Step(dirs[i], &segs[i]); v != tcpstate.Accept {
			w.drop(d, tcpDrop(v))
			w.deleteSession(idx)
			return
		}
	}
	st.joined = true
	w.incompleteDone(idx)
	if s.app != 0 && s.Kind.smtp() {
		sm := w.smtp.get(s.app)
		sm.ServerSYN(o.Cookie)
	}
	if s.app != 0 && s.Kind == InspectFTP {
		w.ftp.Get(s.app).insp.ServerSYN(o.Cookie)
	}
	if s.app != 0 && s.Kind == InspectHTTP {
		w.http.Get(s.app).ServerSYN(o.Cookie)
	}
	w.halfOpenDone(s)
	w.table.SetClass(idx, w.timerClass(s), w.now)
	w.Intercept.Joined++
	// The ACK to the server, over its SYN/ACK.
	b := w.frameRoom(d)
	n := tcpintercept.WriteServerACK(b[packet.EthernetHeaderLen+packet.IPv4MinHeaderLen:], &st.tuple, o, hv, &st.splice, st.clientWindow)
	w.sendBuilt(d, b, st.tuple.Src, st.tuple.Dst, n, s, 0)
	// The window update to the client, in the addresses it uses.
	if nd, nb, ok := w.newFrame(); ok {
		n := tcpintercept.WriteClientACK(nb[packet.EthernetHeaderLen+packet.IPv4MinHeaderLen:], &st.tuple, o, &st.splice, serverWindow)
		if s.app != 0 && s.Kind.smtp() {
			// As every server segment of an inspected session: the
			// client may send no more than the replay copy can keep.
			ct := packet.TCP(nb[packet.EthernetHeaderLen+packet.IPv4MinHeaderLen:][:n])
			w.smtp.get(s.app).ClampWindow(ct, s.tcp.WindowScale(1))
		}
		packet.Ethernet(nb).SetType(packet.EtherTypeIPv4)
		ip := packet.IPv4(nb[packet.EthernetHeaderLen : packet.EthernetHeaderLen+packet.IPv4MinHeaderLen+n])
		packet.WriteIPv4Header(ip, st.tuple.Dst, st.tuple.Src, packet.ProtoTCP, 64, n, 0)
		nd.Len = uint32(packet.EthernetHeaderLen + len(ip))
		w.send(&nd, nb[:nd.Len], int(s.port[1]), s.nextHop[1])
	}
}

// resetWaiting resets both ends of intercepted session idx if it still
// waits for the server and no RST went yet, and reports whether it did:
// the client, ESTABLISHED with cbacd, at the sequence number it expects
// (the cookie's + 1, in its space); the server, in SYN-RECEIVED, at the
// client's next sequence number without an ACK (it would have to name
// the server's ISN, unknown yet). resetHalfOpen calls it for the
// thresholds and synwait (TCP tracking's numbers are the client's, not
// the server's, while it waits).
func (w *Worker) resetWaiting(idx uint32, s *Session) bool {
	st := w.splices.get(s.splice)
	if st.joined || st.quiet {
		return false
	}
	e := w.table.Entry(idx)
	o := &st.opened
	w.sendRST(s, 1, &e.Reply, o.Cookie+1, o.ISN+1, packet.RST|packet.ACK)
	w.sendRST(s, 0, &e.Orig, o.ISN+1, 0, packet.RST)
	st.quiet = true
	w.Intercept.Aborted++
	return true
}

// endIntercept releases session idx's splice state as the session ends.
// A connection still waiting for the server and not reset yet (clear) is
// reset at both ends (resetWaiting), as IOS does when it drops an
// intercepted connection.
func (w *Worker) endIntercept(idx uint32, s *Session) {
	w.resetWaiting(idx, s)
	w.splices.free(s.splice)
	s.splice = 0
}

// cookieACKs reports whether an ACK without a session may carry a cookie:
// intercept and auto mode (cookies sent while auto mode had them on stay
// good after it turned them off).
func (w *Worker) cookieACKs() bool {
	ic := w.rs.Intercept
	return ic != nil && ic.Mode != InterceptWatch
}

// share is a worker's part of an intercept threshold (at least 1).
func (w *Worker) share(n int) int { return max(1, n/len(w.dp.Workers)) }

// interceptRate is the connection requests of the last minute: this
// minute's and the part of the last minute still within 60 s.
func (w *Worker) interceptRate() int {
	s := &w.Intercept
	el := w.now - s.minuteStart
	if el >= int64(time.Minute) {
		return int(s.thisMinute)
	}
	return int(s.thisMinute) + int(uint64(int64(time.Minute)-el)*s.LastMinute/uint64(time.Minute))
}

// interceptAggressive reports whether the worker is in IOS's aggressive
// mode: entered when the incomplete connections or the requests of the last minute exceed their high threshold, left
// when both fall below low.
func (w *Worker) interceptAggressive() bool {
	ic, s := w.rs.Intercept, &w.Intercept
	rate := w.interceptRate()
	if !s.Aggressive {
		s.Aggressive = s.Waiting > w.share(ic.MaxIncomplete.High) || rate > w.share(ic.OneMinute.High)
	} else if s.Waiting < w.share(ic.MaxIncomplete.Low) && rate < w.share(ic.OneMinute.Low) {
		s.Aggressive = false
	}
	return s.Aggressive
}

// serverSYNACKAgain answers a server SYN/ACK that arrives after the join
// (cbacd's ACK was lost): the same ACK again, over its frame, if it is the
// SYN/ACK of the join; anything else with SYN is dropped.
func (w *Worker) serverSYNACKAgain(d *Desc, p *pkt, s *Session, st *spliceState) {
	t := packet.TCP(p.l4)
	if p.flags&(packet.SYN|packet.ACK|packet.RST|packet.FIN) != packet.SYN|packet.ACK || t.Seq() != st.halves.ServerISN || t.Ack() != st.opened.ISN+1 {
		w.drop(d, DropTCPSynEstablished)
		return
	}
	b := w.frameRoom(d)
	n := tcpintercept.WriteServerACK(b[packet.EthernetHeaderLen+packet.IPv4MinHeaderLen:], &st.tuple, &st.opened, &st.halves, &st.splice, st.clientWindow)
	w.sendBuilt(d, b, st.tuple.Src, st.tuple.Dst, n, s, 0)
}
