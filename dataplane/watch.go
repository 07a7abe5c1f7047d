package dataplane

// TCP intercept's incomplete connections, watch and auto modes, and
// aggressive mode (IOS "ip tcp intercept mode watch", "drop-mode",
// thresholds); intercept mode's cookie exchange is intercept.go.
//
//	watch: a protected SYN passes and creates a plain CBAC session whose
//	    handshake is timed by watch-timeout (its own expiry class) instead
//	    of synwait; one not established in time is reset on both ends
//	    from the expiry loop (IOS resets the server; cbacd, as CBAC does
//	    for every half-open session it drops, resets both ends:
//	    resetHalfOpen).
//	auto (not in IOS): a protected SYN passes as a plain CBAC session
//	    (synwait) while the worker's incomplete connections stay at or
//	    below its share of max-incomplete high; above it, protected SYNs
//	    get cookies (intercept mode) until the incomplete connections fall
//	    below low (checked between batches). One compare per protected SYN
//	    while there is no attack. Each switch is an event (log line).
//	incomplete connections (IOS's count): intercept mode's connections
//	    waiting for the server, and the protected sessions whose SYN
//	    passed (watch, auto) while half-open; a dense set per worker
//	    (Worker.incomplete), so that drop-mode random picks in O(1).
//	aggressive mode (incomplete connections or the last minute's requests
//	    above high, until both are below low; watch and intercept mode,
//	    auto while it sends cookies): each new connection deletes an
//	    incomplete one, the oldest or (drop-mode random) a random one,
//	    reset on both ends (a cookie ACK only while the incomplete ones,
//	    its own included, are above max-incomplete low: a cookie flood
//	    raises the rate but leaves nothing incomplete); and, as IOS halves its SYN retransmission
//	    timeout (so the whole time to establish) and watch-timeout, every
//	    incomplete connection gets half its time to be established
//	    (expireHalved, between batches).

// watchedSYN prepares for a protected SYN that passes (watch mode, auto
// mode without cookies): it counts the request and, in watch mode's
// aggressive mode, deletes an incomplete connection.
func (w *Worker) watchedSYN() {
	w.Intercept.thisMinute++
	if w.rs.Intercept.Mode == InterceptWatch && w.interceptAggressive() {
		w.dropIncomplete()
	}
}

// watchSession counts the session idx of a protected SYN that passed as
// incomplete; in watch mode its handshake is timed by watch-timeout.
func (w *Worker) watchSession(idx uint32) {
	w.incompleteAdd(idx)
	if c := w.rs.interceptWatch; c != w.table.Entry(idx).Class() {
		w.table.SetClass(idx, c, w.now)
	}
}

// interceptCookies reports whether a protected SYN is answered with a
// cookie: always in intercept mode, never in watch mode, in auto mode
// once the incomplete connections went above max-incomplete high (the
// switch back is autoCheck's, between batches).
func (w *Worker) interceptCookies() bool {
	ic := w.rs.Intercept
	switch ic.Mode {
	case InterceptCookies:
		return true
	case InterceptAuto:
		if !w.Intercept.Cookies && w.Intercept.Waiting > w.share(ic.MaxIncomplete.High) {
			w.autoSwitch(true, ic.MaxIncomplete.High)
		}
		return w.Intercept.Cookies
	}
	return false
}

// autoSwitch turns auto mode's cookies on or off and reports it:
// EvInterceptAuto, Aux[0] 1 (on) or 0, Aux[1] the incomplete connections,
// Aux[2] the worker's share of the threshold crossed, Aux[3] the worker.
func (w *Worker) autoSwitch(on bool, threshold int) {
	w.Intercept.Cookies = on
	w.Intercept.AutoSwitches++
	ev := Event{Kind: EvInterceptAuto}
	if on {
		ev.Aux[0] = 1
	}
	ev.Aux[1] = int64(w.Intercept.Waiting)
	ev.Aux[2] = int64(w.share(threshold))
	ev.Aux[3] = int64(w.ID)
	w.emit(&ev)
}

// interceptTick runs between batches while intercept is on: the counting
// minute, auto mode's switch back, aggressive mode and its halved times.
func (w *Worker) interceptTick() {
	w.interceptMinute()
	ic, s := w.rs.Intercept, &w.Intercept
	if ic.Mode != InterceptAuto && s.Cookies {
		s.Cookies = false // a reload left auto mode
	}
	if ic.Mode == InterceptAuto {
		if s.Cookies && s.Waiting < w.share(ic.MaxIncomplete.Low) {
			w.autoSwitch(false, ic.MaxIncomplete.Low)
		}
		if !s.Cookies {
			s.Aggressive = false // auto without cookies is plain CBAC
			return
		}
	}
	if w.interceptAggressive() {
		w.expireHalved()
	}
}

