// Package inspect is CBAC admission: the IOS denial-of-service thresholds
// (docs/behaviour.md "Thresholds"), as pure state driven by virtual time.
//
//   - max-incomplete high/low: when half-open sessions exceed high, IOS
//     "gets aggressive" (%FW-4-ALERT_ON) and deletes half-open sessions as
//     new connection requests require, until the count falls below low
//     (%FW-4-ALERT_OFF).
//   - one-minute high/low: the same, turned on by the number of sessions
//     created in the last minute exceeding high, off when it falls below
//     low.
//
// What "as required" means here: in aggressive mode, whichever trigger
// turned it on, a new session deletes the oldest half-open one only while
// the half-open count (the new session included) is above max-incomplete
// low, the level aggressive mode works back down to. Under a SYN flood
// (thousands half-open) every new SYN deletes the oldest, as before; a
// legitimate high connection rate whose handshakes complete, leaving a few
// sessions half-open, is not cut: deleting one of its handshakes would not
// lower the rate and would only break a connection. With max-incomplete
// low at 0 or less the floor is 1 (the new session is never its own
// victim). The dataplane resets both ends of every session it deletes.
//   - tcp max-incomplete host N block-time M: half-open TCP sessions per
//     destination host. M = 0: each new SYN beyond N deletes that host's
//     oldest half-open session. M > 0: all of the host's half-open sessions
//     are deleted and new connections to it refused for M
//     (%FW-4-HOST_TCP_ALERT_ON, %FW-2-BLOCK_HOST, %FW-4-UNBLOCK_HOST).
//
// One Admission per worker, used only by that worker, on the packet path
// (no allocation). The global half-open count, rate window and aggressive
// mode live in a Shared that the workers' Admissions share. The per-host
// counts are per worker (the host table is not shared): with several workers
// a host's limit applies to the sessions each worker owns.
//
// The dataplane calls NewSession before it creates a session, acts on the
// Decision (deleting sessions it designates, calling HalfOpenDone for each),
// calls HalfOpenDone when a half-open session becomes established or goes
// away, and Tick between batches. Events for the log are appended to the
// buffer given to NewAdmission and taken with TakeEvents.
package inspect

// Thresholds are the "ip inspect" DoS settings. A high of 0 or less turns
// its check off; HostMax <= 0 turns the per-host limit off. BlockTime is in
// nanoseconds (IOS configures minutes); 0 means delete the host's oldest
// half-open session instead of blocking.
type Thresholds struct {
	MaxIncompleteLow, MaxIncompleteHigh int
	OneMinuteLow, OneMinuteHigh         int
	HostMax                             int
	BlockTime                           int64
}

// DefaultThresholds are the IOS defaults (the seed's show ip inspect all).
var DefaultThresholds = Thresholds{
	MaxIncompleteLow: 400, MaxIncompleteHigh: 500,
	OneMinuteLow: 400, OneMinuteHigh: 500,
	HostMax: 50,
}

// Decision is what the dataplane does with a new session.
type Decision uint8

const (
	// Admit: create the session.
	Admit Decision = iota
	// DeleteOldestHalfOpen: aggressive mode with more half-open sessions
	// than max-incomplete low; create the session and delete the oldest
	// half-open session (of any host).
	DeleteOldestHalfOpen
	// DeleteOldestOfHost: the host has HostMax half-open TCP sessions and
	// block-time is 0; create the session and delete the host's oldest
	// half-open TCP session.
	DeleteOldestOfHost
	// RefuseHostBlocked: the destination host is blocked; drop the packet.
	RefuseHostBlocked
	// BlockHost: the host exceeded HostMax with block-time > 0: drop the
	// packet and delete all half-open TCP sessions to the host. New
	// connections to it are refused until the block ends.
	BlockHost
)

var decisionNames = [...]string{"admit", "delete-oldest-half-open", "delete-oldest-of-host", "refuse-host-blocked", "block-host"}

func (d Decision) String() string {
	if int(d) < len(decisionNames) {
		return decisionNames[d]
	}
	return "unknown"
}

// Admitted reports whether the session is to be created.
func (d Decision) Admitted() bool { return d <= DeleteOldestOfHost }

