package dataplane

import (
	"cbac/packet"
	"cbac/smtpfsm"
	"cbac/tcpstream"
)

// smtpState is the SMTP inspection state of one session: the command and
// reply machines, the client stream's guard with its replay copy, and the
// server stream's next expected sequence (SPEC.md 5).
type smtpState struct {
	fsm         smtpfsm.Session
	policy      smtpfsm.Policy
	guard       tcpstream.Guard
	srvNext     uint32
	srvKnown    bool
	passthrough bool
}

// smtpPool is a worker's preallocated SMTP states and replay buffers;
// handles are 1 + index so that 0 means none.
type smtpPool struct {
	states   []smtpState
	bufs     []byte
	bufLen   int
	freeList []uint32
}

func (p *smtpPool) init(n, bufLen int) {
	p.states = make([]smtpState, n)
	p.bufs = make([]byte, n*bufLen)
	p.bufLen = bufLen
	p.freeList = make([]uint32, 0, n)
	for i := n - 1; i >= 0; i-- {
		p.freeList = append(p.freeList, uint32(i))
	}
}

func (p *smtpPool) alloc(pol *smtpfsm.Policy, isn uint32) (uint32, bool) {
	n := len(p.freeList)
	if n == 0 {
		return 0, false
	}
	i := p.freeList[n-1]
	p.freeList = p.freeList[:n-1]
	st := &p.states[i]
	*st = smtpState{policy: *pol}
	st.fsm.Reset()
	off := int(i) * p.bufLen
	st.guard.Init(isn, p.bufs[off:off+p.bufLen:off+p.bufLen])
	return i + 1, true
}

func (p *smtpPool) get(h uint32) *smtpState { return &p.states[h-1] }

func (p *smtpPool) free(h uint32) {
	if len(p.freeList) < cap(p.freeList) {
		p.freeList = append(p.freeList, h-1)
	}
}

// inspectSMTP runs the SMTP machines over a segment of an inspected session.
// It reports whether payload bytes changed (the TCP checksum must then be
// recomputed) or why the segment must be dropped.
func (w *Worker) inspectSMTP(s *Session, idx uint32, dir uint8, t packet.TCP, p *pkt) (Reason, bool) {
	st := w.smtp.get(s.smtp)
	var tr *smtpfsm.Trace
	if w.tracing {
		tr = &w.trace
		tr.N = 0
	}
	if dir == 1 {
		if t.Flags()&packet.ACK != 0 {
			st.guard.Ack(t.Ack())
		}
		if t.Flags()&packet.SYN != 0 {
			st.srvNext, st.srvKnown = t.Seq()+1, true
			return DropNone, false
		}
		if len(p.payload) == 0 || st.passthrough || !st.srvKnown {
			return DropNone, false
		}
		// Replies are parsed once, in order: retransmitted bytes pass
		// unparsed, a gap is dropped until the server fills it.
		seq := t.Seq()
		off := int32(st.srvNext - seq)
		if off < 0 {
			return DropStreamOutOfOrder, false
		}
		if int(off) >= len(p.payload) {
			return DropNone, false
		}
		b := p.payload[off:]
		res := st.fsm.Server(&st.policy, b, tr)
		st.srvNext += uint32(len(b))
		w.smtpResult(s, idx, &res, st, tr)
		if res.Passthrough {
			st.passthrough = true
		}
		return DropNone, false
	}
	if len(p.payload) == 0 {
		return DropNone, false
	}
	act, start, differs := st.guard.Segment(t.Seq(), p.payload)
	if act == tcpstream.Drop {
		if st.guard.Free() == 0 {
			return DropStreamBufferFull, false
		}
		return DropStreamOutOfOrder, false
	}
	changed := false
	if differs {
		changed = true
		w.smtpAlert(s, idx, EvStreamDiffers, 0, nil)
	}
	b := p.payload[start:]
	if len(b) == 0 {
		return DropNone, changed
	}
	if st.passthrough {
		st.guard.Commit(b)
		return DropNone, changed
	}
	res := st.fsm.Client(&st.policy, b, tr)
	if res.Reset {
		w.smtpResult(s, idx, &res, st, tr)
		return DropSMTPMaxData, changed
	}
	st.guard.Commit(b)
	if res.Rewritten > 0 {
		changed = true
		w.Stats.SMTPRewritten += uint64(res.Rewritten)
	}
	w.smtpResult(s, idx, &res, st, tr)
	if res.Passthrough {
		st.passthrough = true
	}
	return DropNone, changed
}

