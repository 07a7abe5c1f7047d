// Package tcpintercept is the I/O-free core of IOS "ip tcp intercept" in
// intercept mode: stateless SYN cookies, the SYN/ACK and server SYN that
// cbacd writes, and the Splice that joins the client's half of a connection
// (opened with cbacd's cookie) to the server's half (opened by cbacd on the
// client's behalf). Time is an input (now, int64 ns); nothing here reads a
// clock, allocates on the per-packet path, or keeps state per SYN.
//
// # The exchange
//
//	client            cbacd                       server
//	SYN ------------> Jar.Make, WriteSYNACK
//	    <------------ SYN/ACK: seq cookie, window 0
//	ACK ------------> Jar.Check, WriteServerSYN
//	                  SYN: client's ISN and options -->
//	                  <-- SYN/ACK (server ISN, TSval, wscale)
//	                  NewSplice; ACK to the server (glue);
//	    <------------ window update: Splice.ClientWindow
//	data <----------> Splice.ClientToServer / ServerToClient <---> data
//
// # Cookie layout
//
// The clock is count = now >> 36 (ticks of 68.7 s; a shift, so any epoch
// works). For a SYN from src:sport to dst:dport with ISN i and MSS index m
// (the largest MSSTable entry not above the client's MSS; 536 below it, as
// Linux's msstab floor), cbacd's ISN is i + X (mod 2^32), where
//
//	H = SipHash-2-4(K_g; src, dst, sport, dport, i, count mod 2^24, m, ts)
//	    (20 bytes as little-endian words: src<<32|dst, sport<<48|dport<<32|i,
//	    then count | m<<24 | ts<<27; ts = the SYN had timestamps)
//	X bits 31..5  bits 31..5 of H's low word (27-bit MAC)
//	X bits  4..3  count mod 4
//	X bits  2..0  m
//
// On the ACK, X = (ack-1) - (seq-1); the cookie's age is (count now - X's
// tick bits) mod 4 and must be below MaxAge (2: the tick it was made and the
// next, 68.7 to 137 s, as Linux's two minutes); the full count is now's
// minus the age, and H recomputed for it must match the 27 MAC bits. Every
// field the cookie carries is under the MAC. A random ACK passes with
// probability 1/2 (age) * 2^-27 (MAC) = 2^-28; Linux's cookies accept
// 2 * 4 of 2^32 values, 2^-29.
//
// When the SYN had timestamps, the SYN/ACK's TSval carries the options
// Linux puts there (cookie_init_timestamp):
//
//	TSval bits 31..6  a 1.05 ms clock (now >> 20) plus H's high word
//	                  (per-connection offset: TSval tells nothing of uptime)
//	TSval bit  5      ECN (the SYN had ECE and CWR)
//	TSval bit  4      SACK-permitted
//	TSval bits 3..0   the client's window scale, 15 = none
//
// and the client's ACK echoes it in TSecr. As in Linux, these bits are not
// under the MAC: a client holding a valid cookie can only claim options it
// could have put in its SYN.
//
// # Without timestamps
//
// Only the MSS survives, so the SYN/ACK offers nothing but MSS: no window
// scale, no SACK-permitted, no ECN, no timestamps (Linux clears the options
// the same way when it answers with a cookie and the SYN had no
// timestamps). The client is thereby told the connection has no window
// scaling and no SACK; cbacd's SYN to the server carries only the MSS, so
// both ends agree: windows stay below 64 KiB and losses are recovered
// without SACK. Whether the SYN had timestamps is under the MAC, so an ACK
// that drops or adds them is rejected.
//
// # Secret rotation
//
// The daemon draws a 128-bit master secret at start (crypto/rand) and keeps
// it across reloads. The secret of generation g = count / KeyTicks (64
// ticks, 73.3 min) is K_g = SipHash(master; g, 0) || SipHash(master; g, 1).
// Every worker derives the same K_g without shared state, and recovering
// one K_g reveals neither the master nor any other generation. A cookie's
// tick names its generation, so during the first tick of generation g+1
// the previous secret K_g is still used for the cookies made in g's last
// tick (the overlap); one tick later they are older than MaxAge and
// rejected. A Jar caches the two latest secrets (derived once per period).
//
// # Window scale
//
// cbacd must answer before it knows the server's window scale. It
// advertises AdvertisedWScale (DefaultWScale 7, what Linux servers pick by
// default, or the scale the server announced in its last SYN/ACK, which the
// dataplane may remember) and sends the server the client's own shift. The
// Splice then rescales window fields wherever the shift a sender uses
// differs from the one its receiver applies (RFC 7323 section 2):
// server->client fields from the server's shift to the advertised one, and,
// when the server declined scaling, client->server fields from the client's
// shift to none. Rescaling rounds down and caps at 65535: a receiver is
// never offered more than the sender allows (at worst less, and a window
// smaller than one unit of the coarser scale shows as 0 until it grows).
//
// Before the server's SYN/ACK, the client has a zero window (the cookie
// SYN/ACK advertised 0, as netfilter SYNPROXY does), so a conforming client
// sends no data. The dataplane drops what the client sends anyway: a
// repeated cookie ACK may be checked again and resend the server SYN;
// data is retransmitted by the client once cbacd's window update (the
// server's SYN/ACK window, in the client's scale) opens the window.
//
// # Sequence numbers and options after the join
//
// The server SYN carries the client's ISN, so the client's sequence space
// passes unchanged and so do the SACK blocks the server sends. The server's
// space is shifted by ServerISN - CookieISN: server->client seq, and
// client->server ack and SACK block edges (RFC 2018: they name the server's
// bytes as the client sees them). When both ends use timestamps, the
// server's TSval is shifted onto the cookie's clock (server->client TSval,
// client->server TSecr), as SYNPROXY does. All arithmetic is mod 2^32, and
// every rewrite updates the checksum incrementally (RFC 1624), at any
// option alignment. If the server declines timestamps that the client
// negotiated with cbacd, the server's segments reach the client without
// them (RFC 7323 section 3.2 lets a receiver drop those; Linux accepts
// them); cbacd never grows a segment to add them. Likewise a client told
// SACK-permitted or ECN (both as Linux's cookies offer them) may face a
// server that declined them: its SACK blocks are then ignored by the
// server, and its ECN marks go unechoed.
package tcpintercept
