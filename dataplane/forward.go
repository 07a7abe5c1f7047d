package dataplane

import (
	"cbac/acl"
	"cbac/appinspect"
	"cbac/flowtable"
	"cbac/inspect"
	"cbac/nat"
	"cbac/packet"
	"cbac/tcpstate"
)

// pkt is what the pipeline learns about one IPv4 packet; it lives on the
// worker's stack and points into the frame.
//
// The 5-tuple fields are deliberately not in flowtable.Key's order: when
// they are, the compiler copies them into a Key (pkt.key) with loads
// wider than the stores parseIPv4 wrote them with, and such a load waits
// for those stores to retire (a store-forwarding stall, ~5 ns a packet).
type pkt struct {
	ip       packet.IPv4
	l4       []byte
	payload  []byte // TCP/UDP payload
	src      uint32
	sport    uint16 // ICMP echo: identifier in both ports
	proto    uint8
	flags    uint8 // TCP flags
	dst      uint32
	dport    uint16
	icmpType uint8
	icmpCode uint8
	icmpErr  bool        // ICMP error: the key comes from the inner header
	inner    packet.IPv4 // ICMP error's embedded header
	nonFirst bool        // non-initial fragment: no L4 header
}

// process runs the pipeline on one received frame; it ends by queueing the
// frame for transmission, handing it over, holding it for ARP or dropping it.
// hint is the session index warming found for the frame (warm.go), 0 for
// none: only a shortcut for the lookup of the same key (lookup).
func (w *Worker) process(d *Desc, handedOver bool, hint uint32) {
	rs := w.rs
	frame := w.frame(d)
	in := int(d.Port)
	if len(frame) < packet.EthernetHeaderLen {
		w.drop(d, DropRunt)
		return
	}
	eth := packet.Ethernet(frame)
	switch eth.Type() {
	case packet.EtherTypeIPv4:
	case packet.EtherTypeARP:
		w.arpInput(d, eth, in)
		return
	default:
		w.drop(d, DropNonIPv4)
		return
	}
	ifc := &rs.Ifaces[in]
	if !handedOver && eth.Dst() != ifc.MAC {
		w.drop(d, DropNotForUs)
		return
	}
	var p pkt
	if r := parseIPv4(&p, eth.Payload()); r != DropNone {
		// A first fragment too short for its L4 header is virtual
		// reassembly's to judge: it drops the whole datagram (RFC 1858).
		if r != DropL4Invalid || !p.ip.IsFragment() || !ifc.VirtualReassembly || w.reassembling {
			w.drop(d, r)
			return
		}
	}
	// The transport checksum is verified before anything below can change
	// state (a session, a TCP window, a stream guard, the SMTP machine;
	// the router's own echo reply too). A frame handed over was verified
	// by the worker that received it. A fragment carries only part of
	// what its datagram's checksum covers: with virtual reassembly it is
	// verified over the whole datagram (frag.go), without it every
	// fragment is dropped below.
	if !handedOver && !p.ip.IsFragment() {
		if r := verifyL4(&p); r != DropNone {
			w.drop(d, r)
			return
		}
	}
	// Trim Ethernet padding: the frame is exactly the IP datagram from now on.
	d.Len = uint32(packet.EthernetHeaderLen + len(p.ip))
	frame = frame[:d.Len]

	if _, ok := rs.localPort(p.dst); ok {
		w.local(d, frame, &p, in)
		return
	}
	if p.ip.TTL() <= 1 {
		w.drop(d, DropTTLExpired)
		return
	}
	if p.ip.IsFragment() && !w.reassembling {
		if ifc.VirtualReassembly {
			w.fragInput(d, &p) // frag.go
			return
		}
		// Without virtual reassembly every fragment is dropped (fail
		// closed). A non-initial fragment has no L4 header to match a
		// session or ACL ports. A first fragment has one, but its L4
		// checksum covers the whole datagram, so it cannot be verified
		// before it would create a session, move a TCP window or feed
		// an inspector; and with its followers dropped the receiver
		// could never reassemble it, so forwarding it would serve no
		// one (decision).
		w.drop(d, DropFragment)
		return
	}

	var k flowtable.Key
	p.key(&k)
	if len(w.dp.Workers) > 1 && !handedOver {
		if o := w.owner(&k, in); o != w.ID {
			w.handOver(o, d)
			return
		}
	}
	if idx, dir, ok := w.lookup(&k, hint); ok {
		w.forwardSession(d, frame, &p, idx, dir, in)
		return
	}
	w.forwardNew(d, frame, &p, &k, in)
}

