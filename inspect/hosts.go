package inspect

import "math/bits"

// host is the per-destination state of "ip inspect tcp max-incomplete host":
// the half-open TCP sessions to addr on this worker, and a block.
type host struct {
	addr    uint32
	count   int32
	until   int64 // blocked until (exclusive); valid when blocked
	used    bool
	blocked bool
	alerted bool // HOST_TCP_ALERT_ON logged for the current excess
}

// hostTable is a fixed-size open-addressing map (linear probing, load <=
// 0.5, deletion by Knuth's algorithm R) from a destination address to its
// host state. It holds at most max hosts; beyond that new hosts are not
// tracked (the caller counts the overflow). An entry lives while the host
// has half-open sessions or is blocked.
type hostTable struct {
	slots []host
	mask  uint32
	shift uint
	seed  uint64
	n     int
	max   int
}

func newHostTable(max int, seed uint64) hostTable {
	size := 1 << bits.Len(uint(2*max-1))
	if size < 2 {
		size = 2
	}
	return hostTable{
		slots: make([]host, size),
		mask:  uint32(size - 1),
		shift: uint(64 - bits.Len(uint(size-1))),
		seed:  seed | 1,
		max:   max,
	}
}

func (t *hostTable) home(addr uint32) uint32 {
	h := (uint64(addr) ^ t.seed) * 0x9e3779b97f4a7c15
	h ^= h >> 29
	h *= t.seed | 1
	return uint32(h>>t.shift) & t.mask
}

// get returns the state of addr, or nil.
func (t *hostTable) get(addr uint32) *host {
	for i := t.home(addr); ; i = (i + 1) & t.mask {
		h := &t.slots[i]
		if !h.used {
			return nil
		}
		if h.addr == addr {
			return h
		}
	}
}

// getOrAdd returns the state of addr, adding it when absent; nil when the
// table holds max hosts already.
func (t *hostTable) getOrAdd(addr uint32) *host {
	i := t.home(addr)
	for ; t.slots[i].used; i = (i + 1) & t.mask {
		if t.slots[i].addr == addr {
			return &t.slots[i]
		}
	}
	if t.n >= t.max {
		return nil
	}
	t.n++
	t.slots[i] = host{addr: addr, used: true}
	return &t.slots[i]
}

// remove deletes addr's entry. Entries after it may move: pointers from get
// are invalid afterwards.
func (t *hostTable) remove(addr uint32) {
	i := t.home(addr)
	for t.slots[i].addr != addr || !t.slots[i].used {
		if !t.slots[i].used {
			return
		}
		i = (i + 1) & t.mask
	}
	t.n--
	j := i
	for {
		j = (j + 1) & t.mask
		if !t.slots[j].used {
			break
		}
		home := t.home(t.slots[j].addr)
		if (j-home)&t.mask < (j-i)&t.mask {
			continue // its home is in (i, j]: it stays
		}
		t.slots[i] = t.slots[j]
		i = j
	}
	t.slots[i] = host{}
}
