package tcpintercept

import (
	"encoding/binary"

	"cbac/packet"
)

// DefaultWScale is the window scale cbacd advertises to a client whose SYN
// offered scaling, when nothing better is known of the server: 7 is what a
// Linux server picks with its default receive buffer limit (6 MiB), so the
// common case needs no rescaling. The dataplane may pass instead the scale
// the protected server announced in its last SYN/ACK.
const DefaultWScale = 7

// Halves is what the two handshakes established: cbacd's cookie SYN/ACK to
// the client and the server's SYN/ACK to cbacd's SYN (which carried the
// client's ISN and options: WriteServerSYN).
type Halves struct {
	CookieISN   uint32 // cbacd's ISN towards the client
	ServerISN   uint32 // the server's ISN
	CookieTSval uint32 // TSval of cbacd's SYN/ACK (the client's ACK echoes it)
	ServerTSval uint32 // TSval of the server's SYN/ACK
	ClientTS    bool   // the client negotiated timestamps with cbacd (its ACK had them)
	ServerTS    bool   // the server's SYN/ACK had timestamps
	// ClientWScale is the client's shift from the cookie (-1: none, always
	// so without timestamps); cbacd sent it on to the server.
	ClientWScale int8
	// AdvertisedWScale is the shift cbacd's SYN/ACK gave the client (used
	// only when ClientWScale >= 0), the wscale given to WriteSYNACK.
	AdvertisedWScale int8
	ServerWScale     int8 // the server's SYN/ACK shift (-1: none)
}

// Splice joins the two halves of an intercepted connection. The client's
// sequence space passes unchanged (the server SYN carried the client's
// ISN); the server's is shifted by the ISN difference. When both sides use
// timestamps the server's TSval clock is shifted onto the cookie's. Window
// fields are rescaled where the shift a receiver applies differs from the
// shift the sender used. No pointers: it lives in the session entry.
type Splice struct {
	seqOff  uint32 // ServerISN - CookieISN: server seq = client's view + seqOff
	tsOff   uint32 // ServerTSval - CookieTSval
	s2cFrom uint8  // shift of window fields the server sends
	s2cTo   uint8  // shift the client applies to them
	c2sFrom uint8  // shift of window fields the client sends
	c2sTo   uint8  // shift the server applies to them
	ts      bool
}

// NewSplice returns the splice for h.
func NewSplice(h *Halves) Splice {
	s := Splice{seqOff: h.ServerISN - h.CookieISN}
	if h.ClientTS && h.ServerTS {
		s.ts, s.tsOff = true, h.ServerTSval-h.CookieTSval
	}
	// RFC 7323 section 2.2: scaling is on between two ends only if both
	// SYNs carried the option; each end shifts the windows it sends by its
	// own announced shift.
	if h.ClientWScale >= 0 {
		s.s2cTo = shift(h.AdvertisedWScale)
		s.c2sFrom = shift(h.ClientWScale)
		if h.ServerWScale >= 0 {
			s.s2cFrom = shift(h.ServerWScale)
			s.c2sTo = s.c2sFrom
		}
	}
	return s
}

// shift returns a window scale option value as a shift count: 0..14
// (RFC 7323 section 2.3: a shift above 14 is taken as 14); a value below 0
// (none) where one must be advertised is taken as 0.
func shift(v int8) uint8 {
	if v < 0 {
		return 0
	}
	return uint8(min(v, 14))
}

// rescale returns window field w, sent with shift from, as the field a
// receiver applying shift to must see: rounded down, at most 65535, so the
// receiver is never offered more than the sender allows.
func rescale(w uint16, from, to uint8) uint16 {
	v := uint64(w) << from >> to
	if v > 0xffff {
		return 0xffff
	}
	return uint16(v)
}

