package bench

// The in-memory pipeline: cbacd's dataplane over fake rings (no kernel),
// for the micro-benchmarks and the session-memory measurement.

import (
	"encoding/binary"
	"fmt"
	"net"
	"runtime"
	"time"

	"cbac/config"
	"cbac/control"
	"cbac/dataplane"
	"cbac/packet"
)

// Ports of the compiled seed configuration (the order of its interfaces).
const (
	portOutside = 0 // out0, Ethernet2/0
	portInside  = 1 // in0, Ethernet2/1
)

func mustMAC(s string) packet.MAC {
	hw, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	var m packet.MAC
	copy(m[:], hw)
	return m
}

// topologyMACs gives the devices of the seed configuration the topology's
// MACs, as cbacd reads them from the real devices.
func topologyMACs(dev string) (packet.MAC, bool) {
	switch dev {
	case "in0":
		return mustMAC(InsideMAC), true
	case "out0":
		return mustMAC(OutsideMAC), true
	}
	return packet.MAC{}, false
}

// CompileContender compiles the configuration cbacd runs as contender c.
func CompileContender(c Contender, maxSessions int) (*dataplane.Ruleset, error) {
	text, err := CBACDConfig(c, maxSessions)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Parse(c.Name+".toml", text)
	if err != nil {
		return nil, err
	}
	return control.Compile(cfg, topologyMACs)
}

func ip4(s string) uint32 {
	a := net.ParseIP(s).To4()
	return binary.BigEndian.Uint32(a)
}

// UDPFrame writes an Ethernet/IPv4/UDP frame of wire length n (>= 42) with
// valid checksums into b and returns it.
func UDPFrame(b []byte, dst, src packet.MAC, srcIP, dstIP uint32, sport, dport uint16, n int) []byte {
	b = b[:n]
	clear(b)
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(n-14))
	ip[8] = 64
	ip[9] = 17
	binary.BigEndian.PutUint32(ip[12:], srcIP)
	binary.BigEndian.PutUint32(ip[16:], dstIP)
	binary.BigEndian.PutUint16(ip[10:], packet.Fold(packet.Checksum(ip, 0)))
	udp := b[34:n]
	binary.BigEndian.PutUint16(udp[0:], sport)
	binary.BigEndian.PutUint16(udp[2:], dport)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	sum := packet.Fold(packet.Checksum(udp, packet.PseudoHeaderChecksum(srcIP, dstIP, 17, uint16(len(udp)))))
	if sum == 0 {
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(udp[6:], sum)
	return b
}

// Pipeline is one cbacd worker over in-memory rings with a virtual clock.
type Pipeline struct {
	DP     *dataplane.Dataplane
	W      *dataplane.Worker
	Q      []*dataplane.FakeQueue
	UMEM   []byte
	Now    int64
	frame  []byte
	sent   int
	drainN int
}

// PipelineFrames is the UMEM size of a Pipeline, in 2 KiB frames.
const PipelineFrames = 4096

// NewPipeline builds a one-worker dataplane for rs over fake rings.
func NewPipeline(rs *dataplane.Ruleset) (*Pipeline, error) {
	const frameSize = 2048
	p := &Pipeline{UMEM: make([]byte, frameSize*PipelineFrames), Now: int64(time.Hour), frame: make([]byte, 2048)}
	var qs []dataplane.Queue
	for range rs.Ifaces {
		q := dataplane.NewFakeQueue(p.UMEM, frameSize, 512)
		p.Q = append(p.Q, q)
		qs = append(qs, q)
	}
	dp, err := dataplane.New(rs, dataplane.Options{Workers: 1, UMEM: p.UMEM, FrameSize: frameSize, Queues: [][]dataplane.Queue{qs}})
	if err != nil {
		return nil, err
	}
	p.DP, p.W = dp, dp.Workers[0]
	return p, nil
}

func (p *Pipeline) count([]byte) { p.drainN++ }

// Batch injects up to len(frames) frames on port, runs one worker step and
// drains every port; it returns how many frames were transmitted.
func (p *Pipeline) Batch(port int, frames [][]byte) int {
	for _, f := range frames {
		p.Q[port].Inject(f)
	}
	p.W.Step(p.Now)
	p.drainN = 0
	for _, q := range p.Q {
		q.Drain(p.count)
	}
	return p.drainN
}

// CapacityResult is scenario 6: memory per session.
type CapacityResult struct {
	What            string  `json:"what"`
	Sessions        int     `json:"sessions"`
	Bytes           uint64  `json:"bytes"`
	BytesPerSession float64 `json:"bytes_per_session"`
	Note            string  `json:"note"`
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// SessionMemory measures the heap cbacd's dataplane takes for a table of
// maxSessions and then for n live sessions (NATed UDP flows from the inside
// host through the in-memory pipeline), per session. The rings' UMEM is
// not counted.
func SessionMemory(maxSessions, n int) ([]CapacityResult, error) {
	rs, err := CompileContender(Contenders[0], maxSessions)
	if err != nil {
		return nil, err
	}
	before := heapInUse()
	p, err := NewPipeline(rs)
	if err != nil {
		return nil, err
	}
	umem := uint64(len(p.UMEM))
	built := heapInUse()
	in, gw := mustMAC(InHostMAC), mustMAC(InsideMAC)
	src, dst := ip4(HostAddr), ip4(RemoteAddr)
	bufs := make([][]byte, 64)
	for i := range bufs {
		bufs[i] = make([]byte, 60)
	}
	p1, p2, err := flowPeriods(n)
	if err != nil {
		return nil, err
	}
	for i := 0; i < n; {
		k := 0
		for ; k < len(bufs) && i < n; k++ {
			UDPFrame(bufs[k], gw, in, src, dst, uint16(1024+i%p1), uint16(9+i%p2), 60)
			i++
		}
		p.Batch(portInside, bufs[:k])
		p.Now += int64(time.Microsecond)
	}
	live, _ := p.W.SessionCount()
	if live < n*99/100 {
		return nil, fmt.Errorf("session memory: %d flows made %d sessions", n, live)
	}
	filled := heapInUse()
	runtime.KeepAlive(p)
	table := built - before - umem
	return []CapacityResult{
		{What: "cbacd table (preallocated)", Sessions: maxSessions, Bytes: table, BytesPerSession: float64(table) / float64(maxSessions),
			Note: "Go heap of dataplane.New with max_sessions, rings' UMEM excluded"},
		{What: "cbacd live sessions", Sessions: live, Bytes: filled - before - umem, BytesPerSession: float64(filled-before-umem) / float64(live),
			Note: "heap after creating the sessions through the in-memory pipeline (NATed UDP, inspected)"},
	}, nil
}
