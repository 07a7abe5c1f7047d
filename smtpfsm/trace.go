package smtpfsm

import "strconv"

// Trace collects `debug ip inspect smtp` events for one call. It is owned by
// the caller, fixed in size, and reused: set N = 0 (or call Reset) before a
// call. When it is full, further events are counted in Dropped. A nil *Trace
// turns tracing off.
type Trace struct {
	Events  [64]Event
	N       int
	Dropped int
}

// Reset empties the trace.
func (t *Trace) Reset() { t.N = 0; t.Dropped = 0 }

func (t *Trace) add(e Event) {
	if t.N < len(t.Events) {
		t.Events[t.N] = e
		t.N++
		return
	}
	t.Dropped++
}

// EventKind names a trace event with the seed's words.
type EventKind uint8

const (
	EvVerb       EventKind = iota + 1 // VERB - Cmd len:L, match_len:M, cmd_re_state:S
	EvVerbMatch                       // VERB - match id:V (V = Verb)
	EvParam                           // CMD PARAM - Cmd len:L, match_len:M, cmd_re_state:S
	EvParamMatch                      // CMD PARAM - match id:6 (line end)
	EvEndCommand                      // End Of Command Line - index:I, len:L
	EvReplyType                       // reply_type T
	EvReply                           // OTHER REPLY - Reply len: L, match_len:M, reply_re_state:S
	EvReplyMatch                      // OTHER REPLY match id:13 (line) / 10 (final line)
	EvEndReply                        // End Of Reply Line - index:I ,len:L
)

// ReplyType is what a reply answers, printed by the reply_type event.
type ReplyType uint8

const (
	ReplyOthers ReplyType = iota
	ReplyData
	ReplyAuth
	ReplyStartTLS
	ReplyEHLO
	ReplyHELO
)

var replyTypeNames = [...]string{"OTHERS", "DATA", "AUTH", "STARTTLS", "EHLO", "HELO"}

// replyTypes maps a special kind to its reply type.
var replyTypes = [...]ReplyType{
	specNone: ReplyOthers,
	specData: ReplyData,
	specAuth: ReplyAuth,
	specTLS:  ReplyStartTLS,
	specEHLO: ReplyEHLO,
	specHELO: ReplyHELO,
}

func (t ReplyType) String() string {
	if int(t) < len(replyTypeNames) {
		return replyTypeNames[t]
	}
	return "?"
}

// Event is one trace event. Len and Index saturate at 2^32-1.
type Event struct {
	Kind      EventKind
	ReplyType ReplyType
	State     uint16 // cmd_re_state / reply_re_state (STATES.md)
	MatchID   uint16
	Len       uint32 // bytes of the line so far
	MatchLen  uint32 // bytes of the line consumed by this call
	Index     uint32 // command lines are numbered from 1, reply lines from 0
}

const tracePrefix = "CBAC SMTP: "

// Format appends the event as the seed's debug line (without timestamp),
// e.g. "CBAC SMTP: VERB - Cmd len:4, match_len:1, cmd_re_state:56".
func (e Event) Format(b []byte) []byte {
	b = append(b, tracePrefix...)
	switch e.Kind {
	case EvVerb, EvParam:
		if e.Kind == EvVerb {
			b = append(b, "VERB - Cmd len:"...)
		} else {
			b = append(b, "CMD PARAM - Cmd len:"...)
		}
		b = strconv.AppendUint(b, uint64(e.Len), 10)
		b = append(b, ", match_len:"...)
		b = strconv.AppendUint(b, uint64(e.MatchLen), 10)
		b = append(b, ", cmd_re_state:"...)
		b = strconv.AppendUint(b, uint64(e.State), 10)
	case EvVerbMatch:
		b = append(b, "VERB - match id:"...)
		b = strconv.AppendUint(b, uint64(e.MatchID), 10)
	case EvParamMatch:
		b = append(b, "CMD PARAM - match id:"...)
		b = strconv.AppendUint(b, uint64(e.MatchID), 10)
	case EvEndCommand:
		b = append(b, "End Of Command Line - index:"...)
		b = strconv.AppendUint(b, uint64(e.Index), 10)
		b = append(b, ", len:"...)
		b = strconv.AppendUint(b, uint64(e.Len), 10)
	case EvReplyType:
		b = append(b, "reply_type "...)
		b = append(b, e.ReplyType.String()...)
	case EvReply:
		b = append(b, "OTHER REPLY - Reply len: "...)
		b = strconv.AppendUint(b, uint64(e.Len), 10)
		b = append(b, ", match_len:"...)
		b = strconv.AppendUint(b, uint64(e.MatchLen), 10)
		b = append(b, ", reply_re_state:"...)
		b = strconv.AppendUint(b, uint64(e.State), 10)
	case EvReplyMatch:
		b = append(b, "OTHER REPLY match id:"...)
		b = strconv.AppendUint(b, uint64(e.MatchID), 10)
	case EvEndReply:
		b = append(b, "End Of Reply Line - index:"...)
		b = strconv.AppendUint(b, uint64(e.Index), 10)
		b = append(b, " ,len:"...)
		b = strconv.AppendUint(b, uint64(e.Len), 10)
	default:
		b = append(b, "?"...)
	}
	return b
}

// String formats the event (allocates; for tests and the control plane).
func (e Event) String() string { return string(e.Format(nil)) }

// traceProgress records the bytes [start, end) of the current command line
// as a VERB or CMD PARAM event; eol says the line terminator was reached.
func (s *Session) traceProgress(tr *Trace, start, end uint32, eol bool) {
	if end <= start {
		return
	}
	e := Event{Len: end, MatchLen: end - start}
	if s.phase == phVerb {
		e.Kind = EvVerb
		e.State = trieRoot
		if s.verbLen > 0 {
			e.State = uint16(s.node)
		}
	} else {
		e.Kind = EvParam
		switch {
		case eol || s.cr:
			e.State = uint16(psLineEnd)
		case s.params:
			e.State = uint16(s.pState)
		default:
			e.State = uint16(psText)
		}
	}
	tr.add(e)
}

// Reply parser states for the trace: 0-3 code octets read, 4 continuation
// text, 5 final text, 6 malformed line.
func (s *Session) traceReply(tr *Trace, start uint32) {
	st := uint16(s.rPos)
	switch {
	case s.rBad:
		st = 6
	case s.rPos >= 4 && s.rFinal:
		st = 5
	}
	tr.add(Event{Kind: EvReply, Len: s.rLen, MatchLen: s.rLen - start, State: st})
}
