package nat

import "cbac/packet"

// ICMP errors (destination unreachable including fragmentation needed,
// source quench, redirect, time exceeded, parameter problem) quote the IP
// header and the first bytes of the datagram that caused them (RFC 792,
// RFC 1812 section 4.3.2.3). When that datagram was translated on its way,
// the quote holds translated addresses that the receiver of the error would
// not recognise, so the quote is translated back along with the outer
// header, as IOS and Linux nf_nat (nf_nat_icmp_reply_translation) do.
//
// Semantics, with inside local L, inside global G and an outside host O:
//
//	inbound error, from the outside (a reply to a packet L->O sent out as G->O):
//	    outer  R -> G      becomes  R -> L       (outer dst G -> L)
//	    quote  G -> O      becomes  L -> O       (inner src G -> L)
//	outbound error, from the inside (about a packet O->G delivered as O->L):
//	    outer  L -> O      becomes  G -> O       (outer src L -> G)
//	    quote  O -> L      becomes  O -> G       (inner dst L -> G)
//
// What is fixed in the ICMP message, incrementally:
//   - the outer IPv4 header checksum (ICMP has no pseudo-header);
//   - the quoted IPv4 header checksum;
//   - the quoted TCP checksum if the quote reaches it (18 bytes of TCP,
//     more than the 8 RFC 792 guarantees, but what RFC 1812 routers and
//     Linux send), and a present quoted UDP checksum (within the 8 bytes),
//     so that the quote is again byte for byte what the inside host sent;
//     a quote that ends in the middle of the L4 checksum field leaves its
//     one byte as it is (the new value cannot be computed without the other
//     byte); a quoted ICMP echo has no pseudo-header and needs nothing;
//   - the ICMP checksum, for all the bytes above that changed in the quote.
//
// Ports are never touched (static NAT).

// TranslateICMPError applies outer to the outer header of ip, an ICMP error
// (ip passed IsValid), and inner to the quoted datagram, fixing every
// checksum listed above. Either rewrite may be the identity; for an error
// travelling in the direction of a flow rewrite r, pass r and r.Quoted().
//
// Each address field is rewritten only if it holds the rewrite's old value:
// an error sent by a router on the path carries the router's own source
// address, which is not translated (IOS and Linux forward it as is), and a
// quote whose address is not the translated one is left alone. The caller
// has established that the error refers to the flow (a session lookup on
// the quote).
//
// It returns false and leaves ip unchanged if ip is not a complete ICMP
// error: not ICMP, a non-first fragment, an ICMP type that is not an error,
// or a quote shorter than an IPv4 header.
func TranslateICMPError(ip packet.IPv4, outer, inner *Rewrite) bool {
	if ip.Protocol() != packet.ProtoICMP || ip.FragmentOffset() != 0 {
		return false
	}
	m := packet.ICMPv4(ip.Payload())
	if !m.IsValid() || !m.IsError() {
		return false
	}
	q := m.InnerIPv4()
	if q == nil {
		return false
	}
	outerFields, outerDelta := outer.matching(ip)
	innerFields, innerDelta := inner.matching(q)
	if innerFields != 0 {
		// icmpDelta collects ~m + m' for every 16-bit word changed in the
		// quote; all of them sit at even offsets of the ICMP message (8 +
		// a multiple of 4, plus an even field offset).
		icmpDelta := innerDelta
		if q.FragmentOffset() == 0 {
			switch l4 := q.TruncatedPayload(); q.Protocol() {
			case packet.ProtoTCP:
				if len(l4) >= 18 {
					t := packet.TCP(l4)
					old := t.Checksum()
					c := packet.ApplyDelta(old, innerDelta)
					t.SetChecksum(c)
					icmpDelta += packet.ChecksumDelta16(old, c)
				}
			case packet.ProtoUDP:
				if len(l4) >= packet.UDPHeaderLen {
					u := packet.UDP(l4)
					old := u.Checksum()
					c := packet.UpdateUDPChecksum(old, innerDelta)
					u.SetChecksum(c)
					icmpDelta += packet.ChecksumDelta16(old, c)
				}
			}
		}
		old := q.HeaderChecksum()
		c := packet.ApplyDelta(old, innerDelta)
		q.SetChecksum(c)
		icmpDelta += packet.ChecksumDelta16(old, c)
		inner.setAddrs(q, innerFields)
		m.SetChecksum(packet.ApplyDelta(m.Checksum(), icmpDelta))
	}
	if outerFields != 0 {
		ip.SetChecksum(packet.ApplyDelta(ip.HeaderChecksum(), outerDelta))
		outer.setAddrs(ip, outerFields)
	}
	return true
}

// InboundICMPError translates an ICMP error arriving from the outside (ip
// passed IsValid): if the quoted source is a mapped inside global, it
// becomes the inside local, and an outer destination that is a mapped
// inside global becomes its inside local. It returns false, leaving ip
// unchanged, if ip is not a complete ICMP error (see TranslateICMPError);
// an error that refers to no mapped address is left as is and returns true.
func (t *Table) InboundICMPError(ip packet.IPv4) bool {
	q, ok := quotedHeader(ip)
	if !ok {
		return false
	}
	var inner Rewrite
	if l, ok := t.g2l.get(q.Src()); ok {
		inner = NewRewrite(q.Src(), l, q.Dst(), q.Dst())
	}
	outer := t.Inbound(ip.Src(), ip.Dst())
	return TranslateICMPError(ip, &outer, &inner)
}

// OutboundICMPError translates an ICMP error leaving for the outside (ip
// passed IsValid): if the quoted destination is a mapped inside local, it
// becomes the inside global, and an outer source that is a mapped inside
// local becomes its inside global. Return value as for InboundICMPError.
func (t *Table) OutboundICMPError(ip packet.IPv4) bool {
	q, ok := quotedHeader(ip)
	if !ok {
		return false
	}
	var inner Rewrite
	if g, ok := t.l2g.get(q.Dst()); ok {
		inner = NewRewrite(q.Src(), q.Src(), q.Dst(), g)
	}
	outer := t.Outbound(ip.Src(), ip.Dst())
	return TranslateICMPError(ip, &outer, &inner)
}

// quotedHeader returns the header quoted by ICMP error ip, if ip is one.
func quotedHeader(ip packet.IPv4) (packet.IPv4, bool) {
	if ip.Protocol() != packet.ProtoICMP || ip.FragmentOffset() != 0 {
		return nil, false
	}
	m := packet.ICMPv4(ip.Payload())
	if !m.IsValid() || !m.IsError() {
		return nil, false
	}
	q := m.InnerIPv4()
	return q, q != nil
}
