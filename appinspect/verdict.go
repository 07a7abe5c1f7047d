package appinspect

import "cbac/ftpfsm"

// Action is what the caller does with a segment an inspector read.
type Action uint8

const (
	// Forward: send the segment's payload as it came, at sequence number
	// Verdict.Seq.
	Forward Action = iota
	// Rewrite: send Verdict.Out instead of the payload, at Verdict.Seq
	// (the IP total length and the TCP checksum change).
	Rewrite
	// Drop: do not send the segment (Verdict.Why).
	Drop
	// Reset: the segment is refused; do not send it, reset both ends and
	// end the session (Verdict.Alerts says why).
	Reset
)

var actionNames = [...]string{"forward", "rewrite", "drop", "reset"}

func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "?"
}

// Why is the reason of a Drop.
type Why uint8

const (
	WhyNone       Why = iota
	WhyOutOfOrder     // the segment begins beyond the next byte the inspector expects
	WhyUnknown        // its numbers lie before a rewrite the inspector no longer remembers
	WhyInvalid        // data on a SYN, or before the stream's start is known
	WhyBufferFull     // the replay copy has no room until the peer acknowledges more
)

// Expect is a related connection an inspector announced: a TCP SYN from
// Src to Dst:Port (addresses as the firewall receives that connection's
// packets) is to be admitted once.
type Expect struct {
	Src  uint32
	Dst  uint32
	Port uint16
	// From is the end of the announcing session that will connect: 1 the
	// server (PORT, EPRT: active FTP), 0 the client (227, 229: passive).
	From uint8
	Kind ftpfsm.Kind // the announcement
}

// MaxExpect is how many related connections one Verdict carries; a
// segment that announces more keeps the last ones.
const MaxExpect = 4

// Verdict is what an inspector decided about one segment. It is a value;
// Out points into the caller's scratch buffer.
type Verdict struct {
	Action   Action
	Why      Why
	ClearFIN bool   // Rewrite: the FIN is not sent with Out (the rest follows later)
	Seq      uint32 // the sequence number to send the segment with
	Out      []byte // Rewrite: the payload to send (SMTP: the payload itself, rewritten in place)

	// HoldFrame (Forward, Rewrite; SMTP): the segment's new bytes are kept
	// by reference where HoldAt said; the caller holds that memory until
	// the inspector gives its offset back. Differs: retransmitted bytes
	// differed from the first copy (they are sent as it was).
	HoldFrame bool
	Differs   bool

	// Alerts of the segment (sent or not). Refused is the first
	// announcement refused (its Refused field is set), for the message.
	Alerts  ftpfsm.AlertSet
	Refused ftpfsm.Announcement

	// Reset: the RST to the segment's receiver carries sequence number
	// RSTSeq (the receiver's numbering of the sender's stream: the next
	// byte it expects); the RST to the sender acknowledges RSTAck (the
	// sender's own numbering).
	RSTSeq uint32
	RSTAck uint32

	NExpect int
	Expect  [MaxExpect]Expect
}

func (v *Verdict) expect(e Expect) {
	if v.NExpect == MaxExpect {
		copy(v.Expect[:], v.Expect[1:])
		v.NExpect--
	}
	v.Expect[v.NExpect] = e
	v.NExpect++
}
