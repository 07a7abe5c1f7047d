package nat

import "cbac/packet"

// Rewrite is the address translation of one flow direction, computed once
// when the flow is created and stored on it (VPP nat_6t_flow_t): the old
// and new source and destination, and the RFC 1624 checksum deltas
// (~m + m' over the changed address words), one per address. Because the
// TCP/UDP pseudo-header holds the same two addresses as the IPv4 header,
// the same deltas serve the IPv4 header checksum and the TCP/UDP checksum.
//
// The zero Rewrite is the identity.
type Rewrite struct {
	oldSrc, newSrc     uint32
	oldDst, newDst     uint32
	srcDelta, dstDelta uint32
	fields             uint8
}

const (
	rewriteSrc uint8 = 1 << iota
	rewriteDst
)

// NewRewrite returns the rewrite turning (oldSrc, oldDst) into (newSrc,
// newDst). A field whose old and new values are equal is left alone.
func NewRewrite(oldSrc, newSrc, oldDst, newDst uint32) Rewrite {
	r := Rewrite{oldSrc: oldSrc, newSrc: oldSrc, oldDst: oldDst, newDst: oldDst}
	if oldSrc != newSrc {
		r.fields |= rewriteSrc
		r.newSrc = newSrc
		r.srcDelta = packet.ChecksumDelta32(oldSrc, newSrc)
	}
	if oldDst != newDst {
		r.fields |= rewriteDst
		r.newDst = newDst
		r.dstDelta = packet.ChecksumDelta32(oldDst, newDst)
	}
	return r
}

// Inverse returns the rewrite that undoes r (new -> old).
func (r *Rewrite) Inverse() Rewrite {
	return NewRewrite(r.newSrc, r.oldSrc, r.newDst, r.oldDst)
}

// Quoted returns the rewrite for the datagram quoted in an ICMP error that
// travels in r's direction: that datagram travelled the other way, so its
// source is translated like r's destination and its destination like r's
// source. Use it as the inner rewrite of TranslateICMPError with r as the
// outer one.
func (r *Rewrite) Quoted() Rewrite {
	return NewRewrite(r.oldDst, r.newDst, r.oldSrc, r.newSrc)
}

// IsIdentity reports whether r changes nothing.
func (r *Rewrite) IsIdentity() bool { return r.fields == 0 }

// Addrs returns the source and destination before and after the rewrite
// (old == new for a field that is not rewritten).
func (r *Rewrite) Addrs() (oldSrc, newSrc, oldDst, newDst uint32) {
	return r.oldSrc, r.newSrc, r.oldDst, r.newDst
}

// Src returns the source address before and after the rewrite.
func (r *Rewrite) Src() (old, new uint32) { return r.oldSrc, r.newSrc }

// Dst returns the destination address before and after the rewrite.
func (r *Rewrite) Dst() (old, new uint32) { return r.oldDst, r.newDst }

// matches reports whether ip carries the addresses r was computed for (the
// deltas are only right for those).
func (r *Rewrite) matches(ip packet.IPv4) bool {
	return (r.fields&rewriteSrc == 0 || ip.Src() == r.oldSrc) &&
		(r.fields&rewriteDst == 0 || ip.Dst() == r.oldDst)
}

// matching returns the fields of r that ip carries the old values of, and
// their summed delta.
func (r *Rewrite) matching(ip packet.IPv4) (fields uint8, delta uint32) {
	if r.fields&rewriteSrc != 0 && ip.Src() == r.oldSrc {
		fields |= rewriteSrc
		delta += r.srcDelta
	}
	if r.fields&rewriteDst != 0 && ip.Dst() == r.oldDst {
		fields |= rewriteDst
		delta += r.dstDelta
	}
	return fields, delta
}

// setAddrs writes the new addresses of fields without touching any
// checksum.
func (r *Rewrite) setAddrs(ip packet.IPv4, fields uint8) {
	if fields&rewriteSrc != 0 {
		ip.SetSrc(r.newSrc)
	}
	if fields&rewriteDst != 0 {
		ip.SetDst(r.newDst)
	}
}

// Apply rewrites the addresses of ip, which passed IsValid, and fixes the
// checksums incrementally:
//   - the IPv4 header checksum, always;
//   - the TCP checksum and a present UDP checksum (their pseudo-header
//     covers the addresses; a UDP checksum of 0 means none and stays 0, a
//     result of 0 is sent as 0xffff, RFC 768), in unfragmented packets and
//     first fragments (the checksum of a fragmented datagram covers the
//     whole of it, and the incremental update stays exact);
//   - nothing else: ICMP has no pseudo-header, and non-first fragments carry
//     no L4 header. Other protocols get the IP header only.
//
// ICMP errors need TranslateICMPError as well, for the quoted datagram.
//
// Apply returns false and leaves ip unchanged if ip's addresses are not the
// ones r was computed for, or if a TCP (20 bytes) or UDP (8 bytes) header
// that must be fixed is truncated (a tiny first fragment): drop the packet.
func (r *Rewrite) Apply(ip packet.IPv4) bool {
	if r.fields == 0 {
		return true
	}
	if !r.matches(ip) {
		return false
	}
	delta := r.srcDelta + r.dstDelta
	if ip.FragmentOffset() == 0 {
		switch l4 := ip.Payload(); ip.Protocol() {
		case packet.ProtoTCP:
			if len(l4) < packet.TCPMinHeaderLen {
				return false
			}
			t := packet.TCP(l4)
			t.SetChecksum(packet.ApplyDelta(t.Checksum(), delta))
		case packet.ProtoUDP:
			if len(l4) < packet.UDPHeaderLen {
				return false
			}
			u := packet.UDP(l4)
			u.SetChecksum(packet.UpdateUDPChecksum(u.Checksum(), delta))
		}
	}
	ip.SetChecksum(packet.ApplyDelta(ip.HeaderChecksum(), delta))
	r.setAddrs(ip, r.fields)
	return true
}