// smtpResult hands alerts and trace lines to the control plane.
func (w *Worker) smtpResult(s *Session, idx uint32, res *smtpfsm.Result, st *smtpState, tr *smtpfsm.Trace) {
	if res.Alerts != 0 && s.flags&sfAlert != 0 {
		text := res.VerbText()
		if !res.Alerts.Has(smtpfsm.AlertInvalidCommand) {
			text = nil
		}
		w.smtpAlert(s, idx, EvSMTPAlert, uint32(res.Alerts)|uint32(res.Param)<<24, text)
	}
	if tr != nil {
		for i := 0; i < tr.N && i < len(tr.Events); i++ {
			ev := Event{Kind: EvSMTPTrace, Trace: tr.Events[i]}
			w.emit(&ev)
		}
		tr.N = 0
	}
}

func (w *Worker) smtpAlert(s *Session, idx uint32, kind EventKind, alerts uint32, text []byte) {
	e := w.table.Entry(idx)
	ev := Event{Kind: kind, Proto: s.Kind, Key: e.Orig, Alert: alerts}
	ev.Aux[0] = int64(e.Reply.Src)
	ev.Aux[1] = int64(e.Reply.SrcPort)
	ev.SetText(text)
	w.emit(&ev)
}

// resetSession ends a session whose client exceeded max-data: the current
// segment becomes an RST to the server at the next byte it expects, a new
// RST goes to the client at the sequence it acknowledged, and the session
// is deleted (SPEC.md 5, max-data).
func (w *Worker) resetSession(d *Desc, frame []byte, p *pkt, s *Session, idx uint32, dir uint8) {
	st := w.smtp.get(s.smtp)
	t := packet.TCP(p.l4)
	e := w.table.Entry(idx)
	ev := Event{Kind: EvMaxData, Proto: s.Kind, Key: e.Orig}
	ev.Aux[0] = int64(e.Reply.Src)
	ev.Aux[1] = int64(e.Reply.SrcPort)
	w.emit(&ev)

	seqToServer := st.guard.Next()
	ackToServer := t.Ack()
	// RST to the client, from the server, built in a new frame.
	if nd, buf, ok := w.newFrame(); ok {
		r := e.Reply
		n := writeRST(buf, r.Src, r.Dst, r.SrcPort, r.DstPort, ackToServer, seqToServer)
		nd.Len = uint32(n)
		ip := packet.IPv4(buf[packet.EthernetHeaderLen:n])
		s.xlate[1].Apply(ip)
		w.send(&nd, buf[:n], int(s.port[1]), s.nextHop[1])
	}
	// The client's segment becomes the RST to the server.
	n := writeRST(frame, p.src, p.dst, p.sport, p.dport, seqToServer, ackToServer)
	d.Len = uint32(n)
	ip := packet.IPv4(frame[packet.EthernetHeaderLen:n])
	s.xlate[0].Apply(ip)
	w.send(d, frame[:n], int(s.port[0]), s.nextHop[0])
	w.deleteSession(idx)
}

// writeRST writes an Ethernet+IPv4+TCP RST|ACK into b and returns its length.
func writeRST(b []byte, src, dst uint32, sport, dport uint16, seq, ack uint32) int {
	const l = packet.EthernetHeaderLen + 20 + 20
	packet.Ethernet(b).SetType(packet.EtherTypeIPv4)
	ip := packet.IPv4(b[packet.EthernetHeaderLen:l])
	packet.WriteIPv4Header(ip, src, dst, packet.ProtoTCP, 64, 20, 0)
	t := packet.TCP(b[packet.EthernetHeaderLen+20 : l])
	for i := range t {
		t[i] = 0
	}
	t.SetSrcPort(sport)
	t.SetDstPort(dport)
	t.SetSeq(seq)
	t.SetAck(ack)
	t[12] = 5 << 4
	t.SetFlags(packet.RST | packet.ACK)
	t.SetChecksum(t.CalculateChecksum(src, dst))
	return l
}
