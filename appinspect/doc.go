// Package appinspect is the application-inspection layer: one inspector
// per protocol that CBAC inspects beyond TCP, a file each (ftp.go: FTP;
// http.go: HTTP's Java blocking; smtp.go: SMTP's state and its server
// side, the client side's verdicts still in the dataplane's smtp.go, which
// chooses between holding a frame and copying it), each a value that
// reads the segments of one session and says what to do with them. A
// protocol's byte machines live in their own package (ftpfsm, httpfsm,
// smtpfsm); an inspector joins them to sequence numbers. It does no I/O:
// it sees payload bytes and sequence numbers, never frames, rings or
// clocks; the dataplane (the caller) builds frames, holds them, sends
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
// (SMTP predates the contract: its client side returns the dataplane's
// drop reasons; see dataplane/smtp.go.)
//
// A Verdict says Forward (the payload as it came, at sequence number Seq),
// Rewrite (Out is the payload to send instead, at Seq, FIN cleared when
// ClearFIN), Drop (with a Why), or Reset (refused: reset both ends at the
// sequence numbers given, Alerts says why). Expect lists related
// connections to admit (FTP data connections). Every field is a value:
// nothing points into the inspector.
//
// Dispatch is a switch on the session's protocol in the caller, not an
// interface: there is no dynamic call on the packet path.
//
// Pool is the chunked slab inspectors' states live in (grown between
// batches, never on the packet path).
package appinspect
