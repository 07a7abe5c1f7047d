package packet

import "encoding/binary"

// MAC is an Ethernet (IEEE 802) hardware address.
type MAC [6]byte

// BroadcastMAC is ff:ff:ff:ff:ff:ff.
var BroadcastMAC = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

const hexDigits = "0123456789abcdef"

// String formats m as six colon-separated lowercase hex bytes
// ("02:00:00:00:00:01"). For control code; it allocates.
func (m MAC) String() string {
	var b [17]byte
	for i, x := range m {
		if i > 0 {
			b[3*i-1] = ':'
		}
		b[3*i] = hexDigits[x>>4]
		b[3*i+1] = hexDigits[x&0xf]
	}
	return string(b[:])
}

// IsBroadcast reports whether m is ff:ff:ff:ff:ff:ff.
func (m MAC) IsBroadcast() bool { return m == BroadcastMAC }

// IsMulticast reports whether the group bit (I/G, least significant bit of
// the first byte) is set; broadcast is a multicast address.
func (m MAC) IsMulticast() bool { return m[0]&1 != 0 }

// Ethernet is an Ethernet II frame header (IEEE 802.3 with an EtherType):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Destination MAC address                    |
//	+                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                               |                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+        Source MAC address     +
//	|                                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           EtherType           |   Payload ...
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The frame check sequence is not part of the view (AF_XDP frames do not
// carry it).
type Ethernet []byte

const (
	ethDst  = 0
	ethSrc  = 6
	ethType = 12

	// EthernetHeaderLen is the length of an untagged Ethernet II header.
	EthernetHeaderLen = 14
	// HeaderLen is EthernetHeaderLen.
	HeaderLen = EthernetHeaderLen

	// EthernetMinFrameLen is the minimum frame length without FCS; shorter
	// frames are padded with zeros by the sender.
	EthernetMinFrameLen = 60
)

// EtherType values (IEEE registry).
const (
	EtherTypeIPv4 uint16 = 0x0800
	EtherTypeARP  uint16 = 0x0806
	EtherTypeVLAN uint16 = 0x8100
	EtherTypeIPv6 uint16 = 0x86dd
)

// IsValid reports whether e is long enough for the Ethernet header.
func (e Ethernet) IsValid() bool { return len(e) >= EthernetHeaderLen }

// Dst returns the destination MAC address.
func (e Ethernet) Dst() MAC { return MAC(e[ethDst : ethDst+6]) }

// Src returns the source MAC address.
func (e Ethernet) Src() MAC { return MAC(e[ethSrc : ethSrc+6]) }

// Type returns the EtherType.
func (e Ethernet) Type() uint16 { return binary.BigEndian.Uint16(e[ethType:]) }

// SetDst sets the destination MAC address.
func (e Ethernet) SetDst(m MAC) { copy(e[ethDst:ethDst+6], m[:]) }

// SetSrc sets the source MAC address.
func (e Ethernet) SetSrc(m MAC) { copy(e[ethSrc:ethSrc+6], m[:]) }

// SetType sets the EtherType.
func (e Ethernet) SetType(t uint16) { binary.BigEndian.PutUint16(e[ethType:], t) }

// Payload returns the bytes after the header (up to the end of the frame,
// including any Ethernet padding: the IPv4 view bounds itself with its Total
// Length).
func (e Ethernet) Payload() []byte { return e[EthernetHeaderLen:] }
