package packet

import "encoding/binary"

// IPv4 is an IPv4 packet, header and payload (RFC 791 section 3.1):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version|  IHL  |Type of Service|          Total Length         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Identification        |Flags|      Fragment Offset    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Time to Live |    Protocol   |         Header Checksum       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       Source Address                          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Destination Address                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Options                    |    Padding    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The slice may extend past Total Length (Ethernet padding); Payload stops
// at Total Length.
type IPv4 []byte

const (
	ipVersIHL   = 0
	ipTOS       = 1
	ipTotalLen  = 2
	ipID        = 4
	ipFlagsFrag = 6
	ipTTL       = 8
	ipProtocol  = 9
	ipChecksum  = 10
	ipSrc       = 12
	ipDst       = 16

	// IPv4MinHeaderLen is the length of a header without options.
	IPv4MinHeaderLen = 20
	// IPv4MaxHeaderLen is the length of a header with IHL 15.
	IPv4MaxHeaderLen = 60
)

// IPv4 flags, as returned by Flags (the 3 high bits of byte 6, shifted
// down).
const (
	IPv4FlagMoreFragments = 1 << 0
	IPv4FlagDontFragment  = 1 << 1
)

// IP protocol numbers (IANA).
const (
	ProtoICMP uint8 = 1
	ProtoTCP  uint8 = 6
	ProtoUDP  uint8 = 17
)

// IsValid reports whether ip holds a complete IPv4 header and the whole
// packet: version 4, IHL >= 5, IHL*4 <= Total Length <= len(ip). After it,
// every accessor is in bounds.
func (ip IPv4) IsValid() bool {
	if len(ip) < IPv4MinHeaderLen || ip[ipVersIHL]>>4 != 4 {
		return false
	}
	hl := int(ip[ipVersIHL]&0xf) * 4
	tl := int(binary.BigEndian.Uint16(ip[ipTotalLen:]))
	return hl >= IPv4MinHeaderLen && tl >= hl && tl <= len(ip)
}

// IsValidHeader reports whether ip holds a complete IPv4 header (version 4,
// IHL >= 5, IHL*4 <= len(ip)), not necessarily the whole packet: the gate for
// the truncated datagram quoted in an ICMP error. After it, every accessor
// except Payload is in bounds; use TruncatedPayload.
func (ip IPv4) IsValidHeader() bool {
	if len(ip) < IPv4MinHeaderLen || ip[ipVersIHL]>>4 != 4 {
		return false
	}
	hl := int(ip[ipVersIHL]&0xf) * 4
	return hl >= IPv4MinHeaderLen && hl <= len(ip)
}

// Version returns the version field (4 after IsValid).
func (ip IPv4) Version() uint8 { return ip[ipVersIHL] >> 4 }

// IHL returns the Internet Header Length field, in 32-bit words.
func (ip IPv4) IHL() uint8 { return ip[ipVersIHL] & 0xf }

// HeaderLength returns the header length in bytes (IHL*4).
func (ip IPv4) HeaderLength() int { return int(ip[ipVersIHL]&0xf) * 4 }

// TOS returns the Type of Service byte (DSCP and ECN).
func (ip IPv4) TOS() uint8 { return ip[ipTOS] }

// TotalLength returns the Total Length field: header plus data, in bytes.
func (ip IPv4) TotalLength() uint16 { return binary.BigEndian.Uint16(ip[ipTotalLen:]) }

// ID returns the Identification field.
func (ip IPv4) ID() uint16 { return binary.BigEndian.Uint16(ip[ipID:]) }

// Flags returns the 3-bit flags field (IPv4FlagDontFragment,
// IPv4FlagMoreFragments).
func (ip IPv4) Flags() uint8 { return ip[ipFlagsFrag] >> 5 }

// FragmentOffset returns the fragment offset in bytes (the field times 8).
func (ip IPv4) FragmentOffset() uint16 {
	return binary.BigEndian.Uint16(ip[ipFlagsFrag:]) << 3
}

