package dataplane

import (
	"cbac/flowtable"
	"cbac/smtpfsm"
)

// EventKind names what a worker reports to the control plane. Workers never
// format or log: they append fixed-size Events to their own ring, and the
// control plane turns them into IOS messages (%FW-6-SESS_AUDIT_TRAIL, ...),
// rate-limits and logs them (STYLE.md, control-plane code).
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
	EvTableFull               // session table full (first refusal of a burst)
	EvReassembly              // virtual reassembly overflow
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
