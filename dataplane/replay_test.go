package dataplane_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"cbac/dataplane"
)

// Replay golden tests. A capture is crafted here
// (gopacket layers, pcapgo.NgWriter with the interfaces out0 and in0),
// replayed through the seed configuration, and the output compared frame
// by frame with testdata/replay-NAME.out.pcapng. `go test -run Replay
// -update` rewrites the golden files (inputs and outputs); every test also
// decodes the output and checks the facts it is about, so a wrong golden
// file cannot pass unnoticed.

var update = flag.Bool("update", false, "rewrite the replay golden files in testdata/")

// replayEpoch is the capture clock's origin.
var replayEpoch = time.Date(2024, 11, 23, 15, 54, 0, 0, time.UTC)

// capFrame is one frame of a crafted capture.
type capFrame struct {
	dev  string        // out0 or in0
	at   time.Duration // since replayEpoch
	data []byte
}

// writeCapture writes frames as pcapng with the interfaces out0 (0) and
// in0 (1), or another name for a frame whose dev is neither.
func writeCapture(t testing.TB, frames []capFrame) *bytes.Buffer {
	t.Helper()
	var b bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&b, pcapgo.NgInterface{Name: "out0", LinkType: layers.LinkTypeEthernet, SnapLength: 65535},
		pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "cbac replay test"}})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{"out0": 0}
	for _, f := range frames {
		if _, ok := ids[f.dev]; !ok {
			id, err := w.AddInterface(pcapgo.NgInterface{Name: f.dev, LinkType: layers.LinkTypeEthernet, SnapLength: 65535})
			if err != nil {
				t.Fatal(err)
			}
			ids[f.dev] = id
		}
	}
	for _, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: replayEpoch.Add(f.at), CaptureLength: len(f.data), Length: len(f.data), InterfaceIndex: ids[f.dev]}
		if err := w.WritePacket(ci, f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return &b
}

// outFrame is one frame of a replay's output.
type outFrame struct {
	dev  string
	at   time.Time
	data []byte
}

func (f outFrame) String() string {
	return fmt.Sprintf("%s %s %x", f.dev, f.at.Format(time.RFC3339Nano), f.data)
}

// readCapture reads every frame of a pcapng capture.
func readCapture(t testing.TB, b []byte) []outFrame {
	t.Helper()
	r, err := pcapgo.NewNgReader(bytes.NewReader(b), pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	var out []outFrame
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("reading output frame %d: %v", len(out)+1, err)
		}
		intf, err := r.Interface(ci.InterfaceIndex)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, outFrame{dev: intf.Name, at: ci.Timestamp, data: data})
	}
}

// golden compares got (a pcapng) with testdata/NAME frame by frame, or
// rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run Replay -update to create it)", err)
	}
	g, w := readCapture(t, got), readCapture(t, want)
	for i := 0; i < len(g) || i < len(w); i++ {
		switch {
		case i >= len(g):
			t.Errorf("%s: frame %d missing:\n want %v", name, i+1, w[i])
		case i >= len(w):
			t.Errorf("%s: extra frame %d:\n  got %v", name, i+1, g[i])
		case g[i].dev != w[i].dev || !g[i].at.Equal(w[i].at) || !bytes.Equal(g[i].data, w[i].data):
			t.Errorf("%s: frame %d differs:\n  got %v\n want %v", name, i+1, g[i], w[i])
		}
	}
}

// replay runs a crafted capture through the seed configuration (with
// interface MACs and static ARP) and returns the output capture, the
// decoded output frames and the dataplane.
func replay(t *testing.T, toml []byte, frames []capFrame) ([]byte, []outFrame, *dataplane.Dataplane) {
	t.Helper()
	in := writeCapture(t, frames)
	var out bytes.Buffer
	var dp *dataplane.Dataplane
	st, err := dataplane.Replay(compile(t, toml), in, &out, dataplane.ReplayOptions{Dataplane: func(d *dataplane.Dataplane) { dp = d }})
	if err != nil {
		t.Fatal(err)
	}
	if st.Read != len(frames) {
		t.Errorf("replay read %d frames, want %d", st.Read, len(frames))
	}
	got := readCapture(t, out.Bytes())
	if st.Written != len(got) {
		t.Errorf("replay says %d frames written, the output holds %d", st.Written, len(got))
	}
	return out.Bytes(), got, dp
}

