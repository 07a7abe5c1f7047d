package dataplane_test

import (
	"net"
	"os"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"cbac/config"
	"cbac/control"
	"cbac/dataplane"
	"cbac/packet"
)

// The seed network's neighbours, with fixed MACs.
var (
	macUpstream = net.HardwareAddr{0x02, 0, 0, 0, 0x01, 0x01} // 172.22.1.1
	macClient   = net.HardwareAddr{0x02, 0, 0, 0, 0x01, 0x64} // 172.22.1.100
	macMail     = net.HardwareAddr{0x02, 0, 0, 0, 0x0a, 0x02} // 10.10.10.2
	macHost     = net.HardwareAddr{0x02, 0, 0, 0, 0x0a, 0x05} // 10.10.10.5
	macOut0     = net.HardwareAddr{0x02, 0xcb, 0, 0, 0, 0x10} // cbacd on out0
	macIn0      = net.HardwareAddr{0x02, 0xcb, 0, 0, 0, 0x01} // cbacd on in0
)

const (
	portOut = 0 // Ethernet2/0, out0
	portIn  = 1 // Ethernet2/1, in0
)

// seedWithNeighbours is the seed file unchanged plus MACs for our
// interfaces and static ARP entries for the hosts, so tests need no
// resolution unless they want it.
func seedWithNeighbours(t testing.TB, static bool) []byte {
	b, err := os.ReadFile("../examples/seed-3640.toml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	// New keys only: an interface MAC for each device and static ARP.
	s = replaceOnce(t, s, `device = "out0"`, `device = "out0"`+"\nmac = \"02:cb:00:00:00:10\"")
	s = replaceOnce(t, s, `device = "in0"`, `device = "in0"`+"\nmac = \"02:cb:00:00:00:01\"")
	if static {
		s += `
[[arp]]
address = "172.22.1.1"
mac = "02:00:00:00:01:01"
[[arp]]
address = "172.22.1.100"
mac = "02:00:00:00:01:64"
[[arp]]
address = "10.10.10.2"
mac = "02:00:00:00:0a:02"
[[arp]]
address = "10.10.10.5"
mac = "02:00:00:00:0a:05"
`
	}
	return []byte(s)
}

func replaceOnce(t testing.TB, s, old, new string) string {
	i := indexOf(s, old)
	if i < 0 {
		t.Fatalf("seed file lacks %q", old)
	}
	return s[:i] + new + s[i+len(old):]
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func compile(t testing.TB, toml []byte) *dataplane.Ruleset {
	t.Helper()
	c, err := config.Parse("test.toml", toml)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := control.Compile(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// harness runs one worker over in-memory rings with a virtual clock.
type harness struct {
	t   testing.TB
	dp  *dataplane.Dataplane
	w   *dataplane.Worker
	q   []*dataplane.FakeQueue
	now int64
	out [][][]byte // frames transmitted per port since the last step
	evs []dataplane.Event
}

func newHarness(t testing.TB, rs *dataplane.Ruleset) *harness {
	const frameSize, frames = 2048, 4096
	umem := make([]byte, frameSize*frames)
	h := &harness{t: t, now: int64(time.Hour)}
	var qs []dataplane.Queue
	for range rs.Ifaces {
		q := dataplane.NewFakeQueue(umem, frameSize, 256)
		h.q = append(h.q, q)
		qs = append(qs, q)
	}
	dp, err := dataplane.New(rs, dataplane.Options{Workers: 1, UMEM: umem, FrameSize: frameSize, Queues: [][]dataplane.Queue{qs}})
	if err != nil {
		t.Fatal(err)
	}
	h.dp, h.w = dp, dp.Workers[0]
	h.out = make([][][]byte, len(rs.Ifaces))
	return h
}

// step runs one batch at the harness clock and collects what went out.
func (h *harness) step() {
	h.w.Step(h.now)
	for p, q := range h.q {
		h.out[p] = h.out[p][:0]
		q.Drain(func(f []byte) { h.out[p] = append(h.out[p], append([]byte(nil), f...)) })
	}
	if h.evs == nil {
		h.evs = make([]dataplane.Event, 0, 1024)
	}
	h.evs = h.dp.Events(0, h.evs[:0])
}

// send injects a frame on a port, runs a batch and returns what each port
// transmitted.
func (h *harness) send(port int, frame []byte) [][][]byte {
	h.t.Helper()
	if !h.q[port].Inject(frame) {
		h.t.Fatal("inject failed")
	}
	h.step()
	return h.out
}

func (h *harness) advance(d time.Duration) {
	h.now += int64(d)
	h.step()
}

func (h *harness) drops(r dataplane.Reason) uint64 { return h.w.Stats.Drops[r] }

// pkt builds an Ethernet frame with gopacket (checksums computed).
func build(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	for _, l := range ls {
		if tl, ok := l.(*layers.TCP); ok {
			for _, m := range ls {
				if ip, ok := m.(*layers.IPv4); ok {
					tl.SetNetworkLayerForChecksum(ip)
				}
			}
		}
		if ul, ok := l.(*layers.UDP); ok {
			for _, m := range ls {
				if ip, ok := m.(*layers.IPv4); ok {
					ul.SetNetworkLayerForChecksum(ip)
				}
			}
		}
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func eth(src, dst net.HardwareAddr, typ layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: typ}
}

func ipv4(src, dst string, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4(), Id: 1}
}

type seg struct {
	src, dst       string
	sport, dport   uint16
	seq, ack       uint32
	syn, ackf, fin bool
	rst, psh       bool
	win            uint16
	payload        []byte
	srcMAC, dstMAC net.HardwareAddr
	ttl            uint8
}

func tcpFrame(t testing.TB, s seg) []byte {
	ip := ipv4(s.src, s.dst, layers.IPProtocolTCP)
	if s.ttl != 0 {
		ip.TTL = s.ttl
	}
	win := s.win
	if win == 0 {
		win = 65535
	}
	tc := &layers.TCP{SrcPort: layers.TCPPort(s.sport), DstPort: layers.TCPPort(s.dport), Seq: s.seq, Ack: s.ack,
		SYN: s.syn, ACK: s.ackf, FIN: s.fin, RST: s.rst, PSH: s.psh, Window: win}
	return build(t, eth(s.srcMAC, s.dstMAC, layers.EthernetTypeIPv4), ip, tc, gopacket.Payload(s.payload))
}

// decode parses a frame and checks every checksum against a full recompute.
func decode(t testing.TB, f []byte) gopacket.Packet {
	t.Helper()
	p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("decode: %v", el.Error())
	}
	ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if ip == nil {
		return p
	}
	v := packet.IPv4(f[14:])
	if !v.ChecksumValid() {
		t.Errorf("IPv4 header checksum wrong in %x", f)
	}
	switch ip.Protocol {
	case layers.IPProtocolTCP:
		tc := packet.TCP(v.Payload())
		if got, want := tc.Checksum(), recomputeTCP(v); got != want {
			t.Errorf("TCP checksum %#04x, want %#04x", got, want)
		}
	}
	return p
}

func recomputeTCP(v packet.IPv4) uint16 {
	b := append([]byte(nil), v.Payload()...)
	b[16], b[17] = 0, 0
	sum := packet.PseudoHeaderChecksum(v.Src(), v.Dst(), packet.ProtoTCP, uint16(len(b)))
	return packet.Fold(packet.Checksum(b, sum))
}

// twoWorkerFrames is the UMEM of twoWorkers: frames of 2048 bytes.
const twoWorkerFrames = 4096

// twoWorkers builds a dataplane of two workers over rs, each with an
// in-memory queue per interface over one shared UMEM: qs[worker][port].
func twoWorkers(t testing.TB, rs *dataplane.Ruleset) (*dataplane.Dataplane, [2][]*dataplane.FakeQueue) {
	t.Helper()
	const frameSize = 2048
	umem := make([]byte, frameSize*twoWorkerFrames)
	var qs [2][]*dataplane.FakeQueue
	var queues [][]dataplane.Queue
	for w := range qs {
		var row []dataplane.Queue
		for range rs.Ifaces {
			q := dataplane.NewFakeQueue(umem, frameSize, 256)
			qs[w] = append(qs[w], q)
			row = append(row, q)
		}
		queues = append(queues, row)
	}
	dp, err := dataplane.New(rs, dataplane.Options{Workers: 2, UMEM: umem, FrameSize: frameSize, Queues: queues})
	if err != nil {
		t.Fatal(err)
	}
	return dp, qs
}
