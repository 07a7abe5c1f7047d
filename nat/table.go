// Package nat implements static NAT (IOS "ip nat inside source static"):
// an immutable table of inside local <-> inside global address pairs, a
// per-flow precomputed Rewrite that translates addresses and fixes the IPv4
// and TCP/UDP checksums incrementally (RFC 1624), and the translation of the
// datagram quoted inside ICMP errors.
//
// Vocabulary (IOS): the inside local address is the inside host's real
// address (10.10.10.2), the inside global its address as the outside sees it
// (172.22.1.110). Static inside NAT rewrites the source of packets going out
// (local -> global) and the destination of packets coming in (global ->
// local); ports are never changed.
package nat

import (
	"errors"
	"fmt"

	"cbac/packet"
)

// Sentinel errors returned (wrapped) by NewTable.
var (
	// ErrDuplicateInsideLocal: an inside local address appears in two pairs.
	ErrDuplicateInsideLocal = errors.New("inside local address mapped twice")
	// ErrDuplicateInsideGlobal: an inside global address appears in two
	// pairs (two inside hosts behind one global address needs PAT).
	ErrDuplicateInsideGlobal = errors.New("inside global address mapped twice")
	// ErrInvalidAddress: 0.0.0.0, multicast, class E or broadcast.
	ErrInvalidAddress = errors.New("not a unicast address")
)

// Static is one "ip nat inside source static LOCAL GLOBAL" pair.
type Static struct {
	InsideLocal  uint32
	InsideGlobal uint32
}

// Table is an immutable static NAT table, safe for concurrent lookups.
type Table struct {
	pairs []Static
	l2g   addrMap
	g2l   addrMap
}

// NewTable builds a table from pairs, in configuration order. Each inside
// local and each inside global address may appear once; an address may be
// the inside local of one pair and the inside global of another (they live
// in different address spaces).
func NewTable(pairs []Static) (*Table, error) {
	t := &Table{
		pairs: append([]Static(nil), pairs...),
		l2g:   newAddrMap(len(pairs)),
		g2l:   newAddrMap(len(pairs)),
	}
	for i, p := range pairs {
		if !isUnicast(p.InsideLocal) {
			return nil, fmt.Errorf("static nat %d (%s -> %s): inside local: %w",
				i, packet.IPString(p.InsideLocal), packet.IPString(p.InsideGlobal), ErrInvalidAddress)
		}
		if !isUnicast(p.InsideGlobal) {
			return nil, fmt.Errorf("static nat %d (%s -> %s): inside global: %w",
				i, packet.IPString(p.InsideLocal), packet.IPString(p.InsideGlobal), ErrInvalidAddress)
		}
		if g, ok := t.l2g.get(p.InsideLocal); ok {
			return nil, fmt.Errorf("static nat %d (%s -> %s): %s is already translated to %s: %w",
				i, packet.IPString(p.InsideLocal), packet.IPString(p.InsideGlobal),
				packet.IPString(p.InsideLocal), packet.IPString(g), ErrDuplicateInsideLocal)
		}
		if l, ok := t.g2l.get(p.InsideGlobal); ok {
			return nil, fmt.Errorf("static nat %d (%s -> %s): %s is already the global address of %s: %w",
				i, packet.IPString(p.InsideLocal), packet.IPString(p.InsideGlobal),
				packet.IPString(p.InsideGlobal), packet.IPString(l), ErrDuplicateInsideGlobal)
		}
		t.l2g.put(p.InsideLocal, p.InsideGlobal)
		t.g2l.put(p.InsideGlobal, p.InsideLocal)
	}
	return t, nil
}

// LocalToGlobal returns the inside global address of inside local a.
func (t *Table) LocalToGlobal(a uint32) (uint32, bool) { return t.l2g.get(a) }

// GlobalToLocal returns the inside local address of inside global a.
func (t *Table) GlobalToLocal(a uint32) (uint32, bool) { return t.g2l.get(a) }

// Pairs returns a copy of the pairs in configuration order.
func (t *Table) Pairs() []Static { return append([]Static(nil), t.pairs...) }

// Len returns the number of pairs.
func (t *Table) Len() int { return len(t.pairs) }

// Outbound returns the rewrite for a packet from src to dst going from the
// inside to the outside: src, if it is a mapped inside local, becomes its
// inside global. dst is kept.
func (t *Table) Outbound(src, dst uint32) Rewrite {
	if g, ok := t.l2g.get(src); ok {
		return NewRewrite(src, g, dst, dst)
	}
	return Rewrite{}
}

// Inbound returns the rewrite for a packet from src to dst coming from the
// outside: dst, if it is a mapped inside global, becomes its inside local.
// src is kept.
func (t *Table) Inbound(src, dst uint32) Rewrite {
	if l, ok := t.g2l.get(dst); ok {
		return NewRewrite(src, src, dst, l)
	}
	return Rewrite{}
}

func isUnicast(a uint32) bool { return a != 0 && a>>28 < 0xe }

// addrMap is an immutable-once-built open-addressing map from a non-zero
// IPv4 address to another, with linear probing and Fibonacci hashing. It
// has at least twice as many slots as entries, so a probe always ends at an
// empty slot (key 0).
type addrMap struct {
	slots []addrSlot
	shift uint8
	mask  uint32
}

type addrSlot struct{ key, val uint32 }

func newAddrMap(n int) addrMap {
	bits := uint8(2)
	for 1<<bits < 2*n {
		bits++
	}
	return addrMap{slots: make([]addrSlot, 1<<bits), shift: 32 - bits, mask: 1<<bits - 1}
}

func (m *addrMap) index(k uint32) uint32 { return (k * 0x9e3779b1) >> m.shift }

// put inserts k (non-zero, not present).
func (m *addrMap) put(k, v uint32) {
	i := m.index(k)
	for m.slots[i].key != 0 {
		i = (i + 1) & m.mask
	}
	m.slots[i] = addrSlot{k, v}
}

func (m *addrMap) get(k uint32) (uint32, bool) {
	if k == 0 {
		return 0, false
	}
	i := m.index(k)
	for {
		s := m.slots[i]
		if s.key == k {
			return s.val, true
		}
		if s.key == 0 {
			return 0, false
		}
		i = (i + 1) & m.mask
	}
}