// MoreFragments reports whether the MF flag is set.
func (ip IPv4) MoreFragments() bool { return ip[ipFlagsFrag]&0x20 != 0 }

// DontFragment reports whether the DF flag is set.
func (ip IPv4) DontFragment() bool { return ip[ipFlagsFrag]&0x40 != 0 }

// IsFragment reports whether the packet is a fragment: MF set or a non-zero
// offset. Only the first fragment (offset 0) carries the L4 header.
func (ip IPv4) IsFragment() bool {
	return binary.BigEndian.Uint16(ip[ipFlagsFrag:])&0x3fff != 0
}

// TTL returns the Time to Live.
func (ip IPv4) TTL() uint8 { return ip[ipTTL] }

// Protocol returns the Protocol field (ProtoTCP, ProtoUDP, ProtoICMP, ...).
func (ip IPv4) Protocol() uint8 { return ip[ipProtocol] }

// HeaderChecksum returns the Header Checksum field.
func (ip IPv4) HeaderChecksum() uint16 { return binary.BigEndian.Uint16(ip[ipChecksum:]) }

// Src returns the Source Address.
func (ip IPv4) Src() uint32 { return binary.BigEndian.Uint32(ip[ipSrc:]) }

// Dst returns the Destination Address.
func (ip IPv4) Dst() uint32 { return binary.BigEndian.Uint32(ip[ipDst:]) }

// Options returns the header options (possibly empty).
func (ip IPv4) Options() []byte { return ip[IPv4MinHeaderLen:ip.HeaderLength()] }

// Header returns the header bytes (HeaderLength of them).
func (ip IPv4) Header() []byte { return ip[:ip.HeaderLength()] }

// Payload returns the data after the header, up to Total Length. Needs
// IsValid.
func (ip IPv4) Payload() []byte { return ip[ip.HeaderLength():ip.TotalLength()] }

// TruncatedPayload returns the data after the header up to Total Length or
// the end of the slice, whichever comes first. Needs IsValidHeader.
func (ip IPv4) TruncatedPayload() []byte {
	end := int(ip.TotalLength())
	if end > len(ip) {
		end = len(ip)
	}
	hl := ip.HeaderLength()
	if end < hl {
		end = hl
	}
	return ip[hl:end]
}

// CalculateChecksum returns the header checksum computed over the header
// with the checksum field taken as zero.
func (ip IPv4) CalculateChecksum() uint16 {
	hl := ip.HeaderLength()
	return Fold(Checksum(ip[ipChecksum+2:hl], Checksum(ip[:ipChecksum], 0)))
}

// ChecksumValid reports whether the header checksum is correct.
func (ip IPv4) ChecksumValid() bool {
	if ip.HeaderLength() == IPv4MinHeaderLen {
		// No options, nearly every packet: five 32-bit words summed
		// inline (RFC 1071: the sum may be taken over any word size, with
		// the carries folded back), not Checksum's loop.
		b := ip[:IPv4MinHeaderLen]
		s := uint64(binary.BigEndian.Uint32(b)) + uint64(binary.BigEndian.Uint32(b[4:])) +
			uint64(binary.BigEndian.Uint32(b[8:])) + uint64(binary.BigEndian.Uint32(b[12:])) +
			uint64(binary.BigEndian.Uint32(b[16:]))
		s = s>>32 + s&0xffffffff
		s = s>>32 + s&0xffffffff
		return Fold(uint32(s)) == 0
	}
	return Fold(Checksum(ip[:ip.HeaderLength()], 0)) == 0
}

// SetChecksum sets the Header Checksum field.
func (ip IPv4) SetChecksum(c uint16) { binary.BigEndian.PutUint16(ip[ipChecksum:], c) }

// SetTotalLength sets Total Length without touching the checksum.
func (ip IPv4) SetTotalLength(l uint16) { binary.BigEndian.PutUint16(ip[ipTotalLen:], l) }

// SetID sets Identification without touching the checksum.
func (ip IPv4) SetID(id uint16) { binary.BigEndian.PutUint16(ip[ipID:], id) }

