// Package ftpfsm inspects an FTP control connection (RFC 959, RFC 2428):
// byte-driven machines for the client's commands and the server's replies
// that find the announcements of data connections (PORT and EPRT
// commands, 227 and 229 replies), apply IOS's FTP checks to them, and
// track the login. It does no I/O and allocates nothing per segment; the
// dataplane glue opens the data connections, translates the announced
// addresses (AppendText, Replacement) and shifts sequence numbers (Shift).
//
// # Calls
//
// Session.Client(b) reads client-to-server bytes and rewrites refused
// command lines in place; Session.Server(b) reads server-to-client bytes
// and never changes them. Both are resumable at any octet: a transcript fed
// one octet per call gives the same verdicts and the same forwarded bytes
// as fed whole. The Session keeps only the current command line's and the
// current reply line's state (fixed size, no pointers).
//
// # Announcements split across segments
//
// Linux's nf_conntrack_ftp parses only a line that lies whole in one
// segment and drops a segment with a partial match. cbac handles any
// split instead, by having the glue hold back the bytes of an unfinished
// line that may still announce something:
//
//   - Result.Hold is how many bytes at the end of the stream read so far
//     (the bytes the glue already holds, then b) it must keep back and not
//     forward yet. A PORT or EPRT line is held from its first octet to its
//     LF, because it is judged only there and, if refused, rewritten whole;
//     a 227 or 229 reply is held from the first octet of its address-and-
//     port text to the octet that ends it. Hold never exceeds MaxHold (39).
//   - The call that completes the line reports the Announcement, whose
//     Start and End may be negative: offsets into the held bytes that
//     immediately precede b. The glue then forwards held bytes and b
//     (rewritten) together.
//   - Result.XHeld is how many held bytes belong to a line this call
//     refused: the glue rewrites them with Neutralize, as the call did the
//     rest of the line in b.
//   - Result.Next is len(b) unless MaxAnnouncements were reported; the glue
//     then acts on them and calls again with b[Next:].
//
// # Checks (IOS ip inspect ftp)
//
// A PORT or EPRT is refused, its line rewritten to 'x's (CR and LF kept) so
// that the server answers 500, when: no login was accepted yet
// (FTP_SESSION_NOT_AUTHENTICATED); it names an address other than the
// client's as the firewall receives its packets (FTP_NON_MATCHING_IP_ADDR:
// FTP bounce); it names a port below 1024 (FTP_PRIV_PORT); its argument
// does not parse (FTP_MALFORMED_PORT, cbac's own: a server might read it
// otherwise than the firewall did, so it must not pass unjudged). A 227 or
// 229 before login, or a 227 naming an address other than the server's, is
// reported refused but not rewritten: the glue opens no data connection for
// it and does not translate it (as Linux without "loose").
//
// Login: a 230 (or RFC 2228's 232) reply sets it, whatever command it
// answers (the server is the party the check protects); USER and REIN
// clear it until the next one (RFC 959 section 4.1.1), failing closed for
// a server that refuses a second USER.
//
// # Syntax and limits
//
//   - Verbs are case-insensitive; a verb ends at SP, TAB or CR. Telnet
//     commands (IAC and the next octet) and blanks before the verb are
//     skipped, as servers that speak Telnet do, at most 8 octets; a line with
//     more is refused.
//   - PORT: "PORT h1,h2,h3,h4,p1,p2" CRLF (or LF): six fields of 1-3 digits,
//     0-255, nothing else on the line. EPRT: "EPRT <d>1<d>a.b.c.d<d>port<d>"
//     with any delimiter RFC 2428 allows (33-126, not a digit), port of 1-5
//     digits, 0-65535. Leading zeros are accepted within those widths.
//   - EPRT with network protocol 2 (IPv6) is refused as a non-matching
//     address: the control connection is IPv4, so an IPv6 address cannot be
//     the client's, and cbac can neither check nor translate it. The client
//     falls back to PORT or EPSV (RFC 2428 section 2).
//   - 227: the first digit after the code starts the six numbers (RFC 1123
//     section 4.1.2.6: "227 Entering Passive Mode (h1,...,p2)." and
//     "227 =h1,...,p2" both parse), ended by any octet but a digit or comma
//     (as Linux). 229: the text after the first "(" of the line,
//     "<d><d><d>port<d>", port 1-65535. Only the first line of a 227 or 229
//     reply is scanned, and only once.
//   - Multi-line replies ("230-" ... "230 ") are one reply: lines between
//     are text whatever they begin with, so a "227 (...)" inside a 230
//     reply announces nothing, and the login counts at the last line.
//   - A command line longer than 512 octets (CRLF included) is rewritten
//     from octet 513 on (FTP_LONG_LINE), and a line with a bare CR from the
//     octet after it (FTP_BARE_CR): a server that cuts lines at its buffer
//     or at CR must not find a command the firewall never judged.
//   - AUTH answered 234 (RFC 4217, matched by counting final replies) puts
//     the session in ModePassthrough: TLS follows, nothing more is
//     inspected (Result.Passthrough).
//   - LPRT and LPSV (RFC 1639) are not parsed (neither IOS nor Linux does):
//     they open no data connection through cbac.
//
// # Rewriting
//
// AppendText writes an announcement's text for a new address and port in
// its own syntax (keeping an EPRT or 229 delimiter); Replacement also gives
// the length change. Shift records the changes of one direction (at most
// MaxShifts) and maps that direction's sequence numbers forward and the
// other direction's acknowledgement numbers and SACK blocks back, modulo
// 2^32. STATES.md draws the machines.
package ftpfsm
