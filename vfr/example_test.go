package vfr_test

import (
	"fmt"

	"cbac/packet"
	"cbac/vfr"
)

// A UDP datagram of 24 payload bytes, fragmented at 16, arrives last
// fragment first; then a TCP first fragment too short for its header, and
// its follower, dropped as the datagram was poisoned.
func Example() {
	const sec = int64(1e9)
	t := vfr.New(16, 32, 3*sec, 42)
	out := make([]vfr.Frag, 0, t.MaxFragments())

	frag := func(id, off, n uint16, mf bool, proto uint8) packet.IPv4 {
		ip := make(packet.IPv4, 20+int(n))
		packet.WriteIPv4Header(ip, 0x0a0a0a05, 0xcb007101, proto, 64, int(n), id)
		fo := off / 8
		if mf {
			fo |= 0x2000
		}
		ip[6], ip[7] = byte(fo>>8), byte(fo)
		return ip
	}
	frames := []packet.IPv4{
		frag(7, 16, 8, false, packet.ProtoUDP),
		frag(7, 0, 16, true, packet.ProtoUDP),
		frag(8, 0, 8, true, packet.ProtoTCP),
		frag(8, 8, 8, false, packet.ProtoTCP),
	}
	for i, ip := range frames {
		k, f, l4 := vfr.FragOf(ip, uint64(i), 0)
		var st vfr.Status
		st, out = t.Add(0, k, f, l4, out[:0])
		fmt.Printf("frame %d (id %d offset %d): %v", i, k.ID, f.Offset, st)
		for _, g := range out {
			fmt.Printf(" [frame %d offset %d]", g.Handle, g.Offset)
		}
		fmt.Println()
	}
	// Output:
	// frame 0 (id 7 offset 16): held
	// frame 1 (id 7 offset 0): complete [frame 1 offset 0] [frame 0 offset 16]
	// frame 2 (id 8 offset 0): tiny first fragment
	// frame 3 (id 8 offset 8): fragment of a dropped datagram
}