// lookup is Table.Lookup(k), answered from hint when the session warming
// found is still live and k is one of its keys (Table.Match: a key belongs
// to one session at most, so that is Lookup's answer). A hint gone stale
// since warming (the session deleted, its index reused, or a tag collision)
// just costs the Lookup.
func (w *Worker) lookup(k *flowtable.Key, hint uint32) (idx uint32, dir uint8, ok bool) {
	if dir, ok := w.table.Match(hint, k); ok {
		return hint, dir, true
	}
	return w.table.Lookup(k)
}

// parseIPv4 fills p from an IPv4 datagram and checks its headers.
func parseIPv4(p *pkt, b []byte) Reason {
	ip := packet.IPv4(b)
	if !ip.IsValid() {
		return DropIPInvalid
	}
	if !ip.ChecksumValid() {
		return DropIPChecksum
	}
	ip = ip[:ip.TotalLength()]
	p.ip = ip
	p.proto = ip.Protocol()
	p.src, p.dst = ip.Src(), ip.Dst()
	if ip.FragmentOffset() != 0 {
		p.nonFirst = true
		return DropNone
	}
	l4 := ip.Payload()
	p.l4 = l4
	switch p.proto {
	case packet.ProtoTCP:
		t := packet.TCP(l4)
		if !t.IsValid() {
			return DropL4Invalid
		}
		p.sport, p.dport, p.flags = t.SrcPort(), t.DstPort(), t.Flags()
		p.payload = t.Payload()
	case packet.ProtoUDP:
		u := packet.UDP(l4)
		if ip.MoreFragments() {
			// A first fragment holds the header but not the length it
			// announces.
			if len(l4) < packet.UDPHeaderLen {
				return DropL4Invalid
			}
			p.sport, p.dport = u.SrcPort(), u.DstPort()
			p.payload = l4[packet.UDPHeaderLen:]
			break
		}
		if !u.IsValid() {
			return DropL4Invalid
		}
		p.sport, p.dport = u.SrcPort(), u.DstPort()
		p.payload = u.Payload()
	case packet.ProtoICMP:
		c := packet.ICMPv4(l4)
		if !c.IsValid() {
			return DropL4Invalid
		}
		p.icmpType, p.icmpCode = c.Type(), c.Code()
		switch p.icmpType {
		case packet.Echo, packet.EchoReply:
			p.sport, p.dport = c.Ident(), c.Ident()
		default:
			if c.IsError() {
				inner := c.InnerIPv4()
				if len(inner) < 20+8 {
					return DropL4Invalid
				}
				p.icmpErr = true
				p.inner = inner
			}
		}
	}
	return DropNone
}

// verifyL4 verifies the TCP, UDP (when present: 0 means none, RFC 768) or
// ICMP checksum of a whole datagram that parseIPv4 accepted (not a
// fragment). A TCP/UDP checksum that fails is told apart when it holds only
// the pseudo-header sum a sender leaves for offload hardware to finish
// (packet.IsPartialChecksum): dropped all the same, under its own reason,
// so that an operator sees why (README, "Checksums and offloads"). Other
// protocols carry no checksum cbac knows.
func verifyL4(p *pkt) Reason {
	switch p.proto {
	case packet.ProtoTCP:
		t := packet.TCP(p.l4)
		if t.ChecksumValid(p.src, p.dst) {
			return DropNone
		}
		if t.ChecksumPartial(p.src, p.dst) {
			return DropChecksumPartial
		}
		return DropTCPChecksum
	case packet.ProtoUDP:
		u := packet.UDP(p.l4)
		if u.ChecksumValid(p.src, p.dst) {
			return DropNone
		}
		if u.ChecksumPartial(p.src, p.dst) {
			return DropChecksumPartial
		}
		return DropUDPChecksum
	case packet.ProtoICMP:
		if !packet.ICMPv4(p.l4).ChecksumValid() {
			return DropICMPChecksum
		}
	}
	return DropNone
}