// Stats are this worker's counters for show ip inspect statistics. Read them
// on the worker (control mailbox); the global ones are in Shared.
type Stats struct {
	Created           uint64 // sessions admitted
	AggressiveDeletes uint64 // DeleteOldestHalfOpen decisions
	HostDeletes       uint64 // DeleteOldestOfHost decisions
	HostBlocks        uint64 // BlockHost decisions
	RefusedBlocked    uint64 // RefuseHostBlocked decisions
	HostOverflow      uint64 // new TCP sessions to a host left untracked: host table full
	EventsDropped     uint64 // events lost: buffer full
}

// blockRecord is an entry of the FIFO of blocks, in the order they end
// (BlockTime is the same for all, so FIFO order is deadline order).
type blockRecord struct {
	addr  uint32
	until int64
}

// Admission is one worker's admission state. Not safe for concurrent use.
type Admission struct {
	th      Thresholds
	shared  *Shared
	hosts   hostTable
	blocks  []blockRecord // ring, len = capacity
	bHead   int
	bLen    int
	events  []Event
	lastNow int64
	stats   Stats
}

// NewAdmission returns an Admission. shared may be nil (a private one is made: one
// worker). maxHosts bounds the per-host table (hosts with half-open TCP
// sessions or blocked); seed keys its hash. Events are appended to events
// (len reset to 0) up to its capacity, then dropped and counted.
func NewAdmission(th Thresholds, shared *Shared, maxHosts int, seed uint64, events []Event) *Admission {
	if shared == nil {
		shared = new(Shared)
	}
	if maxHosts < 1 {
		maxHosts = 1
	}
	return &Admission{
		th:     th,
		shared: shared,
		hosts:  newHostTable(maxHosts, seed),
		blocks: make([]blockRecord, 2*maxHosts),
		events: events[:0],
	}
}

// SetThresholds installs new thresholds (configuration reload). Current
// blocks keep their end time.
func (a *Admission) SetThresholds(th Thresholds) { a.th = th }

// Thresholds returns the thresholds in force.
func (a *Admission) Thresholds() Thresholds { return a.th }

// Shared returns the shared state (for show commands).
func (a *Admission) Shared() *Shared { return a.shared }

// Stats returns this worker's counters.
func (a *Admission) Stats() Stats { return a.stats }

// TakeEvents returns the pending events and empties the buffer. The slice
// aliases the buffer given to NewAdmission: copy what is kept before the next call
// to NewSession, HalfOpenDone or Tick.
func (a *Admission) TakeEvents() []Event {
	ev := a.events
	a.events = a.events[:0]
	return ev
}

// HostHalfOpen is the number of half-open TCP sessions to dst counted by this
// worker, and whether dst is blocked at now.
func (a *Admission) HostHalfOpen(dst uint32, now int64) (int, bool) {
	h := a.hosts.get(dst)
	if h == nil {
		return 0, false
	}
	return int(h.count), h.blocked && now < h.until
}

// NewSession decides on a session about to be created: the first packet of a
// flow that an inspection rule covers, to destination dst (as on the wire at
// ingress; the same address must be given to HalfOpenDone). tcp selects the
// per-host limit. An admitted session counts as half-open from now on: if
// the caller then fails to create it (table full), it calls HalfOpenDone.
func (a *Admission) NewSession(now int64, dst uint32, tcp bool) Decision {
	a.lastNow = now
	s := a.shared
	d := Admit
	var h *host
	if tcp && a.th.HostMax > 0 {
		h = a.hosts.getOrAdd(dst)
		if h == nil {
			a.stats.HostOverflow++
		} else {
			if h.blocked {
				if now < h.until {
					a.stats.RefusedBlocked++
					return RefuseHostBlocked
				}
				a.unblock(h, now)
			}
			if int(h.count) >= a.th.HostMax {
				if !h.alerted {
					h.alerted = true
					a.emit(Event{Kind: EventHostAlertOn, Host: dst, Count: int(h.count) + 1, Limit: a.th.HostMax, Time: now})
				}
				if a.th.BlockTime > 0 {
					a.block(h, now)
					return BlockHost
				}
				d = DeleteOldestOfHost
				a.stats.HostDeletes++
			}
			h.count++
		}
	}
	s.advance(now)
	s.cur.Add(1)
	s.created.Add(1)
	a.stats.Created++
	n := s.halfOpen.Add(1)
	rate := s.sum.Load() + s.cur.Load()
	if hi := a.th.MaxIncompleteHigh; hi > 0 && n > int64(hi) && s.mode.Load()&modeCount == 0 {
		a.modeChange(s.setMode(modeCount, true), now)
	}
	if hi := a.th.OneMinuteHigh; hi > 0 && rate > int64(hi) && s.mode.Load()&modeRate == 0 {
		a.modeChange(s.setMode(modeRate, true), now)
	}
	atomicMax(&s.maxHalf, n)
	atomicMax(&s.maxRate, rate)
	if d == Admit && s.mode.Load() != 0 && n > int64(max(1, a.th.MaxIncompleteLow)) {
		d = DeleteOldestHalfOpen
		a.stats.AggressiveDeletes++
	}
	return d
}