// replayCase is one golden scenario: its input and the facts its output
// must show.
type replayCase struct {
	name   string
	frames func(t *testing.T) []capFrame
	check  func(t *testing.T, out []outFrame, dp *dataplane.Dataplane)
}

func arpRequest(t testing.TB, srcMAC net.HardwareAddr, src, target string) []byte {
	return build(t, eth(srcMAC, layers.EthernetBroadcast, layers.EthernetTypeARP), &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: layers.ARPRequest, SourceHwAddress: srcMAC, SourceProtAddress: net.ParseIP(src).To4(),
		DstHwAddress: make([]byte, 6), DstProtAddress: net.ParseIP(target).To4()})
}

func icmpEcho(t testing.TB, src, dst string, typ uint8, id uint16, srcMAC, dstMAC net.HardwareAddr) []byte {
	return build(t, eth(srcMAC, dstMAC, layers.EthernetTypeIPv4), ipv4(src, dst, layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0), Id: id, Seq: 1}, gopacket.Payload([]byte("cbac")))
}

// frameFacts is what a test asserts about an output frame.
type frameFacts struct {
	dev              string
	srcMAC, dstMAC   net.HardwareAddr
	src, dst         string
	sport, dport     uint16
	ttl              uint8
	arpReplyFor      string // ARP reply: the address answered for
	arpReplyToTarget net.HardwareAddr
}

func checkFrame(t *testing.T, i int, f outFrame, want frameFacts) {
	t.Helper()
	if f.dev != want.dev {
		t.Errorf("frame %d left by %s, want %s", i+1, f.dev, want.dev)
	}
	p := decode(t, f.data)
	e := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	if !bytes.Equal(e.SrcMAC, want.srcMAC) || !bytes.Equal(e.DstMAC, want.dstMAC) {
		t.Errorf("frame %d: MACs %v -> %v, want %v -> %v", i+1, e.SrcMAC, e.DstMAC, want.srcMAC, want.dstMAC)
	}
	if want.arpReplyFor != "" {
		a, ok := p.Layer(layers.LayerTypeARP).(*layers.ARP)
		if !ok || a.Operation != layers.ARPReply || net.IP(a.SourceProtAddress).String() != want.arpReplyFor ||
			!bytes.Equal(a.SourceHwAddress, want.srcMAC) || !bytes.Equal(a.DstHwAddress, want.arpReplyToTarget) {
			t.Errorf("frame %d: not an ARP reply for %s from %v: %+v", i+1, want.arpReplyFor, want.srcMAC, a)
		}
		return
	}
	ip, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if !ok {
		t.Fatalf("frame %d: not IPv4", i+1)
	}
	if ip.SrcIP.String() != want.src || ip.DstIP.String() != want.dst || ip.TTL != want.ttl {
		t.Errorf("frame %d: %v -> %v ttl %d, want %s -> %s ttl %d", i+1, ip.SrcIP, ip.DstIP, ip.TTL, want.src, want.dst, want.ttl)
	}
	var sp, dp uint16
	if tc, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok {
		sp, dp = uint16(tc.SrcPort), uint16(tc.DstPort)
	}
	if ic, ok := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok {
		sp, dp = ic.Id, ic.Id
		if ic.Checksum != icmpChecksum(t, p) {
			t.Errorf("frame %d: ICMP checksum wrong", i+1)
		}
	}
	if sp != want.sport || dp != want.dport {
		t.Errorf("frame %d: ports %d -> %d, want %d -> %d", i+1, sp, dp, want.sport, want.dport)
	}
}

