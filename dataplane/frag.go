package dataplane

import (
	"cbac/flowtable"
	"cbac/nat"
	"cbac/packet"
	"cbac/vfr"
)

// Virtual reassembly ("ip virtual-reassembly", docs/behaviour.md "Virtual reassembly"): fragments are
// held in the worker's vfr table until the datagram is complete; then the
// pipeline runs on the first fragment (it has the L4 header, so the
// session, ACL and NAT decisions are made as for any packet) and every
// other fragment gets the same verdict: the same egress, NAT rewrite (IP
// header only) and TTL. Nothing is reassembled on the wire.
//
// A fragmented TCP segment of an SMTP-inspected session is dropped whole
// (fail closed): the command inspector sees payload in sequence order and
// would otherwise pass the later fragments' bytes unjudged. TCP senders set
// DF, so this costs nothing in practice (decision).
//
// Checksums: each fragment's IPv4 header checksum is verified as it
// arrives (parseIPv4); the TCP, UDP or ICMP checksum covers the whole
// datagram, so it is verified once the datagram is complete, over the
// fragments' payloads in order, before the pipeline runs on it; a wrong one
// drops every fragment under the checksum's reason. Holding fragments in
// the table is the only state a fragment changes before that. Without
// virtual reassembly every fragment is dropped (forward.go: a first
// fragment's checksum cannot be verified).

// descOf turns a vfr fragment back into the frame descriptor it came from.
func descOf(f *vfr.Frag) Desc {
	return Desc{Addr: f.Handle, Len: f.Aux >> 8, Port: uint8(f.Aux)}
}

// fragInput offers a fragment to the reassembly table.
func (w *Worker) fragInput(d *Desc, p *pkt) {
	k, f, l4 := vfr.FragOf(p.ip, d.Addr, d.Len<<8|uint32(d.Port))
	st, out := w.vfr.Add(w.now, k, f, l4, w.fragOut[:0])
	switch {
	case st == vfr.Held:
	case st == vfr.Complete:
		if r := w.verifyDatagram(out); r != DropNone {
			for i := range out {
				fd := descOf(&out[i])
				w.drop(&fd, r)
			}
			return
		}
		w.reassembled(out, false)
	default:
		w.drop(d, DropFragment)
		for i := range out {
			fd := descOf(&out[i])
			w.drop(&fd, DropFragment)
		}
		if st == vfr.DropTableFull || st == vfr.DropTooMany {
			ev := Event{Kind: EvReassembly, Key: fragKey(&k)}
			ev.Aux[0] = int64(st)
			w.emit(&ev)
		}
	}
}

// verifyDatagram verifies the TCP, UDP (when present) or ICMP checksum of
// a reassembled datagram, out being its fragments in offset order as
// vfr.Table.Add returns them. The checksum covers the payloads of all of
// them: they are summed in order, which chains (packet.Checksum) because
// every fragment but the last carries a multiple of 8 bytes (vfr drops
// any other). Each frame passed parseIPv4 when it arrived, and vfr's
// tiny-fragment check guarantees the first holds the whole L4 header.
func (w *Worker) verifyDatagram(out []vfr.Frag) Reason {
	first := w.fragIP(&out[0])
	proto, src, dst := first.Protocol(), first.Src(), first.Dst()
	total := out[len(out)-1].End() // the transport segment's length
	l4 := first.Payload()
	n := total // bytes the checksum covers
	var sum uint32
	var field uint16
	switch proto {
	case packet.ProtoTCP:
		field = packet.TCP(l4).Checksum()
		sum = packet.PseudoHeaderChecksum(src, dst, proto, uint16(total))
	case packet.ProtoUDP:
		u := packet.UDP(l4)
		field = u.Checksum()
		if field == 0 {
			return DropNone // no checksum (RFC 768)
		}
		n = int(u.Length())
		if n < packet.UDPHeaderLen || n > total {
			return DropL4Invalid
		}
		sum = packet.PseudoHeaderChecksum(src, dst, proto, uint16(n))
	case packet.ProtoICMP:
	default:
		return DropNone
	}
	for i := range out {
		b := w.fragIP(&out[i]).Payload()
		if len(b) > n {
			b = b[:n]
		}
		sum = packet.Checksum(b, sum)
		n -= len(b)
	}
	if packet.Fold(sum) == 0 {
		return DropNone
	}
	switch proto {
	case packet.ProtoTCP:
		if packet.IsPartialChecksum(field, src, dst, proto, uint16(total)) {
			return DropChecksumPartial
		}
		return DropTCPChecksum
	case packet.ProtoUDP:
		if packet.IsPartialChecksum(field, src, dst, proto, packet.UDP(l4).Length()) {
			return DropChecksumPartial
		}
		return DropUDPChecksum
	}
	return DropICMPChecksum
}

