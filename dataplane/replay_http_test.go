package dataplane_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/gopacket/layers"

	"cbac/dataplane"
)

// The HTTP replay golden: the seed (IN-OUT http, no java-list), the inside
// host 10.10.10.5 fetching a page and then an unarchived applet from
// 203.0.113.1 over one connection. The page passes; the segment that
// completes the class file's magic becomes an RST to the client, and the
// server gets one too. `cbacd replay -c seed -r
// testdata/replay-http-java.in.pcapng -show` shows the same.
func TestReplayHTTPGolden(t *testing.T) {
	ms := time.Millisecond
	page := "<html>cbac</html>\n"
	reqs := []string{"GET / HTTP/1.1\r\nHost: 203.0.113.1\r\n\r\n", "GET /Applet.class HTTP/1.1\r\nHost: 203.0.113.1\r\n\r\n"}
	resp := []string{
		fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s", len(page), page),
		fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", len(classFile)),
	}
	const cISN, sISN = 1000, 70000
	cli := seg{src: "10.10.10.5", dst: "203.0.113.1", sport: 41000, dport: 80, srcMAC: macHost, dstMAC: macIn0, ttl: 64}
	srv := seg{src: "203.0.113.1", dst: "172.22.1.111", sport: 80, dport: 41000, srcMAC: macUpstream, dstMAC: macOut0, ttl: 50}
	var frames []capFrame
	at := time.Duration(0)
	add := func(dev string, s seg) {
		frames = append(frames, capFrame{dev, at, tcpFrame(t, s)})
		at += ms
	}
	cseq, sseq := uint32(cISN+1), uint32(sISN+1)
	s := cli
	s.seq, s.syn = cISN, true
	add("in0", s)
	s = srv
	s.seq, s.ack, s.syn, s.ackf = sISN, cseq, true, true
	add("out0", s)
	s = cli
	s.seq, s.ack, s.ackf = cseq, sseq, true
	add("in0", s)
	for i := range reqs {
		s = cli
		s.seq, s.ack, s.ackf, s.psh, s.payload = cseq, sseq, true, true, []byte(reqs[i])
		add("in0", s)
		cseq += uint32(len(reqs[i]))
		s = srv
		s.seq, s.ack, s.ackf, s.psh, s.payload = sseq, cseq, true, true, []byte(resp[i])
		add("out0", s)
		sseq += uint32(len(resp[i]))
	}
	s = srv
	s.seq, s.ack, s.ackf, s.psh, s.payload = sseq, cseq, true, true, []byte(classFile)
	add("out0", s)

	got, out, dp := replay(t, seedWithNeighbours(t, true), frames)
	// Everything but the last input frame passes; it becomes the two RSTs.
	if len(out) != len(frames)+1 {
		t.Fatalf("%d frames out, want %d", len(out), len(frames)+1)
	}
	rsts := map[string]bool{}
	for _, f := range out[len(out)-2:] {
		p := decode(t, f.data)
		ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		tc := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !tc.RST || len(tc.Payload) != 0 {
			t.Fatalf("not an RST: %v", p)
		}
		switch {
		case f.dev == "in0" && ip.SrcIP.String() == "203.0.113.1" && ip.DstIP.String() == "10.10.10.5" && tc.Seq == sseq && tc.Ack == cseq:
			rsts["client"] = true
		case f.dev == "out0" && ip.SrcIP.String() == "172.22.1.111" && ip.DstIP.String() == "203.0.113.1" && tc.Seq == cseq && tc.Ack == sseq:
			rsts["server"] = true
		default:
			t.Errorf("RST %s %v -> %v seq %d ack %d", f.dev, ip.SrcIP, ip.DstIP, tc.Seq, tc.Ack)
		}
	}
	if !rsts["client"] || !rsts["server"] {
		t.Errorf("resets: %v, want one to each end", rsts)
	}
	for _, f := range out[:len(out)-2] {
		if tc, ok := decode(t, f.data).Layer(layers.LayerTypeTCP).(*layers.TCP); ok && tc.RST {
			t.Errorf("an RST before the applet: %v", f)
		}
	}
	if st := dp.Workers[0].Stats; st.Drops[dataplane.DropHTTPJavaBlock] != 1 || st.HTTPInspected != 1 {
		t.Errorf("blocked %d, inspected %d", st.Drops[dataplane.DropHTTPJavaBlock], st.HTTPInspected)
	}
	golden(t, "replay-http-java.in.pcapng", writeCapture(t, frames).Bytes())
	golden(t, "replay-http-java.out.pcapng", got)
}
