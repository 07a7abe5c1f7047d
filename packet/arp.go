package packet

import "encoding/binary"

// ARP is an ARP packet (RFC 826) for Ethernet hardware and IPv4 protocol
// addresses, the only kind cbac handles:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|      Hardware Type (1)        |     Protocol Type (0x0800)    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| HW Len (6)    | Proto Len (4) |          Operation            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                 Sender Hardware Address (6)                   |
//	+                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                               |  Sender Protocol Address (4)  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//	|                               |                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//	|                 Target Hardware Address (6)                   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                  Target Protocol Address (4)                  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
type ARP []byte

const (
	arpHType = 0
	arpPType = 2
	arpHLen  = 4
	arpPLen  = 5
	arpOp    = 6
	arpSHA   = 8
	arpSPA   = 14
	arpTHA   = 18
	arpTPA   = 24

	// ARPLen is the length of an Ethernet/IPv4 ARP packet.
	ARPLen = 28
	// ARPFrameLen is the length of an Ethernet frame carrying ARPLen bytes
	// (before padding to EthernetMinFrameLen).
	ARPFrameLen = EthernetHeaderLen + ARPLen
)

// ARP operations (RFC 826).
const (
	ARPRequest uint16 = 1
	ARPReply   uint16 = 2
)

// IsValid reports whether a is long enough and is an Ethernet/IPv4 ARP
// packet (hardware type 1, protocol 0x0800, lengths 6 and 4).
func (a ARP) IsValid() bool {
	return len(a) >= ARPLen &&
		binary.BigEndian.Uint16(a[arpHType:]) == 1 &&
		binary.BigEndian.Uint16(a[arpPType:]) == EtherTypeIPv4 &&
		a[arpHLen] == 6 && a[arpPLen] == 4
}

// Op returns the operation (ARPRequest, ARPReply).
func (a ARP) Op() uint16 { return binary.BigEndian.Uint16(a[arpOp:]) }

// SenderMAC returns the sender hardware address.
func (a ARP) SenderMAC() MAC { return MAC(a[arpSHA : arpSHA+6]) }

// SenderIP returns the sender protocol address.
func (a ARP) SenderIP() uint32 { return binary.BigEndian.Uint32(a[arpSPA:]) }

// TargetMAC returns the target hardware address.
func (a ARP) TargetMAC() MAC { return MAC(a[arpTHA : arpTHA+6]) }

// TargetIP returns the target protocol address.
func (a ARP) TargetIP() uint32 { return binary.BigEndian.Uint32(a[arpTPA:]) }

// SetOp sets the operation.
func (a ARP) SetOp(op uint16) { binary.BigEndian.PutUint16(a[arpOp:], op) }

// SetSenderMAC sets the sender hardware address.
func (a ARP) SetSenderMAC(m MAC) { copy(a[arpSHA:arpSHA+6], m[:]) }

// SetSenderIP sets the sender protocol address.
func (a ARP) SetSenderIP(ip uint32) { binary.BigEndian.PutUint32(a[arpSPA:], ip) }

// SetTargetMAC sets the target hardware address.
func (a ARP) SetTargetMAC(m MAC) { copy(a[arpTHA:arpTHA+6], m[:]) }

// SetTargetIP sets the target protocol address.
func (a ARP) SetTargetIP(ip uint32) { binary.BigEndian.PutUint32(a[arpTPA:], ip) }

// writeHeader writes the fixed Ethernet/IPv4 part and op.
func (a ARP) writeHeader(op uint16) {
	binary.BigEndian.PutUint16(a[arpHType:], 1)
	binary.BigEndian.PutUint16(a[arpPType:], EtherTypeIPv4)
	a[arpHLen] = 6
	a[arpPLen] = 4
	a.SetOp(op)
}

// BuildARPReply turns frame, an Ethernet frame holding an ARP request, into
// the reply in place, answering that the request's target IP is at mac
// (RFC 826 "Packet Reception": swap sender and target, put the local
// hardware address in the sender field, set the opcode to reply). The
// Ethernet destination becomes the requester's MAC and the source becomes
// mac. The frame keeps its length. It returns false, leaving frame
// unchanged, if frame is not a valid Ethernet/IPv4 ARP request; whether the
// target IP is one to answer for is the caller's decision.
func BuildARPReply(frame []byte, mac MAC) bool {
	e := Ethernet(frame)
	if !e.IsValid() || e.Type() != EtherTypeARP {
		return false
	}
	a := ARP(e.Payload())
	if !a.IsValid() || a.Op() != ARPRequest {
		return false
	}
	requesterMAC, requesterIP := a.SenderMAC(), a.SenderIP()
	targetIP := a.TargetIP()
	a.SetOp(ARPReply)
	a.SetTargetMAC(requesterMAC)
	a.SetTargetIP(requesterIP)
	a.SetSenderMAC(mac)
	a.SetSenderIP(targetIP)
	e.SetDst(requesterMAC)
	e.SetSrc(mac)
	return true
}

// WriteARPRequest writes into b a broadcast Ethernet frame holding an ARP
// request from srcMAC/srcIP asking for targetIP, and returns its length
// (ARPFrameLen), or 0 if b is shorter than that. The frame is not padded to
// EthernetMinFrameLen; callers that need it zero b[n:60].
func WriteARPRequest(b []byte, srcMAC MAC, srcIP, targetIP uint32) int {
	if len(b) < ARPFrameLen {
		return 0
	}
	e := Ethernet(b)
	e.SetDst(BroadcastMAC)
	e.SetSrc(srcMAC)
	e.SetType(EtherTypeARP)
	a := ARP(e.Payload())
	a.writeHeader(ARPRequest)
	a.SetSenderMAC(srcMAC)
	a.SetSenderIP(srcIP)
	a.SetTargetMAC(MAC{})
	a.SetTargetIP(targetIP)
	return ARPFrameLen
}

// WriteARPReply writes into b an Ethernet frame holding an ARP reply from
// srcMAC/srcIP to dstMAC/dstIP (used for gratuitous or proxy replies built
// from scratch), and returns its length, or 0 if b is too short.
func WriteARPReply(b []byte, srcMAC MAC, srcIP uint32, dstMAC MAC, dstIP uint32) int {
	if len(b) < ARPFrameLen {
		return 0
	}
	e := Ethernet(b)
	e.SetDst(dstMAC)
	e.SetSrc(srcMAC)
	e.SetType(EtherTypeARP)
	a := ARP(e.Payload())
	a.writeHeader(ARPReply)
	a.SetSenderMAC(srcMAC)
	a.SetSenderIP(srcIP)
	a.SetTargetMAC(dstMAC)
	a.SetTargetIP(dstIP)
	return ARPFrameLen
}
