package dataplane

// SYN shedding under overload (the XDP program's step, xsk/shed.go): with
// [tcp_intercept] configured, each worker watches the backlog of its RX
// rings and sets, per device, the share of pure SYNs that the XDP program
// drops before they reach the ring. A ring that stays more than three
// quarters full through a control tick, and did not drain in it, raises
// the share a quarter of the way to its cap (a ring that drains is already
// shed enough: the backlog takes the worker milliseconds to clear, and
// raising on it would overshoot); a ring that stays under a quarter full
// lowers it by an eighth, to zero below 1/256; in between the share holds. So under a SYN
// flood that the worker cannot answer at the rate it arrives, the ring
// keeps room for the ACKs that complete handshakes (lost, they would leave
// a server-first client waiting forever) and for established sessions'
// segments; legitimate clients whose SYNs are shed retransmit them.

const (
	shedTick = int64(1e6)             // ns between decisions
	shedCap  = ^uint32(0) / 256 * 255 // never shed every SYN
	shedMin  = ^uint32(0) / 256       // below this the share falls to 0
)

// shedControl is one RX ring's controller; pure, driven by time passed in.
type shedControl struct {
	share   uint32 // threshold against a uniform 32-bit random number
	tickEnd int64  // 0: not started
	n       int    // samples in the current tick
	first   uint32 // the tick's first backlog
	peak    uint32 // its highest
	low     uint32 // its lowest
}

// observe records the ring's backlog (entries waiting, of size) at now and,
// when now ends a tick, decides on the samples of that tick (this one
// included). It returns the share and whether it changed.
func (c *shedControl) observe(now int64, backlog, size uint32) (uint32, bool) {
	if c.tickEnd == 0 {
		c.tickEnd = now + shedTick
	}
	if c.n == 0 {
		c.first, c.peak, c.low = backlog, backlog, backlog
	}
	c.n++
	c.peak = max(c.peak, backlog)
	c.low = min(c.low, backlog)
	if now < c.tickEnd {
		return c.share, false
	}
	old := c.share
	switch {
	case c.low > size/4*3 && backlog >= c.first: // full through the tick, not draining
		step := (shedCap - c.share) / 4
		c.share += max(step, min(shedMin*4, shedCap-c.share))
	case c.peak < size/4:
		c.share -= c.share / 8
		if c.share < shedMin {
			c.share = 0
		}
	}
	c.tickEnd, c.n = now+shedTick, 0
	return c.share, c.share != old
}

// off returns the controller to no shedding; it reports whether the share
// was non-zero.
func (c *shedControl) off() bool {
	was := c.share != 0
	*c = shedControl{}
	return was
}
