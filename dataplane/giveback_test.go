package dataplane_test

import (
	"testing"
	"time"
)

// Traffic received on one worker's queue for sessions the other worker
// owns is handed over, transmitted by the owner and completed into its
// pool; the owner gives a free frame back for each, so the receiving
// worker's pool never runs dry. Without it, after about one pool's worth
// of hand-overs every frame on worker 0's queue was dropped for want of a
// fill frame.
func TestHandOverGivesFramesBack(t *testing.T) {
	rs := compile(t, ckConfig(t, ""))
	dp, qs := twoWorkers(t, rs)
	now := int64(time.Hour)
	delivered := 0
	step := func() {
		now += int64(time.Millisecond)
		dp.Workers[0].Step(now)
		dp.Workers[1].Step(now)
		for w := 0; w < 2; w++ {
			for p := range qs[w] {
				delivered += qs[w][p].Drain(func([]byte) {})
			}
		}
	}
	// 64 UDP flows from the inside host, all received on worker 0's
	// queue: those owned by worker 1 are handed over, frame after frame,
	// ten times the UMEM's frames in all.
	const flows, perStep, steps = 64, 32, 10 * twoWorkerFrames / 32
	payload := make([]byte, 200)
	injected := 0
	for s := 0; s < steps; s++ {
		for i := 0; i < perStep; i++ {
			f := ckInsideOut.at(uint16(20000+(s*perStep+i)%flows), 53)
			if qs[0][portIn].Inject(writeUDP(make([]byte, 512), &f, payload)) {
				injected++
			}
		}
		step()
	}
	for i := 0; i < 4; i++ {
		step()
	}
	w0, w1 := &dp.Workers[0].Stats, &dp.Workers[1].Stats
	if lost := qs[0][portIn].Dropped(); lost != 0 {
		t.Errorf("%d of %d frames found worker 0's fill ring empty (handed over %d, given back %d)",
			lost, steps*perStep, w0.HandedOver, w1.FramesGivenBack)
	}
	if w0.HandedOver < twoWorkerFrames {
		t.Errorf("worker 0 handed over %d frames, want more than the UMEM's %d", w0.HandedOver, twoWorkerFrames)
	}
	if delivered != injected {
		t.Errorf("delivered %d of %d injected frames", delivered, injected)
	}
	if w1.FramesGivenBack+uint64(twoWorkerFrames) < w0.HandedOver {
		t.Errorf("worker 1 gave back %d frames for %d handed over", w1.FramesGivenBack, w0.HandedOver)
	}
	free0, total := dp.Workers[0].FramesFree()
	free1, _ := dp.Workers[1].FramesFree()
	t.Logf("handed over %d, given back %d; free frames: worker 0 %d, worker 1 %d (of %d)", w0.HandedOver, w1.FramesGivenBack, free0, free1, total)
}
