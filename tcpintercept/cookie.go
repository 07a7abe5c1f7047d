package tcpintercept

import (
	"encoding/binary"

	"cbac/packet"
)

// Cookie timing (layout and reasons in the package doc).
const (
	// TickShift makes the cookie clock: count = now >> TickShift, one tick
	// per 2^36 ns (68.7 s). A shift, not a division, so that an epoch
	// before zero still counts forward.
	TickShift = 36
	// MaxAge is how many ticks a cookie is accepted for: one made during
	// tick c validates while the clock reads c or c+1 (68.7 s to 137 s, as
	// Linux's two minutes).
	MaxAge = 2
	// KeyTicks is the rotation period of the cookie secret in ticks
	// (64 ticks, 73.3 minutes).
	KeyTicks = 64

	countBits = 2 // tick bits carried in the ISN: enough to tell MaxAge ticks apart
	mssBits   = 3
	clearBits = countBits + mssBits
	macMask   = ^uint32(1<<clearBits - 1)

	tsBits      = 6 // option bits in the low end of TSval (Linux's TSBITS)
	tsWScale    = 0xf
	tsSACK      = 1 << 4
	tsECN       = 1 << 5
	tsNoWScale  = 0xf
	nsPerTSTick = 1 << 20 // TSval clock: 1.05 ms, within RFC 7323's 1 ms to 1 s
)

// MSSTable holds the MSS values a cookie can carry, sorted: a client's MSS
// is rounded down to the largest entry not above it. 536 is the floor, as in
// Linux: every IPv4 host accepts 576-byte datagrams, so a smaller announced
// MSS is still answered with 536. 1460 is Ethernet, 1440 and 1452 (PPPoE)
// round to 1440, 1400/1380/1360 tunnels, 1300 and 1200 VPNs, 8960 jumbo
// frames.
var MSSTable = [1 << mssBits]uint16{536, 1200, 1300, 1360, 1400, 1440, 1460, 8960}

// Tuple is a connection's addresses and ports, client to server.
type Tuple struct {
	Src, Dst         uint32
	SrcPort, DstPort uint16
}

// SYN is what a cookie keeps of a client's SYN.
type SYN struct {
	Tuple
	ISN      uint32
	MSS      uint16 // 0: no MSS option (RFC 9293: 536 is assumed)
	WScale   int8   // -1: no window scale option; else 0..14
	SACKPerm bool
	TS       bool   // Timestamps option present
	TSval    uint32 // the client's TSval, when TS
	ECN      bool   // ECE and CWR set (RFC 3168 section 6.1.1)
}

// ParseSYN reads a SYN from its addresses and a TCP view that passed
// IsValid.
func ParseSYN(src, dst uint32, t packet.TCP) SYN {
	s := SYN{Tuple: Tuple{src, dst, t.SrcPort(), t.DstPort()}, ISN: t.Seq()}
	s.WScale, s.MSS, s.SACKPerm = t.ParseOptions()
	s.TSval, _, s.TS = t.Timestamps()
	s.ECN = t.Flags()&(packet.ECE|packet.CWR) == packet.ECE|packet.CWR
	return s
}

// Cookie is what cbacd answers a SYN with, keeping nothing.
type Cookie struct {
	ISN   uint32 // the SYN/ACK's sequence number
	TSval uint32 // the SYN/ACK's TSval, when the SYN had timestamps
	MSS   uint16 // the client's MSS as encoded (rounded down to MSSTable)
}

// Opened is what a valid cookie ACK gives back: the client's SYN options as
// far as they survived, for cbacd's SYN to the server.
type Opened struct {
	ISN      uint32 // the client's ISN (the ACK's seq - 1)
	Cookie   uint32 // cbacd's ISN (the ACK's ack - 1)
	MSS      uint16 // from MSSTable
	WScale   int8   // -1 when absent or lost (no timestamps)
	SACKPerm bool   // false when lost
	TS       bool   // the ACK carried timestamps: they were negotiated
	TSval    uint32 // the ACK's TSval (the client's clock), when TS
	TSecr    uint32 // the ACK's TSecr (the cookie's TSval), when TS
	ECN      bool
}

// ACK is what Check reads of a client's ACK.
type ACK struct {
	Tuple
	Seq, Ack     uint32
	TS           bool
	TSval, TSecr uint32
}

// ParseACK reads an ACK from its addresses and a TCP view that passed
// IsValid.
func ParseACK(src, dst uint32, t packet.TCP) ACK {
	a := ACK{Tuple: Tuple{src, dst, t.SrcPort(), t.DstPort()}, Seq: t.Seq(), Ack: t.Ack()}
	a.TSval, a.TSecr, a.TS = t.Timestamps()
	return a
}

type genKey struct {
	gen    uint32
	k0, k1 uint64
	ok     bool
}

// Jar makes and checks cookies. Its secret for rotation generation g is
// derived from the master key (SipHash of g under the master), so every
// worker computes the same secrets without sharing state, and a cookie's
// own tick says which generation made it. The two latest generations are
// cached; Make and Check fill the cache (a Jar belongs to one worker).
type Jar struct {
	m0, m1 uint64
	keys   [2]genKey // indexed by gen & 1
}

