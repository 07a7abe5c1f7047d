package dataplane_test

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"cbac/dataplane"
	"cbac/packet"
)

// Warming only reads: scenarios whose every output byte, drop, log line
// and counter the other tests check give the same results with warming on
// for every batch (it is off below 32768 live sessions, so the other tests
// never run it).
func TestWarmChangesNothing(t *testing.T) {
	defer dataplane.WarmAlways()()
	for _, tc := range []struct {
		name string
		test func(*testing.T)
	}{
		{"replay golden", TestReplayGolden},
		{"inside out", TestSeedInsideOut},
		{"inbound smtp", TestSeedInboundSMTP},
		{"smtp conversation", TestSMTPConversation},
		{"smtp retransmission", TestSMTPRetransmission},
		{"tcp invalid", TestTCPInvalidDropped},
		{"max-incomplete", TestThresholdMaxIncomplete},
		{"reassembly", TestVirtualReassemblyForwards},
		{"two workers", TestTwoWorkersRace},
		{"allocs", TestAllocsPerPacket},
	} {
		t.Run(tc.name, tc.test)
	}
}

// readKey (warming's key, read with bounds checks only) is the key the
// pipeline looks the packet up with, for every TCP and UDP packet that
// parses; it says false for everything else it cannot read, and never
// panics on truncated or garbled frames.
func TestPeekKeyMatchesParse(t *testing.T) {
	a := flow{src: ip4("10.10.10.5"), dst: ip4("203.0.113.1"), sport: 40000, dport: 80,
		srcMAC: pmac(macHost), dstMAC: pmac(macIn0)}
	frames := [][]byte{
		writeTCP(make([]byte, 128), &a, 1, 2, packet.SYN, nil),
		writeTCP(make([]byte, 256), &a, 1, 2, packet.ACK|packet.PSH, []byte("hello")),
		writeUDP(make([]byte, 128), &a, []byte("dns?")),
	}
	r := rand.New(rand.NewPCG(7, 7))
	for range 2000 {
		f := append([]byte(nil), frames[r.IntN(3)]...)
		switch r.IntN(4) {
		case 0: // truncated
			f = f[:r.IntN(len(f)+1)]
		case 1: // a random byte anywhere
			if len(f) > 0 {
				f[r.IntN(len(f))] = byte(r.Uint32())
			}
		case 2: // a random byte in the IPv4 header (version, IHL, length, flags, protocol)
			if len(f) >= packet.EthernetHeaderLen+20 {
				f[packet.EthernetHeaderLen+r.IntN(20)] = byte(r.Uint32())
			}
		}
		frames = append(frames, f)
	}
	agree, peeked := 0, 0
	for i, f := range frames {
		pk, pok := dataplane.PeekKey(f)
		k, ok := dataplane.ParsedKey(f)
		if pok {
			peeked++
		}
		if !ok {
			continue // the pipeline drops it: whatever warming read is harmless
		}
		proto := k.Proto
		if proto != packet.ProtoTCP && proto != packet.ProtoUDP {
			if pok {
				t.Errorf("frame %d: readKey read a %d packet", i, proto)
			}
			continue
		}
		if ip := packet.IPv4(f[packet.EthernetHeaderLen:]); ip.IsFragment() {
			continue // a first fragment: warming leaves it alone
		}
		if !pok || pk != k {
			t.Errorf("frame %d: readKey %+v %v, pipeline key %+v", i, pk, pok, k)
			continue
		}
		agree++
	}
	if agree < 100 || peeked == len(frames) {
		t.Fatalf("%d keys agree, %d of %d frames peeked: the mutations should give a mix", agree, peeked, len(frames))
	}
}

