package dataplane

import (
	"cbac/flowtable"
	"cbac/nat"
	"cbac/tcpstate"
)

// Session is the dataplane's per-session payload, kept in a slab parallel
// to the worker's flowtable (same uint32 index). It holds what the packet
// path needs for both directions, computed once at creation (VPP
// nat_6t_flow_t): egress port, next hop and NAT rewrite per direction.
// No pointers, so a slab of a million costs the GC nothing.
//
// The field order is warm.go's: the fields warmSession reads lie at most 64
// bytes apart and cover the first and last bytes, so that reading them
// loads every cache line of the session (TestSessionWarmCoversLines).
type Session struct {
	Kind    ProtoKind
	flags   uint8
	idle    uint8    // expiry class while established
	port    [2]uint8 // egress port per direction (0: initiator->responder)
	app     uint32   // by Kind: SMTP, ESMTP, FTP, HTTP (an untrusted server's: http.go): 1 + index into the inspector's pool (0: none, released); ftp-data: 1 + the control session's SessionInfo.ID
	host    uint32   // responder address (post-NAT), for per-host half-open counts
	xlate   [2]nat.Rewrite
	nextHop [2]uint32
	tcp     tcpstate.Conn
	splice  uint32 // 1 + index into the worker's splice pool (TCP intercept); 0: none
	Bytes   [2]uint64
}

const (
	sfHalfOpen uint8 = 1 << iota
	sfAlert
	sfAudit
	sfDNS
	sfReplied
	sfTCP
	sfClosed // TCP connection closed: finwait restarted from the close
	// sfIncomplete: one of TCP intercept's incomplete connections
	// (watch.go: Worker.incomplete).
	sfIncomplete
)

// SessionInfo describes one session for `show ip inspect sessions`.
type SessionInfo struct {
	ID       uint32 // worker<<24 | index
	Kind     ProtoKind
	Orig     flowtable.Key // initiator -> responder as seen at ingress
	Reply    flowtable.Key // responder -> initiator as seen at ingress
	State    string        // SIS_OPENING, SIS_OPEN, SIS_CLOSING
	HalfOpen bool
	Closing  bool
	Created  int64
	LastSeen int64
	Bytes    [2]uint64
	Now      int64
	// Parent is, for an ftp-data session, 1 + the ID of the FTP control
	// session that announced it (0: none).
	Parent uint32
}

// Sessions lists the worker's sessions (control plane, through Do).
func (w *Worker) Sessions(out []SessionInfo) []SessionInfo {
	w.table.ForEach(func(idx uint32, e *flowtable.Entry) bool {
		s := &w.sess[idx]
		si := SessionInfo{
			ID: uint32(w.ID)<<24 | idx, Kind: s.Kind, Orig: e.Orig, Reply: e.Reply,
			Created: e.Created, LastSeen: e.LastSeen, Bytes: s.Bytes, Now: w.now,
			HalfOpen: s.flags&sfHalfOpen != 0,
		}
		if s.Kind == InspectFTPData {
			si.Parent = s.app
		}
		switch {
		case s.flags&sfTCP != 0:
			si.State = s.tcp.SISName()
			si.Closing = si.State == "SIS_CLOSING"
		case si.HalfOpen:
			si.State = "SIS_OPENING"
		default:
			si.State = "SIS_OPEN"
		}
		out = append(out, si)
		return true
	})
	return out
}

// ClearSession deletes one session (id from SessionInfo) or, with all,
// every session of the worker. It returns how many it deleted.
func (w *Worker) ClearSession(id uint32, all bool) int {
	if all {
		var idx []uint32
		w.table.ForEach(func(i uint32, _ *flowtable.Entry) bool { idx = append(idx, i); return true })
		for _, i := range idx {
			w.deleteSession(i)
		}
		return len(idx)
	}
	if int(id>>24) != w.ID {
		return 0
	}
	i := id & 0xffffff
	if i == 0 || int(i) >= len(w.sess) || !w.table.Live(i) {
		return 0
	}
	w.deleteSession(i)
	return 1
}

