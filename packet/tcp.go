package packet

import "encoding/binary"

// TCP is a TCP segment, header and payload (RFC 793 section 3.1, RFC 3168
// for ECE/CWR):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|          Source Port          |       Destination Port        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                        Sequence Number                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Acknowledgment Number                      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Data |       |C|E|U|A|P|R|S|F|                               |
//	| Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//	|       |       |R|E|G|K|H|T|N|N|                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           Checksum            |         Urgent Pointer        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Options                    |    Padding    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Make the view from IPv4.Payload so that Payload and CalculateChecksum see
// exactly the segment.
type TCP []byte

const (
	tcpSrcPort  = 0
	tcpDstPort  = 2
	tcpSeq      = 4
	tcpAck      = 8
	tcpDataOff  = 12
	tcpFlags    = 13
	tcpWindow   = 14
	tcpChecksum = 16
	tcpUrgent   = 18

	// TCPMinHeaderLen is the length of a header without options.
	TCPMinHeaderLen = 20
	// TCPMaxHeaderLen is the length of a header with data offset 15.
	TCPMaxHeaderLen = 60
)

// TCP flags, as in Flags().
const (
	FIN uint8 = 1 << iota
	SYN
	RST
	PSH
	ACK
	URG
	ECE
	CWR
)

// TCP option kinds (RFC 793, RFC 7323, RFC 2018).
const (
	TCPOptEOL      = 0
	TCPOptNOP      = 1
	TCPOptMSS      = 2
	TCPOptWScale   = 3
	TCPOptSACKPerm = 4
)

// IsValid reports whether t holds a complete header: at least 20 bytes, data
// offset >= 5 and data offset*4 <= len(t).
func (t TCP) IsValid() bool {
	if len(t) < TCPMinHeaderLen {
		return false
	}
	off := int(t[tcpDataOff]>>4) * 4
	return off >= TCPMinHeaderLen && off <= len(t)
}

// SrcPort returns the Source Port.
func (t TCP) SrcPort() uint16 { return binary.BigEndian.Uint16(t[tcpSrcPort:]) }

// DstPort returns the Destination Port.
func (t TCP) DstPort() uint16 { return binary.BigEndian.Uint16(t[tcpDstPort:]) }

// Seq returns the Sequence Number.
func (t TCP) Seq() uint32 { return binary.BigEndian.Uint32(t[tcpSeq:]) }

// Ack returns the Acknowledgment Number.
func (t TCP) Ack() uint32 { return binary.BigEndian.Uint32(t[tcpAck:]) }

// DataOffset returns the header length in bytes (the field times 4).
func (t TCP) DataOffset() int { return int(t[tcpDataOff]>>4) * 4 }

// Flags returns the flag byte (FIN, SYN, RST, PSH, ACK, URG, ECE, CWR).
func (t TCP) Flags() uint8 { return t[tcpFlags] }

// Window returns the Window field (unscaled).
func (t TCP) Window() uint16 { return binary.BigEndian.Uint16(t[tcpWindow:]) }

// Checksum returns the Checksum field.
func (t TCP) Checksum() uint16 { return binary.BigEndian.Uint16(t[tcpChecksum:]) }

// UrgentPointer returns the Urgent Pointer field.
func (t TCP) UrgentPointer() uint16 { return binary.BigEndian.Uint16(t[tcpUrgent:]) }

// Options returns the option bytes (possibly empty).
func (t TCP) Options() []byte { return t[TCPMinHeaderLen:t.DataOffset()] }

// Payload returns the data after the header.
func (t TCP) Payload() []byte { return t[t.DataOffset():] }

// SetSrcPort sets the Source Port without touching the checksum.
func (t TCP) SetSrcPort(p uint16) { binary.BigEndian.PutUint16(t[tcpSrcPort:], p) }

// SetDstPort sets the Destination Port without touching the checksum.
func (t TCP) SetDstPort(p uint16) { binary.BigEndian.PutUint16(t[tcpDstPort:], p) }

// SetSrcPortWithChecksum sets the Source Port and updates the checksum
// incrementally (RFC 1624).
func (t TCP) SetSrcPortWithChecksum(p uint16) {
	t.SetChecksum(ChecksumUpdate16(t.Checksum(), t.SrcPort(), p))
	t.SetSrcPort(p)
}

// SetDstPortWithChecksum sets the Destination Port and updates the checksum
// incrementally (RFC 1624).
func (t TCP) SetDstPortWithChecksum(p uint16) {
	t.SetChecksum(ChecksumUpdate16(t.Checksum(), t.DstPort(), p))
	t.SetDstPort(p)
}

