package dataplane

import (
	"slices"
	"sync/atomic"
	"time"

	"cbac/tcpintercept"
)

// TCP intercept cookies answered by the XDP program (the program's side
// is in package xsk, cookie.go). The worker keeps deciding everything: a
// protected SYN that reaches it is answered as before (interceptSYN), and
// if the rules' whole decision for its destination does not depend on the
// source (cookieOffload), the destination is offered to the program. The
// XDP layer, between batches on the worker's own goroutine
// (cookieControl), hands offered destinations to the program, turns the
// program's answers on for the worker's queue while the worker sends
// cookies for every protected SYN and no FTP data connection is expected,
// keeps the program's clock and secrets those of the workers, and brings
// the program's counts back: cookie SYN/ACKs, the one-minute rate, and the
// ACL entries each answer passed.

// cookieDst is a destination offered to the XDP program.
type cookieDst struct {
	port  uint8
	dport uint16
	dst   uint32
	gen   uint32 // rule set generation
	hits  CookieHits
	count uint64 // the program's count for it, as last read
}

const (
	cookieSeenMax  = 64 // destinations a worker remembers having judged
	cookieOfferMax = 16 // offers waiting for the XDP layer
)

// offerCookieDst is called after the worker answered a protected SYN on
// port in to dst:dport with a cookie: a destination not judged yet under
// this rule set is judged, and offered if the program may answer it.
func (w *Worker) offerCookieDst(in int, dst uint32, dport uint16) {
	if !w.dp.xdpCookies.Load() {
		return
	}
	for i := range w.cookieSeen[:w.nCookieSeen] {
		if c := &w.cookieSeen[i]; c.dst == dst && c.dport == dport && int(c.port) == in {
			return
		}
	}
	if w.nCookieOffers == cookieOfferMax {
		return // judged once the XDP layer has taken the offers waiting
	}
	c := cookieDst{port: uint8(in), dst: dst, dport: dport, gen: w.rs.gen}
	if w.nCookieSeen < cookieSeenMax {
		w.nCookieSeen++
	} else {
		copy(w.cookieSeen[:], w.cookieSeen[1:]) // forget the oldest
	}
	w.cookieSeen[w.nCookieSeen-1] = c
	hits, ok := w.rs.cookieOffload(in, dst, dport)
	if !ok {
		return
	}
	c.hits = hits
	w.cookieOffers[w.nCookieOffers] = c
	w.nCookieOffers++
}

// cookiesWanted reports whether the XDP program may answer for the
// worker's queue: cookies for every protected SYN (intercept mode, or
// auto mode while it sends them), and no FTP data connection expected (a
// pinhole's SYN must reach the worker, which may admit it where the rules
// would not).
func (w *Worker) cookiesWanted() bool {
	ic := w.rs.Intercept
	if ic == nil || w.dp.pins.open.Load() > 0 {
		return false
	}
	return ic.Mode == InterceptCookies || ic.Mode == InterceptAuto && w.Intercept.Cookies
}

// switchCookies brings the program's answers for queue id on every port
// to want (cookiesWanted, read after cleared). Switches cookiesOff cleared
// since the last call are off, whatever was written before. A pinhole
// that opened after want was read is seen by reading open again after
// writing "on": its cookiesOff may have run before those writes.
func (c *cookieControl) switchCookies(sw []cookieSwitch, id int, want bool, cleared uint64, open *atomic.Int64) {
	if cleared != c.cleared {
		c.cleared = cleared
		clear(c.on)
	}
	for p, s := range sw {
		if c.on[p] != want && s.SetCookies(id, want) == nil {
			c.on[p] = want
		}
	}
	if want && open.Load() > 0 {
		for p, s := range sw {
			if s.SetCookies(id, false) == nil {
				c.on[p] = false
			}
		}
	}
}

// cookiesAnswered counts n SYN/ACKs the XDP program sent for the worker.
func (w *Worker) cookiesAnswered(n uint64) {
	w.Intercept.SYNACKs += n
	w.Intercept.XDPSYNACKs += n
	w.Intercept.thisMinute += n
}

// cookieHits counts n SYNs the XDP program answered for c as the ACL
// checks would have counted them.
func (w *Worker) cookieHits(c *cookieDst, n uint64) {
	if c.gen != w.rs.gen {
		return // counted against a rule set that is gone
	}
	c.hits.count(w.Stats.ACLHits, n)
}

