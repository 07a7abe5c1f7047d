package dataplane_test

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"cbac/acl"
	"cbac/dataplane"
	"cbac/flowtable"
	"cbac/packet"
	"cbac/smtpfsm"
)

// FuzzPipeline drives one worker with the seed configuration (static ARP,
// virtual clock) through a sequence of frames from both sides, decoded from
// the fuzz input, and checks after every frame:
//
//   - no panic;
//   - every UMEM frame is accounted for: in the pool, a ring, or held;
//   - every transmitted IPv4 frame has a valid header checksum and a valid
//     TCP, UDP or ICMP checksum (over the reassembled datagram for
//     fragments);
//   - nothing that came in from the outside leaves on the inside unless it
//     belongs to a session (before or after the frame) or ACL 101 permits
//     its pre-NAT tuple;
//   - the inspected SMTP stream the server receives is what the inspector
//     judged: every sequence number carries the same byte in every
//     transmission (first copy wins) until the server has acknowledged it
//     (tcpstream forwards acknowledged bytes unchanged, and the server's
//     TCP discards them below its RCV.NXT), and a fresh smtpfsm.Session fed the
//     server's stream as the client side (and the client's replies as the
//     server side, in transmission order) finds nothing left to rewrite.
//
// Input: up to fuzzMaxFrames records of
//
//	ctl flags seq(2) ack(2) len payload[len]
//
// ctl bit 0: arrive on the other port than the template's (spoofing);
// bits 1-3: template (fuzzTemplates); bit 4: leave the checksums as built
// and mutated (else recomputed, so that most frames get past verification);
// bit 5: advance the clock 4 s first; bit 6: the payload's first two bytes
// are an (offset, xor) overlay on the frame's IP header and L4 header, applied before the
// checksums; bit 7: send the datagram as two fragments. seq and ack are
// offsets from the side's and the peer's initial sequence numbers.
func FuzzPipeline(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	rs := fuzzRuleset(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRun(t, rs, data)
	})
}

const (
	fuzzMaxFrames  = 24
	fuzzUMEMFrames = 1024
	fuzzClientISN  = 1000
	fuzzServerISN  = 5000
)

// Templates: who sends, from which port, with which addresses.
const (
	tSMTPClient = iota // 172.22.1.100:40000 -> 172.22.1.110:25, outside
	tSMTPServer        // 10.10.10.2:25 -> 172.22.1.100:40000, inside
	tTCPInside         // 10.10.10.5:33000 -> 198.51.100.7:21, inside: an FTP control connection (IN-OUT inspects ftp)
	tTCPOutside        // 198.51.100.7:21 -> 172.22.1.111:33000, outside
	tUDPInside         // 10.10.10.5:5000 -> 198.51.100.7:53, inside
	tUDPOutside        // 198.51.100.7:53 -> 172.22.1.111:5000, outside
	tICMP              // ICMP, type = flags, code = seq's low byte, id 77: inside 10.10.10.5 -> 198.51.100.7 or outside the other way
	tRaw               // the payload is the IPv4 datagram
)

type fuzzTemplate struct {
	port       int
	f          flow
	proto      uint8
	base, peer uint32 // ISNs
}

var fuzzTemplates = [7]fuzzTemplate{
	tSMTPClient: {portOut, flow{srcMAC: pmac(macClient), dstMAC: pmac(macOut0), src: ip4("172.22.1.100"), dst: ip4("172.22.1.110"), sport: 40000, dport: 25}, packet.ProtoTCP, fuzzClientISN, fuzzServerISN},
	tSMTPServer: {portIn, flow{srcMAC: pmac(macMail), dstMAC: pmac(macIn0), src: ip4("10.10.10.2"), dst: ip4("172.22.1.100"), sport: 25, dport: 40000}, packet.ProtoTCP, fuzzServerISN, fuzzClientISN},
	tTCPInside:  {portIn, flow{srcMAC: pmac(macHost), dstMAC: pmac(macIn0), src: ip4("10.10.10.5"), dst: ip4("198.51.100.7"), sport: 33000, dport: 21}, packet.ProtoTCP, fuzzClientISN, fuzzServerISN},
	tTCPOutside: {portOut, flow{srcMAC: pmac(macUpstream), dstMAC: pmac(macOut0), src: ip4("198.51.100.7"), dst: ip4("172.22.1.111"), sport: 21, dport: 33000}, packet.ProtoTCP, fuzzServerISN, fuzzClientISN},
	tUDPInside:  {portIn, flow{srcMAC: pmac(macHost), dstMAC: pmac(macIn0), src: ip4("10.10.10.5"), dst: ip4("198.51.100.7"), sport: 5000, dport: 53}, packet.ProtoUDP, 0, 0},
	tUDPOutside: {portOut, flow{srcMAC: pmac(macUpstream), dstMAC: pmac(macOut0), src: ip4("198.51.100.7"), dst: ip4("172.22.1.111"), sport: 53, dport: 5000}, packet.ProtoUDP, 0, 0},
	tICMP:       {portIn, flow{srcMAC: pmac(macHost), dstMAC: pmac(macIn0), src: ip4("10.10.10.5"), dst: ip4("198.51.100.7"), sport: 77, dport: 77}, packet.ProtoICMP, 0, 0},
}

