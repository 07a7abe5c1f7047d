package dataplane

import (
	"fmt"
	"strings"
	"time"
)

// SpinAuto (XDPOptions.Spin) lets each worker choose how long it polls its
// rings after the last frame before it sleeps in poll(2): the adaptive
// policy of spinPolicy.
const SpinAuto time.Duration = 0

// SpinNever (XDPOptions.Spin) makes a worker sleep in poll(2) after the
// first batch without frames.
const SpinNever time.Duration = -1

// ParseSpin reads cbacd -spin: "auto" (adaptive), "never", or a duration
// ("200us", "50µs", "1ms") from 1µs to 1s that a worker keeps polling after
// its last frame.
func ParseSpin(s string) (time.Duration, error) {
	switch strings.TrimSpace(s) {
	case "auto", "":
		return SpinAuto, nil
	case "never", "0", "0s":
		return SpinNever, nil
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("-spin %q: want auto, never or a duration such as 200us or 1ms", s)
	}
	if d < time.Microsecond || d > time.Second {
		return 0, fmt.Errorf("-spin %q: want a duration from 1us to 1s (or auto, never)", s)
	}
	return d, nil
}

// Adaptive spin. Polling the rings without frames costs the whole wait;
// sleeping in poll(2) costs a wake-up (a context switch and the kernel's
// wake path, some µs of CPU) per batch and that much latency. While the
// worker has a backlog (frames arrive faster than it forwards them, so
// the batch after a batch with frames has frames again) the next frames
// are already on their way and a sleep would only add wake-ups: it polls
// for up to spinMax. When it keeps up (the batch after a batch with
// frames mostly finds none, as under an MTA's or any request/response
// load at moderate rates) it polls for about what a wake-up costs,
// spinWake, and then sleeps: the frames that follow a frame closely (an
// ACK, the rest of a burst) are caught without a wake-up, and a wait
// that lasts longer costs at most twice what sleeping at once would have
// (the rent-or-buy bound), instead of keeping a core the processes that
// make the traffic need. Batch size alone does not tell a backlog: when
// the kernel's receive work runs on the worker's CPU, a woken worker
// finds every frame that softirq delivered before it ran.
const (
	spinMax  = int64(200 * time.Microsecond)
	spinWake = int64(10 * time.Microsecond)
	// spinBacklog is the share (of 256) of batches with frames that came
	// straight after a batch with frames from which the worker counts as
	// backlogged.
	spinBacklog = 192
)

// spinPolicy is one worker's adaptive spin state, updated once per batch
// from the batch's frame count and the clock read the batch already made.
type spinPolicy struct {
	last int64 // time of the last batch with frames
	// busy is the share (of 256) of batches with frames that followed a
	// batch with frames (no empty batch, no sleep between): a moving
	// average, weight 1/8.
	busy int64
	prev bool // the previous batch had frames
}

// observe records a batch of n frames at now (every batch, empty or not).
func (p *spinPolicy) observe(now int64, n int) {
	if n <= 0 {
		p.prev = false
		return
	}
	p.last = now
	var hit int64
	if p.prev {
		hit = 256
	}
	p.busy += hit/8 - p.busy/8
	p.prev = true
}

// budget is how long after its last frame the worker keeps polling.
func (p *spinPolicy) budget() int64 {
	if p.busy >= spinBacklog {
		return spinMax
	}
	return spinWake
}

// sleep reports whether the worker, at now after a batch without frames,
// should sleep in poll(2).
func (p *spinPolicy) sleep(now int64) bool { return now-p.last > p.budget() }
