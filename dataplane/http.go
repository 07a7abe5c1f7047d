package dataplane

import (
	"cbac/acl"
	"cbac/appinspect"
	"cbac/packet"
)

// HTTP inspection glue (docs/behaviour.md "HTTP inspection"): IOS 12.3's
// Java blocking, "ip inspect name N http [java-list ACL]".
//
// At session creation (createSession), a new http session whose server the
// java-list permits (a standard list matched against the server's own
// address), is tracked as tcp only: nothing of its payload is read. Any
// other http session (no java-list: every server) gets an
// appinspect.HTTP from the worker's pool, released when the connection
// closes or the session ends (releaseInspection).
//
// Per segment, after TCP tracking accepted it (forwardSession):
//
//	Forward: as it came
//	Drop:    out of order (the sender retransmits) or invalid
//	Reset:   a response carries a Java applet: the segment becomes an RST
//	         to the client at the next byte it expects from the server, an
//	         RST goes to the server at the next byte it expects from the
//	         client, %FW-3-HTTP_JAVA_BLOCK is reported (alert on) and the
//	         session is deleted
//
// The pool grows between batches (Pool.Stock) to keep free as many states
// as one batch can create, up to the session table's capacity, so Alloc
// fails only if the table is full, which refuses the session anyway. The
// states are small (no replay copy) and are not counted against
// dataplane.inspected_sessions, which bounds the SMTP and FTP ones.

// javaTrusted reports whether policy pol's java-list permits server (the
// server's own address, sending from sport to client:cport). The match
// counts as an access-list hit.
func (w *Worker) javaTrusted(pol *ProtoPolicy, server, client uint32, sport, cport uint16) bool {
	if pol.JavaList == 0 {
		return false
	}
	a := pol.JavaList - 1
	l := w.rs.ACLs[a]
	t := acl.Tuple{Proto: packet.ProtoTCP, Src: server, Dst: client, SrcPort: sport, DstPort: cport, TCPFlags: packet.SYN | packet.ACK}
	i, permit := l.Match(&t)
	w.Stats.ACLHits[a][i]++
	return permit
}

// startHTTP gives session s of policy pol, whose client's SYN had sequence
// number isn, its inspection state unless the java-list trusts the server.
// It reports false when no state is free.
func (w *Worker) startHTTP(s *Session, pol *ProtoPolicy, server, client uint32, sport, cport uint16, isn uint32) bool {
	if w.javaTrusted(pol, server, client, sport, cport) {
		w.Stats.HTTPTrusted++
		return true
	}
	h, ok := w.http.Alloc()
	if !ok {
		return false
	}
	w.http.Get(h).Init(isn)
	s.app = h
	w.Stats.HTTPInspected++
	return true
}

// releaseHTTP ends the HTTP inspection of session s (s.app != 0).
func (w *Worker) releaseHTTP(s *Session) {
	w.Stats.HTTPArchives += uint64(w.http.Get(s.app).Archives)
	w.http.Free(s.app)
	s.app = 0
}

// inspectHTTP runs the HTTP inspector over a segment of session idx that
// TCP tracking accepted, closed telling whether it closed the connection.
// It reports whether the caller forwards the segment; if not, the segment
// was dropped or turned into a reset.
func (w *Worker) inspectHTTP(d *Desc, frame []byte, p *pkt, s *Session, idx uint32, dir uint8, closed bool) bool {
	t := packet.TCP(p.l4)
	v := w.http.Get(s.app).Segment(dir, t.Seq(), t.Flags(), p.payload)
	switch v.Action {
	case appinspect.Drop:
		if closed {
			w.releaseInspection(s)
		}
		w.drop(d, dropReason(v.Why))
		return false
	case appinspect.Reset:
		w.javaBlock(d, frame, p, s, idx, dir, &v)
		return false
	}
	if closed {
		w.releaseInspection(s)
	}
	return true
}

// javaBlock resets session idx, whose segment p (direction dir) carries a
// Java applet (IOS: "the connection is reset and the transmission of the
// detected applet is aborted"), and deletes it. The segment becomes the
// RST to its receiver at v.RSTSeq; a new frame carries the RST to its
// sender, at the sequence number the sender acknowledged, acknowledging
// v.RSTAck.
func (w *Worker) javaBlock(d *Desc, frame []byte, p *pkt, s *Session, idx uint32, dir uint8, v *appinspect.Verdict) {
	if s.flags&sfAlert != 0 {
		e := w.table.Entry(idx)
		ev := Event{Kind: EvJavaBlock, Proto: s.Kind, Key: e.Orig, Alert: uint32(w.http.Get(s.app).Applet())}
		w.emit(&ev)
	}
	w.resetRefused(d, frame, p, s, idx, dir, v.RSTSeq, v.RSTAck, DropHTTPJavaBlock)
}
