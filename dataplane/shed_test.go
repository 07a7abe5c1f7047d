package dataplane

import "testing"

// TestShedControl drives the controller with virtual time: a full ring
// raises the share towards its cap; a ring held at the target level holds
// it; a growing ring raises it and a shrinking one lowers it, at once; a
// drained ring lowers it to zero; off turns it off.
func TestShedControl(t *testing.T) {
	const size = 2048
	const ms = int64(1e6)
	target := uint32(shedTarget * size)
	var c shedControl
	now := int64(0)
	// feed gives backlog b(i) every 100 us for ticks ms and returns the
	// last threshold; ticks end on whole milliseconds.
	feed := func(ticks int, b func(i int) uint32) uint32 {
		var th uint32
		for i := 0; i < ticks*10; i++ {
			now += ms / 10
			th, _ = c.observe(now, b(i), size)
		}
		return th
	}
	at := func(v uint32) func(int) uint32 { return func(int) uint32 { return v } }
	c.observe(now, target, size)
	if th := feed(5, at(target)); th != 0 {
		t.Fatalf("ring at the target from rest: threshold %#x, want 0", th)
	}
	prev := uint32(0)
	for i := 0; i < 5; i++ {
		th := feed(1, at(size))
		if th <= prev {
			t.Fatalf("tick %d of a full ring: threshold %#x after %#x, want a rise", i, th, prev)
		}
		prev = th
	}
	if th := feed(200, at(size)); th != shedCap {
		t.Fatalf("full for 200 ms: threshold %#x, want the cap %#x", th, shedCap)
	}
	// Back to the target level: the shrink lowers it once, then it holds.
	feed(1, at(target))
	held := feed(1, at(target))
	if held >= shedCap {
		t.Fatalf("the ring shrank from full to the target: threshold %#x, want lower than the cap", held)
	}
	if th := feed(20, at(target)); th != held {
		t.Fatalf("ring at the target changed the threshold: %#x -> %#x", held, th)
	}
	// Growing by a tenth of the ring in a tick: it rises.
	grow := func(i int) uint32 { return target + uint32(i+1)*size/100 }
	if th := feed(1, grow); th <= held {
		t.Fatalf("a ring that grew by a tenth: threshold %#x, want above %#x", th, held)
	}
	// Drained: falls to zero.
	if th := feed(100, at(0)); th != 0 {
		t.Fatalf("100 ms drained: threshold %#x, want 0", th)
	}
	feed(20, at(size))
	if !c.off() || c.off() {
		t.Fatal("off: want true then false")
	}
	if th, _ := c.observe(now, 0, size); th != 0 {
		t.Fatalf("after off: threshold %#x", th)
	}
}
