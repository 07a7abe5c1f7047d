package dataplane

import (
	"cbac/nat"
	"cbac/packet"
)

// forwardICMPError forwards an ICMP error (destination unreachable, time
// exceeded, fragmentation needed, ...) about a packet of session s; dir is
// the direction the error travels in. The outer header is translated like
// any packet of that direction and the quoted datagram (a packet of the
// opposite direction) the other way round, so the original sender
// recognises it (docs/behaviour.md "Forwarding order"; nat.TranslateICMPError fixes every checksum).
func (w *Worker) forwardICMPError(d *Desc, frame []byte, p *pkt, s *Session, dir uint8) {
	if s.splice != 0 {
		w.spliceICMPError(p, s, dir)
	}
	q := s.xlate[dir].Quoted()
	nat.TranslateICMPError(p.ip, &s.xlate[dir], &q)
	s.Bytes[dir] += uint64(len(p.l4))
	p.ip.DecTTLWithChecksum()
	w.Stats.Forwarded++
	w.send(d, frame, int(s.port[dir]), s.nextHop[dir])
	w.sendRest(&s.xlate[dir], int(s.port[dir]), s.nextHop[dir])
}

// spliceICMPError translates the segment an ICMP error about an
// intercepted session quotes into the space of the end it travels to: a
// server->client segment reported from the client's side goes to the
// server with the server's sequence number; a client->server segment
// reported from the server's side goes to the client with its
// acknowledgement number in the client's view.
func (w *Worker) spliceICMPError(p *pkt, s *Session, dir uint8) {
	st := w.splices.get(s.splice)
	if !st.joined {
		return // nothing translated yet
	}
	m := packet.ICMPv4(p.l4)
	q := m.InnerIPv4()
	if q == nil || q.Protocol() != packet.ProtoTCP || q.FragmentOffset() != 0 {
		return
	}
	var delta uint32
	if dir == 0 {
		delta = st.splice.QuotedServerToClient(q.TruncatedPayload())
	} else {
		delta = st.splice.QuotedClientToServer(q.TruncatedPayload())
	}
	if delta != 0 {
		m.SetChecksum(packet.ApplyDelta(m.Checksum(), delta))
	}
}

// translateICMPErrorStateless translates an ICMP error routed without a
// session with the static NAT mapping of its outer header.
func (w *Worker) translateICMPErrorStateless(p *pkt, nsrc, ndst uint32) {
	r := nat.NewRewrite(p.src, nsrc, p.dst, ndst)
	q := r.Quoted()
	nat.TranslateICMPError(p.ip, &r, &q)
}