// fuzzRecord is one decoded input record.
type fuzzRecord struct {
	ctl, flags uint8
	seq, ack   uint16
	payload    []byte
}

func decodeRecords(data []byte) []fuzzRecord {
	var rs []fuzzRecord
	for len(data) >= 7 && len(rs) < fuzzMaxFrames {
		r := fuzzRecord{ctl: data[0], flags: data[1], seq: binary.BigEndian.Uint16(data[2:]), ack: binary.BigEndian.Uint16(data[4:])}
		n := min(int(data[6]), len(data)-7)
		r.payload = data[7 : 7+n]
		data = data[7+n:]
		rs = append(rs, r)
	}
	return rs
}

// encodeRecord is decodeRecords' inverse, for the seed corpus.
func encodeRecord(r fuzzRecord) []byte {
	b := []byte{r.ctl, r.flags, byte(r.seq >> 8), byte(r.seq), byte(r.ack >> 8), byte(r.ack), byte(len(r.payload))}
	return append(b, r.payload...)
}

// buildFrame turns a record into the frames to inject (one, or two
// fragments) and the port they arrive on; nil if the record makes none.
func buildFrame(r *fuzzRecord) ([][]byte, int) {
	tmpl := int(r.ctl>>1) & 7
	payload := r.payload
	var overlay []byte
	if r.ctl&0x40 != 0 && len(payload) >= 2 {
		overlay, payload = payload[:2], payload[2:]
	}
	b := make([]byte, 14+20+60+len(payload)+64)
	var frame []byte
	var port int
	if tmpl == tRaw {
		port = portOut
		if r.ctl&1 != 0 {
			port = portIn
		}
		frame = b[:14+len(payload)]
		e := packet.Ethernet(frame)
		if port == portOut {
			e.SetDst(pmac(macOut0))
			e.SetSrc(pmac(macUpstream))
		} else {
			e.SetDst(pmac(macIn0))
			e.SetSrc(pmac(macHost))
		}
		e.SetType(packet.EtherTypeIPv4)
		copy(frame[14:], payload)
	} else {
		tp := fuzzTemplates[tmpl]
		fl := tp.f
		port = tp.port
		switch tmpl {
		case tTCPInside, tTCPOutside, tSMTPClient, tSMTPServer:
			ack := uint32(r.ack)
			if r.flags&packet.ACK != 0 {
				ack += tp.peer
			}
			frame = writeTCP(b, &fl, tp.base+uint32(r.seq), ack, r.flags, payload)
		case tUDPInside, tUDPOutside:
			frame = writeUDP(b, &fl, payload)
		case tICMP:
			if r.ctl&1 != 0 { // from the outside: the reply direction
				fl = flow{srcMAC: pmac(macUpstream), dstMAC: pmac(macOut0), src: ip4("198.51.100.7"), dst: ip4("172.22.1.111"), sport: 77, dport: 77}
			}
			frame = writeICMP(b, &fl, r.flags, payload)
			packet.ICMPv4(frame[34:]).SetCode(uint8(r.seq))
			packet.ICMPv4(frame[34:]).SetChecksum(packet.ICMPv4(frame[34:]).CalculateChecksum())
		}
		if tmpl == tICMP {
			port = portIn
			if r.ctl&1 != 0 {
				port = portOut
			}
		} else if r.ctl&1 != 0 {
			port = 1 - port // spoofed: the wrong side
			e := packet.Ethernet(frame)
			if port == portOut {
				e.SetDst(pmac(macOut0))
			} else {
				e.SetDst(pmac(macIn0))
			}
		}
	}
	if len(overlay) == 2 {
		if o := 14 + int(overlay[0]); o < len(frame) {
			frame[o] ^= overlay[1]
		}
	}
	if r.ctl&0x10 == 0 {
		fixChecksums(frame)
	}
	if r.ctl&0x80 != 0 {
		if fr := splitFrame(frame); fr != nil {
			return fr, port
		}
	}
	return [][]byte{frame}, port
}

