package inspect

import (
	"math/rand/v2"
	"sync"
	"testing"
)

const (
	sec    = int64(1e9)
	minute = 60 * sec
	mail   = 0x0a0a0a02 // 10.10.10.2
	other  = 0x0a0a0a05 // 10.10.10.5
)

func newAdmission(th Thresholds) *Admission {
	return NewAdmission(th, nil, 64, 1, make([]Event, 0, 16))
}

// messages takes the pending events as IOS log lines.
func messages(a *Admission) []string {
	var m []string
	for _, e := range a.TakeEvents() {
		m = append(m, e.Message())
	}
	return m
}

func wantMessages(t *testing.T, a *Admission, want ...string) {
	t.Helper()
	got := messages(a)
	if len(got) != len(want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("event %d:\n got %q\nwant %q", i, got[i], want[i])
		}
	}
}

// halfOpenSessions models the dataplane's half-open sessions, oldest first.
type halfOpenSessions struct{ dst []uint32 }

// apply does what the dataplane does with a decision for a new session.
func (h *halfOpenSessions) apply(t *testing.T, a *Admission, d Decision, dst uint32) {
	t.Helper()
	switch d {
	case DeleteOldestHalfOpen:
		a.HalfOpenDone(h.dst[0], true)
		h.dst = h.dst[1:]
	case DeleteOldestOfHost:
		for i, x := range h.dst {
			if x == dst {
				a.HalfOpenDone(x, true)
				h.dst = append(h.dst[:i], h.dst[i+1:]...)
				break
			}
		}
	case BlockHost:
		kept := h.dst[:0]
		for _, x := range h.dst {
			if x == dst {
				a.HalfOpenDone(x, true)
			} else {
				kept = append(kept, x)
			}
		}
		h.dst = kept
	}
	if d.Admitted() {
		h.dst = append(h.dst, dst)
	}
}

// TestMaxIncomplete: seed case 13. Sessions arrive every 200 ms, so the
// one-minute rate (300) stays under its thresholds and only the half-open
// count drives aggressive mode.
func TestMaxIncomplete(t *testing.T) {
	th := DefaultThresholds
	th.HostMax = 0
	a := newAdmission(th)
	var h halfOpenSessions
	now := int64(0)
	for i := 1; i <= 500; i++ {
		now += 200e6
		a.Tick(now)
		d := a.NewSession(now, uint32(0xac000000+i), true)
		if d != Admit {
			t.Fatalf("session %d: %v", i, d)
		}
		h.apply(t, a, d, uint32(0xac000000+i))
	}
	wantMessages(t, a)
	now += 200e6
	d := a.NewSession(now, 0xac0001ff, true)
	if d != DeleteOldestHalfOpen {
		t.Fatalf("501st session: %v, want %v", d, DeleteOldestHalfOpen)
	}
	wantMessages(t, a, "%FW-4-ALERT_ON: getting aggressive, count (501/500) current 1-min rate: 297")
	h.apply(t, a, d, 0xac0001ff)
	if got := a.Shared().HalfOpen(); got != 500 {
		t.Fatalf("half-open after deleting the oldest: %d", got)
	}
	// Still aggressive: each new session replaces the oldest half-open one.
	for range 10 {
		now += 200e6
		if d := a.NewSession(now, 0xac100000, true); d != DeleteOldestHalfOpen {
			t.Fatalf("aggressive mode: %v", d)
		}
		h.apply(t, a, DeleteOldestHalfOpen, 0xac100000)
	}
	// Handshakes complete: at 400 still aggressive, at 399 calm.
	for a.Shared().HalfOpen() > 400 {
		a.HalfOpenDone(h.dst[0], true)
		h.dst = h.dst[1:]
	}
	a.Tick(now)
	wantMessages(t, a)
	a.HalfOpenDone(h.dst[0], true)
	wantMessages(t, a, "%FW-4-ALERT_OFF: calming down, count (399/400) current 1-min rate: 297")
	if a.Shared().Aggressive() {
		t.Fatal("still aggressive")
	}
	if d := a.NewSession(now, 1, true); d != Admit {
		t.Fatalf("after calming down: %v", d)
	}
	if st := a.Stats(); st.AggressiveDeletes != 11 || st.Created != 512 {
		t.Fatalf("stats %+v", st)
	}
}

