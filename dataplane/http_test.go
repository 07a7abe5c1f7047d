package dataplane_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/gopacket/layers"

	"cbac/dataplane"
	"cbac/packet"
)

// HTTP inspection through the pipeline: the seed's IN-OUT rule inspects
// http (no java-list: every server's applets are blocked); a variant gives
// it java-list 10 permitting 203.0.113.1.

const (
	httpServer  = "203.0.113.1"
	httpOther   = "198.51.100.7"
	httpRequest = "GET /Applet.class HTTP/1.1\r\nHost: 203.0.113.1\r\n\r\n"
	classFile   = "\xca\xfe\xba\xbe\x00\x00\x00\x34\x00\x10"
	seedHTTP    = "http = {}"
)

func seedJavaList(t testing.TB) []byte {
	return seedVariant(t, smallTable, seedHTTP, `http = { java_list = "10" }`,
		"[access_lists]", "[access_lists]\n10 = [\"permit ip host 203.0.113.1 any\"]")
}

func classResponse(body string) (hdr, b string) {
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", len(body)), body
}

// httpOpen opens a connection from the inside host to server:80 and sends
// the request.
func httpOpen(r *run, sport uint16, server string) *tcpConn {
	c := insideOut(r, sport, server, 80)
	c.open()
	c.fromA(packet.ACK|packet.PSH, []byte(httpRequest))
	return c
}

// rst decodes frame f as an RST and returns its addresses and numbers.
func rst(t *testing.T, f []byte) (src, dst string, seq, ack uint32) {
	t.Helper()
	p := decode(t, f)
	ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	tc := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if !tc.RST || len(tc.Payload) != 0 {
		t.Fatalf("not a bare RST: %v", p)
	}
	return fmt.Sprintf("%s:%d", ip.SrcIP, tc.SrcPort), fmt.Sprintf("%s:%d", ip.DstIP, tc.DstPort), tc.Seq, tc.Ack
}

// expectBlock sends the server segment that completes an applet and checks
// the two resets, the message and the session's end.
func expectBlock(t *testing.T, r *run, c *tcpConn, payload []byte, server string) {
	t.Helper()
	out := r.send(c.pb, writeTCP(c.buf[:], &c.b, c.nb, c.na, packet.ACK|packet.PSH, payload))
	if len(out[c.pa]) != 1 || len(out[c.pb]) != 1 {
		t.Fatalf("applet segment: %d frames to the client, %d to the server, want one RST each (drops %v)",
			len(out[c.pa]), len(out[c.pb]), nonZero(r.w.Stats.Drops[:]))
	}
	src, dst, seq, ack := rst(t, out[c.pa][0])
	if src != server+":80" || dst != fmt.Sprintf("10.10.10.5:%d", c.a.sport) || seq != c.nb || ack != c.na {
		t.Errorf("RST to the client: %s -> %s seq %d ack %d, want seq %d ack %d", src, dst, seq, ack, c.nb, c.na)
	}
	src, dst, seq, ack = rst(t, out[c.pb][0])
	if src != fmt.Sprintf("172.22.1.111:%d", c.a.sport) || dst != server+":80" || seq != c.na || ack != c.nb {
		t.Errorf("RST to the server: %s -> %s seq %d ack %d, want seq %d ack %d", src, dst, seq, ack, c.na, c.nb)
	}
	if c.exists() {
		t.Error("session still exists after the applet")
	}
	want := fmt.Sprintf("%%FW-3-HTTP_JAVA_BLOCK: JAVA applet is blocked from (%s:80) to (10.10.10.5:%d)", server, c.a.sport)
	if log := strings.Join(r.takeLog(), "\n"); !strings.Contains(log, want) {
		t.Errorf("log lacks %q:\n%s", want, log)
	}
}

func TestHTTPJavaBlockedWithoutJavaList(t *testing.T) {
	r := newRun(t, seedSmall(t))
	c := httpOpen(r, 40000, httpServer)
	for _, s := range r.sessions() {
		if s.Orig.DstPort == 80 && s.Kind.String() != "http" {
			t.Errorf("session of port 80 shown as %s, want http", s.Kind)
		}
	}
	hdr, body := classResponse(classFile)
	c.fromB(packet.ACK, []byte(hdr))
	// A segment beyond the next expected byte is dropped: the inspector
	// reads in order.
	if n := c.segB(c.nb+3, c.na, packet.ACK, []byte(body[3:])); n != 0 {
		t.Fatal("out-of-order response segment forwarded")
	}
	if r.drops(dataplane.DropStreamOutOfOrder) != 1 {
		t.Errorf("drops %v, want one stream out of order", nonZero(r.w.Stats.Drops[:]))
	}
	expectBlock(t, r, c, []byte(body), httpServer)
	if r.drops(dataplane.DropHTTPJavaBlock) != 1 {
		t.Errorf("drops %v, want one Java block", nonZero(r.w.Stats.Drops[:]))
	}
}