// fixChecksums recomputes the IPv4 header checksum and, for a whole
// datagram whose L4 header is complete, its TCP, UDP or ICMP checksum.
func fixChecksums(frame []byte) {
	if len(frame) < 14+20 {
		return
	}
	ip := packet.IPv4(frame[14:])
	if !ip.IsValid() {
		return
	}
	ip.SetChecksum(0)
	ip.SetChecksum(ip.CalculateChecksum())
	if ip.IsFragment() {
		return
	}
	switch l4 := ip.Payload(); ip.Protocol() {
	case packet.ProtoTCP:
		if t := packet.TCP(l4); t.IsValid() {
			t.SetChecksum(t.CalculateChecksum(ip.Src(), ip.Dst()))
		}
	case packet.ProtoUDP:
		if u := packet.UDP(l4); u.IsValid() && u.Checksum() != 0 {
			u.SetChecksum(u.CalculateChecksum(ip.Src(), ip.Dst()))
		}
	case packet.ProtoICMP:
		if m := packet.ICMPv4(l4); m.IsValid() {
			m.SetChecksum(m.CalculateChecksum())
		}
	}
}

// splitFrame cuts a whole IPv4 datagram into two fragments at the middle
// of its payload (a multiple of 8); nil if it is too short or not whole.
func splitFrame(frame []byte) [][]byte {
	if len(frame) < 14+20 {
		return nil
	}
	ip := packet.IPv4(frame[14:])
	if !ip.IsValid() || ip.IsFragment() {
		return nil
	}
	hl := ip.HeaderLength()
	pl := ip.Payload()
	cut := len(pl) / 2 &^ 7
	if cut == 0 {
		return nil
	}
	var out [][]byte
	for i, r := range [][2]int{{0, cut}, {cut, len(pl)}} {
		f := append(append([]byte(nil), frame[:14+hl]...), pl[r[0]:r[1]]...)
		h := packet.IPv4(f[14:])
		h.SetTotalLength(uint16(hl + r[1] - r[0]))
		fo := uint16(r[0] / 8)
		if i == 0 {
			fo |= 0x2000
		}
		fo |= binary.BigEndian.Uint16(h[6:]) & 0x4000
		binary.BigEndian.PutUint16(h[6:], fo)
		h.SetChecksum(0)
		h.SetChecksum(h.CalculateChecksum())
		out = append(out, f)
	}
	return out
}

// newFuzzHarness is newHarness with a smaller UMEM (faster per input).
func newFuzzHarness(t testing.TB, rs *dataplane.Ruleset) *harness {
	const frameSize = 2048
	umem := make([]byte, frameSize*fuzzUMEMFrames)
	h := &harness{t: t, now: int64(time.Hour)}
	var qs []dataplane.Queue
	for range rs.Ifaces {
		q := dataplane.NewFakeQueue(umem, frameSize, 256)
		h.q = append(h.q, q)
		qs = append(qs, q)
	}
	dp, err := dataplane.New(rs, dataplane.Options{Workers: 1, UMEM: umem, FrameSize: frameSize, Queues: [][]dataplane.Queue{qs}})
	if err != nil {
		t.Fatal(err)
	}
	h.dp, h.w = dp, dp.Workers[0]
	h.out = make([][][]byte, len(rs.Ifaces))
	return h
}

// smtpWatch follows the SMTP stream that reaches the server.
type smtpWatch struct {
	policy     smtpfsm.Policy
	fsm        smtpfsm.Session
	open       bool
	sent       map[uint32]byte // client stream byte at each sequence number, as the server got it
	cNext      uint32          // next client byte to feed the machine
	sNext      uint32          // next server byte to feed the machine
	sKnown     bool
	acked      uint32 // the server's highest ACK that reached the client
	ackKnown   bool
	scratch    []byte
	violations []string
}

// client handles a frame that reached the server from the client.
func (w *smtpWatch) client(t packet.TCP) {
	seq := t.Seq()
	if t.Flags()&packet.SYN != 0 {
		*w = smtpWatch{policy: w.policy, open: true, sent: map[uint32]byte{}, cNext: seq + 1}
		return
	}
	if !w.open {
		return
	}
	p := t.Payload()
	var fresh []byte
	for i, c := range p {
		s := seq + uint32(i)
		if w.ackKnown && int32(s-w.acked) < 0 {
			continue // acknowledged: below the server's RCV.NXT, discarded there
		}
		if old, ok := w.sent[s]; ok {
			if old != c {
				w.violations = append(w.violations, "a sequence number carried two different bytes to the server")
			}
			continue
		}
		w.sent[s] = c
		if s == w.cNext {
			fresh = append(fresh, c)
			w.cNext++
		}
	}
	// Bytes that arrived ahead of a gap are fed once the gap fills.
	for {
		c, ok := w.sent[w.cNext]
		if !ok || len(fresh) == 0 {
			break
		}
		fresh = append(fresh, c)
		w.cNext++
	}
	if len(fresh) == 0 {
		return
	}
	w.scratch = append(w.scratch[:0], fresh...)
	w.fsm.Client(&w.policy, w.scratch, nil)
	if !bytes.Equal(w.scratch, fresh) {
		w.violations = append(w.violations, "the server received a command the inspector would rewrite: "+string(fresh))
	}
}

