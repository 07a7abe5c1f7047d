package appinspect

import (
	"testing"

	"cbac/httpfsm"
	"cbac/packet"
)

const (
	httpCliISN = uint32(0xfffffff0) // wraps in the request
	httpSrvISN = uint32(7000)
)

// httpConn opens an inspected connection: SYN, SYN/ACK.
func httpConn(t *testing.T) *HTTP {
	var h HTTP
	h.Init(httpCliISN)
	if v := h.Segment(1, httpSrvISN, packet.SYN|packet.ACK, nil); v.Action != Forward {
		t.Fatalf("SYN/ACK: %v", v.Action)
	}
	return &h
}

func TestHTTPApplet(t *testing.T) {
	req := []byte("GET /a.class HTTP/1.1\r\nHost: x\r\n\r\n")
	hdr := []byte("HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n")
	h := httpConn(t)
	if v := h.Segment(0, httpCliISN+1, packet.ACK|packet.PSH, req); v.Action != Forward || v.Seq != httpCliISN+1 {
		t.Fatalf("request: %+v", v)
	}
	s := httpSrvISN + 1
	if v := h.Segment(1, s, packet.ACK, hdr); v.Action != Forward {
		t.Fatalf("header: %+v", v)
	}
	s += uint32(len(hdr))
	// The body beyond a gap waits for the gap to fill.
	if v := h.Segment(1, s+2, packet.ACK, []byte("\xba\xbe\x00\x00\x00\x34")); v.Action != Drop || v.Why != WhyOutOfOrder {
		t.Fatalf("out of order: %+v", v)
	}
	if v := h.Segment(1, s, packet.ACK, []byte("\xca\xfe")); v.Action != Forward {
		t.Fatalf("first body bytes: %+v", v)
	}
	// A retransmission of what was read passes unread.
	if v := h.Segment(1, s, packet.ACK, []byte("\xca\xfe")); v.Action != Forward {
		t.Fatalf("retransmission: %+v", v)
	}
	v := h.Segment(1, s, packet.ACK, []byte("\xca\xfe\xba\xbe\x00\x00\x00\x34"))
	if v.Action != Reset || v.RSTSeq != s+2 || v.RSTAck != s+2 || h.Applet() != httpfsm.CauseMagic {
		t.Fatalf("applet: %+v cause %v", v, h.Applet())
	}
}

func TestHTTPPage(t *testing.T) {
	h := httpConn(t)
	h.Segment(0, httpCliISN+1, packet.ACK, []byte("GET / HTTP/1.1\r\n\r\n"))
	page := []byte("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n\xca\xfe\xba")
	if v := h.Segment(1, httpSrvISN+1, packet.ACK, page); v.Action != Forward {
		t.Fatalf("page: %+v", v)
	}
	if v := h.Segment(1, httpSrvISN+1+uint32(len(page)), packet.ACK|packet.FIN, []byte("x")); v.Action != Forward || h.Applet() != httpfsm.CauseNone {
		t.Fatalf("end: %+v", v)
	}
}

func TestHTTPTunnel(t *testing.T) {
	h := httpConn(t)
	h.Segment(0, httpCliISN+1, packet.ACK, []byte("CONNECT a:443 HTTP/1.1\r\n\r\n"))
	b := []byte("HTTP/1.1 200 OK\r\n\r\n\xca\xfe\xba\xbe")
	if v := h.Segment(1, httpSrvISN+1, packet.ACK, b); v.Action != Forward {
		t.Fatalf("tunnel: %+v", v)
	}
	if v := h.Segment(1, httpSrvISN+1+uint32(len(b)), packet.ACK, []byte("\xca\xfe\xba\xbe")); v.Action != Forward {
		t.Fatalf("in the tunnel: %+v", v)
	}
}

func TestHTTPInvalid(t *testing.T) {
	var h HTTP
	h.Init(httpCliISN)
	if v := h.Segment(0, httpCliISN, packet.SYN, []byte("x")); v.Action != Drop || v.Why != WhyInvalid {
		t.Fatalf("data on a SYN: %+v", v)
	}
	if v := h.Segment(1, 1, packet.ACK, []byte("HTTP/1.1 200 OK\r\n")); v.Action != Drop || v.Why != WhyInvalid {
		t.Fatalf("server data before its SYN: %+v", v)
	}
}

func BenchmarkHTTPSegment(b *testing.B) {
	var h HTTP
	h.Init(1)
	h.Segment(1, 100, packet.SYN|packet.ACK, nil)
	h.Segment(0, 2, packet.ACK, []byte("GET / HTTP/1.1\r\n\r\n"))
	hdr := []byte("HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n")
	h.Segment(1, 101, packet.ACK, hdr)
	seq := 101 + uint32(len(hdr))
	seg := make([]byte, 1448)
	b.ReportAllocs()
	b.SetBytes(int64(len(seg)))
	for b.Loop() {
		h.Segment(1, seq, packet.ACK, seg)
		seq += uint32(len(seg))
	}
}