func TestHTTPJavaBlockedOneOctetPerSegment(t *testing.T) {
	r := newRun(t, seedSmall(t))
	c := httpOpen(r, 40001, httpServer)
	hdr, body := classResponse(classFile)
	stream := hdr + body[:3]
	for i := 0; i < len(stream); i++ {
		c.fromB(packet.ACK, []byte{stream[i]}) // fails if not forwarded
	}
	expectBlock(t, r, c, []byte{body[3]}, httpServer)
}

func TestHTTPPagePasses(t *testing.T) {
	for _, cfg := range []struct {
		name string
		toml func(testing.TB) []byte
	}{{"no java-list", seedSmall}, {"java-list", seedJavaList}} {
		t.Run(cfg.name, func(t *testing.T) {
			r := newRun(t, cfg.toml(t))
			c := httpOpen(r, 40002, httpOther)
			page := "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 13\r\n\r\n<html></html"
			c.fromB(packet.ACK|packet.PSH, []byte(page))
			c.fromB(packet.ACK|packet.PSH, []byte(">"))
			// An archived applet passes: IOS cannot see inside archives.
			c.fromA(packet.ACK|packet.PSH, []byte("GET /a.jar HTTP/1.1\r\n\r\n"))
			c.fromB(packet.ACK|packet.PSH, []byte("HTTP/1.1 200 OK\r\nContent-Type: application/java-archive\r\nContent-Length: 8\r\n\r\nPK\x03\x04\xca\xfe\xba\xbe"))
			c.fromA(packet.ACK|packet.FIN, nil)
			c.fromB(packet.ACK|packet.FIN, nil)
			c.fromA(packet.ACK, nil)
			if log := r.takeLog(); len(log) != 0 {
				t.Errorf("log: %q", log)
			}
			// The close released the state, counting the archive.
			if st := &r.w.Stats; st.HTTPInspected != 1 || st.HTTPArchives != 1 || st.HTTPTrusted != 0 {
				t.Errorf("inspected %d, archives %d, trusted %d; want 1, 1, 0", st.HTTPInspected, st.HTTPArchives, st.HTTPTrusted)
			}
		})
	}
}

func TestHTTPJavaListTrustsServer(t *testing.T) {
	r := newRun(t, seedJavaList(t))
	c := httpOpen(r, 40003, httpServer)
	hdr, body := classResponse(classFile)
	c.fromB(packet.ACK, []byte(hdr+body)) // fails if not forwarded
	// Not inspected at all: a segment beyond a gap passes to TCP tracking.
	if n := c.segB(c.nb+5, c.na, packet.ACK, []byte("x")); n != 1 {
		t.Errorf("a trusted server's out-of-order segment was dropped (drops %v)", nonZero(r.w.Stats.Drops[:]))
	}
	if s := r.sessions(); len(s) != 1 || s[0].Kind.String() != "http" {
		t.Errorf("sessions: %+v", s)
	}
	// Another server's applet is blocked.
	c2 := httpOpen(r, 40004, httpOther)
	hdr, body = classResponse(classFile)
	c2.fromB(packet.ACK, []byte(hdr))
	expectBlock(t, r, c2, []byte(body), httpOther)
	// Content-Type alone blocks, at the end of the header.
	c3 := httpOpen(r, 40005, httpOther)
	expectBlock(t, r, c3, []byte("HTTP/1.1 200 OK\r\nContent-Type: application/x-java-applet\r\nContent-Length: 4\r\n\r\n"), httpOther)
	if st := &r.w.Stats; st.HTTPTrusted != 1 || st.HTTPInspected != 2 || st.Drops[dataplane.DropHTTPJavaBlock] != 2 {
		t.Errorf("trusted %d, inspected %d, blocked %d; want 1, 2, 2", st.HTTPTrusted, st.HTTPInspected, st.Drops[dataplane.DropHTTPJavaBlock])
	}
	// The java-list's entry counted the match (show access-lists).
	if got := r.w.Stats.ACLHits[0][0]; got != 1 {
		t.Errorf("java-list 10 permit matched %d times, want 1", got)
	}
}

