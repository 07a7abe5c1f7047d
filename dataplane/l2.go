package dataplane

import "cbac/packet"

// arpInput answers ARP requests for our addresses (and, on a NAT outside
// interface, for the inside-global addresses: cbacd owns the wire, so the
// kernel's proxy ARP is not there to do it) and learns senders (docs/behaviour.md "The seed network").
func (w *Worker) arpInput(d *Desc, eth packet.Ethernet, in int) {
	a := packet.ARP(eth.Payload())
	if !a.IsValid() {
		w.drop(d, DropARPInvalid)
		return
	}
	rs := w.rs
	ifc := &rs.Ifaces[in]
	spa, tpa := a.SenderIP(), a.TargetIP()
	ours := tpa == ifc.Addr
	if !ours && ifc.NAT == NATOutside {
		_, ours = rs.NAT.GlobalToLocal(tpa)
	}
	onLink := spa != 0 && spa&mask(ifc.PrefixLen) == ifc.Addr&mask(ifc.PrefixLen) && spa != ifc.Addr
	// RFC 826: update an entry we have; add one when the ARP is for us.
	if onLink && (ours || w.dp.Neigh.Known(in, spa)) {
		if w.dp.Neigh.Learn(in, spa, a.SenderMAC(), false) {
			w.Stats.ARPLearned++
		}
	}
	if a.Op() != packet.ARPRequest || !ours {
		w.drop(d, DropARPIgnored)
		return
	}
	// Turn the request into the reply in place.
	smac := a.SenderMAC()
	a.SetOp(packet.ARPReply)
	a.SetTargetMAC(smac)
	a.SetTargetIP(spa)
	a.SetSenderMAC(ifc.MAC)
	a.SetSenderIP(tpa)
	eth.SetDst(smac)
	eth.SetSrc(ifc.MAC)
	w.Stats.ARPAnswered++
	d.Port = uint8(in)
	w.queueTx(d)
}

// send fills in the Ethernet header for the next hop and queues the frame;
// without a MAC for the next hop it waits in the pending queue.
func (w *Worker) send(d *Desc, frame []byte, port int, nextHop uint32) {
	d.Port = uint8(port)
	mac, ok := w.dp.Neigh.Lookup(port, nextHop)
	if !ok {
		w.holdForARP(d, nextHop)
		return
	}
	eth := packet.Ethernet(frame)
	eth.SetDst(mac)
	eth.SetSrc(w.rs.Ifaces[port].MAC)
	w.queueTx(d)
}

func (w *Worker) queueTx(d *Desc) {
	p := d.Port
	if len(w.tx[p]) == cap(w.tx[p]) {
		w.drop(d, DropTxRingFull)
		return
	}
	w.tx[p] = append(w.tx[p], *d)
}

// holdForARP queues a frame until its next hop resolves (bounded queue,
// bounded retries: docs/behaviour.md "The seed network").
func (w *Worker) holdForARP(d *Desc, nextHop uint32) {
	q := &w.pend
	if q.n == len(q.q) {
		w.drop(d, DropARPQueueFull)
		return
	}
	q.q[q.n] = pendingFrame{d: *d, nextHop: nextHop, since: w.now}
	q.n++
	w.askARP(int(d.Port), nextHop)
}

// askARP sends a request for ip unless one went out less than a second ago.
func (w *Worker) askARP(port int, ip uint32) {
	q := &w.pend
	slot := -1
	for i := range q.asked {
		a := &q.asked[i]
		if a.ip == ip && int(a.port) == port {
			if w.now-a.last < arpRetryEvery || a.tries >= arpMaxTries {
				return
			}
			slot = i
			break
		}
		if slot < 0 && (a.ip == 0 || w.now-a.last > arpGiveUpAfter) {
			slot = i
		}
	}
	if slot < 0 {
		return
	}
	a := &q.asked[slot]
	if a.ip != ip || int(a.port) != port {
		*a = arpAsk{ip: ip, port: uint8(port)}
	}
	a.tries++
	a.last = w.now
	nd, buf, ok := w.newFrame()
	if !ok {
		return
	}
	ifc := &w.rs.Ifaces[port]
	nd.Len = uint32(packet.WriteARPRequest(buf, ifc.MAC, ifc.Addr, ip))
	nd.Port = uint8(port)
	w.Stats.ARPRequests++
	w.queueTx(&nd)
}

// serviceARP sends frames whose next hop resolved, retries requests and
// drops frames that waited too long.
func (w *Worker) serviceARP() {
	q := &w.pend
	j := 0
	for i := 0; i < q.n; i++ {
		f := q.q[i]
		port := int(f.d.Port)
		if mac, ok := w.dp.Neigh.Lookup(port, f.nextHop); ok {
			eth := packet.Ethernet(w.frame(&f.d))
			eth.SetDst(mac)
			eth.SetSrc(w.rs.Ifaces[port].MAC)
			w.queueTx(&f.d)
			continue
		}
		if w.now-f.since >= arpGiveUpAfter {
			w.drop(&f.d, DropARPUnresolved)
			continue
		}
		w.askARP(port, f.nextHop)
		q.q[j] = f
		j++
	}
	q.n = j
}

// local handles packets addressed to one of the router's own addresses:
// ICMP echo requests are answered (so operators can ping the interfaces);
// everything else is dropped and counted.
func (w *Worker) local(d *Desc, frame []byte, p *pkt, in int) {
	if p.proto != packet.ProtoICMP || p.icmpType != packet.Echo || p.nonFirst || p.ip.IsFragment() {
		w.drop(d, DropToUs)
		return
	}
	// Only the interface the packet came in on answers for its own
	// address; another interface's address is reachable, as on IOS.
	ip := p.ip
	src, dst := p.src, p.dst
	c := packet.ICMPv4(p.l4)
	c.SetTypeWithChecksum(packet.EchoReply)
	ip.SetSrcWithChecksum(dst)
	ip.SetDstWithChecksum(src)
	ip.SetTTLWithChecksum(64)
	eth := packet.Ethernet(frame)
	smac := eth.Src()
	eth.SetDst(smac)
	eth.SetSrc(w.rs.Ifaces[in].MAC)
	d.Port = uint8(in)
	w.queueTx(d)
}
