package dataplane

import (
	"cbac/appinspect"
	"cbac/flowtable"
	"cbac/ftpfsm"
	"cbac/packet"
)

// FTP inspection glue (docs/behaviour.md "FTP inspection"): the inspector
// (appinspect.FTP) decides; this file applies its verdicts to frames,
// resets refused sessions and keeps the pinholes of the data connections.
//
// Per segment of an FTP control session:
//
//	before TCP tracking: MapAck (acks and SACK blocks back into the
//	peer's own numbering), so that tracking sees both original streams
//	after tracking: Segment -> Forward (seq rewritten when shifted),
//	Rewrite (the payload replaced in the frame: IP length, checksums),
//	Drop, Reset (RST both ends, session deleted); each Expect opens one
//	pinhole
//
// A data connection's SYN that matches a pinhole (forwardNew) skips the
// ACLs, takes the pinhole and becomes an ftp-data session: a plain TCP
// session whose app field names its control session (show).

// ftpState is the FTP inspection state of one control session: the
// inspector and the pinholes it opened that may still be open.
type ftpState struct {
	insp  appinspect.FTP
	npins uint8
	pins  [maxSessionPins]uint64 // pinholeTable references
}

// maxSessionPins is how many pinholes one control session keeps open; a
// newer announcement closes the oldest (a client uses one data connection
// at a time; a few allow for commands sent ahead).
const maxSessionPins = 4

// ftpMTU is the largest IP datagram a rewritten segment grows to (unless
// the segment was larger already): Ethernet's.
const ftpMTU = 1500

// ftpLimit reports whether the inspected sessions (SMTP and FTP states)
// are at the configured limit.
func (w *Worker) ftpAtLimit() (int, bool) {
	limit := w.smtpLimit()
	return limit, limit > 0 && w.smtp.inUse+w.ftp.InUse() >= limit
}

// startFTP gives a new FTP control session (client's SYN seg.Seq = isn)
// its inspection state.
func (w *Worker) startFTP(s *Session, p *pkt, nsrc, ndst, isn uint32) bool {
	if limit, full := w.ftpAtLimit(); full {
		w.refused(&w.inspectFull, EvInspectFull, limit)
		return false
	}
	h, ok := w.ftp.Alloc()
	if !ok {
		w.refused(&w.inspectFull, EvInspectFull, w.ftp.Allocated())
		return false
	}
	w.ftp.Get(h).insp.Init(p.src, nsrc, ndst, p.dst, isn)
	s.app = h
	return true
}

// FTPSessions reports how many FTP control sessions the worker inspects
// (call it through Dataplane.Do).
func (w *Worker) FTPSessions() int { return w.ftp.InUse() }

// Now returns the worker's clock: the time of its latest batch (call it
// through Dataplane.Do).
func (w *Worker) Now() int64 { return w.now }

// releaseFTP ends the FTP inspection of session s (the session ends): its
// pinholes still open are closed, its state goes back to the pool.
func (w *Worker) releaseFTP(s *Session) {
	w.closePinholes(s)
	w.ftp.Free(s.app)
	s.app = 0
}

// closePinholes closes the pinholes control session s opened that are
// still open (its connection closed or the session ends).
func (w *Worker) closePinholes(s *Session) {
	st := w.ftp.Get(s.app)
	for i := 0; i < int(st.npins); i++ {
		w.dp.pins.remove(st.pins[i])
	}
	st.npins = 0
}

// ftpMapAck maps a control segment's acknowledgement back before TCP
// tracking (appinspect.FTP.MapAck).
func (w *Worker) ftpMapAck(s *Session, dir uint8, t packet.TCP) bool {
	return w.ftp.Get(s.app).insp.MapAck(dir, t)
}

// inspectFTP applies the inspector's verdict on a control segment that TCP
// tracking accepted. It returns the frame to forward (it may have changed
// length) and whether its TCP checksum must be recomputed; ok is false
// when the frame was dropped or the session reset (nothing more to do).
func (w *Worker) inspectFTP(d *Desc, frame []byte, p *pkt, s *Session, idx uint32, dir uint8) (out []byte, dirty, ok bool) {
	st := w.ftp.Get(s.app)
	t := packet.TCP(p.l4)
	hdr := len(p.l4) - len(p.payload) // TCP header
	room := len(w.frameRoom(d)) - packet.EthernetHeaderLen - p.ip.HeaderLength() - hdr
	mtu := max(ftpMTU, len(p.ip)) - p.ip.HeaderLength() - hdr
	v := st.insp.Segment(dir, t.Seq(), t.Flags(), p.payload, w.ftpBuf, min(room, mtu))
	if v.Alerts != 0 {
		w.ftpAlert(s, idx, st, &v)
	}
	switch v.Action {
	case appinspect.Forward:
		if v.Seq != t.Seq() {
			t.SetSeqWithChecksum(v.Seq)
		}
	case appinspect.Rewrite:
		frame = w.ftpRewrite(d, frame, p, &v)
		dirty = true
	case appinspect.Drop:
		w.drop(d, dropReason(v.Why))
		return frame, false, false
	case appinspect.Reset:
		w.resetFTP(d, frame, p, s, idx, &v)
		return frame, false, false
	}
	for i := 0; i < v.NExpect; i++ {
		w.openPinhole(s, idx, st, &v.Expect[i])
	}
	return frame, dirty, true
}

