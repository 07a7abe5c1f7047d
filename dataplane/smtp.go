package dataplane

import (
	"cbac/appinspect"
	"cbac/internal/lazymem"
	"cbac/packet"
	"cbac/smtpfsm"
)

// SMTP inspection glue (docs/behaviour.md "SMTP inspection"): the
// inspector (appinspect.SMTP: stream guard, command and reply machines,
// window clamp) decides; this file keeps its states and replay buffers,
// holds and lets go the frames it keeps by reference (hold.go), sends the
// max-data resets and reports alerts and trace lines. Per segment of an
// inspected session, after TCP tracking accepted it:
//
// Client -> server (dir 0): appinspect.SMTP.Data, the common case of
// message data (in order, no line-start dot: the frame is held), which
// forwardSession tries first, on a frame holdAt offers; else
// appinspect.SMTP.Client, whose Verdict inspectSMTP applies:
//
//	Forward, Rewrite: sent (Rewrite: bytes x-ed or restored in place, the
//	checksum is recomputed); HoldFrame: the frame is held (hold.go)
//	Drop:  out of order, replay copy full, or data on a SYN
//	Reset: max-data: RST both ends, delete the session (resetSession)
//
// Server -> client (dir 1, inspectSMTP): new reply bytes are parsed once, in order
// (appinspect.SMTP.Reply; a segment beyond a gap is dropped), the ACK
// frees the guard and lets go the frames it covered entirely, and the
// advertised window is clamped to the guard's room, so a client that
// honours it never sends bytes the guard must drop
// (appinspect.SMTP.ClampWindow).

// smtpState is the SMTP inspection state of one session
// (appinspect.SMTP: machines, guard, the server stream's next byte). It
// lives only while the connection is open: releaseSMTP frees it when TCP
// tracking sees the connection closed (both FINs acknowledged, or an
// RST), although the session itself waits out finwait.
type smtpState = appinspect.SMTP

// smtpChunk is how many states the pool adds at a time (a power of two).
const smtpChunk = 256

// smtpPool is a worker's SMTP states and replay buffers. It grows in
// chunks of smtpChunk states, each with its replay buffers in one lazily
// committed slab, between batches (stock), so that the packet path never
// allocates and always finds a free state while it may create one: it
// holds at least slack free states after each batch, slack being the most
// sessions one batch can create. It never grows past the table's
// capacity (a session holds one state at most) and does not shrink.
// Memory: the states (2.3 KB each, most of it the guard's held ranges)
// and the written pages of the buffers of the most sessions inspected at
// once since start (free states are reused most recently freed first, so
// the same buffers' pages serve again), and address space for whole
// chunks' buffers. Handles are 1 + index so that 0 means none.
type smtpPool struct {
	chunks   []*[smtpChunk]smtpState // handle h is chunks[(h-1)/smtpChunk][(h-1)%smtpChunk]
	bufs     [][]byte                // replay buffers of chunk i, bufLen bytes each
	bufLen   int
	freeList []uint32 // free handles - 1, the most recently freed last
	inUse    int
	slack    int // free states stock keeps
}

// init sets the pool up for at most max sessions (rounded up to a chunk)
// of bufLen-byte replay buffers, slack of them possibly created in one
// batch, and stocks it.
func (p *smtpPool) init(w *Worker, max, bufLen, slack int) {
	p.bufLen = bufLen
	p.slack = min(slack, max)
	p.chunks = make([]*[smtpChunk]smtpState, 0, (max+smtpChunk-1)/smtpChunk)
	p.bufs = make([][]byte, 0, cap(p.chunks))
	p.freeList = make([]uint32, 0, cap(p.chunks)*smtpChunk)
	p.stock(w)
}

// stock adds chunks until slack states are free, or the pool is at its
// maximum (between batches: it allocates).
func (p *smtpPool) stock(w *Worker) {
	for len(p.freeList) < p.slack && len(p.chunks) < cap(p.chunks) {
		c := len(p.chunks)
		p.chunks = append(p.chunks, new([smtpChunk]smtpState))
		p.bufs = append(p.bufs, lazymem.Bytes(w, smtpChunk*p.bufLen))
		// Free handles are taken from the end: the new chunk's first
		// state first.
		n := len(p.freeList)
		free := p.freeList[:n+smtpChunk]
		copy(free[smtpChunk:], free[:n])
		for i := 0; i < smtpChunk; i++ {
			free[i] = uint32((c+1)*smtpChunk - 1 - i)
		}
		p.freeList = free
	}
}

// alloc takes a free state for a session of policy pol whose client stream
// starts at isn, unless limit states (> 0) are in use already.
func (p *smtpPool) alloc(pol *smtpfsm.Policy, isn uint32, limit int) (uint32, bool) {
	n := len(p.freeList)
	if n == 0 || (limit > 0 && p.inUse >= limit) {
		return 0, false
	}
	i := p.freeList[n-1]
	p.freeList = p.freeList[:n-1]
	p.inUse++
	st := p.get(i + 1)
	st.Init(pol, isn, p.buf(i+1))
	return i + 1, true
}