// server handles a frame that reached the client from the server.
func (w *smtpWatch) server(t packet.TCP) {
	if !w.open {
		return
	}
	seq := t.Seq()
	if a := t.Ack(); t.Flags()&packet.ACK != 0 && (!w.ackKnown || int32(a-w.acked) > 0) {
		w.acked, w.ackKnown = a, true
	}
	if t.Flags()&packet.SYN != 0 {
		w.sNext, w.sKnown = seq+1, true
		return
	}
	p := t.Payload()
	if !w.sKnown || len(p) == 0 {
		return
	}
	off := w.sNext - seq
	if int32(off) < 0 || off >= uint32(len(p)) {
		return // a gap, or nothing new
	}
	w.fsm.Server(&w.policy, p[off:], nil)
	w.sNext += uint32(len(p)) - off
}

type fuzzChecker struct {
	t     *testing.T
	h     *harness
	acl   *acl.List
	nat   map[uint32]uint32 // inside local -> global
	smtp  smtpWatch
	frame int
}

// sessionKeys returns every key of every session, each direction and
// reversed.
func (c *fuzzChecker) sessionKeys(into map[flowtable.Key]bool) {
	for _, s := range c.h.w.Sessions(nil) {
		for _, k := range []flowtable.Key{s.Orig, s.Reply} {
			into[k] = true
			into[flowtable.Key{Src: k.Dst, Dst: k.Src, SrcPort: k.DstPort, DstPort: k.SrcPort, Proto: k.Proto}] = true
		}
	}
}

// tupleOf is the frame's 5-tuple as a session key (ICMP echo: the
// identifier in both ports; an ICMP error: the quoted packet's); ok is
// false for a non-initial fragment.
func tupleOf(ip packet.IPv4) (k flowtable.Key, icmpType, icmpCode, flags uint8, ok bool) {
	if ip.FragmentOffset() != 0 {
		return k, 0, 0, 0, false
	}
	k = flowtable.Key{Src: ip.Src(), Dst: ip.Dst(), Proto: ip.Protocol()}
	l4 := ip.Payload()
	switch k.Proto {
	case packet.ProtoTCP, packet.ProtoUDP:
		if len(l4) >= 4 {
			k.SrcPort, k.DstPort = binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
		}
		if k.Proto == packet.ProtoTCP && len(l4) >= 14 {
			flags = l4[13]
		}
	case packet.ProtoICMP:
		m := packet.ICMPv4(l4)
		if !m.IsValid() {
			return k, 0, 0, 0, true
		}
		icmpType, icmpCode = m.Type(), m.Code()
		switch {
		case icmpType == packet.Echo || icmpType == packet.EchoReply:
			k.SrcPort, k.DstPort = m.Ident(), m.Ident()
		case m.IsError():
			if in := m.InnerIPv4(); in != nil && len(in) >= in.HeaderLength()+8 {
				q := in[in.HeaderLength():]
				k = flowtable.Key{Src: in.Src(), Dst: in.Dst(), Proto: in.Protocol()}
				switch k.Proto {
				case packet.ProtoTCP, packet.ProtoUDP:
					k.SrcPort, k.DstPort = binary.BigEndian.Uint16(q), binary.BigEndian.Uint16(q[2:])
				case packet.ProtoICMP:
					k.SrcPort = binary.BigEndian.Uint16(q[4:])
					k.DstPort = k.SrcPort
				}
			}
		}
	}
	return k, icmpType, icmpCode, flags, true
}

