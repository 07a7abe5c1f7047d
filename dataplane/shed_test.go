package dataplane

import "testing"

// TestShedControl drives the controller with virtual time: a ring full
// through every tick raises the share towards its cap; a drained ring
// lowers it to zero; a ring between a quarter and three quarters full holds
// it; one drained moment in a tick stops a rise, and so does a ring that
// drains while still over three quarters full.
func TestShedControl(t *testing.T) {
	const size = 2048
	const ms = int64(1e6)
	var c shedControl
	now := int64(0)
	// run feeds backlog every 100 us for d and returns the last share;
	// ticks end on whole milliseconds.
	run := func(d int64, backlog uint32) uint32 {
		var share uint32
		for end := now + d; now < end; {
			now += ms / 10
			share, _ = c.observe(now, backlog, size)
		}
		return share
	}
	c.observe(now, 0, size)
	if s := run(5*ms, size/2); s != 0 {
		t.Fatalf("half-full ring from rest: share %d, want 0", s)
	}
	prev := uint32(0)
	for i := 0; i < 6; i++ {
		s := run(ms, size-10)
		if s <= prev {
			t.Fatalf("tick %d of a full ring: share %d after %d, want a rise", i, s, prev)
		}
		prev = s
	}
	if frac := float64(prev) / (1 << 32); frac < 0.7 {
		t.Fatalf("after 6 full ticks the share is %.2f, want > 0.7", frac)
	}
	s := run(100*ms, size)
	if s != shedCap {
		t.Fatalf("full for 100 ms: share %#x, want the cap %#x", s, shedCap)
	}
	if held := run(10*ms, size/2); held != s {
		t.Fatalf("half-full ring changed the share: %#x -> %#x", s, held)
	}
	// One drained moment in each tick: no rise.
	for i := 0; i < 10; i++ {
		run(ms/10, 0)
		run(ms-ms/10, size)
	}
	if got, _ := c.observe(now, size/2, size); got > s {
		t.Fatalf("ticks with a drained moment raised the share: %#x -> %#x", s, got)
	}
	// Drained: falls by an eighth a tick, to zero.
	if s := run(2*ms, 0); s >= shedCap || s == 0 {
		t.Fatalf("2 ms drained: share %#x, want lower but not zero yet", s)
	}
	if s := run(100*ms, 0); s != 0 {
		t.Fatalf("100 ms drained: share %#x, want 0", s)
	}
	// off reports a non-zero share once.
	run(20*ms, size)
	if !c.off() || c.off() {
		t.Fatal("off: want true then false")
	}
	if s, _ := c.observe(now, 0, size); s != 0 {
		t.Fatalf("after off: share %#x", s)
	}
	// Over three quarters but draining: held.
	mid := run(3*ms, size)
	if mid == 0 || mid == shedCap {
		t.Fatalf("3 full ticks from 0: share %#x", mid)
	}
	for i := 0; i < 10; i++ {
		for k := uint32(10); k > 0; k-- {
			now += ms / 10
			c.observe(now, size-size/8+k*8, size)
		}
	}
	if got, _ := c.observe(now, size/2, size); got != mid {
		t.Fatalf("a draining ring changed the share: %#x -> %#x", mid, got)
	}
}
