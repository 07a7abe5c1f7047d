package packet

import (
	"encoding/binary"
	"math/bits"
)

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
	TCPOptSACK     = 5
	TCPOptTS       = 8

	// TCPOptTSLen is the length of the Timestamps option (RFC 7323 section 3).
	TCPOptTSLen = 10
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
	for i, l := nextOption(opts, 0); l > 0; i, l = nextOption(opts, i+l) {
		switch kind := opts[i]; {
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
	}
	return wscale, mss, sackPerm
}

// FindOption returns the offset in t of the kind byte of the first option of
// the given kind and that option's length, or (-1, 0) when there is none.
// The walk follows ParseOptions' rules: EOL ends it, a malformed option
// (length < 2 or past the end) stops it. The caller checks the length it
// expects (a SACK option is 2+8n bytes, RFC 2018 section 3).
func (t TCP) FindOption(kind uint8) (off, length int) {
	opts := t.Options()
	for i, l := nextOption(opts, 0); l > 0; i, l = nextOption(opts, i+l) {
		if opts[i] == kind {
			return TCPMinHeaderLen + i, l
		}
	}
	return -1, 0
}

// nextOption is the one walk over TCP options (RFC 9293 section 3.1): from
// offset i of opts it skips NOPs and returns the offset and length of the
// next option other than NOP, or length 0 at EOL, at the end, or at a
// malformed option (length < 2 or past the end), which ends the walk.
func nextOption(opts []byte, i int) (off, length int) {
	for i < len(opts) && opts[i] == TCPOptNOP {
		i++
	}
	if i+1 >= len(opts) || opts[i] == TCPOptEOL {
		return i, 0
	}
	l := int(opts[i+1])
	if l < 2 || i+l > len(opts) {
		return i, 0
	}
	return i, l
}

// Timestamps returns TSval and TSecr of the Timestamps option (RFC 7323
// section 3), and whether a well-formed one (length 10) is present.
func (t TCP) Timestamps() (tsval, tsecr uint32, ok bool) {
	off, l := t.FindOption(TCPOptTS)
	if off < 0 || l != TCPOptTSLen {
		return 0, 0, false
	}
	return binary.BigEndian.Uint32(t[off+2:]), binary.BigEndian.Uint32(t[off+6:]), true
}

// Uint32At returns the big-endian 32-bit value at byte offset off of t (an
// option field such as TSval or a SACK edge).
func (t TCP) Uint32At(off int) uint32 { return binary.BigEndian.Uint32(t[off:]) }

// SetUint32AtWithChecksum writes v big-endian at byte offset off of t (an
// option field, which may sit at an odd offset) and updates the checksum
// incrementally (RFC 1624 eqn. 3). At an odd offset the four bytes are the
// low and high halves of three checksum words; their contribution is the
// byte-swapped ones'-complement sum of the two big-endian halves (RFC 1071
// section 2(B)), so one 16-bit update of the folded halves covers it.
func (t TCP) SetUint32AtWithChecksum(off int, v uint32) {
	old := binary.BigEndian.Uint32(t[off:])
	if off&1 == 0 {
		t.SetChecksum(ChecksumUpdate32(t.Checksum(), old, v))
	} else {
		o := bits.ReverseBytes16(fold16(old>>16 + old&0xffff))
		n := bits.ReverseBytes16(fold16(v>>16 + v&0xffff))
		t.SetChecksum(ChecksumUpdate16(t.Checksum(), o, n))
	}
	binary.BigEndian.PutUint32(t[off:], v)
}

// SynOptions are the options of a SYN or SYN/ACK that WriteSynOptions lays
// out: MSS (0: none), window scale shift (-1: none), SACK-permitted, and
// Timestamps when TS is set.
type SynOptions struct {
	MSS          uint16
	WScale       int8
	SACKPerm     bool
	TS           bool
	TSval, TSecr uint32
}

// Len returns the number of option bytes WriteSynOptions writes for o, a
// multiple of 4, at most 20.
func (o *SynOptions) Len() int {
	n := 0
	if o.MSS != 0 {
		n += 4
	}
	if o.TS {
		n += 12
	} else if o.SACKPerm {
		n += 4
	}
	if o.WScale >= 0 {
		n += 4
	}
	return n
}

// WriteSynOptions writes o into b (at least o.Len() bytes) in Linux's order
// and padding (tcp_options_write, and netfilter SYNPROXY's copy of it):
//
//	MSS:            kind 2, len 4, mss                        (4 bytes)
//	TS with SACK:   kind 4, len 2, kind 8, len 10, TSval, TSecr (12 bytes)
//	TS alone:       NOP, NOP, kind 8, len 10, TSval, TSecr      (12 bytes)
//	SACK alone:     NOP, NOP, kind 4, len 2                    (4 bytes)
//	window scale:   NOP, kind 3, len 3, shift                  (4 bytes)
//
// so that every 32-bit field sits 4-byte aligned. It returns o.Len().
func WriteSynOptions(b []byte, o *SynOptions) int {
	n := 0
	if o.MSS != 0 {
		binary.BigEndian.PutUint32(b[n:], TCPOptMSS<<24|4<<16|uint32(o.MSS))
		n += 4
	}
	if o.TS {
		if o.SACKPerm {
			binary.BigEndian.PutUint32(b[n:], TCPOptSACKPerm<<24|2<<16|TCPOptTS<<8|TCPOptTSLen)
		} else {
			binary.BigEndian.PutUint32(b[n:], TCPOptNOP<<24|TCPOptNOP<<16|TCPOptTS<<8|TCPOptTSLen)
		}
		binary.BigEndian.PutUint32(b[n+4:], o.TSval)
		binary.BigEndian.PutUint32(b[n+8:], o.TSecr)
		n += 12
	} else if o.SACKPerm {
		binary.BigEndian.PutUint32(b[n:], TCPOptNOP<<24|TCPOptNOP<<16|TCPOptSACKPerm<<8|2)
		n += 4
	}
	if o.WScale >= 0 {
		binary.BigEndian.PutUint32(b[n:], TCPOptNOP<<24|TCPOptWScale<<16|3<<8|uint32(uint8(o.WScale)))
		n += 4
	}
	return n
}