// Reading the fields warmSession reads loads every cache line a session
// spans wherever it starts in the slab: they cover the first and the last
// bytes and lie less than 64 bytes apart.
func TestSessionWarmCoversLines(t *testing.T) {
	typ := reflect.TypeFor[dataplane.Session]()
	size := typ.Size()
	type span struct{ lo, hi uintptr }
	var read []span
	for _, name := range dataplane.WarmedFields {
		f, ok := typ.FieldByName(name)
		if !ok {
			t.Fatalf("Session has no field %s", name)
		}
		read = append(read, span{f.Offset, f.Offset + f.Type.Size()})
	}
	if read[0].lo != 0 {
		t.Errorf("the first field read starts at %d, not 0", read[0].lo)
	}
	if last := read[len(read)-1]; last.hi != size {
		t.Errorf("the last field read ends at %d, the session at %d", last.hi, size)
	}
	for i := 1; i < len(read); i++ {
		if gap := read[i].lo - read[i-1].hi; gap >= 64 {
			t.Errorf("%d unread bytes between %s and %s: a whole cache line may be missed",
				gap, dataplane.WarmedFields[i-1], dataplane.WarmedFields[i])
		}
	}
	t.Logf("Session: %d bytes", size)
}

// A hint warming found goes stale when an earlier frame of the same chunk
// deletes its session and a new session reuses the index: the frame must
// then be looked up, not matched to the new session. In aggressive mode
// (max-incomplete) a SYN deletes the oldest half-open session (conn 0) and
// its own session takes the freed index; conn 0's retransmitted SYN right
// behind it in the batch was warmed with that index. It must find no
// session and open a new one (deleting the next oldest, conn 1), the same
// with warming on and off.
func TestWarmStaleHint(t *testing.T) {
	for _, warm := range []bool{false, true} {
		t.Run(map[bool]string{false: "cold", true: "warm"}[warm], func(t *testing.T) {
			if warm {
				defer dataplane.WarmAlways()()
			}
			r := newRun(t, seedVariant(t, smallTable, seedOneMinute, `one_minute = { low = 90000, high = 100000 }`))
			frames, conns := synsInsideOut(r, 0, 500)
			if out := r.sendAll(portIn, frames); len(out[portOut]) != 500 {
				t.Fatalf("%d of 500 SYNs forwarded", len(out[portOut]))
			}
			index := func(c *tcpConn) (uint32, bool) {
				for _, s := range r.sessions() {
					if s.Orig.SrcPort == c.a.sport && s.Orig.Dst == c.a.dst {
						return s.ID & 0xffffff, true
					}
				}
				return 0, false
			}
			old, _ := index(conns[0])
			f501, c501 := synsInsideOut(r, 500, 501)
			again := writeTCP(make([]byte, 128), &conns[0].a, conns[0].na-1, 0, packet.SYN, nil)
			out := r.sendAll(portIn, [][]byte{f501[0], again}) // one batch, one chunk
			syns, _ := splitRST(out[portOut])                  // and the RSTs of conns 0 and 1
			if len(syns) != 2 {
				t.Fatalf("%d of 2 SYNs forwarded (drops %v)", len(syns), nonZero(r.w.Stats.Drops[:]))
			}
			for i, want := range []uint16{c501[0].a.sport, conns[0].a.sport} {
				ip := packet.IPv4(syns[i][packet.EthernetHeaderLen:])
				if sp := packet.TCP(ip.Payload()).SrcPort(); sp != want || ip.Src() != ip4("172.22.1.111") {
					t.Errorf("SYN %d left from %#x:%d, want 172.22.1.111:%d", i, ip.Src(), sp, want)
				}
			}
			if idx, ok := index(c501[0]); !ok || idx != old {
				t.Fatalf("conn 501's session at %d (%v), want conn 0's freed index %d: the hint would not be stale", idx, ok, old)
			}
			if !conns[0].exists() || conns[1].exists() || !conns[2].exists() {
				t.Errorf("conn 0 exists %v, conn 1 %v, conn 2 %v; want true, false, true",
					conns[0].exists(), conns[1].exists(), conns[2].exists())
			}
			if live, half := r.w.SessionCount(); live != 500 || half != 500 {
				t.Errorf("%d sessions, %d half-open; want 500, 500", live, half)
			}
		})
	}
}
