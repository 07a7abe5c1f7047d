package packet

import "encoding/binary"

// UDP is a UDP datagram, header and payload (RFC 768):
//
//	 0      7 8     15 16    23 24    31
//	+--------+--------+--------+--------+
//	|     Source      |   Destination   |
//	|      Port       |      Port       |
//	+--------+--------+--------+--------+
//	|                 |                 |
//	|     Length      |    Checksum     |
//	+--------+--------+--------+--------+
//	|          data octets ...
//	+---------------- ...
//
// A Checksum of 0 means none was computed (RFC 768); a computed 0 is sent as
// 0xffff. The setters keep both rules.
type UDP []byte

const (
	udpSrcPort  = 0
	udpDstPort  = 2
	udpLength   = 4
	udpChecksum = 6

	// UDPHeaderLen is the length of the UDP header.
	UDPHeaderLen = 8
)

// IsValid reports whether u holds the header and Length is between 8 and
// len(u).
func (u UDP) IsValid() bool {
	if len(u) < UDPHeaderLen {
		return false
	}
	l := int(binary.BigEndian.Uint16(u[udpLength:]))
	return l >= UDPHeaderLen && l <= len(u)
}

// SrcPort returns the Source Port.
func (u UDP) SrcPort() uint16 { return binary.BigEndian.Uint16(u[udpSrcPort:]) }

// DstPort returns the Destination Port.
func (u UDP) DstPort() uint16 { return binary.BigEndian.Uint16(u[udpDstPort:]) }

// Length returns the Length field (header plus data).
func (u UDP) Length() uint16 { return binary.BigEndian.Uint16(u[udpLength:]) }

// Checksum returns the Checksum field; 0 means none.
func (u UDP) Checksum() uint16 { return binary.BigEndian.Uint16(u[udpChecksum:]) }

// Payload returns the data, up to Length.
func (u UDP) Payload() []byte { return u[UDPHeaderLen:u.Length()] }

// SetSrcPort sets the Source Port without touching the checksum.
func (u UDP) SetSrcPort(p uint16) { binary.BigEndian.PutUint16(u[udpSrcPort:], p) }

// SetDstPort sets the Destination Port without touching the checksum.
func (u UDP) SetDstPort(p uint16) { binary.BigEndian.PutUint16(u[udpDstPort:], p) }

// SetLength sets the Length field without touching the checksum.
func (u UDP) SetLength(l uint16) { binary.BigEndian.PutUint16(u[udpLength:], l) }

// SetChecksum sets the Checksum field as given.
func (u UDP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(u[udpChecksum:], c) }

// UpdateUDPChecksum returns checksum field hc of a UDP datagram after applying a
// precomputed delta (ApplyDelta): 0 (no checksum) stays 0 and a result of 0
// becomes 0xffff (RFC 768).
func UpdateUDPChecksum(hc uint16, delta uint32) uint16 {
	if hc == 0 {
		return 0
	}
	c := ApplyDelta(hc, delta)
	if c == 0 {
		c = 0xffff
	}
	return c
}

// SetSrcPortWithChecksum sets the Source Port and updates a present checksum
// incrementally.
func (u UDP) SetSrcPortWithChecksum(p uint16) {
	u.SetChecksum(UpdateUDPChecksum(u.Checksum(), ChecksumDelta16(u.SrcPort(), p)))
	u.SetSrcPort(p)
}

// SetDstPortWithChecksum sets the Destination Port and updates a present
// checksum incrementally.
func (u UDP) SetDstPortWithChecksum(p uint16) {
	u.SetChecksum(UpdateUDPChecksum(u.Checksum(), ChecksumDelta16(u.DstPort(), p)))
	u.SetDstPort(p)
}

// CalculateChecksum returns the checksum over the pseudo-header for src and
// dst and the datagram up to Length (checksum field taken as zero), with a
// computed 0 returned as 0xffff (RFC 768).
func (u UDP) CalculateChecksum(src, dst uint32) uint16 {
	l := u.Length()
	sum := PseudoHeaderChecksum(src, dst, ProtoUDP, l)
	sum = Checksum(u[:udpChecksum], sum)
	c := Fold(Checksum(u[udpChecksum+2:l], sum))
	if c == 0 {
		c = 0xffff
	}
	return c
}

// ChecksumValid reports whether the checksum is absent (0) or correct for
// src and dst.
func (u UDP) ChecksumValid(src, dst uint32) bool {
	if u.Checksum() == 0 {
		return true
	}
	l := u.Length()
	return Fold(Checksum(u[:l], PseudoHeaderChecksum(src, dst, ProtoUDP, l))) == 0
}

// ChecksumPartial reports whether the checksum field holds only the
// pseudo-header sum for src, dst and Length, left for offload hardware to
// finish (IsPartialChecksum). Ask after ChecksumValid failed.
func (u UDP) ChecksumPartial(src, dst uint32) bool {
	return IsPartialChecksum(u.Checksum(), src, dst, ProtoUDP, u.Length())
}
