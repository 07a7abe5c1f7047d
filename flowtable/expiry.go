package flowtable

// Expiry without timer objects (no timer per session: bounded work per batch; VPP ACL plugin's
// per-timeout session lists, gVisor reapUnused).
//
// Each class has a FIFO list ordered by enqueue time. A packet only writes
// LastSeen (Touch). Between batches, Expire looks at list heads:
//
//   - head.LastSeen + timeout <= now: expired; unlink, drop its keys, free it
//     and return its index;
//   - else if head.enqueued + timeout <= now: it was touched since it was
//     enqueued; move it to the tail with enqueued = LastSeen;
//   - else stop this class: every later entry was enqueued no earlier, with
//     LastSeen >= enqueued, so none is expired.
//
// Accuracy: a session never expires before LastSeen + timeout. It expires
// exactly then unless it was moved behind entries enqueued after its
// LastSeen (it was touched, then went idle while younger sessions arrived);
// such a session waits behind them and can be at most one timeout late.
// SetClass restarts the timer (enqueued = LastSeen = now), so a state change
// such as FIN wait is exact.

// Touch records activity: LastSeen = now. O(1), no list move.
func (t *Table) Touch(idx uint32, now int64) { t.entries[idx].LastSeen = now }

// SetClass moves a live session to the tail of class's list and restarts its
// timer: a class change is activity, the new timeout runs from now.
func (t *Table) SetClass(idx uint32, class uint8, now int64) {
	_ = t.timeout[class]
	e := &t.entries[idx]
	if !e.live() {
		return
	}
	t.unlink(idx)
	if now > e.LastSeen {
		e.LastSeen = now
	}
	t.pushTail(class, idx, e.LastSeen)
}

// LenClass is the number of live sessions in class.
func (t *Table) LenClass(class uint8) int {
	if int(class) >= len(t.count) {
		return 0
	}
	return t.count[class]
}

// Oldest is the head of class's list: the session enqueued first (for the
// half-open class, the oldest half-open session that aggressive mode deletes,
// IOS max-incomplete).
func (t *Table) Oldest(class uint8) (uint32, bool) {
	if int(class) >= len(t.head) || t.head[class] == 0 {
		return 0, false
	}
	return t.head[class], true
}

// Newer is the session after idx in its class list (towards the tail), for a
// bounded walk from Oldest, e.g. to find the oldest half-open session of one
// host (IOS tcp max-incomplete host). Valid for live idx only.
func (t *Table) Newer(idx uint32) (uint32, bool) {
	n := t.entries[idx].next
	return n, n != 0 && t.entries[idx].live()
}

// Expire frees expired sessions with at most budget steps (an examined
// head is a step), appending their indices to out and returning it. The
// classes are served round robin from one call to the next, so a busy class
// does not starve the others. Returned entries are already removed from the
// index and the lists, but their keys and times stay readable until the
// next Insert, which may reuse them: the caller finalizes its own payload
// (audit trail, counters, half-open accounting) before inserting again.
// Never scans the table.
func (t *Table) Expire(now int64, budget int, out []uint32) []uint32 {
	n := len(t.timeout)
	for k := 0; k < n && budget > 0; k++ {
		c := t.expireFrom + k
		if c >= n {
			c -= n
		}
		to := t.timeout[c]
		for budget > 0 {
			idx := t.head[c]
			if idx == 0 {
				break
			}
			e := &t.entries[idx]
			if e.LastSeen+to <= now {
				budget--
				t.unlink(idx)
				t.release(idx)
				out = append(out, idx)
				continue
			}
			if e.enqueued+to > now {
				break
			}
			budget--
			t.unlink(idx)
			t.pushTail(uint8(c), idx, e.LastSeen)
		}
	}
	t.expireFrom++
	if t.expireFrom >= n {
		t.expireFrom = 0
	}
	return out
}

// ForEach calls fn for every live session, class by class from oldest to
// newest, until fn returns false. For the control plane (run on the owning
// worker): it visits only live entries, and fn must not modify the table.
func (t *Table) ForEach(fn func(idx uint32, e *Entry) bool) {
	for c := range t.head {
		for idx := t.head[c]; idx != 0; idx = t.entries[idx].next {
			if !fn(idx, &t.entries[idx]) {
				return
			}
		}
	}
}

func (t *Table) pushTail(class uint8, idx uint32, enqueued int64) {
	e := &t.entries[idx]
	last := t.tail[class]
	e.enqueued = enqueued
	e.prev = uint32(class)<<24 | last
	e.next = 0
	if last != 0 {
		t.entries[last].next = idx
	} else {
		t.head[class] = idx
	}
	t.tail[class] = idx
	t.count[class]++
}

func (t *Table) unlink(idx uint32) {
	e := &t.entries[idx]
	c := e.prev >> 24
	p := e.prev & idxMask
	n := e.next
	if p != 0 {
		t.entries[p].next = n
	} else {
		t.head[c] = n
	}
	if n != 0 {
		ne := &t.entries[n]
		ne.prev = ne.prev&^idxMask | p
	} else {
		t.tail[c] = p
	}
	t.count[c]--
}

// SetTimeouts changes class timeouts (a configuration reload): class i
// gets timeouts[i]; classes beyond len(timeouts) keep theirs. Sessions stay
// in their class and the new timeout applies from the next Expire. It
// panics on more classes than New made or a timeout <= 0.
func (t *Table) SetTimeouts(timeouts []int64) {
	if len(timeouts) > len(t.timeout) {
		panic("flowtable: more expiry classes than the table has")
	}
	for i, to := range timeouts {
		if to <= 0 {
			panic("flowtable: expiry class timeout must be positive")
		}
		t.timeout[i] = to
	}
}