// key is the session key the packet is looked up with: its own 5-tuple, or
// for an ICMP error the reverse of the tuple of the packet it is about
// (so it finds that packet's session in the opposite direction).
// The fields of the 5-tuple are stored one by one, not as a whole Key
// built on the stack: the lookup reads them back one by one, and a 16-byte
// copy of narrower stores waits for them (a store-forwarding stall). The
// padding of *k is left as it is (== ignores it).
func (p *pkt) key(k *flowtable.Key) {
	if !p.icmpErr {
		k.Src, k.Dst, k.SrcPort, k.DstPort, k.Proto = p.src, p.dst, p.sport, p.dport, p.proto
		return
	}
	in := p.inner
	ihl := int(in[0]&0x0f) * 4
	if ihl < 20 || len(in) < ihl+8 {
		ihl = 20
	}
	l4 := in[ihl:]
	proto := in[9]
	var sp, dp uint16
	switch proto {
	case packet.ProtoTCP, packet.ProtoUDP:
		sp, dp = uint16(l4[0])<<8|uint16(l4[1]), uint16(l4[2])<<8|uint16(l4[3])
	case packet.ProtoICMP:
		sp = uint16(l4[4])<<8 | uint16(l4[5])
		dp = sp
	}
	src := uint32(in[12])<<24 | uint32(in[13])<<16 | uint32(in[14])<<8 | uint32(in[15])
	dst := uint32(in[16])<<24 | uint32(in[17])<<16 | uint32(in[18])<<8 | uint32(in[19])
	*k = flowtable.Key{Src: dst, Dst: src, SrcPort: dp, DstPort: sp, Proto: proto}
}

// owner is the worker that owns k's flow: a symmetric hash of the flow in
// the global (post-NAT) address space, so both directions, before and after
// translation, land on the same worker.
func (w *Worker) owner(k *flowtable.Key, in int) int {
	a, b, pa, pb := k.Src, k.Dst, k.SrcPort, k.DstPort
	if w.rs.Ifaces[in].NAT == NATInside {
		if g, ok := w.rs.NAT.LocalToGlobal(a); ok {
			a = g
		}
		if g, ok := w.rs.NAT.LocalToGlobal(b); ok {
			b = g
		}
	}
	if a > b || (a == b && pa > pb) {
		a, b, pa, pb = b, a, pb, pa
	}
	h := (uint64(a)<<32 | uint64(b)) * 0x9e3779b97f4a7c15
	h ^= (uint64(pa)<<24 | uint64(pb)<<8 | uint64(k.Proto)) * 0xc2b2ae3d27d4eb4f
	h ^= h >> 29
	return int(h % uint64(len(w.dp.Workers)))
}