func TestHTTPAudit(t *testing.T) {
	r := newRun(t, seedVariant(t, smallTable, seedHTTP, "http = { audit_trail = true }"))
	c := httpOpen(r, 40006, httpServer)
	want := "%FW-6-SESS_AUDIT_TRAIL_START: Start http session: initiator (10.10.10.5:40006) -- responder (203.0.113.1:80)"
	if log := strings.Join(r.takeLog(), "\n"); !strings.Contains(log, want) {
		t.Errorf("log lacks %q:\n%s", want, log)
	}
	c.fromB(packet.ACK, []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
}

// BenchmarkForwardHTTP: response body segments (1400 bytes) from an
// outside server to the inside host, in batches of 40 (within the
// client's 64 KB window) and the client's ACK: on port 80 inspected for
// Java applets (no java-list), and on port 443 tracked as plain tcp, for
// comparison.
func BenchmarkForwardHTTP(b *testing.B) {
	for _, port := range []uint16{80, 443} {
		b.Run(fmt.Sprintf("port=%d", port), func(b *testing.B) {
			r := newRun(b, seedSmall(b))
			c := insideOut(r, 33000, httpServer, port)
			c.open()
			c.fromA(packet.ACK|packet.PSH, []byte("GET /big HTTP/1.1\r\n\r\n"))
			c.fromB(packet.ACK|packet.PSH, []byte("HTTP/1.1 200 OK\r\nContent-Length: 100000000000\r\n\r\n<html>"))
			p := newPump(r.harness)
			body := make([]byte, 1400)
			const cycle = 41
			frames := make([][]byte, cycle)
			for i := range frames {
				frames[i] = make([]byte, 1500)
			}
			b.ReportAllocs()
			b.ResetTimer()
			n := 0
			for n < b.N {
				for i := 0; i < cycle-1; i++ {
					frames[i] = writeTCP(frames[i][:cap(frames[i])], &c.b, c.nb+uint32(i*len(body)), c.na, packet.ACK, body)
				}
				c.nb += uint32((cycle - 1) * len(body))
				frames[cycle-1] = writeTCP(frames[cycle-1][:cap(frames[cycle-1])], &c.a, c.na, c.nb, packet.ACK, nil)
				p.batch(portOut, frames[:cycle-1])
				p.batch(portIn, frames[cycle-1:])
				n += cycle
			}
			b.StopTimer()
			p.report(b, n)
			if p.out[0]+p.out[1] != n {
				b.Fatalf("forwarded %d of %d (drops %v)", p.out[0]+p.out[1], n, nonZero(r.w.Stats.Drops[:]))
			}
		})
	}
}

// An HTTP session through TCP intercept (the inside web server
// 10.10.10.2, 172.22.1.110:80 from outside, protected by list 120): the
// inspector learns the server's stream start from the join, reads the
// response in the client's sequence space, and the applet's resets go
// out at each end's own numbers.
func TestHTTPThroughIntercept(t *testing.T) {
	s := string(smtpSeed(t, "http = {}"))
	s = replaceOnce(t, s, "  \"permit tcp any host 172.22.1.110 eq smtp\",\n]",
		"  \"permit tcp any host 172.22.1.110 eq smtp\",\n  \"permit tcp any host 172.22.1.110 eq www\",\n]\n120 = [\"permit tcp any host 172.22.1.110 eq www\"]")
	h := newHarness(t, compile(t, []byte(s+"\n[tcp_intercept]\nlist = \"120\"\n")))
	c := newIC(t, h, 40600, true)
	c.dport = 80
	c.open()
	off := c.sISN - c.cookie
	cseq, sseq := c.cISN+1, c.sISN+1
	req := []byte("GET /Applet.class HTTP/1.1\r\nHost: 172.22.1.110\r\n\r\n")
	srv, _ := c.exchange(portOut, c.fromClient(cseq, sseq-off, packet.ACK|packet.PSH, 1000, c.clientTS(), req))
	one(t, "request", srv, 1)
	cseq += uint32(len(req))
	hdr, body := classResponse(classFile)
	c.sTS++
	_, cli := c.exchange(portIn, c.fromServer(sseq, cseq, packet.ACK|packet.PSH, 300, tsOpt(c.sTS, c.cTS), []byte(hdr)))
	one(t, "response header", cli, 1)
	expectSeg(t, "response header", cli[0], sseq-off, cseq, packet.ACK|packet.PSH)
	sseq += uint32(len(hdr))
	c.sTS++
	srv, cli = c.exchange(portIn, c.fromServer(sseq, cseq, packet.ACK|packet.PSH, 300, tsOpt(c.sTS, c.cTS), []byte(body)))
	one(t, "RST to the server", srv, 1)
	one(t, "RST to the client", cli, 1)
	expectSeg(t, "RST to the server", srv[0], cseq, sseq, packet.RST|packet.ACK)
	expectSeg(t, "RST to the client", cli[0], sseq-off, cseq, packet.RST|packet.ACK)
	if live, _ := h.w.SessionCount(); live != 0 {
		t.Errorf("%d sessions after the applet", live)
	}
	if h.drops(dataplane.DropHTTPJavaBlock) != 1 {
		t.Errorf("drops %v", nonZero(h.w.Stats.Drops[:]))
	}
}
