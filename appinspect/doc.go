// Package appinspect is the application-inspection layer: one inspector
// per protocol that CBAC inspects beyond TCP, a file each (ftp.go: FTP;
// http.go: HTTP's Java blocking; smtp.go: SMTP and ESMTP), each a value
// that reads the segments of one session and says what to do with them. A
// protocol's byte machines live in their own package (ftpfsm, httpfsm,
// smtpfsm); an inspector joins them to sequence numbers. It does no I/O:
// it sees payload bytes and sequence numbers, never frames, rings or
// clocks (SMTP's guard keeps offsets into memory the caller names); the dataplane (the caller) builds frames, holds them, sends
// resets and opens the related connections an inspector asks for.
//
// # Contract
//
// An inspector is driven per TCP segment of its session, after TCP
// tracking accepted the segment, in the direction the segment travels
// (0: client to server, 1: server to client):
//
//	MapAck(dir, t)       before tracking: the segment's acknowledgement
//	                     number and SACK blocks mapped back into the peer's
//	                     own numbering (a rewrite that changed the peer's
//	                     stream length shifts them), false: drop
//	Segment(dir, ...)    after tracking: a Verdict
//
// SMTP's client side is Data (the common case of message data: held or
// not) and then Client (a Verdict); its server side is Reply and
// ClampWindow. Its guard may keep a client segment's new bytes by
// reference where the caller said they lie (HoldAt): the Verdict's
// HoldFrame then asks the caller to keep that memory until the guard
// gives its offset back.
//
// A Verdict says Forward (the payload as it came, at sequence number Seq),
// Rewrite (Out is the payload to send instead, at Seq, FIN cleared when
// ClearFIN), Drop (with a Why), or Reset (refused: reset both ends at the
// sequence numbers given; Alerts, or for SMTP the machine's Result, says
// why). Expect lists related
// connections to admit (FTP data connections). Every field is a value:
// nothing points into the inspector.
//
// Dispatch is a switch on the session's protocol in the caller, not an
// interface: there is no dynamic call on the packet path.
//
// Pool is the chunked slab inspectors' states live in (grown between
// batches, never on the packet path).
package appinspect