// forwardSession handles a packet of a known session: it skips the ACLs.
func (w *Worker) forwardSession(d *Desc, frame []byte, p *pkt, idx uint32, dir uint8, in int) {
	s := &w.sess[idx]
	// A session's packets must arrive where its direction comes from.
	if int(s.port[1-dir]) != in {
		w.drop(d, DropNoSession)
		return
	}
	if p.icmpErr {
		w.forwardICMPError(d, frame, p, s, dir)
		return
	}
	dirty := false
	switch p.proto {
	case packet.ProtoTCP:
		if (s.Kind.inspected() || s.app != 0 && s.Kind == InspectHTTP) && w.reassembling && len(w.fragRest) > 0 {
			// See frag.go: fail closed, also once the inspection state
			// is released (the fragments after the first are never seen
			// by TCP tracking).
			w.drop(d, DropFragment)
			return
		}
		if s.splice != 0 && !w.interceptSegment(d, p, s, idx, dir) {
			return // TCP intercept handshake (intercept.go)
		}
		t := packet.TCP(p.l4)
		if s.Kind == InspectFTP && s.app != 0 && !w.ftpMapAck(s, dir, t) {
			// Tracking sees both streams in their senders' numbering
			// (ftp.go).
			w.drop(d, DropFTPSeqUnknown)
			return
		}
		var seg tcpstate.Segment
		tcpSegment(&seg, t, uint32(len(p.payload)))
		wasHalf := s.tcp.HalfOpen()
		if v := s.tcp.Step(dir, &seg); v != tcpstate.Accept {
			if dir == 0 && p.flags&(packet.SYN|packet.ACK|packet.RST|packet.FIN) == packet.SYN && s.tcp.Closed() {
				// A new connection reusing the 5-tuple of a closed one
				// (the client's TIME-WAIT reuse): the old session, only
				// waiting out finwait, gives way to the new one.
				w.deleteSession(idx)
				var k flowtable.Key
				p.key(&k)
				w.forwardNew(d, frame, p, &k, in)
				return
			}
			if dir == 0 && p.flags&(packet.SYN|packet.ACK|packet.RST|packet.FIN) == packet.ACK && s.tcp.Closed() && w.cookieReopens(p) {
				// The same reuse, the client's SYN having been answered
				// by the XDP program (intercept.go cookieReopens): the
				// cookie ACK opens the new connection.
				w.deleteSession(idx)
				var k flowtable.Key
				p.key(&k)
				w.forwardNew(d, frame, p, &k, in)
				return
			}
			w.drop(d, tcpDrop(v))
			return
		}
		if wasHalf && !s.tcp.HalfOpen() {
			w.halfOpenDone(s)
			w.incompleteDone(idx)
		}
		closed := s.tcp.Closed()
		closing := closed && s.flags&sfClosed == 0 // this segment closed the connection
		if c := w.timerClass(s); c != w.table.Entry(idx).Class() || closing {
			// A new class restarts the timer; so does the close, from
			// which finwait runs (docs/behaviour.md "Sessions and timers"), although LAST_ACK was in
			// the finwait class already.
			if closing {
				s.flags |= sfClosed
			}
			w.table.SetClass(idx, c, w.now)
		}
		if s.app != 0 && s.Kind == InspectFTP {
			var ok bool
			if frame, dirty, ok = w.inspectFTP(d, frame, p, s, idx, dir); !ok {
				return // dropped, or reset and deleted
			}
			if closing {
				// The control connection ended: its pinholes close. The
				// inspector stays until the session goes (finalize), so
				// that retransmissions while it waits out finwait are
				// still shifted.
				w.closePinholes(s)
			}
		} else if s.app != 0 && s.Kind.smtp() {
			st := w.smtp.get(s.app)
			var at appinspect.HoldAt
			held, dot := false, -1
			if dir == 0 {
				// The common case of message data first (smtp.go).
				if at = w.holdAt(d, s, p.payload); at.Mem != nil {
					held, dot = st.Data(t.Seq(), t.Flags(), p.payload, &at)
				}
			}
			if held {
				w.hold(at.Off)
				if closed {
					w.releaseInspection(s)
				}
			} else {
				var ok bool
				if dirty, ok = w.inspectSMTP(d, frame, p, s, st, idx, dir, &at, dot, closed); !ok {
					return // dropped, or reset and deleted (smtp.go)
				}
			}
		} else if s.app != 0 && s.Kind == InspectHTTP {
			if !w.inspectHTTP(d, frame, p, s, idx, dir, closed) {
				return // dropped, or the session reset (http.go)
			}
		}
	case packet.ProtoUDP:
		if dir == 1 && s.flags&sfReplied == 0 {
			s.flags |= sfReplied
			w.halfOpenDone(s)
			if s.flags&sfDNS != 0 {
				// DNS: the session closes dns-timeout after the first reply.
				w.table.SetClass(idx, w.rs.ClassDNS, w.now)
			}
		}
	case packet.ProtoICMP:
		if dir == 1 {
			w.halfOpenDone(s)
		}
	}
	// A half-open TCP session's synwait runs from its creation (IOS), so
	// only established sessions are touched.
	if s.flags&sfHalfOpen == 0 || s.flags&sfTCP == 0 {
		w.table.Touch(idx, w.now)
	}
	w.forwardTail(d, frame, p, s, dir, dirty)
}

