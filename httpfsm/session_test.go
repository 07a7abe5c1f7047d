package httpfsm

import (
	"fmt"
	"strings"
	"testing"
)

// A step is bytes of one direction: C client to server, S server to client.
type step struct {
	client bool
	b      string
}

func C(s string) step { return step{true, s} }
func S(s string) step { return step{false, s} }

// outcome is what a transcript gave: where in the server's stream (octet
// offset) an applet was found and why, the archives seen, the tunnel.
type outcome struct {
	applet   bool
	at       int
	cause    Cause
	archives int
	tunnel   bool
}

func (o outcome) String() string {
	return fmt.Sprintf("applet=%v at=%d cause=%v archives=%d tunnel=%v", o.applet, o.at, o.cause, o.archives, o.tunnel)
}

// splitter cuts one step's bytes into segments.
type splitter func(n int) []int

func whole(n int) []int { return []int{n} }

func bytewise(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = 1
	}
	return s
}

// at cuts every step at offset k (when inside it).
func at(k int) splitter {
	return func(n int) []int {
		if k <= 0 || k >= n {
			return []int{n}
		}
		return []int{k, n - k}
	}
}

// play runs a transcript, segmenting each step with split, and stops at
// the first applet.
func play(steps []step, split splitter) outcome {
	var s Session
	var o outcome
	srv := 0
	for _, st := range steps {
		b := []byte(st.b)
		for _, n := range split(len(b)) {
			seg := b[:n]
			b = b[n:]
			var r Result
			if st.client {
				r = s.Request(seg)
			} else {
				r = s.Response(seg)
			}
			o.archives += int(r.Archives)
			if r.Tunnel {
				o.tunnel = true
			}
			if r.Applet {
				o.applet, o.at, o.cause = true, srv+r.At, r.Cause
				return o
			}
			if !st.client {
				srv += n
			}
		}
	}
	return o
}

const class = "\xca\xfe\xba\xbe\x00\x00\x00\x34"

func chunked(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		fmt.Fprintf(&b, "%x\r\n%s\r\n", len(p), p)
	}
	b.WriteString("0\r\n\r\n")
	return b.String()
}

func resp(headers, body string) string {
	return "HTTP/1.1 200 OK\r\n" + headers + "\r\n" + body
}

func cl(body string) string { return fmt.Sprintf("Content-Length: %d\r\n", len(body)) }

var get = C("GET / HTTP/1.1\r\nHost: a\r\n\r\n")