func replayCases() []replayCase {
	ms := time.Millisecond
	return []replayCase{
		{
			// Static NAT both ways: outside SMTP to the mail server's
			// global address, the replies translated back; then data
			// both ways (inspected SMTP, unchanged).
			name: "nat",
			frames: func(t *testing.T) []capFrame {
				c := seg{src: "172.22.1.100", dst: "172.22.1.110", sport: 40000, dport: 25, srcMAC: macClient, dstMAC: macOut0}
				s := seg{src: "10.10.10.2", dst: "172.22.1.100", sport: 25, dport: 40000, srcMAC: macMail, dstMAC: macIn0}
				syn, synack, ack, greet, helo := c, s, c, s, c
				syn.seq, syn.syn = 1000, true
				synack.seq, synack.ack, synack.syn, synack.ackf = 5000, 1001, true, true
				ack.seq, ack.ack, ack.ackf = 1001, 5001, true
				greet.seq, greet.ack, greet.ackf, greet.psh, greet.payload = 5001, 1001, true, true, []byte("220 mail ESMTP\r\n")
				helo.seq, helo.ack, helo.ackf, helo.psh, helo.payload = 1001, 5017, true, true, []byte("HELO client\r\n")
				return []capFrame{
					{"out0", 0, tcpFrame(t, syn)},
					{"in0", 1 * ms, tcpFrame(t, synack)},
					{"out0", 2 * ms, tcpFrame(t, ack)},
					{"in0", 3 * ms, tcpFrame(t, greet)},
					{"out0", 4 * ms, tcpFrame(t, helo)},
				}
			},
			check: func(t *testing.T, out []outFrame, dp *dataplane.Dataplane) {
				in := frameFacts{dev: "in0", srcMAC: macIn0, dstMAC: macMail, src: "172.22.1.100", dst: "10.10.10.2", sport: 40000, dport: 25, ttl: 63}
				back := frameFacts{dev: "out0", srcMAC: macOut0, dstMAC: macClient, src: "172.22.1.110", dst: "172.22.1.100", sport: 25, dport: 40000, ttl: 63}
				want := []frameFacts{in, back, in, back, in}
				if len(out) != len(want) {
					t.Fatalf("%d frames out, want %d", len(out), len(want))
				}
				for i := range want {
					checkFrame(t, i, out[i], want[i])
				}
				if p := decode(t, out[4].data); string(tcpOf(p).Payload) != "HELO client\r\n" {
					t.Errorf("HELO rewritten: %q", tcpOf(p).Payload)
				}
				for i := range out {
					if want := replayEpoch.Add(time.Duration(i) * ms); !out[i].at.Equal(want) {
						t.Errorf("frame %d at %v, want the input's time %v", i+1, out[i].at, want)
					}
				}
			},
		},
		{
			// ACL 101 drops: nothing comes out for denied packets; the
			// permitted one at the end proves the replay ran.
			name: "acl",
			frames: func(t *testing.T) []capFrame {
				deny1 := seg{src: "172.22.1.100", dst: "172.22.1.110", sport: 40001, dport: 80, seq: 1, syn: true, srcMAC: macClient, dstMAC: macOut0}
				deny2 := seg{src: "172.22.1.100", dst: "172.22.1.111", sport: 40002, dport: 25, seq: 1, syn: true, srcMAC: macClient, dstMAC: macOut0}
				udp := build(t, eth(macUpstream, macOut0, layers.EthernetTypeIPv4), ipv4("198.51.100.7", "172.22.1.110", layers.IPProtocolUDP),
					&layers.UDP{SrcPort: 53, DstPort: 53}, gopacket.Payload([]byte("dns")))
				permit := seg{src: "172.22.1.100", dst: "172.22.1.110", sport: 40003, dport: 25, seq: 1, syn: true, srcMAC: macClient, dstMAC: macOut0}
				return []capFrame{
					{"out0", 0, tcpFrame(t, deny1)},
					{"out0", 1 * ms, tcpFrame(t, deny2)},
					{"out0", 2 * ms, udp},
					{"out0", 3 * ms, icmpEcho(t, "198.51.100.7", "172.22.1.111", layers.ICMPv4TypeEchoRequest, 9, macUpstream, macOut0)},
					{"out0", 4 * ms, tcpFrame(t, permit)},
				}
			},
			check: func(t *testing.T, out []outFrame, dp *dataplane.Dataplane) {
				if len(out) != 1 {
					t.Fatalf("%d frames out, want only the permitted SYN", len(out))
				}
				checkFrame(t, 0, out[0], frameFacts{dev: "in0", srcMAC: macIn0, dstMAC: macMail, src: "172.22.1.100", dst: "10.10.10.2", sport: 40003, dport: 25, ttl: 63})
				st := dp.Workers[0].Stats
				if st.Drops[dataplane.DropACLIn] != 4 || st.ACLHits[0][0] != 1 || st.ACLHits[0][1] != 4 {
					t.Errorf("ACL drops %d, entry hits %v; want 4 drops, [1 4]", st.Drops[dataplane.DropACLIn], st.ACLHits[0])
				}
			},
		},
		{
			// ARP: cbacd answers for its addresses and, on the outside,
			// for the inside-global addresses; not for others.
			name: "arp",
			frames: func(t *testing.T) []capFrame {
				return []capFrame{
					{"out0", 0, arpRequest(t, macUpstream, "172.22.1.1", "172.22.1.16")},
					{"out0", 1 * ms, arpRequest(t, macClient, "172.22.1.100", "172.22.1.110")},
					{"out0", 2 * ms, arpRequest(t, macClient, "172.22.1.100", "172.22.1.112")},
					{"in0", 3 * ms, arpRequest(t, macHost, "10.10.10.5", "10.10.10.1")},
					{"in0", 4 * ms, arpRequest(t, macHost, "10.10.10.5", "10.10.10.2")},
				}
			},
			check: func(t *testing.T, out []outFrame, dp *dataplane.Dataplane) {
				want := []frameFacts{
					{dev: "out0", srcMAC: macOut0, dstMAC: macUpstream, arpReplyFor: "172.22.1.16", arpReplyToTarget: macUpstream},
					{dev: "out0", srcMAC: macOut0, dstMAC: macClient, arpReplyFor: "172.22.1.110", arpReplyToTarget: macClient},
					{dev: "in0", srcMAC: macIn0, dstMAC: macHost, arpReplyFor: "10.10.10.1", arpReplyToTarget: macHost},
				}
				if len(out) != len(want) {
					t.Fatalf("%d frames out, want %d ARP replies", len(out), len(want))
				}
				for i := range want {
					checkFrame(t, i, out[i], want[i])
				}
			},
		},
		{
			// Routing by the static default route (ip route 0.0.0.0 0.0.0.0
			// 172.22.1.1): inside TCP and ping to the Internet leave by
			// out0 to 172.22.1.1's MAC as 172.22.1.111; replies come back.
			name: "route",
			frames: func(t *testing.T) []capFrame {
				syn := seg{src: "10.10.10.5", dst: "203.0.113.50", sport: 33000, dport: 443, seq: 77, syn: true, srcMAC: macHost, dstMAC: macIn0, ttl: 64}
				synack := seg{src: "203.0.113.50", dst: "172.22.1.111", sport: 443, dport: 33000, seq: 9, ack: 78, syn: true, ackf: true, srcMAC: macUpstream, dstMAC: macOut0, ttl: 50}
				return []capFrame{
					{"in0", 0, tcpFrame(t, syn)},
					{"out0", 1 * ms, tcpFrame(t, synack)},
					{"in0", 2 * ms, icmpEcho(t, "10.10.10.5", "8.8.8.8", layers.ICMPv4TypeEchoRequest, 0x4242, macHost, macIn0)},
					{"out0", 3 * ms, icmpEcho(t, "8.8.8.8", "172.22.1.111", layers.ICMPv4TypeEchoReply, 0x4242, macUpstream, macOut0)},
				}
			},
			check: func(t *testing.T, out []outFrame, dp *dataplane.Dataplane) {
				want := []frameFacts{
					{dev: "out0", srcMAC: macOut0, dstMAC: macUpstream, src: "172.22.1.111", dst: "203.0.113.50", sport: 33000, dport: 443, ttl: 63},
					{dev: "in0", srcMAC: macIn0, dstMAC: macHost, src: "203.0.113.50", dst: "10.10.10.5", sport: 443, dport: 33000, ttl: 49},
					{dev: "out0", srcMAC: macOut0, dstMAC: macUpstream, src: "172.22.1.111", dst: "8.8.8.8", sport: 0x4242, dport: 0x4242, ttl: 63},
					{dev: "in0", srcMAC: macIn0, dstMAC: macHost, src: "8.8.8.8", dst: "10.10.10.5", sport: 0x4242, dport: 0x4242, ttl: 63},
				}
				if len(out) != len(want) {
					t.Fatalf("%d frames out, want %d", len(out), len(want))
				}
				for i := range want {
					checkFrame(t, i, out[i], want[i])
				}
			},
		},
	}
}

