package dataplane

import (
	"sync/atomic"
	"testing"

	"cbac/dataplane/internal/xsk"
)

// fakeSwitch is a device's cookie switches, per queue.
type fakeSwitch struct {
	on     map[int]bool
	writes int
}

func (f *fakeSwitch) SetCookies(q int, on bool) error {
	f.on[q] = on
	f.writes++
	return nil
}

func newFakeSwitches(n int) ([]cookieSwitch, []*fakeSwitch) {
	var sw []cookieSwitch
	var fs []*fakeSwitch
	for range n {
		f := &fakeSwitch{on: map[int]bool{}}
		sw, fs = append(sw, f), append(fs, f)
	}
	return sw, fs
}

// TestSwitchCookies: the worker's switches follow what it wants, come
// back on after cookiesOff once the pinholes are gone, and go off again
// when a pinhole opened between reading the pinholes and writing "on".
func TestSwitchCookies(t *testing.T) {
	sw, fs := newFakeSwitches(2)
	c := cookieControl{on: make([]bool, 2)}
	var open atomic.Int64
	state := func(q int) [2]bool { return [2]bool{fs[0].on[q], fs[1].on[q]} }

	c.switchCookies(sw, 1, true, 0, &open)
	if state(1) != [2]bool{true, true} {
		t.Fatalf("want on: %v", state(1))
	}
	writes := fs[0].writes
	c.switchCookies(sw, 1, true, 0, &open)
	if fs[0].writes != writes {
		t.Error("unchanged: written again")
	}

	// Another worker opened a pinhole and turned everything off; the
	// pinhole closed again before this worker's next batch.
	for _, f := range fs {
		f.SetCookies(1, false)
	}
	c.switchCookies(sw, 1, true, 1, &open)
	if state(1) != [2]bool{true, true} {
		t.Fatalf("after cookiesOff and the pinhole gone: %v, want on again", state(1))
	}

	// The worker read no pinhole (want on), then one opened and its
	// cookiesOff ran before this worker's writes.
	for _, f := range fs {
		f.SetCookies(1, false)
	}
	open.Store(1)
	c.switchCookies(sw, 1, true, 1, &open) // cleared as read before the pinhole
	if state(1) != [2]bool{false, false} {
		t.Fatalf("pinhole opened meanwhile: %v, want off", state(1))
	}
	c.switchCookies(sw, 1, false, 2, &open)
	if state(1) != [2]bool{false, false} || state(0) != [2]bool{false, false} {
		t.Fatalf("want off: queue 1 %v, queue 0 %v", state(1), state(0))
	}
}

// TestCookiesOff: every worker's queue on every device goes off, and the
// clearing is counted; without tcp intercept nothing is written.
func TestCookiesOff(t *testing.T) {
	for _, intercept := range []bool{true, false} {
		rs := &Ruleset{}
		if intercept {
			rs.Intercept = &Intercept{Mode: InterceptCookies}
		}
		dp := &Dataplane{}
		dp.ruleset.Store(rs)
		sw, fs := newFakeSwitches(2)
		for _, f := range fs {
			for q := range 3 {
				f.on[q] = true
			}
		}
		x := &XDP{DP: dp, switches: sw, socks: make([][]*xsk.Socket, 3)}
		x.cookiesOff()
		for d, f := range fs {
			for q := range 3 {
				if f.on[q] == intercept {
					t.Errorf("intercept %v: device %d queue %d on = %v", intercept, d, q, f.on[q])
				}
			}
		}
		if want := map[bool]uint64{true: 1, false: 0}[intercept]; x.cookiesCleared.Load() != want {
			t.Errorf("intercept %v: cleared %d times, want %d", intercept, x.cookiesCleared.Load(), want)
		}
	}
}