// forwardTail counts, translates and sends a packet of session s.
func (w *Worker) forwardTail(d *Desc, frame []byte, p *pkt, s *Session, dir uint8, dirty bool) {
	s.Bytes[dir] += uint64(len(p.payload))
	if dir == 0 && s.splice != 0 {
		// Into the server's space, after inspection (intercept.go).
		w.splices.get(s.splice).splice.ClientToServer(packet.TCP(p.l4))
	}
	s.xlate[dir].Apply(p.ip)
	if dirty {
		fixTCPChecksum(p.ip)
	}
	p.ip.DecTTLWithChecksum()
	w.Stats.Forwarded++
	w.send(d, frame, int(s.port[dir]), s.nextHop[dir])
	w.sendRest(&s.xlate[dir], int(s.port[dir]), s.nextHop[dir])
}

// forwardNew handles a packet that matches no session, in IOS order:
// inbound ACL, NAT outside->inside, route, inspection, NAT inside->outside,
// outbound ACL.
func (w *Worker) forwardNew(d *Desc, frame []byte, p *pkt, k *flowtable.Key, in int) {
	rs := w.rs
	ifc := &rs.Ifaces[in]
	if p.flags&(packet.SYN|packet.ACK|packet.RST|packet.FIN) == packet.SYN && p.proto == packet.ProtoTCP && w.dp.pins.open.Load() > 0 {
		// An FTP data connection announced by its control session
		// (ftp.go, pinhole.go).
		if parent, flags, ok := w.dp.pins.take(p.src, p.dst, p.dport, uint8(in), w.now); ok {
			w.forwardData(d, frame, p, k, in, parent, flags)
			return
		}
	}
	var t acl.Tuple
	if ifc.ACLIn >= 0 {
		p.tuple(&t, p.src, p.dst)
		if !w.aclCheck(ifc.ACLIn, &t, k) {
			w.drop(d, DropACLIn)
			return
		}
	}
	out, nh, nsrc, ndst, ok := w.natRoute(p, in)
	if !ok {
		w.drop(d, DropNoRoute)
		return
	}
	ofc := &rs.Ifaces[out]
	if ofc.ACLOut >= 0 {
		p.tuple(&t, nsrc, ndst)
		if !w.aclCheck(ofc.ACLOut, &t, k) {
			w.drop(d, DropACLOut)
			return
		}
	}

	watched := false // TCP intercept watch (or auto) mode: watch.go
	pol := ifc.InspectIn.Match(p.proto, p.dport)
	if pol == nil {
		pol = ofc.InspectOut.Match(p.proto, p.dport)
	}
	if pol != nil && !p.icmpErr {
		switch p.proto {
		case packet.ProtoTCP:
			// Only a SYN creates a TCP session; anything else without a
			// session is dropped where tcp is inspected (fail closed).
			// An invalid flag combination (SYN|FIN, SYN|RST, FIN
			// without ACK, none) is counted as such (docs/behaviour.md "TCP tracking").
			if !tcpstate.ValidFlags(p.flags) {
				w.drop(d, DropTCPBadFlags)
				return
			}
			if p.flags&(packet.SYN|packet.ACK|packet.RST|packet.FIN) != packet.SYN {
				if p.flags&(packet.SYN|packet.ACK|packet.RST|packet.FIN) == packet.ACK && w.cookieACKs() && w.intercepts(p, k) {
					if r := w.interceptACK(d, p, k, pol, in, out, nh, nsrc, ndst); r != DropNone {
						w.drop(d, r)
					}
					return
				}
				w.drop(d, DropNoSession)
				return
			}
			if w.intercepts(p, k) {
				if w.interceptCookies() {
					w.interceptSYN(d, p, in)
					return
				}
				watched = true
				w.watchedSYN()
			}
		case packet.ProtoICMP:
			if p.icmpType != packet.Echo {
				pol = nil // other ICMP is routed by the ACLs alone
			}
		}
	}
	if pol != nil && !p.icmpErr {
		idx, r := w.createSession(p, k, pol, in, out, nh, nsrc, ndst, nil)
		if r != DropNone {
			w.drop(d, r)
			return
		}
		if watched {
			w.watchSession(idx)
		}
		w.forwardTail(d, frame, p, &w.sess[idx], 0, false)
		return
	}
	// Not inspected: routed statelessly, with static NAT.
	rw := nat.NewRewrite(p.src, nsrc, p.dst, ndst)
	if nsrc != p.src || ndst != p.dst {
		if p.icmpErr {
			w.translateICMPErrorStateless(p, nsrc, ndst)
		} else {
			rw.Apply(p.ip)
		}
	}
	p.ip.DecTTLWithChecksum()
	w.Stats.Forwarded++
	w.send(d, frame, out, nh)
	w.sendRest(&rw, out, nh)
}

