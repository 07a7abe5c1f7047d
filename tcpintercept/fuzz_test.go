package tcpintercept

import (
	"encoding/hex"
	"sync/atomic"
	"testing"

	"cbac/packet"
)

// Across one fuzzing process: random ACKs tried and accepted.
var fuzzTries, fuzzAccepts atomic.Int64

// FuzzCookie checks arbitrary ACKs: Check never panics; whatever it accepts
// is a genuine cookie (Make for the same tuple, ISN and MSS at the tick the
// cookie carries gives back ack-1); and the accept rate stays within the
// bound (2^-28 per try, see TestCookieRandomACKFlood): one accept is
// tolerated at any time, two only after 2^22 tries (the chance of two by
// then is under 1e-4).
func FuzzCookie(f *testing.F) {
	jar := NewJar(testMaster)
	s := testSYN()
	now := int64(4242) * tickNS
	c := jar.Make(now, &s)
	noTS := s
	noTS.TS = false
	cNoTS := jar.Make(now, &noTS)
	f.Add(s.Src, s.Dst, s.SrcPort, s.DstPort, s.ISN+1, c.ISN+1, true, c.TSval, now)
	f.Add(s.Src, s.Dst, s.SrcPort, s.DstPort, s.ISN+1, cNoTS.ISN+1, false, uint32(0), now+tickNS)
	f.Add(uint32(0), uint32(0), uint16(0), uint16(0), uint32(0), uint32(0), false, uint32(0), int64(-1))
	f.Fuzz(func(t *testing.T, src, dst uint32, sport, dport uint16, seq, ack uint32, ts bool, tsecr uint32, at int64) {
		a := ACK{Tuple: Tuple{src, dst, sport, dport}, Seq: seq, Ack: ack, TS: ts, TSecr: tsecr}
		o, ok := jar.Check(at, &a)
		// Genuine: the cookie of the one SYN this Jar answered (with or
		// without timestamps; the fuzzer may find the latter), still young.
		genuine := a.Tuple == s.Tuple && seq == s.ISN+1 && tick(at)-tick(now) < MaxAge &&
			(ts && ack == c.ISN+1 || !ts && ack == cNoTS.ISN+1)
		if !ok {
			if genuine {
				t.Fatalf("genuine ACK rejected at %d", at)
			}
			return
		}
		if o.ISN != seq-1 || o.Cookie != ack-1 {
			t.Fatalf("opened %+v for seq %#x ack %#x", o, seq, ack)
		}
		if o.WScale > 14 || (!ts && (o.WScale >= 0 || o.SACKPerm || o.ECN || o.TS)) {
			t.Fatalf("opened options %+v from ts %v tsecr %#x", o, ts, tsecr)
		}
		x := o.Cookie - o.ISN
		age := (tick(at) - x>>mssBits) & (1<<countBits - 1)
		made := at - int64(age)<<TickShift
		re := SYN{Tuple: a.Tuple, ISN: o.ISN, MSS: o.MSS, TS: ts}
		if got := jar.Make(made, &re); got.ISN != o.Cookie {
			t.Fatalf("accepted %#x, not a cookie (Make gives %#x)", o.Cookie, got.ISN)
		}
		if !genuine {
			tries, accepts := fuzzTries.Add(1), fuzzAccepts.Add(1)
			if accepts > 1 && accepts<<22 > tries+1<<22 {
				t.Fatalf("%d random ACKs accepted in %d tries", accepts, tries)
			}
		}
	})
}

// FuzzSplice translates arbitrary segments under arbitrary halves: no
// panic, length unchanged, a valid checksum stays valid, no window grows
// beyond what its sender allows, and a server
// segment acknowledged, SACKed and echoed by the client maps back to the
// server's own numbers.
func FuzzSplice(f *testing.F) {
	seg := make([]byte, 44)
	packet.TCP(seg).SetDataOffset(32)
	copy(seg[20:], []byte{1, 1, 8, 10, 0, 0, 0, 5, 0, 0, 0, 6})
	f.Add(seg, uint32(0xfffffff0), uint32(5), uint32(100), uint32(0xffffff00), uint8(0x37), int8(7), int8(7), int8(9))
	golden, _ := hex.DecodeString(goldenSYNACK)
	f.Add(golden, uint32(0x12345678), uint32(0xfffffff0), uint32(7), uint32(8), uint8(3), int8(7), int8(7), int8(-1))
	f.Add(seg[:20], uint32(1), uint32(0), uint32(0), uint32(0), uint8(0), int8(-1), int8(0), int8(-1))
	f.Fuzz(func(t *testing.T, b []byte, cookieISN, serverISN, cookieTS, serverTS uint32, tsFlags uint8, cws, aws, sws int8) {
		h := Halves{
			CookieISN: cookieISN, ServerISN: serverISN, CookieTSval: cookieTS, ServerTSval: serverTS,
			ClientTS: tsFlags&1 != 0, ServerTS: tsFlags&2 != 0,
			ClientWScale: clampWS(cws), AdvertisedWScale: aws, ServerWScale: clampWS(sws),
		}
		sp := NewSplice(&h)
		t1 := packet.TCP(append([]byte(nil), b...))
		if !t1.IsValid() {
			return
		}
		const src, dst = 0x0a000001, 0xac16016e
		t1.SetChecksum(t1.CalculateChecksum(src, dst))
		n := len(t1)
		t2 := packet.TCP(append([]byte(nil), t1...))
		sp.ClientToServer(t2)
		if len(t2) != n || !t2.ChecksumValid(src, dst) {
			t.Fatal("client->server broke the segment")
		}
		// A receiver is never offered more bytes than the sender allows.
		if uint64(t2.Window())<<sp.c2sTo > uint64(t1.Window())<<sp.c2sFrom {
			t.Fatalf("client window %d (shift %d) became %d (shift %d)", t1.Window(), sp.c2sFrom, t2.Window(), sp.c2sTo)
		}
		w0 := t1.Window()
		if ok, why := roundTrip(&sp, t1, src, dst); !ok {
			t.Fatalf("%s (halves %+v)", why, h)
		}
		if uint64(t1.Window())<<sp.s2cTo > uint64(w0)<<sp.s2cFrom {
			t.Fatalf("server window %d (shift %d) became %d (shift %d)", w0, sp.s2cFrom, t1.Window(), sp.s2cTo)
		}
		if len(t1) != n {
			t.Fatal("length changed")
		}
	})
}

func clampWS(v int8) int8 {
	if v < -1 {
		return -1
	}
	return min(v, 14)
}
