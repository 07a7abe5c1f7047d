package tcpstate

// TCP header flag bits (RFC 793 section 3.1, RFC 3168 for ECE and CWR), as
// they sit in byte 13 of the TCP header.
const (
	FIN uint8 = 0x01
	SYN uint8 = 0x02
	RST uint8 = 0x04
	PSH uint8 = 0x08
	ACK uint8 = 0x10
	URG uint8 = 0x20
	ECE uint8 = 0x40
	CWR uint8 = 0x80
)

// Segment is what the tracker needs from one TCP segment. The dataplane
// fills it from the header view; options are parsed only on SYNs.
type Segment struct {
	Seq, Ack   uint32
	Window     uint16 // raw window field, before scaling
	Flags      uint8
	PayloadLen uint32 // TCP payload bytes (SYN and FIN not counted)
	WScale     int8   // window scale option shift; -1: option absent
	SACKPerm   bool   // SACK-permitted option present
}

// end is the sequence number after the segment: SYN and FIN each occupy
// one sequence number (RFC 793 section 3.3).
func (s *Segment) end() uint32 {
	e := s.Seq + s.PayloadLen
	if s.Flags&SYN != 0 {
		e++
	}
	if s.Flags&FIN != 0 {
		e++
	}
	return e
}

// flagMask keeps the bits that decide validity; PSH, ECE and CWR are valid
// with anything (Linux tcp_error masks them out the same way).
const flagMask = FIN | SYN | RST | ACK | URG

// validFlags lists the flag combinations Linux accepts
// (nf_conntrack_proto_tcp.c tcp_valid_flags). Everything else is dropped:
// SYN|FIN, SYN|RST, FIN without ACK, no flags at all, URG alone, RST|FIN...
var validFlags = [flagMask + 1]bool{
	SYN:             true,
	SYN | URG:       true,
	SYN | ACK:       true,
	RST:             true,
	RST | ACK:       true,
	FIN | ACK:       true,
	FIN | ACK | URG: true,
	ACK:             true,
	ACK | URG:       true,
}

// ValidFlags reports whether the flag byte is a combination a TCP stack
// may send.
func ValidFlags(flags uint8) bool { return validFlags[flags&flagMask] }