// natRoute translates a new connection's destination (outside to inside),
// routes it and translates its source (inside to outside): the egress
// port, next hop and the translated addresses; ok is false without a
// route.
func (w *Worker) natRoute(p *pkt, in int) (out int, nh, nsrc, ndst uint32, ok bool) {
	return w.rs.natRoute(in, p.src, p.dst)
}

// natRoute is Worker.natRoute for a packet from src to dst arriving on
// port in.
func (rs *Ruleset) natRoute(in int, src, dst uint32) (out int, nh, nsrc, ndst uint32, ok bool) {
	ifc := &rs.Ifaces[in]
	nsrc, ndst = src, dst
	if ifc.NAT == NATOutside {
		if l, ok := rs.NAT.GlobalToLocal(dst); ok {
			ndst = l
		}
	}
	out, nh, ok = rs.lookupRoute(ndst)
	if !ok {
		return 0, 0, 0, 0, false
	}
	if ifc.NAT == NATInside && rs.Ifaces[out].NAT == NATOutside {
		if g, ok := rs.NAT.LocalToGlobal(src); ok {
			nsrc = g
		}
	}
	return out, nh, nsrc, ndst, true
}

// tuple fills an ACL tuple for the packet with the given addresses.
func (p *pkt) tuple(t *acl.Tuple, src, dst uint32) {
	*t = acl.Tuple{Proto: p.proto, Src: src, Dst: dst, SrcPort: p.sport, DstPort: p.dport,
		TCPFlags: p.flags, ICMPType: p.icmpType, ICMPCode: p.icmpCode, NonInitialFragment: p.nonFirst}
	if p.proto == packet.ProtoICMP {
		t.SrcPort, t.DstPort = 0, 0
	}
}

// aclCheck evaluates list a, counts the matching entry and reports a "log"
// entry to the control plane (which rate-limits %SEC-6-IPACCESSLOGP).
func (w *Worker) aclCheck(a int, t *acl.Tuple, k *flowtable.Key) bool {
	l := w.rs.ACLs[a]
	i, permit := l.Match(t)
	w.Stats.ACLHits[a][i]++
	if i < l.Len() && l.Entry(i).Log {
		ev := Event{Kind: EvACLLog, Key: *k, ACL: int32(a), Entry: int32(i), Permit: permit}
		w.emit(&ev)
	}
	return permit
}