// buf is the replay buffer of handle h.
func (p *smtpPool) buf(h uint32) []byte {
	off := int((h-1)%smtpChunk) * p.bufLen
	return p.bufs[(h-1)/smtpChunk][off : off+p.bufLen : off+p.bufLen]
}

func (p *smtpPool) get(h uint32) *smtpState { return &p.chunks[(h-1)/smtpChunk][(h-1)%smtpChunk] }

func (p *smtpPool) free(h uint32) {
	p.freeList = append(p.freeList, h-1) // within capacity: every handle is free once
	p.inUse--
}

// releaseSMTP ends the SMTP inspection of session s (s.app != 0): every
// frame its guard holds is let go (hold.go) and its state goes back to the
// pool; s.app is 0 afterwards. It runs (releaseInspection) once the
// connection is closed for inspection (tcpstate.Conn.Closed: both FINs
// acknowledged, or an RST accepted), or when the session ends before.
// After it, TCP tracking alone judges the session's segments: in TIME_WAIT
// and CLOSE it passes only retransmitted FINs and ACKs and in-window RSTs,
// and drops new data (tcpstate/STATES.md), so no new client byte reaches
// the server uninspected. A retransmission of old
// bytes passes as it did with the state (tcpstream keeps only what the
// server has not acknowledged): the server acknowledged every byte before
// the client's FIN, and its TCP discards them.
func (w *Worker) releaseSMTP(s *Session) {
	g := &w.smtp.get(s.app).Guard
	for {
		off, ok := g.Release()
		if !ok {
			break
		}
		w.letGo(off)
	}
	w.smtp.free(s.app)
	s.app = 0
}

// inspected reports whether sessions of kind k are inspected at the
// application layer (an inspector's state while the connection is open).
func (k ProtoKind) inspected() bool { return k.smtp() || k == InspectFTP }

// smtp reports whether sessions of kind k have an smtpState.
func (k ProtoKind) smtp() bool { return k == InspectSMTP || k == InspectESMTP }

// smtpLimit is how many SMTP states the worker may have in use: its share
// of Ruleset.InspectedSessions, or 0 for no limit but the table's.
func (w *Worker) smtpLimit() int {
	n := w.rs.InspectedSessions
	if n <= 0 {
		return 0
	}
	return max(1, n/len(w.dp.Workers))
}

// InspectedSessions reports how many SMTP inspection states the worker has
// in use, how many it has allocated (in use or free), and its limit (0:
// the session table's capacity) for `show ip inspect statistics` (call it
// through Dataplane.Do).
func (w *Worker) InspectedSessions() (inUse, allocated, limit int) {
	return w.smtp.inUse, len(w.smtp.chunks) * smtpChunk, w.smtpLimit()
}

// inspectSMTP runs the SMTP inspector over a segment of session idx
// (direction dir) that TCP tracking accepted, unless SMTP.Data held it
// already (forwardSession tries it first on a client segment: at and dot
// are what holdAt and Data found; dot is -1 if Data did not scan), closed
// telling whether it closed the connection (the state is then released;
// the session waits out finwait). It reports whether the payload changed
// (the TCP checksum must be recomputed) and whether the caller forwards
// the segment; if not, the segment was dropped or the session reset.
func (w *Worker) inspectSMTP(d *Desc, frame []byte, p *pkt, s *Session, st *smtpState, idx uint32, dir uint8, at *appinspect.HoldAt, dot int, closed bool) (dirty, ok bool) {
	t := packet.TCP(p.l4)
	var r Reason
	if dir == 1 {
		r = w.smtpReply(s, idx, st, t, p, w.smtpTrace())
	} else {
		var res smtpfsm.Result
		tr := w.smtpTrace()
		v := st.Client(t.Seq(), t.Flags(), p.payload, at, dot, tr, &res)
		if v.Differs {
			w.Stats.SMTPAlerts[smtpfsm.AlertRetransmitDiffers]++
			w.smtpAlert(s, idx, EvStreamDiffers, 0, nil)
		}
		switch v.Action {
		case appinspect.Drop:
			r = dropReason(v.Why)
		case appinspect.Reset:
			w.smtpResult(s, idx, &res, tr)
			w.resetSession(d, frame, p, s, idx, v.RSTSeq, v.RSTAck)
			return false, false
		default:
			if v.HoldFrame {
				w.hold(at.Off)
			}
			w.Stats.SMTPRewritten += uint64(res.Rewritten)
			w.smtpResult(s, idx, &res, tr)
			dirty = v.Action == appinspect.Rewrite
		}
	}
	if closed {
		// This segment closed the connection (docs/behaviour.md
		// "Sessions and timers"), or nothing is left to inspect.
		w.releaseInspection(s)
	}
	if r != DropNone {
		w.drop(d, r)
		return false, false
	}
	return dirty, true
}