// SetSeq sets the Sequence Number without touching the checksum.
func (t TCP) SetSeq(s uint32) { binary.BigEndian.PutUint32(t[tcpSeq:], s) }

// SetAck sets the Acknowledgment Number without touching the checksum.
func (t TCP) SetAck(a uint32) { binary.BigEndian.PutUint32(t[tcpAck:], a) }

// SetDataOffset sets the data offset from a header length in bytes (a
// multiple of 4 between 20 and 60), keeping the reserved bits.
func (t TCP) SetDataOffset(n int) { t[tcpDataOff] = uint8(n/4)<<4 | t[tcpDataOff]&0xf }

// SetFlags sets the flag byte without touching the checksum.
func (t TCP) SetFlags(f uint8) { t[tcpFlags] = f }

// SetWindow sets the Window without touching the checksum.
func (t TCP) SetWindow(w uint16) { binary.BigEndian.PutUint16(t[tcpWindow:], w) }

// SetChecksum sets the Checksum field.
func (t TCP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(t[tcpChecksum:], c) }

// SetUrgentPointer sets the Urgent Pointer without touching the checksum.
func (t TCP) SetUrgentPointer(u uint16) { binary.BigEndian.PutUint16(t[tcpUrgent:], u) }

// SetSeqWithChecksum sets the Sequence Number and updates the checksum.
func (t TCP) SetSeqWithChecksum(s uint32) {
	t.SetChecksum(ChecksumUpdate32(t.Checksum(), t.Seq(), s))
	t.SetSeq(s)
}

// SetAckWithChecksum sets the Acknowledgment Number and updates the checksum.
func (t TCP) SetAckWithChecksum(a uint32) {
	t.SetChecksum(ChecksumUpdate32(t.Checksum(), t.Ack(), a))
	t.SetAck(a)
}

// SetWindowWithChecksum sets the Window and updates the checksum.
func (t TCP) SetWindowWithChecksum(w uint16) {
	t.SetChecksum(ChecksumUpdate16(t.Checksum(), t.Window(), w))
	t.SetWindow(w)
}

// CalculateChecksum returns the checksum of the whole of t (header and
// payload, checksum field taken as zero) with the pseudo-header for src and
// dst (RFC 793 section 3.1).
func (t TCP) CalculateChecksum(src, dst uint32) uint16 {
	sum := PseudoHeaderChecksum(src, dst, ProtoTCP, uint16(len(t)))
	sum = Checksum(t[:tcpChecksum], sum)
	return Fold(Checksum(t[tcpChecksum+2:], sum))
}

// ChecksumValid reports whether the checksum is correct for src and dst.
func (t TCP) ChecksumValid(src, dst uint32) bool {
	return Fold(Checksum(t, PseudoHeaderChecksum(src, dst, ProtoTCP, uint16(len(t))))) == 0
}

// ChecksumPartial reports whether the checksum field holds only the
// pseudo-header sum for src and dst, left for offload hardware to finish
// (IsPartialChecksum). Ask after ChecksumValid failed.
func (t TCP) ChecksumPartial(src, dst uint32) bool {
	return IsPartialChecksum(t.Checksum(), src, dst, ProtoTCP, uint16(len(t)))
}

// ParseOptions returns the window scale shift (-1 if absent), the MSS (0 if
// absent) and whether SACK-permitted is present. It walks the options with a
// loop bounded by their length (at most 40 bytes); a malformed option
// (length < 2 or past the end) stops the walk, keeping what was found
// before. A shift above 14 is returned as 14 (RFC 7323 section 2.3: "MUST
// use 14 instead").
func (t TCP) ParseOptions() (wscale int8, mss uint16, sackPerm bool) {
	wscale = -1
	opts := t.Options()
	for i := 0; i < len(opts); {
		kind := opts[i]
		if kind == TCPOptEOL {
			break
		}
		if kind == TCPOptNOP {
			i++
			continue
		}
		if i+1 >= len(opts) {
			break
		}
		l := int(opts[i+1])
		if l < 2 || i+l > len(opts) {
			break
		}
		switch {
		case kind == TCPOptMSS && l == 4:
			mss = binary.BigEndian.Uint16(opts[i+2:])
		case kind == TCPOptWScale && l == 3:
			wscale = 14
			if opts[i+2] < 14 {
				wscale = int8(opts[i+2])
			}
		case kind == TCPOptSACKPerm && l == 2:
			sackPerm = true
		}
		i += l
	}
	return wscale, mss, sackPerm
}
