package dataplane

import "cbac/nat"

// forwardICMPError forwards an ICMP error (destination unreachable, time
// exceeded, fragmentation needed, ...) about a packet of session s; dir is
// the direction the error travels in. The outer header is translated like
// any packet of that direction and the quoted datagram (a packet of the
// opposite direction) the other way round, so the original sender
// recognises it (docs/behaviour.md "Forwarding order"; nat.TranslateICMPError fixes every checksum).
func (w *Worker) forwardICMPError(d *Desc, frame []byte, p *pkt, s *Session, dir uint8) {
	q := s.xlate[dir].Quoted()
	nat.TranslateICMPError(p.ip, &s.xlate[dir], &q)
	s.Bytes[dir] += uint64(len(p.l4))
	p.ip.DecTTLWithChecksum()
	w.Stats.Forwarded++
	w.send(d, frame, int(s.port[dir]), s.nextHop[dir])
	w.sendRest(&s.xlate[dir], int(s.port[dir]), s.nextHop[dir])
}

// translateICMPErrorStateless translates an ICMP error routed without a
// session with the static NAT mapping of its outer header.
func (w *Worker) translateICMPErrorStateless(p *pkt, nsrc, ndst uint32) {
	r := nat.NewRewrite(p.src, nsrc, p.dst, ndst)
	q := r.Quoted()
	nat.TranslateICMPError(p.ip, &r, &q)
}