// incompleteAdd counts session idx among the incomplete connections.
func (w *Worker) incompleteAdd(idx uint32) {
	w.sess[idx].flags |= sfIncomplete
	w.incomplete = append(w.incomplete, idx)
	w.incompletePos[idx] = uint32(len(w.incomplete))
	w.Intercept.Waiting = len(w.incomplete)
}

// incompleteDone ends session idx's count as incomplete, if it has one
// (established, or going away).
func (w *Worker) incompleteDone(idx uint32) {
	s := &w.sess[idx]
	if s.flags&sfIncomplete == 0 {
		return
	}
	s.flags &^= sfIncomplete
	p := w.incompletePos[idx] - 1
	n := len(w.incomplete) - 1
	last := w.incomplete[n]
	w.incomplete[p] = last
	w.incompletePos[last] = p + 1
	w.incomplete = w.incomplete[:n]
	w.incompletePos[idx] = 0
	w.Intercept.Waiting = n
}

// dropIncomplete is aggressive mode's deletion: the oldest incomplete
// connection, or with drop-mode random one drawn from the worker's own
// generator; reset on both ends.
func (w *Worker) dropIncomplete() {
	var idx uint32
	if w.rs.Intercept.DropRandom {
		if len(w.incomplete) == 0 {
			return
		}
		idx = w.incomplete[w.random(len(w.incomplete))]
	} else {
		var ok bool
		if idx, ok = w.oldestIncomplete(); !ok {
			return
		}
	}
	w.resetHalfOpen(idx, ResetInterceptAggressive)
	w.deleteSession(idx)
}

// oldestIncomplete finds the oldest incomplete connection: the first on
// the synwait list (intercept mode's waiting ones, auto mode's passed
// ones, among CBAC's other half-open sessions) or on the watch-timeout
// list, whichever is older (bounded walks, as deleteOldestHalfOpen).
func (w *Worker) oldestIncomplete() (uint32, bool) {
	idx, ok := w.firstIncomplete(w.rs.ClassSynWait)
	if c := w.rs.interceptWatch; c != w.rs.ClassSynWait {
		if j, ok2 := w.firstIncomplete(c); ok2 && (!ok || w.table.Entry(j).LastSeen < w.table.Entry(idx).LastSeen) {
			idx, ok = j, true
		}
	}
	return idx, ok
}

func (w *Worker) firstIncomplete(class uint8) (uint32, bool) {
	idx, ok := w.table.Oldest(class)
	for steps := 0; ok && steps < 4096; steps++ {
		if w.sess[idx].flags&sfIncomplete != 0 {
			return idx, true
		}
		idx, ok = w.table.Newer(idx)
	}
	return 0, false
}

// expireHalved is aggressive mode's time to establish: an incomplete
// connection older than half its class's timeout (synwait, watch-timeout)
// is reset on both ends and deleted; bounded work per batch. Each list
// is ordered by the time its sessions entered it (a half-open session is
// never touched), so the walk stops at the first younger one.
func (w *Worker) expireHalved() {
	budget := expireBudget
	budget = w.expireHalvedIn(w.rs.ClassSynWait, budget)
	if c := w.rs.interceptWatch; c != w.rs.ClassSynWait {
		w.expireHalvedIn(c, budget)
	}
}

func (w *Worker) expireHalvedIn(class uint8, budget int) int {
	limit := w.now - w.rs.classes[class]/2
	idx, ok := w.table.Oldest(class)
	for ; ok && budget > 0; budget-- {
		if w.table.Entry(idx).LastSeen > limit {
			break
		}
		next, nok := w.table.Newer(idx)
		s := &w.sess[idx]
		if s.flags&sfIncomplete != 0 {
			cause := ResetSynWait
			if s.splice == 0 && class == w.rs.interceptWatch && w.rs.Intercept.Mode == InterceptWatch {
				cause = ResetWatchTimeout
			}
			w.resetHalfOpen(idx, cause)
			w.deleteSession(idx)
		}
		idx, ok = next, nok
	}
	return budget
}

// expireCause is why expired session s is reset: watch-timeout for a
// watched connection, else synwait.
func (w *Worker) expireCause(s *Session) ResetCause {
	if s.flags&sfIncomplete != 0 && s.splice == 0 && w.rs.Intercept != nil && w.rs.Intercept.Mode == InterceptWatch {
		return ResetWatchTimeout
	}
	return ResetSynWait
}

// random returns a number in [0, n) from the worker's generator
// (SplitMix64, seeded per worker from Options.Seed: deterministic for a
// given seed, never shared between workers).
func (w *Worker) random(n int) int {
	w.rng += 0x9e3779b97f4a7c15
	z := w.rng
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	z ^= z >> 31
	return int((z >> 32) * uint64(n) >> 32)
}
