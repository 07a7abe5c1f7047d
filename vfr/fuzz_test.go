package vfr

import (
	"testing"

	"cbac/packet"
)

// decodeStream turns fuzz bytes into events, 6 bytes each:
//
//	b0: bits 0-2 == 0: Expire; else Add, bits 3-4 the datagram ID, bits 5-6
//	    the protocol (TCP, UDP, ICMP, GRE)
//	b1, b2: offset: b1*8, or with b2 bit 7 the 13-bit field b1|b2<<8
//	b3, b4: length: b3*8, or b3 with b4 bit 0, plus 65000 with b4 bit 1;
//	    b4 bit 2 MF, bits 3-4 header options (4 bytes each), bits 5-7
//	    the TCP Data Offset above 5 in the first fragment's l4
//	b5: clock advance, 20 ms units
func decodeStream(data []byte) []event {
	protos := [4]uint8{packet.ProtoTCP, packet.ProtoUDP, packet.ProtoICMP, 47}
	var evs []event
	var now int64
	var handle uint64
	for ; len(data) >= 6; data = data[6:] {
		b := data[:6]
		now += int64(b[5]) * 20 * 1e6
		if b[0]&7 == 0 {
			evs = append(evs, event{at: now, expire: true})
			continue
		}
		k := Key{Src: 0x0a000001, Dst: 0xac160164, ID: uint16(b[0] >> 3 & 3), Proto: protos[b[0]>>5&3]}
		off := uint16(b[1]) * 8
		if b[2]&0x80 != 0 {
			off = (uint16(b[1]) | uint16(b[2])<<8) & 0x1fff * 8
		}
		n := uint16(b[3]) * 8
		if b[4]&1 != 0 {
			n = uint16(b[3])
		}
		if b[4]&2 != 0 {
			n += 65000
		}
		handle++
		f := Frag{Handle: handle, Aux: uint32(handle), Offset: off, Len: n, More: b[4]&4 != 0, HdrLen: 20 + 4*(b[4]>>3&3)}
		var l4 []byte
		if off == 0 {
			l4 = tcpHeader(min(int(n), 80), 5+int(b[4]>>5))
		}
		evs = append(evs, event{at: now, k: k, f: f, l4: l4})
	}
	return evs
}

// FuzzTable: random fragment streams never panic, never leak or double a
// handle, stay within the table's bounds and agree with the model.
func FuzzTable(f *testing.F) {
	// ID 1 TCP: first 24 bytes MF, then 8 bytes last: complete.
	f.Add([]byte{0x09, 0, 0, 3, 4, 0, 0x09, 3, 0, 1, 0, 1})
	// Overlap, then a poisoned follower.
	f.Add([]byte{0x29, 0, 0, 3, 4, 0, 0x29, 1, 0, 3, 4, 0, 0x29, 8, 0, 1, 0, 0})
	// Offset 8 TCP, tiny first fragment, timeout via Expire.
	f.Add([]byte{0x09, 1, 0, 2, 4, 0, 0x11, 0, 0, 2, 4, 0, 0x19, 0, 0, 3, 4, 0, 0, 0, 0, 0, 0, 200})
	// Ping of death.
	f.Add([]byte{0x49, 0, 0, 185, 4, 0, 0x49, 0xff, 0x9f, 185, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 6*2000 {
			return
		}
		run(t, 4, 8, decodeStream(data))
	})
}