// smtpTrace is the trace the machines fill while `debug ip inspect smtp`
// is on, else nil.
func (w *Worker) smtpTrace() *smtpfsm.Trace {
	if !w.tracing {
		return nil
	}
	w.trace.N = 0
	return &w.trace
}

// smtpReply handles a server->client segment: new reply bytes are parsed
// once and in order (appinspect.SMTP.Reply; a segment beyond a gap is
// dropped until the server fills it), the ACK frees the guard and lets go
// the frames it covered, and the advertised window is clamped.
func (w *Worker) smtpReply(s *Session, idx uint32, st *smtpState, t packet.TCP, p *pkt, tr *smtpfsm.Trace) Reason {
	flags := t.Flags()
	if len(p.payload) > 0 || flags&packet.SYN != 0 { // a bare ACK (most of them) has nothing to parse
		var res smtpfsm.Result
		parsed, why := st.Reply(t.Seq(), flags&packet.SYN != 0, p.payload, tr, &res)
		if why == appinspect.WhyOutOfOrder {
			return DropStreamOutOfOrder
		}
		if parsed {
			w.smtpResult(s, idx, &res, tr)
		}
	}
	if flags&packet.ACK != 0 && flags&packet.RST == 0 {
		st.Guard.Ack(t.Ack())
		for {
			off, ok := st.Guard.Unhold()
			if !ok {
				break
			}
			w.letGo(off)
		}
		scale := s.tcp.WindowScale(1)
		if flags&packet.SYN != 0 {
			scale = 0 // a SYN's window is never scaled (RFC 7323 2.2)
		}
		st.ClampWindow(t, scale)
	}
	return DropNone
}

// smtpResult hands alerts and trace lines to the control plane. Max-data
// is reported by resetSession (EvMaxData), not here.
func (w *Worker) smtpResult(s *Session, idx uint32, res *smtpfsm.Result, tr *smtpfsm.Trace) {
	if res.Alerts != 0 || tr != nil { // else nothing to report: most segments
		w.smtpReport(s, idx, res, tr)
	}
}

func (w *Worker) smtpReport(s *Session, idx uint32, res *smtpfsm.Result, tr *smtpfsm.Trace) {
	alerts := res.Alerts &^ (1 << smtpfsm.AlertMaxData)
	for k := smtpfsm.AlertKind(0); k < smtpfsm.NumAlerts; k++ {
		if alerts.Has(k) {
			w.Stats.SMTPAlerts[k]++
		}
	}
	if alerts != 0 && s.flags&sfAlert != 0 {
		var text []byte
		if alerts.Has(smtpfsm.AlertInvalidCommand) {
			text = res.VerbText()
		}
		w.smtpAlert(s, idx, EvSMTPAlert, uint32(alerts)|uint32(res.Param)<<24, text)
	}
	if tr != nil {
		for i := 0; i < tr.N && i < len(tr.Events); i++ {
			ev := Event{Kind: EvSMTPTrace, Proto: s.Kind, Trace: tr.Events[i]}
			w.emit(&ev)
		}
		tr.N = 0
	}
}

// smtpAlert reports an alert of kind about session idx, if the session's
// rule has alerts on.
func (w *Worker) smtpAlert(s *Session, idx uint32, kind EventKind, alerts uint32, text []byte) {
	if s.flags&sfAlert == 0 {
		return
	}
	e := w.table.Entry(idx)
	ev := Event{Kind: kind, Proto: s.Kind, Key: e.Orig, Alert: alerts}
	ev.Aux[0] = int64(e.Reply.Src)
	ev.Aux[1] = int64(e.Reply.SrcPort)
	ev.SetText(text)
	w.emit(&ev)
}

// resetSession ends a session whose client exceeded max-data (docs/behaviour.md "SMTP inspection", max-data):
// the client's segment is not forwarded but becomes an RST to the server
// at the next byte the server expects (rstSeq, the Verdict's RSTSeq: every
// byte before it was forwarded), a new RST goes to the client at the
// sequence number it acknowledged (the segment's ACK field), acknowledging
// rstAck, and the session is deleted.
func (w *Worker) resetSession(d *Desc, frame []byte, p *pkt, s *Session, idx uint32, rstSeq, rstAck uint32) {
	w.Stats.SMTPAlerts[smtpfsm.AlertMaxData]++
	w.smtpAlert(s, idx, EvMaxData, 1<<smtpfsm.AlertMaxData, nil)
	w.resetRefused(d, frame, p, s, idx, 0, rstSeq, rstAck, DropSMTPMaxData)
}