// ftpRewrite puts v.Out in place of the segment's payload: the frame's
// length, the IP total length and checksum, the sequence number and flags
// change; the TCP checksum is recomputed by the caller (dirty).
func (w *Worker) ftpRewrite(d *Desc, frame []byte, p *pkt, v *appinspect.Verdict) []byte {
	off := len(frame) - len(p.payload)
	n := off + len(v.Out)
	frame = w.frameRoom(d)[:n]
	copy(frame[off:], v.Out)
	d.Len = uint32(n)
	ip := packet.IPv4(frame[packet.EthernetHeaderLen:n])
	ip.SetTotalLengthWithChecksum(uint16(len(ip)))
	p.ip = ip
	p.l4 = ip.Payload()
	t := packet.TCP(p.l4)
	p.payload = t.Payload()
	t.SetSeq(v.Seq)
	if v.ClearFIN {
		t.SetFlags(t.Flags() &^ packet.FIN)
	}
	return frame
}

// resetFTP ends a control session whose client sent a command the
// inspector refused: the segment becomes an RST to the server at the next
// byte it expects, a new RST goes to the client, and the session is
// deleted (its pinholes close with it).
func (w *Worker) resetFTP(d *Desc, frame []byte, p *pkt, s *Session, idx uint32, v *appinspect.Verdict) {
	w.resetRefused(d, frame, p, s, idx, 0, v.RSTSeq, v.RSTAck, DropFTPRefused)
}

// ftpAlert counts a segment's FTP alerts and reports the first one.
func (w *Worker) ftpAlert(s *Session, idx uint32, st *ftpState, v *appinspect.Verdict) {
	first := ftpfsm.AlertNone
	for k := ftpfsm.AlertKind(1); k < ftpfsm.AlertKind(len(w.Stats.FTPAlerts)); k++ {
		if v.Alerts.Has(k) {
			w.Stats.FTPAlerts[k]++
			if first == ftpfsm.AlertNone {
				first = k
			}
		}
	}
	if s.flags&sfAlert == 0 || first == ftpfsm.AlertNone {
		return
	}
	e := w.table.Entry(idx)
	ev := Event{Kind: EvFTPAlert, Proto: s.Kind, Key: e.Orig, Alert: uint32(first)}
	a := &v.Refused
	ev.Aux[0] = int64(st.insp.Client())
	ev.Aux[1] = int64(st.insp.Server())
	ev.Aux[2] = int64(a.Kind)
	ev.Aux[3] = int64(a.Addr)<<16 | int64(a.Port)
	w.emit(&ev)
}

// FTPAlertAnnouncement rebuilds the announcement and the control
// connection's addresses an EvFTPAlert carries (control plane).
func (e *Event) FTPAlertAnnouncement() (k ftpfsm.AlertKind, a ftpfsm.Announcement, client, server uint32) {
	a = ftpfsm.Announcement{Kind: ftpfsm.Kind(e.Aux[2]), Addr: uint32(e.Aux[3] >> 16), Port: uint16(e.Aux[3])}
	return ftpfsm.AlertKind(e.Alert), a, uint32(e.Aux[0]), uint32(e.Aux[1])
}

// openPinhole admits one data connection a control segment announced:
// arriving where that end's packets arrive (the server's: port[0]; the
// client's: port[1]). A session keeps maxSessionPins pinholes; a newer one
// closes its oldest.
func (w *Worker) openPinhole(s *Session, idx uint32, st *ftpState, e *appinspect.Expect) {
	in := s.port[1]
	if e.From == 1 {
		in = s.port[0]
	}
	var flags uint8
	if s.flags&sfAlert != 0 {
		flags |= pinAlert
	}
	if s.flags&sfAudit != 0 {
		flags |= pinAudit
	}
	parent := uint32(w.ID)<<24 | idx
	ref, ok := w.dp.pins.add(e.Src, e.Dst, e.Port, in, flags, parent, w.now+int64(w.rs.Timers.SynWait), w.now)
	if !ok {
		w.Stats.PinholesFull++
		return
	}
	w.Stats.PinholesOpened++
	if int(st.npins) == maxSessionPins {
		w.dp.pins.remove(st.pins[0])
		copy(st.pins[:], st.pins[1:])
		st.npins--
	}
	st.pins[st.npins] = ref
	st.npins++
}

// forwardData forwards the SYN of a data connection that took a pinhole:
// the ACLs are skipped (the pinhole is the inbound ACL's opening), NAT and
// routing as for any new connection, and an ftp-data session is created
// under the control session parent.
func (w *Worker) forwardData(d *Desc, frame []byte, p *pkt, k *flowtable.Key, in int, parent uint32, flags uint8) {
	out, nh, nsrc, ndst, ok := w.natRoute(p, in)
	if !ok {
		w.drop(d, DropNoRoute)
		return
	}
	idx, r := w.createSession(p, k, &w.rs.ftpData[flags&(pinAlert|pinAudit)], in, out, nh, nsrc, ndst, nil)
	if r != DropNone {
		w.drop(d, r)
		return
	}
	s := &w.sess[idx]
	s.app = parent + 1
	w.Stats.PinholesUsed++
	w.forwardTail(d, frame, p, s, 0, false)
}