// createSession admits and inserts a session for the packet. syn is the
// SYN TCP tracking starts from when p is not one (TCP intercept: the
// client's SYN as its cookie kept it), else nil.
func (w *Worker) createSession(p *pkt, k *flowtable.Key, pol *ProtoPolicy, in, out int, nh, nsrc, ndst uint32, syn *tcpstate.Segment) (uint32, Reason) {
	rs := w.rs
	isTCP := p.proto == packet.ProtoTCP
	isSMTP := isTCP && pol.Kind.smtp()
	if isSMTP && len(p.payload) > 0 && syn == nil {
		// Data on a SYN (TCP Fast Open) would bypass command inspection.
		return 0, DropTCPInvalid
	}
	switch w.adm.NewSession(w.now, ndst, isTCP) {
	case inspect.RefuseHostBlocked:
		return 0, DropHostBlocked
	case inspect.DeleteOldestHalfOpen:
		w.deleteOldestHalfOpen(0, ResetAggressive)
	case inspect.DeleteOldestOfHost:
		w.deleteOldestHalfOpen(ndst, ResetHostOldest)
	case inspect.BlockHost:
		w.deleteOldestHalfOpen(ndst, ResetHostBlocked)
		return 0, DropHostBlocked
	}
	rport, rnh, ok := rs.lookupRoute(p.src)
	if !ok {
		w.adm.HalfOpenDone(ndst, isTCP)
		return 0, DropNoRoute
	}
	reply := flowtable.Key{Src: ndst, Dst: nsrc, SrcPort: p.dport, DstPort: p.sport, Proto: p.proto}
	class := pol.class
	if isTCP {
		class = rs.ClassSynWait
	} else if p.proto == packet.ProtoUDP && p.dport == portDNS {
		class = rs.ClassDNS
	}
	idx, st := w.table.Insert(k, &reply, w.now, class)
	if st != flowtable.OK {
		w.adm.HalfOpenDone(ndst, isTCP)
		if st == flowtable.Full {
			w.refused(&w.tableFull, EvTableFull, w.table.Capacity())
			return 0, DropSessionTableFull
		}
		return 0, DropNoSession
	}
	s := &w.sess[idx]
	*s = Session{Kind: pol.Kind, idle: pol.class, host: ndst, flags: sfHalfOpen}
	w.halfOpen++
	s.port[0], s.port[1] = uint8(out), uint8(rport)
	s.nextHop[0], s.nextHop[1] = nh, rnh
	s.xlate[0] = nat.NewRewrite(p.src, nsrc, p.dst, ndst)
	s.xlate[1] = nat.NewRewrite(ndst, p.dst, nsrc, p.src)
	if pol.Alert {
		s.flags |= sfAlert
	}
	if pol.Audit {
		s.flags |= sfAudit
	}
	if p.proto == packet.ProtoUDP && p.dport == portDNS {
		s.flags |= sfDNS
	}
	if isTCP {
		s.flags |= sfTCP
		t := packet.TCP(p.l4)
		var seg tcpstate.Segment
		if syn != nil {
			seg = *syn
		} else {
			tcpSegment(&seg, t, uint32(len(p.payload)))
		}
		if v := s.tcp.Init(&seg); v != tcpstate.Accept {
			w.table.Delete(idx)
			w.halfOpenDone(s)
			return 0, tcpDrop(v)
		}
		if isSMTP {
			limit := w.smtpLimit()
			h, ok := w.smtp.alloc(&pol.SMTP, seg.Seq+1, limit)
			if !ok {
				// At the configured limit (the pool never runs dry
				// below it: smtpPool.stock).
				w.table.Delete(idx)
				w.halfOpenDone(s)
				w.refused(&w.inspectFull, EvInspectFull, limit)
				return 0, DropSMTPPoolFull
			}
			s.app = h
		}
		if pol.Kind == InspectFTP && !w.startFTP(s, p, nsrc, ndst, seg.Seq) {
			w.table.Delete(idx)
			w.halfOpenDone(s)
			return 0, DropSMTPPoolFull
		}
		if pol.Kind == InspectHTTP && !w.startHTTP(s, pol, ndst, nsrc, p.dport, p.sport, seg.Seq) {
			// Unreachable below the table's capacity (http.go).
			w.table.Delete(idx)
			w.halfOpenDone(s)
			return 0, DropSessionTableFull
		}
	}
	w.Stats.SessionsCreated++
	if s.flags&sfAudit != 0 {
		ev := Event{Kind: EvAuditStart, Proto: s.Kind, Key: *k}
		ev.Aux[0] = int64(reply.Src)
		ev.Aux[1] = int64(reply.SrcPort)
		w.emit(&ev)
	}
	return idx, DropNone
}

