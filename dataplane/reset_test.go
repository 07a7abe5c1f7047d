package dataplane_test

import (
	"cbac/packet"
)

// splitRST separates TCP RSTs from the other frames of a port's output.
func splitRST(frames [][]byte) (other, rsts [][]byte) {
	for _, f := range frames {
		ip := packet.IPv4(f[packet.EthernetHeaderLen:])
		if ip.Protocol() == packet.ProtoTCP && packet.TCP(ip.Payload()).Flags()&packet.RST != 0 {
			rsts = append(rsts, f)
		} else {
			other = append(other, f)
		}
	}
	return other, rsts
}