// HalfOpenDone is called when a half-open session stops being half-open:
// established (TCP handshake done, UDP reply seen), deleted or expired.
// dst and tcp are those given to NewSession.
func (a *Admission) HalfOpenDone(dst uint32, tcp bool) {
	s := a.shared
	n := s.halfOpen.Add(-1)
	if tcp && a.th.HostMax > 0 {
		if h := a.hosts.get(dst); h != nil {
			if h.count > 0 {
				h.count--
			}
			if int(h.count) < a.th.HostMax {
				h.alerted = false
			}
			if h.count == 0 && !h.blocked {
				a.hosts.remove(dst)
			}
		}
	}
	if n < int64(a.th.MaxIncompleteLow) && s.mode.Load()&modeCount != 0 {
		a.modeChange(s.setMode(modeCount, false), a.lastNow)
	}
}

// Tick runs between batches: it rotates the rate window, leaves the rate
// trigger when the rate fell below one-minute low (and the count trigger if
// another worker's sessions brought the count below low), ends blocks that
// are due.
func (a *Admission) Tick(now int64) {
	a.lastNow = now
	s := a.shared
	s.advance(now)
	rate := s.sum.Load() + s.cur.Load()
	n := s.halfOpen.Load()
	if m := s.mode.Load(); m != 0 {
		if m&modeRate != 0 && rate < int64(a.th.OneMinuteLow) {
			a.modeChange(s.setMode(modeRate, false), now)
		}
		if m&modeCount != 0 && n < int64(a.th.MaxIncompleteLow) {
			a.modeChange(s.setMode(modeCount, false), now)
		}
	}
	for a.bLen > 0 {
		r := a.blocks[a.bHead]
		if r.until > now {
			break
		}
		a.bHead++
		if a.bHead == len(a.blocks) {
			a.bHead = 0
		}
		a.bLen--
		// A stale record: the host was unblocked by NewSession already.
		if h := a.hosts.get(r.addr); h != nil && h.blocked && h.until == r.until {
			a.unblock(h, now)
			if h.count == 0 {
				a.hosts.remove(r.addr)
			}
		}
	}
}

// block starts a block of h (IOS block-time): the caller deletes its
// half-open sessions, which brings its count to 0 through HalfOpenDone.
func (a *Admission) block(h *host, now int64) {
	h.blocked = true
	h.until = now + a.th.BlockTime
	a.stats.HostBlocks++
	if a.bLen < len(a.blocks) { // else NewSession ends the block when due
		i := a.bHead + a.bLen
		if i >= len(a.blocks) {
			i -= len(a.blocks)
		}
		a.blocks[i] = blockRecord{addr: h.addr, until: h.until}
		a.bLen++
	}
	a.emit(Event{Kind: EventBlockHost, Host: h.addr, Count: int(h.count) + 1, Limit: a.th.HostMax,
		Minutes: int(a.th.BlockTime / 60e9), Time: now})
}

func (a *Admission) unblock(h *host, now int64) {
	h.blocked = false
	a.emit(Event{Kind: EventUnblockHost, Host: h.addr, Time: now})
}

// modeChange emits ALERT_ON / ALERT_OFF for a transition from setMode.
func (a *Admission) modeChange(tr int, now int64) {
	if tr == 0 {
		return
	}
	s := a.shared
	ev := Event{Count: int(s.halfOpen.Load()), Rate: int(s.sum.Load() + s.cur.Load()), Time: now}
	if tr > 0 {
		ev.Kind, ev.Limit = EventAlertOn, a.th.MaxIncompleteHigh
	} else {
		ev.Kind, ev.Limit = EventAlertOff, a.th.MaxIncompleteLow
	}
	a.emit(ev)
}

func (a *Admission) emit(ev Event) {
	if len(a.events) == cap(a.events) {
		a.stats.EventsDropped++
		return
	}
	a.events = append(a.events, ev)
}