// fragIP is the IPv4 datagram (one fragment) in a held fragment's frame.
func (w *Worker) fragIP(f *vfr.Frag) packet.IPv4 {
	d := descOf(f)
	return packet.IPv4(w.frame(&d)[packet.EthernetHeaderLen:])
}

func fragKey(k *vfr.Key) (fk flowtable.Key) {
	fk.Src, fk.Dst, fk.Proto = k.Src, k.Dst, k.Proto
	fk.SrcPort, fk.DstPort = k.ID, k.ID
	return fk
}

// reassembled runs the pipeline on a complete datagram: the first fragment
// goes through process, the others follow its verdict (sendRest, or dropped
// with it).
func (w *Worker) reassembled(out []vfr.Frag, handedOver bool) {
	first := descOf(&out[0])
	w.fragRest = w.fragRest[:0]
	for i := 1; i < len(out); i++ {
		w.fragRest = append(w.fragRest, descOf(&out[i]))
	}
	w.processGroup(&first, handedOver)
}

// processGroup runs the pipeline on a first fragment whose other fragments
// are in w.fragRest.
func (w *Worker) processGroup(first *Desc, handedOver bool) {
	w.reassembling = true
	w.process(first, handedOver, 0)
	w.reassembling = false
	// A path that neither sent nor dropped the rest (held for ARP, handed
	// over) has taken care of them; anything left is dropped.
	for i := range w.fragRest {
		w.drop(&w.fragRest[i], DropFragment)
	}
	w.fragRest = w.fragRest[:0]
}

// sendRest gives the other fragments of a reassembled datagram the first
// fragment's verdict: rewrite (IP header only: nat.Rewrite.Apply knows a
// non-first fragment), TTL, and the same egress.
func (w *Worker) sendRest(rw *nat.Rewrite, port int, nextHop uint32) {
	if !w.reassembling {
		return
	}
	for i := range w.fragRest {
		fd := w.fragRest[i]
		frame := w.frame(&fd)
		ip := packet.IPv4(frame[packet.EthernetHeaderLen:])
		if rw != nil {
			rw.Apply(ip)
		}
		ip.DecTTLWithChecksum()
		w.send(&fd, frame, port, nextHop)
	}
	w.fragRest = w.fragRest[:0]
}

// dropRest drops the other fragments with the first one.
func (w *Worker) dropRest(r Reason) {
	if !w.reassembling {
		return
	}
	for i := range w.fragRest {
		w.drop(&w.fragRest[i], r)
	}
	w.fragRest = w.fragRest[:0]
}

// expireFragments frees datagrams that timed out in reassembly.
func (w *Worker) expireFragments() {
	if w.vfr == nil || w.vfr.Len() == 0 {
		return
	}
	out := w.vfr.Expire(w.now, w.fragOut[:0])
	for i := range out {
		fd := descOf(&out[i])
		w.drop(&fd, DropFragment)
	}
}

// handOver queues d for worker o, the owner of its flow. A reassembled
// datagram goes over whole: its first fragment carries the number of
// fragments that follow it on the ring (Desc.Group).
func (w *Worker) handOver(o int, d *Desc) {
	d.Group = 0
	if !w.reassembling || len(w.fragRest) == 0 {
		w.handOut[o] = append(w.handOut[o], *d)
		return
	}
	h := *d
	h.Group = uint8(len(w.fragRest))
	w.handOut[o] = append(w.handOut[o], h)
	w.handOut[o] = append(w.handOut[o], w.fragRest...)
	w.fragRest = w.fragRest[:0]
}

// receiveHandedOver processes the frames other workers handed to this one.
func (w *Worker) receiveHandedOver(r *spsc[Desc]) int {
	rx := r.pop(w.rx[:0])
	for i := 0; i < len(rx); i++ {
		g := int(rx[i].Group)
		if g == 0 {
			w.process(&rx[i], true, 0)
			continue
		}
		first := rx[i]
		first.Group = 0
		end := i + 1 + g
		if end > len(rx) {
			end = len(rx)
		}
		w.fragRest = append(w.fragRest[:0], rx[i+1:end]...)
		i = end - 1
		if missing := g - len(w.fragRest); missing > 0 {
			// The group was pushed in one piece: the rest is on the ring.
			n := len(w.fragRest)
			w.fragRest = r.pop(w.fragRest[: n : n+missing])
		}
		w.processGroup(&first, true)
	}
	return len(rx)
}

// groupCut returns how many of ds (a hand-over list) can be pushed into
// room slots without splitting a fragment group.
func groupCut(ds []Desc, room int) int {
	n := 0
	for n < len(ds) {
		size := 1 + int(ds[n].Group)
		if n+size > room {
			break
		}
		n += size
	}
	return n
}