func TestReplayGolden(t *testing.T) {
	for _, c := range replayCases() {
		t.Run(c.name, func(t *testing.T) {
			frames := c.frames(t)
			got, out, dp := replay(t, seedWithNeighbours(t, true), frames)
			c.check(t, out, dp)
			// The input is kept beside the output so that
			// `cbacd replay -c ... -r testdata/replay-NAME.in.pcapng`
			// reproduces it by hand.
			golden(t, "replay-"+c.name+".in.pcapng", writeCapture(t, frames).Bytes())
			golden(t, "replay-"+c.name+".out.pcapng", got)
		})
	}
}

// A capture cut inside its third frame: the error names frame 3 and the
// first two frames' output is written.
func TestReplayTruncated(t *testing.T) {
	mk := func(sport uint16) []byte {
		return tcpFrame(t, seg{src: "10.10.10.5", dst: "203.0.113.50", sport: sport, dport: 443, seq: 1, syn: true, srcMAC: macHost, dstMAC: macIn0})
	}
	full := writeCapture(t, []capFrame{{"in0", 0, mk(1)}, {"in0", time.Millisecond, mk(2)}, {"in0", 2 * time.Millisecond, mk(3)}}).Bytes()
	twoLen := len(writeCapture(t, []capFrame{{"in0", 0, mk(1)}, {"in0", time.Millisecond, mk(2)}}).Bytes())
	for _, cut := range []struct {
		name string
		n    int
	}{
		{"inside the block header", twoLen + 4},
		{"inside the frame data", twoLen + 40},
		{"inside the block trailer", len(full) - 2},
	} {
		t.Run(cut.name, func(t *testing.T) {
			var out bytes.Buffer
			st, err := dataplane.Replay(compile(t, seedSmall(t)), bytes.NewReader(full[:cut.n]), &out, dataplane.ReplayOptions{})
			if err == nil || !errors.Is(err, dataplane.ErrCapture) || !strings.Contains(err.Error(), "frame 3") {
				t.Fatalf("error %v, want a capture error naming frame 3", err)
			}
			got := readCapture(t, out.Bytes())
			if st.Read != 2 || len(got) != 2 {
				t.Fatalf("read %d, wrote %d frames; want the first 2 processed and written", st.Read, len(got))
			}
			for i, f := range got {
				if ip := ipOf(decode(t, f.data)); ip.SrcIP.String() != "172.22.1.111" || f.dev != "out0" {
					t.Errorf("frame %d: %v on %s", i+1, ip.SrcIP, f.dev)
				}
			}
		})
	}
	// A whole capture still ends cleanly.
	var out bytes.Buffer
	if st, err := dataplane.Replay(compile(t, seedSmall(t)), bytes.NewReader(full), &out, dataplane.ReplayOptions{}); err != nil || st.Read != 3 {
		t.Errorf("whole capture: read %d, err %v", st.Read, err)
	}
}

