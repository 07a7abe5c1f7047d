// Package httpfsm finds Java applets in an HTTP connection, as IOS 12.3's
// "ip inspect name N http [java-list ACL]" does: byte-driven machines for
// the client's requests and the server's responses (RFC 9112 message
// framing) that report the first response carrying an unarchived applet.
// It does no I/O and allocates nothing; the dataplane glue decides what to
// do with the report (IOS resets the connection) and whether the server is
// one the java-list trusts (then it needs no machine at all).
//
// # Calls
//
// Session.Request(b) reads client-to-server bytes, Session.Response(b)
// server-to-client bytes; neither changes them. Both are resumable at any
// octet: a transcript fed one octet per call gives the same result at the
// same stream octet as fed whole. The Session is a fixed-size value without
// pointers.
//
// # What is an applet
//
// A response is an applet when its body can be a Java class file:
//
//   - its Content-Type media type is one of the class-file types
//     (application/java-vm, application/x-java-vm, application/java,
//     application/x-java-applet, application/x-java-class), decided at
//     the end of its header, before any body octet; or
//   - its body (after chunked decoding, across any chunk and segment
//     boundaries) starts with the class-file magic 0xCAFEBABE (JVM
//     specification 4.1), decided at the fourth body octet.
//
// Archived applets are not detected, as IOS documents: a .jar or .zip (a
// body starting "PK\x03\x04") passes and is counted (Result.Archives).
// Neither is a body whose bytes are not the class file itself: a
// Content-Encoding (gzip), a range (206) not starting at octet 0. The
// magic is also that of Mach-O universal binaries, which are blocked too.
//
// # Framing
//
// Requests: the method is remembered (HEAD and CONNECT change the framing
// of the response) for up to MaxPipelined outstanding requests; a body
// (Content-Length or chunked) is skipped. Responses: 1xx (but 101) have no
// body and precede the final response; 101, and 2xx to CONNECT, turn the
// connection into a tunnel and inspection stops (Result.Tunnel); HEAD, 204
// and 304 have no body; otherwise chunked, Content-Length, or the body runs
// to the close. A response that does not start with "HTTP/" is taken as an
// HTTP/0.9 body that runs to the close (its first octets are checked for
// the magic). A Content-Length that does not parse, or two that differ,
// make the body run to the close too (no later response is then parsed,
// as a client would not), as does a Transfer-Encoding whose last coding is
// not chunked (RFC 9112 6.3). Of several Content-Type headers, any that
// names a Java type counts. Header names are matched case-insensitively;
// a header line's length is not limited (nothing is buffered but the
// first ctypeMax octets of a Content-Type value).
//
// # States
//
// One msg machine per direction:
//
//	start --(start line LF)--> header --(empty line)--> body | start
//	header: name [":" value] LF, repeated
//	body: length (countdown) | chunk size -> chunk data -> CRLF -> ... -> 0 -> trailer -> start
//	      | close (to the end) | tunnel (inspection off) | applet (sticky)
package httpfsm