// How often the XDP layer reads the program's counts: per queue (the
// one-minute rate, aggressive mode), and per destination (ACL hits: one
// lookup each, so less often).
const (
	cookieReadEvery    = int64(10 * time.Millisecond)
	cookieDstReadEvery = int64(time.Second)
)

// cookieSwitch turns a device's XDP program's answers on or off for one
// queue (xsk.Program.SetCookies).
type cookieSwitch interface {
	SetCookies(queue int, on bool) error
}

// cookiesOff turns the XDP program's answers off for every worker's queue
// on every device, on the goroutine of the worker that just opened a
// pinhole (pinholeTable.onOpen), and then counts the clearing so that
// each worker learns that its switches are off (switchCookies). Pinholes
// open at FTP announcements only, so these few map writes are rare.
func (x *XDP) cookiesOff() {
	if x.DP.Ruleset().Intercept == nil {
		return // nothing turned on (a reload that adds intercept reads the pinholes first)
	}
	for _, s := range x.switches {
		for q := range x.socks {
			s.SetCookies(q, false)
		}
	}
	x.cookiesCleared.Add(1)
}

// cookieControl is the XDP layer's cookie state for one worker, used only
// on the worker's goroutine.
type cookieControl struct {
	cleared  uint64   // XDP.cookiesCleared as last seen
	on       []bool   // per port, as last written
	answered []uint64 // per port, the program's count for the queue as last read
	dsts     []cookieDst
	rs       *Ruleset // the rule set the program's generation was set for (worker 0)
	keyGen   uint32   // the secret generation last written (worker 0)
	keyOK    bool
	lastRead int64
	dstRead  int64
}

// cookies runs worker w's cookie control after a batch at time now.
func (x *XDP) cookies(w *Worker, c *cookieControl, now int64) {
	if c.on == nil {
		c.on = make([]bool, len(x.progs))
		c.answered = make([]uint64, len(x.progs))
	}
	rs := w.rs
	if w.ID == 0 && rs.Intercept != nil {
		if rs != c.rs {
			for p, prog := range x.progs {
				prog.SetCookieClock(rs.gen, x.clockOffset, [6]byte(rs.Ifaces[p].MAC))
			}
			c.rs = rs
		}
		if g := tcpintercept.Generation(now); !c.keyOK || g != c.keyGen {
			for _, gen := range []uint32{g, g + 1} {
				k0, k1 := w.jar.GenKey(gen)
				for _, prog := range x.progs {
					prog.SetCookieKey(gen, k0, k1)
				}
			}
			c.keyGen, c.keyOK = g, true
		}
	}
	cleared := x.cookiesCleared.Load() // before the pinholes are read
	c.switchCookies(x.switches, w.ID, w.cookiesWanted(), cleared, &w.dp.pins.open)
	for i := range w.cookieOffers[:w.nCookieOffers] {
		d := w.cookieOffers[i]
		if created, err := x.progs[d.port].AddCookieDst(d.dst, d.dport, d.gen); err == nil && created {
			// A new entry (its count from 0): one the program forgot
			// (least recently used) is replaced, not counted twice.
			c.dsts = slices.DeleteFunc(c.dsts, func(o cookieDst) bool {
				return o.port == d.port && o.dst == d.dst && o.dport == d.dport
			})
			c.dsts = append(c.dsts, d)
		}
	}
	w.nCookieOffers = 0
	if now-c.lastRead < cookieReadEvery {
		return
	}
	c.lastRead = now
	for p, prog := range x.progs {
		if n, err := prog.CookieAnswers(w.ID); err == nil && n > c.answered[p] {
			w.cookiesAnswered(n - c.answered[p])
			c.answered[p] = n
		}
	}
	if now-c.dstRead < cookieDstReadEvery {
		return
	}
	c.dstRead = now
	keep := c.dsts[:0]
	for i := range c.dsts {
		d := &c.dsts[i]
		if d.gen != rs.gen {
			continue // its rule set is gone: the program ignores it too
		}
		n, ok := x.progs[d.port].CookieDstAnswers(d.dst, d.dport, d.gen)
		if !ok {
			continue // forgotten by the program (least recently used)
		}
		if n > d.count {
			w.cookieHits(d, n-d.count)
			d.count = n
		}
		keep = append(keep, *d)
	}
	c.dsts = keep
}