// TestBurstBothTriggers: 501 SYNs at once cross both max-incomplete and
// one-minute high. Aggressive mode ends when both triggers are under low:
// the count at once, the rate a minute later.
func TestBurstBothTriggers(t *testing.T) {
	th := DefaultThresholds
	a := newAdmission(th)
	now := 10 * sec
	for i := range 501 {
		a.NewSession(now, uint32(i), false)
	}
	wantMessages(t, a, "%FW-4-ALERT_ON: getting aggressive, count (501/500) current 1-min rate: 501")
	for range 102 {
		a.HalfOpenDone(0, false)
	}
	a.Tick(now + 59*sec)
	if !a.Shared().Aggressive() {
		t.Fatal("rate trigger ended early")
	}
	wantMessages(t, a)
	a.Tick(now + 60*sec)
	wantMessages(t, a, "%FW-4-ALERT_OFF: calming down, count (399/400) current 1-min rate: 0")
}

// TestOneMinuteRate: 501 sessions in 50 s, each established at once, so
// only the rate drives aggressive mode.
func TestOneMinuteRate(t *testing.T) {
	th := DefaultThresholds
	th.MaxIncompleteHigh, th.MaxIncompleteLow = 10000, 9000
	a := newAdmission(th)
	for i := range 501 {
		now := int64(i) * 100e6 // 10 per second, seconds 0..49, one at 50 s
		a.Tick(now)
		d := a.NewSession(now, 1, false)
		// Aggressive from the 501st on, but with no other half-open session
		// there is nothing to delete.
		if d != Admit || a.Shared().Aggressive() != (i == 500) {
			t.Fatalf("session %d: %v, aggressive %v", i, d, a.Shared().Aggressive())
		}
		a.HalfOpenDone(1, false)
	}
	wantMessages(t, a, "%FW-4-ALERT_ON: getting aggressive, count (1/10000) current 1-min rate: 501")
	// The window holds the current second and the 59 before it: at 69 s it
	// still holds seconds 10..50 (401 sessions), at 70 s 391.
	a.Tick(69*sec + 999999999)
	if r := a.Shared().Rate(); r != 401 {
		t.Fatalf("rate at 69.999 s = %d, want 401", r)
	}
	wantMessages(t, a)
	a.Tick(70 * sec)
	wantMessages(t, a, "%FW-4-ALERT_OFF: calming down, count (0/9000) current 1-min rate: 391")
	if a.Shared().MaxRate() != 501 {
		t.Fatalf("MaxRate = %d", a.Shared().MaxRate())
	}
}