// checkChecksums verifies every transmitted IPv4 frame of one port.
func (c *fuzzChecker) checkChecksums(frames [][]byte) {
	type dg struct {
		src, dst uint32
		id       uint16
		proto    uint8
	}
	frags := map[dg][]packet.IPv4{}
	for _, f := range frames {
		if len(f) < 14 || packet.Ethernet(f).Type() != packet.EtherTypeIPv4 {
			continue
		}
		ip := packet.IPv4(f[14:])
		if !ip.IsValid() || !ip.ChecksumValid() {
			c.t.Fatalf("frame %d: transmitted an IPv4 frame with an invalid header or checksum: %x", c.frame, f)
		}
		ip = ip[:ip.TotalLength()]
		if ip.IsFragment() {
			k := dg{ip.Src(), ip.Dst(), ip.ID(), ip.Protocol()}
			frags[k] = append(frags[k], ip)
			continue
		}
		if !l4Valid(ip.Src(), ip.Dst(), ip.Protocol(), ip.Payload()) {
			c.t.Fatalf("frame %d: transmitted a frame with a wrong L4 checksum: %x", c.frame, f)
		}
	}
	for k, fs := range frags {
		whole := make([]byte, 65536)
		end, n := 0, 0
		for _, ip := range fs {
			o := int(ip.FragmentOffset())
			copy(whole[o:], ip.Payload())
			n += len(ip.Payload())
			if !ip.MoreFragments() {
				end = o + len(ip.Payload())
			}
		}
		if end == 0 || n != end {
			c.t.Fatalf("frame %d: transmitted %d fragments of datagram %+v that do not make it whole", c.frame, len(fs), k)
		}
		if !l4Valid(k.src, k.dst, k.proto, whole[:end]) {
			c.t.Fatalf("frame %d: transmitted the fragments of a datagram with a wrong L4 checksum", c.frame)
		}
	}
}

// l4Valid checks an L4 checksum with the packet primitives; protocols
// without a checksum cbac knows, and truncated headers, pass.
func l4Valid(src, dst uint32, proto uint8, l4 []byte) bool {
	switch proto {
	case packet.ProtoTCP:
		return len(l4) < packet.TCPMinHeaderLen || packet.TCP(l4).ChecksumValid(src, dst)
	case packet.ProtoUDP:
		u := packet.UDP(l4)
		return !u.IsValid() || u.ChecksumValid(src, dst)
	case packet.ProtoICMP:
		return len(l4) < 4 || packet.ICMPv4(l4).ChecksumValid()
	}
	return true
}

// checkInside checks the frames that left on the inside port after a frame
// from the outside.
func (c *fuzzChecker) checkInside(frames [][]byte, keys map[flowtable.Key]bool) {
	passed := map[[3]uint32]bool{} // first fragments that passed: src, dst, id
	for _, f := range frames {
		if len(f) < 14+20 || packet.Ethernet(f).Type() != packet.EtherTypeIPv4 {
			continue
		}
		ip := packet.IPv4(f[14:])
		ip = ip[:ip.TotalLength()]
		id := [3]uint32{ip.Src(), ip.Dst(), uint32(ip.ID())}
		k, typ, code, flags, ok := tupleOf(ip)
		if !ok {
			if !passed[id] {
				c.t.Fatalf("frame %d: a non-initial fragment reached the inside without its first fragment: %x", c.frame, f)
			}
			continue
		}
		if keys[k] {
			passed[id] = true
			continue
		}
		// Stateless: the pre-NAT tuple must be permitted by ACL 101.
		dst := ip.Dst()
		for l, g := range c.nat {
			if dst == l {
				dst = g
			}
		}
		tu := acl.Tuple{Proto: ip.Protocol(), Src: ip.Src(), Dst: dst, SrcPort: k.SrcPort, DstPort: k.DstPort,
			TCPFlags: flags, ICMPType: typ, ICMPCode: code}
		if tu.Proto == packet.ProtoICMP {
			tu.SrcPort, tu.DstPort = 0, 0
		}
		if _, permit := c.acl.Match(&tu); !permit {
			c.t.Fatalf("frame %d: a frame from the outside reached the inside with no session and no ACL 101 permit: %x", c.frame, f)
		}
		passed[id] = true
	}
}

// watchSMTP feeds the frames of the inspected SMTP conversation to the
// watcher, in transmission order (server side first when the input came
// from the client, and the other way round).
func (c *fuzzChecker) watchSMTP(inPort int) {
	order := []int{portIn, portOut}
	if inPort == portIn {
		order = []int{portOut, portIn}
	}
	client, global, server := ip4("172.22.1.100"), ip4("172.22.1.110"), ip4("10.10.10.2")
	for _, p := range order {
		for _, f := range c.h.out[p] {
			if len(f) < 14+20 || packet.Ethernet(f).Type() != packet.EtherTypeIPv4 {
				continue
			}
			ip := packet.IPv4(f[14:])
			ip = ip[:ip.TotalLength()]
			if ip.Protocol() != packet.ProtoTCP || ip.IsFragment() {
				continue
			}
			t := packet.TCP(ip.Payload())
			if !t.IsValid() {
				continue
			}
			switch {
			case p == portIn && ip.Src() == client && ip.Dst() == server && t.SrcPort() == 40000 && t.DstPort() == 25:
				c.smtp.client(t)
			case p == portOut && ip.Src() == global && ip.Dst() == client && t.SrcPort() == 25 && t.DstPort() == 40000:
				c.smtp.server(t)
			}
		}
	}
	if len(c.smtp.violations) > 0 {
		c.t.Fatalf("frame %d: %s", c.frame, c.smtp.violations[0])
	}
}

