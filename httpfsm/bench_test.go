package httpfsm

import (
	"strings"
	"testing"
)

// BenchmarkResponse: a page's response (header and a 1400-octet body
// segment) through a new session, per segment of the two.
func BenchmarkResponse(b *testing.B) {
	body := strings.Repeat("x", 1400)
	req := []byte("GET /index.html HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: curl/8\r\nAccept: */*\r\n\r\n")
	hdr := []byte("HTTP/1.1 200 OK\r\nDate: Sun, 06 Dec 2026 04:00:00 GMT\r\nServer: lab\r\nContent-Type: text/html\r\nContent-Length: 1400\r\n\r\n")
	seg := []byte(body)
	b.ReportAllocs()
	b.SetBytes(int64(len(req) + len(hdr) + len(seg)))
	for b.Loop() {
		var s Session
		s.Request(req)
		s.Response(hdr)
		s.Response(seg)
	}
}

// BenchmarkBodySegment: one 1448-octet segment in the middle of a body.
func BenchmarkBodySegment(b *testing.B) {
	var s Session
	s.Request([]byte("GET / HTTP/1.1\r\n\r\n"))
	s.Response([]byte("HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\nabcd"))
	seg := []byte(strings.Repeat("y", 1448))
	b.ReportAllocs()
	b.SetBytes(int64(len(seg)))
	for b.Loop() {
		s.Response(seg)
	}
}
