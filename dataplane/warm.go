package dataplane

import (
	"cbac/flowtable"
	"cbac/packet"
)

// Warming (stage 3 of a batch, before the frames are processed one by one).
//
// With a large session table every packet's lookup misses the caches three
// times, one miss waiting for the other: the index slot, the table entry,
// then the session payload. Processed one frame at a time, a batch of 64
// waits for 192 misses in a row (~600 ns per packet with a million
// sessions on the test machines). warm first reads the 5-tuple of every
// TCP and UDP frame of the batch, has the table load their slots and
// entries (flowtable.Table.Warm), then loads their sessions, so the misses
// of the whole batch overlap; process then finds everything in the cache.
//
// Warming only reads: a malformed frame or a wrong key costs a useless load,
// never a wrong decision (process parses and checks every frame itself).

// warmChunk is how many frames are warmed, then processed, at a time: the
// misses of 16 independent lookups overlap about as well as those of 64,
// and the lines warmed are still in L1 when their frame comes.
var warmChunk = 16

// warmMin is the smallest batch worth warming: for a frame or two the extra
// pass costs more than it overlaps.
var warmMin = 4

// warmTable is the smallest number of live sessions worth warming for:
// below it (a few MB of sessions) the table stays in the caches and the
// pass would only add its own cost (~20 ns per packet). A variable so that
// tests run their scenarios with warming on (TestWarmChangesNothing), as
// warmMin is.
var warmTable = 1 << 15

// warm loads the table slots, entries and sessions the frames of rx will
// look up.
func (w *Worker) warm(rx []Desc) {
	if len(rx) < warmMin || w.table.Len() < warmTable {
		return
	}
	keys := w.warmKeys[:0]
	for i := range rx {
		if len(keys) == cap(keys) {
			break
		}
		if k, ok := peekKey(w.frame(&rx[i])); ok {
			keys = append(keys, k)
		}
	}
	w.warmKeys = keys
	w.warmSessions(keys)
}

// warmSessions loads the table slots, entries and sessions of keys.
func (w *Worker) warmSessions(keys []flowtable.Key) {
	idx := w.table.Warm(keys, w.warmIdx[:0])
	var sink uint64
	for _, i := range idx {
		sink += warmSession(&w.sess[i])
	}
	w.warmSink = sink
	w.warmIdx = idx
}

// warmSession reads one field on every cache line of s (see Session).
func warmSession(s *Session) uint64 {
	return uint64(s.Kind) + uint64(s.host) + uint64(s.nextHop[1]) + s.Bytes[0] + s.Bytes[1]
}

// peekKey is the session key of a TCP or UDP packet in an Ethernet frame,
// as pkt.key gives it after parseIPv4, read with bounds checks only (no
// checksum, no length consistency). Fragments, ICMP and everything else
// report false.
func peekKey(frame []byte) (flowtable.Key, bool) {
	if len(frame) < packet.EthernetHeaderLen {
		return flowtable.Key{}, false
	}
	eth := packet.Ethernet(frame)
	if eth.Type() != packet.EtherTypeIPv4 {
		return flowtable.Key{}, false
	}
	ip := packet.IPv4(eth.Payload())
	if !ip.IsValid() || ip.IsFragment() {
		return flowtable.Key{}, false
	}
	proto := ip.Protocol()
	if proto != packet.ProtoTCP && proto != packet.ProtoUDP {
		return flowtable.Key{}, false
	}
	l4 := ip.Payload()
	if len(l4) < 4 {
		return flowtable.Key{}, false
	}
	return flowtable.Key{
		Src:     ip.Src(),
		Dst:     ip.Dst(),
		SrcPort: uint16(l4[0])<<8 | uint16(l4[1]),
		DstPort: uint16(l4[2])<<8 | uint16(l4[3]),
		Proto:   proto,
	}, true
}