// deleteOldestHalfOpen deletes, resetting both ends (resetHalfOpen), the
// oldest half-open session (ResetAggressive), the oldest of host
// (ResetHostOldest) or all of host's (ResetHostBlocked). The half-open TCP
// sessions are the synwait list, oldest first, and in TCP intercept's
// watch mode the watch-timeout list (watch.go).
func (w *Worker) deleteOldestHalfOpen(host uint32, cause ResetCause) {
	syn, watch := w.rs.ClassSynWait, w.rs.interceptWatch
	if cause == ResetHostBlocked {
		w.deleteHalfOpenIn(syn, host, cause)
		if watch != syn {
			w.deleteHalfOpenIn(watch, host, cause)
		}
		return
	}
	idx, ok := w.firstHalfOpen(syn, host)
	if watch != syn {
		if j, ok2 := w.firstHalfOpen(watch, host); ok2 && (!ok || w.table.Entry(j).LastSeen < w.table.Entry(idx).LastSeen) {
			idx, ok = j, true
		}
	}
	if ok {
		w.resetHalfOpen(idx, cause)
		w.deleteSession(idx)
	}
}

// firstHalfOpen finds the oldest half-open session (of host, unless 0) on
// the list of class (bounded walk).
func (w *Worker) firstHalfOpen(class uint8, host uint32) (uint32, bool) {
	idx, ok := w.table.Oldest(class)
	for steps := 0; ok && steps < 4096; steps++ {
		s := &w.sess[idx]
		if s.flags&sfHalfOpen != 0 && (host == 0 || s.host == host) {
			return idx, true
		}
		idx, ok = w.table.Newer(idx)
	}
	return 0, false
}

// deleteHalfOpenIn deletes every half-open session of host on the list of
// class (bounded walk), resetting both ends.
func (w *Worker) deleteHalfOpenIn(class uint8, host uint32, cause ResetCause) {
	idx, ok := w.table.Oldest(class)
	for steps := 0; ok && steps < 4096; steps++ {
		next, nok := w.table.Newer(idx)
		s := &w.sess[idx]
		if s.flags&sfHalfOpen != 0 && s.host == host {
			w.resetHalfOpen(idx, cause)
			w.deleteSession(idx)
		}
		idx, ok = next, nok
	}
}

func tcpSegment(seg *tcpstate.Segment, t packet.TCP, payloadLen uint32) {
	seg.Seq, seg.Ack, seg.Window, seg.Flags, seg.PayloadLen = t.Seq(), t.Ack(), t.Window(), t.Flags(), payloadLen
	seg.WScale, seg.SACKPerm = -1, false
	if t.Flags()&packet.SYN != 0 {
		ws, _, sack := t.ParseOptions()
		seg.WScale, seg.SACKPerm = ws, sack
	}
}

func tcpDrop(v tcpstate.Verdict) Reason {
	switch v {
	case tcpstate.BadFlags:
		return DropTCPBadFlags
	case tcpstate.OutOfWindow:
		return DropTCPOutOfWindow
	case tcpstate.AckUnseen:
		return DropTCPAckUnseen
	case tcpstate.BadRST:
		return DropTCPBadRST
	case tcpstate.SynOnEstablished:
		return DropTCPSynEstablished
	}
	return DropTCPInvalid
}

// fixTCPChecksum recomputes a TCP checksum after its payload was rewritten.
func fixTCPChecksum(ip packet.IPv4) {
	t := packet.TCP(ip.Payload())
	t.SetChecksum(0)
	t.SetChecksum(t.CalculateChecksum(ip.Src(), ip.Dst()))
}