func TestApplets(t *testing.T) {
	page := "<html>hello</html>"
	jar := "PK\x03\x04\x14\x00\x08\x00rest of the archive"
	tests := []struct {
		name  string
		steps []step
		want  outcome
	}{
		{"ordinary page", []step{get, S(resp(cl(page)+"Content-Type: text/html\r\n", page))}, outcome{}},
		{"class file by magic, content-length", []step{get, S(resp(cl(class), class))},
			outcome{applet: true, at: len(resp(cl(class), "")) + 3, cause: CauseMagic}},
		{"class file by content type", []step{get, S(resp("Content-Type: application/x-java-applet\r\n"+cl(page), page))},
			outcome{applet: true, at: len(resp("Content-Type: application/x-java-applet\r\n"+cl(page), "")) - 1, cause: CauseContentType}},
		{"content type with parameters, upper case", []step{get, S(resp("content-TYPE:  Application/Java-VM ; x=y\r\n"+cl(page), page))},
			outcome{applet: true, at: len(resp("content-TYPE:  Application/Java-VM ; x=y\r\n"+cl(page), "")) - 1, cause: CauseContentType}},
		{"a longer type is not a java type", []step{get, S(resp("Content-Type: application/java-vm-not\r\n"+cl(page), page))}, outcome{}},
		{"class file chunked, magic split over chunks", []step{get, S(resp("Transfer-Encoding: chunked\r\n", chunked("\xca\xfe", "\xba", "\xbe\x00\x01")))},
			outcome{applet: true, at: len(resp("Transfer-Encoding: chunked\r\n", "")) + len("2\r\n\xca\xfe\r\n1\r\n\xba\r\n1\r\n"), cause: CauseMagic}},
		{"chunked page then class file pipelined", []step{get, get, S(resp("Transfer-Encoding: gzip, chunked\r\n", chunked("abc", "defg")) + resp(cl(class), class))},
			outcome{applet: true, at: len(resp("Transfer-Encoding: gzip, chunked\r\n", chunked("abc", "defg"))+resp(cl(class), "")) + 3, cause: CauseMagic}},
		{"chunked with extensions and trailer", []step{get, get, S(resp("Transfer-Encoding: chunked\r\n", "3;ext=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\n") + resp(cl(class), class))},
			outcome{applet: true, at: len(resp("Transfer-Encoding: chunked\r\n", "3;ext=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\n")+resp(cl(class), "")) + 3, cause: CauseMagic}},
		{"pipelined pages then class file", []step{get, get, get, S(resp(cl(page), page) + resp(cl(page), page) + resp(cl(class), class))},
			outcome{applet: true, at: 2*len(resp(cl(page), page)) + len(resp(cl(class), "")) + 3, cause: CauseMagic}},
		{"archived applet passes", []step{get, S(resp("Content-Type: application/java-archive\r\n"+cl(jar), jar))}, outcome{archives: 1}},
		{"archive then class in a pipeline", []step{get, get, S(resp(cl(jar), jar) + resp(cl(class), class))},
			outcome{applet: true, archives: 1, at: len(resp(cl(jar), jar)+resp(cl(class), "")) + 3, cause: CauseMagic}},
		{"HEAD response has no body", []step{C("HEAD /a.class HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n"), S(resp(cl(class), "") + resp(cl(page), page))}, outcome{}},
		{"HEAD with java type has no body", []step{C("HEAD /a.class HTTP/1.1\r\n\r\n"), S(resp("Content-Type: application/java-vm\r\n"+cl(class), ""))}, outcome{}},
		{"304 and 204 have no body", []step{get, get, get, S("HTTP/1.1 304 Not Modified\r\nContent-Length: 8\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n" + resp(cl(class), class))},
			outcome{applet: true, at: len("HTTP/1.1 304 Not Modified\r\nContent-Length: 8\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"+resp(cl(class), "")) + 3, cause: CauseMagic}},
		{"100 continue precedes the final response", []step{C("POST /x HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcd"), S("HTTP/1.1 100 Continue\r\n\r\n" + resp(cl(class), class))},
			outcome{applet: true, at: len("HTTP/1.1 100 Continue\r\n\r\n"+resp(cl(class), "")) + 3, cause: CauseMagic}},
		{"request body with the magic is not judged", []step{C("POST /x HTTP/1.1\r\nContent-Length: 8\r\n\r\n" + class + "GET / HTTP/1.1\r\n\r\n"), S(resp(cl(page), page) + resp(cl(page), page))}, outcome{}},
		{"chunked request body skipped", []step{C("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(class) + "HEAD / HTTP/1.1\r\n\r\n"), S(resp(cl(page), page) + resp(cl(class), ""))}, outcome{}},
		{"transfer coding not chunked: to the close, length ignored", []step{get, get, S(resp("Transfer-Encoding: gzip\r\nContent-Length: 2\r\n", "ab"+resp(cl(class), class)))}, outcome{}},
		{"chunked overrides content-length", []step{get, S(resp("Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", chunked("abc")+"") + resp(cl(class), class))},
			outcome{applet: true, at: len(resp("Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", chunked("abc"))+resp(cl(class), "")) + 3, cause: CauseMagic}},
		{"a second content type naming java counts", []step{get, S(resp("Content-Type: application/java\r\nContent-Type: text/html\r\n"+cl(class), class))},
			outcome{applet: true, at: len(resp("Content-Type: application/java\r\nContent-Type: text/html\r\n"+cl(class), "")) - 1, cause: CauseContentType}},
		{"body to the close", []step{get, S("HTTP/1.0 200 OK\r\n\r\n" + class)},
			outcome{applet: true, at: len("HTTP/1.0 200 OK\r\n\r\n") + 3, cause: CauseMagic}},
		{"bad content-length: body to the close", []step{get, S(resp("Content-Length: 1x\r\n", class))},
			outcome{applet: true, at: len(resp("Content-Length: 1x\r\n", "")) + 3, cause: CauseMagic}},
		{"HTTP/0.9 class file", []step{C("GET /a.class\r\n"), S(class)}, outcome{applet: true, at: 3, cause: CauseMagic}},
		{"HTTP/0.9 page", []step{C("GET /\r\n"), S("Hello " + class)}, outcome{}},
		{"short body", []step{get, S(resp(cl("\xca\xfe"), "\xca\xfe") + resp(cl(page), page))}, outcome{}},
		{"zero length body", []step{get, get, S(resp(cl(""), "") + resp(cl(class), class))},
			outcome{applet: true, at: len(resp(cl(""), "")+resp(cl(class), "")) + 3, cause: CauseMagic}},
		{"CONNECT tunnel", []step{C("CONNECT a:443 HTTP/1.1\r\n\r\n"), S("HTTP/1.1 200 Connection established\r\n\r\n" + class)}, outcome{tunnel: true}},
		{"101 upgrade", []step{get, S("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n" + class)}, outcome{tunnel: true}},
		{"stray CRLF between responses", []step{get, get, S(resp(cl(page), page) + "\r\n" + resp(cl(class), class))},
			outcome{applet: true, at: len(resp(cl(page), page)+"\r\n"+resp(cl(class), "")) + 3, cause: CauseMagic}},
		{"folded header line ignored", []step{get, S(resp("X-A: b\r\n c\r\n"+cl(class), class))},
			outcome{applet: true, at: len(resp("X-A: b\r\n c\r\n"+cl(class), "")) + 3, cause: CauseMagic}},
		{"LF-only line ends", []step{C("GET / HTTP/1.1\n\n"), S("HTTP/1.1 200 OK\nContent-Length: 8\n\n" + class)},
			outcome{applet: true, at: len("HTTP/1.1 200 OK\nContent-Length: 8\n\n") + 3, cause: CauseMagic}},
		{"response without request", []step{S(resp(cl(class), class))}, outcome{applet: true, at: len(resp(cl(class), "")) + 3, cause: CauseMagic}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := play(tc.steps, whole)
			if got != tc.want {
				t.Fatalf("whole:\n got %v\nwant %v", got, tc.want)
			}
			if got := play(tc.steps, bytewise); got != tc.want {
				t.Fatalf("one octet per segment:\n got %v\nwant %v", got, tc.want)
			}
			longest := 0
			for _, st := range tc.steps {
				longest = max(longest, len(st.b))
			}
			for k := 1; k < longest; k++ {
				if got := play(tc.steps, at(k)); got != tc.want {
					t.Fatalf("split at %d:\n got %v\nwant %v", k, got, tc.want)
				}
			}
		})
	}
}

func TestAppletSticky(t *testing.T) {
	var s Session
	s.Request([]byte("GET / HTTP/1.1\r\n\r\n"))
	r := s.Response([]byte(resp(cl(class), class)))
	if !r.Applet || !s.Applet() {
		t.Fatalf("no applet: %+v", r)
	}
	if r := s.Response([]byte("more")); !r.Applet || r.At != 0 || r.Cause != CauseMagic {
		t.Fatalf("after the applet: %+v", r)
	}
}

func TestPipelineOverflow(t *testing.T) {
	// More HEADs than remembered: the later ones count as GETs; the
	// first MaxPipelined are framed right.
	var s Session
	s.Request([]byte(strings.Repeat("HEAD / HTTP/1.1\r\n\r\n", MaxPipelined+1)))
	for i := 0; i < MaxPipelined; i++ {
		if r := s.Response([]byte(resp(cl(class), ""))); r.Applet {
			t.Fatalf("response %d: applet", i)
		}
	}
	if r := s.Response([]byte(resp(cl(class), class))); !r.Applet {
		t.Fatal("the response past the remembered HEADs was not framed as a GET's")
	}
}

func TestNoAllocs(t *testing.T) {
	req := []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	rsp := []byte(resp("Transfer-Encoding: chunked\r\nContent-Type: text/html\r\n", chunked("abc", "defgh")))
	n := testing.AllocsPerRun(100, func() {
		var s Session
		s.Request(req)
		s.Response(rsp)
	})
	if n != 0 {
		t.Fatalf("%v allocations per run", n)
	}
}
