package dataplane

import (
	"time"

	"cbac/flowtable"
	"cbac/smtpfsm"
)

// EventKind names what a worker reports to the control plane. Workers never
// format or log: they append fixed-size Events to their own ring, and the
// control plane turns them into IOS messages (%FW-6-SESS_AUDIT_TRAIL, ...),
// rate-limits and logs them (control-plane code: nothing is logged on the packet path).
type EventKind uint8

const (
	EvNone          EventKind = iota
	EvAuditStart              // session created (audit trail on)
	EvAuditStop               // session deleted (audit trail on): Bytes
	EvACLLog                  // ACL entry with "log" matched: ACL, Entry, Permit
	EvSMTPAlert               // SMTP violation: Alert, Text (verb or parameter)
	EvSMTPTrace               // debug ip inspect smtp trace line: Trace
	EvThreshold               // inspect.Event (ALERT_ON/OFF, host block): Threshold
	EvStreamDiffers           // retransmission with different bytes in an inspected stream
	EvMaxData                 // max-data exceeded, session reset
	EvTableFull               // session table full: Aux[0] capacity, Aux[1] refusals, Aux[2] worker (refusalLog)
	EvReassembly              // virtual reassembly overflow
	EvInspectFull             // inspected sessions at their limit: Aux as EvTableFull (refusalLog)
	EvInterceptAuto           // TCP intercept auto mode: cookies on (Aux[0] 1) or off; Aux[1] count, Aux[2] threshold, Aux[3] worker
	EvFTPAlert                // FTP check failed: Alert the ftpfsm.AlertKind; FTPAlertAnnouncement (ftp.go)
	EvJavaBlock               // Java applet blocked, session reset (http.go): Key the session's; Alert the httpfsm.Cause
)

// Event is one record handed from a worker to the control plane.
type Event struct {
	Kind    EventKind
	Proto   ProtoKind // inspected protocol of the session
	Key     flowtable.Key
	Now     int64
	Bytes   [2]uint64
	ACL     int32
	Entry   int32
	Permit  bool
	Alert   uint32
	Aux     [4]int64
	TextLen uint8
	Text    [31]byte
	Trace   smtpfsm.Event // EvSMTPTrace
}

// SetText copies s (truncated) into the event.
func (e *Event) SetText(b []byte) {
	e.TextLen = uint8(copy(e.Text[:], b))
}

// TextString returns the event's text.
func (e *Event) TextString() string { return string(e.Text[:e.TextLen]) }

// refusalLog rate-limits the event of a limit that refuses new sessions
// (EvTableFull, EvInspectFull): the first refusal is reported at once,
// later ones at most once a second per worker, each report counting the
// refusals since the previous one; refusals left unreported are reported
// by flushRefusals between batches once the second is over. Every refusal
// is also counted as a drop.
type refusalLog struct {
	next    int64  // no report before this time
	pending uint64 // refusals not reported yet
}

// refusalInterval is the least time between two reports of one limit.
const refusalInterval = int64(time.Second)

// refused counts one refusal by the limit that l logs (kind, limit: its
// value) and reports it if the last report is a second old.
func (w *Worker) refused(l *refusalLog, kind EventKind, limit int) {
	l.pending++
	if w.now >= l.next {
		w.reportRefusals(l, kind, limit)
	}
}

// flushRefusals reports refusals left pending, once their second is over.
func (w *Worker) flushRefusals() {
	if w.tableFull.pending > 0 && w.now >= w.tableFull.next {
		w.reportRefusals(&w.tableFull, EvTableFull, w.table.Capacity())
	}
	if w.inspectFull.pending > 0 && w.now >= w.inspectFull.next {
		w.reportRefusals(&w.inspectFull, EvInspectFull, w.smtpLimit())
	}
}

func (w *Worker) reportRefusals(l *refusalLog, kind EventKind, limit int) {
	ev := Event{Kind: kind}
	ev.Aux[0] = int64(limit)
	ev.Aux[1] = int64(l.pending)
	ev.Aux[2] = int64(w.ID)
	w.emit(&ev)
	l.pending = 0
	l.next = w.now + refusalInterval
}
