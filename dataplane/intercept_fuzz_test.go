package dataplane_test

import (
	"encoding/binary"
	"testing"
	"time"

	"cbac/packet"
)

// FuzzIntercept drives one worker with TCP intercept on through the
// segments of one connection, 172.22.1.100:40000 -> 172.22.1.110:25
// (10.10.10.2 inside), numbered relative to the real exchange so that the
// fuzzer reaches every turn of it: the client's ACK field is an offset
// from the last cookie cbacd sent it, the server's from the client's ISN.
// After every frame it checks:
//
//   - no panic; every UMEM frame accounted for;
//   - every transmitted frame has valid IPv4 and TCP checksums and is of
//     this connection: to the inside only from the client to 10.10.10.2:25,
//     to the outside only from 172.22.1.110:25 to the client;
//   - at most one session, and splice states in use only with one;
//
// and once every timer has run out: no session, no splice state, no
// connection counted as waiting.
//
// Input records: ctl flags seq(2) ack(2) len payload[len]; ctl bit 0:
// from the server (else the client); bit 1: timestamps option; bit 2: SYN
// options (MSS, window scale, SACK-permitted); bit 3: advance the clock
// 10 s first. seq and ack are signed offsets.
func FuzzIntercept(f *testing.F) {
	rec := func(ctl, flags uint8, seq, ack int16, payload string) []byte {
		b := []byte{ctl, flags, 0, 0, 0, 0, byte(len(payload))}
		binary.BigEndian.PutUint16(b[2:], uint16(seq))
		binary.BigEndian.PutUint16(b[4:], uint16(ack))
		return append(b, payload...)
	}
	cat := func(rs ...[]byte) []byte {
		var b []byte
		for _, r := range rs {
			b = append(b, r...)
		}
		return b
	}
	const c, s, ts, so, adv = 0, 1, 2, 4, 8
	syn := rec(c|ts|so, packet.SYN, 0, 0, "")
	ack := rec(c|ts, packet.ACK, 1, 1, "")
	synack := rec(s|ts|so, packet.SYN|packet.ACK, 0, 1, "")
	f.Add(cat(syn, ack, synack,
		rec(s|ts, packet.ACK|packet.PSH, 1, 1, "220 x\r\n"),
		rec(c|ts, packet.ACK|packet.PSH, 1, 8, "EXPN root\r\n"),
		rec(c|ts, packet.FIN|packet.ACK, 12, 8, ""),
		rec(s|ts, packet.FIN|packet.ACK, 8, 13, ""),
		rec(c|ts, packet.ACK, 13, 9, "")))
	f.Add(cat(syn, ack, rec(s, packet.RST|packet.ACK, 0, 1, "")))
	f.Add(cat(syn, ack, rec(c|adv, packet.ACK, 1, 1, "x"), rec(c|adv|ts, packet.ACK, 1, 1, ""), rec(c|adv, packet.ACK, 1, 1, ""), rec(c|adv, packet.ACK, 1, 1, "")))
	f.Add(cat(syn, syn, rec(c|ts, packet.ACK, 1, 1, "HELO a\r\n"), synack, synack, rec(c|ts, packet.RST, 1, 0, "")))
	f.Add(cat(rec(c|so, packet.SYN, 0, 0, ""), rec(c, packet.ACK, 0, 1, ""), rec(s|so, packet.SYN|packet.ACK, 0, 1, ""), rec(c, packet.ACK|packet.PSH, 1, 1, "HELO a\r\n")))
	rs := compile(f, interceptSeed(f, "", "[dataplane]\nmax_sessions = 1024\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h := newFuzzHarness(t, rs)
		const cISN, sISN = 4000000000, 123456
		var cookie uint32
		client, global, server := smtpIP4("172.22.1.100"), smtpIP4("172.22.1.110"), smtpIP4("10.10.10.2")
		for n := 0; len(data) >= 7 && n < fuzzMaxFrames; n++ {
			ctl, flags := data[0], data[1]
			seq, ack := int16(binary.BigEndian.Uint16(data[2:])), int16(binary.BigEndian.Uint16(data[4:]))
			l := min(int(data[6]), len(data)-7)
			payload := data[7 : 7+l]
			data = data[7+l:]
			var opts []byte
			if ctl&4 != 0 {
				opts = append(opts, synOpts(packet.SynOptions{MSS: 1460, WScale: 7, SACKPerm: true})...)
			}
			if ctl&2 != 0 {
				opts = append(opts, tsOpt(uint32(1000+n), cookie)...)
			}
			if ctl&8 != 0 {
				h.now += int64(10 * time.Second)
			}
			var frame []byte
			port := portOut
			if ctl&1 == 0 {
				frame = icWrite(smtpMAC(macClient), smtpMAC(macOut0), client, global, 40000, 25,
					cISN+uint32(int32(seq)), cookie+uint32(int32(ack)), flags, 1000, opts, payload)
			} else {
				port = portIn
				frame = icWrite(smtpMAC(macMail), smtpMAC(macIn0), server, client, 25, 40000,
					sISN+uint32(int32(seq)), cISN+uint32(int32(ack)), flags, 29200, opts, payload)
			}
			out := h.send(port, frame)
			for p, frames := range out {
				for _, o := range frames {
					decode(t, o)
					ip := packet.IPv4(o[packet.EthernetHeaderLen:])
					tc := packet.TCP(ip.Payload())
					if p == portIn && (ip.Src() != client || ip.Dst() != server || tc.SrcPort() != 40000 || tc.DstPort() != 25) ||
						p == portOut && (ip.Src() != global || ip.Dst() != client || tc.SrcPort() != 25 || tc.DstPort() != 40000) {
						t.Fatalf("frame %d: port %d got %s:%d -> %s:%d", n, p, packet.IPString(ip.Src()), tc.SrcPort(), packet.IPString(ip.Dst()), tc.DstPort())
					}
					if p == portOut && tc.Flags() == packet.SYN|packet.ACK {
						cookie = tc.Seq()
					}
				}
			}
			if got := h.w.FramesAccounted(h.q); got != fuzzUMEMFrames {
				t.Fatalf("frame %d: %d UMEM frames accounted for, want %d", n, got, fuzzUMEMFrames)
			}
			if live, _ := h.w.SessionCount(); live > 1 || h.w.SplicesInUse() > live {
				t.Fatalf("frame %d: %d sessions, %d splice states", n, live, h.w.SplicesInUse())
			}
		}
		for range 3 {
			h.now += int64(48 * time.Hour)
			h.step()
		}
		if live, _ := h.w.SessionCount(); live != 0 || h.w.SplicesInUse() != 0 || h.w.Intercept.Waiting != 0 {
			t.Fatalf("after every timeout: %d sessions, %d splice states, %d waiting", live, h.w.SplicesInUse(), h.w.Intercept.Waiting)
		}
		if got := h.w.FramesAccounted(h.q); got != fuzzUMEMFrames {
			t.Fatalf("after expiry: %d UMEM frames accounted for, want %d", got, fuzzUMEMFrames)
		}
	})
}
