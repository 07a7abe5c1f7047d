package dataplane

import (
	"sync/atomic"

	"cbac/packet"
)

// Neighbors is the ARP cache shared by all workers: a fixed open-addressing
// table whose slots are written with atomics only, so readers on the packet
// path take no lock. A slot is claimed once (CAS on its key) and then only
// its MAC changes; entries are refreshed by ARP traffic and never aged out
// (cbacd owns the wire; a changed MAC arrives as ARP and overwrites).
type Neighbors struct {
	slots []neighborSlot
	mask  uint32
	full  atomic.Uint64 // learn attempts refused: table full
}

type neighborSlot struct {
	key atomic.Uint64 // (port+1)<<32 | ip; 0 = empty
	mac atomic.Uint64 // MAC in the low 48 bits; bit 63: static; 0 = unresolved
}

const (
	neighborProbe  = 32
	neighborStatic = uint64(1) << 63
)

// NewNeighbors makes a table with room for at least n entries.
func NewNeighbors(n int) *Neighbors {
	size := 1
	for size < 2*n {
		size <<= 1
	}
	return &Neighbors{slots: make([]neighborSlot, size), mask: uint32(size - 1)}
}

func neighborKey(port int, ip uint32) uint64 { return uint64(port+1)<<32 | uint64(ip) }

func neighborHash(k uint64) uint32 {
	k *= 0x9e3779b97f4a7c15
	return uint32(k >> 32)
}

func macToU64(m packet.MAC) uint64 {
	return uint64(m[0])<<40 | uint64(m[1])<<32 | uint64(m[2])<<24 | uint64(m[3])<<16 | uint64(m[4])<<8 | uint64(m[5])
}

func u64ToMAC(v uint64) (m packet.MAC) {
	m[0], m[1], m[2], m[3], m[4], m[5] = byte(v>>40), byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	return m
}

// Lookup returns the MAC of ip on port.
func (n *Neighbors) Lookup(port int, ip uint32) (packet.MAC, bool) {
	k := neighborKey(port, ip)
	h := neighborHash(k)
	for i := uint32(0); i < neighborProbe; i++ {
		s := &n.slots[(h+i)&n.mask]
		sk := s.key.Load()
		if sk == k {
			v := s.mac.Load()
			if v == 0 {
				return packet.MAC{}, false
			}
			return u64ToMAC(v &^ neighborStatic), true
		}
		if sk == 0 {
			break
		}
	}
	return packet.MAC{}, false
}

// Learn records ip -> mac on port. A static entry is never overwritten by a
// learned one. It reports false when the table has no room.
func (n *Neighbors) Learn(port int, ip uint32, mac packet.MAC, static bool) bool {
	k := neighborKey(port, ip)
	h := neighborHash(k)
	v := macToU64(mac)
	if static {
		v |= neighborStatic
	}
	for i := uint32(0); i < neighborProbe; i++ {
		s := &n.slots[(h+i)&n.mask]
		sk := s.key.Load()
		if sk == 0 && s.key.CompareAndSwap(0, k) {
			sk = k
		}
		if sk == k {
			if old := s.mac.Load(); old&neighborStatic != 0 && !static {
				return true
			}
			s.mac.Store(v)
			return true
		}
	}
	n.full.Add(1)
	return false
}

// Known reports whether ip on port has a slot (resolved or not); used to
// refresh only entries we asked for or already have (RFC 826 merge flag).
func (n *Neighbors) Known(port int, ip uint32) bool {
	k := neighborKey(port, ip)
	h := neighborHash(k)
	for i := uint32(0); i < neighborProbe; i++ {
		sk := n.slots[(h+i)&n.mask].key.Load()
		if sk == k {
			return true
		}
		if sk == 0 {
			return false
		}
	}
	return false
}

// Entry is one ARP cache line for `show arp`.
type NeighborEntry struct {
	Port   int
	Addr   uint32
	MAC    packet.MAC
	Static bool
}

// Entries lists the resolved entries (control plane).
func (n *Neighbors) Entries() []NeighborEntry {
	var out []NeighborEntry
	for i := range n.slots {
		k := n.slots[i].key.Load()
		v := n.slots[i].mac.Load()
		if k == 0 || v == 0 {
			continue
		}
		out = append(out, NeighborEntry{Port: int(k>>32) - 1, Addr: uint32(k), MAC: u64ToMAC(v &^ neighborStatic), Static: v&neighborStatic != 0})
	}
	return out
}

// pendingARP holds frames waiting for a next hop's MAC, per worker, bounded
// (docs/behaviour.md "The seed network": bounded queue, bounded retries).
type pendingARP struct {
	q     [arpQueueLen]pendingFrame
	n     int
	asked [arpQueueLen]arpAsk
}

type pendingFrame struct {
	d       Desc // d.Port is the egress port
	nextHop uint32
	since   int64
}

type arpAsk struct {
	ip    uint32
	port  uint8
	tries uint8
	last  int64
}

const (
	arpQueueLen    = 64
	arpRetryEvery  = int64(1e9)
	arpMaxTries    = 3
	arpGiveUpAfter = int64(3e9)
)
