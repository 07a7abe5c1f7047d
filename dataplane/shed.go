package dataplane

// SYN shedding under overload (the XDP program's step, xsk/shed.go): with
// [tcp_intercept] configured, each worker watches the backlog of its RX
// rings and sets, per device, the share of pure SYNs that the XDP program
// drops before they reach the ring. Every millisecond the share moves by
// what the ring did in that tick (its growth, the frames that arrived
// beyond what the worker took: raised when it grew, lowered when it
// shrank) plus a little towards keeping the ring a quarter full (raised
// while above, lowered while below): a proportional-integral controller on
// the ring's level, which settles near the share that the worker's
// capacity needs instead of swinging between none and nearly all (each
// swing to nearly all would shed legitimate clients' retransmitted SYNs
// too). So under a SYN flood that the worker cannot answer at the rate it
// arrives, the ring keeps room for the ACKs that complete handshakes
// (lost, they would leave a server-first client waiting forever) and for
// established sessions' segments; legitimate clients whose SYNs are shed
// retransmit them.

const (
	shedTick = int64(1e6)             // ns between decisions
	shedCap  = ^uint32(0) / 256 * 255 // never shed every SYN
	shedMin  = ^uint32(0) / 256       // below this the share falls to 0
)

// shedControl is one RX ring's controller; pure, driven by time passed in.
type shedControl struct {
	share   float64 // 0..shedCap as a fraction
	tickEnd int64   // 0: not started
	first   uint32  // the tick's first backlog
	started bool    // first is set
}

// The controller's gains per tick: the share moves by shedGrowth times the
// ring's growth in the tick and by shedLevel times its level's distance
// from shedTarget, both as fractions of the ring.
const (
	shedGrowth = 1.0
	shedLevel  = 0.05
	shedTarget = 0.25 // the ring's level the share holds
)

// observe records the ring's backlog (entries waiting, of size) at now and,
// when now ends a tick, decides. It returns the share as a threshold for
// the XDP program and whether that changed.
func (c *shedControl) observe(now int64, backlog, size uint32) (uint32, bool) {
	if c.tickEnd == 0 {
		c.tickEnd = now + shedTick
	}
	if !c.started {
		c.first, c.started = backlog, true
	}
	if now < c.tickEnd {
		return c.threshold(), false
	}
	old := c.threshold()
	growth := (float64(backlog) - float64(c.first)) / float64(size)
	level := float64(backlog)/float64(size) - shedTarget
	c.share += shedGrowth*growth + shedLevel*level
	c.share = min(max(c.share, 0), float64(shedCap)/(1<<32))
	if c.share < float64(shedMin)/(1<<32) && level < 0 {
		c.share = 0
	}
	c.tickEnd, c.first = now+shedTick, backlog
	t := c.threshold()
	return t, t != old
}

// threshold is the share as the XDP program compares it with a uniform
// 32-bit random number.
func (c *shedControl) threshold() uint32 { return uint32(c.share * (1 << 32)) }

// off returns the controller to no shedding; it reports whether the share
// was non-zero.
func (c *shedControl) off() bool {
	was := c.threshold() != 0
	*c = shedControl{}
	return was
}
