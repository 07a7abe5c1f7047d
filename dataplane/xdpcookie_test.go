package dataplane_test

import "testing"

// TestXDPCookieOffers: after the worker answers a protected SYN itself, it
// offers the destination to the XDP program once per rule set, with the
// ACL entries the program's answers are to be counted on; nothing is
// offered without an XDP program; counted answers move the intercept
// counters and the ACL hits as the worker's own answers would; a reload
// starts over under a new generation.
func TestXDPCookieOffers(t *testing.T) {
	rs := compile(t, interceptSeed(t, "", ""))
	h := newHarness(t, rs)
	newIC(t, h, 40300, true).cookieSYN()
	if got := h.w.TakeCookieOffers(); len(got) != 0 {
		t.Fatalf("offers without an XDP program: %+v", got)
	}

	h.dp.SetXDPCookies(true)
	if !h.w.CookiesWanted() {
		t.Fatal("intercept mode: the XDP program's answers not wanted")
	}
	newIC(t, h, 40301, true).cookieSYN()
	newIC(t, h, 40302, false).cookieSYN() // same destination: judged once
	offers := h.w.TakeCookieOffers()
	if len(offers) != 1 {
		t.Fatalf("offers %+v, want one", offers)
	}
	o := offers[0]
	if o.Port != portOut || o.Dst != 0xac16016e || o.DPort != 25 || o.Gen != h.w.RulesetGen() {
		t.Fatalf("offer %+v", o)
	}
	want, ok := rs.CookieOffload(portOut, 0xac16016e, 25)
	if !ok || want != o.Hits {
		t.Fatalf("offer hits %+v, cookieOffload %+v %v", o.Hits, want, ok)
	}
	newIC(t, h, 40303, true).cookieSYN()
	if got := h.w.TakeCookieOffers(); len(got) != 0 {
		t.Fatalf("offered again: %+v", got)
	}

	// The program's answers, counted.
	before := h.w.Intercept
	hits := func() (in, ic uint64) {
		return h.w.Stats.ACLHits[o.Hits.In.List][o.Hits.In.Entry], h.w.Stats.ACLHits[o.Hits.Intercept.List][o.Hits.Intercept.Entry]
	}
	in0, ic0 := hits()
	h.w.CookiesAnswered(1000)
	h.w.CookieHitsFor(o, 1000)
	if h.w.Intercept.SYNACKs != before.SYNACKs+1000 || h.w.Intercept.XDPSYNACKs != before.XDPSYNACKs+1000 {
		t.Errorf("SYN/ACKs %d (XDP %d), before %d (%d)", h.w.Intercept.SYNACKs, h.w.Intercept.XDPSYNACKs, before.SYNACKs, before.XDPSYNACKs)
	}
	if in1, ic1 := hits(); in1 != in0+1000 || ic1 != ic0+1000 {
		t.Errorf("ACL hits %d %d, before %d %d: want +1000 each", in1, ic1, in0, ic0)
	}

	// A reload: a new generation, judged again; counts of the old one are
	// not carried onto the new rule set's entries.
	if err := h.dp.Swap(compile(t, interceptSeed(t, "", ""))); err != nil {
		t.Fatal(err)
	}
	newIC(t, h, 40304, true).cookieSYN()
	offers = h.w.TakeCookieOffers()
	if len(offers) != 1 || offers[0].Gen == o.Gen {
		t.Fatalf("after reload: offers %+v (old generation %d)", offers, o.Gen)
	}
	in0, ic0 = hits()
	h.w.CookieHitsFor(o, 5)
	if in1, ic1 := hits(); in1 != in0 || ic1 != ic0 {
		t.Errorf("answers of the old rule set counted on the new one")
	}
}

// TestXDPCookiesWanted: watch mode never lets the XDP program answer; auto
// mode only while the worker sends cookies.
func TestXDPCookiesWanted(t *testing.T) {
	for _, c := range []struct {
		mode string
		want bool
	}{{"intercept", true}, {"watch", false}, {"auto", false}} {
		h := newHarness(t, compile(t, interceptSeed(t, "", "mode = \""+c.mode+"\"\n")))
		h.dp.SetXDPCookies(true)
		if got := h.w.CookiesWanted(); got != c.want {
			t.Errorf("mode %s: wanted %v, want %v", c.mode, got, c.want)
		}
	}
	h := newHarness(t, compile(t, smtpSeed(t, "")))
	h.dp.SetXDPCookies(true)
	if h.w.CookiesWanted() {
		t.Error("no [tcp_intercept]: wanted")
	}
}