// TestHostBlockTimeZero: seed case 14.
func TestHostBlockTimeZero(t *testing.T) {
	a := newAdmission(DefaultThresholds)
	var h halfOpenSessions
	now := int64(0)
	for i := range 50 {
		now += sec
		d := a.NewSession(now, mail, true)
		if d != Admit {
			t.Fatalf("connection %d: %v", i+1, d)
		}
		h.apply(t, a, d, mail)
	}
	now += sec
	d := a.NewSession(now, mail, true)
	if d != DeleteOldestOfHost {
		t.Fatalf("51st: %v", d)
	}
	wantMessages(t, a, "%FW-4-HOST_TCP_ALERT_ON: Max tcp half-open connections (50) exceeded for host 10.10.10.2.")
	h.apply(t, a, d, mail)
	if n, blocked := a.HostHalfOpen(mail, now); n != 50 || blocked {
		t.Fatalf("host: %d half-open, blocked %v", n, blocked)
	}
	// Each further SYN replaces the oldest, without a new alert.
	d = a.NewSession(now, mail, true)
	if d != DeleteOldestOfHost {
		t.Fatalf("52nd: %v", d)
	}
	h.apply(t, a, d, mail)
	wantMessages(t, a)
	if d := a.NewSession(now, other, true); d != Admit {
		t.Fatalf("other host: %v", d)
	}
	if d := a.NewSession(now, mail, false); d != Admit {
		t.Fatalf("UDP to the host: %v (the limit is for TCP)", d)
	}
	// Once the host's sessions are established its entry is freed.
	for range 50 {
		a.HalfOpenDone(mail, true)
	}
	if a.hosts.get(mail) != nil {
		t.Fatal("host entry not freed at count 0")
	}
	if st := a.Stats(); st.HostDeletes != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestHostBlockTime(t *testing.T) {
	th := DefaultThresholds
	th.BlockTime = minute
	a := newAdmission(th)
	var h halfOpenSessions
	now := int64(0)
	for range 50 {
		now += sec
		d := a.NewSession(now, mail, true)
		h.apply(t, a, d, mail)
	}
	h.apply(t, a, a.NewSession(now, other, true), other)
	wantMessages(t, a)
	blockAt := now + sec
	d := a.NewSession(blockAt, mail, true)
	if d != BlockHost || d.Admitted() {
		t.Fatalf("51st: %v", d)
	}
	wantMessages(t, a,
		"%FW-4-HOST_TCP_ALERT_ON: Max tcp half-open connections (50) exceeded for host 10.10.10.2.",
		"%FW-2-BLOCK_HOST: Blocking new TCP connections to host 10.10.10.2 for 1 minutes (half-open count 50 exceeded).")
	h.apply(t, a, d, mail)
	if len(h.dst) != 1 || a.Shared().HalfOpen() != 1 {
		t.Fatalf("after block: %v, half-open %d", h.dst, a.Shared().HalfOpen())
	}
	if n, blocked := a.HostHalfOpen(mail, blockAt); n != 0 || !blocked {
		t.Fatalf("host: %d half-open, blocked %v", n, blocked)
	}
	for _, at := range []int64{blockAt, blockAt + 30*sec, blockAt + minute - 1} {
		a.Tick(at)
		if d := a.NewSession(at, mail, true); d != RefuseHostBlocked {
			t.Fatalf("at +%d ns: %v", at-blockAt, d)
		}
		if d := a.NewSession(at, other, true); d != Admit {
			t.Fatalf("other host while blocked: %v", d)
		}
	}
	wantMessages(t, a)
	a.Tick(blockAt + minute)
	wantMessages(t, a, "%FW-4-UNBLOCK_HOST: New TCP connections to host 10.10.10.2 no longer blocked")
	if a.hosts.get(mail) != nil {
		t.Fatal("unblocked host with no session still in the table")
	}
	if d := a.NewSession(blockAt+minute, mail, true); d != Admit {
		t.Fatalf("after the block: %v", d)
	}
	if st := a.Stats(); st.HostBlocks != 1 || st.RefusedBlocked != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// TestUnblockWithoutTick: a SYN at the end of the block ends it even if Tick
// did not run yet, and Tick does not log the unblock twice.
func TestUnblockWithoutTick(t *testing.T) {
	th := DefaultThresholds
	th.HostMax, th.BlockTime = 1, 2*minute
	a := newAdmission(th)
	a.NewSession(0, mail, true)
	if d := a.NewSession(0, mail, true); d != BlockHost {
		t.Fatalf("2nd: %v", d)
	}
	a.HalfOpenDone(mail, true)
	a.TakeEvents()
	if d := a.NewSession(2*minute, mail, true); d != Admit {
		t.Fatalf("at block end: %v", d)
	}
	wantMessages(t, a, "%FW-4-UNBLOCK_HOST: New TCP connections to host 10.10.10.2 no longer blocked")
	a.Tick(2 * minute)
	wantMessages(t, a)
	if n, blocked := a.HostHalfOpen(mail, 2*minute); n != 1 || blocked {
		t.Fatalf("host: %d, blocked %v", n, blocked)
	}
}

func TestHostTableOverflow(t *testing.T) {
	a := NewAdmission(DefaultThresholds, nil, 4, 9, make([]Event, 0, 4))
	for i := range 10 {
		if d := a.NewSession(0, uint32(100+i), true); d != Admit {
			t.Fatalf("host %d: %v", i, d)
		}
	}
	if st := a.Stats(); st.HostOverflow != 6 || a.hosts.n != 4 {
		t.Fatalf("overflow %d, hosts %d", st.HostOverflow, a.hosts.n)
	}
	for i := range 10 {
		a.HalfOpenDone(uint32(100+i), true)
	}
	if a.hosts.n != 0 || a.Shared().HalfOpen() != 0 {
		t.Fatalf("hosts %d, half-open %d", a.hosts.n, a.Shared().HalfOpen())
	}
}

// TestHostTableModel compares the host table with a map over random
// operations in a tiny table (clusters, wraparound, algorithm R).
func TestHostTableModel(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	ht := newHostTable(8, 77)
	model := map[uint32]int32{}
	for range 20000 {
		addr := uint32(r.IntN(12))
		if r.IntN(2) == 0 {
			h := ht.getOrAdd(addr)
			_, in := model[addr]
			if h == nil {
				if in || len(model) < 8 {
					t.Fatalf("getOrAdd(%d) = nil with %d hosts", addr, len(model))
				}
				continue
			}
			h.count++
			model[addr]++
		} else if _, in := model[addr]; in {
			ht.remove(addr)
			delete(model, addr)
		}
		if ht.n != len(model) {
			t.Fatalf("n %d, model %d", ht.n, len(model))
		}
		for a := range uint32(12) {
			h := ht.get(a)
			c, in := model[a]
			if (h != nil) != in || (in && h.count != c) {
				t.Fatalf("get(%d) = %v, model %d %v", a, h, c, in)
			}
		}
	}
}

// TestRateWindow compares the window with a brute-force count.
func TestRateWindow(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var s Shared
	var times []int64
	now := int64(1000) * sec
	for range 5000 {
		now += r.Int64N(3 * sec)
		if r.IntN(40) == 0 {
			now += r.Int64N(100 * sec)
		}
		s.advance(now)
		for range r.IntN(4) {
			s.cur.Add(1)
			times = append(times, now)
		}
		want := 0
		for _, at := range times {
			if second(at) > second(now)-windowSeconds {
				want++
			}
		}
		if got := s.Rate(); got != want {
			t.Fatalf("rate at %d: %d, want %d", now, got, want)
		}
	}
}

func TestSharedBetweenWorkers(t *testing.T) {
	th := DefaultThresholds
	th.HostMax = 0
	var shared Shared
	w1 := NewAdmission(th, &shared, 8, 1, make([]Event, 0, 4))
	w2 := NewAdmission(th, &shared, 8, 2, make([]Event, 0, 4))
	for i := range 250 {
		w1.NewSession(int64(i)*sec, 1, false)
		w2.NewSession(int64(i)*sec, 2, false)
	}
	w1.NewSession(250*sec, 1, false) // 501st overall
	if d := w2.NewSession(250*sec, 2, false); d != DeleteOldestHalfOpen {
		t.Fatalf("worker 2 not aggressive: %v", d)
	}
	wantMessages(t, w1, "%FW-4-ALERT_ON: getting aggressive, count (501/500) current 1-min rate: 119")
	wantMessages(t, w2)
	for range 103 {
		w2.HalfOpenDone(2, false)
	}
	wantMessages(t, w1)
	wantMessages(t, w2, "%FW-4-ALERT_OFF: calming down, count (399/400) current 1-min rate: 120")
}

// TestConcurrentWorkers runs two workers on one Shared (go test -race).
func TestConcurrentWorkers(t *testing.T) {
	var shared Shared
	var wg sync.WaitGroup
	for w := range 2 {
		a := NewAdmission(DefaultThresholds, &shared, 64, uint64(w), make([]Event, 0, 64))
		wg.Go(func() {
			for i := range 20000 {
				now := int64(i) * 10e6
				a.Tick(now)
				d := a.NewSession(now, uint32(i%100), true)
				if d.Admitted() {
					a.HalfOpenDone(uint32(i%100), true)
				}
				a.TakeEvents()
			}
		})
	}
	wg.Wait()
	if n := shared.HalfOpen(); n != 0 {
		t.Fatalf("half-open %d after all sessions done", n)
	}
	if shared.Created() != 40000 {
		t.Fatalf("created %d", shared.Created())
	}
}

func TestEventsDropped(t *testing.T) {
	th := DefaultThresholds
	th.HostMax = 1
	a := NewAdmission(th, nil, 8, 1, make([]Event, 0, 2))
	for i := range 4 {
		a.NewSession(0, uint32(i), true)
		a.NewSession(0, uint32(i), true) // HOST_TCP_ALERT_ON each
	}
	if len(a.TakeEvents()) != 2 || a.Stats().EventsDropped != 2 {
		t.Fatalf("dropped %d", a.Stats().EventsDropped)
	}
}

func TestMessages(t *testing.T) {
	cases := []struct {
		ev   Event
		want string
	}{
		{Event{Kind: EventAlertOn, Count: 501, Limit: 500, Rate: 12}, "%FW-4-ALERT_ON: getting aggressive, count (501/500) current 1-min rate: 12"},
		{Event{Kind: EventAlertOff, Count: 399, Limit: 400, Rate: 3}, "%FW-4-ALERT_OFF: calming down, count (399/400) current 1-min rate: 3"},
		{Event{Kind: EventHostAlertOn, Limit: 50, Host: 0xac16016e}, "%FW-4-HOST_TCP_ALERT_ON: Max tcp half-open connections (50) exceeded for host 172.22.1.110."},
		{Event{Kind: EventBlockHost, Limit: 50, Minutes: 2, Host: 0x0a0a0a02}, "%FW-2-BLOCK_HOST: Blocking new TCP connections to host 10.10.10.2 for 2 minutes (half-open count 50 exceeded)."},
		{Event{Kind: EventUnblockHost, Host: 0xffffffff}, "%FW-4-UNBLOCK_HOST: New TCP connections to host 255.255.255.255 no longer blocked"},
	}
	for _, tc := range cases {
		t.Run(tc.ev.Kind.String(), func(t *testing.T) {
			if got := tc.ev.Message(); got != tc.want {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
	if EventKind(99).String() != "UNKNOWN" || Decision(99).String() != "unknown" || BlockHost.String() != "block-host" {
		t.Fatal("String of unknown values")
	}
}

func TestZeroAllocs(t *testing.T) {
	th := DefaultThresholds
	th.BlockTime = minute
	a := NewAdmission(th, nil, 1024, 1, make([]Event, 0, 64))
	now := int64(0)
	i := 0
	if n := testing.AllocsPerRun(1000, func() {
		now += 1e6
		i++
		dst := uint32(i % 10)
		if a.NewSession(now, dst, true).Admitted() {
			a.HalfOpenDone(dst, true)
		}
		a.NewSession(now, dst, true) // leave some half-open: hosts hit their limit and get blocked
		a.Tick(now)
		a.TakeEvents()
	}); n != 0 {
		t.Fatalf("%v allocs per run", n)
	}
	if a.Stats().HostBlocks == 0 {
		t.Fatal("the run did not reach the block path")
	}
}

func BenchmarkNewSessionHalfOpenDone(b *testing.B) {
	a := NewAdmission(DefaultThresholds, nil, 4096, 1, make([]Event, 0, 64))
	b.ReportAllocs()
	now := int64(0)
	i := uint32(0)
	for b.Loop() {
		now += 1000
		i++
		dst := i & 1023
		if a.NewSession(now, dst, true).Admitted() {
			a.HalfOpenDone(dst, true)
		}
	}
}

// TestAggressiveDeletesOnlyAboveLow: in aggressive mode a new session
// deletes the oldest half-open one only while the half-open count, the new
// session included, is above max-incomplete low, whichever trigger turned
// aggressive mode on.
func TestAggressiveDeletesOnlyAboveLow(t *testing.T) {
	th := DefaultThresholds
	th.HostMax = 0
	a := newAdmission(th)
	now := 10 * sec
	// Rate trigger: 501 sessions in a second, each established at once.
	for range 501 {
		a.NewSession(now, 1, true)
		a.HalfOpenDone(1, true)
	}
	wantMessages(t, a, "%FW-4-ALERT_ON: getting aggressive, count (1/500) current 1-min rate: 501")
	// Up to 400 half-open (low) nothing is deleted; the 401st deletes.
	for i := 1; i <= 400; i++ {
		if d := a.NewSession(now, 1, true); d != Admit {
			t.Fatalf("half-open %d in aggressive mode (rate): %v, want %v", i, d, Admit)
		}
	}
	if d := a.NewSession(now, 1, true); d != DeleteOldestHalfOpen {
		t.Fatalf("half-open 401 in aggressive mode (rate): %v, want %v", d, DeleteOldestHalfOpen)
	}
	a.HalfOpenDone(1, true) // the deleted one
	if st := a.Stats(); st.AggressiveDeletes != 1 {
		t.Fatalf("aggressive deletes %d, want 1", st.AggressiveDeletes)
	}
	wantMessages(t, a)
	// Low of 0: the floor is 1, the new session is never its own victim.
	th.MaxIncompleteLow, th.MaxIncompleteHigh = 0, 1
	b := newAdmission(th)
	if d := b.NewSession(now, 1, true); d != Admit {
		t.Fatalf("first session: %v", d)
	}
	if d := b.NewSession(now, 1, true); d != DeleteOldestHalfOpen {
		t.Fatalf("second session, high 1: %v, want %v", d, DeleteOldestHalfOpen)
	}
}