func fuzzRun(t *testing.T, rs *dataplane.Ruleset, data []byte) *fuzzChecker {
	h := newFuzzHarness(t, rs)
	c := &fuzzChecker{t: t, h: h, acl: rs.ACLs[rs.Ifaces[portOut].ACLIn],
		nat: map[uint32]uint32{ip4("10.10.10.2"): ip4("172.22.1.110"), ip4("10.10.10.5"): ip4("172.22.1.111")}}
	c.smtp.policy = rs.Ifaces[portOut].InspectIn.Match(packet.ProtoTCP, 25).SMTP
	accounted := func(when string) {
		if n := h.w.FramesAccounted(h.q); n != fuzzUMEMFrames {
			t.Fatalf("frame %d %s: %d UMEM frames accounted for, want %d", c.frame, when, n, fuzzUMEMFrames)
		}
	}
	for _, r := range decodeRecords(data) {
		c.frame++
		frames, port := buildFrame(&r)
		if r.ctl&0x20 != 0 {
			h.now += int64(4 * time.Second)
		}
		keys := map[flowtable.Key]bool{}
		c.sessionKeys(keys)
		for _, f := range frames {
			if len(f) < 14 || len(f) > 2048 {
				continue
			}
			if !h.q[port].Inject(f) {
				t.Fatalf("frame %d: inject failed", c.frame)
			}
			h.step()
			c.sessionKeys(keys)
			for p := range h.out {
				c.checkChecksums(h.out[p])
			}
			if port == portOut {
				c.checkInside(h.out[portIn], keys)
			}
			c.watchSMTP(port)
			accounted("after the step")
		}
	}
	// Let every timer run out: sessions, reassembly, held frames.
	for range 3 {
		h.now += int64(2 * time.Hour)
		h.step()
	}
	accounted("after expiry")
	if live, _ := h.w.SessionCount(); live != 0 {
		t.Fatalf("%d sessions left after every timeout", live)
	}
	return c
}

// fuzzConv builds the records of a golden exchange with the sequence
// offsets worked out.
type fuzzConv struct {
	recs     []byte
	off      [8]uint16 // next sequence offset per template
	peerOf   [8]int
	extraCtl uint8
}

func newFuzzConv() *fuzzConv {
	c := &fuzzConv{}
	c.peerOf[tSMTPClient], c.peerOf[tSMTPServer] = tSMTPServer, tSMTPClient
	c.peerOf[tTCPInside], c.peerOf[tTCPOutside] = tTCPOutside, tTCPInside
	return c
}

func (c *fuzzConv) seg(tmpl int, flags uint8, payload string) *fuzzConv {
	r := fuzzRecord{ctl: uint8(tmpl)<<1 | c.extraCtl, flags: flags, seq: c.off[tmpl], payload: []byte(payload)}
	if flags&packet.ACK != 0 {
		r.ack = c.off[c.peerOf[tmpl]]
	}
	c.off[tmpl] += uint16(len(payload))
	if flags&(packet.SYN|packet.FIN) != 0 {
		c.off[tmpl]++
	}
	c.recs = append(c.recs, encodeRecord(r)...)
	return c
}

func (c *fuzzConv) raw(r fuzzRecord) *fuzzConv {
	c.recs = append(c.recs, encodeRecord(r)...)
	return c
}