// SessionCount returns the number of live and half-open sessions.
func (w *Worker) SessionCount() (live, halfOpen int) {
	return w.table.Len(), w.halfOpen
}

// finalize ends a session whose keys are already gone from the table:
// audit trail, threshold counts, SMTP state (unless released at close).
func (w *Worker) finalize(idx uint32) {
	s := &w.sess[idx]
	e := w.table.Entry(idx)
	w.halfOpenDone(s)
	if s.flags&sfAudit != 0 {
		ev := Event{Kind: EvAuditStop, Proto: s.Kind, Key: e.Orig, Bytes: s.Bytes}
		ev.Aux[0] = int64(e.Reply.Src)
		ev.Aux[1] = int64(e.Reply.SrcPort)
		w.emit(&ev)
	}
	w.releaseInspection(s)
	w.incompleteDone(idx)
	if s.splice != 0 {
		w.endIntercept(idx, s)
	}
	w.Stats.SessionsDeleted++
}

// deleteSession removes a live session.
func (w *Worker) deleteSession(idx uint32) {
	w.finalize(idx)
	w.table.Delete(idx)
}

// expire deletes sessions whose timer ran out (bounded work per batch).
// A TCP session still half-open when synwait (a watched one: watch-timeout)
// runs out is reset on both ends (resetHalfOpen), as IOS resets every
// session it drops.
func (w *Worker) expire() {
	ex := w.table.Expire(w.now, expireBudget, w.expired[:0])
	for _, idx := range ex {
		w.resetHalfOpen(idx, w.expireCause(&w.sess[idx]))
		w.finalize(idx)
	}
}

// tick advances the thresholds and forwards their events, and those of
// refusals left unreported (refusalLog).
func (w *Worker) tick() {
	w.flushRefusals()
	w.adm.Tick(w.now)
	evs := w.adm.TakeEvents()
	for i := range evs {
		ev := Event{Kind: EvThreshold}
		ev.Aux[0] = int64(evs[i].Kind)
		ev.Aux[1] = int64(evs[i].Count)
		ev.Aux[2] = int64(evs[i].Limit)
		ev.Aux[3] = int64(evs[i].Rate)
		ev.Key.Dst = evs[i].Host
		ev.Alert = uint32(evs[i].Minutes)
		w.emit(&ev)
	}
}

// timerClass maps a TCP session's timer to its expiry class.
func (w *Worker) timerClass(s *Session) uint8 {
	switch s.tcp.TimerClass() {
	case tcpstate.TimerSynWait:
		if s.flags&sfIncomplete != 0 && s.splice == 0 {
			return w.rs.interceptWatch // watch-timeout (watch.go); else synwait
		}
		return w.rs.ClassSynWait
	case tcpstate.TimerFinWait:
		if s.splice != 0 && w.rs.Intercept != nil {
			return w.rs.interceptFinRst // ip tcp intercept finrst-timeout
		}
		return w.rs.ClassFinWait
	}
	return s.idle
}

// releaseInspection ends the application-layer inspection of session s,
// whose connection closed (forwardSession) or which ends (finalize): its
// inspector's state (SMTP, FTP, HTTP; an ftp-data session's app field names its
// control session and is kept). The session itself stays as it is.
func (w *Worker) releaseInspection(s *Session) {
	if s.app == 0 {
		return
	}
	switch s.Kind {
	case InspectSMTP, InspectESMTP:
		w.releaseSMTP(s)
	case InspectFTP:
		w.releaseFTP(s)
	case InspectHTTP:
		w.releaseHTTP(s)
	}
}

// halfOpenDone ends a session's half-open accounting once (it became
// established, or it is going away).
func (w *Worker) halfOpenDone(s *Session) {
	if s.flags&sfHalfOpen == 0 {
		return
	}
	s.flags &^= sfHalfOpen
	w.halfOpen--
	w.adm.HalfOpenDone(s.host, s.flags&sfTCP != 0)
}
