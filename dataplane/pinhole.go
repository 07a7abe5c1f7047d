package dataplane

import "sync/atomic"

// Pinholes: the data connections FTP control sessions announced, waiting
// for their SYN. A data connection's flow hashes to any worker (its
// ports are not the control connection's), so the table is the
// dataplane's, shared by the workers without a lock: each slot is a few
// atomic words, claimed by compare-and-swap on its state word, which also
// carries a generation so that a reference to a slot since reused is
// recognised. The packet path reads it only for a TCP SYN that matches no
// session while pinholes exist (one atomic load otherwise), and writes it
// only for FTP announcements and the data SYNs that use them.
//
// A slot's state word: generation<<2 | state, state pinFree, pinWriting
// (a worker fills it) or pinOpen. A pinhole leaves pinOpen when a SYN
// takes it, when its control session removes it (the session ended, or a
// newer announcement replaced it) or, once its deadline passed, when a
// new pinhole reuses the slot; an expired one is never taken.

const (
	pinFree uint64 = iota
	pinWriting
	pinOpen
)

// Pinhole flags: the control session's rule options the data session
// inherits.
const (
	pinAlert uint8 = 1 << iota
	pinAudit
)

// pinholeSlots is the table's size (a power of two); pinProbe how many
// slots from a key's hash a pinhole may sit in.
const (
	pinholeSlots = 4096
	pinProbe     = 8
)

type pinhole struct {
	state    atomic.Uint64
	addrs    atomic.Uint64 // src<<32 | dst
	meta     atomic.Uint64 // port<<48 | in<<40 | flags<<32 | parent
	deadline atomic.Int64
	_        [32]byte // one slot per cache line
}

type pinholeTable struct {
	open atomic.Int64 // slots in state pinOpen (expired ones included)
	// onOpen, if set (before the workers run), is called on the adding
	// worker's goroutine after each pinhole opens and before add returns,
	// so before the announcement that opened it is forwarded: the XDP
	// layer turns the program's cookie answers off for every queue there
	// (a data connection's SYN may arrive on any worker's queue, and must
	// reach a worker to find its pinhole).
	onOpen func()
	slots  [pinholeSlots]pinhole
}

func pinHash(src, dst uint32, port uint16) uint32 {
	h := (uint64(src)<<32 | uint64(dst)) * 0x9e3779b97f4a7c15
	h ^= uint64(port) * 0xc2b2ae3d27d4eb4f
	return uint32(h >> 40)
}

// add opens a pinhole for a TCP SYN from src to dst:port arriving on port
// in, until deadline; parent is the control session's SessionInfo.ID. It
// returns a reference for remove, or false when no slot is free (counted
// by the caller).
func (t *pinholeTable) add(src, dst uint32, port uint16, in uint8, flags uint8, parent uint32, deadline, now int64) (uint64, bool) {
	h := pinHash(src, dst, port)
	for i := uint32(0); i < pinProbe; i++ {
		slot := (h + i) & (pinholeSlots - 1)
		p := &t.slots[slot]
		st := p.state.Load()
		s := st & 3
		if s == pinWriting || s == pinOpen && p.deadline.Load() >= now {
			continue
		}
		gen := st>>2 + 1
		if !p.state.CompareAndSwap(st, gen<<2|pinWriting) {
			continue
		}
		p.addrs.Store(uint64(src)<<32 | uint64(dst))
		p.meta.Store(uint64(port)<<48 | uint64(in)<<40 | uint64(flags)<<32 | uint64(parent))
		p.deadline.Store(deadline)
		p.state.Store(gen<<2 | pinOpen)
		if s == pinFree {
			t.open.Add(1)
		}
		if t.onOpen != nil {
			t.onOpen()
		}
		return uint64(slot)<<32 | gen&0xffffffff, true
	}
	return 0, false
}

// take finds the open pinhole for a SYN from src to dst:port arriving on
// port in and closes it: the connection is admitted once. It returns the
// control session's ID and the flags.
func (t *pinholeTable) take(src, dst uint32, port uint16, in uint8, now int64) (parent uint32, flags uint8, ok bool) {
	h := pinHash(src, dst, port)
	addrs := uint64(src)<<32 | uint64(dst)
	for i := uint32(0); i < pinProbe; i++ {
		p := &t.slots[(h+i)&(pinholeSlots-1)]
		st := p.state.Load()
		if st&3 != pinOpen || p.addrs.Load() != addrs {
			continue
		}
		m := p.meta.Load()
		if uint16(m>>48) != port || uint8(m>>40) != in || p.deadline.Load() < now {
			continue
		}
		if p.state.CompareAndSwap(st, (st>>2+1)<<2|pinFree) {
			t.open.Add(-1)
			return uint32(m), uint8(m >> 32), true
		}
	}
	return 0, 0, false
}

// remove closes the pinhole ref names, unless it was taken or its slot
// reused since.
func (t *pinholeTable) remove(ref uint64) {
	p := &t.slots[(ref>>32)&(pinholeSlots-1)]
	gen := ref & 0xffffffff
	st := p.state.Load()
	if st&3 != pinOpen || st>>2&0xffffffff != gen {
		return
	}
	if p.state.CompareAndSwap(st, (st>>2+1)<<2|pinFree) {
		t.open.Add(-1)
	}
}

// OpenPinholes counts the pinholes waiting for their data connection
// (expired ones not yet reused included) and those past their deadline.
func (dp *Dataplane) OpenPinholes(now int64) (open, expired int) {
	for i := range dp.pins.slots {
		p := &dp.pins.slots[i]
		if p.state.Load()&3 == pinOpen {
			if p.deadline.Load() < now {
				expired++
			} else {
				open++
			}
		}
	}
	return open, expired
}
