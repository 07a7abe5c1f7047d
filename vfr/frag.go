package vfr

import "cbac/packet"

// Key identifies a datagram (RFC 791 section 3.2: source, destination,
// protocol and identification). Comparable; addresses in host order.
type Key struct {
	Src, Dst uint32
	ID       uint16
	Proto    uint8
	_        uint8
}

// Frag is one fragment as the table keeps it.
type Frag struct {
	// Handle and Aux are the caller's (its frame descriptor, e.g. the UMEM
	// address, and the length and port); the table only hands them back.
	Handle uint64
	Aux    uint32
	// Offset is the fragment offset in bytes (the field times 8), Len the
	// payload length in bytes (Total Length minus the header).
	Offset uint16
	Len    uint16
	// More is the MF flag.
	More bool
	// HdrLen is the IP header length in bytes (IHL*4); 0 counts as 20.
	// Only the first fragment's matters: it sizes the reassembled datagram
	// for the 65535-byte check.
	HdrLen uint8
}

// End returns the offset just past the fragment's payload.
func (f *Frag) End() int { return int(f.Offset) + int(f.Len) }

// FragOf describes a fragment from its IP header: the datagram's key, the
// Frag with the given handle and aux, and for the first fragment (offset
// 0) its payload, the transport bytes the tiny-fragment check reads (nil
// for later fragments). ip must have passed IsValid.
func FragOf(ip packet.IPv4, handle uint64, aux uint32) (Key, Frag, []byte) {
	k := Key{Src: ip.Src(), Dst: ip.Dst(), ID: ip.ID(), Proto: ip.Protocol()}
	hl := ip.HeaderLength()
	f := Frag{
		Handle: handle,
		Aux:    aux,
		Offset: ip.FragmentOffset(),
		Len:    ip.TotalLength() - uint16(hl),
		More:   ip.MoreFragments(),
		HdrLen: uint8(hl),
	}
	var l4 []byte
	if f.Offset == 0 {
		l4 = ip.Payload()
	}
	return k, f, l4
}