// fuzzSeeds are golden exchanges: an SMTP conversation with an illegal
// command and a message, the same with broken checksums, a TCP (FTP
// control) and a UDP conversation from the inside, ping, fragments, and an
// FTP session: login, a PORT split over two segments and rewritten (NAT),
// the server's data connection through its pinhole, a retransmitted PORT,
// a bounce attempt (reset).
func fuzzSeeds() [][]byte {
	const AP = packet.ACK | packet.PSH
	smtp := newFuzzConv().
		seg(tSMTPClient, packet.SYN, "").
		seg(tSMTPServer, packet.SYN|packet.ACK, "").
		seg(tSMTPClient, packet.ACK, "").
		seg(tSMTPServer, AP, "220 mail.example.com ESMTP\r\n").
		seg(tSMTPClient, AP, "HELO client.example.org\r\n").
		seg(tSMTPServer, AP, "250 mail.example.com\r\n").
		seg(tSMTPClient, AP, "EXPN root\r\n").
		seg(tSMTPServer, AP, "502 5.5.1 EXPN not allowed\r\n").
		seg(tSMTPClient, AP, "MAIL FROM:<a@example.org>\r\n").
		seg(tSMTPServer, AP, "250 2.1.0 Ok\r\n").
		seg(tSMTPClient, AP, "RCPT TO:<root@example.com>\r\n").
		seg(tSMTPServer, AP, "250 2.1.5 Ok\r\n").
		seg(tSMTPClient, AP, "DATA\r\n").
		seg(tSMTPServer, AP, "354 End data with <CR><LF>.<CR><LF>\r\n").
		seg(tSMTPClient, AP, "Subject: hi\r\n\r\nbody\r\n.\r\nVRFY root\r\n").
		seg(tSMTPServer, AP, "250 2.0.0 Ok: queued\r\n").
		seg(tSMTPClient, AP, "QUIT\r\n").
		seg(tSMTPServer, AP, "221 2.0.0 Bye\r\n").
		seg(tSMTPClient, packet.FIN|packet.ACK, "").
		seg(tSMTPServer, packet.FIN|packet.ACK, "").
		seg(tSMTPClient, packet.ACK, "")
	// The same conversation's opening with a retransmission that differs.
	retrans := newFuzzConv().
		seg(tSMTPClient, packet.SYN, "").
		seg(tSMTPServer, packet.SYN|packet.ACK, "").
		seg(tSMTPClient, packet.ACK, "").
		seg(tSMTPServer, AP, "220 mail.example.com ESMTP\r\n")
	retrans.seg(tSMTPClient, AP, "HELO a\r\n")
	retrans.off[tSMTPClient] -= 8
	retrans.seg(tSMTPClient, AP, "EXPN b\r\n")
	retrans.extraCtl = 0x10 // checksums left as built: still valid
	retrans.seg(tSMTPServer, AP, "250 ok\r\n")
	tcp := newFuzzConv().
		seg(tTCPInside, packet.SYN, "").
		seg(tTCPOutside, packet.SYN|packet.ACK, "").
		seg(tTCPInside, packet.ACK, "").
		seg(tTCPInside, AP, "GET / HTTP/1.0\r\n\r\n").
		seg(tTCPOutside, AP, "HTTP/1.0 200 OK\r\n\r\n").
		seg(tTCPInside, packet.RST|packet.ACK, "")
	udp := newFuzzConv().
		raw(fuzzRecord{ctl: tUDPInside << 1, payload: []byte("query")}).
		raw(fuzzRecord{ctl: tUDPOutside << 1, payload: []byte("answer")}).
		raw(fuzzRecord{ctl: tUDPInside<<1 | 0x80, payload: bytes.Repeat([]byte("fragmented query "), 8)}).
		raw(fuzzRecord{ctl: tUDPOutside << 1, payload: []byte("unsolicited")})
	ping := newFuzzConv().
		raw(fuzzRecord{ctl: tICMP << 1, flags: packet.Echo, payload: []byte("ping")}).
		raw(fuzzRecord{ctl: tICMP<<1 | 1, flags: packet.EchoReply, payload: []byte("ping")}).
		raw(fuzzRecord{ctl: tICMP<<1 | 1 | 0x10 | 0x40, flags: packet.Echo, payload: []byte{3, 1, 'p'}})
	bad := newFuzzConv()
	bad.extraCtl = 0x10
	bad.seg(tSMTPClient, packet.SYN, "")
	rawIP := make([]byte, 28)
	packet.WriteIPv4Header(rawIP, ip4("172.22.1.100"), ip4("172.22.1.110"), packet.ProtoUDP, 64, 8, 9)
	raw := newFuzzConv().raw(fuzzRecord{ctl: tRaw << 1, payload: rawIP})
	ftp := newFuzzConv().
		seg(tTCPInside, packet.SYN, "").
		seg(tTCPOutside, packet.SYN|packet.ACK, "").
		seg(tTCPInside, packet.ACK, "").
		seg(tTCPOutside, AP, "220 ftp\r\n").
		seg(tTCPInside, AP, "USER ftp\r\n").
		seg(tTCPOutside, AP, "331 pass\r\n").
		seg(tTCPInside, AP, "PASS x\r\n").
		seg(tTCPOutside, AP, "230 ok\r\n").
		seg(tTCPInside, AP, "PORT 10,10,").
		seg(tTCPInside, AP, "10,5,200,10\r\n")
	ftp.off[tTCPInside] -= uint16(len("10,5,200,10\r\n"))
	ftp.seg(tTCPInside, AP, "10,5,200,10\r\n").
		raw(fuzzRecord{ctl: tRaw << 1, payload: fuzzDataSYN(ip4("198.51.100.7"), ip4("172.22.1.111"), 20, 200<<8|10)}).
		seg(tTCPOutside, AP, "200 ok\r\n").
		seg(tTCPInside, AP, "EPRT |1|10.10.10.5|51000|\r\n").
		seg(tTCPOutside, AP, "200 ok\r\n").
		seg(tTCPInside, AP, "PASV\r\n").
		seg(tTCPOutside, AP, "227 Entering Passive Mode (198,51,100,7,195,80)\r\n").
		seg(tTCPInside, AP, "PORT 192,0,2,1,0,25\r\n")
	return [][]byte{smtp.recs, retrans.recs, tcp.recs, udp.recs, ping.recs, bad.recs, raw.recs, ftp.recs}
}