// A classic pcap names no interface: -i (ReplayOptions.Device) gives it.
func TestReplayClassicPcap(t *testing.T) {
	var in bytes.Buffer
	w := pcapgo.NewWriterNanos(&in)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	f := tcpFrame(t, seg{src: "10.10.10.5", dst: "203.0.113.50", sport: 33000, dport: 443, seq: 1, syn: true, srcMAC: macHost, dstMAC: macIn0})
	if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: replayEpoch, CaptureLength: len(f), Length: len(f)}, f); err != nil {
		t.Fatal(err)
	}
	rs := compile(t, seedSmall(t))
	var out bytes.Buffer
	st, err := dataplane.Replay(rs, bytes.NewReader(in.Bytes()), &out, dataplane.ReplayOptions{Device: "in0"})
	if err != nil || st.Read != 1 {
		t.Fatalf("classic pcap with -i in0: read %d, err %v", st.Read, err)
	}
	got := readCapture(t, out.Bytes())
	if len(got) != 1 || got[0].dev != "out0" || !got[0].at.Equal(replayEpoch) {
		t.Fatalf("output %v, want the SYN on out0 at the input's time", got)
	}
	if ip := ipOf(decode(t, got[0].data)); ip.SrcIP.String() != "172.22.1.111" {
		t.Errorf("source %v, want 172.22.1.111", ip.SrcIP)
	}
	// Without -i: an error that says to give it.
	_, err = dataplane.Replay(rs, bytes.NewReader(in.Bytes()), io.Discard, dataplane.ReplayOptions{})
	if !errors.Is(err, dataplane.ErrCapture) || !strings.Contains(err.Error(), "-i") {
		t.Errorf("classic pcap without a device: %v", err)
	}
	// Truncated: a second record cut after its header, then inside its data.
	if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: replayEpoch.Add(time.Millisecond), CaptureLength: len(f), Length: len(f)}, f); err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int{len(f), 10} {
		out.Reset()
		b := in.Bytes()[:in.Len()-cut]
		st, err := dataplane.Replay(rs, bytes.NewReader(b), &out, dataplane.ReplayOptions{Device: "in0"})
		if !errors.Is(err, dataplane.ErrCapture) || !strings.Contains(err.Error(), "frame 2") || st.Read != 1 || len(readCapture(t, out.Bytes())) != 1 {
			t.Errorf("classic pcap cut %d bytes short: read %d, err %v", cut, st.Read, err)
		}
	}
	// A device that is not configured.
	_, err = dataplane.Replay(rs, bytes.NewReader(in.Bytes()), io.Discard, dataplane.ReplayOptions{Device: "eth7"})
	if !errors.Is(err, dataplane.ErrCapture) || !strings.Contains(err.Error(), `"eth7"`) || !strings.Contains(err.Error(), "frame 1") {
		t.Errorf("classic pcap with an unknown device: %v", err)
	}
}