// ClientWindow returns the window field of the ACK cbacd sends the client
// once the server's SYN/ACK arrived (its window w is unscaled, as in any
// SYN), in the client's view: the cookie SYN/ACK advertised 0.
func (s *Splice) ClientWindow(w uint16) uint16 { return rescale(w, 0, s.s2cTo) }

// ServerToClient translates a server->client segment in place, updating the
// checksum incrementally: sequence number, TSval (its TSecr echoes the
// client's clock, which passes unchanged), window. SACK blocks need nothing:
// they name the client's sequence numbers. t must have passed IsValid.
func (s *Splice) ServerToClient(t packet.TCP) {
	t.SetSeqWithChecksum(t.Seq() - s.seqOff)
	if s.s2cFrom != s.s2cTo {
		t.SetWindowWithChecksum(rescale(t.Window(), s.s2cFrom, s.s2cTo))
	}
	if s.ts {
		if off, l := t.FindOption(packet.TCPOptTS); l == packet.TCPOptTSLen {
			t.SetUint32AtWithChecksum(off+2, t.Uint32At(off+2)-s.tsOff)
		}
	}
}

// ClientToServer translates a client->server segment in place, updating the
// checksum incrementally: acknowledgement number (when ACK is set), SACK
// block edges (RFC 2018: they name the server's sequence numbers as the
// client sees them), TSecr, window. t must have passed IsValid.
func (s *Splice) ClientToServer(t packet.TCP) {
	if t.Flags()&packet.ACK != 0 {
		t.SetAckWithChecksum(t.Ack() + s.seqOff)
	}
	if s.c2sFrom != s.c2sTo {
		t.SetWindowWithChecksum(rescale(t.Window(), s.c2sFrom, s.c2sTo))
	}
	if s.ts {
		if off, l := t.FindOption(packet.TCPOptTS); l == packet.TCPOptTSLen {
			t.SetUint32AtWithChecksum(off+6, t.Uint32At(off+6)+s.tsOff)
		}
	}
	if s.seqOff != 0 {
		if off, l := t.FindOption(packet.TCPOptSACK); l >= 10 && (l-2)%8 == 0 {
			for e := off + 2; e < off+l; e += 4 {
				t.SetUint32AtWithChecksum(e, t.Uint32At(e)+s.seqOff)
			}
		}
	}
}

// QuotedServerToClient translates back into the server's space the start
// of a server->client segment that an ICMP error quotes (q: the quoted
// TCP bytes, RFC 792's 8 or more): its sequence number, and its checksum
// when quoted, so that the server matches the error to its connection
// (path MTU discovery). It returns the one's complement delta of the
// bytes changed, for the ICMP checksum.
func (s *Splice) QuotedServerToClient(q []byte) uint32 {
	if len(q) < 8 {
		return 0
	}
	return setQuoted(q, 4, binary.BigEndian.Uint32(q[4:])+s.seqOff)
}

// QuotedClientToServer translates back into the client's view the start
// of a client->server segment that an ICMP error quotes: its
// acknowledgement number, if quoted and the ACK flag is; the sequence
// number is the client's own. It returns the checksum delta as
// QuotedServerToClient.
func (s *Splice) QuotedClientToServer(q []byte) uint32 {
	if len(q) < 14 || q[13]&packet.ACK == 0 {
		return 0
	}
	return setQuoted(q, 8, binary.BigEndian.Uint32(q[8:])-s.seqOff)
}

// setQuoted writes v at off of the quoted TCP bytes q, updating the quoted
// checksum if it is there, and returns the delta of every byte changed.
func setQuoted(q []byte, off int, v uint32) uint32 {
	old := binary.BigEndian.Uint32(q[off:])
	binary.BigEndian.PutUint32(q[off:], v)
	d := packet.ChecksumDelta32(old, v)
	if len(q) >= 18 {
		t := packet.TCP(q)
		oc := t.Checksum()
		c := packet.ApplyDelta(oc, d)
		t.SetChecksum(c)
		d += packet.ChecksumDelta16(oc, c)
	}
	return d
}