// fuzzDataSYN is the IPv4 datagram of a data connection's SYN (checksums
// computed).
func fuzzDataSYN(src, dst uint32, sport, dport uint16) []byte {
	b := make([]byte, 40)
	packet.WriteIPv4Header(b, src, dst, packet.ProtoTCP, 64, 20, 7)
	t := packet.TCP(b[20:])
	t.SetSrcPort(sport)
	t.SetDstPort(dport)
	t.SetSeq(777)
	t.SetDataOffset(20)
	t.SetFlags(packet.SYN)
	t.SetWindow(65535)
	t.SetChecksum(t.CalculateChecksum(src, dst))
	return b
}

// The golden exchanges pass the invariants, and the SMTP one reaches the
// inspector: the illegal EXPN reaches the server as x's.
func TestFuzzPipelineSeeds(t *testing.T) {
	rs := fuzzRuleset(t)
	for i, s := range fuzzSeeds() {
		t.Run(string(rune('a'+i)), func(t *testing.T) {
			c := fuzzRun(t, rs, s)
			if i != 0 {
				return
			}
			// The watcher followed the whole client stream.
			client := 0
			for _, r := range decodeRecords(s) {
				if int(r.ctl>>1)&7 == tSMTPClient {
					client += len(r.payload)
				}
			}
			if !c.smtp.open || c.smtp.cNext != fuzzClientISN+1+uint32(client) || !c.smtp.sKnown {
				t.Errorf("SMTP watcher: open %v, next client byte %d, want %d", c.smtp.open, c.smtp.cNext, fuzzClientISN+1+client)
			}
		})
	}
	h := newFuzzHarness(t, rs)
	var toServer []byte
	for _, r := range decodeRecords(fuzzSeeds()[0]) {
		frames, port := buildFrame(&r)
		for _, f := range frames {
			out := h.send(port, f)
			for _, o := range out[portIn] {
				toServer = append(toServer, packet.TCP(packet.IPv4(o[14:]).Payload()).Payload()...)
			}
		}
	}
	if !bytes.Contains(toServer, []byte("xxxxxxxxx\r\nMAIL FROM")) || bytes.Contains(toServer, []byte("EXPN")) {
		t.Errorf("the golden SMTP exchange did not reach the inspector: the server got %q", toServer)
	}
	if !bytes.Contains(toServer, []byte("QUIT\r\n")) {
		t.Errorf("the golden SMTP exchange did not reach its end: the server got %q", toServer)
	}
	// The FTP one reaches its inspector: the split PORT leaves whole and
	// translated, the server's data connection is admitted once, the
	// bounce resets the session.
	h = newFuzzHarness(t, rs)
	var toFTP []byte
	admitted := 0
	for _, r := range decodeRecords(fuzzSeeds()[7]) {
		frames, port := buildFrame(&r)
		for _, f := range frames {
			out := h.send(port, f)
			for _, o := range out[portOut] {
				toFTP = append(toFTP, packet.TCP(packet.IPv4(o[14:]).Payload()).Payload()...)
			}
			for _, o := range out[portIn] {
				if tc := packet.TCP(packet.IPv4(o[14:]).Payload()); tc.Flags() == packet.SYN && tc.SrcPort() == 20 {
					admitted++
				}
			}
		}
	}
	// (The retransmission of the PORT's second half, beginning inside the
	// rewritten text, carries the whole replacement text again.)
	if !bytes.Contains(toFTP, []byte("PORT 172,22,1,111,200,10\r\n172,22,1,111,200,10\r\nEPRT |1|172.22.1.111|51000|\r\nPASV\r\n")) ||
		bytes.Contains(toFTP, []byte("192,0,2,1")) || bytes.Contains(toFTP, []byte("10,10,10,5")) {
		t.Errorf("the golden FTP exchange: the server got %q", toFTP)
	}
	if admitted != 1 || h.drops(dataplane.DropFTPRefused) != 1 {
		t.Errorf("the golden FTP exchange: %d data connections admitted, drops %v", admitted, smtpDrops(h))
	}
}

// fuzzRuleset is the seed with static ARP and a table of 1024 sessions:
// the same behaviour for the few flows of an input, and a harness cheap
// enough to build for every input.
func fuzzRuleset(t testing.TB) *dataplane.Ruleset {
	return compile(t, seedVariant(t, "\n[dataplane]\nmax_sessions = 1024\n"))
}
