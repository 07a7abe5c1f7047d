package tcpstate

// Verdict is the outcome of one segment: Accept, or the reason it is
// dropped. The dataplane counts drops per reason.
type Verdict uint8

const (
	Accept           Verdict = iota
	NotSyn                   // first segment of a session is not a SYN without ACK
	BadFlags                 // invalid flag combination (SYN|FIN, SYN|RST, FIN without ACK, none...)
	BadHandshake             // segment out of place in the three-way handshake
	OutOfWindow              // sequence beyond the receiver's window, or below what was acknowledged
	AckUnseen                // ACK for data the peer has not sent
	AckTooOld                // ACK far below the peer's data (van Rooij bound IV)
	BadRST                   // RST not at the exact next sequence (RFC 5961 3.2), or out of window while closing
	SynOnEstablished         // SYN after the handshake completed
	DataAfterFin             // sequence space used beyond the sender's FIN
	AfterReset               // segment after an RST closed the session
	numVerdicts
)

var verdictNames = [numVerdicts]string{
	Accept:           "accept",
	NotSyn:           "not-syn",
	BadFlags:         "bad-flags",
	BadHandshake:     "bad-handshake",
	OutOfWindow:      "out-of-window",
	AckUnseen:        "ack-unseen",
	AckTooOld:        "ack-too-old",
	BadRST:           "bad-rst",
	SynOnEstablished: "syn-on-established",
	DataAfterFin:     "data-after-fin",
	AfterReset:       "after-reset",
}

func (v Verdict) String() string {
	if v < numVerdicts {
		return verdictNames[v]
	}
	return "unknown"
}

// NumVerdicts is the number of verdicts, for per-reason counter arrays.
const NumVerdicts = int(numVerdicts)

// State is the connection state, named as in Linux conntrack. It is derived
// from the handshake phase and the per-direction FIN/ACK/RST flags; see
// STATES.md for the diagram.
type State uint8

const (
	None        State = iota // no SYN seen (zero Conn)
	SynSent                  // initiator's SYN seen
	SynRecv                  // responder's SYN/ACK seen
	Established              // initiator acknowledged the SYN/ACK
	FinWait                  // one direction sent a FIN, not yet acknowledged
	CloseWait                // one direction's FIN acknowledged, the other still open
	LastAck                  // both directions sent a FIN, not both acknowledged
	TimeWait                 // both FINs sent and acknowledged
	Closed                   // RST accepted
	numStates
)

var stateNames = [numStates]string{
	None:        "NONE",
	SynSent:     "SYN_SENT",
	SynRecv:     "SYN_RECV",
	Established: "ESTABLISHED",
	FinWait:     "FIN_WAIT",
	CloseWait:   "CLOSE_WAIT",
	LastAck:     "LAST_ACK",
	TimeWait:    "TIME_WAIT",
	Closed:      "CLOSE",
}

func (s State) String() string {
	if s < numStates {
		return stateNames[s]
	}
	return "unknown"
}

// Timer is the timeout class of a session (IOS "ip inspect tcp
// synwait-time / finwait-time / idle-time").
type Timer uint8

const (
	TimerSynWait Timer = iota // half-open: deleted after synwait-time
	TimerIdle                 // established: deleted after idle-time without traffic
	TimerFinWait              // both FINs or an RST seen: deleted after finwait-time
	numTimers
)

// NumTimers is the number of timer classes.
const NumTimers = int(numTimers)

var timerNames = [numTimers]string{
	TimerSynWait: "synwait",
	TimerIdle:    "idle",
	TimerFinWait: "finwait",
}

func (t Timer) String() string {
	if t < numTimers {
		return timerNames[t]
	}
	return "unknown"
}

// Timeouts holds the TCP timeouts in nanoseconds.
type Timeouts struct {
	SynWait, FinWait, Idle int64
}

// DefaultTimeouts are IOS's defaults, as in the seed configuration:
// synwait 30 s, finwait 5 s, idle 3600 s.
func DefaultTimeouts() Timeouts {
	return Timeouts{SynWait: 30e9, FinWait: 5e9, Idle: 3600e9}
}

// For returns the timeout of a timer class.
func (t *Timeouts) For(class Timer) int64 {
	switch class {
	case TimerSynWait:
		return t.SynWait
	case TimerFinWait:
		return t.FinWait
	}
	return t.Idle
}