// A pcapng interface name that is no configured device is an error naming
// the frame and the interface; the frames before it are processed.
func TestReplayUnknownInterface(t *testing.T) {
	f := tcpFrame(t, seg{src: "10.10.10.5", dst: "203.0.113.50", sport: 33000, dport: 443, seq: 1, syn: true, srcMAC: macHost, dstMAC: macIn0})
	in := writeCapture(t, []capFrame{{"in0", 0, f}, {"eth9", time.Millisecond, f}})
	var out bytes.Buffer
	st, err := dataplane.Replay(compile(t, seedWithNeighbours(t, true)), in, &out, dataplane.ReplayOptions{})
	if !errors.Is(err, dataplane.ErrCapture) || !strings.Contains(err.Error(), `"eth9"`) || !strings.Contains(err.Error(), "frame 2") {
		t.Fatalf("error %v, want one naming frame 2 and eth9", err)
	}
	if got := readCapture(t, out.Bytes()); st.Read != 2 || len(got) != 1 {
		t.Errorf("read %d, wrote %d; want 2 read and the first frame's output", st.Read, len(got))
	}
	// Not a capture at all.
	_, err = dataplane.Replay(compile(t, seedWithNeighbours(t, true)), strings.NewReader("hello, world"), io.Discard, dataplane.ReplayOptions{})
	if !errors.Is(err, dataplane.ErrCapture) {
		t.Errorf("garbage input: %v", err)
	}
}
