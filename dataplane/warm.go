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
// of the whole batch overlap; process then finds everything in the cache,
// and confirms the session index warming found (the frame's hint) with
// one comparison of keys (Table.Match) instead of hashing and probing
// again. The batch is warmed and processed in chunks (chunkLen).
//
// Warming only reads: a malformed frame or a wrong key costs a useless load,
// never a wrong decision (process parses and checks every frame itself, and
// a hint gone stale, its session deleted or its index reused by an earlier
// frame of the chunk, does not Match and costs a Lookup).

// warmChunk is how many frames are warmed, then processed, at a time: the
// misses of 16 independent lookups overlap about as well as those of 64,
// and the lines warmed are still in L1 when their frame comes. At most
// warmChunkMax.
var warmChunk = 16

// warmChunkMax bounds warmChunk: the size of the per-chunk arrays.
const warmChunkMax = flowtable.WarmMax

// chunkLen is the length of the next chunk when left frames of a batch
// remain: the batch is cut into as few chunks as warmChunk allows, of
// about equal lengths, so that no short last chunk (33 frames: 11+11+11,
// not 16+16+1) goes unwarmed under warmMin and pays its misses one by one.
func chunkLen(left int) int {
	c := min(warmChunk, warmChunkMax)
	n := (left + c - 1) / c
	return (left + n - 1) / n
}

// warmMin is the smallest batch worth warming: for a frame or two the extra
// pass costs more than it overlaps.
var warmMin = 4

// warmTable is the smallest number of live sessions worth warming for:
// below it (a few MB of sessions) the table stays in the caches and the
// pass would only add its own cost (~20 ns per packet). A variable so that
// tests run their scenarios with warming on (TestWarmChangesNothing), as
// warmMin is.
var warmTable = 1 << 15

// warm loads the table slots, entries and sessions the frames of rx (a
// chunk of at most warmChunkMax frames) will look up, and sets
// w.warmHint[i] to the session index warming found for rx[i], 0 for none:
// process confirms it with Table.Match instead of a second hash and probe.
// Without warming every hint is 0.
func (w *Worker) warm(rx []Desc) {
	n := min(len(rx), warmChunkMax)
	clear(w.warmHint[:n])
	if n < warmMin || w.table.Len() < warmTable {
		return
	}
	keys := w.warmKeys[:n]
	m := 0
	for i := range rx[:n] {
		if readKey(w.frame(&rx[i]), &keys[m]) {
			w.warmPos[m] = uint8(i)
			m++
		}
	}
	w.warmKeys = keys[:m]
	w.warmSessions()
}

// warmSessions loads the table slots, entries and sessions of w.warmKeys
// and sets the hint of the frame of each key (w.warmPos).
func (w *Worker) warmSessions() {
	keys := w.warmKeys
	idx := w.warmIdx[:len(keys)]
	w.table.Warm(keys, idx)
	var sink uint64
	for j, i := range idx {
		sink += warmSession(&w.sess[i]) // w.sess[0] for none: harmless
		w.warmHint[w.warmPos[j]] = i
	}
	w.warmSink = sink
}

// warmSession reads one field on every cache line of s (see Session).
func warmSession(s *Session) uint64 {
	return uint64(s.Kind) + uint64(s.host) + uint64(s.nextHop[1]) + s.Bytes[0] + s.Bytes[1]
}

// readKey sets *k to the session key of a TCP or UDP packet in an
// Ethernet frame, as pkt.key gives it after parseIPv4, read with bounds
// checks only (no checksum, no length consistency); fragments, ICMP and
// everything else report false and leave *k as it was. The fields are
// written one by one: warm reads them back field by field (hashing), and
// a key built whole on the stack and copied as 16 bytes would wait for
// the narrower stores that built it (a store-forwarding stall, some 5 ns a
// frame).
func readKey(frame []byte, k *flowtable.Key) bool {
	if len(frame) < packet.EthernetHeaderLen {
		return false
	}
	eth := packet.Ethernet(frame)
	if eth.Type() != packet.EtherTypeIPv4 {
		return false
	}
	ip := packet.IPv4(eth.Payload())
	if !ip.IsValid() || ip.IsFragment() {
		return false
	}
	proto := ip.Protocol()
	if proto != packet.ProtoTCP && proto != packet.ProtoUDP {
		return false
	}
	l4 := ip.Payload()
	if len(l4) < 4 {
		return false
	}
	k.Src, k.Dst = ip.Src(), ip.Dst()
	k.SrcPort = uint16(l4[0])<<8 | uint16(l4[1])
	k.DstPort = uint16(l4[2])<<8 | uint16(l4[3])
	k.Proto = proto
	return true
}
