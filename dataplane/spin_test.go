package dataplane

import (
	"strings"
	"testing"
	"time"
)

func TestParseSpin(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"auto", SpinAuto, ""},
		{"", SpinAuto, ""},
		{"never", SpinNever, ""},
		{"0", SpinNever, ""},
		{"200us", 200 * time.Microsecond, ""},
		{"50µs", 50 * time.Microsecond, ""},
		{" 1ms ", time.Millisecond, ""},
		{"1s", time.Second, ""},
		{"fast", 0, `-spin "fast": want auto, never or a duration`},
		{"200", 0, `-spin "200": want auto, never or a duration`},
		{"-5us", 0, "from 1us to 1s"},
		{"500ns", 0, "from 1us to 1s"},
		{"2s", 0, "from 1us to 1s"},
	} {
		got, err := ParseSpin(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseSpin(%q) = %v, %v; want error containing %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseSpin(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}

// TestSpinPolicy feeds the adaptive policy a pattern of batches (the
// frames each batch found, one batch every step ns), repeated, and checks
// whether the worker, idle for the given time after the last batch with
// frames, sleeps.
func TestSpinPolicy(t *testing.T) {
	us := int64(time.Microsecond)
	for _, c := range []struct {
		name    string
		pattern []int // frames of successive batches
		step    int64 // ns between batches
		idle    int64 // ns since the last batch with frames when deciding
		sleep   bool
	}{
		{"nothing seen yet: sleep", nil, us, 1, true},
		{"backlog: full batches", []int{64}, 20 * us, 150 * us, false},
		{"backlog: but not past the cap", []int{64}, 20 * us, spinMax + 1, true},
		{"backlog: half-full batches", []int{spinFull}, 20 * us, 150 * us, false},
		{"backlog: two of three batches full", []int{128, 0, 128, 4, 0}, 20 * us, 150 * us, false},
		{"full one batch in three: no backlog", []int{64, 8, 8, 0}, 20 * us, spinWake + 1, true},
		{"just under half full: no backlog", []int{spinFull - 1}, 20 * us, spinWake + 1, true},
		{"back to back small batches: short spin", []int{4}, 5 * us, spinWake, false},
		{"back to back small batches: then sleep", []int{4}, 5 * us, spinWake + 1, true},
		{"single frames far apart", []int{1, 0, 0, 0}, 25 * us, 50 * us, true},
	} {
		var p spinPolicy
		now := int64(1000 * us) // the worker's clock starts at 0
		last := now
		for r := 0; r < 64; r++ {
			for _, n := range c.pattern {
				now += c.step
				p.observe(now, n)
				if n > 0 {
					last = now
				}
			}
		}
		// The empty batch that asks.
		p.observe(last+c.idle, 0)
		if got := p.sleep(last + c.idle); got != c.sleep {
			t.Errorf("%s: sleep = %v, want %v (full %d/256, budget %d ns)", c.name, got, c.sleep, p.full, p.budget())
		}
	}
}

// TestSpinPolicyAdapts: a backlog followed by a trickle ends the long
// spin within a few batches, and the backlog's return restores it.
func TestSpinPolicyAdapts(t *testing.T) {
	us := int64(time.Microsecond)
	var p spinPolicy
	now := int64(0)
	for i := 0; i < 32; i++ {
		now += 20 * us
		p.observe(now, 128)
	}
	if p.budget() != spinMax {
		t.Fatalf("after a backlog: budget %d, want %d", p.budget(), spinMax)
	}
	n := 0
	for p.budget() == spinMax {
		now += 50 * us
		p.observe(now, 0)
		now += 50 * us
		p.observe(now, 1)
		if n++; n > 64 {
			t.Fatal("the trickle never ended the long spin")
		}
	}
	if n > 8 {
		t.Errorf("the long spin lasted %d trickle batches", n)
	}
	if p.budget() != spinWake || !p.sleep(now+spinWake+1) {
		t.Errorf("after the trickle the worker should spin %d ns only (budget %d)", spinWake, p.budget())
	}
	for i := 0; i < 16 && p.budget() != spinMax; i++ {
		now += 20 * us
		p.observe(now, 256)
	}
	if p.budget() != spinMax {
		t.Errorf("the backlog's return did not restore the long spin (full %d/256)", p.full)
	}
}

// BenchmarkSpinPolicy: the per-batch cost of the adaptive decision.
func BenchmarkSpinPolicy(b *testing.B) {
	b.ReportAllocs()
	var p spinPolicy
	now := int64(0)
	sleeps := 0
	for i := 0; b.Loop(); i++ {
		now += 3000
		p.observe(now, i&63)
		if p.sleep(now + 500) {
			sleeps++
		}
	}
	if sleeps < 0 {
		b.Fatal(sleeps)
	}
}
