package dataplane

import (
	"cbac/flowtable"
	"cbac/smtpfsm"
)

// Gauges for the control plane (`show` commands, the Prometheus
// collector): what a worker holds now, read on the worker through Do, so
// the packet path keeps no counters for them.

// SISState is a session's state as `show ip inspect sessions` names it.
type SISState uint8

const (
	SISOpening SISState = iota // SIS_OPENING: half-open
	SISOpen                    // SIS_OPEN
	SISClosing                 // SIS_CLOSING: TCP FIN or RST seen
	NumSISStates
)

var sisStateNames = [NumSISStates]string{"SIS_OPENING", "SIS_OPEN", "SIS_CLOSING"}

func (s SISState) String() string {
	if s < NumSISStates {
		return sisStateNames[s]
	}
	return "?"
}

// NumProtoKinds bounds ProtoKind: kinds are 1 .. NumProtoKinds-1 (each
// has a name).
const NumProtoKinds = ProtoKind(len(protoKindNames))

// SessionCounts are a worker's sessions counted by protocol and state, and
// those whose addresses NAT translates (the dynamic lines of `show ip nat
// translations`).
type SessionCounts struct {
	ByKind     [NumProtoKinds][NumSISStates]int
	Translated int
}

// CountSessions adds the worker's sessions to c (control plane, through
// Do: it walks the whole table, so it holds the worker for a time that
// grows with the number of sessions: 0.5-2 ms per hundred thousand,
// metrics BenchmarkCountSessions100k).
func (w *Worker) CountSessions(c *SessionCounts) {
	w.table.ForEach(func(idx uint32, e *flowtable.Entry) bool {
		s := &w.sess[idx]
		st := SISOpen
		switch {
		case s.flags&sfTCP != 0:
			switch s.tcp.SISName() {
			case "SIS_OPENING":
				st = SISOpening
			case "SIS_CLOSING":
				st = SISClosing
			}
		case s.flags&sfHalfOpen != 0:
			st = SISOpening
		}
		if s.Kind < NumProtoKinds {
			c.ByKind[s.Kind][st]++
		}
		if e.Orig.Src != e.Reply.Dst || e.Orig.Dst != e.Reply.Src {
			c.Translated++
		}
		return true
	})
}

// Pools are the fill levels of a worker's preallocated pools.
type Pools struct {
	FramesFree    int // UMEM frames in the worker's free pool (not in a ring, not held)
	FramesHeld    int // frames held by SMTP stream guards until the server's ACK
	FramesParked  int // held frames that were transmitted (their completion came back)
	SMTPInUse     int // SMTP inspection states in use
	SMTPFree      int // SMTP inspection states allocated and free
	SMTPAllocated int // SMTP inspection states allocated (the pool grows in chunks)
	SMTPMax       int // most states the pool may hold (the session table's capacity, rounded up to a chunk)
	ARPPending    int // frames waiting for an ARP answer
	ARPPendingMax int
	Reassembling  int // datagrams in virtual reassembly (at most [reassembly] max_datagrams)
	EventsQueued  int // events waiting for the control plane
	EventsMax     int
}

// Pools reports the worker's pool levels (control plane, through Do).
func (w *Worker) Pools() Pools {
	held, parked := w.FramesHeld()
	return Pools{
		FramesFree: len(w.pool.free), FramesHeld: held, FramesParked: parked,
		SMTPInUse: w.smtp.inUse, SMTPFree: len(w.smtp.freeList),
		SMTPAllocated: len(w.smtp.chunks) * smtpChunk, SMTPMax: cap(w.smtp.chunks) * smtpChunk,
		ARPPending: w.pend.n, ARPPendingMax: arpQueueLen,
		Reassembling: w.vfr.Len(),
		EventsQueued: w.events.len(), EventsMax: len(w.events.ring),
	}
}

// Aggressive reports whether the CBAC thresholds (max-incomplete,
// one-minute) hold the firewall in aggressive mode; halfOpen is the
// half-open session count of all workers and rate the sessions created in
// the last minute. Safe from any goroutine.
func (dp *Dataplane) Aggressive() (on bool, halfOpen, rate int) {
	return dp.shared.Aggressive(), dp.shared.HalfOpen(), dp.shared.Rate()
}

// NumSMTPAlerts is the number of SMTP alert kinds (Stats.SMTPAlerts).
const NumSMTPAlerts = smtpfsm.NumAlerts

// Running reports whether worker goroutines run the batches (XDP.Run), so
// that Do goes through their mailboxes.
func (dp *Dataplane) Running() bool { return dp.running.Load() }