// SetTTL sets the Time to Live without touching the checksum.
func (ip IPv4) SetTTL(ttl uint8) { ip[ipTTL] = ttl }

// SetProtocol sets the Protocol without touching the checksum.
func (ip IPv4) SetProtocol(p uint8) { ip[ipProtocol] = p }

// SetSrc sets the Source Address without touching any checksum.
func (ip IPv4) SetSrc(a uint32) { binary.BigEndian.PutUint32(ip[ipSrc:], a) }

// SetDst sets the Destination Address without touching any checksum.
func (ip IPv4) SetDst(a uint32) { binary.BigEndian.PutUint32(ip[ipDst:], a) }

// SetSrcWithChecksum sets the Source Address and updates the header
// checksum incrementally (RFC 1624). The TCP/UDP checksum, which covers the
// address through the pseudo-header, is the caller's (see nat.Rewrite).
func (ip IPv4) SetSrcWithChecksum(a uint32) {
	ip.SetChecksum(ChecksumUpdate32(ip.HeaderChecksum(), ip.Src(), a))
	ip.SetSrc(a)
}

// SetDstWithChecksum sets the Destination Address and updates the header
// checksum incrementally (RFC 1624).
func (ip IPv4) SetDstWithChecksum(a uint32) {
	ip.SetChecksum(ChecksumUpdate32(ip.HeaderChecksum(), ip.Dst(), a))
	ip.SetDst(a)
}

// SetTTLWithChecksum sets the Time to Live and updates the header checksum
// incrementally.
func (ip IPv4) SetTTLWithChecksum(ttl uint8) {
	old := binary.BigEndian.Uint16(ip[ipTTL:])
	ip[ipTTL] = ttl
	ip.SetChecksum(ChecksumUpdate16(ip.HeaderChecksum(), old, binary.BigEndian.Uint16(ip[ipTTL:])))
}

// SetTotalLengthWithChecksum sets Total Length and updates the header
// checksum incrementally.
func (ip IPv4) SetTotalLengthWithChecksum(l uint16) {
	ip.SetChecksum(ChecksumUpdate16(ip.HeaderChecksum(), ip.TotalLength(), l))
	ip.SetTotalLength(l)
}

// DecTTLWithChecksum decrements the TTL by one and updates the header
// checksum incrementally (TTL is the high byte of the 16-bit word at offset
// 8). The caller checks TTL() > 1 first (RFC 1812 section 5.3.1); a TTL of 0
// wraps to 255.
func (ip IPv4) DecTTLWithChecksum() {
	old := binary.BigEndian.Uint16(ip[ipTTL:])
	ip[ipTTL]--
	ip.SetChecksum(ChecksumUpdate16(ip.HeaderChecksum(), old, binary.BigEndian.Uint16(ip[ipTTL:])))
}

// WriteIPv4Header writes a 20-byte IPv4 header (no options, no flags,
// offset 0, TOS 0) for a packet of payloadLen bytes of protocol proto, with
// a correct header checksum, and returns 20; it returns 0 if b is shorter
// than 20 bytes or the total length would exceed 65535. For crafted packets
// (TCP RST, ICMP errors).
func WriteIPv4Header(b []byte, src, dst uint32, proto uint8, ttl uint8, payloadLen int, id uint16) int {
	if len(b) < IPv4MinHeaderLen || payloadLen < 0 || payloadLen > 0xffff-IPv4MinHeaderLen {
		return 0
	}
	ip := IPv4(b)
	ip[ipVersIHL] = 0x45
	ip[ipTOS] = 0
	ip.SetTotalLength(uint16(IPv4MinHeaderLen + payloadLen))
	ip.SetID(id)
	binary.BigEndian.PutUint16(ip[ipFlagsFrag:], 0)
	ip.SetTTL(ttl)
	ip.SetProtocol(proto)
	ip.SetChecksum(0)
	ip.SetSrc(src)
	ip.SetDst(dst)
	ip.SetChecksum(Fold(Checksum(ip[:IPv4MinHeaderLen], 0)))
	return IPv4MinHeaderLen
}
