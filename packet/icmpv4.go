package packet

import "encoding/binary"

// ICMPv4 is an ICMP message (RFC 792). Every message starts with Type, Code
// and Checksum; the next 4 bytes depend on the type:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |     Code      |          Checksum             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           Identifier          |        Sequence Number        |  echo, echo reply
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|             unused            |         Next-Hop MTU          |  dest. unreachable
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  (RFC 1191 for code 4)
//	|      Internet Header + 64 bits of Original Data Datagram      |  errors
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The checksum covers the whole ICMP message and no pseudo-header. Make the
// view from IPv4.Payload.
type ICMPv4 []byte

const (
	icmpType     = 0
	icmpCode     = 1
	icmpChecksum = 2
	icmpIdent    = 4
	icmpSeq      = 6
	icmpMTU      = 6

	// ICMPv4HeaderLen is the length of the fixed part (type, code,
	// checksum and the 4 type-specific bytes).
	ICMPv4HeaderLen = 8
)

// ICMP types (RFC 792).
const (
	EchoReply       uint8 = 0
	DestUnreachable uint8 = 3
	SourceQuench    uint8 = 4
	Redirect        uint8 = 5
	Echo            uint8 = 8
	TimeExceeded    uint8 = 11
	ParamProblem    uint8 = 12
)

// Destination Unreachable codes used by cbac (RFC 792, RFC 1191, RFC 1812).
const (
	CodeNetUnreachable      uint8 = 0
	CodeHostUnreachable     uint8 = 1
	CodeProtoUnreachable    uint8 = 2
	CodePortUnreachable     uint8 = 3
	CodeFragmentationNeeded uint8 = 4
	CodeAdminProhibited     uint8 = 13
)

// Time Exceeded codes (RFC 792).
const (
	CodeTTLExceeded        uint8 = 0
	CodeReassemblyExceeded uint8 = 1
)

// IsValid reports whether m holds the 8-byte fixed part.
func (m ICMPv4) IsValid() bool { return len(m) >= ICMPv4HeaderLen }

// Type returns the Type.
func (m ICMPv4) Type() uint8 { return m[icmpType] }

// Code returns the Code.
func (m ICMPv4) Code() uint8 { return m[icmpCode] }

// Checksum returns the Checksum field.
func (m ICMPv4) Checksum() uint16 { return binary.BigEndian.Uint16(m[icmpChecksum:]) }

// Ident returns the Identifier of an echo or echo reply.
func (m ICMPv4) Ident() uint16 { return binary.BigEndian.Uint16(m[icmpIdent:]) }

// Seq returns the Sequence Number of an echo or echo reply.
func (m ICMPv4) Seq() uint16 { return binary.BigEndian.Uint16(m[icmpSeq:]) }

// NextHopMTU returns the Next-Hop MTU of a fragmentation-needed message
// (RFC 1191 section 4); 0 from routers that predate it.
func (m ICMPv4) NextHopMTU() uint16 { return binary.BigEndian.Uint16(m[icmpMTU:]) }

// Payload returns the bytes after the 8-byte fixed part (echo data, or the
// quoted datagram of an error).
func (m ICMPv4) Payload() []byte { return m[ICMPv4HeaderLen:] }

// IsError reports whether the type is an error message quoting a datagram:
// destination unreachable, source quench, redirect, time exceeded,
// parameter problem (RFC 792).
func (m ICMPv4) IsError() bool { return IsICMPError(m[icmpType]) }

// IsICMPError reports whether ICMP type t is an error message.
func IsICMPError(t uint8) bool {
	switch t {
	case DestUnreachable, SourceQuench, Redirect, TimeExceeded, ParamProblem:
		return true
	}
	return false
}

// InnerIPv4 returns the quoted datagram of an error message (its IP header
// and at least the first 8 bytes of its data, RFC 792; RFC 1812 section
// 4.3.2.3 allows more). The quoted Total Length usually exceeds what is
// quoted, so the view is gated by IsValidHeader, not IsValid: InnerIPv4
// returns nil unless the quoted header is complete, and callers read the
// quoted L4 bytes with TruncatedPayload.
func (m ICMPv4) InnerIPv4() IPv4 {
	inner := IPv4(m[ICMPv4HeaderLen:])
	if !inner.IsValidHeader() {
		return nil
	}
	return inner
}

// SetType sets the Type without touching the checksum.
func (m ICMPv4) SetType(t uint8) { m[icmpType] = t }

// SetCode sets the Code without touching the checksum.
func (m ICMPv4) SetCode(c uint8) { m[icmpCode] = c }

// SetChecksum sets the Checksum field.
func (m ICMPv4) SetChecksum(c uint16) { binary.BigEndian.PutUint16(m[icmpChecksum:], c) }

// SetIdent sets the Identifier without touching the checksum.
func (m ICMPv4) SetIdent(id uint16) { binary.BigEndian.PutUint16(m[icmpIdent:], id) }

// SetSeq sets the Sequence Number without touching the checksum.
func (m ICMPv4) SetSeq(s uint16) { binary.BigEndian.PutUint16(m[icmpSeq:], s) }

// SetNextHopMTU sets the Next-Hop MTU without touching the checksum.
func (m ICMPv4) SetNextHopMTU(mtu uint16) { binary.BigEndian.PutUint16(m[icmpMTU:], mtu) }

// SetTypeWithChecksum sets the Type (echo -> echo reply) and updates the
// checksum incrementally (Type is the high byte of the first word).
func (m ICMPv4) SetTypeWithChecksum(t uint8) {
	old := binary.BigEndian.Uint16(m[icmpType:])
	m[icmpType] = t
	m.SetChecksum(ChecksumUpdate16(m.Checksum(), old, binary.BigEndian.Uint16(m[icmpType:])))
}

// SetCodeWithChecksum sets the Code and updates the checksum incrementally.
func (m ICMPv4) SetCodeWithChecksum(c uint8) {
	old := binary.BigEndian.Uint16(m[icmpType:])
	m[icmpCode] = c
	m.SetChecksum(ChecksumUpdate16(m.Checksum(), old, binary.BigEndian.Uint16(m[icmpType:])))
}

// SetIdentWithChecksum sets the Identifier and updates the checksum
// incrementally (RFC 1624).
func (m ICMPv4) SetIdentWithChecksum(id uint16) {
	m.SetChecksum(ChecksumUpdate16(m.Checksum(), m.Ident(), id))
	m.SetIdent(id)
}

// CalculateChecksum returns the checksum of the whole of m with the checksum
// field taken as zero.
func (m ICMPv4) CalculateChecksum() uint16 {
	return Fold(Checksum(m[icmpChecksum+2:], Checksum(m[:icmpChecksum], 0)))
}

// ChecksumValid reports whether the checksum over the whole of m is correct.
func (m ICMPv4) ChecksumValid() bool { return Fold(Checksum(m, 0)) == 0 }
