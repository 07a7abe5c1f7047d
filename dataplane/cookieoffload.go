package dataplane

import (
	"cbac/acl"
	"cbac/packet"
	"cbac/tcpstate"
)

// Which protected destinations the XDP program may answer with a cookie
// SYN/ACK itself, without the worker seeing the SYN (TCP intercept's
// offload). The program sees only the ingress device, the destination
// address and port and the TCP flags, so a destination qualifies only
// when forwardNew's whole decision for a pure SYN to it, one that matches
// no session and no FTP pinhole, is interceptSYN's cookie for every
// source address and port:
//
//	not the router's own address (local answers those)
//	inbound ACL of the ingress port, if any: the same permit entry for
//	    every source, without log
//	NAT outside->inside and a route (the destination's alone)
//	outbound ACL of the egress port, if any: the same permit entry for
//	    every source (so also for every source NAT inside->outside makes)
//	an inspection rule for tcp to the port (ingress in, else egress out)
//	the flags valid for tracking (a pure SYN, with or without ECE/CWR)
//	the intercept list: the same permit entry for every source
//	cookies on: intercept mode always, auto mode while it sends them
//	    (the worker keeps the program's map in step), watch mode never
//
// An entry with log does not qualify: each match is a log event. Whatever
// cannot be shown to hold for every source is refused (sound, not
// complete: refusing only costs the SYN a trip to the worker).

// ACLHit names the access-list entry a step matched: List indexes
// Ruleset.ACLs (-1: the step has no list configured), Entry is the
// entry's index (the list's Len(): the implicit deny).
type ACLHit struct{ List, Entry int }

// noACL is the ACLHit of a step without a list.
var noACL = ACLHit{List: -1}

// CookieHits are the entries a SYN that the XDP program answers would
// have matched in the worker, in forwardNew's order: the inbound ACL of
// the ingress port, the outbound ACL of the egress port, the intercept
// list. The worker counts the program's answers on them (count), so that
// Stats.ACLHits moves as aclCheck would have moved it.
type CookieHits struct {
	In, Out, Intercept ACLHit
}

// count adds n matches to each entry of h in hits (Stats.ACLHits, of the
// ruleset h was computed for).
func (h *CookieHits) count(hits [][]uint64, n uint64) {
	for _, a := range [...]ACLHit{h.In, h.Out, h.Intercept} {
		if a.List >= 0 {
			hits[a.List][a.Entry] += n
		}
	}
}

// pureSYNs are the flag bytes of a pure SYN as the XDP program lets them
// through: SYN, with or without ECE and CWR (RFC 3168 6.1.1).
var pureSYNs = [...]uint8{
	packet.SYN, packet.SYN | packet.ECE, packet.SYN | packet.CWR, packet.SYN | packet.ECE | packet.CWR,
}

// cookieOffload reports whether a pure SYN (IPv4 without options, not a
// fragment, TTL above 1) arriving on port in for dst:dport that matches
// no session and no FTP pinhole is answered with a cookie SYN/ACK
// (interceptSYN) whatever its source address and port, while the worker
// sends cookies (intercept mode, or auto mode once it switched to
// cookies); and if so, the entries that SYN matches (the same for every
// source). See the top of the file for the steps. Control plane: it runs
// when a ruleset is installed, not per packet.
func (rs *Ruleset) cookieOffload(in int, dst uint32, dport uint16) (CookieHits, bool) {
	none := CookieHits{In: noACL, Out: noACL, Intercept: noACL}
	ic := rs.Intercept
	if ic == nil || ic.Mode == InterceptWatch || in < 0 || in >= len(rs.Ifaces) {
		return none, false
	}
	if _, ok := rs.localPort(dst); ok {
		return none, false
	}
	ifc := &rs.Ifaces[in]
	// The source given to natRoute only picks nsrc, which no step below
	// reads: every ACL is proven for every source, translated or not.
	out, _, _, ndst, ok := rs.natRoute(in, 0, dst)
	if !ok {
		return none, false
	}
	ofc := &rs.Ifaces[out]
	pol := ifc.InspectIn.Match(packet.ProtoTCP, dport)
	if pol == nil {
		pol = ofc.InspectOut.Match(packet.ProtoTCP, dport)
	}
	if pol == nil {
		return none, false
	}
	var h CookieHits
	for i, flags := range pureSYNs {
		if !tcpstate.ValidFlags(flags) {
			return none, false
		}
		t := acl.Tuple{Proto: packet.ProtoTCP, Dst: dst, DstPort: dport, TCPFlags: flags}
		hin, ok1 := rs.everySourcePermits(ifc.ACLIn, &t)
		hic, ok2 := rs.everySourcePermits(ic.List, &t)
		t.Dst = ndst
		hout, ok3 := rs.everySourcePermits(ofc.ACLOut, &t)
		if !ok1 || !ok2 || !ok3 {
			return none, false
		}
		next := CookieHits{In: hin, Out: hout, Intercept: hic}
		if i > 0 && next != h {
			return none, false // ECE or CWR would change an entry
		}
		h = next
	}
	return h, true
}

// everySourcePermits reports whether list a (-1: none, which permits)
// permits t by the same entry, without log, for every source address and
// port, and which entry.
func (rs *Ruleset) everySourcePermits(a int, t *acl.Tuple) (ACLHit, bool) {
	if a < 0 {
		return noACL, true
	}
	l := rs.ACLs[a]
	i, permit, ok := l.MatchEverySource(t)
	if !ok || !permit || i < l.Len() && l.Entry(i).Log {
		return noACL, false
	}
	return ACLHit{List: a, Entry: i}, true
}
