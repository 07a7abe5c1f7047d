package inspect

import "sync/atomic"

// Aggressive-mode triggers, bits of Shared.mode. IOS has one aggressive mode
// entered by either threshold; each trigger keeps its own hysteresis
// (enter above high, leave below low) and the mode ends when neither holds.
const (
	modeCount uint32 = 1 << iota // max-incomplete: half-open count > high
	modeRate                     // one-minute: new sessions in the last minute > high
)

// windowSeconds is the length of the one-minute rate window.
const windowSeconds = 60

// Shared is the state IOS keeps globally and cbac shares between the
// workers' Admission instances: the half-open session count, the one-minute
// new-session rate window and the aggressive mode. Only atomics, no locks;
// with one worker the behaviour is exactly IOS's.
//
// The rate window (decision; IOS "one-minute (sampling period)"): 60
// one-second buckets. The rate at now is the number of sessions created in
// the current second and the 59 seconds before it, i.e. sessions whose
// creation second is > second(now) - 60. It is updated on every new session,
// so crossing one-minute high is seen at the session that crosses it, and
// it falls a second at a time.
type Shared struct {
	halfOpen atomic.Int64  // half-open sessions, all workers
	cur      atomic.Int64  // sessions created in second curSec
	sum      atomic.Int64  // sessions created in seconds [curSec-59, curSec-1]
	mode     atomic.Uint32 // modeCount | modeRate
	created  atomic.Uint64 // sessions created since start

	_        [64]byte // the fields above are written per new session; the ones below about once a second
	curSec   atomic.Int64
	rotating atomic.Bool // try-lock of the window rotation: losers never wait
	ring     [windowSeconds]atomic.Int64
	maxHalf  atomic.Int64
	maxRate  atomic.Int64
}

// HalfOpen is the current number of half-open sessions.
func (s *Shared) HalfOpen() int { return int(s.halfOpen.Load()) }

// Rate is the number of sessions created in the last minute as of the last
// rotation of the window (see the type comment).
func (s *Shared) Rate() int { return int(s.sum.Load() + s.cur.Load()) }

// Aggressive reports whether aggressive mode is on.
func (s *Shared) Aggressive() bool { return s.mode.Load() != 0 }

// Created is the number of sessions created since start
// (show ip inspect statistics "Session creations since subsystem startup").
func (s *Shared) Created() uint64 { return s.created.Load() }

// MaxHalfOpen and MaxRate are the highest half-open count and one-minute rate
// seen at a new session ("Maxever" in show ip inspect statistics).
func (s *Shared) MaxHalfOpen() int { return int(s.maxHalf.Load()) }

// MaxRate: see MaxHalfOpen.
func (s *Shared) MaxRate() int { return int(s.maxRate.Load()) }

// second is floor(now / 1 s).
func second(now int64) int64 {
	s := now / 1e9
	if now < 0 && s*1e9 != now {
		s--
	}
	return s
}

// advance rotates the rate window to the second of now. Only one worker
// rotates at a time; a worker that finds the rotation taken goes on, and its
// new sessions count in the second being closed (off by at most one second,
// only with several workers).
func (s *Shared) advance(now int64) {
	b := second(now)
	if b <= s.curSec.Load() || !s.rotating.CompareAndSwap(false, true) {
		return
	}
	a := s.curSec.Load()
	if b > a {
		c := s.cur.Swap(0) // sessions of second a
		// Seconds leaving the window: [a-59, min(b-60, a-1)].
		last := min(b-windowSeconds, a-1)
		for sec := a - (windowSeconds - 1); sec <= last; sec++ {
			slot := &s.ring[mod(sec)]
			s.sum.Add(-slot.Swap(0))
		}
		if a > b-windowSeconds { // second a is still inside the window
			s.ring[mod(a)].Store(c)
			s.sum.Add(c)
		}
		s.curSec.Store(b)
	}
	s.rotating.Store(false)
}

func mod(sec int64) int {
	m := sec % windowSeconds
	if m < 0 {
		m += windowSeconds
	}
	return int(m)
}

// setMode turns a trigger bit on or off and reports the transition of the
// whole mode: +1 entered aggressive mode, -1 left it, 0 no change. The
// worker whose CAS makes the transition emits the event, so it is logged
// once whatever the number of workers.
func (s *Shared) setMode(bit uint32, on bool) int {
	for {
		old := s.mode.Load()
		nw := old &^ bit
		if on {
			nw = old | bit
		}
		if nw == old {
			return 0
		}
		if s.mode.CompareAndSwap(old, nw) {
			switch {
			case old == 0:
				return 1
			case nw == 0:
				return -1
			}
			return 0
		}
	}
}

func atomicMax(v *atomic.Int64, x int64) {
	for {
		old := v.Load()
		if x <= old || v.CompareAndSwap(old, x) {
			return
		}
	}
}