// NewJar returns a Jar for a 128-bit master secret (from crypto/rand, kept
// for the daemon's life so that a reload does not void cookies in flight).
func NewJar(master [16]byte) Jar {
	return Jar{m0: binary.LittleEndian.Uint64(master[:]), m1: binary.LittleEndian.Uint64(master[8:])}
}

// key returns the secret of generation gen.
func (j *Jar) key(gen uint32) (uint64, uint64) {
	k := &j.keys[gen&1]
	if !k.ok || k.gen != gen {
		j.derive(gen)
	}
	return k.k0, k.k1
}

// derive computes generation gen's secret into the cache, once per
// rotation period (and once more for a cookie of the previous generation
// checked by a Jar that never made one).
func (j *Jar) derive(gen uint32) {
	var msg [8]byte
	binary.LittleEndian.PutUint32(msg[:], gen)
	k0 := sipHash(j.m0, j.m1, msg[:])
	msg[4] = 1
	k1 := sipHash(j.m0, j.m1, msg[:])
	j.keys[gen&1] = genKey{gen: gen, k0: k0, k1: k1, ok: true}
}

// mac returns the 64-bit hash that authenticates a cookie: SipHash-2-4
// under generation count/KeyTicks's secret of the 20 bytes
// src, dst, sport, dport, client ISN, count (24 bits), MSS index (3 bits),
// timestamps flag (1 bit).
func (j *Jar) mac(t *Tuple, isn, count, mssIdx uint32, ts bool) uint64 {
	k0, k1 := j.key(count / KeyTicks)
	m0 := uint64(t.Src)<<32 | uint64(t.Dst)
	m1 := uint64(t.SrcPort)<<48 | uint64(t.DstPort)<<32 | uint64(isn)
	m2 := count&0xffffff | mssIdx<<24
	if ts {
		m2 |= 1 << 27
	}
	return cookieHash(k0, k1, m0, m1, m2)
}

func tick(now int64) uint32 { return uint32(now >> TickShift) }

// mssIndex returns the index of the largest MSSTable entry <= mss (0 below
// the table, and for an absent option).
func mssIndex(mss uint16) uint32 {
	i := uint32(len(MSSTable) - 1)
	for ; i > 0; i-- {
		if mss >= MSSTable[i] {
			break
		}
	}
	return i
}

// Make returns the cookie for SYN s at time now (ns).
func (j *Jar) Make(now int64, s *SYN) Cookie {
	count := tick(now)
	idx := mssIndex(s.MSS)
	h := j.mac(&s.Tuple, s.ISN, count, idx, s.TS)
	c := Cookie{
		ISN: s.ISN + (uint32(h)&macMask | (count&(1<<countBits-1))<<mssBits | idx),
		MSS: MSSTable[idx],
	}
	if s.TS {
		opts := uint32(tsNoWScale)
		if s.WScale >= 0 {
			opts = uint32(s.WScale)
		}
		if s.SACKPerm {
			opts |= tsSACK
		}
		if s.ECN {
			opts |= tsECN
		}
		// The clock part is offset per connection by hash bits the ISN
		// does not use, so that TSval says nothing of cbacd's uptime.
		ts := uint32(now/nsPerTSTick) + uint32(h>>32)
		c.TSval = ts&^(1<<tsBits-1) | opts
	}
	return c
}

// Check validates a client's ACK at time now: ack-1 must be a cookie made
// for this tuple and ISN seq-1 during the last MaxAge ticks, under the
// secret of the generation of the tick it carries. It returns the options
// the cookie kept: MSS always; window scale, SACK-permitted and ECN only if
// the ACK carries timestamps (they live in the TSecr it echoes, as in
// Linux). Without timestamps the cookie's SYN/ACK offered none of them, so
// the connection runs without scaling, SACK or ECN. Whether the SYN had
// timestamps is part of the MAC: an ACK without them for a SYN with them
// (or the reverse) is rejected, where Linux would accept it and forget the
// options, leaving a client that believes in window scaling facing a server
// told nothing of it.
func (j *Jar) Check(now int64, a *ACK) (Opened, bool) {
	isn := a.Seq - 1
	cookie := a.Ack - 1
	x := cookie - isn
	idx := x & (1<<mssBits - 1)
	count := tick(now)
	age := (count - x>>mssBits) & (1<<countBits - 1)
	if age >= MaxAge {
		return Opened{}, false
	}
	count -= age
	if uint32(j.mac(&a.Tuple, isn, count, idx, a.TS))&macMask != x&macMask {
		return Opened{}, false
	}
	o := Opened{ISN: isn, Cookie: cookie, MSS: MSSTable[idx], WScale: -1}
	if a.TS {
		o.TS, o.TSval, o.TSecr = true, a.TSval, a.TSecr
		if ws := a.TSecr & tsWScale; ws != tsNoWScale {
			o.WScale = int8(ws) // 0..14: 15 is "none"
		}
		o.SACKPerm = a.TSecr&tsSACK != 0
		o.ECN = a.TSecr&tsECN != 0
	}
	return o, true
}

// Generation returns the secret rotation generation of time now.
func Generation(now int64) uint32 { return tick(now) / KeyTicks }

// GenKey returns the secret of generation gen (for a copy of the cookie
// function outside Go: the XDP program's).
func (j *Jar) GenKey(gen uint32) (k0, k1 uint64) { return j.key(gen) }
