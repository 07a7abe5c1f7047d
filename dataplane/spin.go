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
// its batches come back at least half full) the next frames are already
// on their way and a sleep would only add wake-ups: it polls for up to
// spinMax. When it keeps up (small batches, as under an MTA's or any
// request/response load at moderate rates) it polls for about what a
// wake-up costs, spinWake, and then sleeps: the frames that follow a
// frame closely (an ACK, the rest of a burst) are caught without a
// wake-up, and a wait that lasts longer costs at most twice what
// sleeping at once would have (the rent-or-buy bound), instead of
// keeping a core that the processes making the traffic need.
//
// Neither "the batch after a batch with frames had frames" nor a mean of
// a few frames per batch tells a backlog on veth: the frames a worker
// transmits are received by the peer in the same system call, whose
// replies come straight back to its receive ring, and when the kernel's
// receive work runs on the worker's CPU a woken worker finds every frame
// that softirq delivered before it ran. Under Postfix's smtp-source with
// 16 sessions either signal kept the worker polling (measured:
// bench/results/mta/SUMMARY.md); a half-full batch needs more frames in
// flight than such a load has.
const (
	spinMax  = int64(200 * time.Microsecond)
	spinWake = int64(10 * time.Microsecond)
	// spinFull: a batch of this many frames (of 64 per device) is a
	// backlog's.
	spinFull = 32
	// spinBacklog is the share (of 256) of full batches among the batches
	// with frames from which the worker counts as backlogged.
	spinBacklog = 128
)

// spinPolicy is one worker's adaptive spin state, updated once per batch
// from the batch's frame count and the clock read the batch already made.
type spinPolicy struct {
	last int64 // time of the last batch with frames
	// full is the share (of 256) of batches with frames that held at least
	// spinFull: a moving average, weight 1/8.
	full int64
}

// observe records a batch of n frames at now.
func (p *spinPolicy) observe(now int64, n int) {
	if n <= 0 {
		return
	}
	p.last = now
	var hit int64
	if n >= spinFull {
		hit = 256
	}
	p.full += hit/8 - p.full/8
}

// budget is how long after its last frame the worker keeps polling.
func (p *spinPolicy) budget() int64 {
	if p.full >= spinBacklog {
		return spinMax
	}
	return spinWake
}

// sleep reports whether the worker, at now after a batch without frames,
// should sleep in poll(2).
func (p *spinPolicy) sleep(now int64) bool { return now-p.last > p.budget() }
